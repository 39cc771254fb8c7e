package mapping

import "fmt"

// ConflictRule says who wins when a field was edited at a destination (its
// value there differs from what crmsync last pushed) while crmsync's own
// value for it changed too: the on_conflict setting of a destination
// (mapping.oho.on_conflict). A field whose crmsync value did not change is
// never written, edited there or not, so it is never a conflict.
type ConflictRule string

// The conflict rules, as jobs.yaml and push_conflicts.rule spell them.
const (
	ConflictSource      ConflictRule = "source"      // crmsync's new value is sent over the edit
	ConflictDestination ConflictRule = "destination" // the edit at the destination stays
)

// DefaultConflictRule is the rule when on_conflict is not set.
const DefaultConflictRule = ConflictSource

// Validate reports whether r is a rule: "" (the default), source or
// destination. The error names the allowed values, for a config key.
func (r ConflictRule) Validate() error {
	switch r {
	case "", ConflictSource, ConflictDestination:
		return nil
	}
	return fmt.Errorf("%q is not one of source, destination", string(r))
}

// OrDefault returns r, or DefaultConflictRule when r is "".
func (r ConflictRule) OrDefault() ConflictRule {
	if r == "" {
		return DefaultConflictRule
	}
	return r
}

// Decision is what the three-way comparison of one value decided.
type Decision int

// The decisions of Decide.
const (
	// KeepThere: crmsync's value did not change since its last push, so the
	// destination keeps what it holds, edited there or not.
	KeepThere Decision = iota + 1
	// AlreadyThere: the destination already holds crmsync's new value.
	AlreadyThere
	// SendWant: crmsync's value changed and the destination still holds what
	// crmsync last pushed: send the new value.
	SendWant
	// ConflictSent: both changed and the rule is source: crmsync's value is sent.
	ConflictSent
	// ConflictKept: both changed and the rule is destination: the edit stays.
	ConflictKept
)

// IsConflict reports whether d is ConflictSent or ConflictKept.
func (d Decision) IsConflict() bool { return d == ConflictSent || d == ConflictKept }

// Sends reports whether d writes crmsync's value (SendWant, ConflictSent).
func (d Decision) Sends() bool { return d == SendWant || d == ConflictSent }

// Decide compares one value three ways: last is what crmsync last pushed
// (the zero value when it never pushed one), there what the destination
// holds now, want what crmsync wants now. Destinations other than Oho (the
// Okeybot custom fields) use it the same way.
func Decide[T comparable](rule ConflictRule, last, there, want T) Decision {
	switch {
	case want == last:
		return KeepThere
	case there == want:
		return AlreadyThere
	case there == last:
		return SendWant
	case rule.OrDefault() == ConflictDestination:
		return ConflictKept
	default:
		return ConflictSent
	}
}

// Conflict is one value edited at the destination while crmsync's own value
// changed too, and what the rule did with it. sync/push records it in
// push_conflicts.
type Conflict struct {
	Field string // as the vendor spells it: "email", "attributes[Tier]"
	There string // the destination's value ("" when empty or absent)
	Want  string // crmsync's new value ("" when crmsync no longer has one)
	Last  string // what crmsync last pushed ("" when empty or never pushed)
	Rule  ConflictRule
	// Overwrote is true when crmsync's value was sent (rule source), false
	// when the destination's edit was kept (rule destination).
	Overwrote bool
}
