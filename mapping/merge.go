package mapping

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"crmsync/contact"
)

// OhoMerge is what MergeOho decided for one Oho contact: the PATCH that
// brings it to crmsync's wish without erasing what people set in Oho.
type OhoMerge struct {
	// Update is the PATCH body: every field whose merged value differs from
	// what Oho holds (attributes, tags and labels whole). Zero when Oho
	// already holds the merge: nothing to send.
	Update OhoUpdate
	// Changed lists the fields Update carries, in payload order.
	Changed []string
	// Result is the contact as Oho holds it once Update is applied.
	Result OhoContact
	// Kept lists what Oho holds that the merge leaves as it is although it
	// is not crmsync's wish: items added (or crmsync's removed) in Oho, and
	// fields edited there whose crmsync value did not change.
	Kept []OhoKept
	// Conflicts lists every field (or attribute) edited in Oho whose
	// crmsync value changed too, with what on_conflict did.
	Conflicts []Conflict
	// Unsent lists fields crmsync changed that no PATCH can carry, with
	// why: the create-only fields, and optional fields crmsync emptied
	// (Oho documents no way to clear them).
	Unsent []string
	// Changes are the adjustments the merge made: crmsync's items left out
	// so that the merged tags and labels fit Oho's caps.
	Changes []Change
}

// OhoKept is one thing Oho holds that the merge keeps as it is.
type OhoKept struct {
	Field string // "tags", "labels", "attributes[Tier]", "email", …
	Value string // the item or value Oho holds ("" when the field is empty there)
	Why   string // e.g. "added in Oho"
}

// Why texts of OhoKept.
const (
	keptAdded      = "added in Oho"
	keptRemoved    = "removed in Oho; crmsync's wish did not change, so it is not added again"
	keptEdited     = "edited in Oho; crmsync's value did not change"
	keptOverTheCap = "Oho holds more items set there than it allows; crmsync leaves the list as it is"
)

// ohoScalar is one single-valued Oho field a PATCH can carry.
type ohoScalar struct {
	name string
	get  func(*OhoContact) string
	set  func(*OhoContact, string)
	// clearable says whether "" can be sent (gender: as not_say); other
	// fields cannot be cleared, as Oho documents no way to.
	clearable bool
}

func strField(name string, f func(*OhoContact) *string) ohoScalar {
	return ohoScalar{name: name, get: func(p *OhoContact) string { return *f(p) }, set: func(p *OhoContact, v string) { *f(p) = v }}
}

// ohoScalars are the fields a PATCH carries besides the lists, in payload order.
var ohoScalars = []ohoScalar{
	strField("display_name", func(p *OhoContact) *string { return &p.DisplayName }),
	strField("first_name", func(p *OhoContact) *string { return &p.FirstName }),
	strField("last_name", func(p *OhoContact) *string { return &p.LastName }),
	strField("phone", func(p *OhoContact) *string { return &p.Phone }),
	strField("email", func(p *OhoContact) *string { return &p.Email }),
	strField("country", func(p *OhoContact) *string { return &p.Country }),
	strField("city", func(p *OhoContact) *string { return &p.City }),
	{name: "gender", get: func(p *OhoContact) string { return p.Gender }, set: func(p *OhoContact, v string) { p.Gender = v }, clearable: true},
	{name: "age", get: func(p *OhoContact) string {
		if p.Age == 0 {
			return ""
		}
		return strconv.Itoa(p.Age)
	}, set: func(p *OhoContact, v string) { p.Age, _ = strconv.Atoi(v) }},
	strField("birth_date", func(p *OhoContact) *string { return &p.BirthDate }),
}

