package store_test

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

// convT0 is when the conversation tests' chat history starts.
var convT0 = time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)

// chatMsg is one omnichat_messages row as the conversation tests see it.
type chatMsg struct {
	ID, Platform, Channel, Room, Customer string
	Sender                                string // customer, agent, bot, ai-chat (or anything else)
	SenderUser, Email                     string
	At                                    time.Time
}

// roomKey is conversation_room_key in Go.
func (m chatMsg) roomKey() string {
	if m.Room != "" {
		return m.Room
	}
	return "customer:" + m.Customer
}

// conv is one conversations row, as far as the tests compare it.
type conv struct {
	Opening, Platform, Channel, Room, RoomKey, Customer string
	Opened                                              time.Time
	Ended                                               *time.Time
	Messages, CustomerMessages                          int
	FirstReply, RepliedBy, FirstReplyUser               string // "" when none
	FirstReplyEmail                                     string
	FirstAgent, FirstAgentUser                          string
	ResponseMS, AgentResponseMS                         int64 // -1 when none
}

// referenceConversations is the definition of docs/analysts.md written
// plainly: per room ordered by (time, id), a customer message opens a
// conversation when the room's previous customer message is at least gap
// earlier (or there is none); a conversation lasts until the next opens;
// its first agent, bot or ai-chat message is the first response.
func referenceConversations(msgs []chatMsg, gap time.Duration) []conv {
	rooms := map[string][]chatMsg{}
	for _, m := range msgs {
		k := m.Platform + "\x00" + m.Channel + "\x00" + m.roomKey()
		rooms[k] = append(rooms[k], m)
	}
	var out []conv
	for _, ms := range rooms {
		slices.SortFunc(ms, func(a, b chatMsg) int {
			return cmp.Or(a.At.Compare(b.At), strings.Compare(a.ID, b.ID))
		})
		var cur *conv
		var lastCustomer *time.Time
		var firstReplyAt, firstAgentAt time.Time
		for _, m := range ms {
			if m.Sender == "customer" {
				if lastCustomer == nil || m.At.Sub(*lastCustomer) >= gap {
					if cur != nil {
						end := m.At
						cur.Ended = &end
						out = append(out, *cur)
					}
					cur = &conv{Opening: m.ID, Platform: m.Platform, Channel: m.Channel, Room: m.Room, RoomKey: m.roomKey(),
						Customer: m.Customer, Opened: m.At, ResponseMS: -1, AgentResponseMS: -1}
				}
				at := m.At
				lastCustomer = &at
			}
			if cur == nil {
				continue
			}
			cur.Messages++
			switch m.Sender {
			case "customer":
				cur.CustomerMessages++
			case "agent", "bot", "ai-chat":
				if cur.FirstReply == "" {
					cur.FirstReply, cur.FirstReplyUser, cur.FirstReplyEmail, firstReplyAt = m.ID, m.SenderUser, m.Email, m.At
					cur.RepliedBy = "bot"
					if m.Sender == "agent" {
						cur.RepliedBy = "agent"
					}
					cur.ResponseMS = firstReplyAt.Sub(cur.Opened).Milliseconds()
				}
				if m.Sender == "agent" && cur.FirstAgent == "" {
					cur.FirstAgent, cur.FirstAgentUser, firstAgentAt = m.ID, m.SenderUser, m.At
					cur.AgentResponseMS = firstAgentAt.Sub(cur.Opened).Milliseconds()
				}
			}
		}
		if cur != nil {
			out = append(out, *cur)
		}
	}
	slices.SortFunc(out, func(a, b conv) int { return strings.Compare(a.Opening, b.Opening) })
	return out
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// storedConversations reads the conversations table.
func storedConversations(t *testing.T, db queryer) []conv {
	t.Helper()
	rs, err := db.QueryContext(t.Context(), `
		SELECT opening_message_id, platform, channel_id, room_id, room_key, customer_user_id, opened_at, ended_at,
		       messages, customer_messages, COALESCE(first_reply_message_id, ''), COALESCE(replied_by, ''),
		       COALESCE(first_reply_sender_user_id, ''), COALESCE(first_reply_sender_email, ''),
		       COALESCE(first_agent_message_id, ''), COALESCE(first_agent_user_id, ''),
		       COALESCE(round(first_response_seconds * 1000)::int8, -1), COALESCE(round(agent_response_seconds * 1000)::int8, -1)
		FROM conversations ORDER BY opening_message_id`)
	require.NoError(t, err)
	defer rs.Close()
	var out []conv
	for rs.Next() {
		var c conv
		var ended sql.NullTime
		require.NoError(t, rs.Scan(&c.Opening, &c.Platform, &c.Channel, &c.Room, &c.RoomKey, &c.Customer, &c.Opened, &ended,
			&c.Messages, &c.CustomerMessages, &c.FirstReply, &c.RepliedBy, &c.FirstReplyUser, &c.FirstReplyEmail,
			&c.FirstAgent, &c.FirstAgentUser, &c.ResponseMS, &c.AgentResponseMS))
		c.Opened = c.Opened.UTC()
		if ended.Valid {
			e := ended.Time.UTC()
			c.Ended = &e
		}
		out = append(out, c)
	}
	require.NoError(t, rs.Err())
	return out
}

// insertChat writes msgs with one INSERT statement (as a pull page or a
// benchmark's SQL would); upsert makes it an INSERT … ON CONFLICT DO UPDATE.
// The sender's name is its user id.
func insertChat(t *testing.T, db *sql.DB, upsert bool, msgs ...chatMsg) {
	t.Helper()
	if len(msgs) == 0 {
		return
	}
	var vals []string
	var args []any
	for i, m := range msgs {
		platform, channel := cmp.Or(m.Platform, "line"), cmp.Or(m.Channel, "ch1")
		b := i * 9
		vals = append(vals, fmt.Sprintf("($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, jsonb_build_object('senderEmail', $%d::text))",
			b+1, b+2, b+3, b+4, b+5, b+6, b+7, b+7, b+8, b+9))
		args = append(args, m.ID, platform, channel, m.Room, m.Customer, m.Sender, m.SenderUser, m.At, m.Email)
	}
	q := `INSERT INTO omnichat_messages (id, platform, channel_id, room_id, customer_user_id, sender_type, sender_user_id, sender_name, sent_at, raw)
		VALUES ` + strings.Join(vals, ", ")
	if upsert {
		q += ` ON CONFLICT (id) DO UPDATE SET platform = excluded.platform, channel_id = excluded.channel_id,
			room_id = excluded.room_id, customer_user_id = excluded.customer_user_id, sender_type = excluded.sender_type,
			sender_user_id = excluded.sender_user_id, sent_at = excluded.sent_at, raw = excluded.raw`
	}
	_, err := db.ExecContext(t.Context(), q, args...)
	require.NoError(t, err)
}

// withDefaults fills the platform and channel the way insertChat does.
func withDefaults(ms []chatMsg) []chatMsg {
	out := slices.Clone(ms)
	for i := range out {
		out[i].Platform, out[i].Channel = cmp.Or(out[i].Platform, "line"), cmp.Or(out[i].Channel, "ch1")
	}
	return out
}

// at is convT0 plus d.
func at(d time.Duration) time.Time { return convT0.Add(d) }

func TestConversations_definition(t *testing.T) {
	t.Parallel()
	const min, hour = time.Minute, time.Hour
	cust := func(id, room string, d time.Duration) chatMsg {
		return chatMsg{ID: id, Room: room, Customer: "c-" + room, Sender: "customer", SenderUser: "c-" + room, At: at(d)}
	}
	reply := func(id, room, sender, user string, d time.Duration) chatMsg {
		return chatMsg{ID: id, Room: room, Customer: "c-" + room, Sender: sender, SenderUser: user, Email: user + "@shop.example", At: at(d)}
	}
	end := func(d time.Duration) *time.Time { e := at(d); return &e }

	tests := []struct {
		name string
		give []chatMsg
		want []conv
	}{
		{
			name: "BotAnswersFirstThenAnAgent",
			give: []chatMsg{cust("a1", "r", 0), reply("a2", "r", "bot", "bot", 1*min), reply("a3", "r", "agent", "u-ann", 10*min)},
			want: []conv{{Opening: "a1", Room: "r", RoomKey: "r", Customer: "c-r", Opened: at(0), Messages: 3, CustomerMessages: 1,
				FirstReply: "a2", RepliedBy: "bot", FirstReplyUser: "bot", FirstReplyEmail: "bot@shop.example", ResponseMS: 60_000,
				FirstAgent: "a3", FirstAgentUser: "u-ann", AgentResponseMS: 600_000}},
		},
		{
			name: "QuietCustomerWritesAgainAfterTheGap",
			give: []chatMsg{cust("b1", "r", 0), cust("b2", "r", 30*hour)},
			want: []conv{
				{Opening: "b1", Room: "r", RoomKey: "r", Customer: "c-r", Opened: at(0), Ended: end(30 * hour), Messages: 1, CustomerMessages: 1, ResponseMS: -1, AgentResponseMS: -1},
				{Opening: "b2", Room: "r", RoomKey: "r", Customer: "c-r", Opened: at(30 * hour), Messages: 1, CustomerMessages: 1, ResponseMS: -1, AgentResponseMS: -1},
			},
		},
		{
			name: "WithinTheGapOneConversation",
			give: []chatMsg{cust("c1", "r", 0), reply("c2", "r", "agent", "u-1", 5*min), cust("c3", "r", 23*hour), reply("c4", "r", "agent", "u-2", 24*hour)},
			want: []conv{{Opening: "c1", Room: "r", RoomKey: "r", Customer: "c-r", Opened: at(0), Messages: 4, CustomerMessages: 2,
				FirstReply: "c2", RepliedBy: "agent", FirstReplyUser: "u-1", FirstReplyEmail: "u-1@shop.example", ResponseMS: 300_000,
				FirstAgent: "c2", FirstAgentUser: "u-1", AgentResponseMS: 300_000}},
		},
		{
			name: "TheGapIsTheCustomersOwnAgentMessagesDoNotBridgeIt",
			give: []chatMsg{cust("d1", "r", 0), reply("d2", "r", "agent", "u-1", 20*hour), cust("d3", "r", 24*hour), reply("d4", "r", "ai-chat", "ai-chat", 24*hour+30*time.Second)},
			want: []conv{
				{Opening: "d1", Room: "r", RoomKey: "r", Customer: "c-r", Opened: at(0), Ended: end(24 * hour), Messages: 2, CustomerMessages: 1,
					FirstReply: "d2", RepliedBy: "agent", FirstReplyUser: "u-1", FirstReplyEmail: "u-1@shop.example", ResponseMS: 72_000_000,
					FirstAgent: "d2", FirstAgentUser: "u-1", AgentResponseMS: 72_000_000},
				{Opening: "d3", Room: "r", RoomKey: "r", Customer: "c-r", Opened: at(24 * hour), Messages: 2, CustomerMessages: 1,
					FirstReply: "d4", RepliedBy: "bot", FirstReplyUser: "ai-chat", FirstReplyEmail: "ai-chat@shop.example", ResponseMS: 30_000, AgentResponseMS: -1},
			},
		},
		{
			name: "OutboundMessagesBeforeTheCustomerOpenNothing",
			give: []chatMsg{reply("e1", "r", "bot", "bot", 0), reply("e2", "r", "agent", "u-1", 1*min), cust("e3", "r", 2*min), reply("e4", "r", "agent", "u-1", 3*min)},
			want: []conv{{Opening: "e3", Room: "r", RoomKey: "r", Customer: "c-r", Opened: at(2 * min), Messages: 2, CustomerMessages: 1,
				FirstReply: "e4", RepliedBy: "agent", FirstReplyUser: "u-1", FirstReplyEmail: "u-1@shop.example", ResponseMS: 60_000,
				FirstAgent: "e4", FirstAgentUser: "u-1", AgentResponseMS: 60_000}},
		},
		{
			name: "SameMillisecondOrderedByID",
			give: []chatMsg{reply("f1", "r", "agent", "u-1", 0), cust("f2", "r", 0), reply("f3", "r", "agent", "u-2", 0)},
			want: []conv{{Opening: "f2", Room: "r", RoomKey: "r", Customer: "c-r", Opened: at(0), Messages: 2, CustomerMessages: 1,
				FirstReply: "f3", RepliedBy: "agent", FirstReplyUser: "u-2", FirstReplyEmail: "u-2@shop.example", ResponseMS: 0,
				FirstAgent: "f3", FirstAgentUser: "u-2", AgentResponseMS: 0}},
		},
		{
			name: "NoRoomIDGroupsByCustomer",
			give: []chatMsg{
				{ID: "g1", Customer: "x", Sender: "customer", At: at(0)},
				{ID: "g2", Customer: "y", Sender: "customer", At: at(1 * min)},
				{ID: "g3", Customer: "x", Sender: "agent", SenderUser: "u-1", At: at(2 * min)},
			},
			want: []conv{
				{Opening: "g1", RoomKey: "customer:x", Customer: "x", Opened: at(0), Messages: 2, CustomerMessages: 1,
					FirstReply: "g3", RepliedBy: "agent", FirstReplyUser: "u-1", ResponseMS: 120_000, FirstAgent: "g3", FirstAgentUser: "u-1", AgentResponseMS: 120_000},
				{Opening: "g2", RoomKey: "customer:y", Customer: "y", Opened: at(1 * min), Messages: 1, CustomerMessages: 1, ResponseMS: -1, AgentResponseMS: -1},
			},
		},
		{
			name: "UnknownSenderTypesAnswerNothing",
			give: []chatMsg{cust("h1", "r", 0), reply("h2", "r", "system", "sys", 1*min)},
			want: []conv{{Opening: "h1", Room: "r", RoomKey: "r", Customer: "c-r", Opened: at(0), Messages: 2, CustomerMessages: 1, ResponseMS: -1, AgentResponseMS: -1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := storetest.New(t)
			insertChat(t, s.SQL(), false, tt.give...)
			want := slices.Clone(tt.want)
			for i := range want {
				want[i].Platform, want[i].Channel = "line", "ch1"
			}
			require.Equal(t, want, storedConversations(t, s.SQL()))
			require.Equal(t, want, referenceConversations(withDefaults(tt.give), 24*time.Hour), "the reference model agrees")
		})
	}
}

// The conversations after any sequence of writes, in any order and in any
// grouping of statements (inserts, upserts, updates that move messages in
// time or between rooms, deletes, status-only updates), are the ones the
// definition gives for the messages the table holds.
func TestConversations_anyOrderMatchesTheDefinition(t *testing.T) {
	t.Parallel()
	for seed := range uint64(6) {
		t.Run(fmt.Sprintf("Seed%d", seed), func(t *testing.T) {
			t.Parallel()
			s := storetest.New(t)
			db := s.SQL()
			rng := rand.New(rand.NewPCG(seed, 14))
			senders := []string{"customer", "customer", "customer", "agent", "bot", "ai-chat", "agent", "system"}
			rooms := []string{"r1", "r2", "r3", "", ""}
			next := 0
			newMsg := func() chatMsg {
				next++
				room := rooms[rng.IntN(len(rooms))]
				customer := "c-" + room
				if room == "" {
					customer = fmt.Sprintf("walk-in-%d", rng.IntN(2))
				}
				sender := senders[rng.IntN(len(senders))]
				user := customer
				if sender != "customer" {
					user = fmt.Sprintf("agent-%d", rng.IntN(3))
				}
				// Times on a coarse grid (ties happen) over 12 days, so gaps of
				// minutes, hours and days all occur.
				d := time.Duration(rng.IntN(12*24*4)) * 15 * time.Minute
				return chatMsg{ID: fmt.Sprintf("m%03d", next), Platform: "line", Channel: []string{"ch1", "ch2"}[rng.IntN(2)],
					Room: room, Customer: customer, Sender: sender, SenderUser: user, Email: user + "@x.example", At: at(d)}
			}
			held := map[string]chatMsg{}
			all := func() []chatMsg {
				out := make([]chatMsg, 0, len(held))
				for _, m := range held {
					out = append(out, m)
				}
				return out
			}
			pick := func(n int) []chatMsg {
				ms := all()
				slices.SortFunc(ms, func(a, b chatMsg) int { return strings.Compare(a.ID, b.ID) })
				rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
				return ms[:min(n, len(ms))]
			}
			ids := func(ms []chatMsg) []string {
				out := make([]string, len(ms))
				for i, m := range ms {
					out[i] = m.ID
				}
				return out
			}
			for step := range 60 {
				switch op := rng.IntN(10); {
				case op < 4 || len(held) < 5: // a page of new messages, in no particular order
					var page []chatMsg
					for range 1 + rng.IntN(8) {
						m := newMsg()
						page = append(page, m)
						held[m.ID] = m
					}
					insertChat(t, db, rng.IntN(2) == 0, page...)
				case op < 6: // a re-pulled page: some rows unchanged, some changed upstream
					page := pick(1 + rng.IntN(6))
					for i := range page {
						if rng.IntN(2) == 0 {
							page[i].Sender = senders[rng.IntN(len(senders))]
							page[i].At = page[i].At.Add(time.Duration(rng.IntN(97)-48) * time.Hour)
						}
						held[page[i].ID] = page[i]
					}
					insertChat(t, db, true, page...)
				case op < 7: // an UPDATE in SQL moving messages between rooms
					page := pick(1 + rng.IntN(3))
					room := rooms[rng.IntN(len(rooms))]
					_, err := db.ExecContext(t.Context(), `UPDATE omnichat_messages SET room_id = $1 WHERE id = ANY($2)`, room, ids(page))
					require.NoError(t, err)
					for _, m := range page {
						m.Room = room
						held[m.ID] = m
					}
				case op < 8: // a DELETE
					page := pick(1 + rng.IntN(3))
					_, err := db.ExecContext(t.Context(), `DELETE FROM omnichat_messages WHERE id = ANY($1)`, ids(page))
					require.NoError(t, err)
					for _, m := range page {
						delete(held, m.ID)
					}
				default: // a status change: nothing conversations read
					_, err := db.ExecContext(t.Context(), `UPDATE omnichat_messages SET message_status = 'read' WHERE id = ANY($1)`, ids(pick(4)))
					require.NoError(t, err)
				}
				require.Equal(t, referenceConversations(all(), 24*time.Hour), storedConversations(t, db), "after step %d", step)
				requireRollupsMatch(t, db)
			}
			n, err := s.RebuildConversations(t.Context())
			require.NoError(t, err)
			require.Equal(t, referenceConversations(all(), 24*time.Hour), storedConversations(t, db), "a rebuild agrees")
			requireRollupsMatch(t, db)
			pruned, err := s.PruneConversationWeeks(t.Context())
			require.NoError(t, err)
			require.Zero(t, pruned, "a rebuild leaves no empty rollup row")
			require.Equal(t, int64(len(referenceConversations(all(), 24*time.Hour))), n)
		})
	}
}

// A pull page re-read changes nothing; a page that only changes message
// statuses recomputes nothing.
func TestConversations_rePulledPages(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	m := pullWindow(t, s, store.StreamMessages)
	page := []store.MessageRow{pullMessage("p1", "u1", `{"id":"p1"}`), pullMessage("p2", "u1", `{"id":"p2"}`)}
	page[1].SenderType, page[1].SenderUserID, page[1].SentAt = "agent", "agent-7", page[1].SentAt.Add(90*time.Second)
	_, err := s.WriteMessagesPage(t.Context(), m, page, nil)
	require.NoError(t, err)
	before := pullCount(t, s, `SELECT count(*) FROM conversations WHERE first_reply_message_id = 'p2' AND first_response_seconds = 90`)
	require.Equal(t, 1, before)
	var computed time.Time
	require.NoError(t, s.SQL().QueryRowContext(t.Context(), `SELECT computed_at FROM conversations`).Scan(&computed))

	m.Page = 2
	_, err = s.WriteMessagesPage(t.Context(), m, page, nil) // the same page again
	require.NoError(t, err)
	page[1].MessageStatus, page[1].Raw = "delivered", []byte(`{"id":"p2","messageStatus":"delivered"}`)
	m.Page = 3
	res, err := s.WriteMessagesPage(t.Context(), m, page, nil)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Updated, "the status change is stored")

	var again time.Time
	require.NoError(t, s.SQL().QueryRowContext(t.Context(), `SELECT computed_at FROM conversations`).Scan(&again))
	require.Equal(t, computed, again, "nothing conversations read changed: not recomputed")
	require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM conversations`))
}

// Two transactions writing one room at once: whichever statement runs
// second waits for the first writer's commit and then sees its rows, so a
// customer message and its reply written concurrently still make one
// answered conversation.
func TestConversations_concurrentWritersOfOneRoom(t *testing.T) {
	t.Parallel()
	customer := `INSERT INTO omnichat_messages (id, platform, channel_id, room_id, customer_user_id, sender_type, sent_at, raw)
		VALUES ('q1', 'line', 'ch1', 'room', 'c', 'customer', $1, '{}')`
	reply := `INSERT INTO omnichat_messages (id, platform, channel_id, room_id, customer_user_id, sender_type, sender_user_id, sent_at, raw)
		VALUES ('q2', 'line', 'ch1', 'room', 'c', 'agent', 'agent-1', $1, '{}')`
	bulkReply := `INSERT INTO omnichat_messages (id, platform, channel_id, room_id, customer_user_id, sender_type, sender_user_id, sent_at, raw)
		SELECT 'q2', 'line', 'ch1', 'room', 'c', 'agent', 'agent-1', $1::timestamptz, '{}'::jsonb
		UNION ALL
		SELECT 'b' || g, 'line', 'ch1', 'other-' || g, 'o' || g, 'customer', '', $1::timestamptz, '{}'::jsonb FROM generate_series(1, 300) g`
	tests := []struct {
		name          string
		first, second string
		firstAt       time.Time
		secondAt      time.Time
	}{
		{"CustomerFirst", customer, reply, at(0), at(time.Minute)},
		{"ReplyFirst", reply, customer, at(time.Minute), at(0)},
		// A bulk statement (more than 256 rooms) takes the lock of every room.
		{"BulkReplyAfter", customer, bulkReply, at(0), at(time.Minute)},
		{"CustomerAfterBulk", bulkReply, customer, at(time.Minute), at(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := storetest.New(t)
			ctx := t.Context()
			db := s.SQL()
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback() //nolint:errcheck // after commit, a no-op
			_, err = tx.ExecContext(ctx, tt.first, tt.firstAt)
			require.NoError(t, err)

			conn, err := db.Conn(ctx)
			require.NoError(t, err)
			defer conn.Close()
			var pid int
			require.NoError(t, conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
			done := make(chan error, 1)
			go func() {
				_, err := conn.ExecContext(ctx, tt.second, tt.secondAt)
				done <- err
			}()
			// The second statement's trigger waits for the room while the
			// first writer has not committed: without that wait it would
			// compute the room without the first message.
			waitForLock(ctx, t, db, pid, done)
			require.NoError(t, tx.Commit())
			require.NoError(t, <-done)

			require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM conversations WHERE room_key = 'room'`))
			require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM conversations WHERE opening_message_id = 'q1'
				AND first_reply_message_id = 'q2' AND first_response_seconds = 60`))
		})
	}
}

// Writers of different rooms do not wait for each other: each room has its
// own lock (00019), not one of 256 buckets. (Writers of one day, or of one
// week's response-time rollup rows, still take turns on those rows, for as
// long as the rest of the statement and the commit take: the two here write
// weeks apart.)
func TestConversations_writersOfOtherRoomsDoNotWait(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	db := s.SQL()
	insert := `INSERT INTO omnichat_messages (id, platform, channel_id, room_id, customer_user_id, sender_type, sent_at, raw)
		SELECT $1 || g, 'line', 'ch1', $1 || g, 'c-' || $1 || g, 'customer', $2, '{}' FROM generate_series(1, 100) g`
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck // after commit, a no-op
	_, err = tx.ExecContext(ctx, insert, "a", at(0))
	require.NoError(t, err)

	// 100 other rooms while the first writer's 100 are held: 256 buckets
	// would almost surely have shared one (1 − (156/256)^100 ≈ 1).
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `SET lock_timeout = '5s'`)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, insert, "b", at(30*24*time.Hour))
	require.NoError(t, err, "the second writer waited for the first one's rooms")
	require.NoError(t, tx.Commit())
	require.Equal(t, 200, pullCount(t, s, `SELECT count(*) FROM conversations`))
}

// waitForLock returns once the backend pid waits for an advisory lock (it
// polls pg_stat_activity). It fails the test when the statement running
// there ends first (done delivers), i.e. it never waited.
func waitForLock(ctx context.Context, t *testing.T, db *sql.DB, pid int, done <-chan error) {
	t.Helper()
	for {
		select {
		case err := <-done:
			require.Failf(t, "the second writer did not wait for the room", "its statement ended first (err %v)", err)
		default:
		}
		var waiting bool
		require.NoError(t, db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE pid = $1 AND wait_event_type = 'Lock' AND wait_event = 'advisory')`, pid).Scan(&waiting))
		if waiting {
			return
		}
		require.NoError(t, ctx.Err(), "backend %d never waited for the room's lock", pid)
	}
}

