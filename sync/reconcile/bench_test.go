package reconcile_test

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/reconcile"
)

// benchIdentities is the benchmark size: CRMSYNC_BENCH_IDENTITIES, default
// 20,000 (the figure is 1,000,000: about 700,000 people and
// 10,000,000 messages).
func benchIdentities(b *testing.B) int {
	b.Helper()
	n := 20_000
	if v := os.Getenv("CRMSYNC_BENCH_IDENTITIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			b.Fatalf("CRMSYNC_BENCH_IDENTITIES=%q: want a number ≥ 100", v)
		}
	}
	return n
}

// seedBench generates n identities for 0.7n people, 10n messages and n
// tagging logs in SQL. Person p has a first identity carrying a Thai phone
// written nationally and an email; the 0.3n second identities link to their
// person by the phone written internationally (even p) or by the email in
// capitals (odd p); one in ten people also has a member id on both.
func seedBench(b *testing.B, st *store.Store, n int, now time.Time) {
	b.Helper()
	people := n * 7 / 10
	for _, q := range []string{
		`CREATE UNLOGGED TABLE bench_i AS
		 SELECT i, CASE WHEN i <= $2 THEN i ELSE i - $2 END AS p,
		        (ARRAY['line', 'facebook', 'instagram'])[i % 3 + 1] AS platform, 'ch' || (i % 5) AS channel_id, 'u' || i AS user_id
		 FROM generate_series(1, $1::int) AS i`,
		`INSERT INTO omnichat_contacts (platform, channel_id, user_id, name, email, phone, member_id, tags, custom_attributes, updated_at, raw)
		 SELECT platform, channel_id, user_id,
		        (ARRAY['สมชาย', 'Anna', '😀 Joy', 'Nok'])[i % 4 + 1] || ' ' || p,
		        CASE WHEN i <= $2 THEN 'person' || p || '@example.com'
		             WHEN p % 2 = 1 THEN 'PERSON' || p || '@EXAMPLE.COM' ELSE '' END,
		        CASE WHEN i <= $2 THEN '08' || (10000000 + p)
		             WHEN p % 2 = 0 THEN '668' || (10000000 + p) ELSE '' END,
		        CASE WHEN p % 10 = 0 THEN 'M' || p ELSE '' END,
		        CASE WHEN i % 4 = 0 THEN ARRAY['vip'] WHEN i % 4 = 1 THEN ARRAY['lead', 'ลูกค้าใหม่'] ELSE '{}' END,
		        jsonb_build_array(jsonb_build_object('key', 'tier', 'value', (ARRAY['gold', 'silver'])[i % 2 + 1], 'type', 'text', 'displayName', 'Tier'),
		                          jsonb_build_object('key', 'points', 'value', (i % 1000)::text, 'type', 'number', 'displayName', 'Points')),
		        $3::timestamptz - (i % 1000) * interval '1 minute', '{}'
		 FROM bench_i`,
		// Identity i's 10 messages (k = 0..9) are one room: two
		// conversations three days apart, each a customer message, a bot (or
		// AI) reply within a minute and an agent's within three hours (one
		// in three rooms: the agent first), the customer again 4 h later and
		// a bot; in one room in ten the second conversation is unanswered.
		// Agents are agent-0 … agent-39 (omnichat_system_users).
		`INSERT INTO omnichat_system_users (username, name, email, shops, raw)
		 SELECT 'agent-' || a, 'Agent ' || a, 'agent' || a || '@example.com',
		        jsonb_build_array(jsonb_build_object('id', 's' || a % 3, 'code', 'S0' || a % 3, 'name', 'Shop ' || a % 3)), '{}'
		 FROM generate_series(0, 39) AS a`,
		`INSERT INTO omnichat_messages (id, platform, channel_id, room_id, customer_user_id, sender_type, sender_user_id, sent_at, raw)
		 SELECT 'm' || g, bi.platform, bi.channel_id, 'room-' || bi.user_id, bi.user_id, x.sender_type,
		        CASE x.sender_type WHEN 'customer' THEN bi.user_id WHEN 'agent' THEN 'agent-' || (bi.i * 7 + x.k) % 40 ELSE x.sender_type END,
		        $3::timestamptz - interval '4 days' - (bi.i::bigint * 7919 % 7516800) * interval '1 second' + x.k / 5 * interval '3 days'
		          + CASE WHEN x.k / 5 = 1 AND x.k % 5 IN (1, 2, 4) AND bi.i % 10 = 7 THEN interval '-1 day'
		                 ELSE (ARRAY[interval '0', CASE WHEN bi.i % 3 = 0 THEN x.agent ELSE x.bot END,
		                             CASE WHEN bi.i % 3 = 0 THEN x.agent + interval '30 seconds' ELSE x.agent END,
		                             interval '4 hours', interval '4 hours' + x.bot])[x.k % 5 + 1] END,
		        '{}'
		 FROM generate_series(1, 10 * $1::int) AS g JOIN bench_i bi ON bi.i = (g % $1::int) + 1
		 CROSS JOIN LATERAL (SELECT (g - 1) / $1::int AS k) kk
		 CROSS JOIN LATERAL (SELECT kk.k,
		        (ARRAY['customer', CASE WHEN bi.i % 3 = 0 THEN 'agent' WHEN bi.i % 2 = 0 THEN 'bot' ELSE 'ai-chat' END,
		               CASE WHEN bi.i % 3 <> 0 THEN 'agent' WHEN bi.i % 2 = 0 THEN 'bot' ELSE 'ai-chat' END,
		               'customer', CASE WHEN bi.i % 2 = 0 THEN 'ai-chat' ELSE 'bot' END])[kk.k % 5 + 1] AS sender_type,
		        (bi.i % 50 + 5) * interval '1 second' AS bot, (bi.i * 37 % 180 + 1) * interval '1 minute' AS agent) x`,
		`INSERT INTO omnichat_tagging_logs (platform, channel_id, user_id, tag, tagged_at, time_raw, source, raw)
		 SELECT platform, channel_id, user_id, CASE WHEN i % 4 = 0 THEN 'vip' ELSE 'lead' END,
		        $3::timestamptz - (i % 10000) * interval '1 minute', '', (ARRAY['bot', 'agent'])[i % 2 + 1], '{}'
		 FROM bench_i`,
		`INSERT INTO reconcile_queue (platform, channel_id, user_id) SELECT platform, channel_id, user_id FROM bench_i`,
		`DROP TABLE bench_i`,
	} {
		execNumbered(b, st, q, n, people, now)
	}
	if _, err := st.SQL().ExecContext(b.Context(), `VACUUM ANALYZE`); err != nil {
		b.Fatalf("seed: %v", err)
	}
}

