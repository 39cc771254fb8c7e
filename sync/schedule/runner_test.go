package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"

	"crmsync/config"
	"crmsync/metrics"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/schedule"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// clock returns t0, t0+1s, t0+2s... one second per call.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.t
	c.t = c.t.Add(time.Second)
	return now
}

type testBundle struct {
	st      *store.Store
	url     string // of the test database, for a second "process"
	hook    *test.Hook
	metrics *metrics.Registry
}

func setup(t *testing.T, steps map[string]schedule.StepFunc) (*schedule.Runner, *testBundle) {
	t.Helper()
	url := storetest.NewURL(t)
	st := openStore(t, url)
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	m := metrics.New()
	r := &schedule.Runner{
		Store: st, Steps: steps, Log: log, Metrics: m,
		NowFunc: (&clock{t: t0}).Now, GracePeriod: time.Minute, Host: "test-host", PID: 4242,
	}
	return r, &testBundle{st: st, url: url, hook: hook, metrics: m}
}

// openStore opens a Store of its own on url: another connection pool, as
// another process would have.
func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), url, store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func countsStep(c schedule.Counts) schedule.StepFunc {
	return func(context.Context, *schedule.Run) (schedule.Counts, error) { return c, nil }
}

func job(name string, steps ...string) config.Job {
	return config.Job{Name: name, Schedule: "@every 1s", Steps: steps}
}

func TestRunner_RunJob_recordsEveryStep(t *testing.T) {
	t.Parallel()
	var seen []*schedule.Run
	var mu sync.Mutex
	record := func(c schedule.Counts) schedule.StepFunc {
		return func(_ context.Context, run *schedule.Run) (schedule.Counts, error) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, run)
			return c, nil
		}
	}
	r, b := setup(t, map[string]schedule.StepFunc{
		"pull_contacts": record(schedule.Counts{"pages": 2, "rows": 150, "requests": 3, "rate_limited": 1, "windows": 4}),
		"reconcile":     record(schedule.Counts{"rows": 17}),
	})

	res, err := r.RunJob(t.Context(), job("omnichat_pull", "pull_contacts", "reconcile"), schedule.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusOK, res.Status)
	require.NoError(t, res.Err)
	require.False(t, res.Failed())
	require.NotZero(t, res.RunID)
	// Clock calls: start, then begin/end of each step, then finish.
	require.Equal(t, t0, res.StartedAt)
	require.Equal(t, 5*time.Second, res.Duration())

	wantCounts := store.RunCounts{
		"pull_contacts": {"pages": 2, "rows": 150, "requests": 3, "rate_limited": 1, "rejections": 0, "windows": 4, "duration_ms": 1000},
		"reconcile":     {"pages": 0, "rows": 17, "requests": 0, "rate_limited": 0, "rejections": 0, "duration_ms": 1000},
	}
	require.Equal(t, schedule.StepCounts{
		"pull_contacts": schedule.Counts(wantCounts["pull_contacts"]),
		"reconcile":     schedule.Counts(wantCounts["reconcile"]),
	}, res.Counts)

	require.Equal(t, map[string]string{"pull_contacts": "ok", "reconcile": "ok"}, res.Steps)

	got, err := b.st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, store.RunRecord{
		ID: res.RunID, Job: "omnichat_pull", Trigger: "manual", Status: "ok",
		StartedAt: got.StartedAt, FinishedAt: got.FinishedAt, Counts: wantCounts,
		Steps: store.StepStatuses{"pull_contacts": "ok", "reconcile": "ok"}, Host: "test-host", PID: 4242,
	}, got)
	require.True(t, t0.Equal(got.StartedAt))
	require.True(t, t0.Add(5*time.Second).Equal(got.FinishedAt))

	require.Len(t, seen, 2)
	require.Equal(t, "pull_contacts", seen[0].Step)
	require.Equal(t, "reconcile", seen[1].Step)
	for _, run := range seen {
		require.Equal(t, res.RunID, run.ID)
		require.Equal(t, "omnichat_pull", run.Job)
		require.Equal(t, "manual", run.Trigger)
		require.False(t, run.Stopping())
		require.True(t, run.Range.IsZero())
	}

	// One log line for the run, with its id, status, duration and counts.
	var line *logrus.Entry
	for _, e := range b.hook.AllEntries() {
		if e.Message == "run finished" {
			require.Nil(t, line, "one line per run")
			line = e
		}
	}
	require.NotNil(t, line)
	require.Equal(t, res.RunID, line.Data["run_id"])
	require.Equal(t, "omnichat_pull", line.Data["job"])
	require.Equal(t, "ok", line.Data["status"])
	require.Equal(t, "5s", line.Data["duration"])
	require.Equal(t, "pull_contacts{duration_ms=1000 pages=2 rate_limited=1 rejections=0 requests=3 rows=150 windows=4} "+
		"reconcile{duration_ms=1000 pages=0 rate_limited=0 rejections=0 requests=0 rows=17}", line.Data["counts"].(schedule.StepCounts).String())
}

