package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"crmsync/contact"
)

// OhoContact is the body of Oho's POST /contact, and the desired state a
// PATCH brings an existing contact to (see DiffOho). JSON names are the
// vendor's. Lists are never nil when produced by ToOho; attributes keep the
// configured order, tags and labels are sorted.
type OhoContact struct {
	SocialProfile       OhoSocialProfile `json:"social_profile"`
	ProfilePictureURL   string           `json:"profile_picture_url"`
	PlatformDisplayName string           `json:"platform_display_name"`
	DisplayName         string           `json:"display_name"`
	FirstName           string           `json:"first_name"`
	LastName            string           `json:"last_name,omitempty"`
	Phone               string           `json:"phone,omitempty"`
	Email               string           `json:"email,omitempty"`
	Country             string           `json:"country,omitempty"`
	City                string           `json:"city,omitempty"`
	Gender              string           `json:"gender,omitempty"`
	Age                 int              `json:"age,omitempty"`
	BirthDate           string           `json:"birth_date,omitempty"`
	Attributes          []OhoAttribute   `json:"attributes,omitempty"`
	Tags                []string         `json:"tags,omitempty"`
	Labels              []string         `json:"labels,omitempty"`
}

// OhoSocialProfile identifies the contact: Oho keys contacts by
// (Platform, PlatformID, ID).
type OhoSocialProfile struct {
	Platform     string `json:"platform"`      // line, facebook or instagram
	ID           string `json:"id"`            // the user's id on the platform
	PlatformID   string `json:"platform_id"`   // LINE bot user id, Facebook page id or Instagram id
	PlatformName string `json:"platform_name"` // LINE OA display name, page name or Instagram username
	LineBasicID  string `json:"line_basic_id,omitempty"`
}

// OhoAttribute is one attribute (ข้อมูลเฉพาะ), identified by DisplayName.
type OhoAttribute struct {
	DisplayName string            `json:"display_name"`
	Value       OhoAttributeValue `json:"value"`
}

// OhoAttributeValue holds an attribute's text.
type OhoAttributeValue struct {
	Text string `json:"text"`
}

// OhoTarget is what the push stage knows about the destination of one
// identity, from LINE's bot info and profile or the Facebook/Instagram setup.
type OhoTarget struct {
	PlatformID   string // LINE bot userId (GET /v2/bot/info), Facebook page id or Instagram id
	PlatformName string // LINE OA displayName, page name or Instagram username; "" → PlatformID
	LineBasicID  string // LINE basicId such as "@129oruit"; required for line, ignored otherwise
	PictureURL   string // the contact's picture (LINE profile pictureUrl); "" → oho.default_picture_url
	OriginalName string // the contact's name on the platform (LINE profile displayName); "" → the identity's name
}

// OhoPlatform reports whether Oho serves p: line, facebook and instagram.
func OhoPlatform(p contact.Platform) bool {
	return p == contact.LINE || p == contact.Facebook || p == contact.Instagram
}

// OhoIdentities returns the identities of c that Oho serves, in c's order,
// and a Dropped change for each other identity, saying why it is skipped.
func OhoIdentities(c contact.Contact) ([]contact.Identity, []Change) {
	var ids []contact.Identity
	var cs changes
	for _, p := range c.Identities {
		if OhoPlatform(p.Platform) {
			ids = append(ids, p.Identity)
			continue
		}
		cs.add("social_profile.platform", Dropped, p.Identity.String(), "",
			fmt.Sprintf("platform %q is not served by Oho (line, facebook, instagram only)", p.Platform))
	}
	return ids, cs
}

// Mapper turns master contacts into destination payloads. It holds validated,
// compiled Options; it is immutable and safe for concurrent use.
type Mapper struct {
	c *compiled
}

// New applies the defaults to o, validates it and compiles its patterns.
// The error lists every problem, each naming its jobs.yaml key.
func New(o Options) (*Mapper, error) {
	c, err := compile(o)
	if err != nil {
		return nil, err
	}
	return &Mapper{c: c}, nil
}

