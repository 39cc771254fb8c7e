package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"crmsync/contact"
)

// OkeybotField is one custom field value, as Okeybot's POST and PUT take it.
type OkeybotField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// OkeybotContact is the part of an Okeybot contact crmsync manages: its
// custom fields (sorted by name) and tags (sorted). ToOkeybot returns the
// desired one; sync/push stores it, once pushed, as the last pushed state
// for the next run.
//
// Okeybot adds and removes tags one by one (POST and DELETE
// /v1/contact/{id}/tags), so crmsync owns a tag only if it added it: in the
// stored state, Tags are the tags crmsync added, and TheirTags the desired
// tags it found already set in Okeybot (by a person, or by Okeybot) when it
// read the contact, and therefore never added. ToOkeybot never removes a tag
// that is not in Tags, and never adds one in TheirTags. A desired state has
// no TheirTags.
type OkeybotContact struct {
	CustomFields []OkeybotField `json:"custom_fields,omitempty"`
	Tags         []string       `json:"tags,omitempty"`
	TheirTags    []string       `json:"their_tags,omitempty"`
}

// OkeybotFieldsRequest is the body of POST /v1/contact and PUT
// /v1/contact/{id}: at most 30 fields.
type OkeybotFieldsRequest struct {
	CustomFields []OkeybotField `json:"custom_fields"`
}

// OkeybotTagsRequest is the body of POST and DELETE /v1/contact/{id}/tags:
// at most 10 tags.
type OkeybotTagsRequest struct {
	Tags []string `json:"tags"`
}

// OkeybotPlan is what to send to bring an Okeybot contact from the last
// pushed state to the desired one.
type OkeybotPlan struct {
	// Desired is the state the contact should hold; Hash(Desired) tells
	// whether it changed since the last push.
	Desired OkeybotContact `json:"desired"`
	// Fields are the changed custom fields, sorted by name, in requests of at
	// most 30. A field pushed before and no longer desired is sent with value
	// "" to clear it. For a contact not yet created, the first request is the
	// POST /v1/contact and the rest are PUTs.
	Fields []OkeybotFieldsRequest `json:"fields,omitempty"`
	// RemoveTags are the tags pushed before and no longer desired, in requests
	// of at most 10. Send them before AddTags: a tag whose spelling changed
	// (VIP → vip) is removed and added, which is safe in that order even if
	// Okeybot compares tags case-insensitively.
	RemoveTags []OkeybotTagsRequest `json:"remove_tags,omitempty"`
	// AddTags are the desired tags not pushed before, in requests of at most 10.
	AddTags []OkeybotTagsRequest `json:"add_tags,omitempty"`
}

// IsZero reports whether the plan sends nothing.
func (p OkeybotPlan) IsZero() bool {
	return len(p.Fields) == 0 && len(p.RemoveTags) == 0 && len(p.AddTags) == 0
}