// A failed step no longer ends the run: every later step is attempted, the
// run is failed, and each step's outcome is in the counts.
func TestRunner_RunJob_everyStepIsAttemptedAfterAFailure(t *testing.T) {
	t.Parallel()
	var ran []string
	var mu sync.Mutex
	step := func(name string, c schedule.Counts, err error) schedule.StepFunc {
		return func(context.Context, *schedule.Run) (schedule.Counts, error) {
			mu.Lock()
			defer mu.Unlock()
			ran = append(ran, name)
			return c, err
		}
	}
	errPage := errors.New("get omnichat contacts page 2: unavailable")
	r, b := setup(t, map[string]schedule.StepFunc{
		"pull_contacts":     step("pull_contacts", schedule.Counts{"pages": 1}, errPage),
		"pull_tagging_logs": step("pull_tagging_logs", schedule.Counts{"pages": 4}, nil),
		"pull_messages":     step("pull_messages", nil, errors.New("messages window 2026-03-01: bad request")),
		"reconcile":         step("reconcile", schedule.Counts{"rows": 7}, nil),
	})
	res, err := r.RunJob(t.Context(), job("j", "pull_contacts", "pull_tagging_logs", "pull_messages", "reconcile"), schedule.TriggerManual)
	require.NoError(t, err, "the run was recorded")
	require.Equal(t, schedule.StatusFailed, res.Status)
	require.True(t, res.Failed())
	require.Equal(t, []string{"pull_contacts", "pull_tagging_logs", "pull_messages", "reconcile"}, ran, "every step is attempted, in order")
	const wantErr = "step pull_contacts: get omnichat contacts page 2: unavailable; step pull_messages: messages window 2026-03-01: bad request"
	require.EqualError(t, res.Err, wantErr)
	require.ErrorIs(t, res.Err, errPage, "each step's error stays reachable")
	wantSteps := map[string]string{"pull_contacts": "failed", "pull_tagging_logs": "ok", "pull_messages": "failed", "reconcile": "ok"}
	require.Equal(t, wantSteps, res.Steps)

	got, err := b.st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, "failed", got.Status)
	require.Equal(t, wantErr, got.Error)
	require.Equal(t, store.StepStatuses(wantSteps), got.Steps)
	require.Equal(t, int64(1), got.Counts["pull_contacts"]["pages"], "what the step did before failing is kept")
	require.Equal(t, int64(4), got.Counts["pull_tagging_logs"]["pages"])
	require.Equal(t, int64(7), got.Counts["reconcile"]["rows"])
	var status string
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(),
		`SELECT counts->'pull_messages'->>'status' FROM sync_runs WHERE id = $1`, res.RunID).Scan(&status))
	require.Equal(t, "failed", status)
}

