package reconcile_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"crmsync/sync/reconcile"
)

// BenchmarkAnalystExamples seeds the reconcile benchmark's data (seedBench:
// CRMSYNC_BENCH_IDENTITIES identities for 0.7 as many people, 10 messages
// and one tagging log each), dated relative to the wall clock so that the
// examples' now() and current_date windows find rows, with the shop's zone
// set to Asia/Bangkok (conversation_settings.time_zone, as jobs.yaml
// timezone would) as the Thai-day examples assume. It runs a full
// reconcile, then every ```sql block of docs/analysts.md in order, each in a
// transaction rolled back afterwards (the operators' INSERT examples change
// nothing). For block k (from 1) it reports the best time of three runs,
// rows read included, in a session with jit = off (as docs/analysts.md
// advises for analysts' sessions) as blockKK_ms, one run with the server's
// own jit setting as blockKK_jit_ms, and the rows it returned as
// blockKK_rows. Run it with
//
//	CRMSYNC_BENCH_IDENTITIES=1000000 go test ./sync/reconcile -run '^$' -bench AnalystExamples -benchtime 1x -timeout 60m
func BenchmarkAnalystExamples(b *testing.B) {
	n := benchIdentities(b)
	st := benchStore(b)
	ctx := b.Context()
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := st.SQL().ExecContext(ctx, `INSERT INTO conversation_settings (id, time_zone) VALUES (1, 'Asia/Bangkok')`); err != nil {
		b.Fatal(err)
	}
	seedBench(b, st, n, now)
	c := &clock{now}
	if _, err := reconcile.Run(ctx, st, reconcile.Options{NowFunc: c.Now, Log: benchLog()}, true); err != nil {
		b.Fatal(err)
	}
	if _, err := st.SQL().ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	doc, err := os.ReadFile(analystsDoc)
	if err != nil {
		b.Fatal(err)
	}
	blocks := sqlBlock.FindAllStringSubmatch(string(doc), -1)
	if len(blocks) == 0 {
		b.Fatal("no SQL block in docs/analysts.md")
	}
	for b.Loop() {
		for k, blk := range blocks {
			asConfigured, _ := timeBlockRolledBack(ctx, b, st.SQL(), "", blk[1])
			best, got := time.Duration(1<<63-1), 0
			for range 3 {
				took, rows := timeBlockRolledBack(ctx, b, st.SQL(), "SET LOCAL jit = off", blk[1])
				best, got = min(best, took), rows
			}
			b.ReportMetric(float64(best.Microseconds())/1000, fmt.Sprintf("block%02d_ms", k+1))
			b.ReportMetric(float64(asConfigured.Microseconds())/1000, fmt.Sprintf("block%02d_jit_ms", k+1))
			b.ReportMetric(float64(got), fmt.Sprintf("block%02d_rows", k+1))
		}
	}
	b.ReportMetric(float64(n), "identities")
}

// timeBlockRolledBack runs setup (untimed, when not empty) and then the
// statements of one example in a transaction on one connection (so SET
// applies to what follows), reads every row, rolls back, and returns how
// long the example's statements took and the rows they returned.
func timeBlockRolledBack(ctx context.Context, b *testing.B, db *sql.DB, setup, block string) (time.Duration, int) {
	b.Helper()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // always rolled back: the examples must change nothing here
	if setup != "" {
		if _, err := tx.ExecContext(ctx, setup); err != nil {
			b.Fatal(err)
		}
	}
	rows := 0
	start := time.Now()
	for _, q := range strings.Split(block, ";\n") {
		if strings.TrimSpace(q) == "" {
			continue
		}
		rs, err := tx.QueryContext(ctx, q)
		if err != nil {
			b.Fatalf("%v\n%s", err, q)
		}
		for rs.Next() {
			rows++
		}
		if err := rs.Err(); err != nil {
			b.Fatalf("%v\n%s", err, q)
		}
		rs.Close()
	}
	return time.Since(start), rows
}
