package store_test

import (
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func TestStore_StartRun_FinishRun_roundTrip(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()

	id, err := s.StartRun(ctx, store.NewRun{Job: "omnichat_pull", Trigger: store.TriggerManual, StartedAt: t0, Host: "h1", PID: 42})
	require.NoError(t, err)

	got, err := s.GetRun(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.RunRunning, got.Status)
	require.True(t, got.FinishedAt.IsZero())
	require.True(t, got.ScheduledFor.IsZero())
	require.Equal(t, time.Duration(0), got.Duration())

	progress := store.RunCounts{"pull_contacts": {"pages": 1, "rows": 100}}
	require.NoError(t, s.SetRunCounts(ctx, id, progress, store.StepStatuses{"pull_contacts": "running"}))
	got, err = s.GetRun(ctx, id)
	require.NoError(t, err)
	require.Equal(t, progress, got.Counts)
	require.Equal(t, store.StepStatuses{"pull_contacts": "running"}, got.Steps)

	counts := store.RunCounts{
		"pull_contacts": {"pages": 3, "rows": 250, "requests": 4, "rate_limited": 1, "rejections": 0, "duration_ms": 1200},
		"reconcile":     {"pages": 0, "rows": 17, "requests": 0, "rate_limited": 0, "rejections": 2, "merged": 3},
	}
	steps := store.StepStatuses{"pull_contacts": "ok", "reconcile": "failed", "push_oho": "not_started"}
	require.NoError(t, s.FinishRun(ctx, id, store.RunEnd{Status: store.RunFailed, FinishedAt: t0.Add(90 * time.Second), Counts: counts,
		Steps: steps, Error: "step reconcile: boom"}))

	got, err = s.GetRun(ctx, id)
	require.NoError(t, err)
	wantCounts := maps.Clone(counts)
	wantCounts["push_oho"] = map[string]int64{}
	require.Equal(t, store.RunRecord{
		ID: id, Job: "omnichat_pull", Trigger: "manual", Status: "failed",
		StartedAt: got.StartedAt, FinishedAt: got.FinishedAt,
		Counts: wantCounts, Steps: steps, Error: "step reconcile: boom", Host: "h1", PID: 42,
	}, got)
	require.True(t, t0.Equal(got.StartedAt))
	require.Equal(t, 90*time.Second, got.Duration())
	var status string
	require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT counts->'reconcile'->>'status' FROM sync_runs WHERE id = $1`, id).Scan(&status))
	require.Equal(t, "failed", status, "analysts read a step's status from counts")

	// A finished run cannot be finished again or have its counts replaced.
	err = s.FinishRun(ctx, id, store.RunEnd{Status: store.RunOK, FinishedAt: t0})
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.SetRunCounts(ctx, id, nil, nil), store.ErrNotFound)
	require.ErrorContains(t, s.SetRunCounts(ctx, id, store.RunCounts{"a": {"status": 1}}, nil), `a counter named "status"`)

	_, err = s.GetRun(ctx, id+1000)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestStore_FinishRun_refusesUnknownStatus(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	id, err := s.StartRun(t.Context(), store.NewRun{Job: "j", Trigger: store.TriggerManual, StartedAt: t0})
	require.NoError(t, err)
	for _, status := range []string{store.RunRunning, "done"} {
		err := s.FinishRun(t.Context(), id, store.RunEnd{Status: status, FinishedAt: t0})
		require.ErrorContains(t, err, "is not ok, failed, interrupted or skipped")
	}
}

func TestStore_StartRun_oneRunPerTick(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	tick := t0.Add(15 * time.Minute)
	nr := store.NewRun{Job: "omnichat_pull", Trigger: store.TriggerSchedule, ScheduledFor: tick, StartedAt: tick}

	first, err := s.StartRun(ctx, nr)
	require.NoError(t, err)
	_, err = s.StartRun(ctx, nr)
	require.ErrorIs(t, err, store.ErrTickTaken, "a second run for the same tick")

	// Skipped runs never hold a tick; other jobs and other ticks are free.
	_, err = s.SkipRun(ctx, nr, "tick already ran")
	require.NoError(t, err)
	_, err = s.StartRun(ctx, store.NewRun{Job: "other", Trigger: store.TriggerSchedule, ScheduledFor: tick, StartedAt: tick})
	require.NoError(t, err)
	next := nr
	next.ScheduledFor = tick.Add(15 * time.Minute)
	_, err = s.StartRun(ctx, next)
	require.NoError(t, err)

	// The tick stays taken once its run ended, whatever the result.
	require.NoError(t, s.FinishRun(ctx, first, store.RunEnd{Status: store.RunFailed, FinishedAt: tick.Add(time.Second), Error: "x"}))
	_, err = s.StartRun(ctx, nr)
	require.ErrorIs(t, err, store.ErrTickTaken)

	// Runs without a tick (manual) never conflict.
	for range 2 {
		_, err = s.StartRun(ctx, store.NewRun{Job: "omnichat_pull", Trigger: store.TriggerManual, StartedAt: tick})
		require.NoError(t, err)
	}
}

func TestStore_SkipRun(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	id, err := s.SkipRun(t.Context(), store.NewRun{Job: "j", Trigger: store.TriggerSchedule, StartedAt: t0, Host: "h2", PID: 7}, "held by run 3 on h1")
	require.NoError(t, err)
	got, err := s.GetRun(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, store.RunSkipped, got.Status)
	require.Equal(t, "held by run 3 on h1", got.Error)
	require.True(t, t0.Equal(got.FinishedAt))
	require.Equal(t, store.RunCounts{}, got.Counts)
}

func TestStore_AbandonRuns(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	stale, err := s.StartRun(ctx, store.NewRun{Job: "j", Trigger: store.TriggerSchedule, StartedAt: t0})
	require.NoError(t, err)
	other, err := s.StartRun(ctx, store.NewRun{Job: "k", Trigger: store.TriggerSchedule, StartedAt: t0})
	require.NoError(t, err)

	n, err := s.AbandonRuns(ctx, "j", "abandoned")
	require.NoError(t, err)
	require.Equal(t, int64(1), n)

	got, err := s.GetRun(ctx, stale)
	require.NoError(t, err)
	require.Equal(t, store.RunFailed, got.Status)
	require.Equal(t, "abandoned", got.Error)
	require.True(t, got.FinishedAt.IsZero(), "a dead process's run has no end time")
	got, err = s.GetRun(ctx, other)
	require.NoError(t, err)
	require.Equal(t, store.RunRunning, got.Status, "other jobs are untouched")

	running, err := s.RunningRun(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, other, running.ID)
	_, err = s.RunningRun(ctx, "j")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestStore_LastSuccess(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	last, err := s.LastSuccess(ctx, "j")
	require.NoError(t, err)
	require.True(t, last.IsZero(), "never succeeded")

	for i, status := range []string{store.RunOK, store.RunOK, store.RunFailed} {
		start := t0.Add(time.Duration(i) * time.Hour)
		id, err := s.StartRun(ctx, store.NewRun{Job: "j", Trigger: store.TriggerSchedule, StartedAt: start})
		require.NoError(t, err)
		require.NoError(t, s.FinishRun(ctx, id, store.RunEnd{Status: status, FinishedAt: start.Add(time.Minute)}))
	}
	last, err = s.LastSuccess(ctx, "j")
	require.NoError(t, err)
	require.True(t, t0.Add(time.Hour).Equal(last), "got %s", last)

	runs, err := s.ListRuns(ctx, store.RunListOptions{Job: "j", Status: store.RunOK})
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.True(t, runs[0].StartedAt.Before(runs[1].StartedAt), "oldest first")
}

func TestStore_TryLockJob(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()

	a, ok, err := s.TryLockJob(ctx, "omnichat_pull")
	require.NoError(t, err)
	require.True(t, ok)

	// Another session (another process in production) cannot take it.
	b, ok, err := s.TryLockJob(ctx, "omnichat_pull")
	require.NoError(t, err)
	require.False(t, ok)
	require.Nil(t, b)

	// Another job's lock is independent.
	c, ok, err := s.TryLockJob(ctx, "omnichat_to_oho_contacts")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, c.Release())

	require.NoError(t, a.Release())
	require.NoError(t, a.Release(), "releasing twice is harmless")

	d, ok, err := s.TryLockJob(ctx, "omnichat_pull")
	require.NoError(t, err)
	require.True(t, ok, "free again after release")
	require.NoError(t, d.Release())
}

func TestStore_TryLockJob_acrossStores(t *testing.T) {
	t.Parallel()
	u := storetest.NewURL(t)
	open := func() *store.Store {
		s, err := store.Open(t.Context(), u, store.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	s1, s2 := open(), open()
	l, ok, err := s1.TryLockJob(t.Context(), "j")
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = s2.TryLockJob(t.Context(), "j")
	require.NoError(t, err)
	require.False(t, ok, "a second process sees the lock")
	require.NoError(t, l.Release())
	l2, ok, err := s2.TryLockJob(t.Context(), "j")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, l2.Release())
}

func TestJobLock_Release_lostLock(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	l, ok, err := s.TryLockJob(ctx, "j")
	require.NoError(t, err)
	require.True(t, ok)
	// Simulate a connection reset: the server ends the locking session.
	terminateLocks(t, s)
	require.Error(t, l.Release())

	l2, ok, err := s.TryLockJob(ctx, "j")
	require.NoError(t, err)
	require.True(t, ok, "the lock went with the session")
	require.NoError(t, l2.Release())
}

// terminateLocks ends, as a connection reset would, the sessions of this
// test's database holding an advisory lock (other tests share the cluster),
// and waits until they are gone (the timeout form, PostgreSQL 14+).
func terminateLocks(t *testing.T, s *store.Store) {
	t.Helper()
	_, err := s.SQL().ExecContext(t.Context(), `
		SELECT pg_terminate_backend(pid, 10000) FROM pg_locks
		WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	require.NoError(t, err)
}

func TestJobLock_Lost_whenTheSessionEnds(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	l, ok, err := s.TryLockJob(ctx, "step:push_okeybot")
	require.NoError(t, err)
	require.True(t, ok)
	select {
	case <-l.Lost():
		t.Fatal("lost while held")
	default:
	}
	require.NoError(t, l.Err())

	terminateLocks(t, s)
	select {
	case <-l.Lost():
	case <-time.After(30 * time.Second):
		t.Fatal("the loss was not noticed")
	}
	require.ErrorContains(t, l.Err(), "lock step:push_okeybot lost: its database connection failed")
	require.ErrorContains(t, l.Err(), "terminating connection due to administrator command")

	other, ok, err := s.TryLockJob(ctx, "step:push_okeybot")
	require.NoError(t, err)
	require.True(t, ok, "another session may take it now")
	require.ErrorContains(t, l.Release(), "lost")
	require.NoError(t, l.Release(), "twice is harmless")
	require.NoError(t, other.Release())
}
