package mapping

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Options configures mapping. It is the `mapping:` section of jobs.yaml:
// package config embeds it and decodes it strictly (KnownFields), then calls
// Validate, or New, which applies the defaults and validates.
//
// A source (the `from:` of a rule, and every oho.fields entry) names where a
// value comes from; see the package documentation for the list.
type Options struct {
	// DefaultRegion is the ISO 3166 region whose numbers are written in
	// national digits for Oho (0812345678) and against which numbers without
	// a country code are read. Default "TH".
	DefaultRegion string `yaml:"default_region"`
	// Location is the zone time facts are written in and "today" is judged
	// in (a birth date after today is dropped). It is not read from the
	// mapping section: package config sets it from jobs.yaml's top-level
	// timezone. nil means UTC.
	Location *time.Location `yaml:"-"`
	// TagPriority ranks tags and labels when a list must be capped: a tag
	// matching the first pattern comes first, one matching none comes last;
	// ties go to the most recently applied, then the name. See Pattern syntax
	// in the package documentation.
	TagPriority []string `yaml:"tag_priority"`
	// Oho configures the Oho contact payload.
	Oho OhoOptions `yaml:"oho"`
	// Okeybot configures the Okeybot custom fields and tags.
	Okeybot OkeybotOptions `yaml:"okeybot"`
}

// OhoOptions configures the Oho contact payload.
type OhoOptions struct {
	// DefaultPictureURL is sent as profile_picture_url (required on create)
	// when the contact has no usable picture. No default: without it, a
	// contact with no picture is rejected.
	DefaultPictureURL string `yaml:"default_picture_url"`
	// ForeignPhone says what to do with a phone number the Oho reference
	// gives no form for: one outside DefaultRegion (or of DefaultRegion
	// whose national form does not begin with 0). Oho documents only
	// national digits ('0987654321'). "drop" (default) leaves it out, with
	// an adjustment; "dial" writes it as dialled from DefaultRegion, the
	// international prefix (DialPrefix) then the country code and number
	// (from TH: 001886966633355), which keeps the documented shape, digits
	// with a leading 0; "e164" sends +886966633355, for an Oho account known
	// to accept it (Oho does not document it, and a strict Oho refuses it).
	ForeignPhone string `yaml:"foreign_phone"`
	// DialPrefix is the international call prefix ForeignPhone "dial" puts
	// before the country code. Default: DefaultRegion's own when it has
	// exactly one (US 011, JP 010, most of Europe 00); TH has several (001,
	// 007, 008, 009), so there it must be set. Digits, beginning with 0.
	DialPrefix string `yaml:"dial_prefix"`
	// OnConflict says who wins when a field was edited in Oho (its value
	// there differs from what crmsync last pushed) while crmsync's own value
	// changed too: "source" (default) sends crmsync's value, "destination"
	// keeps the edit. Either way the conflict is recorded (push_conflicts).
	// An edit in Oho of a field whose crmsync value did not change is never
	// overwritten, and items added in Oho to tags, labels and attributes
	// are kept whatever the rule.
	OnConflict ConflictRule `yaml:"on_conflict"`
	// Fields names the source of each standard Oho field.
	Fields OhoFields `yaml:"fields"`
	// Countries are the values Oho's country enum accepts (its country.json is
	// not published). Country is sent only when it matches one.
	Countries []EnumValue `yaml:"countries"`
	// Cities are the values Oho's city (province) enum accepts (province.json
	// is not published). City is sent only when it matches one.
	Cities []EnumValue `yaml:"cities"`
	// Attributes become Oho attributes (ข้อมูลเฉพาะ), in this order.
	Attributes []AttributeRule `yaml:"attributes"`
	// Tags chooses the master tags and facts sent as Oho tags (contact tags).
	Tags TagRules `yaml:"tags"`
	// Labels are rules that turn tags and facts into Oho labels (chat tags).
	Labels []LabelRule `yaml:"labels"`
}

