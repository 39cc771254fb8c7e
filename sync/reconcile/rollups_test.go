package reconcile_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/reconcile"
)

// rollupChecks pairs each rollup (as stored) with the same figures counted
// from the raw and master tables they summarise.
var rollupChecks = []struct {
	name, rollup, raw string
}{
	{"message_day_customers",
		`SELECT day, platform, channel_id, sender_type, customer_user_id, messages FROM message_day_customers`,
		`SELECT (sent_at AT TIME ZONE analytics_time_zone())::date, platform, channel_id, sender_type, customer_user_id, count(*)::int
		 FROM omnichat_messages GROUP BY 1, 2, 3, 4, 5`},
	{"message_days",
		`SELECT day, platform, channel_id, sender_type, messages, customers FROM message_days`,
		`SELECT (sent_at AT TIME ZONE analytics_time_zone())::date, platform, channel_id, sender_type, count(*), count(DISTINCT customer_user_id)
		 FROM omnichat_messages GROUP BY 1, 2, 3, 4`},
	{"tag_event_contact_weeks",
		`SELECT week, source, contact_id, events, current_events FROM tag_event_contact_weeks`,
		`SELECT (date_trunc('week', tagged_at AT TIME ZONE analytics_time_zone()))::date, source, contact_id, count(*)::int,
		        (count(*) FILTER (WHERE tag_is_current))::int
		 FROM v_tag_events GROUP BY 1, 2, 3`},
	{"v_tag_event_weeks",
		`SELECT week, source, events, people, still_current FROM v_tag_event_weeks`,
		`SELECT (date_trunc('week', tagged_at AT TIME ZONE analytics_time_zone()))::date, source, count(*), count(DISTINCT contact_id),
		        count(*) FILTER (WHERE tag_is_current)
		 FROM v_tag_events GROUP BY 1, 2`},
	{"contact_platforms",
		`SELECT contact_id, platforms, identity_keys FROM contact_platforms`,
		`SELECT c.id, ARRAY(SELECT DISTINCT i.platform FROM contact_identities i WHERE i.contact_id = c.id ORDER BY 1),
		        ARRAY(SELECT i.platform || '/' || i.channel_id || '/' || i.user_id FROM contact_identities i WHERE i.contact_id = c.id ORDER BY 1)
		 FROM contacts c`},
	{"v_platform_combinations",
		`SELECT platforms, platform_count, people FROM v_platform_combinations`,
		`SELECT platforms, cardinality(platforms), count(*) FROM v_contact_360 WHERE platforms <> '{}' GROUP BY 1`},
}

