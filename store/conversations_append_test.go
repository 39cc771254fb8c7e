package store_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

// storedRollups reads both weekly rollups (rows counting nothing left out),
// one line per row in key order.
func storedRollups(t *testing.T, db queryer) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT format('channel %s %s %s %s %s %s %s', week, platform, channel_id, replied_by, measure, bucket, conversations)
		 FROM conversation_channel_weeks WHERE conversations <> 0 ORDER BY week, platform, channel_id, replied_by, measure, bucket`,
		`SELECT format('agent %s %s %s %s %s', week, agent_user_id, agent_email, bucket, conversations)
		 FROM conversation_agent_weeks WHERE conversations <> 0 ORDER BY week, agent_user_id, agent_email, bucket`,
	} {
		out = append(out, queryStrings(t, db, q)...)
	}
	return out
}

// conversationRows reads every column of conversations but computed_at and
// the triggers' checkpoint, one JSON object per row in key order: what the
// comparisons with a rebuild check beyond the definition's fields (reply
// times, sender names and types).
func conversationRows(t *testing.T, db queryer) []string {
	t.Helper()
	return queryStrings(t, db, `
		SELECT (to_jsonb(c) - 'computed_at' - 'counted_until' - 'counted_messages' - 'counted_customer_messages')::text
		FROM conversations c ORDER BY opening_message_id`)
}

// badCheckpoints lists the conversations whose checkpoint does not count the
// messages they hold before it (the triggers count on it).
func badCheckpoints(t *testing.T, db queryer) []string {
	t.Helper()
	return queryStrings(t, db, `
		SELECT format('%s: %s messages before %s, %s customer; counted %s, %s', c.opening_message_id,
		              n.messages, c.counted_until, n.customer_messages, c.counted_messages, c.counted_customer_messages)
		FROM conversations c
		CROSS JOIN LATERAL (
			SELECT count(*) AS messages, count(*) FILTER (WHERE m.sender_type = 'customer') AS customer_messages
			FROM omnichat_messages m
			WHERE m.platform = c.platform AND m.channel_id = c.channel_id
			  AND conversation_room_key(m.room_id, m.customer_user_id) = c.room_key
			  AND m.sent_at >= c.opened_at AND m.sent_at < c.counted_until
			  AND (m.sent_at > c.opened_at OR m.id COLLATE "C" >= c.opening_message_id COLLATE "C")) n
		WHERE c.counted_until IS NOT NULL
		  AND (n.messages, n.customer_messages) IS DISTINCT FROM (c.counted_messages::int8, c.counted_customer_messages::int8)
		ORDER BY 1`)
}

// rebuiltConversations is what conversations_rebuild() and
// conversation_weeks_rebuild() make of the stored messages (the definition's
// fields, every column, the rollups), read in a transaction that is rolled
// back.
func rebuiltConversations(t *testing.T, s *store.Store) ([]conv, []string, []string) {
	t.Helper()
	tx, err := s.SQL().BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, tx.Rollback()) }()
	_, err = tx.ExecContext(t.Context(), `SELECT conversations_rebuild(), conversation_weeks_rebuild()`)
	require.NoError(t, err)
	return storedConversations(t, tx), conversationRows(t, tx), storedRollups(t, tx)
}

// Rooms whose customers write again within the quiet gap, appended page by
// page (some pages late, some re-pulled changed, some messages deleted): the
// triggers' conversations and rollups equal a rebuild, and the definition,
// after every statement.
func TestConversations_appendedPagesMatchARebuild(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		seed    uint64
		late    int // one page in late of this many is back-dated
		changed int // one page in this many re-pulls earlier messages changed (0: never)
		deleted int // one page in this many deletes messages (0: never)
		maxGap  time.Duration
		senders []string // who sends, picked evenly (nil: customers, agents, bots, AI and system)
	}{
		{name: "in order", seed: 1, late: 1000, maxGap: 3 * time.Hour},
		{name: "in order, some rooms fall quiet", seed: 2, late: 1000, maxGap: 40 * time.Hour},
		{name: "some pages late", seed: 3, late: 4, maxGap: 6 * time.Hour},
		{name: "late, changed and deleted", seed: 4, late: 5, changed: 4, deleted: 5, maxGap: 20 * time.Hour},
		{name: "everything, ties", seed: 5, late: 3, changed: 3, deleted: 4, maxGap: 2 * time.Hour},
		// Conversations that wait long for a first reply, or a first human one, carried
		// forward page after page.
		{name: "rarely answered", seed: 6, late: 6, changed: 5, deleted: 7, maxGap: 3 * time.Hour,
			senders: []string{"customer", "customer", "customer", "customer", "customer", "customer", "bot", "agent", "system"}},
		{name: "bots answer, agents rarely", seed: 7, late: 8, changed: 6, maxGap: 5 * time.Hour,
			senders: []string{"customer", "customer", "bot", "ai-chat", "bot", "customer", "agent"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := storetest.New(t)
			db := s.SQL()
			rng := rand.New(rand.NewPCG(tc.seed, 18))
			senders := tc.senders
			if senders == nil {
				senders = []string{"customer", "customer", "customer", "agent", "bot", "ai-chat", "agent", "system"}
			}
			rooms := []string{"r1", "r2", "r3", "r4", ""}
			clock := map[string]time.Time{}
			held := map[string]chatMsg{}
			next := 0
			newMsg := func(late bool) chatMsg {
				next++
				room := rooms[rng.IntN(len(rooms))]
				customer := "c-" + room
				if room == "" {
					customer = "walk-in"
				}
				sender := senders[rng.IntN(len(senders))]
				user := customer
				if sender != "customer" {
					user = fmt.Sprintf("agent-%d", rng.IntN(3))
				}
				// Steps on a minute grid (ties happen).
				clock[room] = clock[room].Add(time.Duration(rng.Int64N(int64(tc.maxGap/time.Minute))) * time.Minute)
				when := at(0).Add(clock[room].Sub(time.Time{}))
				if late {
					when = when.Add(-time.Duration(rng.Int64N(int64(2*tc.maxGap/time.Minute)+1)) * time.Minute)
				}
				return chatMsg{ID: fmt.Sprintf("m%04d", next), Platform: "line", Channel: "ch1",
					Room: room, Customer: customer, Sender: sender, SenderUser: user, Email: user + "@x.example", At: when}
			}
			pick := func(n int) []chatMsg {
				ms := make([]chatMsg, 0, len(held))
				for _, m := range held {
					ms = append(ms, m)
				}
				slices.SortFunc(ms, func(a, b chatMsg) int { return a.At.Compare(b.At)*2 + cmpID(a.ID, b.ID) })
				// Mostly recent messages, as a re-pull would bring.
				ms = ms[max(0, len(ms)-20):]
				rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
				return ms[:min(n, len(ms))]
			}
			for page := range 50 {
				switch {
				case tc.changed > 0 && page > 3 && rng.IntN(tc.changed) == 0:
					ms := pick(1 + rng.IntN(4))
					for i := range ms {
						ms[i].Sender = senders[rng.IntN(len(senders))]
						ms[i].At = ms[i].At.Add(time.Duration(rng.IntN(241)-120) * time.Minute)
						held[ms[i].ID] = ms[i]
					}
					insertChat(t, db, true, ms...)
				case tc.deleted > 0 && page > 3 && rng.IntN(tc.deleted) == 0:
					var ids []string
					for _, m := range pick(1 + rng.IntN(3)) {
						ids = append(ids, m.ID)
						delete(held, m.ID)
					}
					_, err := db.ExecContext(t.Context(), `DELETE FROM omnichat_messages WHERE id = ANY($1)`, ids)
					require.NoError(t, err)
				default:
					late := page > 3 && rng.IntN(tc.late) == 0
					var ms []chatMsg
					for range 1 + rng.IntN(10) {
						m := newMsg(late)
						ms = append(ms, m)
						held[m.ID] = m
					}
					insertChat(t, db, rng.IntN(2) == 0, ms...)
				}
				wantConv, wantRows, wantRollups := rebuiltConversations(t, s)
				require.Equal(t, wantConv, storedConversations(t, db), "conversations after page %d", page)
				require.Equal(t, wantRows, conversationRows(t, db), "every column of the conversations after page %d", page)
				require.Empty(t, badCheckpoints(t, db), "checkpoints after page %d", page)
				require.Equal(t, wantRollups, storedRollups(t, db), "rollups after page %d", page)
				all := make([]chatMsg, 0, len(held))
				for _, m := range held {
					all = append(all, m)
				}
				require.Equal(t, referenceConversations(all, 24*time.Hour), wantConv, "the rebuild follows the definition, page %d", page)
			}
			require.NotEmpty(t, storedConversations(t, db))
		})
	}
}

// cmpID orders message ids as PostgreSQL's "C" collation does.
func cmpID(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