// MergeOho merges crmsync's wish for one Oho contact with what Oho holds,
// three ways, since a PATCH replaces attributes, tags and labels whole
// (oho-developer-api.th.txt: "การอัปเดตฟิลด์นี้จะเป็นการอัปเดตแบบทับข้อมูลเดิม") and
// agents edit contacts in Oho. last is the payload crmsync last pushed (nil
// when it never pushed one: the contact was found on create), there the
// contact Oho holds (GET), desired what ToOho made of c now.
//
//   - Tags, labels: Oho's current items, minus those crmsync pushed before
//     and no longer wants, plus those it now adds (compared by Key). An item
//     added in Oho is kept; one of crmsync's an agent removed is not added
//     again until crmsync's wish for it changes. Oho's caps (20 tags, 10
//     labels) apply to the merged list: items set in Oho come first, then
//     crmsync's by tag_priority, then recency, then name; each of crmsync's
//     left out is a Dropped change.
//   - Attributes, identified by display_name (by Key), and the single
//     fields (display_name, first_name, …, birth_date), each compared with
//     Decide: a value crmsync did not change is never written; one crmsync
//     changed is written unless Oho holds an edit of it, a conflict that
//     mapping.oho.on_conflict decides. An attribute added in Oho is kept; one
//     crmsync no longer wants is removed unless edited in Oho (a conflict).
//
// MergeOho is pure: it does no I/O.
func (m *Mapper) MergeOho(c contact.Contact, last *OhoContact, there, desired OhoContact) OhoMerge {
	rule := m.c.opts.Oho.OnConflict.OrDefault()
	var base OhoContact
	if last != nil {
		base = *last
	}
	mg := OhoMerge{Result: there} // its lists are replaced below, never shared with there
	res := &mg.Result

	// Create-only fields: no PATCH carries them.
	from := &base
	if last == nil {
		from = &there
	}
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{"social_profile", from.SocialProfile != desired.SocialProfile},
		{"profile_picture_url", from.ProfilePictureURL != desired.ProfilePictureURL},
		{"platform_display_name", from.PlatformDisplayName != desired.PlatformDisplayName},
	} {
		if f.changed {
			mg.Unsent = append(mg.Unsent, f.name+" (create only)")
		}
	}

	for _, f := range ohoScalars {
		l, t, w := f.get(&base), f.get(&there), f.get(&desired)
		d := Decide(rule, l, t, w)
		switch {
		case d == KeepThere:
			if last != nil && t != l {
				mg.Kept = append(mg.Kept, OhoKept{Field: f.name, Value: t, Why: keptEdited})
			}
			continue
		case d == AlreadyThere:
			continue
		case w == "" && !f.clearable:
			// crmsync emptied it: nothing can be sent, Oho's value stays.
			mg.Unsent = append(mg.Unsent, f.name+" (cleared: Oho documents no way to clear it)")
			continue
		}
		if d.IsConflict() {
			mg.Conflicts = append(mg.Conflicts, Conflict{Field: f.name, There: t, Want: w, Last: l, Rule: rule, Overwrote: d == ConflictSent})
		}
		if d.Sends() {
			f.set(res, w)
		}
	}

	res.Attributes = mergeAttributes(&mg, rule, base.Attributes, there.Attributes, desired.Attributes)
	rk := newRanker(m, c)
	res.Tags = mergeSet(&mg, rk, "tags", ohoTagsLimit.Max, base.Tags, there.Tags, desired.Tags)
	res.Labels = mergeSet(&mg, rk, "labels", ohoLabelsLimit.Max, base.Labels, there.Labels, desired.Labels)

	mg.Update, mg.Changed = ohoUpdate(there, *res)
	return mg
}

// ohoUpdate returns the PATCH taking Oho from there to want, and the fields it carries.
func ohoUpdate(there, want OhoContact) (OhoUpdate, []string) {
	var u OhoUpdate
	var changed []string
	ptr := map[string]**string{
		"display_name": &u.DisplayName, "first_name": &u.FirstName, "last_name": &u.LastName, "phone": &u.Phone,
		"email": &u.Email, "country": &u.Country, "city": &u.City, "gender": &u.Gender, "birth_date": &u.BirthDate,
	}
	for _, f := range ohoScalars {
		t, w := f.get(&there), f.get(&want)
		if t == w {
			continue
		}
		changed = append(changed, f.name)
		switch {
		case f.name == "age":
			age := want.Age
			u.Age = &age
		case f.name == "gender" && w == "":
			notSay := "not_say"
			u.Gender = &notSay
		default:
			*ptr[f.name] = &w
		}
	}
	if !slices.Equal(there.Attributes, want.Attributes) {
		changed = append(changed, "attributes")
		as := append([]OhoAttribute{}, want.Attributes...)
		u.Attributes = &as
	}
	if !slices.Equal(there.Tags, want.Tags) {
		changed = append(changed, "tags")
		ts := append([]string{}, want.Tags...)
		u.Tags = &ts
	}
	if !slices.Equal(there.Labels, want.Labels) {
		changed = append(changed, "labels")
		ls := append([]string{}, want.Labels...)
		u.Labels = &ls
	}
	return u, changed
}

