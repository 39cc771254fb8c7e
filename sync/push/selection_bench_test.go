package push_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/push"
)

// selectionChanged is how many contacts change before each measured push.
const selectionChanged = 30

// BenchmarkPushSelection measures what choosing the contacts to push costs
// when few of many changed: CRMSYNC_BENCH_CONTACTS live contacts (default
// 1,000,000), seeded in SQL as already pushed under the destination's
// settings, then 30 changed before each push. Reported:
//
//   - selection_ms: the run's choice (progress, newest change, candidate
//     query: push.Result.Selection), measured around the queries over
//     loopback, so it is the database's time plus three round trips;
//   - full_scan_ms: the full-pass candidate query of the same database
//     (what choosing cost on every batch before the selection was driven by
//     changes), measured the same way, once;
//   - candidates: contacts chosen per push (30 expected);
//   - seed_s, contacts and pg_version_num.
//
// Run it alone with:
//
//	CRMSYNC_BENCH_CONTACTS=1000000 go test -run='^$' -bench=BenchmarkPushSelection -benchtime=1x -timeout=30m ./sync/push/
func BenchmarkPushSelection(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("CRMSYNC_BENCH_CONTACTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2*selectionChanged {
			b.Fatalf("CRMSYNC_BENCH_CONTACTS=%q: want a number ≥ %d", v, 2*selectionChanged)
		}
	}
	ctx := b.Context()
	st := storetest.New(b)
	seeded := time.Now()
	seedSelection(b, st, n)
	seedTook := time.Since(seeded)
	now := t0.Add(time.Hour)
	d := &fakeDest{push: func(c contact.Contact, _ push.Target, _ store.PushTarget) push.Outcome {
		return push.Outcome{Action: push.Updated, State: state(c.UpdatedAt.UTC().Format(time.RFC3339Nano), ""), Requests: 1}
	}}
	opts := push.Options{Store: st, NowFunc: clockAt(now)}

	var selection time.Duration
	candidates := 0
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		// 30 contacts spread over the table change, at a later clock each time.
		_, err := st.SQL().ExecContext(ctx, `UPDATE contacts SET name = name || '.', updated_at = $1
			WHERE id IN (SELECT (g * $2::bigint / $3) + $4 FROM generate_series(0, $3 - 1) g)`,
			t0.Add(time.Duration(i+1)*time.Minute), n, selectionChanged, i%(n/selectionChanged)+1)
		require.NoError(b, err)
		b.StartTimer()
		res, err := push.Run(ctx, d, opts)
		require.NoError(b, err)
		require.False(b, res.FullPass, "an incremental run")
		require.Equal(b, selectionChanged, res.Candidates)
		require.Equal(b, selectionChanged, res.Updated)
		selection += res.Selection
		candidates += res.Candidates
	}
	b.StopTimer()

	began := time.Now()
	ids, err := st.PushCandidates(ctx, store.PushCandidateQuery{
		Destination: store.DestinationOkeybot, ConfigHash: "fp", RecheckBefore: now.Add(-push.DefaultRecheckAfter)})
	fullScan := time.Since(began)
	require.NoError(b, err)
	require.Empty(b, ids, "the full pass finds nothing left: the pushes finished every changed contact")

	var pgVersion int
	require.NoError(b, st.SQL().QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&pgVersion))
	b.ReportMetric(float64(selection.Microseconds())/1e3/float64(b.N), "selection_ms")
	b.ReportMetric(float64(fullScan.Microseconds())/1e3, "full_scan_ms")
	b.ReportMetric(float64(candidates)/float64(b.N), "candidates")
	b.ReportMetric(float64(n), "contacts")
	b.ReportMetric(seedTook.Seconds(), "seed_s")
	b.ReportMetric(float64(pgVersion), "pg_version_num")
}

// seedSelection writes, in SQL, n live contacts changed over the 30 days
// before t0 and each already finished by the Okeybot push under fingerprint
// "fp" an hour before t0, and a complete pass that saw them all.
func seedSelection(b *testing.B, st *store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO contacts (name, identities, created_at, updated_at)
		 SELECT 'Contact ' || g, 1, t, t
		 FROM generate_series(1, $1::bigint) g,
		      LATERAL (SELECT $2::timestamptz - interval '30 days' + g * interval '30 days' / $1::bigint AS t) s`,
		`INSERT INTO push_contacts (destination, contact_id, contact_updated_at, config_hash, outcome, targets, checked_at)
		 SELECT 'okeybot', id, updated_at, 'fp', 'unchanged', 1, $2::timestamptz - interval '1 hour'
		 FROM contacts WHERE $1::bigint > 0`,
		`INSERT INTO push_progress (destination, config_hash, changed_until, updated_at)
		 SELECT 'okeybot', 'fp', max(updated_at), $2::timestamptz - interval '1 hour' FROM contacts WHERE $1::bigint > 0`,
	} {
		_, err := st.SQL().ExecContext(ctx, q, n, t0)
		require.NoError(b, err, fmt.Sprintf("seed: %.60s", q))
	}
	_, err := st.SQL().ExecContext(ctx, `ANALYZE contacts; ANALYZE push_contacts`)
	require.NoError(b, err)
}