func TestStore_SetConversationSettings(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	msgs := []chatMsg{
		{ID: "s1", Room: "r", Customer: "c", Sender: "customer", At: at(0)},
		{ID: "s2", Room: "r", Customer: "c", Sender: "customer", At: at(2 * time.Hour)},
		{ID: "s3", Room: "r", Customer: "c", Sender: "agent", SenderUser: "a", At: at(3 * time.Hour)},
	}
	insertChat(t, s.SQL(), false, msgs...)
	cs, err := s.ConversationSettings(ctx)
	require.NoError(t, err)
	require.Equal(t, store.ConversationSettings{QuietGap: store.DefaultQuietGap, TimeZone: "UTC"}, cs)
	require.Len(t, storedConversations(t, s.SQL()), 1)

	t.Run("AnotherGapRebuildsEverything", func(t *testing.T) {
		ch, err := s.SetConversationSettings(ctx, store.ConversationSettings{QuietGap: time.Hour, TimeZone: "UTC"})
		require.NoError(t, err)
		require.Equal(t, store.SettingsChange{GapChanged: true, Conversations: 2}, ch)
		require.Equal(t, referenceConversations(withDefaults(msgs), time.Hour), storedConversations(t, s.SQL()))
		requireRollupsMatch(t, s.SQL())
	})
	t.Run("TheSameSettingsWriteNothing", func(t *testing.T) {
		ch, err := s.SetConversationSettings(ctx, store.ConversationSettings{QuietGap: time.Hour, TimeZone: "UTC"})
		require.NoError(t, err)
		require.Equal(t, store.SettingsChange{}, ch)
	})
	t.Run("AnotherZoneRecountsTheWeeks", func(t *testing.T) {
		// Sunday 2026-02-08 20:00 UTC is Monday 03:00 in Bangkok: another week there.
		insertChat(t, s.SQL(), false, chatMsg{ID: "s5", Room: "z", Customer: "z", Sender: "customer", At: time.Date(2026, 2, 8, 20, 0, 0, 0, time.UTC)},
			chatMsg{ID: "s6", Room: "z", Customer: "z", Sender: "agent", SenderUser: "a", At: time.Date(2026, 2, 8, 20, 5, 0, 0, time.UTC)})
		weeks := func() []string {
			return textRows(t, s, `SELECT week::text FROM conversation_agent_weeks WHERE conversations > 0 ORDER BY 1`)
		}
		require.Equal(t, []string{"2026-02-02", "2026-02-02"}, weeks())
		ch, err := s.SetConversationSettings(ctx, store.ConversationSettings{QuietGap: time.Hour, TimeZone: "Asia/Bangkok"})
		require.NoError(t, err)
		require.Equal(t, store.SettingsChange{ZoneChanged: true}, ch)
		require.Equal(t, []string{"2026-02-02", "2026-02-09"}, weeks())
		requireRollupsMatch(t, s.SQL())
	})
	t.Run("NewMessagesUseTheNewSettings", func(t *testing.T) {
		insertChat(t, s.SQL(), false, chatMsg{ID: "s4", Room: "r", Customer: "c", Sender: "customer", At: at(4 * time.Hour)})
		require.Len(t, storedConversations(t, s.SQL()), 4, "cut with the 1h gap")
		requireRollupsMatch(t, s.SQL())
	})
	t.Run("Refused", func(t *testing.T) {
		_, err := s.SetConversationSettings(ctx, store.ConversationSettings{QuietGap: time.Millisecond})
		require.ErrorContains(t, err, "below one second")
		_, err = s.SetConversationSettings(ctx, store.ConversationSettings{QuietGap: time.Hour, TimeZone: "Mars/Olympus"})
		require.ErrorContains(t, err, `time zone "Mars/Olympus"`)
	})
}