// ToOkeybot maps contact c, as seen through identity id, to the Okeybot
// custom fields and tags it should hold, and plans the requests that take
// it there from last, the state pushed before (zero for a new contact).
// now is the time of the run, for facts. It never reads the clock and never
// does I/O. Okeybot documents no length limits, so values are only cleaned
// (repaired, trimmed); every drop and rewrite is in the changes.
func (m *Mapper) ToOkeybot(c contact.Contact, id contact.Identity, last OkeybotContact, now time.Time) (OkeybotPlan, []Change) {
	var cs changes
	in := newInput(c, id, now, m.c.loc)
	var plan OkeybotPlan
	plan.Desired.CustomFields = m.okeybotFields(&cs, in)
	tags := cleanTags(&cs, "tags", c.Tags)
	plan.Desired.Tags = chooseTags(&cs, "tags", in, tags, m.c.okeybot.tags, m.c.priority, 0)

	// Fields: changed or cleared, sorted by name.
	// Entries of last that are not clean text cannot have come from mapping
	// and cannot be sent back safely: they are ignored.
	lastValues := map[string]string{}
	for _, f := range last.CustomFields {
		if isClean(f.Name) && (f.Value == "" || isClean(f.Value)) {
			lastValues[f.Name] = f.Value
		}
	}
	desired := map[string]bool{}
	var changed []OkeybotField
	for _, f := range plan.Desired.CustomFields {
		desired[f.Name] = true
		if v, ok := lastValues[f.Name]; !ok || v != f.Value {
			changed = append(changed, f)
		}
	}
	for name, v := range lastValues {
		if !desired[name] && v != "" {
			changed = append(changed, OkeybotField{Name: name, Value: ""})
		}
	}
	slices.SortFunc(changed, func(a, b OkeybotField) int { return strings.Compare(a.Name, b.Name) })

	// Tags: set differences, sorted. Only tags crmsync added (last.Tags) are
	// ever removed; desired tags Okeybot already had (last.TheirTags) are
	// neither added nor, once no longer desired, removed.
	lastTags, theirs := map[string]bool{}, map[string]bool{}
	for _, t := range last.Tags {
		if isClean(t) {
			lastTags[t] = true
		}
	}
	for _, t := range last.TheirTags {
		theirs[t] = true
	}
	var add, remove []string
	for _, t := range plan.Desired.Tags {
		if !lastTags[t] && !theirs[t] {
			add = append(add, t)
		}
	}
	desiredTags := map[string]bool{}
	for _, t := range plan.Desired.Tags {
		desiredTags[t] = true
	}
	for t := range lastTags {
		if !desiredTags[t] {
			remove = append(remove, t)
		}
	}
	slices.Sort(remove)
	plan.Fields, plan.RemoveTags, plan.AddTags = okeybotRequests(changed, remove, add)
	if plan.Desired.CustomFields == nil {
		plan.Desired.CustomFields = []OkeybotField{}
	}
	if plan.Desired.Tags == nil {
		plan.Desired.Tags = []string{}
	}
	return plan, cs
}

// okeybotRequests cuts changed fields (sorted by name) and tags to remove
// and add (sorted) into requests within Okeybot's per-request limits: 30
// fields, 10 tags.
func okeybotRequests(fields []OkeybotField, remove, add []string) (fs []OkeybotFieldsRequest, rm, ad []OkeybotTagsRequest) {
	for chunk := range slices.Chunk(fields, okeybotFieldsLimit.Max) {
		fs = append(fs, OkeybotFieldsRequest{CustomFields: chunk})
	}
	for chunk := range slices.Chunk(remove, okeybotRemoveTagsLimit.Max) {
		rm = append(rm, OkeybotTagsRequest{Tags: chunk})
	}
	for chunk := range slices.Chunk(add, okeybotAddTagsLimit.Max) {
		ad = append(ad, OkeybotTagsRequest{Tags: chunk})
	}
	return fs, rm, ad
}

// OkeybotOnConflict returns mapping.okeybot.on_conflict with its default
// applied: ConflictSource or ConflictDestination.
func (m *Mapper) OkeybotOnConflict() ConflictRule { return m.c.okeybot.onConflict }

// OkeybotThere is what an Okeybot contact holds, as a GET or a
// by_custom_field match shows it.
type OkeybotThere struct {
	CustomFields map[string]string // a field absent or "" holds nothing
	Tags         []string
}

// OkeybotConflict is a custom field edited in Okeybot (its value there is
// neither what crmsync last pushed nor what crmsync wants now) whose crmsync
// value changed.
type OkeybotConflict struct {
	Field string // the custom field name
	There string // the value in Okeybot ("" when it holds none)
	Want  string // crmsync's value now ("" clears)
	Last  string // what crmsync last pushed ("" when never)
	// Kept is true when the edit stays (on_conflict: destination), false when
	// crmsync's value is sent over it (source).
	Kept bool
}

