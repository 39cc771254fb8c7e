package store

import (
	"context"
	"database/sql"
	"encoding/json"
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
	var (
		key, payload, hash, adjustments, remote string
		contactID, runID                        int64
	)
	err = s.db.WithContext(ctx).Raw(`
		SELECT s.target_key, s.contact_id, s.remote_id, s.payload::text, s.payload_hash, s.adjustments::text,
		       s.first_pushed_at, s.pushed_at, COALESCE(s.run_id, 0)
		FROM contacts m
		JOIN push_state s ON s.destination = ? AND s.target_key = ? || '/' || m.id::text
		WHERE m.merged_into = ? AND s.remote_id IS NOT NULL
		ORDER BY s.first_pushed_at, m.id
		LIMIT 1`, DestinationOkeybot, channel, int64(survivor)).Row().
		Scan(&key, &contactID, &remote, &payload, &hash, &adjustments, &st.FirstPushedAt, &st.PushedAt, &runID)
	if errors.Is(err, sql.ErrNoRows) {
		return PushState{}, false, nil
	}
	if err != nil {
		return PushState{}, false, fmt.Errorf("load okeybot state merged into contact %d on channel %s: %w", survivor, channel, err)
	}
	st.Destination, st.TargetKey, st.ContactID, st.RemoteID = DestinationOkeybot, key, contact.ID(contactID), remote
	st.Payload, st.PayloadHash, st.Adjustments, st.RunID = json.RawMessage(payload), hash, json.RawMessage(adjustments), runID
	return st, true, nil
}
