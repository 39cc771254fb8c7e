package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"crmsync/contact"
)

// Destinations as push_state.destination and the other push tables name them.
const (
	DestinationOho     = "oho"
	DestinationOkeybot = "okeybot"
)

// Outcomes of a contact's push, as push_contacts.outcome stores them.
const (
	PushOutcomePushed    = "pushed"    // at least one write confirmed
	PushOutcomeUnchanged = "unchanged" // nothing to send
	PushOutcomeRejected  = "rejected"  // at least one target refused (push_rejections)
	PushOutcomeNoTarget  = "no_target" // no identity the destination serves
)

// MaxRejectionValue is how many characters of an offending value
// push_rejections.value keeps.
const MaxRejectionValue = 500

// PushState is the last payload a destination confirmed for one of its
// records (table push_state).
type PushState struct {
	Destination string
	// TargetKey is the destination's key of the record: Oho
	// "platform/platform_id/user_id", Okeybot "<channel>/<contact id>".
	TargetKey string
	// ContactID is the master contact whose data the record holds.
	ContactID contact.ID
	// Identity is the identity the record is keyed by (Oho); nil when the
	// record is not tied to one. Stored as identity_id.
	Identity *contact.Identity
	// RemoteID is the destination's own id of the record (Okeybot); "" for none.
	RemoteID string
	// Payload is the confirmed payload as JSON; PayloadHash its hash.
	Payload     json.RawMessage
	PayloadHash string
	// Adjustments is a JSON array of the changes mapping made to produce
	// Payload (mapping.Change values); nil stores [].
	Adjustments json.RawMessage
	// FirstPushedAt is set by the store on the first save and kept after.
	FirstPushedAt time.Time
	// PushedAt is when the destination confirmed the write.
	PushedAt time.Time
	// RunID is the sync_runs row of the push; 0 stores NULL.
	RunID int64
}

// PushTarget is what the store knows about one destination record.
type PushTarget struct {
	// State is the last confirmed state; nil when crmsync never wrote the record.
	State *PushState
	// Refused holds the hashes of payloads the destination refused for the
	// record (rejections with an HTTP status): they are not sent again.
	Refused map[string]bool
}

// pushStateColumns are the push_state columns (alias s, with its identity
// as i, LEFT JOINed) that pushStateRow scans, in its order.
const pushStateColumns = `s.target_key, s.contact_id, i.platform, i.channel_id, i.user_id, s.remote_id,
	s.payload::text, s.payload_hash, s.adjustments::text, s.first_pushed_at, s.pushed_at, COALESCE(s.run_id, 0)`

// pushStateRow is one push_state row as pushStateColumns select it; its
// columns are NULL when an outer join found no row.
type pushStateRow struct {
	key, platform, channel, user, remote sql.NullString
	payload, hash, adjustments           sql.NullString
	contactID                            sql.NullInt64
	firstPushed, pushed                  sql.NullTime
	runID                                int64
}

// dest returns the scan destinations, in pushStateColumns' order.
func (r *pushStateRow) dest() []any {
	return []any{&r.key, &r.contactID, &r.platform, &r.channel, &r.user, &r.remote,
		&r.payload, &r.hash, &r.adjustments, &r.firstPushed, &r.pushed, &r.runID}
}

// state returns the row as destination's PushState; nil when there was no row.
func (r *pushStateRow) state(destination string) *PushState {
	if !r.contactID.Valid {
		return nil
	}
	st := &PushState{
		Destination:   destination,
		TargetKey:     r.key.String,
		ContactID:     contact.ID(r.contactID.Int64),
		RemoteID:      r.remote.String,
		Payload:       json.RawMessage(r.payload.String),
		PayloadHash:   r.hash.String,
		Adjustments:   json.RawMessage(r.adjustments.String),
		FirstPushedAt: r.firstPushed.Time,
		PushedAt:      r.pushed.Time,
		RunID:         r.runID,
	}
	if r.platform.Valid {
		st.Identity = &contact.Identity{Platform: contact.Platform(r.platform.String), ChannelID: r.channel.String, UserID: r.user.String}
	}
	return st
}

