package reconcile_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"crmsync/store"
)

// BenchmarkConversations seeds the reconcile benchmark's data (seedBench:
// CRMSYNC_BENCH_IDENTITIES identities, 10 messages each in one room, two
// conversations per room), relative to the wall clock so the examples'
// windows find rows, and measures what the conversations cost:
//
//   - Seed: writing the 10n messages in one statement, triggers included
//     (seed_s), and a full rebuild of every conversation (rebuild_s);
//   - PullPage / PullPageNoTriggers: one pull page of 100 new customer
//     messages in 100 rooms (store.WriteMessagesPage), with the conversation
//     triggers and with them disabled: the difference is their cost;
//   - BackfillPage: the same page dated in the middle of the rooms' history
//     (an old range re-pulled), triggers on;
//   - BulkInsert: one INSERT … SELECT of one customer message into each of
//     n/100 rooms, every room with a conversation holding the message's
//     time (a backfill or a load in SQL): the triggers' cost per statement
//     must grow with its rows, not their square (migration 00024);
//   - Examples: every SQL example of docs/analysts.md that reads the agent
//     or conversation tables, best of three runs, in ms.
//
// Run it with
//
//	CRMSYNC_BENCH_IDENTITIES=100000 go test ./sync/reconcile -run '^$' -bench 'Conversations/(Pull|Backfill|Examples)' -benchtime 20x -timeout 60m
//
// (Rebuild recomputes every conversation per iteration: give it -benchtime 1x.)
func BenchmarkConversations(b *testing.B) {
	n := benchIdentities(b)
	st := benchStore(b)
	now := time.Now().UTC().Truncate(time.Second)
	start := time.Now()
	seedBench(b, st, n, now)
	seedTook := time.Since(start)
	ctx := b.Context()
	var convs int64
	if err := st.SQL().QueryRowContext(ctx, `SELECT count(*) FROM conversations`).Scan(&convs); err != nil {
		b.Fatal(err)
	}

	b.Run("Rebuild", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.RebuildConversations(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(seedTook.Seconds(), "seed_s")
		b.ReportMetric(float64(convs), "conversations")
	})
	ws, err := st.CreateWindows(ctx, store.StreamMessages, "bench", []store.Span{{Start: now.Add(-3 * 24 * time.Hour), End: now.Add(4 * 24 * time.Hour)}}, 0)
	if err != nil {
		b.Fatal(err)
	}
	page := 0
	writePages := func(b *testing.B, at func(k int) time.Time) {
		for b.Loop() {
			page++
			rows := make([]store.MessageRow, 100)
			for k := range rows {
				i := (page*7919+k*104729)%n + 1 // 100 distinct identities per page
				user := fmt.Sprintf("u%d", i)
				rows[k] = store.MessageRow{
					ID: fmt.Sprintf("bench-%d-%d", page, k), Platform: []string{"line", "facebook", "instagram"}[i%3],
					ChannelID: fmt.Sprintf("ch%d", i%5), RoomID: "room-" + user, CustomerUserID: user,
					SenderType: "customer", SenderUserID: user, SentAt: at(k), Raw: []byte(`{}`),
				}
			}
			meta := store.PageMeta{Stream: store.StreamMessages, Scope: "bench", WindowID: ws[0].ID, Page: page, Received: 100, TotalElements: -1}
			if _, err := st.WriteMessagesPage(ctx, meta, rows, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("PullPage", func(b *testing.B) {
		writePages(b, func(k int) time.Time { return now.Add(time.Duration(page*100+k) * time.Millisecond) })
	})
	b.Run("PullPageNoTriggers", func(b *testing.B) {
		setConversationTriggers(b, st.SQL(), false)
		defer setConversationTriggers(b, st.SQL(), true)
		writePages(b, func(k int) time.Time { return now.Add(time.Duration(page*100+k) * time.Millisecond) })
	})
	b.Run("BackfillPage", func(b *testing.B) {
		writePages(b, func(k int) time.Time {
			return now.Add(-45 * 24 * time.Hour).Add(time.Duration(page*100+k) * time.Second)
		})
	})
	b.Run("BulkInsert", func(b *testing.B) {
		rooms := max(n/100, 1)
		round := 0
		for b.Loop() {
			round++
			// One customer message in each of rooms distinct rooms, each with
			// a conversation holding the message's time, in one statement.
			if _, err := st.SQL().ExecContext(ctx, `
				INSERT INTO omnichat_messages (id, platform, channel_id, room_id, customer_user_id, sender_type, sender_user_id, sent_at, raw)
				SELECT 'bulk-' || $1::int || '-' || g, (ARRAY['line', 'facebook', 'instagram'])[i % 3 + 1], 'ch' || (i % 5),
				       'room-u' || i, 'u' || i, 'customer', 'u' || i, $4::timestamptz + $1::int * interval '1 minute', '{}'
				FROM generate_series(1, $2::int) AS g CROSS JOIN LATERAL (SELECT (g - 1) * ($3::int / $2::int) + $1::int % ($3::int / $2::int) + 1 AS i) x`,
				round, rooms, n, now); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rooms), "rooms")
	})
	if _, err := st.SQL().ExecContext(ctx, `VACUUM ANALYZE conversations`); err != nil {
		b.Fatal(err)
	}
	b.Run("Examples", func(b *testing.B) {
		blocks := conversationExamples(b)
		for b.Loop() {
			for _, ex := range blocks {
				best := time.Duration(1<<63 - 1)
				for range 3 {
					best = min(best, timeBlock(ctx, b, st.SQL(), ex.sql))
				}
				b.ReportMetric(float64(best.Microseconds())/1000, fmt.Sprintf("ex%d_ms", ex.number))
			}
		}
	})
}

// setConversationTriggers enables or disables the conversation triggers.
func setConversationTriggers(b *testing.B, db *sql.DB, on bool) {
	b.Helper()
	verb := "DISABLE"
	if on {
		verb = "ENABLE"
	}
	for _, tr := range []string{"conversations_on_insert", "conversations_on_update"} {
		if _, err := db.ExecContext(b.Context(), fmt.Sprintf(`ALTER TABLE omnichat_messages %s TRIGGER %s`, verb, tr)); err != nil {
			b.Fatal(err)
		}
	}
}

// example is one numbered SQL example of docs/analysts.md.
type example struct {
	number int
	sql    string
}

// exampleHead finds the numbered question before an SQL block.
var exampleHead = regexp.MustCompile(`(?s)\*\*(\d+)\. [^\n]*?\n.*?` + "```sql\n(.*?)```")

// conversationExamples returns the examples reading the agent and
// conversation tables.
func conversationExamples(b *testing.B) []example {
	b.Helper()
	doc, err := os.ReadFile(analystsDoc)
	if err != nil {
		b.Fatal(err)
	}
	var out []example
	for _, m := range exampleHead.FindAllStringSubmatch(string(doc), -1) {
		if !regexp.MustCompile(`\b(conversations|v_conversations|omnichat_system_users|v_agent_messages|v_\w+_response_times|v_first_reply_times)\b`).MatchString(m[2]) {
			continue
		}
		var num int
		fmt.Sscan(m[1], &num)
		out = append(out, example{number: num, sql: m[2]})
	}
	if len(out) == 0 {
		b.Fatal("no conversation example in docs/analysts.md")
	}
	return out
}

// timeBlock runs the statements of one example on one connection and
// returns how long they took, rows read included.
func timeBlock(ctx context.Context, b *testing.B, db *sql.DB, block string) time.Duration {
	b.Helper()
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	for _, q := range strings.Split(block, ";\n") {
		if strings.TrimSpace(q) == "" {
			continue
		}
		rs, err := conn.QueryContext(ctx, q)
		if err != nil {
			b.Fatalf("%v\n%s", err, q)
		}
		for rs.Next() {
		}
		if err := rs.Err(); err != nil {
			b.Fatal(err)
		}
		rs.Close()
	}
	return time.Since(start)
}