// Options returns the options the Mapper uses, with defaults applied.
func (m *Mapper) Options() Options { return m.c.opts }

// ohoRun is the state of one ToOho call.
type ohoRun struct {
	m     *Mapper
	in    *input
	cs    changes
	first *Rejection
}

func (r *ohoRun) reject(field, before, reason string, err error) {
	r.cs.add(field, Rejected, printable(before), "", reason)
	if r.first == nil {
		r.first = &Rejection{Destination: "oho", Identity: r.in.id.String(), Field: field, Reason: reason, Err: err}
	}
}

// candidate text for a required field with fallbacks.
type fallback struct {
	value string
	why   string // "" when using it is not a default (recorded as Defaulted otherwise)
}

// firstFit returns the first fallback that is non-empty once fitted to max,
// recording its fit and, when it is a default, a Defaulted change.
func (r *ohoRun) firstFit(field string, max int, fbs ...fallback) (string, bool) {
	for _, fb := range fbs {
		out, _ := Fit(fb.value, max)
		if out == "" {
			continue
		}
		if fb.why != "" {
			r.cs.add(field, Defaulted, "", out, fb.why)
		}
		return fitText(&r.cs, field, fb.value, max), true
	}
	return "", false
}

// ToOho maps contact c, as seen through identity id, to the Oho contact it
// should be, given what the push stage knows about the destination (t) and
// the time of the run (now, used for facts and to reject future birth
// dates). It never reads the clock and never does I/O.
//
// The changes list every value cut, dropped, rewritten or defaulted on the
// way. When the contact cannot be sent at all, ToOho returns a zero
// OhoContact, the changes (ending with the Rejected ones) and a *Rejection.
func (m *Mapper) ToOho(c contact.Contact, id contact.Identity, t OhoTarget, now time.Time) (OhoContact, []Change, error) {
	r := &ohoRun{m: m, in: newInput(c, id, now, m.c.loc)}
	if !OhoPlatform(id.Platform) {
		r.reject("social_profile.platform", string(id.Platform),
			fmt.Sprintf("platform %q is not served by Oho (line, facebook, instagram only)", id.Platform), ErrUnsupportedPlatform)
		return OhoContact{}, r.cs, r.first
	}
	p := r.build(t)
	if r.first != nil {
		return OhoContact{}, r.cs, r.first
	}
	return p, r.cs, nil
}