// After a failed step, a database that no longer answers ends the run: the
// steps left would fail on it one after the other.
func TestRunner_RunJob_unreachableDatabaseStopsTheRest(t *testing.T) {
	t.Parallel()
	var laterRan atomic.Bool
	r, b := setup(t, nil)
	own := openStore(t, b.url) // closed by the first step: the database is gone for this Runner
	r.Store = own
	r.Steps = map[string]schedule.StepFunc{
		"a": func(context.Context, *schedule.Run) (schedule.Counts, error) {
			require.NoError(t, own.Close())
			return nil, errors.New("write page: connection refused")
		},
		"b": func(context.Context, *schedule.Run) (schedule.Counts, error) {
			laterRan.Store(true)
			return nil, nil
		},
	}
	res, err := r.RunJob(t.Context(), job("j", "a", "b"), schedule.TriggerManual)
	require.ErrorContains(t, err, "record end of run", "the end could not be recorded either")
	require.False(t, laterRan.Load())
	require.Equal(t, schedule.StatusFailed, res.Status)
	require.Equal(t, map[string]string{"a": "failed", "b": "not_started"}, res.Steps)
	require.ErrorContains(t, res.Err, "step a: write page: connection refused; database unreachable: sql: database is closed; the steps left were not started")
}
func TestRunner_RunJob_panicIsAFailedRunWithStack(t *testing.T) {
	t.Parallel()
	r, b := setup(t, map[string]schedule.StepFunc{
		"boom": func(context.Context, *schedule.Run) (schedule.Counts, error) {
			var m map[string]int
			//lint:ignore SA5000 the nil map write is the point: a real runtime panic
			m["x"]++
			return nil, nil
		},
		"fine": countsStep(nil),
	})
	res, err := r.RunJob(t.Context(), job("j", "boom"), schedule.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusFailed, res.Status)
	require.EqualError(t, res.Err, "step boom: panic: assignment to entry in nil map")

	got, err := b.st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, "failed", got.Status)
	require.Equal(t, "step boom: panic: assignment to entry in nil map", got.Error)

	var stack string
	for _, e := range b.hook.AllEntries() {
		if e.Message == "step panicked: assignment to entry in nil map" {
			stack, _ = e.Data["stack"].(string)
			require.Equal(t, res.RunID, e.Data["run_id"])
			require.Equal(t, "boom", e.Data["step"])
		}
	}
	require.Contains(t, stack, "runner_test.go", "the stack names the panicking step")

	// The lock was released: the job runs again.
	res, err = r.RunJob(t.Context(), job("j", "fine"), schedule.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusOK, res.Status)
}

func TestRunner_RunJob_skippedWhileAnotherProcessHoldsTheJob(t *testing.T) {
	t.Parallel()
	var ran atomic.Bool
	r, b := setup(t, map[string]schedule.StepFunc{"a": func(context.Context, *schedule.Run) (schedule.Counts, error) {
		ran.Store(true)
		return nil, nil
	}})
	// Another process: its own connection pool, holding the lock, with its run recorded.
	other := openStore(t, b.url)
	lock, ok, err := other.TryLockJob(t.Context(), "j")
	require.NoError(t, err)
	require.True(t, ok)
	holder, err := other.StartRun(t.Context(), store.NewRun{Job: "j", Trigger: store.TriggerSchedule, StartedAt: t0.Add(-time.Minute), Host: "replica-2", PID: 99})
	require.NoError(t, err)

	res, err := r.RunJob(t.Context(), job("j", "a"), schedule.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusSkipped, res.Status)
	require.False(t, ran.Load())
	require.ErrorContains(t, res.Err, "another process holds the job lock: run")
	require.ErrorContains(t, res.Err, "(schedule) on replica-2 pid 99, started 2026-03-02T09:59:00Z")

	got, err := b.st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, "skipped", got.Status)
	require.Equal(t, res.Err.Error(), got.Error)
	h, err := b.st.GetRun(t.Context(), holder)
	require.NoError(t, err)
	require.Equal(t, "running", h.Status, "the holder's run is not touched")

	require.NoError(t, lock.Release())
	res, err = r.RunJob(t.Context(), job("j", "a"), schedule.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusOK, res.Status)
	require.True(t, ran.Load())
	h, err = b.st.GetRun(t.Context(), holder)
	require.NoError(t, err)
	require.Equal(t, "failed", h.Status, "once the lock is free, a run still marked running belonged to a dead process")
	require.Contains(t, h.Error, "abandoned: its process ended without recording the end of the run (found by test-host pid 4242)")
}

func TestRunner_Start_oneRunPerTick(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	r, _ := setup(t, map[string]schedule.StepFunc{"a": func(context.Context, *schedule.Run) (schedule.Counts, error) {
		runs.Add(1)
		return nil, nil
	}})
	tick := t0.Add(15 * time.Minute)
	opts := schedule.RunOptions{Trigger: schedule.TriggerSchedule, ScheduledFor: tick}
	first, err := r.Start(t.Context(), job("j", "a"), opts)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusOK, first.Status)
	require.Equal(t, tick, first.ScheduledFor)

	second, err := r.Start(t.Context(), job("j", "a"), opts)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusSkipped, second.Status)
	require.EqualError(t, second.Err, "tick 2026-03-02T10:15:00Z already has a run (another replica, or a catch-up, got there first)")
	require.Equal(t, int32(1), runs.Load())
}

// pageSize is how many test_items rows pagesStep writes per page.
const pageSize = 10

