package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/contact"
	"crmsync/store/storetest"
)

// childArgs, when set in the environment, makes the test binary run
// crmsync with these arguments (JSON) instead of the tests, once a byte
// arrives on its standard input: a second OS process for the tests that
// need one, started when the test says go.
const childArgs = "CRMSYNC_TEST_CHILD_ARGS"

func init() {
	raw := os.Getenv(childArgs)
	if raw == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintln(os.Stderr, "bad", childArgs, err)
		os.Exit(3)
	}
	if _, err := os.Stdin.Read(make([]byte, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "no go from the test:", err)
		os.Exit(3)
	}
	os.Exit(run(context.Background(), args, os.Getenv, os.Stdout, os.Stderr))
}

// crmsyncProcess starts crmsync with args in a process of its own (this
// test binary re-executed), with env as its whole environment; it runs when
// go is closed or written to.
func crmsyncProcess(t *testing.T, env map[string]string, args ...string) (cmd *exec.Cmd, out *strings.Builder, goFunc func()) {
	t.Helper()
	raw, err := json.Marshal(args)
	require.NoError(t, err)
	cmd = exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = []string{childArgs + "=" + string(raw), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out = &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	return cmd, out, func() {
		_, err := stdin.Write([]byte{1})
		require.NoError(t, err)
		require.NoError(t, stdin.Close())
	}
}

// arrivals records when each request reached the fake, by path.
type arrivals struct {
	mu      sync.Mutex
	times   map[string][]time.Time
	first   string        // a path whose first arrival closes reached
	reached chan struct{} // closed at the first arrival on first
}

func (a *arrivals) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.times[r.URL.Path] = append(a.times[r.URL.Path], time.Now())
		if r.URL.Path == a.first && len(a.times[r.URL.Path]) == 1 {
			close(a.reached)
		}
		a.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// all returns every arrival, sorted.
func (a *arrivals) all() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []time.Time
	for _, ts := range a.times {
		out = append(out, ts...)
	}
	slices.SortFunc(out, func(x, y time.Time) int { return x.Compare(y) })
	return out
}

// span returns the first and last arrival on path.
func (a *arrivals) span(path string) (first, last time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ts := a.times[path]
	return slices.MinFunc(ts, func(x, y time.Time) int { return x.Compare(y) }), slices.MaxFunc(ts, func(x, y time.Time) int { return x.Compare(y) })
}

// maxInAnySecond returns the most arrivals in any closed span of a second.
func maxInAnySecond(ts []time.Time) int {
	best, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) > time.Second {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// Issue 12, point 5: a backfill and a scheduled pull of one Omnichat account,
// in two OS processes, share the account's 40 requests a second through the
// database: the fake, counting any second by arrival time (with jitter),
// refuses none of their requests, though each process alone paces at 80% of
// the limit and the two together would send 160% without sharing.
func TestIntegrationQuota_twoProcessesShareOneAccount(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewURL(t)
	srv := omnichattest.New(omnichattest.Options{ArrivalJitter: 3 * time.Millisecond}) // 40 in any second, real clock
	rec := &arrivals{times: map[string][]time.Time{}, first: "/v1/messages", reached: make(chan struct{})}
	hs := httptest.NewServer(rec.wrap(srv.Handler()))
	t.Cleanup(hs.Close)

	ch := omnichat.Channel{Platform: contact.LINE, ChannelID: "1657703186", ChannelName: "Shop"}
	srv.SeedChannels(ch)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -20)
	// Messages for the backfill: 20 days, 350 a day (4 pages of 100 each).
	require.NoError(t, srv.SeedMessageSource(omnichattest.MessageSource{N: 20 * 350, From: from, To: today,
		Platform: ch.Platform, ChannelID: ch.ChannelID}))
	// Tagging logs for the scheduled pull: 20 days, 70 a day (4 pages of the fake's 20 each).
	for i := range 20 * 70 {
		srv.SeedTaggingLogs(omnichat.TaggingLog{Time: from.Add(time.Duration(i) * 20 * 24 * time.Hour / (20 * 70)), Platform: ch.Platform,
			ChannelID: ch.ChannelID, UserID: fmt.Sprintf("U%05d", i), Tag: "VIP", Source: "bot"})
	}
	cfg := writeConfig(t, `
timezone: UTC
omnichat:
  token: ${OMNICHAT_TOKEN}
  window: 24h
  initial_lookback: 504h
  rate_headroom: 0.2
  platforms: [line]
jobs:
  - name: omnichat_pull
    schedule: "*/15 * * * *"
    steps: [pull_tagging_logs]
`)
	env := map[string]string{"DATABASE_URL": dbURL, "OMNICHAT_BASE_URL": hs.URL, "OMNICHAT_TOKEN": omnichattest.DefaultToken}

	backfill, backfillOut, startBackfill := crmsyncProcess(t, env, "--config", cfg, "--log-level", "warn", "backfill",
		"--from", from.Format(time.DateOnly), "--to", today.AddDate(0, 0, -1).Format(time.DateOnly), "--streams", "messages")
	scheduled, scheduledOut, startScheduled := crmsyncProcess(t, env, "--config", cfg, "--log-level", "warn", "run", "omnichat_pull")
	// The scheduled pull starts once the backfill is pulling (two processes
	// starting at the same instant take turns at the schema check's lock).
	startBackfill()
	select {
	case <-rec.reached:
	case <-t.Context().Done():
	}
	startScheduled()
	require.NoError(t, backfill.Wait(), "backfill: %s", backfillOut)
	require.NoError(t, scheduled.Wait(), "run omnichat_pull: %s", scheduledOut)

	require.Zero(t, srv.RateLimited(), "no request of either process was refused")
	all := rec.all()
	require.LessOrEqual(t, maxInAnySecond(all), 40, "the two processes together stayed within the account's 40/s")

	// They really ran at the same time, each for most of the other's span.
	mFirst, mLast := rec.span("/v1/messages")
	tFirst, tLast := rec.span("/v1/tagging-logs/records")
	earlier := func(a, b time.Time) time.Time {
		if a.Before(b) {
			return a
		}
		return b
	}
	later := func(a, b time.Time) time.Time {
		if a.After(b) {
			return a
		}
		return b
	}
	overlap := earlier(mLast, tLast).Sub(later(mFirst, tFirst))
	require.Greater(t, overlap, min(mLast.Sub(mFirst), tLast.Sub(tFirst))/2, "the pulls overlapped")

	st := storetest.Open(t, dbURL)
	var messages, logs int
	require.NoError(t, st.SQL().QueryRowContext(t.Context(), `SELECT (SELECT count(*) FROM omnichat_messages), (SELECT count(*) FROM omnichat_tagging_logs)`).Scan(&messages, &logs))
	require.Equal(t, 20*350, messages)
	require.Equal(t, 20*70, logs)
	t.Logf("two processes: %d requests in %s, at most %d in any second (limit 40, each process alone 32/s), overlap %s, 429s %d",
		len(all), all[len(all)-1].Sub(all[0]).Round(time.Millisecond), maxInAnySecond(all), overlap.Round(time.Millisecond), srv.RateLimited())
}