// OhoFields names the source of each standard Oho field. "" means the
// default where one is listed, else the field is not sent; "none" turns off
// a field that has a default.
type OhoFields struct {
	DisplayName string `yaml:"display_name"` // default "name"; falls back to platform_display_name
	FirstName   string `yaml:"first_name"`   // falls back to display_name, then the user id
	LastName    string `yaml:"last_name"`
	Phone       string `yaml:"phone"` // default "phone"
	Email       string `yaml:"email"` // default "email"
	Gender      string `yaml:"gender"`
	Age         string `yaml:"age"`
	BirthDate   string `yaml:"birth_date"`
	Country     string `yaml:"country"` // needs oho.countries
	City        string `yaml:"city"`    // needs oho.cities
}

// EnumValue is one allowed value of a vendor enum and the spellings that
// mean it (compared after Key, so case and width do not matter).
type EnumValue struct {
	Value   string   `yaml:"value"`
	Aliases []string `yaml:"aliases"`
}

// AttributeRule maps one source to an Oho attribute. With From "attr:*" it
// maps every custom attribute not used by another rule or field, named by
// the attribute's display name (or key); DisplayName must then be empty.
type AttributeRule struct {
	From        string `yaml:"from"`
	DisplayName string `yaml:"display_name"`
}

// TagRules chooses the tags sent to a destination. A master tag is sent when
// it matches an Include pattern (or Include is empty) and no Exclude pattern;
// each fact in Facts that holds adds its tag.
type TagRules struct {
	Include []string  `yaml:"include"`
	Exclude []string  `yaml:"exclude"`
	Facts   []FactTag `yaml:"facts"`
}

// FactTag adds Tag when the boolean fact Fact holds (e.g. inactive_30d).
type FactTag struct {
	Fact string `yaml:"fact"`
	Tag  string `yaml:"tag"`
}

// LabelRule makes Oho labels. Set exactly one of Pattern and Fact:
// with Pattern, every master tag matching it becomes a label, named Label if
// set, else as the tag; with Fact, Label (required) is added when the
// boolean fact holds.
type LabelRule struct {
	Pattern string `yaml:"pattern"`
	Fact    string `yaml:"fact"`
	Label   string `yaml:"label"`
}

// OkeybotOptions configures the Okeybot custom fields and tags.
type OkeybotOptions struct {
	// CustomFields map sources to Okeybot custom field names, e.g.
	// {from: name, name: firstName}. With From "attr:*", every custom
	// attribute not used by another rule becomes a field named by its key;
	// Name must then be empty.
	CustomFields []FieldRule `yaml:"custom_fields"`
	// Tags chooses the tags kept on the Okeybot contact.
	Tags TagRules `yaml:"tags"`
	// OnConflict decides a custom field edited in Okeybot (its value there
	// differs from what crmsync last pushed) whose crmsync value changed too:
	// "source" (default) sends crmsync's value, "destination" keeps the
	// edit (the same rule as OhoOptions.OnConflict). See OkeybotMerge.
	OnConflict ConflictRule `yaml:"on_conflict"`
}

// FieldRule maps one source to an Okeybot custom field.
type FieldRule struct {
	From string `yaml:"from"`
	Name string `yaml:"name"`
}

// The values of OhoOptions.ForeignPhone.
const (
	ForeignPhoneDrop = "drop" // leave the number out (the default)
	ForeignPhoneDial = "dial" // as dialled from the default region: 001886966633355
	ForeignPhoneE164 = "e164" // +886966633355, a form Oho does not document
)

// The documented defaults.
const (
	DefaultRegion       = "TH"
	DefaultForeignPhone = ForeignPhoneDrop
)

// sourceNone turns off a field that has a default source.
const sourceNone = "none"

// DefaultOptions returns the options used when jobs.yaml says nothing:
// region TH, times in UTC, foreign phones dropped, conflicts won by
// crmsync's value (on_conflict: source), display_name from
// the master name, phone and email from the master record, every tag sent to
// both destinations, no attributes, labels or Okeybot custom fields.
// Decoding jobs.yaml on top of it and calling WithDefaults give the same result.
func DefaultOptions() Options { return Options{}.WithDefaults() }