// pagesStep returns a step that writes test_items (created here) in pages of
// pageSize rows, one transaction a page, and checks run.Stopping() between
// pages. In page 2 it closes inPage2 and waits for the stop request before
// committing, so the stop always arrives with a page in hand.
func pagesStep(t *testing.T, st *store.Store, inPage2 chan<- struct{}) schedule.StepFunc {
	t.Helper()
	_, err := st.SQL().ExecContext(t.Context(), `CREATE TABLE test_items (page int, item int)`)
	require.NoError(t, err)
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		c := schedule.Counts{}
		for page := 1; ; page++ {
			if run.Stopping() {
				return c, schedule.ErrInterrupted
			}
			tx, err := st.SQL().BeginTx(ctx, nil)
			if err != nil {
				return c, err
			}
			for i := range pageSize {
				if _, err := tx.ExecContext(ctx, `INSERT INTO test_items (page, item) VALUES ($1, $2)`, page, i); err != nil {
					_ = tx.Rollback()
					return c, err
				}
			}
			if page == 2 {
				close(inPage2)
				<-run.StopRequested() // the signal arrives while page 2 is in hand
			}
			if err := tx.Commit(); err != nil {
				return c, err
			}
			c["pages"]++
			c["rows"] += pageSize
		}
	}
}

func TestRunner_RunJob_stopFinishesThePageInHand(t *testing.T) {
	t.Parallel()
	inPage2 := make(chan struct{})
	var laterRan atomic.Bool
	r, b := setup(t, nil)
	st := b.st
	r.Steps = map[string]schedule.StepFunc{
		"pages": pagesStep(t, st, inPage2),
		"later": func(context.Context, *schedule.Run) (schedule.Counts, error) {
			laterRan.Store(true)
			return nil, nil
		},
	}

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan schedule.Result, 1)
	go func() {
		res, err := r.RunJob(ctx, job("j", "pages", "later"), schedule.TriggerManual)
		if err != nil {
			res.Err = err
		}
		done <- res
	}()
	<-inPage2
	stop() // SIGTERM in crmsync: main's signal context ends
	res := <-done

	require.Equal(t, schedule.StatusInterrupted, res.Status)
	require.EqualError(t, res.Err, "step pages: interrupted")
	require.False(t, laterRan.Load(), "no new step starts after a stop request")
	require.Equal(t, map[string]string{"pages": "interrupted", "later": "not_started"}, res.Steps)

	var pages, rows int
	require.NoError(t, st.SQL().QueryRowContext(t.Context(), `SELECT count(DISTINCT page), count(*) FROM test_items`).Scan(&pages, &rows))
	require.Equal(t, 2, pages, "page 2, in hand at the stop, was finished and committed")
	require.Equal(t, 2*pageSize, rows, "nothing half-written")

	got, err := st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, "interrupted", got.Status)
	require.Equal(t, "step pages: interrupted", got.Error)
	require.False(t, got.FinishedAt.IsZero())
	require.Equal(t, int64(2), got.Counts["pages"]["pages"])
	require.Equal(t, int64(20), got.Counts["pages"]["rows"])
}