// PushTargets returns, in one query, the state and the refused payload
// hashes of each given target key of destination that has either. Keys
// without either are absent from the map.
func (s *Store) PushTargets(ctx context.Context, destination string, keys []string) (map[string]PushTarget, error) {
	out := make(map[string]PushTarget, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.db.WithContext(ctx).Raw(`
		SELECT k.key, `+pushStateColumns+`,
		       (SELECT string_agg(DISTINCT r.payload_hash, ' ') FROM push_rejections r
		         WHERE r.destination = ? AND r.target_key = k.key AND r.http_status IS NOT NULL)
		FROM unnest(?::text[]) AS k (key)
		LEFT JOIN push_state s ON s.destination = ? AND s.target_key = k.key
		LEFT JOIN contact_identities i ON i.id = s.identity_id`,
		destination, textArray(keys), destination).Rows()
	if err != nil {
		return nil, fmt.Errorf("load push state of %d %s targets: %w", len(keys), destination, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key     string
			r       pushStateRow
			refused sql.NullString
		)
		if err := rows.Scan(append(append([]any{&key}, r.dest()...), &refused)...); err != nil {
			return nil, fmt.Errorf("load push state: %w", err)
		}
		t := PushTarget{State: r.state(destination)}
		if refused.Valid {
			t.Refused = make(map[string]bool)
			for _, h := range strings.Fields(refused.String) {
				t.Refused[h] = true
			}
		}
		if t.State != nil || t.Refused != nil {
			out[key] = t
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load push state: %w", err)
	}
	return out, nil
}

// SavePushState records st as the last payload the destination confirmed
// for st.TargetKey, replacing the previous one. The first save of a key
// sets first_pushed_at to st.PushedAt; later saves keep it. contact_id is
// set to st.ContactID, which re-points the record after a merge or split.
func (s *Store) SavePushState(ctx context.Context, st PushState) error {
	var platform, channel, user string
	if st.Identity != nil {
		platform, channel, user = string(st.Identity.Platform), st.Identity.ChannelID, st.Identity.UserID
	}
	adjustments := string(st.Adjustments)
	if adjustments == "" || adjustments == "null" {
		adjustments = "[]"
	}
	err := s.db.WithContext(ctx).Exec(`
		INSERT INTO push_state (destination, target_key, contact_id, identity_id, remote_id, payload, payload_hash,
		                        adjustments, first_pushed_at, pushed_at, run_id)
		VALUES (?, ?, ?, (SELECT id FROM contact_identities WHERE platform = ? AND channel_id = ? AND user_id = ?),
		        NULLIF(?, ''), ?::jsonb, ?, ?::jsonb, ?, ?, NULLIF(?::bigint, 0))
		ON CONFLICT (destination, target_key) DO UPDATE SET
		    contact_id   = EXCLUDED.contact_id,
		    identity_id  = COALESCE(EXCLUDED.identity_id, push_state.identity_id),
		    remote_id    = COALESCE(EXCLUDED.remote_id, push_state.remote_id),
		    payload      = EXCLUDED.payload,
		    payload_hash = EXCLUDED.payload_hash,
		    adjustments  = EXCLUDED.adjustments,
		    pushed_at    = EXCLUDED.pushed_at,
		    run_id       = EXCLUDED.run_id`,
		st.Destination, st.TargetKey, int64(st.ContactID), platform, channel, user,
		st.RemoteID, string(st.Payload), st.PayloadHash, adjustments, st.PushedAt.UTC(), st.PushedAt.UTC(), st.RunID).Error
	if err != nil {
		return fmt.Errorf("save push state %s %s: %w", st.Destination, st.TargetKey, err)
	}
	return nil
}

// MovePushState re-points the records with the given keys at contact to,
// without touching their payloads: after a merge or split, the identity a
// record is keyed by belongs to another contact while the payload is
// unchanged.
func (s *Store) MovePushState(ctx context.Context, destination string, keys []string, to contact.ID) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Exec(`
		UPDATE push_state SET contact_id = ?
		WHERE destination = ? AND target_key = ANY (?::text[]) AND contact_id <> ?`,
		int64(to), destination, textArray(keys), int64(to)).Error
	if err != nil {
		return fmt.Errorf("move %d %s push states to contact %d: %w", len(keys), destination, to, err)
	}
	return nil
}

// PushRejection is a record crmsync could not push (table push_rejections).
type PushRejection struct {
	Destination string
	ContactID   contact.ID
	// TargetKey is the destination record, or the identity
	// ("platform/channel/user") when the destination key cannot be known.
	TargetKey string
	// Field is the destination field at fault; "" stores NULL.
	Field string
	// Value is the offending value, cut to MaxRejectionValue characters;
	// nil stores NULL.
	Value *string
	// Reason is the API's message, mapping's reason or the setup problem.
	Reason string
	// HTTPStatus is the status of the refusal; 0 (no request sent) stores NULL.
	HTTPStatus int
	// PayloadHash is the hash of the refused payload (or of mapping's input
	// when no payload could be built).
	PayloadHash string
	// RunID is the sync_runs row; 0 stores NULL.
	RunID int64
	// At is when the refusal happened.
	At time.Time
}

// RecordPushRejections stores refusals in one statement. A refusal already
// recorded for the same destination, target, payload hash, field and reason
// only updates contact_id, last_seen_at and times_seen (a refusal given
// twice in rs counts twice).
func (s *Store) RecordPushRejections(ctx context.Context, rs ...PushRejection) error {
	if len(rs) == 0 {
		return nil
	}
	// One statement may not update a row twice: fold repeats of a refusal
	// into its first occurrence, keeping the last one's contact and time.
	type key struct{ destination, target, hash, field, reason string }
	type row struct {
		PushRejection
		lastAt time.Time
		seen   int
	}
	idx := make(map[key]int, len(rs))
	rows := make([]row, 0, len(rs))
	for _, r := range rs {
		k := key{r.Destination, r.TargetKey, r.PayloadHash, r.Field, r.Reason}
		if i, ok := idx[k]; ok {
			rows[i].ContactID, rows[i].lastAt = r.ContactID, r.At
			rows[i].seen++
			continue
		}
		idx[k] = len(rows)
		rows = append(rows, row{PushRejection: r, lastAt: r.At, seen: 1})
	}
	n := len(rows)
	dest, contactIDs, target, field, reason := make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n)
	status, hash, run, firstAt, lastAt, seen := make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n)
	value := make(nullTextArray, n)
	for i, r := range rows {
		dest[i], contactIDs[i], target[i], field[i], reason[i] = r.Destination, strconv.FormatInt(int64(r.ContactID), 10), r.TargetKey, r.Field, r.Reason
		status[i], hash[i], run[i] = strconv.Itoa(r.HTTPStatus), r.PayloadHash, strconv.FormatInt(r.RunID, 10)
		firstAt[i], lastAt[i], seen[i] = r.At.UTC().Format(time.RFC3339Nano), r.lastAt.UTC().Format(time.RFC3339Nano), strconv.Itoa(r.seen)
		if r.Value != nil {
			v := cut(*r.Value, MaxRejectionValue)
			value[i] = &v
		}
	}
	err := s.db.WithContext(ctx).Exec(`
		INSERT INTO push_rejections (destination, contact_id, target_key, field, value, reason, http_status,
		                             payload_hash, run_id, created_at, last_seen_at, times_seen)
		SELECT u.destination, u.contact_id, u.target_key, NULLIF(u.field, ''), u.value, u.reason, NULLIF(u.http_status, 0),
		       u.payload_hash, NULLIF(u.run_id, 0), u.first_at, u.last_at, u.seen
		FROM unnest(?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::integer[], ?::text[],
		            ?::bigint[], ?::timestamptz[], ?::timestamptz[], ?::integer[])
		     AS u (destination, contact_id, target_key, field, value, reason, http_status, payload_hash, run_id, first_at, last_at, seen)
		ON CONFLICT (destination, target_key, payload_hash, (COALESCE(field, '')), reason) DO UPDATE SET
		    contact_id   = EXCLUDED.contact_id,
		    last_seen_at = EXCLUDED.last_seen_at,
		    times_seen   = push_rejections.times_seen + EXCLUDED.times_seen`,
		dest, contactIDs, target, field, value, reason, status, hash, run, firstAt, lastAt, seen).Error
	if err != nil {
		return fmt.Errorf("record %d %s rejections of %s: %w", len(rs), rs[0].Destination, rs[0].TargetKey, err)
	}
	return nil
}