func (r *ohoRun) build(t OhoTarget) OhoContact {
	in, c := r.in, r.m.c
	var p OhoContact

	// social_profile: keys are checked, never changed.
	sp := &p.SocialProfile
	sp.Platform = string(in.id.Platform)
	if err := cleanID(ohoUserIDLimit, in.id.UserID); err != nil {
		r.reject(ohoUserIDLimit.Field, in.id.UserID, err.Error(), err)
	}
	sp.ID = in.id.UserID
	if err := cleanID(ohoPlatformIDLimit, t.PlatformID); err != nil {
		r.reject(ohoPlatformIDLimit.Field, t.PlatformID, err.Error()+" (the push stage supplies it: LINE bot userId, page or Instagram id)", err)
	}
	sp.PlatformID = t.PlatformID
	sp.PlatformName, _ = r.firstFit(ohoPlatformNameLimit.Field, ohoPlatformNameLimit.Max,
		fallback{value: t.PlatformName},
		fallback{value: t.PlatformID, why: "no platform name known; platform_id used"})
	if sp.PlatformName == "" {
		r.reject(ohoPlatformNameLimit.Field, "", "required: no platform name and no platform id", &LimitError{Limit: ohoPlatformNameLimit, Why: "required"})
	}
	if in.id.Platform == contact.LINE {
		if err := cleanID(ohoLineBasicIDLimit, t.LineBasicID); err != nil {
			r.reject(ohoLineBasicIDLimit.Field, t.LineBasicID, err.Error()+" (LINE bot info basicId, required for line)", err)
		}
		sp.LineBasicID = t.LineBasicID
	} else if t.LineBasicID != "" {
		r.cs.add(ohoLineBasicIDLimit.Field, Dropped, printable(t.LineBasicID), "", "only LINE has a basic id")
	}

	// profile_picture_url: a broken URL is worse than the default.
	pic := t.PictureURL
	if pic != "" {
		if err := checkPictureURL(pic); err != nil {
			r.cs.add(ohoPictureLimit.Field, Dropped, printable(pic), "", err.Error())
			pic = ""
		}
	}
	if pic == "" {
		if def := c.opts.Oho.DefaultPictureURL; def != "" {
			pic = def
			r.cs.add(ohoPictureLimit.Field, Defaulted, "", def, "no usable picture; oho.default_picture_url used")
		} else {
			r.reject(ohoPictureLimit.Field, "", "required: no usable picture and mapping.oho.default_picture_url is not set",
				&LimitError{Limit: ohoPictureLimit, Why: "required"})
		}
	}
	p.ProfilePictureURL = pic

	// Names.
	var ok bool
	p.PlatformDisplayName, ok = r.firstFit(ohoPlatformDisplayNameLimit.Field, ohoPlatformDisplayNameLimit.Max,
		fallback{value: t.OriginalName},
		fallback{value: in.profile.Name},
		fallback{value: in.c.Name, why: "no name from the platform; the master name used"},
		fallback{value: in.id.UserID, why: "no name known; the user id used"})
	if !ok {
		r.reject(ohoPlatformDisplayNameLimit.Field, "", "required: no name and no user id", &LimitError{Limit: ohoPlatformDisplayNameLimit, Why: "required"})
	}
	p.DisplayName, ok = r.firstFit(ohoDisplayNameLimit.Field, ohoDisplayNameLimit.Max,
		fallback{value: r.field("display_name")},
		fallback{value: p.PlatformDisplayName, why: "no display name; platform_display_name used, as Oho does"})
	if !ok {
		r.reject(ohoDisplayNameLimit.Field, "", "required: no display name", &LimitError{Limit: ohoDisplayNameLimit, Why: "required"})
	}
	p.FirstName, ok = r.firstFit(ohoFirstNameLimit.Field, ohoFirstNameLimit.Max,
		fallback{value: r.field("first_name")},
		fallback{value: p.DisplayName, why: "no first name; display_name used"},
		fallback{value: in.id.UserID, why: "no first name or display name; the user id used"})
	if !ok {
		r.reject(ohoFirstNameLimit.Field, "", "required: no first name, display name or user id", &LimitError{Limit: ohoFirstNameLimit, Why: "required"})
	}
	p.LastName = fitText(&r.cs, ohoLastNameLimit.Field, r.field("last_name"), ohoLastNameLimit.Max)

	// Formatted fields.
	if raw := fitText(&r.cs, "phone", r.field("phone"), 0); raw != "" {
		out, why, ok := ohoPhone(raw, c.region, c.opts.Oho.ForeignPhone, c.oho.dialPrefix)
		r.rewrite("phone", raw, out, why, ok)
		p.Phone = out
	}
	if raw := fitText(&r.cs, "email", r.field("email"), 0); raw != "" {
		out, why, ok := normaliseEmail(raw)
		r.rewrite("email", raw, out, why, ok)
		p.Email = out
	}
	p.Country = r.enum("country", c.oho.countries, "mapping.oho.countries")
	p.City = r.enum("city", c.oho.cities, "mapping.oho.cities")
	if raw := fitText(&r.cs, "gender", r.field("gender"), 0); raw != "" {
		g, known := normaliseGender(raw)
		switch {
		case !known:
			r.cs.add("gender", Defaulted, raw, g, "unrecognised gender; Oho's default not_say used")
		case g != raw:
			r.cs.add("gender", Normalised, raw, g, "written as Oho's enum")
		}
		p.Gender = g
	}
	if raw := fitText(&r.cs, "age", r.field("age"), 0); raw != "" {
		age, why, ok := parseAge(raw)
		if ok {
			if strconv.Itoa(age) != raw {
				r.cs.add("age", Normalised, raw, strconv.Itoa(age), "written as a whole number")
			}
			p.Age = age
		} else {
			r.cs.add("age", Dropped, raw, "", why)
		}
	}
	if raw := fitText(&r.cs, "birth_date", r.field("birth_date"), 0); raw != "" {
		out, why, ok := parseBirthDate(raw, in.now, c.loc)
		r.rewrite("birth_date", raw, out, why, ok)
		p.BirthDate = out
	}

	p.Attributes = r.attributes()
	tags := cleanTags(&r.cs, "tags", in.c.Tags)
	p.Tags = chooseTags(&r.cs, "tags", in, tags, c.oho.tags, c.priority, ohoTagsLimit.Max)
	p.Labels = chooseLabels(&r.cs, in, tags, c.oho.labels, c.priority)
	if p.Attributes == nil {
		p.Attributes = []OhoAttribute{}
	}
	if p.Tags == nil {
		p.Tags = []string{}
	}
	if p.Labels == nil {
		p.Labels = []string{}
	}
	return p
}