// WithDefaults returns o with every empty setting that has a default filled
// in. Lists are never filled: an empty list means "none" (or, for
// tags.include, "every tag").
func (o Options) WithDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.DefaultRegion, DefaultRegion)
	if o.Location == nil {
		o.Location = time.UTC
	}
	def(&o.Oho.ForeignPhone, DefaultForeignPhone)
	o.Oho.OnConflict = o.Oho.OnConflict.OrDefault()
	def(&o.Oho.Fields.DisplayName, "name")
	def(&o.Oho.Fields.Phone, "phone")
	def(&o.Oho.Fields.Email, "email")
	return o
}

// Validate checks o with its defaults applied and returns every problem at
// once (errors.Join), each naming its jobs.yaml key, e.g.
// "mapping.oho.labels[2].pattern: invalid regexp …".
func (o Options) Validate() error {
	_, err := compile(o)
	return err
}

// problems collects validation errors under the "mapping." prefix.
type problems []error

func (p *problems) addf(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("mapping.%s: %s", key, fmt.Sprintf(format, args...)))
}

// compiled is Options after defaults, validation and compilation.
type compiled struct {
	opts     Options
	region   string
	loc      *time.Location
	priority []pattern
	oho      ohoCompiled
	okeybot  okeybotCompiled
}

type ohoCompiled struct {
	dialPrefix string            // for foreign_phone: dial
	fields     map[string]source // by Oho field name; absent = not sent
	countries  enum
	cities     enum
	attributes []attrRule
	tags       tagRules
	labels     []labelRule
}

type attrRule struct {
	src  source
	name string // "" for attr:*
}

type okeybotCompiled struct {
	fields     []fieldRule
	tags       tagRules
	onConflict ConflictRule // with its default applied
}

type fieldRule struct {
	src  source
	name string // "" for attr:*
}

type tagRules struct {
	include, exclude []pattern
	facts            []factTag
}

type factTag struct {
	fact fact
	tag  string
}

type labelRule struct {
	pattern *pattern // nil for a fact rule
	fact    fact
	label   string
}

// enum maps Key(value or alias) to the value.
type enum map[string]string