// OkeybotMerge is a plan merged with what the Okeybot contact holds.
type OkeybotMerge struct {
	// Plan is what is left to send: the plan's requests less what Okeybot
	// already holds and the edits kept, in requests within the limits.
	Plan OkeybotPlan
	// Conflicts are the fields edited on both sides, with what was decided.
	Conflicts []OkeybotConflict
	// Settled are the planned fields not sent: Okeybot holds crmsync's value
	// already, or holds an edit that is kept. Either way the field is
	// recorded as pushed with crmsync's value, so it is not sent, nor
	// counted as a conflict, again until crmsync's value changes.
	Settled []OkeybotField
	// TheirTags are the tags the plan would add that Okeybot already has:
	// not sent, and not crmsync's (OkeybotContact.TheirTags).
	TheirTags []string
	// Absent are the tags the plan would remove that Okeybot no longer has.
	Absent []string
}

// MergeOkeybot merges plan, made from last (what crmsync last pushed; zero
// for a contact crmsync never wrote, such as one just found by its lookup
// field), with there, what the contact holds now: a three-way merge per
// planned custom field, whose crmsync value changed by construction.
//
//   - there = last: nobody edited it in Okeybot; sent.
//   - there = want: Okeybot already holds it; not sent.
//   - otherwise it was edited in Okeybot: a conflict, decided by
//     mapping.okeybot.on_conflict (source sends crmsync's value, destination
//     keeps the edit).
//
// A field crmsync's value did not change is never in the plan, so an edit
// in Okeybot of such a field is never overwritten. Tags are added and
// removed one by one, so they never conflict: one to add that Okeybot has is
// not sent and becomes one of TheirTags, one to remove that Okeybot no
// longer has is not sent. It never does I/O.
func (m *Mapper) MergeOkeybot(plan OkeybotPlan, last OkeybotContact, there OkeybotThere) OkeybotMerge {
	lastValues := map[string]string{}
	for _, f := range last.CustomFields {
		lastValues[f.Name] = f.Value
	}
	out := OkeybotMerge{Plan: OkeybotPlan{Desired: plan.Desired}}
	var send []OkeybotField
	for _, r := range plan.Fields {
		for _, f := range r.CustomFields {
			t, l := there.CustomFields[f.Name], lastValues[f.Name]
			switch {
			case t == l:
				send = append(send, f)
			case t == f.Value:
				out.Settled = append(out.Settled, f)
			default:
				c := OkeybotConflict{Field: f.Name, There: t, Want: f.Value, Last: l, Kept: m.c.okeybot.onConflict == ConflictDestination}
				out.Conflicts = append(out.Conflicts, c)
				if c.Kept {
					out.Settled = append(out.Settled, f)
				} else {
					send = append(send, f)
				}
			}
		}
	}
	has := map[string]bool{}
	for _, t := range there.Tags {
		has[t] = true
	}
	var remove, add []string
	for _, r := range plan.RemoveTags {
		for _, t := range r.Tags {
			if has[t] {
				remove = append(remove, t)
			} else {
				out.Absent = append(out.Absent, t)
			}
		}
	}
	for _, r := range plan.AddTags {
		for _, t := range r.Tags {
			if has[t] {
				out.TheirTags = append(out.TheirTags, t)
			} else {
				add = append(add, t)
			}
		}
	}
	out.Plan.Fields, out.Plan.RemoveTags, out.Plan.AddTags = okeybotRequests(send, remove, add)
	return out
}

// OkeybotFieldNames returns the custom field names okeybot.custom_fields
// names explicitly, sorted, and whether an attr:* rule adds more from the
// data. Config can check with it that a channel's lookup field is one
// mapping fills in, so a created contact can be found again.
func (m *Mapper) OkeybotFieldNames() (names []string, wildcard bool) {
	for _, fr := range m.c.okeybot.fields {
		if fr.src.kind == srcAttrAll {
			wildcard = true
			continue
		}
		names = append(names, fr.name)
	}
	slices.Sort(names)
	return names, wildcard
}