// field returns the raw value of a standard Oho field's configured source.
func (r *ohoRun) field(name string) string {
	src, ok := r.m.c.oho.fields[name]
	if !ok {
		return ""
	}
	v, _ := r.in.value(src)
	return v
}

// rewrite records the outcome of formatting raw into out.
func (r *ohoRun) rewrite(field, raw, out, why string, ok bool) {
	switch {
	case !ok:
		r.cs.add(field, Dropped, raw, "", why)
	case out != raw:
		r.cs.add(field, Normalised, raw, out, why)
	}
}

// enum maps a configured field to one of the allowed values.
func (r *ohoRun) enum(field string, e enum, key string) string {
	raw := fitText(&r.cs, field, r.field(field), 0)
	if raw == "" {
		return ""
	}
	v, ok := e[Key(raw)]
	switch {
	case !ok:
		r.cs.add(field, Dropped, raw, "", "not one of the values in "+key)
		return ""
	case v != raw:
		r.cs.add(field, Normalised, raw, v, "written as in "+key)
	}
	return v
}

// attributes builds the attribute list in rule order.
func (r *ohoRun) attributes() []OhoAttribute {
	c, in := r.m.c, r.in
	var out []OhoAttribute
	seen := map[string]string{} // Key(display name) → first display name
	add := func(name, value string, typ contact.AttrType, fromData bool) {
		if fromData {
			before := name
			name = fitText(&r.cs, "attributes[].display_name", name, ohoAttrNameLimit.Max)
			if name == "" {
				r.cs.add("attributes[].display_name", Dropped, printable(before), "", "attribute name is empty after trimming")
				return
			}
		}
		field := "attributes[" + name + "].value.text"
		value = fitText(&r.cs, field, value, ohoAttrValueLimit.Max)
		if value == "" {
			return
		}
		if (typ == contact.AttrDate || typ == contact.AttrDatetime) && isClearedDate(value) {
			r.cs.add(field, Dropped, value, "", "1970-01-01 is how Omnichat stores a cleared date")
			return
		}
		if first, dup := seen[in.key(name)]; dup {
			r.cs.add("attributes["+name+"].display_name", Dropped, name, "",
				fmt.Sprintf("duplicate of attribute %q after case and width folding (Oho identifies attributes by name)", first))
			return
		}
		seen[in.key(name)] = name
		out = append(out, OhoAttribute{DisplayName: name, Value: OhoAttributeValue{Text: value}})
	}
	for _, ar := range c.oho.attributes {
		if ar.src.kind == srcAttrAll {
			for _, a := range in.sortedAttributes(r.usedAttrKeys()) {
				name := a.DisplayName
				if name == "" {
					name = a.Key
				}
				add(name, a.Value, a.Type, true)
			}
			continue
		}
		v, typ := in.value(ar.src)
		add(ar.name, v, typ, false)
	}
	return out
}

// usedAttrKeys are the attribute keys Oho rules and fields name explicitly,
// which attr:* leaves out.
func (r *ohoRun) usedAttrKeys() map[string]bool {
	used := map[string]bool{}
	for _, ar := range r.m.c.oho.attributes {
		if ar.src.kind == srcAttr {
			used[ar.src.key] = true
		}
	}
	for _, src := range r.m.c.oho.fields {
		if src.kind == srcAttr {
			used[src.key] = true
		}
	}
	return used
}

