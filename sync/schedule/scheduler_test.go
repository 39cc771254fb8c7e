package schedule_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"

	"crmsync/config"
	"crmsync/metrics"
	"crmsync/store"
	"crmsync/sync/schedule"
)

// waitFor bounds every wait on a real tick: @every 1s schedules fire within
// a second, so 10s only runs out when something is broken.
const waitFor = 10 * time.Second

func newScheduler(t *testing.T, o schedule.Options) *schedule.Scheduler {
	t.Helper()
	s, err := schedule.NewScheduler(o)
	require.NoError(t, err)
	return s
}

type tickRow struct {
	job, status, trigger, host string
	tick                       time.Time
}

func tickRows(t *testing.T, st *store.Store) []tickRow {
	t.Helper()
	rows, err := st.SQL().QueryContext(t.Context(), `SELECT job, status, trigger, host, scheduled_for FROM sync_runs ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var out []tickRow
	for rows.Next() {
		var r tickRow
		var tick *time.Time
		require.NoError(t, rows.Scan(&r.job, &r.status, &r.trigger, &r.host, &tick))
		if tick != nil {
			r.tick = *tick
		}
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestScheduler_twoReplicasRunEachTickOnce(t *testing.T) {
	t.Parallel()
	steps := map[string]schedule.StepFunc{"a": countsStep(schedule.Counts{"rows": 1})}
	r1, b := setup(t, steps)
	r1.NowFunc, r1.Host = nil, "replica-1"
	r2 := &schedule.Runner{Store: openStore(t, b.url), Steps: steps, Log: r1.Log, Host: "replica-2", PID: 2}
	jobs := []config.Job{job("pull", "a"), job("push", "a")}
	s1 := newScheduler(t, schedule.Options{Runner: r1, Jobs: jobs})
	s2 := newScheduler(t, schedule.Options{Runner: r2, Jobs: jobs})
	require.NoError(t, s1.Start(t.Context()))
	require.NoError(t, s2.Start(t.Context()))

	// Wait until each job has two ticks that both replicas reached.
	contested := func() map[string]int {
		perTick := map[string]map[time.Time]int{}
		for _, r := range tickRows(t, b.st) {
			if perTick[r.job] == nil {
				perTick[r.job] = map[time.Time]int{}
			}
			perTick[r.job][r.tick]++
		}
		out := map[string]int{}
		for j, ticks := range perTick {
			for _, n := range ticks {
				if n == 2 {
					out[j]++
				}
			}
		}
		return out
	}
	require.Eventually(t, func() bool {
		c := contested()
		return c["pull"] >= 2 && c["push"] >= 2
	}, waitFor, 50*time.Millisecond)
	require.NoError(t, s1.Stop())
	require.NoError(t, s2.Stop())

	ran := map[string]map[time.Time]int{"pull": {}, "push": {}}
	winners := map[string]bool{}
	for _, r := range tickRows(t, b.st) {
		require.Equal(t, "schedule", r.trigger)
		require.False(t, r.tick.IsZero(), "every scheduled run names its tick")
		require.Zero(t, r.tick.Nanosecond(), "@every 1s ticks fall on whole seconds")
		require.Contains(t, []string{"ok", "skipped"}, r.status)
		if r.status == "ok" {
			ran[r.job][r.tick]++
			winners[r.host] = true
		}
	}
	for j, ticks := range ran {
		require.GreaterOrEqual(t, len(ticks), 2, j)
		for tick, n := range ticks {
			require.Equal(t, 1, n, "job %s ran %d times for tick %s", j, n, tick)
		}
	}
	require.NotEmpty(t, winners)
}

func TestScheduler_Start_catchUpRunsOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	runs := map[string]int{}
	step := func(_ context.Context, run *schedule.Run) (schedule.Counts, error) {
		mu.Lock()
		defer mu.Unlock()
		runs[run.Job]++
		return nil, nil
	}
	r, b := setup(t, map[string]schedule.StepFunc{"a": step})
	now := time.Date(2030, 6, 1, 10, 0, 0, 0, time.UTC)
	r.NowFunc = func() time.Time { return now }
	ctx := t.Context()
	seedOK := func(job string, at time.Time) {
		id, err := b.st.StartRun(ctx, store.NewRun{Job: job, Trigger: store.TriggerSchedule, StartedAt: at})
		require.NoError(t, err)
		require.NoError(t, b.st.FinishRun(ctx, id, store.RunEnd{Status: store.RunOK, FinishedAt: at.Add(time.Minute)}))
	}
	// Yearly on 1 January: "down" missed the 2029 and 2030 ticks, "fresh" missed none.
	yearly := func(name string) config.Job {
		return config.Job{Name: name, Schedule: "0 0 1 1 *", Steps: []string{"a"}}
	}
	seedOK("down", time.Date(2028, 1, 1, 0, 0, 5, 0, time.UTC))
	seedOK("fresh", time.Date(2030, 1, 1, 0, 0, 5, 0, time.UTC))
	jobs := []config.Job{yearly("down"), yearly("fresh"), yearly("never")}

	s := newScheduler(t, schedule.Options{Runner: r, Jobs: jobs, CatchUp: true})
	require.NoError(t, s.Start(ctx))
	require.Eventually(t, func() bool {
		n := 0
		for _, row := range tickRows(t, b.st) {
			if row.trigger == "catch-up" && row.status == "ok" {
				n++
			}
		}
		return n == 2
	}, waitFor, 20*time.Millisecond)
	require.NoError(t, s.Stop())

	catchUps := map[string][]tickRow{}
	for _, row := range tickRows(t, b.st) {
		if row.trigger == "catch-up" {
			catchUps[row.job] = append(catchUps[row.job], row)
		}
	}
	require.Len(t, catchUps["down"], 1, "one run for all the missed ticks")
	require.Equal(t, "2030-01-01T00:00:00Z", catchUps["down"][0].tick.UTC().Format(time.RFC3339), "for the latest missed tick")
	require.Len(t, catchUps["never"], 1, "a job that never succeeded is due")
	require.Empty(t, catchUps["fresh"])

	// A restart finds every job up to date: nothing runs.
	again := newScheduler(t, schedule.Options{Runner: r, Jobs: jobs, CatchUp: true})
	require.NoError(t, again.Start(ctx))
	require.NoError(t, again.Stop())
	// Catch-up off: a due job does not run at start.
	off := newScheduler(t, schedule.Options{Runner: r, Jobs: []config.Job{yearly("other")}, CatchUp: false})
	require.NoError(t, off.Start(ctx))
	require.NoError(t, off.Stop())

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, map[string]int{"down": 1, "never": 1}, runs)
}

func TestScheduler_Run_SIGTERMMidRun(t *testing.T) {
	t.Parallel()
	inPage2 := make(chan struct{})
	r, b := setup(t, nil)
	st := b.st
	r.Steps = map[string]schedule.StepFunc{"pages": pagesStep(t, st, inPage2)}
	r.NowFunc = nil
	s := newScheduler(t, schedule.Options{Runner: r, Jobs: []config.Job{job("j", "pages")}})

	// As in main: the process's context ends on SIGTERM.
	ctx, stop := signal.NotifyContext(t.Context(), syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-inPage2:
	case <-time.After(waitFor):
		t.Fatal("the job never reached page 2")
	}
	// While the run goes on, the next tick is skipped by SkipIfStillRunning.
	require.Eventually(t, func() bool {
		for _, e := range b.hook.AllEntries() {
			if e.Level == logrus.WarnLevel && e.Message == "tick skipped: the previous run of the job is still running in this process" {
				return true
			}
		}
		return false
	}, waitFor, 20*time.Millisecond)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("the scheduler did not stop")
	}

	runs, err := st.ListRuns(t.Context(), store.RunListOptions{Job: "j"})
	require.NoError(t, err)
	require.Len(t, runs, 1, "no run starts after the signal")
	require.Equal(t, "interrupted", runs[0].Status)
	require.Equal(t, "step pages: interrupted", runs[0].Error)
	require.False(t, runs[0].FinishedAt.IsZero())
	require.Equal(t, int64(20), runs[0].Counts["pages"]["rows"])
	var rows int
	require.NoError(t, st.SQL().QueryRowContext(t.Context(), `SELECT count(*) FROM test_items`).Scan(&rows))
	require.Equal(t, 2*pageSize, rows, "the page in hand was committed, nothing half-written")
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitFor}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(body)
}

func TestScheduler_HTTP_exposesHealthAndMetrics(t *testing.T) {
	t.Parallel()
	var r *schedule.Runner
	r, b := setup(t, map[string]schedule.StepFunc{
		"a": func(context.Context, *schedule.Run) (schedule.Counts, error) {
			// What the stages report while they run.
			r.Metrics.ObserveAPI("omnichat", 200, 30*time.Millisecond)
			r.Metrics.ObserveAPI("omnichat", 429, 5*time.Millisecond)
			r.Metrics.AddRowsUpserted("omnichat_contacts", 100)
			r.Metrics.AddRejections("oho", "http_400", 2)
			return nil, nil
		},
	})
	r.NowFunc = nil
	_, err := b.st.SQL().ExecContext(t.Context(), `INSERT INTO sync_windows (stream, window_start, window_end, status)
		VALUES ('contacts', now() - interval '1 day', now() - interval '1 hour', 'done')`)
	require.NoError(t, err)
	s := newScheduler(t, schedule.Options{Runner: r, Jobs: []config.Job{job("j", "a")}, HTTPAddr: "127.0.0.1:0"})
	require.NoError(t, s.Start(t.Context()))
	defer func() { require.NoError(t, s.Stop()) }()
	base := "http://" + s.HTTPAddr()

	code, body := httpGet(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)
	code, body = httpGet(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ready\n", body)

	require.Eventually(t, func() bool {
		_, body := httpGet(t, base+"/metrics")
		return regexpContains(body, `crmsync_runs_total\{job="j",status="ok"\} [1-9]`)
	}, waitFor, 50*time.Millisecond)
	_, body = httpGet(t, base+"/metrics")
	for _, want := range []string{
		`crmsync_runs_total\{job="j",status="ok"\} \d+`,
		`crmsync_step_duration_seconds_count\{job="j",step="a"\} \d+`,
		`crmsync_api_requests_total\{code="200",service="omnichat"\} \d+`,
		`crmsync_api_rate_limited_total\{service="omnichat"\} \d+`,
		`crmsync_rows_upserted_total\{table="omnichat_contacts"\} \d+`,
		`crmsync_push_rejections_total\{destination="oho",reason="http_400"\} \d+`,
		`crmsync_window_lag_seconds\{stream="contacts"\} 36\d\d`,
		`crmsync_job_last_success_timestamp_seconds\{job="j"\} \d`,
	} {
		require.True(t, regexpContains(body, want), "missing %s", want)
	}
}

func TestNewHTTPHandler_readyz(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil)
	tests := []struct {
		name     string
		ready    func() error
		closeDB  bool
		wantCode int
		wantBody string
	}{
		{"Ready", nil, false, 200, "ready\n"},
		{"Stopping", func() error { return errors.New("stopping") }, false, 503, "not ready: stopping\n"},
		{"DatabaseUnreachable", nil, true, 503, "not ready: database unreachable\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := b.st
			if tt.closeDB {
				st = openStore(t, b.url)
				require.NoError(t, st.Close())
			}
			srv, err := schedule.ListenHTTP("127.0.0.1:0", schedule.NewHTTPHandler(st, metrics.New(), tt.ready), nil)
			require.NoError(t, err)
			defer func() { require.NoError(t, srv.Shutdown(t.Context())) }()
			code, body := httpGet(t, "http://"+srv.Addr()+"/readyz")
			require.Equal(t, tt.wantCode, code)
			require.Equal(t, tt.wantBody, body)
		})
	}
}

func TestListenHTTP_addressInUse(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil)
	h := schedule.NewHTTPHandler(b.st, nil, nil)
	first, err := schedule.ListenHTTP("127.0.0.1:0", h, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, first.Shutdown(t.Context())) }()
	_, err = schedule.ListenHTTP(first.Addr(), h, nil)
	require.ErrorContains(t, err, "listen for /metrics on "+first.Addr())
}

func TestNewScheduler_configErrors(t *testing.T) {
	t.Parallel()
	r, _ := setup(t, map[string]schedule.StepFunc{"reconcile": countsStep(nil)})
	_, err := schedule.NewScheduler(schedule.Options{Runner: r, ConfigPath: "jobs.yaml", Jobs: []config.Job{
		{Name: "ok", Schedule: "@every 15m", Steps: []string{"reconcile"}},
		{Name: "fast", Schedule: "@every 500ms", Steps: []string{"reconcile"}},
		{Name: "zone", Schedule: "CRON_TZ=Nowhere/Land 0 9 * * *", Steps: []string{"reconcile"}},
		{Name: "missing", Schedule: "@hourly", Steps: []string{"reconcile", "push_oho"}},
		{Name: "ok", Schedule: "@hourly", Steps: []string{"reconcile"}},
	}})
	require.ErrorIs(t, err, config.ErrInvalid, "exit 2 in crmsync")
	var ce *config.Error
	require.ErrorAs(t, err, &ce)
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	require.Equal(t, []string{
		`jobs.yaml: jobs[1].schedule: job "fast": @every 500ms: the interval must be a whole number of seconds, at least 1s`,
		`jobs.yaml: jobs[2].schedule: job "zone": unknown time zone "Nowhere/Land" in CRON_TZ= (use an IANA name such as Asia/Bangkok)`,
		`jobs.yaml: jobs[3].steps[1]: job "missing": step "push_oho" is not available in this build`,
		`jobs.yaml: jobs[4].name: job "ok" defined twice`,
	}, got)

	// Without a ConfigPath the problems name "jobs", in the same words.
	_, err = schedule.NewScheduler(schedule.Options{Runner: r, Jobs: []config.Job{
		{Name: "ok", Schedule: "*/15 * * * *", Steps: []string{"reconcile"}},
		{Name: "bad", Schedule: "* * *", Steps: []string{"reconcile"}},
	}})
	require.ErrorIs(t, err, config.ErrInvalid)
	require.EqualError(t, err, `jobs: jobs[1].schedule: job "bad": "* * *": expected exactly 5 fields, found 3: [* * *]`)

	_, err = schedule.NewScheduler(schedule.Options{Jobs: []config.Job{job("j", "a")}})
	require.EqualError(t, err, "schedule: Options.Runner with a Store is required")
}

func TestScheduler_Stop_beforeStartIsNoOp(t *testing.T) {
	t.Parallel()
	r, _ := setup(t, map[string]schedule.StepFunc{"a": countsStep(nil)})
	log, _ := test.NewNullLogger()
	s := newScheduler(t, schedule.Options{Runner: r, Jobs: []config.Job{job("j", "a")}, Log: log})
	require.NoError(t, s.Stop())
	require.Equal(t, "", s.HTTPAddr())
	require.Equal(t, "2026-03-02T10:00:01Z", s.Next("j", t0).UTC().Format(time.RFC3339))
	require.True(t, s.Next("nope", t0).IsZero())
}

// regexpContains reports whether a line of s starts with pattern.
func regexpContains(s, pattern string) bool {
	return regexp.MustCompile(`(?m)^` + pattern).MatchString(s)
}

// With the defaults a whole stop (grace period, steps returning, the
// Runner's bookkeeping, the listener) ends inside Kubernetes' default 30 s
// between SIGTERM and SIGKILL, with room to spare.
func TestScheduler_StopTimeout_insideOrchestratorDefaults(t *testing.T) {
	t.Parallel()
	r, _ := setup(t, map[string]schedule.StepFunc{"a": countsStep(nil)})
	r.GracePeriod = 0 // the default
	s := newScheduler(t, schedule.Options{Runner: r, Jobs: []config.Job{job("j", "a")}})
	require.Equal(t, 24*time.Second, s.StopTimeout())
	require.Equal(t, 15*time.Second, schedule.DefaultGracePeriod)

	r.GracePeriod, r.FinishTimeout = time.Second, 2*time.Second
	require.Equal(t, 7*time.Second, s.StopTimeout(), "grace + 3 s for the steps to return + FinishTimeout + 1 s for the listener")
}

// A step that ignores both the stop request and its cancelled ctx cannot
// hold the stop beyond StopTimeout: Stop gives up, says so, and the run
// stays recorded as running for the next run of the job to mark failed.
func TestScheduler_Stop_givesUpOnAStepThatNeverReturns(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	r, b := setup(t, map[string]schedule.StepFunc{
		"stuck": func(context.Context, *schedule.Run) (schedule.Counts, error) {
			close(started)
			<-release
			return nil, nil
		},
	})
	r.NowFunc = nil
	r.GracePeriod, r.FinishTimeout = 10*time.Millisecond, time.Second
	s := newScheduler(t, schedule.Options{Runner: r, Jobs: []config.Job{job("j", "stuck")}})
	require.NoError(t, s.Start(t.Context()))
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}
	err := s.Stop()
	require.ErrorContains(t, err, "stop: runs still going 4.01s after the stop request; exiting anyway")

	close(release) // let the run end before the test does
	require.Eventually(t, func() bool {
		runs, err := b.st.ListRuns(t.Context(), store.RunListOptions{Job: "j", Status: store.RunRunning})
		require.NoError(t, err)
		return len(runs) == 0
	}, waitFor, 20*time.Millisecond)
}
