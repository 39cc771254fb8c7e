package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// WriteMessagesPageCopy is the alternative page writer the benchmarks
// measure against WriteMessagesPage: COPY the page into a temporary staging
// table, then the same merge statement reading from it, in one transaction.
// It is not used in production (see docs/benchmarks-pull.md).
func (s *Store) WriteMessagesPageCopy(ctx context.Context, m PageMeta, rows []MessageRow, bad []BadRecord) (PageResult, error) {
	rows, bad = pullSplitInvalid(rows, func(r MessageRow) []byte { return r.Raw }, bad)
	rows = pullDedupe(rows, func(r MessageRow) string { return r.ID }, pullKeepLast)
	args := pullBadArgs(bad)
	args = append(args, pullTailArgs(m)...)
	sql := `WITH input AS (SELECT * FROM pull_stage_messages),` + messagesUpsertSQL + pullPageTailSQL(1)
	var res PageResult
	var windows, channels int64
	err := s.pgxConn(ctx, func(pc *pgx.Conn) error {
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS pull_stage_messages (
			id text, platform text, channel_id text, room_id text, customer_user_id text, sender_type text,
			sender_name text, sender_user_id text, sent_at timestamptz, message_type text, message_status text,
			message text, media_url text, raw text) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		cols := []string{"id", "platform", "channel_id", "room_id", "customer_user_id", "sender_type", "sender_name",
			"sender_user_id", "sent_at", "message_type", "message_status", "message", "media_url", "raw"}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"pull_stage_messages"}, cols, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			return []any{r.ID, r.Platform, r.ChannelID, r.RoomID, r.CustomerUserID, r.SenderType, r.SenderName,
				r.SenderUserID, r.SentAt, r.MessageType, r.MessageStatus, r.Message, r.MediaURL, string(r.Raw)}, nil
		}))
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, sql, args...).Scan(&res.Inserted, &res.Updated, &res.Queued, &res.Bad, &windows, &channels); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return PageResult{}, fmt.Errorf("write messages page (copy) %d: %w", m.Page, err)
	}
	if windows != 1 {
		return res, ErrNotFound
	}
	return res, nil
}