// okeybotFields resolves the configured custom fields, sorted by name.
func (m *Mapper) okeybotFields(cs *changes, in *input) []OkeybotField {
	var out []OkeybotField
	seen := map[string]string{} // Key(name) → first name
	add := func(name, value string, typ contact.AttrType, src sourceKind, fromData bool) {
		if fromData {
			before := name
			name = fitText(cs, "custom_fields[].name", name, 0)
			if name == "" {
				cs.add("custom_fields[].name", Dropped, printable(before), "", "field name is empty after trimming")
				return
			}
		}
		field := "custom_fields[" + name + "]"
		value = fitText(cs, field, value, 0)
		if value == "" {
			return
		}
		if (typ == contact.AttrDate || typ == contact.AttrDatetime) && isClearedDate(value) {
			cs.add(field, Dropped, value, "", "1970-01-01 is how Omnichat stores a cleared date")
			return
		}
		if src == srcPhoneLocal {
			out, why, ok := formatPhone(value, m.c.region, "e164")
			switch {
			case !ok:
				cs.add(field, Dropped, value, "", why)
				return
			case out != value:
				cs.add(field, Normalised, value, out, why)
			}
			value = out
		}
		if first, dup := seen[in.key(name)]; dup {
			cs.add(field, Dropped, value, "", fmt.Sprintf("duplicate of custom field %q after case and width folding", first))
			return
		}
		seen[in.key(name)] = name
		out = append(out, OkeybotField{Name: name, Value: value})
	}
	used := map[string]bool{}
	for _, fr := range m.c.okeybot.fields {
		if fr.src.kind == srcAttr {
			used[fr.src.key] = true
		}
	}
	for _, fr := range m.c.okeybot.fields {
		if fr.src.kind == srcAttrAll {
			for _, a := range in.sortedAttributes(used) {
				add(a.Key, a.Value, a.Type, srcAttr, true)
			}
			continue
		}
		v, typ := in.value(fr.src)
		add(fr.name, v, typ, fr.src.kind, false)
	}
	slices.SortFunc(out, func(a, b OkeybotField) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Check verifies the plan against the Okeybot limits: at most 30 fields and
// 10 tags per request, names and tags clean, non-empty and unique, desired
// lists sorted. It returns all violations joined, each a *LimitError.
func (p OkeybotPlan) Check() error {
	var errs []error
	bad := func(l Limit, why string) { errs = append(errs, &LimitError{Limit: l, Why: why}) }
	fieldsOK := func(l Limit, fs []OkeybotField, sorted bool) {
		seen := map[string]bool{}
		for _, f := range fs {
			if !isClean(f.Name) {
				bad(l, "field name empty or not clean text")
			}
			if f.Value != "" && !isClean(f.Value) {
				bad(l, "field value not clean text")
			}
			if seen[Key(f.Name)] {
				bad(l, "duplicate field name")
			}
			seen[Key(f.Name)] = true
		}
		if sorted && !slices.IsSortedFunc(fs, func(a, b OkeybotField) int { return strings.Compare(a.Name, b.Name) }) {
			bad(l, "fields not sorted by name")
		}
	}
	tagsOK := func(l Limit, ts []string) {
		if err := l.CheckCount(len(ts)); err != nil {
			errs = append(errs, err)
		}
		if len(ts) == 0 {
			bad(l, "empty request")
		}
		seen := map[string]bool{}
		for _, t := range ts {
			if !isClean(t) {
				bad(l, "tag empty or not clean text")
			}
			if seen[t] {
				bad(l, "duplicate tag")
			}
			seen[t] = true
		}
	}
	fieldsOK(okeybotFieldsLimit, p.Desired.CustomFields, true)
	for _, t := range p.Desired.Tags {
		if !isClean(t) {
			bad(okeybotAddTagsLimit, "desired tag empty or not clean text")
		}
	}
	if !slices.IsSorted(p.Desired.Tags) {
		bad(okeybotAddTagsLimit, "desired tags not sorted")
	}
	for _, r := range p.Fields {
		if err := okeybotFieldsLimit.CheckCount(len(r.CustomFields)); err != nil {
			errs = append(errs, err)
		}
		if len(r.CustomFields) == 0 {
			bad(okeybotFieldsLimit, "empty request")
		}
		fieldsOK(okeybotFieldsLimit, r.CustomFields, true)
	}
	for _, r := range p.RemoveTags {
		tagsOK(okeybotRemoveTagsLimit, r.Tags)
	}
	for _, r := range p.AddTags {
		tagsOK(okeybotAddTagsLimit, r.Tags)
	}
	return errors.Join(errs...)
}