// cut returns s cut to at most n characters, on a character boundary.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}

// PushCandidateQuery selects the contacts a push run examines
// (PushCandidates).
type PushCandidateQuery struct {
	Destination string
	// ConfigHash is the fingerprint of the settings that shape payloads: a
	// contact last finished under another fingerprint is a candidate again
	// ("" makes every contact one).
	ConfigHash string
	// RecheckBefore, when not zero, makes a contact last finished before it
	// a candidate again (time-based facts move without the record changing).
	RecheckBefore time.Time
	// ChangedAfter, when not zero, makes the selection incremental: only
	// contacts changed after it (contacts.updated_at), due for a recheck
	// (RecheckBefore) or waiting in push_retries are looked at, through
	// indexes, so the cost follows those contacts rather than the table.
	// Zero looks at every live contact (a full pass).
	ChangedAfter time.Time
	// AfterID and Limit page through the candidates in id order; Limit 0
	// returns them all.
	AfterID contact.ID
	Limit   int
}

// pushFinished is true for a contact c the destination finished with in its
// current version: examined after its last change (contacts.updated_at),
// under the config hash, and not before the recheck time. Arguments:
// destination, config hash, recheck time twice (NULL for none).
const pushFinished = `EXISTS (SELECT 1 FROM push_contacts pc
	WHERE pc.destination = ? AND pc.contact_id = c.id
	  AND pc.contact_updated_at = c.updated_at
	  AND pc.config_hash = ?
	  AND (?::timestamptz IS NULL OR pc.checked_at >= ?::timestamptz))`