// requireRollupsMatch checks the weekly rollups against a recount from the
// conversations table.
func requireRollupsMatch(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, q := range []string{`
		WITH want AS (
			SELECT (date_trunc('week', c.opened_at AT TIME ZONE s.time_zone))::date AS week, c.platform, c.channel_id,
			       COALESCE(c.replied_by, 'none') AS replied_by, v.measure, v.bucket, count(*)::int AS conversations
			FROM conversations c CROSS JOIN (SELECT COALESCE(max(time_zone), 'UTC') AS time_zone FROM conversation_settings) s
			CROSS JOIN LATERAL (VALUES ('first', COALESCE(response_bucket(c.first_response_seconds), -1)),
				('agent', CASE WHEN c.first_agent_message_id IS NOT NULL THEN response_bucket(c.agent_response_seconds) END)) AS v (measure, bucket)
			WHERE v.bucket IS NOT NULL
			GROUP BY 1, 2, 3, 4, 5, 6
		), got AS (
			SELECT week, platform, channel_id, replied_by, measure, bucket, conversations FROM conversation_channel_weeks WHERE conversations <> 0
		)
		SELECT count(*) FROM ((SELECT * FROM want EXCEPT SELECT * FROM got) UNION ALL (SELECT * FROM got EXCEPT SELECT * FROM want)) x`, `
		WITH want AS (
			SELECT (date_trunc('week', c.opened_at AT TIME ZONE s.time_zone))::date AS week, c.first_agent_user_id,
			       lower(trim(c.first_agent_email)) AS email, response_bucket(c.agent_response_seconds) AS bucket, count(*)::int AS conversations
			FROM conversations c CROSS JOIN (SELECT COALESCE(max(time_zone), 'UTC') AS time_zone FROM conversation_settings) s
			WHERE c.first_agent_message_id IS NOT NULL
			GROUP BY 1, 2, 3, 4
		), got AS (
			SELECT week, agent_user_id, agent_email, bucket, conversations FROM conversation_agent_weeks WHERE conversations <> 0
		)
		SELECT count(*) FROM ((SELECT * FROM want EXCEPT SELECT * FROM got) UNION ALL (SELECT * FROM got EXCEPT SELECT * FROM want)) x`,
	} {
		var diff int
		require.NoError(t, db.QueryRowContext(t.Context(), q).Scan(&diff))
		require.Zero(t, diff, "rollup rows differing from a recount of conversations:\n%s", q)
	}
}