// change1Percent changes 1% of the contacts as a pull would: most get a new
// name, one in five a new phone that links it to another person; each
// changed identity gets a new message and is queued.
func change1Percent(b *testing.B, st *store.Store, n int, round int, now time.Time) {
	b.Helper()
	people := n * 7 / 10
	for _, q := range []string{
		`CREATE UNLOGGED TABLE bench_c AS
		 SELECT platform, channel_id, user_id, substr(user_id, 2)::int AS i FROM omnichat_contacts
		 WHERE (substr(user_id, 2)::int * 7 + $4::int) % 100 = 0`,
		`UPDATE omnichat_contacts c SET name = c.name || ' v' || $4::int, updated_at = $3,
		        phone = CASE WHEN (bc.i / 100) % 5 = 0 THEN '08' || (10000000 + (bc.i * 13 + $4::int) % $2::int + 1) ELSE c.phone END
		 FROM bench_c bc WHERE (c.platform, c.channel_id, c.user_id) = (bc.platform, bc.channel_id, bc.user_id)`,
		`INSERT INTO omnichat_messages (id, platform, channel_id, room_id, customer_user_id, sender_type, sender_user_id, sent_at, raw)
		 SELECT 'r' || $4::int || '-' || bc.i, platform, channel_id, 'room-' || user_id, user_id, 'customer', user_id, $3, '{}' FROM bench_c bc`,
		`INSERT INTO reconcile_queue (platform, channel_id, user_id) SELECT platform, channel_id, user_id FROM bench_c bc
		 ON CONFLICT DO NOTHING`,
		`DROP TABLE bench_c`,
	} {
		execNumbered(b, st, q, n, people, now, round)
	}
}

