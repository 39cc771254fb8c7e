package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

const recConfig = "jobs:\n  - name: rec\n    schedule: \"@hourly\"\n    steps: [reconcile]\n  - name: rec2\n    schedule: \"@daily\"\n    steps: [reconcile]\n"

func TestRun_run_usage(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, recConfig)
	tests := []struct {
		name       string
		give       []string
		wantStderr string
	}{
		{"NoJob", []string{"run"}, "crmsync run: name at least one job (crmsync check-config lists them)"},
		{"UnknownJob", []string{"run", "rec", "nope"}, `crmsync run: unknown job or step "nope" (` + cfg + ` defines jobs: rec, rec2; steps: pull_contacts, pull_tagging_logs, pull_messages, pull_agents, reconcile, push_oho, push_okeybot)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, append([]string{"--config", cfg}, tt.give...)...)
			require.Equal(t, 2, r.code, r.stderr)
			require.Equal(t, tt.wantStderr+"\n", r.stderr)
		})
	}
}

func TestRun_run_recordsEachRun(t *testing.T) {
	t.Parallel()
	url := storetest.NewURL(t)
	cfg := writeConfig(t, recConfig)
	r := runCLI(t, map[string]string{"DATABASE_URL": url}, "--config", cfg, "--log-format", "json", "run", "rec", "rec2")
	require.Equal(t, 0, r.code, r.stderr)

	// One JSON log line per run, in order.
	var runLines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if m["msg"] == "run finished" {
			runLines = append(runLines, m)
		}
	}
	require.Len(t, runLines, 2)
	for i, job := range []string{"rec", "rec2"} {
		l := runLines[i]
		require.Equal(t, job, l["job"])
		require.Equal(t, "manual", l["trigger"])
		require.Equal(t, "ok", l["status"])
		require.NotEmpty(t, l["duration"])
		require.Equal(t, float64(i+1), l["run_id"])
		counts := l["counts"].(map[string]any)
		require.Contains(t, counts, "reconcile")
	}

	st, err := store.Open(t.Context(), url, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	runs, err := st.ListRuns(t.Context(), store.RunListOptions{})
	require.NoError(t, err)
	require.Len(t, runs, 2)
	for _, run := range runs {
		require.Equal(t, "manual", run.Trigger)
		require.Equal(t, "ok", run.Status)
		require.Empty(t, run.Error)
		require.Contains(t, run.Counts, "reconcile")
		require.Equal(t, int64(0), run.Counts["reconcile"]["rate_limited"])
	}
}

// A step name runs that step alone; --full reaches reconcile.
func TestRun_run_stepWithFull(t *testing.T) {
	t.Parallel()
	url := storetest.NewURL(t)
	cfg := writeConfig(t, recConfig)
	env := map[string]string{"DATABASE_URL": url}
	// The first reconcile of a database is a full one whatever is asked;
	// the second is incremental; the third is full because --full says so.
	for _, args := range [][]string{{"run", "reconcile"}, {"run", "reconcile"}, {"run", "--full", "reconcile"}} {
		r := runCLI(t, env, append([]string{"--config", cfg, "--log-format", "json"}, args...)...)
		require.Equal(t, 0, r.code, r.stderr)
	}

	st, err := store.Open(t.Context(), url, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	runs, err := st.ListRuns(t.Context(), store.RunListOptions{})
	require.NoError(t, err)
	require.Len(t, runs, 3)
	full := map[int64]int64{}
	for _, run := range runs {
		require.Equal(t, "reconcile", run.Job)
		require.Equal(t, "ok", run.Status)
		full[run.ID] = run.Counts["reconcile"]["full"]
	}
	require.Equal(t, map[int64]int64{1: 1, 2: 0, 3: 1}, full)
}

func TestRun_run_refusesAnOutdatedSchema(t *testing.T) {
	t.Parallel()
	url := storetest.NewURL(t)
	st, err := store.Open(t.Context(), url, store.Options{})
	require.NoError(t, err)
	defer st.Close()
	_, err = st.SQL().ExecContext(t.Context(), `DELETE FROM `+store.MigrationTable+` WHERE version_id = (SELECT max(version_id) FROM `+store.MigrationTable+`)`)
	require.NoError(t, err)

	r := runCLI(t, map[string]string{"DATABASE_URL": url}, "--config", writeConfig(t, recConfig), "run", "rec")
	require.Equal(t, 1, r.code)
	require.Equal(t, "crmsync run: the database schema is 1 migration(s) behind this crmsync: run crmsync migrate\n", r.stderr)
}