// attrValue is one attribute's state in one of the three versions.
type attrValue struct {
	ok   bool // the version has the attribute
	text string
}

// mergeAttributes merges attributes by display name (compared by Key):
// each is decided with Decide on its presence and text. Attributes Oho
// holds keep their place and spelling; new ones follow in crmsync's order.
func mergeAttributes(mg *OhoMerge, rule ConflictRule, last, there, want []OhoAttribute) []OhoAttribute {
	type versions struct {
		name     string // Oho's spelling when it has one, else crmsync's
		l, t, w  attrValue
		thereIdx int // index in there of the spelling decided on; -1 when none
		out      attrValue
	}
	byKey := map[string]*versions{}
	var order []string
	get := func(name string) *versions {
		k := Key(name)
		v, ok := byKey[k]
		if !ok {
			v = &versions{name: name, thereIdx: -1}
			byKey[k] = v
			order = append(order, k)
		}
		return v
	}
	for i, a := range there {
		if v := get(a.DisplayName); v.thereIdx < 0 {
			v.t, v.thereIdx = attrValue{ok: true, text: a.Value.Text}, i
		}
	}
	for _, a := range want {
		get(a.DisplayName).w = attrValue{ok: true, text: a.Value.Text}
	}
	for _, a := range last {
		get(a.DisplayName).l = attrValue{ok: true, text: a.Value.Text}
	}

	for _, k := range order {
		v := byKey[k]
		field := "attributes[" + v.name + "]"
		d := Decide(rule, v.l, v.t, v.w)
		switch {
		case d == KeepThere && v.t != v.l:
			why := keptEdited
			switch {
			case !v.l.ok:
				why = keptAdded
			case !v.t.ok:
				why = "removed in Oho; crmsync's value did not change, so it is not added again"
			}
			mg.Kept = append(mg.Kept, OhoKept{Field: field, Value: v.t.text, Why: why})
		case d.IsConflict():
			mg.Conflicts = append(mg.Conflicts, Conflict{Field: field, There: v.t.text, Want: v.w.text, Last: v.l.text, Rule: rule, Overwrote: d == ConflictSent})
		}
		v.out = v.t
		if d.Sends() {
			v.out = v.w
		}
	}

	res := []OhoAttribute{}
	for i, a := range there { // Oho's attributes keep their place
		v := byKey[Key(a.DisplayName)]
		switch {
		case i != v.thereIdx: // another spelling of one name in Oho: not crmsync's, kept as it is
			res = append(res, a)
		case v.out.ok:
			res = append(res, OhoAttribute{DisplayName: a.DisplayName, Value: OhoAttributeValue{Text: v.out.text}})
		}
	}
	for _, k := range order { // then crmsync's new ones, in its order
		if v := byKey[k]; v.thereIdx < 0 && v.out.ok {
			res = append(res, OhoAttribute{DisplayName: v.name, Value: OhoAttributeValue{Text: v.out.text}})
		}
	}
	return res
}

// ranker orders crmsync's tags and labels as ToOho chose them: by
// tag_priority, then most recently applied, then name.
type ranker struct {
	m       *Mapper
	in      *input
	applied map[string]time.Time // Key(tag) → when it was applied
}

func newRanker(m *Mapper, c contact.Contact) *ranker {
	r := &ranker{m: m, in: newInput(c, contact.Identity{}, time.Time{}, m.c.loc), applied: map[string]time.Time{}}
	for _, t := range c.Tags {
		k := r.in.key(t.Name)
		if t.AppliedAt.After(r.applied[k]) {
			r.applied[k] = t.AppliedAt
		}
	}
	return r
}