func isClearedDate(s string) bool {
	return s == "1970-01-01" || s == "1970-01-01T00:00:00" || s == "1970-01-01T00:00:00Z"
}

// Check verifies p against every Oho limit that needs no configuration
// (country and city are only checked for clean text) and returns all
// violations joined, each a *LimitError. ToOho's output always passes; sync/push
// may call it on a payload loaded from storage before resending it.
func (p OhoContact) Check() error {
	var errs []error
	check := func(l Limit, v string) {
		if err := l.Check(v); err != nil {
			errs = append(errs, err)
			return
		}
		if _, f := Fit(v, 0); f.Changed() {
			errs = append(errs, &LimitError{Limit: l, Why: "not clean text (invalid UTF-8, control characters or surrounding space)"})
		}
	}
	sp := p.SocialProfile
	check(ohoPlatformLimit, sp.Platform)
	check(ohoUserIDLimit, sp.ID)
	check(ohoPlatformIDLimit, sp.PlatformID)
	check(ohoPlatformNameLimit, sp.PlatformName)
	if sp.Platform == string(contact.LINE) {
		check(ohoLineBasicIDLimit, sp.LineBasicID)
	} else if sp.LineBasicID != "" {
		errs = append(errs, &LimitError{Limit: ohoLineBasicIDLimit, Why: "only LINE has a basic id"})
	}
	check(ohoPictureLimit, p.ProfilePictureURL)
	if p.ProfilePictureURL != "" {
		if err := checkPictureURL(p.ProfilePictureURL); err != nil {
			errs = append(errs, &LimitError{Limit: ohoPictureLimit, Why: err.Error()})
		}
	}
	check(ohoPlatformDisplayNameLimit, p.PlatformDisplayName)
	check(ohoDisplayNameLimit, p.DisplayName)
	check(ohoFirstNameLimit, p.FirstName)
	check(ohoLastNameLimit, p.LastName)
	check(ohoPhoneLimit, p.Phone)
	check(ohoPhoneFormatLimit, p.Phone)
	check(ohoEmailLimit, p.Email)
	if p.Email != "" && !isEmail(p.Email) {
		errs = append(errs, &LimitError{Limit: ohoEmailLimit, Why: "not a valid email address"})
	}
	check(Limit{Field: "country", Unit: Characters}, p.Country)
	check(Limit{Field: "city", Unit: Characters}, p.City)
	check(ohoGenderLimit, p.Gender)
	if p.Age != 0 {
		if err := ohoAgeLimit.CheckCount(p.Age); err != nil {
			errs = append(errs, err)
		}
	}
	check(ohoBirthDateLimit, p.BirthDate)
	seen := map[string]bool{}
	for _, a := range p.Attributes {
		check(ohoAttrNameLimit, a.DisplayName)
		check(ohoAttrValueLimit, a.Value.Text)
		if seen[Key(a.DisplayName)] {
			errs = append(errs, &LimitError{Limit: ohoAttrNameLimit, Why: "duplicate display name"})
		}
		seen[Key(a.DisplayName)] = true
	}
	errs = append(errs, checkList(ohoTagsLimit, p.Tags)...)
	errs = append(errs, checkList(ohoLabelsLimit, p.Labels)...)
	return errors.Join(errs...)
}

// checkList verifies a list of tags: count, unique by Key, clean non-empty text.
func checkList(l Limit, items []string) []error {
	var errs []error
	if err := l.CheckCount(len(items)); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for _, s := range items {
		if out, f := Fit(s, 0); out == "" || f.Changed() {
			errs = append(errs, &LimitError{Limit: l, Why: "empty or not clean text"})
		}
		if seen[Key(s)] {
			errs = append(errs, &LimitError{Limit: l, Why: "duplicate item"})
		}
		seen[Key(s)] = true
	}
	if !slices.IsSorted(items) {
		errs = append(errs, &LimitError{Limit: l, Why: "not sorted"})
	}
	return errs
}