func compile(in Options) (*compiled, error) {
	o := in.WithDefaults()
	var p problems
	c := &compiled{opts: o}

	c.region = strings.ToUpper(o.DefaultRegion)
	if phonenumbers.GetCountryCodeForRegion(c.region) == 0 {
		p.addf("default_region", "unknown region %q (want an ISO 3166 code such as TH)", o.DefaultRegion)
	}
	c.loc = o.Location
	c.priority = compilePatterns(&p, "tag_priority", o.TagPriority)

	// Oho.
	if u := o.Oho.DefaultPictureURL; u != "" {
		if err := checkPictureURL(u); err != nil {
			p.addf("oho.default_picture_url", "%v", err)
		}
	}
	switch o.Oho.ForeignPhone {
	case ForeignPhoneDrop, ForeignPhoneDial, ForeignPhoneE164:
	default:
		p.addf("oho.foreign_phone", "%q is not one of drop, dial, e164", o.Oho.ForeignPhone)
	}
	if err := o.Oho.OnConflict.Validate(); err != nil {
		p.addf("oho.on_conflict", "%v", err)
	}
	c.oho.dialPrefix = o.Oho.DialPrefix
	switch dp := o.Oho.DialPrefix; {
	case dp != "" && (!isOhoPhone(dp+"0") || len(dp) > 5):
		p.addf("oho.dial_prefix", "%q is not an international call prefix written as Oho needs it (up to 5 digits, beginning with 0, e.g. 001)", dp)
	case dp == "" && o.Oho.ForeignPhone == ForeignPhoneDial:
		c.oho.dialPrefix = regionDialPrefix(c.region)
		if !isOhoPhone(c.oho.dialPrefix + "0") {
			p.addf("oho.dial_prefix", "required with foreign_phone: dial: %s has no single international call prefix beginning with 0; set the one your callers dial (from TH: 001, 007, 008 or 009)", c.region)
		}
	}
	c.oho.countries = compileEnum(&p, "oho.countries", o.Oho.Countries)
	c.oho.cities = compileEnum(&p, "oho.cities", o.Oho.Cities)
	c.oho.fields = map[string]source{}
	f := o.Oho.Fields
	for _, fs := range []struct{ name, from string }{
		{"display_name", f.DisplayName}, {"first_name", f.FirstName}, {"last_name", f.LastName},
		{"phone", f.Phone}, {"email", f.Email}, {"gender", f.Gender}, {"age", f.Age},
		{"birth_date", f.BirthDate}, {"country", f.Country}, {"city", f.City},
	} {
		if fs.from == "" || fs.from == sourceNone {
			continue
		}
		src, err := parseSource(fs.from, false)
		if err != nil {
			p.addf("oho.fields."+fs.name, "%v", err)
			continue
		}
		c.oho.fields[fs.name] = src
	}
	if _, ok := c.oho.fields["country"]; ok && len(c.oho.countries) == 0 {
		p.addf("oho.fields.country", "needs mapping.oho.countries: Oho's country.json is not published, so the allowed values must be configured")
	}
	if _, ok := c.oho.fields["city"]; ok && len(c.oho.cities) == 0 {
		p.addf("oho.fields.city", "needs mapping.oho.cities: Oho's province.json is not published, so the allowed values must be configured")
	}
	seenAttr := map[string]int{}
	for i, r := range o.Oho.Attributes {
		key := fmt.Sprintf("oho.attributes[%d]", i)
		src, err := parseSource(r.From, true)
		if err != nil {
			p.addf(key+".from", "%v", err)
			continue
		}
		if src.kind == srcAttrAll {
			if r.DisplayName != "" {
				p.addf(key+".display_name", "must be empty with from: attr:* (names come from the attributes)")
			}
			c.oho.attributes = append(c.oho.attributes, attrRule{src: src})
			continue
		}
		name, ok := checkName(&p, key+".display_name", r.DisplayName, ohoAttrNameLimit.Max)
		if !ok {
			continue
		}
		if j, dup := seenAttr[Key(name)]; dup {
			p.addf(key+".display_name", "%q is already used by oho.attributes[%d] (Oho identifies attributes by display name)", name, j)
			continue
		}
		seenAttr[Key(name)] = i
		c.oho.attributes = append(c.oho.attributes, attrRule{src: src, name: name})
	}
	c.oho.tags = compileTagRules(&p, "oho.tags", o.Oho.Tags)
	for i, r := range o.Oho.Labels {
		key := fmt.Sprintf("oho.labels[%d]", i)
		switch {
		case r.Pattern != "" && r.Fact != "":
			p.addf(key, "set pattern or fact, not both")
		case r.Pattern != "":
			pats := compilePatterns(&p, key+".pattern", []string{r.Pattern})
			if len(pats) == 0 {
				continue
			}
			lr := labelRule{pattern: &pats[0]}
			if r.Label != "" {
				label, ok := checkName(&p, key+".label", r.Label, 0)
				if !ok {
					continue
				}
				lr.label = label
			}
			c.oho.labels = append(c.oho.labels, lr)
		case r.Fact != "":
			fc, err := lookupFact(r.Fact, true)
			if err != nil {
				p.addf(key+".fact", "%v", err)
				continue
			}
			label, ok := checkName(&p, key+".label", r.Label, 0)
			if !ok {
				continue
			}
			c.oho.labels = append(c.oho.labels, labelRule{fact: fc, label: label})
		default:
			p.addf(key, "set pattern (tags that become labels) or fact (with label)")
		}
	}

	// Okeybot.
	seenField := map[string]int{}
	for i, r := range o.Okeybot.CustomFields {
		key := fmt.Sprintf("okeybot.custom_fields[%d]", i)
		src, err := parseSource(r.From, true)
		if err != nil {
			p.addf(key+".from", "%v", err)
			continue
		}
		if src.kind == srcAttrAll {
			if r.Name != "" {
				p.addf(key+".name", "must be empty with from: attr:* (names are the attribute keys)")
			}
			c.okeybot.fields = append(c.okeybot.fields, fieldRule{src: src})
			continue
		}
		name, ok := checkName(&p, key+".name", r.Name, 0)
		if !ok {
			continue
		}
		if j, dup := seenField[Key(name)]; dup {
			p.addf(key+".name", "%q is already used by okeybot.custom_fields[%d]", name, j)
			continue
		}
		seenField[Key(name)] = i
		c.okeybot.fields = append(c.okeybot.fields, fieldRule{src: src, name: name})
	}
	c.okeybot.tags = compileTagRules(&p, "okeybot.tags", o.Okeybot.Tags)
	if err := o.Okeybot.OnConflict.Validate(); err != nil {
		p.addf("okeybot.on_conflict", "%v", err)
	}
	c.okeybot.onConflict = o.Okeybot.OnConflict.OrDefault()

	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return c, nil
}