// BenchmarkReconcile seeds one database (see seedBench) and measures, in
// order: the first full build, a full rebuild that finds nothing changed,
// and an incremental run after 1% of the contacts changed. Run it with
//
//	CRMSYNC_BENCH_IDENTITIES=1000000 go test ./sync/reconcile -run '^$' -bench Reconcile -benchtime 1x -timeout 60m
func BenchmarkReconcile(b *testing.B) {
	n := benchIdentities(b)
	st := benchStore(b)
	c := &clock{t0}
	seedStart := time.Now()
	seedBench(b, st, n, t0)
	seedTook := time.Since(seedStart)
	// The runs get a backend of their own (the store has one connection:
	// close the seed's), so its peak memory is theirs.
	st.SQL().SetMaxIdleConns(0)
	st.SQL().SetMaxIdleConns(1)
	o := reconcile.Options{NowFunc: c.Now, Log: benchLog()}

	b.Run("Full", func(b *testing.B) {
		first := true
		for b.Loop() {
			if !first {
				b.StopTimer()
				if _, err := st.SQL().ExecContext(b.Context(), `TRUNCATE contacts, contact_identities, contact_attributes, contact_tags,
					contact_facts, contact_merges, contact_splits, contact_overrides, shared_keys, phone_numbers, reconcile_state CASCADE`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			first = false
			res, err := reconcile.Run(b.Context(), st, o, true)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.IdentitiesTouched), "identities")
			b.ReportMetric(float64(res.ContactsCreated), "contacts")
		}
		// The same run's reference: writing the raw data set (seedBench,
		// VACUUM ANALYZE included), and the server's version.
		b.ReportMetric(seedTook.Seconds(), "seed_s")
		var pgVersion int
		if err := st.SQL().QueryRowContext(b.Context(), `SELECT current_setting('server_version_num')::int`).Scan(&pgVersion); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(pgVersion), "pg_version_num")
		reportPeakRSS(b)
		reportBackendPeakRSS(b, st)
	})
	b.Run("FullNoChange", func(b *testing.B) {
		for b.Loop() {
			res, err := reconcile.Run(b.Context(), st, o, true)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.ContactsUpdated), "updated")
		}
		reportPeakRSS(b)
		reportBackendPeakRSS(b, st)
	})
	// The road not taken: connected components by label propagation in
	// SQL over the same key edges, for comparison with the link step's
	// "link graph loaded" time (load + union-find in Go). Rolled back.
	b.Run("LabelPropagationSQL", func(b *testing.B) {
		for b.Loop() {
			rounds := labelPropagation(b, st)
			b.ReportMetric(float64(rounds), "rounds")
		}
	})
	b.Run("Incremental1Percent", func(b *testing.B) {
		round := 0
		for b.Loop() {
			b.StopTimer()
			round++
			c.now = t0.Add(time.Duration(round) * time.Hour)
			change1Percent(b, st, n, round, c.now)
			b.StartTimer()
			res, err := reconcile.Run(b.Context(), st, o, false)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.Queued), "queued")
			b.ReportMetric(float64(res.IdentitiesTouched), "touched")
			b.ReportMetric(float64(res.ContactsRecomputed), "recomputed")
			b.ReportMetric(float64(res.ContactsUpdated), "updated")
			b.ReportMetric(float64(res.ContactsMerged), "merged")
		}
		reportPeakRSS(b)
		reportBackendPeakRSS(b, st)
	})
}

// reportPeakRSS reports the process's peak resident memory (VmHWM).
func reportPeakRSS(b *testing.B) {
	b.Helper()
	if mb, ok := peakRSS("/proc/self/status"); ok {
		b.ReportMetric(mb, "peak-RSS-MB")
	}
}

