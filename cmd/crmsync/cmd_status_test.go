package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/config"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/schedule"
)

const statusConfig = `timezone: Asia/Bangkok
jobs:
  - name: omnichat_pull
    schedule: "*/15 * * * *"
    steps: [pull_contacts, pull_tagging_logs, pull_messages]
  - name: omnichat_to_oho_contacts
    schedule: "@every 30m"
    steps: [reconcile, push_oho]
  - name: omnichat_to_okeybot_contacts
    schedule: "CRON_TZ=UTC 5,35 * * * *"
    steps: [reconcile]
  - name: weekly_rebuild
    schedule: "@weekly"
    steps: [reconcile]
`

var statusEnv = map[string]string{"OMNICHAT_TOKEN": "t", "OHO_API_KEY": "k"}

// statusNow is 2026-03-02 17:00:00 in Bangkok.
var statusNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// seedStatus writes runs, windows and rejections around statusNow.
func seedStatus(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := t.Context()
	at := func(hhmm string) time.Time { // Bangkok wall time on 2 March 2026
		tm, err := time.ParseInLocation("2006-01-02 15:04", "2026-03-02 "+hhmm, time.FixedZone("ICT", 7*3600))
		require.NoError(t, err)
		return tm
	}
	run := func(job, trigger string, tick, start time.Time, took time.Duration, status, errText string, counts store.RunCounts) {
		t.Helper()
		id, err := st.StartRun(ctx, store.NewRun{Job: job, Trigger: trigger, ScheduledFor: tick, StartedAt: start, Host: "worker-1", PID: 100})
		require.NoError(t, err)
		switch status {
		case store.RunRunning:
			require.NoError(t, st.SetRunCounts(ctx, id, counts, nil))
		default:
			require.NoError(t, st.FinishRun(ctx, id, store.RunEnd{Status: status, FinishedAt: start.Add(took), Counts: counts, Error: errText}))
		}
	}
	pull := store.RunCounts{"pull_contacts": {"pages": 3, "rows": 250, "requests": 3, "rate_limited": 0, "rejections": 1, "duration_ms": 41000}}
	run("omnichat_pull", "schedule", at("16:30"), at("16:30"), 20*time.Second, "failed", "step pull_contacts: omnichat GET /v1/contacts: 503 unavailable", pull)
	run("omnichat_pull", "schedule", at("16:45"), at("16:45"), 90*time.Second, "ok", "", pull)
	_, err := st.SkipRun(ctx, store.NewRun{Job: "omnichat_pull", Trigger: "schedule", ScheduledFor: at("16:45"), StartedAt: at("16:45"), Host: "worker-2"}, "tick already ran")
	require.NoError(t, err)

	run("omnichat_to_oho_contacts", "schedule", at("16:00"), at("16:00"), 5*time.Minute, "ok", "", nil)
	run("omnichat_to_oho_contacts", "schedule", at("16:30"), at("16:30"), 12*time.Second, "failed",
		"step push_oho: oho PATCH /contacts/line/U1: 401 unauthorized\n(check OHO_API_KEY)", store.RunCounts{"reconcile": {"rows": 17}})

	run("omnichat_to_okeybot_contacts", "schedule", at("16:05"), at("16:05"), 3*time.Minute, "interrupted", "step reconcile: interrupted", nil)
	run("omnichat_to_okeybot_contacts", "schedule", at("16:35"), at("16:35"), 0, "running", "", store.RunCounts{"reconcile": {"rows": 4}})

	run("backfill", "backfill", time.Time{}, at("09:00"), 2*time.Hour, "ok", "", nil)
	run("retired_job", "manual", time.Time{}, at("09:00").AddDate(0, 0, -10), time.Minute, "failed", "old failure", nil)

	for _, w := range []struct {
		stream, scope, status, lastErr string
		start                          time.Time
		hours                          int
	}{
		{"contacts", "line/1656000001", "done", "", at("00:00").AddDate(0, 0, -1), 24},
		{"contacts", "line/1656000001", "done", "", at("00:00"), 16},
		{"messages", "line/1656000001", "done", "", at("00:00").AddDate(0, 0, -2), 24},
		{"messages", "line/1656000001", "failed", "omnichat GET /v1/messages: 500 internal", at("00:00").AddDate(0, 0, -1), 24},
		{"messages", "line/1656000001", "pending", "", at("00:00"), 16},
		{"tagging_logs", "", "running", "", at("00:00"), 16},
	} {
		var lastErr any
		if w.lastErr != "" {
			lastErr = w.lastErr
		}
		_, err := st.SQL().ExecContext(ctx, `INSERT INTO sync_windows (stream, scope, window_start, window_end, status, last_error)
			VALUES ($1, $2, $3, $4, $5, $6)`, w.stream, w.scope, w.start, w.start.Add(time.Duration(w.hours)*time.Hour), w.status, lastErr)
		require.NoError(t, err)
	}

	var contactID int64
	require.NoError(t, st.SQL().QueryRowContext(ctx, `INSERT INTO contacts (created_at, updated_at) VALUES ($1, $1) RETURNING id`, at("00:00")).Scan(&contactID))
	for i, r := range []struct {
		dest, reason      string
		created, lastSeen time.Time
	}{
		{"oho", "Bad request", at("15:00"), at("16:30")},
		{"oho", "Bad request", at("10:00").AddDate(0, 0, -3), at("16:30")},
		{"oho", "first_name: longer than 100 characters", at("12:00"), at("12:00")},
		{"oho", "too old to count", at("10:00").AddDate(0, 0, -5), at("10:00").AddDate(0, 0, -2)},
		{"okeybot", "no LINE token for channel 1656000002", at("08:00"), at("16:00")},
	} {
		_, err := st.SQL().ExecContext(ctx, `INSERT INTO push_rejections (destination, contact_id, target_key, reason, payload_hash, created_at, last_seen_at)
			VALUES ($1, $2, 'k', $3, $4, $5, $6)`, r.dest, contactID, r.reason, string(rune('a'+i)), r.created, r.lastSeen)
		require.NoError(t, err)
	}
}