func TestRunner_RunJob_graceOverCancelsAndRollsBack(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var st *store.Store
	r, b := setup(t, map[string]schedule.StepFunc{
		// A step that ignores Stopping: it holds an open transaction until its ctx ends.
		"stubborn": func(ctx context.Context, _ *schedule.Run) (schedule.Counts, error) {
			tx, err := st.SQL().BeginTx(ctx, nil)
			if err != nil {
				return nil, err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO test_items (page, item) VALUES (1, 1)`); err != nil {
				return nil, err
			}
			close(started)
			<-ctx.Done()
			return nil, errors.Join(ctx.Err(), tx.Commit())
		},
	})
	st = b.st
	r.GracePeriod = 50 * time.Millisecond
	_, err := st.SQL().ExecContext(t.Context(), `CREATE TABLE test_items (page int, item int)`)
	require.NoError(t, err)

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan schedule.Result, 1)
	go func() {
		res, _ := r.RunJob(ctx, job("j", "stubborn"), schedule.TriggerManual)
		done <- res
	}()
	<-started
	stop()
	res := <-done

	require.Equal(t, schedule.StatusInterrupted, res.Status)
	require.ErrorIs(t, res.Err, context.Canceled)
	require.ErrorContains(t, res.Err, "stop requested: grace period of 50ms over")
	var rows int
	require.NoError(t, st.SQL().QueryRowContext(t.Context(), `SELECT count(*) FROM test_items`).Scan(&rows))
	require.Zero(t, rows, "the cut-off transaction was rolled back")
	got, err := st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, "interrupted", got.Status)
}

// A step another process is running is skipped; the run goes on, and is
// recorded skipped, not ok: it is not a success (catch-up, the last-success
// metric).
func TestRunner_RunJob_skippedStepMakesASkippedRun(t *testing.T) {
	t.Parallel()
	var laterRan atomic.Bool
	r, b := setup(t, map[string]schedule.StepFunc{
		"push_okeybot": func(context.Context, *schedule.Run) (schedule.Counts, error) {
			return nil, fmt.Errorf("%w: another process holds the step's lock", schedule.ErrSkipped)
		},
		"push_oho": func(context.Context, *schedule.Run) (schedule.Counts, error) {
			laterRan.Store(true)
			return schedule.Counts{"rows": 2}, nil
		},
	})
	res, err := r.RunJob(t.Context(), job("push", "push_okeybot", "push_oho"), schedule.TriggerManual)
	require.NoError(t, err)
	require.True(t, laterRan.Load(), "the run goes on")
	require.Equal(t, schedule.StatusSkipped, res.Status)
	require.False(t, res.Failed())
	require.EqualError(t, res.Err, "step push_okeybot: skipped: another process holds the step's lock")
	require.ErrorIs(t, res.Err, schedule.ErrSkipped)
	require.Equal(t, map[string]string{"push_okeybot": "skipped", "push_oho": "ok"}, res.Steps)

	got, err := b.st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, "skipped", got.Status)
	require.Equal(t, res.Err.Error(), got.Error)
	require.False(t, got.FinishedAt.IsZero())
	last, err := b.st.LastSuccess(t.Context(), "push")
	require.NoError(t, err)
	require.True(t, last.IsZero(), "a skipped step is not a success")
	require.Equal(t, 1.0, metricValue(t, b.metrics, metrics.RunsTotal, map[string]string{"job": "push", "status": "skipped"}))
	require.Zero(t, metricValue(t, b.metrics, metrics.LastSuccessSeconds, map[string]string{"job": "push"}))
	require.Zero(t, metricValue(t, b.metrics, metrics.RunsInProgress, map[string]string{"job": "push"}))

	// A failure wins over a skip.
	r.Steps["push_oho"] = func(context.Context, *schedule.Run) (schedule.Counts, error) { return nil, errors.New("boom") }
	res, err = r.RunJob(t.Context(), job("push", "push_okeybot", "push_oho"), schedule.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusFailed, res.Status)
	require.EqualError(t, res.Err, "step push_okeybot: skipped: another process holds the step's lock; step push_oho: boom")
}

// metricValue returns the value of the series of name with exactly labels,
// 0 when there is none.
func metricValue(t *testing.T, m *metrics.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range s.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if maps.Equal(got, labels) {
				switch {
				case s.GetCounter() != nil:
					return s.GetCounter().GetValue()
				case s.GetGauge() != nil:
					return s.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// Losing the job's lock (its connection reset) stops the run as a stop
// request would: the step finishes the unit in hand, no later step starts,
// and the run is failed.
func TestRunner_RunJob_lostJobLockStopsTheRun(t *testing.T) {
	t.Parallel()
	var laterRan atomic.Bool
	r, b := setup(t, nil)
	r.Steps = map[string]schedule.StepFunc{
		"pages": func(_ context.Context, run *schedule.Run) (schedule.Counts, error) {
			terminateLocks(t, b.st)
			select {
			case <-run.StopRequested():
			case <-time.After(waitFor):
				return nil, errors.New("the lost lock did not stop the run")
			}
			return schedule.Counts{"pages": 1}, schedule.ErrInterrupted
		},
		"later": func(context.Context, *schedule.Run) (schedule.Counts, error) {
			laterRan.Store(true)
			return nil, nil
		},
	}
	res, err := r.RunJob(t.Context(), job("j", "pages", "later"), schedule.TriggerManual)
	require.NoError(t, err)
	require.False(t, laterRan.Load())
	require.Equal(t, schedule.StatusFailed, res.Status)
	require.Equal(t, map[string]string{"pages": "interrupted", "later": "not_started"}, res.Steps)
	require.ErrorContains(t, res.Err, "step pages: interrupted (job lock lost: lock j lost: its database connection failed")

	// The lock went with the session: the job runs again.
	r.Steps["pages"] = countsStep(nil)
	res, err = r.RunJob(t.Context(), job("j", "pages"), schedule.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusOK, res.Status)
}

// terminateLocks ends, as a connection reset would, the sessions of the
// test's database that hold an advisory lock, and waits until they are gone.
func terminateLocks(t *testing.T, st *store.Store) {
	t.Helper()
	_, err := st.SQL().ExecContext(context.Background(), `
		SELECT pg_terminate_backend(pid, 10000) FROM pg_locks
		WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	require.NoError(t, err)
}

// After the grace period, recording the end of the run cannot hold the stop
// up: a database that does not answer (here: the run's row locked by another
// session) is given up on after FinishTimeout, and the run returns.
func TestRunner_RunJob_bookkeepingAfterTheGraceIsBounded(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	r, b := setup(t, map[string]schedule.StepFunc{
		"stubborn": func(ctx context.Context, _ *schedule.Run) (schedule.Counts, error) {
			close(started)
			<-ctx.Done() // ignores Stopping: only the end of the grace ends it
			return nil, ctx.Err()
		},
	})
	r.GracePeriod, r.FinishTimeout = 50*time.Millisecond, 200*time.Millisecond

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan error, 1)
	var res schedule.Result
	go func() {
		var err error
		res, err = r.RunJob(ctx, job("j", "stubborn"), schedule.TriggerManual)
		done <- err
	}()
	<-started
	// Another session locks the run's row until the test ends.
	tx, err := b.st.SQL().BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(t.Context(), `SELECT 1 FROM sync_runs WHERE job = 'j' FOR UPDATE`)
	require.NoError(t, err)
	stop()

	select {
	case err = <-done:
	case <-time.After(waitFor):
		t.Fatal("the run did not return: its bookkeeping is not bounded")
	}
	require.ErrorContains(t, err, "record end of run")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, schedule.StatusInterrupted, res.Status)
	got, err := b.st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, "running", got.Status, "the end could not be recorded while the row was locked")
	require.NoError(t, tx.Rollback())
	// The unlock timed out, so its connection was closed: the server ends
	// that session, and with it the lock, a moment later.
	require.Eventually(t, func() bool {
		var n int
		err := b.st.SQL().QueryRowContext(t.Context(), `
			SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
			  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
		return err == nil && n == 0
	}, waitFor, 10*time.Millisecond, "the closed session still holds the job lock")
	r.Steps["fine"] = countsStep(nil)
	_, err = r.RunJob(t.Context(), job("j", "fine"), schedule.TriggerManual)
	require.NoError(t, err, "the lock was released")
	got, err = b.st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	// Either the given-up UPDATE still landed once the row was free (its
	// cancel request raced the rollback), or the next run marked the run
	// failed: never left running.
	require.Contains(t, []string{"interrupted", "failed"}, got.Status)
}

func TestRunner_RunJob_timeoutIsAFailure(t *testing.T) {
	t.Parallel()
	r, b := setup(t, map[string]schedule.StepFunc{
		"slow": func(_ context.Context, run *schedule.Run) (schedule.Counts, error) {
			<-run.StopRequested()
			return schedule.Counts{"pages": 3}, schedule.ErrInterrupted
		},
	})
	j := job("j", "slow")
	j.Timeout = 20 * time.Millisecond
	res, err := r.RunJob(t.Context(), j, schedule.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusFailed, res.Status)
	require.EqualError(t, res.Err, "step slow: interrupted (job timed out after 20ms)")
	got, err := b.st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, "failed", got.Status)
	require.Equal(t, int64(3), got.Counts["slow"]["pages"])
	require.Equal(t, store.StepStatuses{"slow": "interrupted"}, got.Steps)
}

func TestRunner_RunJob_stopBetweenSteps(t *testing.T) {
	t.Parallel()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var laterRan atomic.Bool
	r, b := setup(t, map[string]schedule.StepFunc{
		"first": func(_ context.Context, run *schedule.Run) (schedule.Counts, error) {
			stop()
			<-run.StopRequested()
			return schedule.Counts{"rows": 5}, nil // finished its work anyway
		},
		"second": func(context.Context, *schedule.Run) (schedule.Counts, error) {
			laterRan.Store(true)
			return nil, nil
		},
	})
	res, err := r.RunJob(ctx, job("j", "first", "second"), schedule.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusInterrupted, res.Status)
	require.EqualError(t, res.Err, "stopped before step second: stop requested")
	require.False(t, laterRan.Load())
	got, err := b.st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, int64(5), got.Counts["first"]["rows"])
	require.Empty(t, got.Counts["second"], "no counters: it did not run")
	require.Equal(t, store.StepStatuses{"first": "ok", "second": "not_started"}, got.Steps)
}

func TestRunner_Start_adHocBackfillJob(t *testing.T) {
	t.Parallel()
	var got *schedule.Run
	r, b := setup(t, map[string]schedule.StepFunc{
		"pull_messages": func(_ context.Context, run *schedule.Run) (schedule.Counts, error) {
			got = run
			return schedule.Counts{"windows": 3}, nil
		},
	})
	rng := schedule.Range{From: t0.AddDate(0, -1, 0), To: t0}
	res, err := r.Start(t.Context(), config.Job{Name: "backfill", Steps: []string{"pull_messages"}},
		schedule.RunOptions{Trigger: schedule.TriggerBackfill, Range: rng})
	require.NoError(t, err)
	require.Equal(t, schedule.StatusOK, res.Status)
	require.Equal(t, rng, got.Range)
	require.Equal(t, "backfill", got.Trigger)
	rec, err := b.st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, "backfill", rec.Job)
	require.Equal(t, "backfill", rec.Trigger)
}

func TestRunner_Start_refusesWhatItCannotRun(t *testing.T) {
	t.Parallel()
	r, b := setup(t, map[string]schedule.StepFunc{"a": countsStep(nil), "b": countsStep(nil)})
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		give    config.Job
		trigger string
		wantErr string
	}{
		{"UnknownStep", t.Context(), job("j", "a", "push_oho"), "manual", `run j: step "push_oho" is not available (have: a, b)`},
		{"NoSteps", t.Context(), job("j"), "manual", "run j: the job has no steps"},
		{"NoName", t.Context(), job("", "a"), "manual", "run job: the job has no name"},
		{"UnknownTrigger", t.Context(), job("j", "a"), "cron", `run j: unknown trigger "cron"`},
		{"AlreadyStopped", cancelled, job("j", "a"), "manual", "run j: not started: context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.RunJob(tt.ctx, tt.give, tt.trigger)
			require.EqualError(t, err, tt.wantErr)
			require.Zero(t, res.RunID)
		})
	}
	runs, err := b.st.ListRuns(t.Context(), store.RunListOptions{})
	require.NoError(t, err)
	require.Empty(t, runs, "nothing recorded")
}

func TestStandaloneRun(t *testing.T) {
	t.Parallel()
	run, stop := schedule.StandaloneRun("j", "pull_messages", nil)
	require.Equal(t, "j", run.Job)
	require.Equal(t, "pull_messages", run.Step)
	require.Zero(t, run.ID)
	require.False(t, run.Stopping())
	select {
	case <-run.StopRequested():
		t.Fatal("stop requested before stop()")
	default:
	}
	stop()
	stop()
	require.True(t, run.Stopping())
	<-run.StopRequested()
}

func TestRun_StopOn(t *testing.T) {
	t.Parallel()
	t.Run("LostStopsTheStepOnly", func(t *testing.T) {
		t.Parallel()
		run, _ := schedule.StandaloneRun("j", "push_okeybot", nil)
		lost := make(chan struct{})
		sub, release := run.StopOn(lost)
		defer release()
		require.False(t, sub.Stopping())
		require.Equal(t, "push_okeybot", sub.Step)
		close(lost)
		require.True(t, sub.Stopping())
		<-sub.StopRequested()
		require.False(t, run.Stopping(), "the run itself goes on")
	})
	t.Run("TheRunsStopReachesTheStep", func(t *testing.T) {
		t.Parallel()
		run, stop := schedule.StandaloneRun("j", "push_okeybot", nil)
		sub, release := run.StopOn(make(chan struct{}))
		defer release()
		stop()
		require.True(t, sub.Stopping())
		<-sub.StopRequested()
	})
	t.Run("ReleasedTwice", func(t *testing.T) {
		t.Parallel()
		run, _ := schedule.StandaloneRun("j", "s", nil)
		sub, release := run.StopOn(make(chan struct{}))
		release()
		release()
		require.False(t, sub.Stopping())
	})
}
