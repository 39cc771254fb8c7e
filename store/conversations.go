package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultQuietGap is the quiet gap a fresh database builds conversations
// with: a customer message opens a conversation when the customer sent
// nothing in the room for 24 hours.
const DefaultQuietGap = 24 * time.Hour

// ConversationGap returns the quiet gap the conversations are built with
// (conversation_settings.quiet_gap).
func (s *Store) ConversationGap(ctx context.Context) (time.Duration, error) {
	var secs float64
	err := s.sql.QueryRowContext(ctx, `SELECT extract(epoch FROM quiet_gap)::float8 FROM conversation_settings WHERE id = 1`).Scan(&secs)
	if err != nil {
		return 0, fmt.Errorf("read conversation settings: %w", err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// SetConversationGap makes gap the quiet gap of every conversation. When it
// differs from the stored one, the setting and a rebuild of every
// conversation commit together (conversations_rebuild, one transaction that
// holds every room), and rebuilt is the number of conversations written;
// otherwise nothing is written and changed is false. gap is kept to the
// second.
func (s *Store) SetConversationGap(ctx context.Context, gap time.Duration) (changed bool, rebuilt int64, err error) {
	if gap < time.Second {
		return false, 0, fmt.Errorf("set conversation gap: %s is below one second", gap)
	}
	secs := gap.Truncate(time.Second).Seconds()
	err = s.pgxConn(ctx, func(pc *pgx.Conn) error {
		return pgx.BeginFunc(ctx, pc, func(tx pgx.Tx) error {
			var cur float64
			if err := tx.QueryRow(ctx, `SELECT extract(epoch FROM quiet_gap)::float8 FROM conversation_settings WHERE id = 1 FOR UPDATE`).Scan(&cur); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("conversation_settings has no row: %w", ErrNotFound)
				}
				return err
			}
			if cur == secs {
				return nil
			}
			changed = true
			if _, err := tx.Exec(ctx, `UPDATE conversation_settings SET quiet_gap = make_interval(secs => $1), updated_at = now() WHERE id = 1`, secs); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT conversations_rebuild()`).Scan(&rebuilt)
		})
	})
	if err != nil {
		return false, 0, fmt.Errorf("set conversation gap to %s: %w", gap, err)
	}
	return changed, rebuilt, nil
}

// RebuildConversations recomputes every conversation from omnichat_messages
// in one transaction and returns how many it wrote. The triggers keep them
// current, so this is for repairs (and for measuring the full cost).
func (s *Store) RebuildConversations(ctx context.Context) (int64, error) {
	var n int64
	if err := s.sql.QueryRowContext(ctx, `SELECT conversations_rebuild()`).Scan(&n); err != nil {
		return 0, fmt.Errorf("rebuild conversations: %w", err)
	}
	return n, nil
}
