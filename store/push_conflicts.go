package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"crmsync/contact"
)

// Conflict resolutions, as push_conflicts.resolution spells them.
const (
	ConflictKeptDestination      = "kept_destination"      // the person's edit at the destination stays
	ConflictOverwroteDestination = "overwrote_destination" // crmsync's value was sent over it
)

// Conflict rules, as push_conflicts.rule (and mapping's on_conflict) spell them.
const (
	ConflictRuleSource      = "source"      // crmsync's value wins
	ConflictRuleDestination = "destination" // the destination's edit wins
)

// PushConflict is one conflict met while pushing: a field edited at the
// destination (its value differs from what crmsync last pushed) while
// crmsync's own value for it changed too.
type PushConflict struct {
	Destination string // DestinationOho or DestinationOkeybot
	ContactID   contact.ID
	TargetKey   string
	Field       string // as the vendor spells it
	// DestinationValue, CrmsyncValue and LastPushedValue are cut to
	// MaxRejectionValue characters; "" stores NULL.
	DestinationValue string
	CrmsyncValue     string
	LastPushedValue  string
	Resolution       string // ConflictKeptDestination or ConflictOverwroteDestination
	Rule             string // ConflictRuleSource or ConflictRuleDestination
	RunID            int64  // 0 stores NULL
	At               time.Time
}

// RecordPushConflicts stores conflicts in one statement. A conflict already
// recorded for the same destination, target, field and both values only
// updates contact_id, resolution, rule, last_seen_at and times_seen (one
// given twice in cs counts twice).
func (s *Store) RecordPushConflicts(ctx context.Context, cs ...PushConflict) error {
	if len(cs) == 0 {
		return nil
	}
	type key struct{ destination, target, field, there, want string }
	type row struct {
		PushConflict
		lastAt time.Time
		seen   int
	}
	idx := make(map[key]int, len(cs))
	rows := make([]row, 0, len(cs))
	for _, c := range cs {
		c.DestinationValue = cut(c.DestinationValue, MaxRejectionValue)
		c.CrmsyncValue = cut(c.CrmsyncValue, MaxRejectionValue)
		c.LastPushedValue = cut(c.LastPushedValue, MaxRejectionValue)
		k := key{c.Destination, c.TargetKey, c.Field, c.DestinationValue, c.CrmsyncValue}
		if i, ok := idx[k]; ok {
			rows[i].ContactID, rows[i].Resolution, rows[i].Rule, rows[i].lastAt = c.ContactID, c.Resolution, c.Rule, c.At
			rows[i].seen++
			continue
		}
		idx[k] = len(rows)
		rows = append(rows, row{PushConflict: c, lastAt: c.At, seen: 1})
	}
	n := len(rows)
	dest, ids, target, field, there, want, last := make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n)
	resolution, rule, run, firstAt, lastAt, seen := make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n), make(textArray, n)
	for i, r := range rows {
		dest[i], ids[i], target[i], field[i] = r.Destination, strconv.FormatInt(int64(r.ContactID), 10), r.TargetKey, r.Field
		there[i], want[i], last[i] = r.DestinationValue, r.CrmsyncValue, r.LastPushedValue
		resolution[i], rule[i], run[i] = r.Resolution, r.Rule, strconv.FormatInt(r.RunID, 10)
		firstAt[i], lastAt[i], seen[i] = r.At.UTC().Format(time.RFC3339Nano), r.lastAt.UTC().Format(time.RFC3339Nano), strconv.Itoa(r.seen)
	}
	err := s.db.WithContext(ctx).Exec(`
		INSERT INTO push_conflicts AS p (destination, contact_id, target_key, field, destination_value, crmsync_value,
		                                 last_pushed_value, resolution, rule, run_id, detected_at, last_seen_at, times_seen)
		SELECT u.destination, u.contact_id, u.target_key, u.field, NULLIF(u.there, ''), NULLIF(u.want, ''),
		       NULLIF(u.last, ''), u.resolution, u.rule, NULLIF(u.run_id, 0), u.first_at, u.last_at, u.seen
		FROM unnest(?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
		            ?::bigint[], ?::timestamptz[], ?::timestamptz[], ?::integer[])
		     AS u (destination, contact_id, target_key, field, there, want, last, resolution, rule, run_id, first_at, last_at, seen)
		ON CONFLICT (destination, target_key, field, (md5(COALESCE(destination_value, ''))), (md5(COALESCE(crmsync_value, '')))) DO UPDATE SET
		    contact_id   = EXCLUDED.contact_id,
		    resolution   = EXCLUDED.resolution,
		    rule         = EXCLUDED.rule,
		    last_seen_at = EXCLUDED.last_seen_at,
		    times_seen   = p.times_seen + EXCLUDED.times_seen`,
		dest, ids, target, field, there, want, last, resolution, rule, run, firstAt, lastAt, seen).Error
	if err != nil {
		return fmt.Errorf("record %d %s conflicts of %s: %w", len(cs), cs[0].Destination, cs[0].TargetKey, err)
	}
	return nil
}