func TestConversations_truncate(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	insertChat(t, s.SQL(), false, chatMsg{ID: "t1", Room: "r", Customer: "c", Sender: "customer", At: at(0)})
	require.Len(t, storedConversations(t, s.SQL()), 1)
	_, err := s.SQL().ExecContext(t.Context(), `TRUNCATE omnichat_messages`)
	require.NoError(t, err)
	require.Empty(t, storedConversations(t, s.SQL()))
	require.Zero(t, pullCount(t, s, `SELECT (SELECT count(*) FROM conversation_agent_weeks) + (SELECT count(*) FROM conversation_channel_weeks)`))
}

// The percentile views read the rollups and agree with exact percentiles
// over the conversations table within the buckets' 1% (nearest rank).
func TestConversations_percentileViews(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	_, err := s.WriteSystemUsersPage(ctx, 0, []store.SystemUserRow{
		systemUser("ann", "Ann", "ann@shop.example"), systemUser("bo", "Bo", "BO@shop.example"),
	}, nil)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 4))
	var page []chatMsg
	for i := range 600 {
		room := fmt.Sprintf("r%d", i)
		open := at(time.Duration(i) * 37 * time.Minute) // three weeks of rooms
		page = append(page, chatMsg{ID: room + "-c", Room: room, Customer: room, Sender: "customer", At: open})
		wait := time.Duration(rng.ExpFloat64()*900) * time.Second
		switch i % 4 {
		case 0: // no answer
		case 1: // a bot at once, then an agent
			page = append(page, chatMsg{ID: room + "-b", Room: room, Customer: room, Sender: "bot", SenderUser: "bot", At: open.Add(2 * time.Second)})
			fallthrough
		default:
			agent, email := []string{"ann", "old-id"}[i%2], []string{"", "bo@shop.example"}[i%2]
			page = append(page, chatMsg{ID: room + "-a", Room: room, Customer: room, Sender: "agent", SenderUser: agent, Email: email, At: open.Add(wait)})
		}
		if len(page) >= 200 {
			insertChat(t, s.SQL(), false, page...)
			page = nil
		}
	}
	insertChat(t, s.SQL(), false, page...)
	requireRollupsMatch(t, s.SQL())

	// close reports whether got is within 1% (and half a second) of want.
	close := func(got, want float64) bool { return got >= want/1.0101-0.5 && got <= want*1.0101+0.5 }
	check := func(name, views, exact string, wantRows int) {
		t.Helper()
		got, want := textRows(t, s, views), textRows(t, s, exact)
		require.Len(t, got, wantRows, name)
		require.Equal(t, len(want), len(got), name)
		for i := range got {
			g, w := strings.Split(got[i], "\t"), strings.Split(want[i], "\t")
			require.Equal(t, w[:len(w)-2], g[:len(g)-2], "%s: the same groups and counts", name)
			for k := len(g) - 2; k < len(g); k++ {
				var gv, wv float64
				_, err := fmt.Sscan(g[k], &gv)
				require.NoError(t, err)
				_, err = fmt.Sscan(w[k], &wv)
				require.NoError(t, err)
				require.True(t, close(gv, wv), "%s row %d: %v is not within 1%% of %v", name, i, gv, wv)
			}
		}
	}
	check("agents",
		`SELECT week, agent_username, conversations, p50_seconds, p90_seconds FROM v_agent_response_times ORDER BY 1, 2`,
		`SELECT date_trunc('week', opened_at)::date, CASE WHEN first_agent_user_id = 'ann' THEN 'ann' ELSE 'bo' END, count(*),
			percentile_disc(0.5) WITHIN GROUP (ORDER BY agent_response_seconds), percentile_disc(0.9) WITHIN GROUP (ORDER BY agent_response_seconds)
		FROM conversations WHERE first_agent_reply_at IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2`, 6)
	check("shops",
		`SELECT week, shop_code, conversations, p50_seconds, p90_seconds FROM v_shop_response_times ORDER BY 1, 2`,
		`SELECT date_trunc('week', opened_at)::date, 'A01', count(*),
			percentile_disc(0.5) WITHIN GROUP (ORDER BY agent_response_seconds), percentile_disc(0.9) WITHIN GROUP (ORDER BY agent_response_seconds)
		FROM conversations WHERE first_agent_reply_at IS NOT NULL GROUP BY 1 ORDER BY 1`, 3)
	check("channels",
		`SELECT week, platform, channel_id, conversations, no_answer, p50_seconds, p90_seconds FROM v_channel_response_times ORDER BY 1`,
		`SELECT date_trunc('week', opened_at)::date, platform, channel_id, count(*), count(*) FILTER (WHERE first_reply_at IS NULL),
			percentile_disc(0.5) WITHIN GROUP (ORDER BY first_response_seconds), percentile_disc(0.9) WITHIN GROUP (ORDER BY first_response_seconds)
		FROM conversations GROUP BY 1, 2, 3 ORDER BY 1`, 3)
	check("first replies",
		`SELECT week, replied_by, conversations, agent_answered, p50_seconds, p90_seconds FROM v_first_reply_times WHERE replied_by <> 'none' ORDER BY 1, 2`,
		`SELECT date_trunc('week', opened_at)::date, replied_by, count(*), count(*) FILTER (WHERE first_agent_reply_at IS NOT NULL),
			percentile_disc(0.5) WITHIN GROUP (ORDER BY first_response_seconds), percentile_disc(0.9) WITHIN GROUP (ORDER BY first_response_seconds)
		FROM conversations WHERE replied_by IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2`, 6)
	require.Equal(t, []string{"150\ttrue"}, textRows(t, s, `SELECT sum(conversations), bool_and(p50_seconds IS NULL)
		FROM v_first_reply_times WHERE replied_by = 'none'`), "every fourth conversation has no answer, and no time")
}