// pushChangedOrDue lists, for the incremental selection, the ids worth
// looking at: changed after a time, examined before the recheck time, or
// waiting for a retry. Each branch reads an index (contacts_updated_idx,
// push_contacts_checked_idx, push_retries' key). Arguments: changed after,
// destination, recheck time, destination.
const pushChangedOrDue = `c.id IN (
	SELECT x.id FROM contacts x WHERE x.merged_into IS NULL AND x.updated_at > ?
	UNION ALL
	SELECT pc.contact_id FROM push_contacts pc WHERE pc.destination = ? AND pc.checked_at < ?::timestamptz
	UNION ALL
	SELECT r.contact_id FROM push_retries r WHERE r.destination = ?)`

// PushCandidates returns, in id order, the live contacts (not merged, not
// excluded from push by an override) with id > q.AfterID that
// q.Destination has not finished with in their current version: never
// examined, changed since (contacts.updated_at), examined under another
// q.ConfigHash, or examined before q.RecheckBefore. With q.ChangedAfter set
// only the contacts changed after it, due for a recheck or waiting for a
// retry are looked at (see PushCandidateQuery). One query.
func (s *Store) PushCandidates(ctx context.Context, q PushCandidateQuery) ([]contact.ID, error) {
	var recheck any
	if !q.RecheckBefore.IsZero() {
		recheck = q.RecheckBefore.UTC()
	}
	where := `c.id > ? AND c.merged_into IS NULL AND NOT c.excluded_from_push AND NOT ` + pushFinished
	args := []any{int64(q.AfterID), q.Destination, q.ConfigHash, recheck, recheck}
	if !q.ChangedAfter.IsZero() {
		where += ` AND ` + pushChangedOrDue
		args = append(args, q.ChangedAfter.UTC(), q.Destination, recheck, q.Destination)
	}
	limit := ""
	if q.Limit > 0 {
		limit = " LIMIT ?"
		args = append(args, q.Limit)
	}
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT c.id FROM contacts c WHERE `+where+` ORDER BY c.id`+limit, args...).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("select %s push candidates after %d: %w", q.Destination, q.AfterID, err)
	}
	out := make([]contact.ID, len(ids))
	for i, id := range ids {
		out[i] = contact.ID(id)
	}
	return out, nil
}

// PushContacts returns, with one query, the complete master records (as
// ContactsForPush loads them) of the given contacts that are still live and
// not excluded from push, in id order.
func (s *Store) PushContacts(ctx context.Context, ids []contact.ID) ([]contact.Contact, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return s.queryContacts(ctx, fmt.Sprintf("load %d contacts to push", len(ids)), `
		WHERE c.id = ANY (?::bigint[]) AND c.merged_into IS NULL AND NOT c.excluded_from_push
		ORDER BY c.id`, idArray(ids))
}

// ContactsChangedUntil returns the newest contacts.updated_at of a live
// contact (one index read), or the zero time when there is none.
func (s *Store) ContactsChangedUntil(ctx context.Context) (time.Time, error) {
	var row struct {
		Until *time.Time `gorm:"column:until"`
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT max(updated_at) AS until FROM contacts WHERE merged_into IS NULL`).Scan(&row).Error; err != nil {
		return time.Time{}, fmt.Errorf("newest contact change: %w", err)
	}
	if row.Until == nil {
		return time.Time{}, nil
	}
	return *row.Until, nil
}

