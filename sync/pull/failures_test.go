package pull_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/sync/pull"
)

// Issue 12, point 6, the reported case: three windows the API answers 400
// for good. Incremental runs read the new rows anyway (new windows before
// old retries; a refusal never stops the stream), each run fails while a
// window fails, and after omnichat.max_window_attempts refusals the
// windows are given up: later runs are ok and never ask for them again,
// until crmsync backfill --retry-gave-up.
func TestPuller_Incremental_hopelessWindowsDoNotBlockNewData(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.InitialLookback = 10 * 24 * time.Hour })
	b.srv.SeedChannels(lineChannel)
	for d := 10; d < 20; d++ {
		b.srv.SeedMessages(messages(lineChannel, fmt.Sprintf("d%02d", d), 10, day(d).Add(time.Hour), 20*time.Hour)...)
	}
	var refusing atomic.Bool
	refusing.Store(true)
	hopeless := []time.Time{day(11), day(12), day(13)}
	for _, start := range hopeless {
		match := omnichattest.WindowStarting(omnichattest.StreamMessages, start)
		b.srv.Refuse(http.StatusBadRequest, func(r *http.Request) bool { return refusing.Load() && match(r) })
	}
	refusedAsked := func(from int) int {
		n := 0
		for _, q := range queries(t, b.srv.Requests()[from:], "/v1/messages") {
			for _, start := range hopeless {
				if q.Get("after") == fmt.Sprint(start.UnixMilli()) {
					n++
				}
			}
		}
		return n
	}

	b.setNow(day(20))
	c, err := p.Incremental(t.Context(), pull.Messages, pull.RunOptions{})
	require.ErrorIs(t, err, apiclient.ErrRejected)
	require.ErrorContains(t, err, "3 of 11 windows failed")
	require.Equal(t, 3, c.WindowsFailed)
	require.Equal(t, 8, c.WindowsDone, "a refusal fails its window alone")
	require.Equal(t, 70, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))

	// Runs 2 to 4: new rows every day; each run reads them first, then
	// retries the three (attempts 2, 3, 4), and fails because they fail.
	for run := 2; run <= 4; run++ {
		d := 18 + run // day 20, 21, 22
		b.srv.SeedMessages(messages(lineChannel, fmt.Sprintf("new%d", run), 10, day(d).Add(time.Hour), 20*time.Hour)...)
		b.setNow(day(d + 1))
		before := len(b.srv.Requests())
		c, err := p.Incremental(t.Context(), pull.Messages, pull.RunOptions{})
		require.ErrorIs(t, err, apiclient.ErrRejected, "run %d", run)
		require.Equal(t, int64(10), c.Inserted, "run %d reads the new rows", run)
		require.Equal(t, 3, c.WindowsRetried, "run %d", run)
		asked := queries(t, b.srv.Requests()[before:], "/v1/messages")
		require.Equal(t, fmt.Sprint(day(d).Add(-5*time.Minute).UnixMilli()), asked[0].Get("after"), "run %d reads the new window first", run)
		require.Equal(t, 3, refusedAsked(before), "run %d retries each hopeless window once", run)
	}
	require.Equal(t, 100, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
	require.Equal(t, 3, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'failed' AND attempts = 4`))

	// Run 5: the fifth refusal gives them up (the run still fails: they
	// failed in it); run 6 is ok and does not ask for them.
	b.setNow(day(23))
	c, err = p.Incremental(t.Context(), pull.Messages, pull.RunOptions{})
	require.ErrorContains(t, err, "3 given up after repeated refusals")
	require.Equal(t, 3, c.WindowsGaveUp)
	require.Equal(t, 3, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'gave_up' AND attempts = 5 AND last_error LIKE 'gave up after 5 attempts (omnichat.max_window_attempts), refused: %400%'`))
	var gaveUp int
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `SELECT gave_up FROM v_sync_health WHERE kind = 'stream' AND name = 'messages line/1657703186'`).Scan(&gaveUp))
	require.Equal(t, 3, gaveUp)

	before := len(b.srv.Requests())
	b.setNow(day(23).Add(time.Hour))
	c, err = p.Incremental(t.Context(), pull.Messages, pull.RunOptions{})
	require.NoError(t, err, "windows given up no longer fail the runs")
	require.Zero(t, refusedAsked(before))
	require.Zero(t, c.WindowsRetried)

	// crmsync backfill --retry-gave-up: once the API takes them, they are done.
	refusing.Store(false)
	c, err = p.RetryGaveUp(t.Context(), pull.Messages, pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 3, c.WindowsDone)
	require.Equal(t, 130, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
	require.Zero(t, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status <> 'done'`))
}

// A window refused again when retried is given up again at once: it had
// its attempts.
func TestPuller_RetryGaveUp_refusedAgainGivesUpAgain(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.MaxWindowAttempts = 2 })
	b.srv.SeedChannels(lineChannel)
	b.srv.Refuse(http.StatusBadRequest, omnichattest.WindowStarting(omnichattest.StreamMessages, day(0)))
	for range 2 {
		_, err := p.Backfill(t.Context(), pull.Messages, day(0), day(1), pull.RunOptions{})
		require.ErrorIs(t, err, apiclient.ErrRejected)
	}
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'gave_up'`))

	c, err := p.Backfill(t.Context(), pull.Messages, day(0), day(1), pull.RunOptions{})
	require.NoError(t, err, "a backfill keeps windows given up")
	require.Equal(t, 1, c.WindowsKept)

	c, err = p.Backfill(t.Context(), pull.Messages, day(0), day(1), pull.RunOptions{RetryGaveUp: true})
	require.ErrorIs(t, err, apiclient.ErrRejected)
	require.Equal(t, 1, c.WindowsGaveUp)
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'gave_up' AND attempts = 3`))
}

// A scope the API refuses, or one in an outage, fails alone: the other
// scopes of the stream are read to the end.
func TestPuller_Backfill_failingScopeDoesNotStopTheOthers(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) {
		o.Platforms = []string{"line", "facebook", "wechat"}
		o.MaxConsecutiveFailures = 2
	})
	for _, ch := range everyPlatform {
		b.srv.SeedChannels(ch)
		b.srv.SeedMessages(messages(ch, string(ch.Platform), 50, day(0), 5*24*time.Hour)...)
	}
	platform := func(name string) func(*http.Request) bool {
		return func(r *http.Request) bool {
			return r.URL.Path == "/v1/messages" && r.URL.Query().Get("platform") == name
		}
	}
	b.srv.Refuse(http.StatusBadRequest, platform("wechat"))           // refused: every window fails, none stops the scope
	b.srv.Refuse(http.StatusServiceUnavailable, platform("facebook")) // an outage: the scope stops after 2 in a row

	c, err := p.Backfill(t.Context(), pull.Messages, day(0), day(5), pull.RunOptions{})

	require.Error(t, err)
	require.Equal(t, 5, c.WindowsDone, "every LINE window")
	require.Equal(t, 50, count(t, b.st, `SELECT count(*) FROM omnichat_messages WHERE platform = 'line'`))
	require.Equal(t, 5+2, c.WindowsFailed, "every wechat window, and two facebook ones")
	require.Equal(t, 3, c.WindowsSkipped, "the rest of facebook waits for the next run")
	require.Equal(t, 3, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE scope = 'facebook' AND status = 'pending' AND attempts = 0`))
	require.Equal(t, 5, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE scope = 'wechat' AND status = 'failed'`))
}