// golden compares got with testdata/name, rewriting it when UPDATE_GOLDEN=1.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with UPDATE_GOLDEN=1 to create it")
	require.Equal(t, string(want), string(got))
}

func TestStatus_seededDatabase(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	seedStatus(t, st)
	cfg, err := config.Parse("jobs.yaml", []byte(statusConfig), func(k string) string { return statusEnv[k] })
	require.NoError(t, err)

	s, err := schedule.BuildStatus(t.Context(), st, cfg, statusNow)
	require.NoError(t, err)

	var table, js bytes.Buffer
	require.NoError(t, writeStatusTable(&table, s))
	require.NoError(t, writeStatusJSON(&js, s))
	golden(t, "status.golden.txt", table.Bytes())
	golden(t, "status.golden.json", js.Bytes())

	require.True(t, s.AnyFailed())
	require.EqualError(t, statusExit(s), "last run failed: omnichat_to_oho_contacts")
}

func TestRun_status_exitCode(t *testing.T) {
	t.Parallel()
	cfgPath := writeConfig(t, statusConfig)
	env := func(url string) map[string]string {
		return map[string]string{"DATABASE_URL": url, "OMNICHAT_TOKEN": "t", "OHO_API_KEY": "k"}
	}

	t.Run("FailedJobExits1", func(t *testing.T) {
		t.Parallel()
		url := storetest.NewURL(t)
		st, err := store.Open(t.Context(), url, store.Options{})
		require.NoError(t, err)
		defer st.Close()
		seedStatus(t, st)

		r := runCLI(t, env(url), "--config", cfgPath, "status")
		require.Equal(t, 1, r.code, r.stderr)
		require.Contains(t, r.stdout, "JOB ")
		require.Contains(t, r.stdout, "omnichat_to_oho_contacts")
		require.Equal(t, "crmsync status: last run failed: omnichat_to_oho_contacts\n", r.stderr)

		r = runCLI(t, env(url), "--config", cfgPath, "status", "--json")
		require.Equal(t, 1, r.code, r.stderr)
		var got schedule.Status
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
		require.Len(t, got.Jobs, 4, "configured jobs; the ad-hoc runs are older than 7 days now")
		require.True(t, got.Jobs[1].Failed)
	})

	t.Run("AllGoodExits0", func(t *testing.T) {
		t.Parallel()
		url := storetest.NewURL(t)
		r := runCLI(t, env(url), "--config", cfgPath, "status")
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, "weekly_rebuild")
		require.Contains(t, r.stdout, "never")
		require.Contains(t, r.stdout, "Pull windows: none yet")
		require.Empty(t, r.stderr)
	})

	t.Run("NoDatabase", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, map[string]string{"OMNICHAT_TOKEN": "t", "OHO_API_KEY": "k"}, "--config", cfgPath, "status")
		require.Equal(t, 1, r.code)
		require.True(t, strings.HasPrefix(r.stderr, "crmsync status: no database configured"), r.stderr)
	})

	t.Run("BadArgument", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, nil, "--config", cfgPath, "status", "extra")
		require.Equal(t, 2, r.code)
		require.Contains(t, r.stderr, `crmsync status: unexpected argument "extra"`)
	})
}