// PushProgress is the last complete pass of a destination's push (table
// push_progress): the next run may choose its candidates incrementally.
type PushProgress struct {
	Destination string
	// ConfigHash is the fingerprint the pass ran under.
	ConfigHash string
	// ChangedUntil is the newest contacts.updated_at when the pass chose its
	// candidates: every contact changed up to then was examined, or waits in
	// push_retries.
	ChangedUntil time.Time
	// RunID is the sync_runs row of the pass; 0 stores NULL.
	RunID int64
	// UpdatedAt is when the pass finished.
	UpdatedAt time.Time
}

// PushProgress returns the last complete pass of destination, or
// ErrNotFound when there is none.
func (s *Store) PushProgress(ctx context.Context, destination string) (PushProgress, error) {
	var rows []struct {
		ConfigHash   string    `gorm:"column:config_hash"`
		ChangedUntil time.Time `gorm:"column:changed_until"`
		RunID        int64     `gorm:"column:run_id"`
		UpdatedAt    time.Time `gorm:"column:updated_at"`
	}
	err := s.db.WithContext(ctx).Raw(`SELECT config_hash, changed_until, COALESCE(run_id, 0) AS run_id, updated_at
		FROM push_progress WHERE destination = ?`, destination).Scan(&rows).Error
	if err != nil {
		return PushProgress{}, fmt.Errorf("load %s push progress: %w", destination, err)
	}
	if len(rows) == 0 {
		return PushProgress{}, ErrNotFound
	}
	r := rows[0]
	return PushProgress{Destination: destination, ConfigHash: r.ConfigHash, ChangedUntil: r.ChangedUntil, RunID: r.RunID, UpdatedAt: r.UpdatedAt}, nil
}

