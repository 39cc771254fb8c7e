package reconcile_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/reconcile"
)

const analystsDoc = "../../docs/analysts.md"

var sqlBlock = regexp.MustCompile("(?s)```sql\n(.*?)```")

// seedAnalystsDB fills a database with data every example in
// docs/analysts.md has something to find in, relative to the wall clock
// (the examples use now()).
func seedAnalystsDB(t *testing.T) *store.Store {
	t.Helper()
	st := storetest.New(t)
	now := time.Now().Truncate(time.Second)
	c := &clock{now.Add(-48 * time.Hour)}
	o := reconcile.Options{NowFunc: c.Now, SharedKeyCeiling: 4}
	w := &world{rng: rand.New(rand.NewPCG(7, 7)), now: c.now}
	var s seed
	w.batch(&s, 120, 0, 10, 400, 60)
	s.contact(rawContact{User: "somchai", Name: "สมชาย", Phone: "0812345678", UpdatedAt: c.now.Add(-time.Hour),
		Attrs: []attr{{Key: "tier", Value: "gold", Type: "text", DisplayName: "Tier"}}, Tags: []string{"vip"}})
	s.contact(rawContact{User: "somchai-fb", Platform: "facebook", Channel: "fb", Name: "Somchai 😀", Email: "somchai@example.com",
		UpdatedAt: c.now.Add(-2 * time.Hour)})
	s.contact(rawContact{User: "stop", Platform: "instagram", Channel: "ig", Name: "Stop", Email: "stop@example.com"})
	s.contact(rawContact{User: "quiet", Platform: "line", Channel: "ch2", Name: "Quiet Gold",
		Attrs: []attr{{Key: "tier", Value: "gold", Type: "text", DisplayName: "Tier"}}})
	s.message(rawMessage{ID: "doc-0", Channel: "ch2", User: "quiet", SenderType: "customer", SentAt: now.Add(-45 * 24 * time.Hour)})
	s.message(rawMessage{ID: "doc-1", User: "somchai", SenderType: "customer", SentAt: now.Add(-60 * 24 * time.Hour)})
	s.message(rawMessage{ID: "doc-2", Platform: "instagram", Channel: "ig", User: "stop", SenderType: "customer", SentAt: now.Add(-3 * time.Hour)})
	s.message(rawMessage{ID: "doc-3", Platform: "instagram", Channel: "ig", User: "stop", SenderType: "bot", SentAt: now.Add(-170 * time.Minute)})
	s.tagLog(rawTagLog{User: "somchai", Tag: "vip", Source: "agent", At: now.Add(-5 * 24 * time.Hour)})
	for i := range 5 {
		s.contact(rawContact{User: fmt.Sprintf("shop-%d", i), Name: "ร้านค้า", Phone: "02-123-4567"})
	}
	s.add(`INSERT INTO omnichat_channels (platform, channel_id, channel_name, raw) VALUES
		('line', 'ch1', 'LINE หลัก', '{}'), ('facebook', 'fb', 'Facebook Page', '{}'), ('instagram', 'ig', 'IG', '{}')`)
	s.add(`INSERT INTO sync_runs (job, trigger, status, started_at, finished_at, error) VALUES
		('omnichat_pull', 'schedule', 'ok', now() - interval '2 hours', now() - interval '110 minutes', NULL),
		('omnichat_pull', 'schedule', 'failed', now() - interval '1 hour', now() - interval '50 minutes', 'get omnichat messages: unavailable')`)
	s.add(`INSERT INTO sync_windows (stream, scope, window_start, window_end, status, pages, rows, finished_at) VALUES
		('messages', 'line/ch1', now() - interval '2 days', now() - interval '1 day', 'done', 3, 250, now() - interval '1 day')`)
	s.apply(t, st)
	run(t, st, o, false)

	// Later the LINE and Facebook identities turn out to be one person.
	c.now = now
	s.contact(rawContact{User: "somchai-fb", Platform: "facebook", Channel: "fb", Name: "Somchai 😀", Email: "somchai@example.com",
		Phone: "+66 81 234 5678", UpdatedAt: now.Add(-time.Hour)})
	s.message(rawMessage{ID: "doc-4", Platform: "facebook", Channel: "fb", User: "somchai-fb", SenderType: "customer", SentAt: now.Add(-30 * time.Minute)})
	s.apply(t, st)
	res := run(t, st, o, false)
	require.Positive(t, res.ContactsMerged)
	return st
}

// Every SQL example in docs/analysts.md runs against a seeded database and
// finds something, so the page stays true.
func TestAnalystsDoc_examplesRun(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(analystsDoc)
	require.NoError(t, err)
	blocks := sqlBlock.FindAllStringSubmatch(string(doc), -1)
	require.GreaterOrEqual(t, len(blocks), 10, "the page promises at least 10 examples")

	st := seedAnalystsDB(t)
	for i, b := range blocks {
		n := runBlock(t.Context(), t, st.SQL(), b[1])
		require.Positive(t, n, "example %d returned no rows:\n%s", i+1, b[1])
	}
}

// runBlock runs the statements of one example on one connection (so SET
// applies to what follows) and returns how many rows they returned.
func runBlock(ctx context.Context, t *testing.T, db *sql.DB, block string) int {
	t.Helper()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	total := 0
	for _, q := range strings.Split(block, ";\n") {
		if strings.TrimSpace(q) == "" {
			continue
		}
		rs, err := conn.QueryContext(ctx, q)
		require.NoError(t, err, q)
		for rs.Next() {
			total++
		}
		require.NoError(t, rs.Err(), q)
		require.NoError(t, rs.Close())
	}
	return total
}

// Every table and view (push ones aside: their section belongs to the push
// stage) and every column is described on the page.
func TestAnalystsDoc_describesEveryColumn(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(analystsDoc)
	require.NoError(t, err)
	sections := map[string]string{}
	for _, part := range strings.Split(string(doc), "\n### ")[1:] {
		name, body, _ := strings.Cut(part, "\n")
		sections[strings.TrimSpace(name)] = body
	}
	st := storetest.New(t)
	var missing []string
	for _, r := range rows(t, st, `
		SELECT c.relname, a.attname
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relkind IN ('r', 'v') AND c.relname <> $1
		  AND c.relname NOT LIKE 'push\_%' AND c.relname NOT LIKE 'v\_push\_%'
		ORDER BY 1, a.attnum`, store.MigrationTable) {
		table, col, _ := strings.Cut(r, "\t")
		body, ok := sections[table]
		if !ok {
			missing = append(missing, table)
			continue
		}
		if !strings.Contains(body, "| `"+col+"` |") {
			missing = append(missing, table+"."+col)
		}
	}
	require.Empty(t, missing, "describe these in docs/analysts.md")
}
