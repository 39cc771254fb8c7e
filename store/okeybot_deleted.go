package store

import (
	"context"
	"fmt"
	"time"

	"crmsync/contact"
)

// Resolutions of a deleted Okeybot contact, as
// okeybot_deleted_contacts.resolution spells them.
const (
	OkeybotRelinked  = "relinked"  // found again by the channel's lookup field
	OkeybotRecreated = "created"   // no match: created anew
	OkeybotForgotten = "forgotten" // finding or creating failed; the next run does it
)

// OkeybotDeleted is an Okeybot contact found deleted in Okeybot (table
// okeybot_deleted_contacts).
type OkeybotDeleted struct {
	ContactID  contact.ID
	TargetKey  string // the record whose stored id is dead
	DeletedID  string // that id
	HTTPStatus int    // 403 or 404
	Resolution string // OkeybotRelinked, OkeybotRecreated or OkeybotForgotten
	NewID      string // the id the record holds now; "" when forgotten
	At         time.Time
}

// RecordOkeybotDeleted records d and, when it was forgotten, drops the dead
// id from the record's push_state (remote_id NULL, payload_hash emptied so
// the record is pushed again), in one statement. A record whose id has
// changed since is left alone.
func (s *Store) RecordOkeybotDeleted(ctx context.Context, d OkeybotDeleted) error {
	err := s.db.WithContext(ctx).Exec(`
		WITH forget AS (
		    UPDATE push_state SET remote_id = NULL, payload_hash = ''
		    WHERE ? = ? AND destination = ? AND target_key = ? AND remote_id = ?
		)
		INSERT INTO okeybot_deleted_contacts (contact_id, target_key, deleted_id, http_status, resolution, new_id, detected_at)
		VALUES (?, ?, ?, ?, ?, NULLIF(?, ''), ?)`,
		d.Resolution, OkeybotForgotten, DestinationOkeybot, d.TargetKey, d.DeletedID,
		int64(d.ContactID), d.TargetKey, d.DeletedID, d.HTTPStatus, d.Resolution, d.NewID, d.At.UTC()).Error
	if err != nil {
		return fmt.Errorf("record deleted okeybot contact %s of %s: %w", d.DeletedID, d.TargetKey, err)
	}
	return nil
}