// SavePushProgress records p as the last complete pass of its destination,
// replacing the previous one, and drops the retries of contacts that are no
// longer live or are excluded from push (no pass would examine them).
func (s *Store) SavePushProgress(ctx context.Context, p PushProgress) error {
	err := s.db.WithContext(ctx).Exec(`
		WITH gone AS (
		    DELETE FROM push_retries r USING contacts c
		    WHERE r.destination = ? AND c.id = r.contact_id AND (c.merged_into IS NOT NULL OR c.excluded_from_push))
		INSERT INTO push_progress (destination, config_hash, changed_until, run_id, updated_at)
		VALUES (?, ?, ?, NULLIF(?::bigint, 0), ?)
		ON CONFLICT (destination) DO UPDATE SET
		    config_hash   = EXCLUDED.config_hash,
		    changed_until = EXCLUDED.changed_until,
		    run_id        = EXCLUDED.run_id,
		    updated_at    = EXCLUDED.updated_at`,
		p.Destination, p.Destination, p.ConfigHash, p.ChangedUntil.UTC(), p.RunID, p.UpdatedAt.UTC()).Error
	if err != nil {
		return fmt.Errorf("save %s push progress: %w", p.Destination, err)
	}
	return nil
}

// PushRetry is a contact a push could not finish for a transient reason.
type PushRetry struct {
	ContactID contact.ID
	// Error is the failure, as logged.
	Error string
}

// RecordPushRetries records, in one statement, that destination failed the
// given contacts at `at`: the next push examines them again, whatever
// changed. A contact already waiting counts one more failure.
func (s *Store) RecordPushRetries(ctx context.Context, destination string, runID int64, at time.Time, rs []PushRetry) error {
	if len(rs) == 0 {
		return nil
	}
	ids, errs := make([]contact.ID, len(rs)), make(textArray, len(rs))
	for i, r := range rs {
		ids[i], errs[i] = r.ContactID, cut(r.Error, MaxRejectionValue)
	}
	err := s.db.WithContext(ctx).Exec(`
		INSERT INTO push_retries (destination, contact_id, first_failed_at, last_failed_at, failures, last_error, run_id)
		SELECT DISTINCT ON (u.id) ?, u.id, ?, ?, 1, u.error, NULLIF(?::bigint, 0)
		FROM unnest(?::bigint[], ?::text[]) AS u (id, error)
		ORDER BY u.id
		ON CONFLICT (destination, contact_id) DO UPDATE SET
		    last_failed_at = EXCLUDED.last_failed_at,
		    failures       = push_retries.failures + 1,
		    last_error     = EXCLUDED.last_error,
		    run_id         = EXCLUDED.run_id`,
		destination, at.UTC(), at.UTC(), runID, idArray(ids), errs).Error
	if err != nil {
		return fmt.Errorf("record %d %s push retries: %w", len(rs), destination, err)
	}
	return nil
}

// PushCheck says the push stage finished with one version of a contact.
type PushCheck struct {
	ContactID contact.ID
	// ContactUpdatedAt is the contacts.updated_at of the version pushed.
	ContactUpdatedAt time.Time
	// Outcome is one of the PushOutcome constants.
	Outcome string
	// Targets is the number of destination records the contact maps to.
	Targets int
}

// MarkPushChecked records, in one statement, that destination finished with
// the given contacts under configHash at now; their push_retries rows go.
func (s *Store) MarkPushChecked(ctx context.Context, destination, configHash string, runID int64, now time.Time, checks []PushCheck) error {
	if len(checks) == 0 {
		return nil
	}
	ids := make([]string, len(checks))
	updated := make([]string, len(checks))
	outcomes := make([]string, len(checks))
	targets := make([]string, len(checks))
	for i, c := range checks {
		ids[i] = strconv.FormatInt(int64(c.ContactID), 10)
		updated[i] = c.ContactUpdatedAt.UTC().Format(time.RFC3339Nano)
		outcomes[i] = c.Outcome
		targets[i] = strconv.Itoa(c.Targets)
	}
	err := s.db.WithContext(ctx).Exec(`
		WITH retried AS (
		    DELETE FROM push_retries r WHERE r.destination = ? AND r.contact_id = ANY (?::bigint[]))
		INSERT INTO push_contacts (destination, contact_id, contact_updated_at, config_hash, outcome, targets, checked_at, run_id)
		SELECT ?, u.id, u.updated_at, ?, u.outcome, u.targets, ?, NULLIF(?::bigint, 0)
		FROM unnest(?::bigint[], ?::timestamptz[], ?::text[], ?::integer[]) AS u (id, updated_at, outcome, targets)
		ON CONFLICT (destination, contact_id) DO UPDATE SET
		    contact_updated_at = EXCLUDED.contact_updated_at,
		    config_hash        = EXCLUDED.config_hash,
		    outcome            = EXCLUDED.outcome,
		    targets            = EXCLUDED.targets,
		    checked_at         = EXCLUDED.checked_at,
		    run_id             = EXCLUDED.run_id`,
		destination, textArray(ids), destination, configHash, now.UTC(), runID,
		textArray(ids), textArray(updated), textArray(outcomes), textArray(targets)).Error
	if err != nil {
		return fmt.Errorf("mark %d contacts checked for %s: %w", len(checks), destination, err)
	}
	return nil
}

