package mapping

import "fmt"

// ChangeKind says what mapping did to a value on its way to a destination.
type ChangeKind int

// The kinds of change, in the order of how much they lose. The zero value is
// not a kind, so a forgotten assignment shows up as "ChangeKind(0)".
const (
	Truncated  ChangeKind = iota + 1 // cut to fit a length or count limit
	Dropped                          // left out: the value cannot be sent at all
	Normalised                       // rewritten to the form the destination wants (format, spelling, repair)
	Defaulted                        // filled in because no usable value existed
	Rejected                         // the whole record cannot be sent
)

var changeKindNames = [...]string{
	Truncated:  "truncated",
	Dropped:    "dropped",
	Normalised: "normalised",
	Defaulted:  "defaulted",
	Rejected:   "rejected",
}

// String returns the lower-case name stored in push_rejections, e.g. "truncated".
func (k ChangeKind) String() string {
	if k >= Truncated && k <= Rejected {
		return changeKindNames[k]
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// MarshalText encodes the kind by name, so JSON and YAML show "truncated".
func (k ChangeKind) MarshalText() ([]byte, error) {
	if k < Truncated || k > Rejected {
		return nil, fmt.Errorf("marshal change kind: unknown kind %d", int(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes a kind by name ("truncated"), as MarshalText writes it.
func (k *ChangeKind) UnmarshalText(b []byte) error {
	for i, n := range changeKindNames {
		if n != "" && n == string(b) {
			*k = ChangeKind(i)
			return nil
		}
	}
	return fmt.Errorf("unmarshal change kind: unknown kind %q", string(b))
}

// Change records one thing mapping did to make a contact fit a destination:
// a cut, a drop, a rewrite, a default or a refusal.
//
// Field is the destination's field path as the vendor spells it: "first_name",
// "social_profile.id"; an attribute or custom field is named by its name,
// "attributes[Member ID].value.text", "custom_fields[phone]" (an attribute or
// field whose name itself was cut or dropped: "attributes[].display_name",
// "custom_fields[].name"); a tag or label change is under "tags" or "labels"
// with the tag in Before. Before and After are the values (After is "" for
// Dropped and Rejected). Reason is a short English sentence.
type Change struct {
	Field  string     `json:"field"`
	Kind   ChangeKind `json:"kind"`
	Before string     `json:"before"`
	After  string     `json:"after"`
	Reason string     `json:"reason"`
}

// String formats the change for logs and test failures. It includes the
// values, which may be personal data: log Field, Kind and Reason instead
// where values must not leave the process.
func (c Change) String() string {
	return fmt.Sprintf("%s %s %q → %q: %s", c.Field, c.Kind, c.Before, c.After, c.Reason)
}

// changes collects Changes in the order mapping makes them, which is fixed,
// so the list is as deterministic as the payload.
type changes []Change

func (cs *changes) add(field string, kind ChangeKind, before, after, reason string) {
	*cs = append(*cs, Change{Field: field, Kind: kind, Before: before, After: after, Reason: reason})
}
