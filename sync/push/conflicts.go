package push

import (
	"context"
	"fmt"
	"time"

	"crmsync/contact"
	"crmsync/store"
)

// Kept is something a destination holds that a push leaves as it is
// although it is not crmsync's wish: an item added there by a person, one of
// crmsync's a person removed, a field edited there whose crmsync value did
// not change. It is reported (push --dry-run), not recorded.
type Kept struct {
	Field string // e.g. "tags", "attributes[Tier]", "email"
	Value string // the item or value the destination holds ("" when empty there)
	Why   string // e.g. "added in Oho"
}

// recordConflicts records the conflicts of a confirmed target in one
// statement, filling in what Push left zero.
func (r *runner) recordConflicts(ctx context.Context, c contact.Contact, t Target, cs []store.PushConflict, now time.Time) error {
	if len(cs) == 0 {
		return nil
	}
	out := make([]store.PushConflict, len(cs))
	for i, pc := range cs {
		if pc.Destination == "" {
			pc.Destination = r.d.Name()
		}
		if pc.ContactID == 0 {
			pc.ContactID = c.ID
		}
		if pc.TargetKey == "" {
			pc.TargetKey = t.Key
		}
		if pc.RunID == 0 {
			pc.RunID = r.o.RunID
		}
		if pc.At.IsZero() {
			pc.At = now
		}
		out[i] = pc
	}
	if err := r.o.Store.RecordPushConflicts(ctx, out...); err != nil {
		return fmt.Errorf("push %s: %w", r.d.Name(), err)
	}
	return nil
}