// PushChannel is an Omnichat channel as the push stage needs it.
type PushChannel struct {
	Platform  contact.Platform
	ChannelID string
	Name      string // omnichat_channels.channel_name
}

// PushChannels returns the Omnichat channels on the given platforms (all
// when none is given), keyed by "platform/channel_id".
func (s *Store) PushChannels(ctx context.Context, platforms ...contact.Platform) (map[string]PushChannel, error) {
	ps := make([]string, len(platforms))
	for i, p := range platforms {
		ps[i] = string(p)
	}
	var rows []struct {
		Platform    string
		ChannelID   string
		ChannelName string
	}
	err := s.db.WithContext(ctx).Raw(`
		SELECT platform, channel_id, channel_name FROM omnichat_channels
		WHERE cardinality(?::text[]) = 0 OR platform = ANY (?::text[])`,
		textArray(ps), textArray(ps)).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load omnichat channels: %w", err)
	}
	out := make(map[string]PushChannel, len(rows))
	for _, r := range rows {
		out[r.Platform+"/"+r.ChannelID] = PushChannel{Platform: contact.Platform(r.Platform), ChannelID: r.ChannelID, Name: r.ChannelName}
	}
	return out, nil
}

// ReadOnly runs fn with a Store bound to one read-only transaction, rolled
// back at the end: any write fn attempts fails. It is what a dry run reads
// through. The Store given to fn is not safe for concurrent use.
func (s *Store) ReadOnly(ctx context.Context, fn func(ro *Store) error) error {
	errDone := fmt.Errorf("read-only transaction done")
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := fn(&Store{db: tx, sql: s.sql, log: s.log}); err != nil {
			return err
		}
		return errDone // roll back: nothing to keep
	}, &sql.TxOptions{ReadOnly: true})
	if err == errDone { //nolint:errorlint // our own sentinel, returned unwrapped
		return nil
	}
	return err
}

// textArray is a PostgreSQL array literal of text, so a list travels as one
// parameter (gorm would expand a Go slice into a parenthesised list).
// Cast it in SQL: ?::text[], ?::bigint[], ?::timestamptz[].
type textArray []string

// Value implements driver.Valuer.
func (a textArray) Value() (driver.Value, error) {
	return arrayLiteral(len(a), func(i int) *string { return &a[i] }), nil
}

// idArray returns ids as a textArray, for ?::bigint[].
func idArray(ids []contact.ID) textArray {
	out := make(textArray, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatInt(int64(id), 10)
	}
	return out
}

// nullTextArray is textArray whose nil elements are NULL.
type nullTextArray []*string

// Value implements driver.Valuer.
func (a nullTextArray) Value() (driver.Value, error) {
	return arrayLiteral(len(a), func(i int) *string { return a[i] }), nil
}

// arrayLiteral writes the n elements elem returns as a PostgreSQL array
// literal, quoted, nil as NULL.
func arrayLiteral(n int, elem func(i int) *string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		s := elem(i)
		if s == nil {
			b.WriteString("NULL")
			continue
		}
		b.WriteByte('"')
		for _, r := range *s {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