func (r *ranker) candidate(name string) candidate {
	return newCandidate(r.in, r.m.c.priority, name, r.applied[r.in.key(name)])
}

// mergeSet merges one list of names (tags or labels) three ways and holds
// its cap: see MergeOho.
func mergeSet(mg *OhoMerge, rk *ranker, field string, max int, last, there, want []string) []string {
	key := rk.in.key
	inLast, inWant := map[string]bool{}, map[string]string{}
	for _, s := range last {
		inLast[key(s)] = true
	}
	for _, s := range want {
		inWant[key(s)] = s
	}
	inThere := map[string]bool{}
	var fromOho []string      // items set in Oho (crmsync does not want them): kept first
	var mine []candidate      // crmsync's items in the merge
	var present []string      // crmsync's items Oho already holds
	for _, s := range there { // Oho's items, in its order
		k := key(s)
		_, w := inWant[k]
		switch {
		case inThere[k], !w && !inLast[k]:
			// Set in Oho (or a second spelling of one name there, which
			// crmsync never sends): kept.
			fromOho = append(fromOho, s)
			mg.Kept = append(mg.Kept, OhoKept{Field: field, Value: s, Why: keptAdded})
		case !w: // crmsync pushed it and no longer wants it: removed
		default: // wanted, in Oho's spelling
			mine = append(mine, rk.candidate(s))
			present = append(present, s)
		}
		inThere[k] = true
	}
	for _, s := range want {
		k := key(s)
		switch {
		case inThere[k]: // already there
		case inLast[k]: // crmsync's, removed in Oho: not added again
			mg.Kept = append(mg.Kept, OhoKept{Field: field, Value: s, Why: keptRemoved})
		default:
			mine = append(mine, rk.candidate(s))
		}
	}

	if len(fromOho) > max {
		// Oho holds more items set there than it allows: a list within
		// the cap would erase some. Leave it as it is.
		for _, c := range mine {
			if !slices.Contains(present, c.name) {
				mg.Changes = append(mg.Changes, Change{Field: field, Kind: Dropped, Before: c.name, Reason: keptOverTheCap})
			}
		}
		return append([]string{}, there...)
	}
	slices.SortStableFunc(mine, compareCandidates)
	out := append([]string{}, fromOho...)
	for _, c := range mine {
		if len(out) == max {
			mg.Changes = append(mg.Changes, Change{Field: field, Kind: Dropped, Before: c.name,
				Reason: fmt.Sprintf("Oho keeps at most %d %s and the %d"+mergeCapMark+" crmsync's by tag_priority, then recency, then name", max, field, len(fromOho))})
			continue
		}
		out = append(out, c.name)
	}
	slices.Sort(out)
	return out
}

// mergeCapMark is in the reason of every Dropped change mergeSet records for
// an item of crmsync's left out to hold a cap (and in no reason ToOho gives).
const mergeCapMark = " set in Oho come first;"

// WithoutCapDrops returns p (the payload crmsync last pushed) without the
// tags and labels the merge of that push left out to hold Oho's caps, as
// its adjustments (push_state.adjustments) record them: crmsync wanted
// them but never sent them, so Oho's lack of them is no one's removal and
// the next merge adds them when there is room.
func (p OhoContact) WithoutCapDrops(adjustments []Change) OhoContact {
	drop := map[string]map[string]bool{"tags": {}, "labels": {}}
	for _, c := range adjustments {
		if c.Kind == Dropped && drop[c.Field] != nil && strings.Contains(c.Reason, mergeCapMark) {
			drop[c.Field][Key(c.Before)] = true
		}
	}
	if len(drop["tags"])+len(drop["labels"]) == 0 {
		return p
	}
	keep := func(items []string, field string) []string {
		out := []string{}
		for _, s := range items {
			if !drop[field][Key(s)] {
				out = append(out, s)
			}
		}
		return out
	}
	p.Tags, p.Labels = keep(p.Tags, "tags"), keep(p.Labels, "labels")
	return p
}
