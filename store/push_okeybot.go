package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"crmsync/contact"
)

// OkeybotMergedState returns the state of the Okeybot record that a contact
// merged into survivor holds on the named channel (target key
// "<channel>/<merged contact id>", as sync/push.OkeybotTargetKey builds it), so the survivor's target on that channel
// can take the record over instead of creating a second Okeybot contact for
// the same person. When several merged contacts have one, the first pushed
// wins (then the smallest contact id); the others stay as they are. ok is
// false when none has a record with an Okeybot id.
func (s *Store) OkeybotMergedState(ctx context.Context, channel string, survivor contact.ID) (st PushState, ok bool, err error) {
	var r pushStateRow
	err = s.db.WithContext(ctx).Raw(`
		SELECT `+pushStateColumns+`
		FROM contacts m
		JOIN push_state s ON s.destination = ? AND s.target_key = ? || '/' || m.id::text
		LEFT JOIN contact_identities i ON i.id = s.identity_id
		WHERE m.merged_into = ? AND s.remote_id IS NOT NULL
		ORDER BY s.first_pushed_at, m.id
		LIMIT 1`, DestinationOkeybot, channel, int64(survivor)).Row().Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return PushState{}, false, nil
	}
	if err != nil {
		return PushState{}, false, fmt.Errorf("load okeybot state merged into contact %d on channel %s: %w", survivor, channel, err)
	}
	return *r.state(DestinationOkeybot), true, nil
}
