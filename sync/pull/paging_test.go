package pull_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat/omnichattest"
	"crmsync/sync/pull"
)

// seedTaggingLogs seeds n tagging logs on lineChannel spread over day d.
func seedTaggingLogs(b *testBundle, d, n int) {
	for i := range n {
		b.srv.SeedTaggingLogs(taggingLog(lineChannel, fmt.Sprintf("U%04d", i), "VIP", day(d).Add(time.Duration(i)*24*time.Hour/time.Duration(n))))
	}
}

// pageAsks returns "page@pageSize" of each tagging-log request.
func pageAsks(t *testing.T, b *testBundle) []string {
	t.Helper()
	var out []string
	for _, q := range queries(t, b.srv.Requests(), "/v1/tagging-logs/records") {
		out = append(out, q.Get("page")+"@"+q.Get("pageSize"))
	}
	return out
}

// Issue 12, point 2: the tagging-log endpoint documents no maximum
// pageSize, and the fake (as a real server may) serves at most 20 rows a
// page whatever is asked. A short page is not the last while rows are
// missing: the pull goes on at the size served, and loses nothing.
func TestPuller_Backfill_taggingLogPagesCappedAtTwenty(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}) // the fake's default cap: 20
	seedTaggingLogs(b, 0, 250)

	c, err := p.Backfill(t.Context(), pull.TaggingLogs, day(0), day(1), pull.RunOptions{})

	require.NoError(t, err)
	require.Equal(t, 250, count(t, b.st, `SELECT count(*) FROM omnichat_tagging_logs`), "every row, none skipped")
	require.Zero(t, c.DataGaps)
	require.Zero(t, c.Rereads, "the first read is complete")
	require.Equal(t, 1, c.PageSizeChanges)
	want := []string{"1@100"}
	for page := 2; page <= 13; page++ {
		want = append(want, fmt.Sprintf("%d@20", page))
	}
	require.Equal(t, want, pageAsks(t, b), "page 2 at 100 would have skipped rows 20–99")
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'done' AND page_size = 20 AND missing_rows = 0 AND total_elements = 250`))
}

// A read interrupted after some capped pages resumes at the size served,
// so the pages it asks for are the ones it has not read.
func TestPuller_Backfill_cappedReadResumesAtTheServedSize(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{})
	seedTaggingLogs(b, 0, 90)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := p.Backfill(ctx, pull.TaggingLogs, day(0), day(1), pull.RunOptions{ProgressFunc: func(pr pull.Progress) {
		if pr.Page == 3 {
			cancel() // the process dies after page 3 committed
		}
	}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status <> 'done' AND next_page = 4 AND page_size = 20`))
	before := len(b.srv.Requests())

	_, err = p.Backfill(t.Context(), pull.TaggingLogs, day(0), day(1), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"4@20", "5@20"}, pageAsks(t, b)[before:])
	require.Equal(t, 90, count(t, b.st, `SELECT count(*) FROM omnichat_tagging_logs`))
}

// A data gap is read again on request (crmsync backfill --reread-gaps):
// when the rows are all there now, the gap is gone.
func TestPuller_RereadGaps(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.MaxRereads = -1 })
	b.srv.SeedChannels(lineChannel)
	b.srv.SeedMessages(messages(lineChannel, "m", 250, day(0), 48*time.Hour)...) // 125 a day: 2 pages
	b.srv.Drift(omnichattest.StreamMessages, 1, 3)                               // the first day's read drifts: 3 rows never seen
	c, err := p.Backfill(t.Context(), pull.Messages, day(0), day(2), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, c.DataGaps)

	c, err = p.Backfill(t.Context(), pull.Messages, day(0), day(2), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 2, c.WindowsKept, "a plain backfill keeps the window with a gap")

	c, err = p.RereadGaps(t.Context(), pull.Messages, pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, c.WindowsDone, "only the window with the gap")
	require.Zero(t, c.DataGaps)
	require.Equal(t, 253, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
	require.Zero(t, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE missing_rows > 0`))
}
