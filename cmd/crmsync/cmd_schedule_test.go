package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

func TestRun_schedule_badScheduleExits2(t *testing.T) {
	t.Parallel()
	// A schedule the scheduler cannot run is a config error, with its line,
	// before anything touches the database.
	cfg := writeConfig(t, "jobs:\n  - name: rec\n    schedule: \"@every 500ms\"\n    steps: [reconcile]\n")
	r := runCLI(t, nil, "--config", cfg, "schedule")
	require.Equal(t, 2, r.code, r.stderr)
	require.Equal(t, "crmsync: "+cfg+`:3: jobs[0].schedule: invalid schedule: @every 500ms: the interval must be a whole number of seconds, at least 1s`+"\n", r.stderr)
}

func TestRun_schedule_noJobsExits2(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "timezone: UTC\n")
	r := runCLI(t, nil, "--config", cfg, "schedule")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "defines no jobs: nothing to schedule")
}

func TestRun_schedule_catchUpThenStop(t *testing.T) {
	t.Parallel()
	url := storetest.NewURL(t)
	st, err := store.Open(t.Context(), url, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	cfg := writeConfig(t, "jobs:\n  - name: rec\n    schedule: \"@yearly\"\n    steps: [reconcile]\n")

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan result, 1)
	go func() {
		done <- runCLIContext(ctx, t, map[string]string{"DATABASE_URL": url}, "--config", cfg, "schedule", "--metrics-addr", "off")
	}()
	// The job never succeeded: it runs once at start (catch-up).
	require.Eventually(t, func() bool {
		runs, err := st.ListRuns(t.Context(), store.RunListOptions{Job: "rec"})
		return err == nil && len(runs) == 1 && runs[0].Status != store.RunRunning
	}, 10*time.Second, 20*time.Millisecond)
	stop() // SIGTERM
	r := <-done
	require.Equal(t, 0, r.code, r.stderr)

	runs, err := st.ListRuns(t.Context(), store.RunListOptions{Job: "rec"})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "catch-up", runs[0].Trigger)
	require.Equal(t, "ok", runs[0].Status)
	require.Empty(t, runs[0].Error)
	require.False(t, runs[0].ScheduledFor.IsZero())
}

// runCLIContext is runCLI with a context of the caller's: cancelling it is
// what SIGINT/SIGTERM do in main.
func runCLIContext(ctx context.Context, t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}