// requireRollupsExact fails when any rollup differs from its raw count by a
// single row or number, naming the rows each side has that the other lacks.
// It also checks v_daily_messages in the rollup's zone (the rollup branch)
// against the raw messages counted in that session zone.
func requireRollupsExact(t *testing.T, st *store.Store, when string) {
	t.Helper()
	for name, diff := range rollupDiffs(t, st.SQL(), when) {
		require.Empty(t, diff, "%s: %s differs from the raw tables", when, name)
	}

	ctx := t.Context()
	conn, err := st.SQL().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `SELECT set_config('TimeZone', analytics_time_zone(), false)`)
	require.NoError(t, err)
	const raw = `SELECT m.sent_at::date, m.platform, m.channel_id, COALESCE(ch.channel_name, ''), m.sender_type, count(*), count(DISTINCT m.customer_user_id)
		FROM omnichat_messages m LEFT JOIN omnichat_channels ch ON ch.platform = m.platform AND ch.channel_id = m.channel_id
		GROUP BY 1, 2, 3, 4, 5`
	const view = `SELECT day, platform, channel_id, channel_name, sender_type, messages, customers FROM v_daily_messages`
	var diffs, days int
	require.NoError(t, conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM ((%[1]s) EXCEPT ALL (%[2]s)) a) + (SELECT count(*) FROM ((%[2]s) EXCEPT ALL (%[1]s)) b),
		(SELECT count(*) FROM v_daily_messages)`, view, raw)).Scan(&diffs, &days))
	require.Zero(t, diffs, "%s: v_daily_messages in the rollup's zone differs from the raw messages", when)
	require.Positive(t, days, "%s: v_daily_messages is empty", when)
}

// rollupDiffs returns, per rollup of rollupChecks, the rows it and its raw
// count do not share (empty when exact), as db sees them.
func rollupDiffs(t *testing.T, db querier, when string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, c := range rollupChecks {
		out[c.name] = rowsCtx(t.Context(), t, db, fmt.Sprintf(`
			SELECT 'only in rollup', * FROM ((%[1]s) EXCEPT ALL (%[2]s)) a
			UNION ALL
			SELECT 'only in raw', * FROM ((%[2]s) EXCEPT ALL (%[1]s)) b`, c.rollup, c.raw))
	}
	return out
}

// rollupRows lists every stored row of the rollup tables with its ctid, so
// two listings are equal only if no row was rewritten in between.
func rollupRows(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	for _, tbl := range []string{"tag_event_contact_weeks", "tag_event_weeks", "contact_platforms", "contact_platform_counts",
		"message_day_customers", "message_days"} {
		for _, r := range rows(t, st, fmt.Sprintf(`SELECT ctid, * FROM %s ORDER BY ctid`, tbl)) {
			out = append(out, tbl+"\t"+r)
		}
	}
	return out
}

// requireRollupTotals checks the rollups hold what the raw tables hold in
// all (so the exact comparison above compares something).
func requireRollupTotals(t *testing.T, st *store.Store, when string) {
	t.Helper()
	got := rows(t, st, `SELECT (SELECT sum(messages) FROM message_days), (SELECT sum(events) FROM tag_event_weeks),
		(SELECT count(*) FROM contact_platforms WHERE platforms <> '{}')`)
	want := rows(t, st, `SELECT (SELECT count(*) FROM omnichat_messages), (SELECT count(*) FROM omnichat_tagging_logs),
		(SELECT count(DISTINCT contact_id) FROM contact_identities)`)
	require.Equal(t, want, got, "%s: totals", when)
	require.NotEqual(t, []string{"NULL\tNULL\t0"}, got, "%s: nothing to compare", when)
}

func TestRollups_matchRawTables(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := t.Context()
	c := &clock{t0}
	o := reconcile.Options{NowFunc: c.Now, SharedKeyCeiling: 6}
	w := &world{rng: rand.New(rand.NewPCG(14, 1)), now: t0}
	check := func(when string) {
		t.Helper()
		requireRollupsExact(t, st, when)
		requireRollupTotals(t, st, when)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := st.SQL().ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}

	// Raw rows in plain SQL, as the reconcile benchmark writes them; then a reconcile.
	var s seed
	w.batch(&s, 150, 0, 20, 600, 200)
	s.apply(t, st)
	check("raw rows inserted, nothing reconciled")
	run(t, st, o, false)
	check("after the first reconcile")

	// Pull pages through the store (upserts), then the same pages again.
	ws, err := st.CreateWindows(ctx, store.StreamMessages, "line/ch1", []store.Span{{Start: t0.Add(-7 * 24 * time.Hour), End: t0}}, 0)
	require.NoError(t, err)
	tws, err := st.CreateWindows(ctx, store.StreamTaggingLogs, "line/ch1", []store.Span{{Start: t0.Add(-7 * 24 * time.Hour), End: t0}}, 0)
	require.NoError(t, err)
	var msgs []store.MessageRow
	for k := range 40 {
		u := w.users[k%len(w.users)]
		msgs = append(msgs, store.MessageRow{ID: fmt.Sprintf("m%d", k+1), Platform: "line", ChannelID: "ch1", CustomerUserID: u[len("line/ch1/"):],
			SenderType: []string{"customer", "agent", "bot"}[k%3], SentAt: t0.Add(-time.Duration(k*7) * time.Hour), Raw: []byte(`{}`)})
		msgs = append(msgs, store.MessageRow{ID: fmt.Sprintf("page-%d", k), Platform: "line", ChannelID: "ch1", CustomerUserID: "pulled-" + fmt.Sprint(k%7),
			SenderType: "customer", SentAt: t0.Add(-time.Duration(k*5) * time.Hour), Raw: []byte(`{}`)})
	}
	var logs []store.TaggingLogRow
	for k := range 30 {
		at := t0.Add(-time.Duration(k*11) * time.Hour)
		logs = append(logs, store.TaggingLogRow{Platform: "line", ChannelID: "ch1", UserID: w.users[k%len(w.users)][len("line/ch1/"):],
			Tag: "vip", TaggedAt: at, TimeRaw: at.Format("2006-01-02T15:04:05"), Source: []string{"bot", "agent"}[k%2], Raw: []byte(`{}`)})
	}
	for pass := range 2 {
		_, err := st.WriteMessagesPage(ctx, store.PageMeta{Stream: store.StreamMessages, Scope: "line/ch1", WindowID: ws[0].ID, Page: 1,
			Received: len(msgs), TotalElements: -1}, msgs, nil)
		require.NoError(t, err)
		_, err = st.WriteTaggingLogsPage(ctx, store.PageMeta{Stream: store.StreamTaggingLogs, Scope: "line/ch1", WindowID: tws[0].ID, Page: 1,
			Received: len(logs), TotalElements: -1}, logs, nil)
		require.NoError(t, err)
		check(fmt.Sprintf("pull pages written %d times", pass+1))
	}

	// Hand-written changes: updates that move rows between days, weeks and
	// customers, updates that change nothing counted, deletes.
	exec(`UPDATE omnichat_messages SET sent_at = sent_at - interval '26 hours', sender_type = 'agent' WHERE id LIKE 'm1%'`)
	exec(`UPDATE omnichat_messages SET customer_user_id = 'pulled-1' WHERE id LIKE 'page-2%'`)
	exec(`UPDATE omnichat_messages SET message_status = 'read'`)
	exec(`DELETE FROM omnichat_messages WHERE id LIKE 'm2%' OR id = 'page-3'`)
	exec(`UPDATE omnichat_tagging_logs SET source = 'broadcast', tagged_at = tagged_at - interval '4 days' WHERE id % 5 = 0`)
	exec(`DELETE FROM omnichat_tagging_logs WHERE id % 7 = 0`)
	check("after updates and deletes")

	// More pulls and an incremental reconcile that merges and splits.
	c.now = t0.Add(time.Hour)
	w.now = c.now
	w.batch(&s, 40, 80, 10, 300, 120)
	s.apply(t, st)
	res := run(t, st, o, false)
	check("after an incremental reconcile")
	require.Positive(t, res.ContactsUpdated)

	// Identities and tags changed by hand, then a full rebuild.
	exec(`DELETE FROM contact_tags WHERE contact_id % 3 = 0`)
	exec(`UPDATE contact_identities SET contact_id = (SELECT min(id) FROM contacts WHERE merged_into IS NULL) WHERE id % 11 = 0`)
	check("after hand-written master changes")
	c.now = t0.Add(2 * time.Hour)
	res = run(t, st, o, true)
	check("after a full reconcile")
	require.Positive(t, res.ContactsUpdated)

	// A full build defers the rollups and recounts them before it commits:
	// with new raw rows it writes the differences; with nothing changed it
	// rewrites no rollup row.
	c.now = t0.Add(3 * time.Hour)
	w.now = c.now
	w.batch(&s, 20, 40, 5, 150, 60)
	s.apply(t, st)
	run(t, st, o, true)
	check("after a full reconcile of new raw rows")
	before := rollupRows(t, st)
	res = run(t, st, o, true)
	require.Zero(t, res.ContactsUpdated)
	require.Equal(t, before, rollupRows(t, st), "a full reconcile that changed nothing rewrote rollup rows")
	check("after a full reconcile that changed nothing")

	// Another zone: the day and week rollups are recounted in it.
	exec(`INSERT INTO conversation_settings (id, time_zone) VALUES (1, 'Asia/Bangkok')
		ON CONFLICT (id) DO UPDATE SET time_zone = excluded.time_zone`)
	require.Equal(t, []string{"Asia/Bangkok"}, rows(t, st, `SELECT analytics_time_zone()`))
	check("after the zone changed to Asia/Bangkok")
	w.batch(&s, 10, 10, 5, 100, 50)
	s.apply(t, st)
	run(t, st, o, false)
	check("after a reconcile in Asia/Bangkok")

	// TRUNCATE (as the reconcile benchmark does) and rebuild.
	exec(`TRUNCATE contacts, contact_identities, contact_attributes, contact_tags, contact_facts, contact_merges, contact_splits,
		contact_overrides, shared_keys, phone_numbers, reconcile_state CASCADE`)
	requireRollupsExact(t, st, "after TRUNCATE of the master tables")
	run(t, st, o, true)
	check("after a full build from scratch")
	exec(`DELETE FROM conversation_settings`)
	check("after the zone went back to UTC")
}

// A transaction that defers the rollups (crmsync.defer_rollups, as a full
// reconcile build does) leaves them for rollups_catch_up(), which makes them
// exact again, whatever the statements on the master tables did.
func TestRollups_deferredCatchUp(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := t.Context()
	c := &clock{t0}
	o := reconcile.Options{NowFunc: c.Now, SharedKeyCeiling: 6}
	w := &world{rng: rand.New(rand.NewPCG(14, 2)), now: t0}
	var s seed
	w.batch(&s, 120, 0, 15, 400, 200)
	s.apply(t, st)
	run(t, st, o, false)
	requireRollupsExact(t, st, "before")

	tests := []struct {
		name  string
		stmts []string
		stale bool // the deferred rollups differ from the raw tables before the catch-up
	}{
		{"identities moved to another contact", []string{
			`UPDATE contact_identities SET contact_id = (SELECT min(id) FROM contacts WHERE merged_into IS NULL) WHERE id % 4 = 0`}, true},
		{"tags taken off and put on", []string{
			`DELETE FROM contact_tags WHERE contact_id % 2 = 0`,
			`INSERT INTO contact_tags (contact_id, tag) SELECT id, 'vip' FROM contacts WHERE merged_into IS NULL ON CONFLICT DO NOTHING`}, true},
		{"identities deleted", []string{`DELETE FROM contact_identities WHERE id % 3 = 0`}, true},
		{"a new contact with identities", []string{
			`INSERT INTO contacts (id, created_at, updated_at) VALUES (100000, now(), now())`,
			`INSERT INTO contact_identities (platform, channel_id, user_id, contact_id, first_seen_at, updated_at)
			 SELECT platform, channel_id, user_id || '-new', 100000, now(), now() FROM omnichat_tagging_logs LIMIT 3`,
			`UPDATE omnichat_tagging_logs SET user_id = user_id || '-new' WHERE id IN (SELECT id FROM omnichat_tagging_logs LIMIT 3)`}, true},
		{"statements that touch no row", []string{
			`UPDATE contact_identities SET contact_id = NULL WHERE false`,
			`DELETE FROM contact_tags WHERE false`,
			`INSERT INTO contacts (id, created_at, updated_at) SELECT 1, now(), now() WHERE false`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := st.SQL().BeginTx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback() //nolint:errcheck // every case is rolled back
			_, err = tx.ExecContext(ctx, `SET LOCAL crmsync.defer_rollups = on`)
			require.NoError(t, err)
			for _, q := range tt.stmts {
				_, err := tx.ExecContext(ctx, q)
				require.NoError(t, err, q)
			}
			stale := false
			for _, diff := range rollupDiffs(t, tx, tt.name) {
				stale = stale || len(diff) > 0
			}
			require.Equal(t, tt.stale, stale, "rollups left stale while deferred")
			var n int64
			require.NoError(t, tx.QueryRowContext(ctx, `SELECT rollups_catch_up()`).Scan(&n))
			if tt.stale {
				require.Positive(t, n, "rows the catch-up wrote")
			} else {
				require.Zero(t, n, "rows the catch-up wrote")
			}
			for name, diff := range rollupDiffs(t, tx, tt.name) {
				require.Empty(t, diff, "after the catch-up: %s differs from the raw tables", name)
			}
			require.NoError(t, tx.QueryRowContext(ctx, `SELECT rollups_catch_up()`).Scan(&n))
			require.Zero(t, n, "a second catch-up has nothing pending")
		})
	}
	requireRollupsExact(t, st, "after the rolled-back cases")
}

// v_daily_messages in a zone other than the rollup's counts the raw
// messages in the session's zone, as it always did.
func TestRollups_dailyMessagesInAnotherZone(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := t.Context()
	_, err := st.SQL().ExecContext(ctx, `INSERT INTO omnichat_messages (id, platform, channel_id, customer_user_id, sender_type, sent_at, raw) VALUES
		('a', 'line', 'ch1', 'u1', 'customer', '2026-03-10 20:00+00', '{}'),
		('b', 'line', 'ch1', 'u2', 'customer', '2026-03-10 16:00+00', '{}'),
		('c', 'line', 'ch1', 'u1', 'customer', '2026-03-11 01:00+00', '{}')`)
	require.NoError(t, err)
	tests := []struct {
		give string
		want []string
	}{
		{"UTC", []string{"2026-03-10\t2\t2", "2026-03-11\t1\t1"}},
		{"Asia/Bangkok", []string{"2026-03-10\t1\t1", "2026-03-11\t2\t1"}},
		{"America/New_York", []string{"2026-03-10\t3\t2"}},
	}
	for _, tt := range tests {
		conn, err := st.SQL().Conn(ctx)
		require.NoError(t, err)
		_, err = conn.ExecContext(ctx, `SELECT set_config('TimeZone', $1, false)`, tt.give)
		require.NoError(t, err)
		rs, err := conn.QueryContext(ctx, `SELECT day, messages, customers FROM v_daily_messages ORDER BY day`)
		require.NoError(t, err)
		var out []string
		for rs.Next() {
			var day time.Time
			var m, c int
			require.NoError(t, rs.Scan(&day, &m, &c))
			out = append(out, fmt.Sprintf("%s\t%d\t%d", day.Format("2006-01-02"), m, c))
		}
		require.NoError(t, rs.Err())
		require.NoError(t, rs.Close())
		require.NoError(t, conn.Close())
		require.Equal(t, tt.want, out, tt.give)
	}
}
