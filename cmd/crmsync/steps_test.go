package main

import (
	"context"
	"hash/fnv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/config"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/schedule"
)

// waitFor bounds the tests' waits on events that take milliseconds; it
// only runs out when something is broken.
const waitFor = 30 * time.Second

// terminateLock ends, as a connection reset would, the session holding the
// advisory lock of a job or step (store's "crms" class, key fnv-32a of the
// name), and waits until it is gone. It returns how many it ended.
func terminateLock(t *testing.T, st *store.Store, name string) int {
	t.Helper()
	h := fnv.New32a()
	h.Write([]byte(name))
	var n int
	require.NoError(t, st.SQL().QueryRowContext(context.Background(), `
		SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 2 AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, int64(0x63726d73), int64(h.Sum32())).Scan(&n))
	return n
}

func runnerFor(st *store.Store, steps map[string]schedule.StepFunc) *schedule.Runner {
	return &schedule.Runner{Store: st, Steps: steps, Host: "test", PID: 1}
}

// A step whose lock is lost mid-run (its connection reset) stops before its
// next batch instead of running on unprotected, and is recorded failed; the
// steps after it still run.
func TestExclusive_lostLockStopsTheStepBeforeItsNextBatch(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var batches atomic.Int32
	var laterRan atomic.Bool
	pushing := func(_ context.Context, run *schedule.Run) (schedule.Counts, error) {
		for batch := 1; batch <= 3; batch++ {
			if run.Stopping() {
				return schedule.Counts{"pages": int64(batches.Load())}, schedule.ErrInterrupted
			}
			batches.Add(1)
			if batch == 1 {
				require.Equal(t, 1, terminateLock(t, st, "step:push_okeybot"), "the step's lock, not the job's")
				select {
				case <-run.StopRequested(): // the loss is known
				case <-time.After(waitFor):
					t.Error("the lost lock never stopped the step")
				}
			}
		}
		return schedule.Counts{"pages": 3}, nil
	}
	r := runnerFor(st, map[string]schedule.StepFunc{
		config.StepPushOkeybot: exclusive(st, config.StepPushOkeybot, pushing),
		config.StepPushOho: func(context.Context, *schedule.Run) (schedule.Counts, error) {
			laterRan.Store(true)
			return nil, nil
		},
	})
	res, err := r.RunJob(t.Context(), config.Job{Name: "push", Steps: []string{config.StepPushOkeybot, config.StepPushOho}}, schedule.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, int32(1), batches.Load(), "no batch after the loss")
	require.True(t, laterRan.Load(), "the next step runs")
	require.Equal(t, schedule.StatusFailed, res.Status)
	require.Equal(t, map[string]string{config.StepPushOkeybot: "failed", config.StepPushOho: "ok"}, res.Steps)
	require.ErrorContains(t, res.Err, "step push_okeybot: lock step:push_okeybot lost: its database connection failed: ")
	require.ErrorContains(t, res.Err, "the step stopped after the work in hand, before its next batch")
	got, err := st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, int64(1), got.Counts[config.StepPushOkeybot]["pages"])

	lock, ok, err := st.TryLockJob(t.Context(), "step:push_okeybot")
	require.NoError(t, err)
	require.True(t, ok, "nothing holds the step any more")
	require.NoError(t, lock.Release())
}

// A step another process is running is skipped and recorded skipped, and so
// is the run: not ok, so catch-up and the last-success metric do not take it
// for a success.
func TestExclusive_heldByAnotherProcessIsSkipped(t *testing.T) {
	t.Parallel()
	url := storetest.NewURL(t)
	st, err := store.Open(t.Context(), url, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	other, err := store.Open(t.Context(), url, store.Options{}) // another process's pool
	require.NoError(t, err)
	defer other.Close()
	held, ok, err := other.TryLockJob(t.Context(), "step:push_okeybot")
	require.NoError(t, err)
	require.True(t, ok)

	var ran atomic.Bool
	r := runnerFor(st, map[string]schedule.StepFunc{
		config.StepPushOkeybot: exclusive(st, config.StepPushOkeybot, func(context.Context, *schedule.Run) (schedule.Counts, error) {
			ran.Store(true)
			return nil, nil
		}),
	})
	j := config.Job{Name: "okeybot", Steps: []string{config.StepPushOkeybot}}
	res, err := r.RunJob(t.Context(), j, schedule.TriggerManual)
	require.NoError(t, err)
	require.False(t, ran.Load())
	require.Equal(t, schedule.StatusSkipped, res.Status)
	require.EqualError(t, res.Err, "step push_okeybot: skipped: another process is running it (it holds the step's lock)")
	got, err := st.GetRun(t.Context(), res.RunID)
	require.NoError(t, err)
	require.Equal(t, "skipped", got.Status)
	require.Equal(t, store.StepStatuses{config.StepPushOkeybot: "skipped"}, got.Steps)
	last, err := st.LastSuccess(t.Context(), "okeybot")
	require.NoError(t, err)
	require.True(t, last.IsZero())

	require.NoError(t, held.Release())
	res, err = r.RunJob(t.Context(), j, schedule.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusOK, res.Status)
	require.True(t, ran.Load())
}
