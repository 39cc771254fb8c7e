package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultQuietGap is the quiet gap a fresh database builds conversations
// with: a customer message opens a conversation when the customer sent
// nothing in the room for 24 hours.
const DefaultQuietGap = 24 * time.Hour

// ConversationSettings are what conversations and their weekly rollups are
// built with (conversation_settings).
type ConversationSettings struct {
	// QuietGap: a customer message opens a conversation when the customer
	// sent nothing in the room for this long (kept to the second).
	QuietGap time.Duration
	// TimeZone is the IANA zone whose Monday-to-Sunday weeks the weekly
	// response-time rollups count in.
	TimeZone string
}

// SettingsChange says what SetConversationSettings did.
type SettingsChange struct {
	// GapChanged: the quiet gap differed, and every conversation (and
	// rollup) was rebuilt; Conversations is how many were written.
	GapChanged    bool
	Conversations int64
	// ZoneChanged: the time zone differed, and the weekly rollups were
	// recounted.
	ZoneChanged bool
}

// ConversationSettings returns the settings in force.
func (s *Store) ConversationSettings(ctx context.Context) (ConversationSettings, error) {
	var secs float64
	var cs ConversationSettings
	err := s.sql.QueryRowContext(ctx, `SELECT COALESCE(extract(epoch FROM max(quiet_gap))::float8, $1), COALESCE(max(time_zone), 'UTC')
		FROM conversation_settings WHERE id = 1`, DefaultQuietGap.Seconds()).Scan(&secs, &cs.TimeZone)
	if err != nil {
		return ConversationSettings{}, fmt.Errorf("read conversation settings: %w", err)
	}
	cs.QuietGap = time.Duration(secs * float64(time.Second))
	return cs, nil
}

// SetConversationSettings makes cs the settings in force. A different quiet
// gap rebuilds every conversation and rollup (conversations_rebuild); a
// different zone only recounts the weekly rollups
// (conversation_weeks_rebuild). The settings and the rebuild commit
// together, holding every room; settings equal to the stored ones write
// nothing.
func (s *Store) SetConversationSettings(ctx context.Context, cs ConversationSettings) (SettingsChange, error) {
	var ch SettingsChange
	if cs.QuietGap < time.Second {
		return ch, fmt.Errorf("set conversation settings: quiet gap %s is below one second", cs.QuietGap)
	}
	if cs.TimeZone == "" {
		cs.TimeZone = "UTC"
	}
	secs := cs.QuietGap.Truncate(time.Second).Seconds()
	err := s.pgxConn(ctx, func(pc *pgx.Conn) error {
		return pgx.BeginFunc(ctx, pc, func(tx pgx.Tx) error {
			// The row is created on first use and locked, so two writers take turns.
			if _, err := tx.Exec(ctx, `INSERT INTO conversation_settings (id, quiet_gap, time_zone) VALUES (1, make_interval(secs => $1), 'UTC')
				ON CONFLICT (id) DO NOTHING`, DefaultQuietGap.Seconds()); err != nil {
				return err
			}
			var cur float64
			var zone string
			err := tx.QueryRow(ctx, `SELECT extract(epoch FROM quiet_gap)::float8, time_zone FROM conversation_settings WHERE id = 1 FOR UPDATE`).
				Scan(&cur, &zone)
			if err != nil {
				return err
			}
			ch.GapChanged, ch.ZoneChanged = cur != secs, zone != cs.TimeZone
			if !ch.GapChanged && !ch.ZoneChanged {
				return nil
			}
			if _, err := tx.Exec(ctx, `SELECT now() AT TIME ZONE $1`, cs.TimeZone); err != nil {
				return fmt.Errorf("time zone %q: %w", cs.TimeZone, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE conversation_settings SET quiet_gap = make_interval(secs => $1), time_zone = $2, updated_at = now()
				WHERE id = 1`, secs, cs.TimeZone); err != nil {
				return err
			}
			if ch.GapChanged {
				return tx.QueryRow(ctx, `SELECT conversations_rebuild()`).Scan(&ch.Conversations)
			}
			_, err = tx.Exec(ctx, `SELECT conversation_weeks_rebuild()`)
			return err
		})
	})
	if err != nil {
		return SettingsChange{}, fmt.Errorf("set conversation settings (quiet gap %s, zone %s): %w", cs.QuietGap, cs.TimeZone, err)
	}
	return ch, nil
}

// RebuildConversations recomputes every conversation and weekly rollup from
// omnichat_messages in one transaction and returns how many conversations it
// wrote. The triggers keep them current, so this is for repairs (and for
// measuring the full cost).
func (s *Store) RebuildConversations(ctx context.Context) (int64, error) {
	var n int64
	if err := s.sql.QueryRowContext(ctx, `SELECT conversations_rebuild()`).Scan(&n); err != nil {
		return 0, fmt.Errorf("rebuild conversations: %w", err)
	}
	return n, nil
}

// PruneConversationWeeks removes the weekly rollup rows whose count went
// back to 0 (a conversation recomputed into another bucket leaves one) and
// returns how many it removed. They change no result; this keeps the
// tables small.
func (s *Store) PruneConversationWeeks(ctx context.Context) (int64, error) {
	var n int64
	err := s.sql.QueryRowContext(ctx, `WITH a AS (DELETE FROM conversation_agent_weeks WHERE conversations = 0 RETURNING 1),
		c AS (DELETE FROM conversation_channel_weeks WHERE conversations = 0 RETURNING 1)
		SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM c)`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("prune conversation weeks: %w", err)
	}
	return n, nil
}