// checkName validates a configured name: required, clean text, within max
// characters as Length counts them (max ≤ 0: no limit). Configured names are never cut.
func checkName(p *problems, key, s string, max int) (string, bool) {
	out, f := Fit(s, 0)
	switch {
	case out == "":
		p.addf(key, "required")
		return "", false
	case f.Changed():
		p.addf(key, "%q has invalid UTF-8, control characters or surrounding space", s)
		return "", false
	case max > 0 && Length(out) > max:
		p.addf(key, "%q is %d characters, the destination allows %d", s, Length(out), max)
		return "", false
	}
	return out, true
}

func compileEnum(p *problems, key string, vs []EnumValue) enum {
	e := enum{}
	for i, v := range vs {
		k := fmt.Sprintf("%s[%d]", key, i)
		val, ok := checkName(p, k+".value", v.Value, 0)
		if !ok {
			continue
		}
		for j, s := range append([]string{val}, v.Aliases...) {
			ak := k + ".value"
			if j > 0 {
				ak = fmt.Sprintf("%s.aliases[%d]", k, j-1)
				var ok bool
				if s, ok = checkName(p, ak, s, 0); !ok {
					continue
				}
			}
			if prev, dup := e[Key(s)]; dup && prev != val {
				p.addf(ak, "%q already means %q", s, prev)
				continue
			}
			e[Key(s)] = val
		}
	}
	return e
}

func compileTagRules(p *problems, key string, r TagRules) tagRules {
	tr := tagRules{
		include: compilePatterns(p, key+".include", r.Include),
		exclude: compilePatterns(p, key+".exclude", r.Exclude),
	}
	for i, ft := range r.Facts {
		k := fmt.Sprintf("%s.facts[%d]", key, i)
		fc, err := lookupFact(ft.Fact, true)
		if err != nil {
			p.addf(k+".fact", "%v", err)
			continue
		}
		tag, ok := checkName(p, k+".tag", ft.Tag, 0)
		if !ok {
			continue
		}
		tr.facts = append(tr.facts, factTag{fact: fc, tag: tag})
	}
	return tr
}

func compilePatterns(p *problems, key string, ss []string) []pattern {
	var out []pattern
	for i, s := range ss {
		k := key
		if !strings.HasSuffix(key, ".pattern") {
			k = fmt.Sprintf("%s[%d]", key, i)
		}
		pat, err := compilePattern(s)
		if err != nil {
			p.addf(k, "%v", err)
			continue
		}
		out = append(out, pat)
	}
	return out
}

// checkPictureURL accepts an absolute http or https URL of valid text
// within the profile_picture_url limit.
func checkPictureURL(s string) error {
	if out, f := Fit(s, 0); f.Changed() || out == "" {
		return errors.New("not a clean URL (invalid UTF-8, control characters or surrounding space)")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r == ' ' }) {
		return errors.New("URL contains a space")
	}
	if n := Length(s); n > ohoPictureLimit.Max {
		return fmt.Errorf("URL is %d characters, Oho allows %d", n, ohoPictureLimit.Max)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("parse URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an absolute http or https URL")
	}
	return nil
}