// reportBackendPeakRSS reports the peak resident memory (VmHWM) of the
// PostgreSQL backend the runs used (the store's one connection), as
// pg_backend_peak_rss_MB: its private memory (work_mem, temp_buffers,
// caches) and the shared_buffers pages it touched. It needs the server on
// this machine; elsewhere the metric is missing, and the log says why.
func reportBackendPeakRSS(b *testing.B, st *store.Store) {
	b.Helper()
	var pid int
	if err := st.SQL().QueryRowContext(b.Context(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		b.Fatal(err)
	}
	mb, ok := peakRSS("/proc/" + strconv.Itoa(pid) + "/status")
	if !ok {
		b.Logf("backend %d: no /proc status here (server on another machine?): pg_backend_peak_rss_MB not reported", pid)
		return
	}
	b.ReportMetric(mb, "pg_backend_peak_rss_MB")
}

// peakRSS reads VmHWM, in MB, from a /proc/<pid>/status file.
func peakRSS(path string) (float64, bool) {
	status, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024, err == nil
		}
	}
	return 0, false
}

// execNumbered runs q with the values its $k placeholders name (from vals,
// 1-based), renumbering them so the statement gets exactly those.
func execNumbered(b *testing.B, st *store.Store, q string, vals ...any) {
	b.Helper()
	var args []any
	for k := range vals {
		ph := "$" + strconv.Itoa(k+1)
		if strings.Contains(q, ph) {
			args = append(args, vals[k])
			q = strings.ReplaceAll(q, ph, "$#"+strconv.Itoa(len(args)))
		}
	}
	q = strings.ReplaceAll(q, "$#", "$")
	if _, err := st.SQL().ExecContext(b.Context(), q, args...); err != nil {
		b.Fatalf("bench data: %v\n%s", err, q)
	}
}

// benchLog logs each reconcile step's duration to stderr when
// CRMSYNC_BENCH_LOG is set.
func benchLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	if os.Getenv("CRMSYNC_BENCH_LOG") != "" {
		l.SetOutput(os.Stderr)
		l.SetLevel(logrus.DebugLevel)
	}
	return l
}

// benchStore opens a fresh database whose store logs each reconcile
// statement's duration when CRMSYNC_BENCH_LOG is set.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	st, err := store.Open(b.Context(), storetest.NewURL(b), store.Options{Log: benchLog(), MaxOpenConns: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// labelPropagation finds the components of the identity graph in SQL, each
// identity taking the smallest label among its neighbours until nothing
// changes, and returns the number of rounds. It changes nothing.
func labelPropagation(b *testing.B, st *store.Store) int {
	b.Helper()
	tx, err := st.SQL().BeginTx(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // always rolled back
	for _, q := range []string{
		`CREATE TEMP TABLE lp ON COMMIT DROP AS SELECT id, id AS label FROM contact_identities`,
		`ALTER TABLE lp ADD PRIMARY KEY (id)`,
		`CREATE TEMP TABLE le ON COMMIT DROP AS
		 WITH star AS (
			SELECT id, min(id) OVER (PARTITION BY member_id) AS anchor FROM contact_identities WHERE member_id <> ''
			UNION ALL SELECT id, min(id) OVER (PARTITION BY phone_e164) FROM contact_identities WHERE phone_e164 <> ''
			UNION ALL SELECT id, min(id) OVER (PARTITION BY email) FROM contact_identities WHERE email <> '')
		 SELECT id AS a, anchor AS b FROM star WHERE id <> anchor
		 UNION ALL SELECT anchor, id FROM star WHERE id <> anchor`,
		`CREATE INDEX ON le (a)`,
		`ANALYZE lp`, `ANALYZE le`,
	} {
		if _, err := tx.ExecContext(b.Context(), q); err != nil {
			b.Fatalf("label propagation: %v", err)
		}
	}
	for round := 1; ; round++ {
		res, err := tx.ExecContext(b.Context(), `
			UPDATE lp SET label = m.label
			FROM (SELECT le.a AS id, min(n.label) AS label FROM le JOIN lp n ON n.id = le.b GROUP BY le.a) m
			WHERE lp.id = m.id AND m.label < lp.label`)
		if err != nil {
			b.Fatalf("label propagation: %v", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return round
		}
	}
}
