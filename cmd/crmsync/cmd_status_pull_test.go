package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/config"
	"crmsync/store"
	"crmsync/store/storetest"
)

// Issue 12: crmsync status says how each platform is covered, which windows
// were given up and which are done with a data gap.
func TestStatus_pullPart(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := t.Context()
	day := func(n int) time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n) }
	for _, w := range []struct {
		stream, scope, status string
		start                 time.Time
		attempts              int
		total, missing        int64
		lastErr               string
	}{
		{"contacts", "line/1656000001", "done", day(0), 1, 10, 0, ""},
		{"contacts", "facebook", "gave_up", day(0), 5, -1, 0, "gave up after 5 attempts (omnichat.max_window_attempts), refused: omnichat GET /v1/contacts: 400 INVALID_REQUEST_PARAMETERS Refused."},
		{"contacts", "facebook", "done", day(1), 1, 3, 0, ""},
		{"messages", "line/1656000001", "done", day(0), 1, 100, 0, ""},
		{"tagging_logs", "", "done", day(0), 3, 250, 3, "short count: 247 distinct rows of totalElements 250 after 3 reads"},
	} {
		var lastErr, total any
		if w.lastErr != "" {
			lastErr = w.lastErr
		}
		if w.total >= 0 {
			total = w.total
		}
		_, err := st.SQL().ExecContext(ctx, `INSERT INTO sync_windows (stream, scope, window_start, window_end, status, attempts, total_elements, missing_rows, last_error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, w.stream, w.scope, w.start, w.start.Add(24*time.Hour), w.status, w.attempts, total, w.missing, lastErr)
		require.NoError(t, err)
	}
	require.NoError(t, st.UpsertChannels(ctx, []store.ChannelRow{{Platform: "line", ChannelID: "1656000001", ChannelName: "Shop"}}))
	_, err := st.SQL().ExecContext(ctx, `INSERT INTO omnichat_channels (platform, channel_id, raw, listed) VALUES ('facebook', '104512345678901', '{}', false)`)
	require.NoError(t, err)
	cfg, err := config.Parse("jobs.yaml", []byte("timezone: Asia/Bangkok\nomnichat:\n  platforms: [line, facebook, instagram]\n"), func(string) string { return "" })
	require.NoError(t, err)

	ps, err := buildPullStatus(ctx, st, cfg)
	require.NoError(t, err)
	var table bytes.Buffer
	require.NoError(t, writePullStatus(&table, ps, cfg.Location()))
	golden(t, "status_pull.golden.txt", table.Bytes())

	var js bytes.Buffer
	require.NoError(t, writeStatusJSON(&js, statusWithPull{Pull: ps}))
	var got struct {
		Pull struct {
			GaveUp []struct {
				Scope    string `json:"scope"`
				Attempts int    `json:"attempts"`
			} `json:"windows_gave_up"`
			DataGaps []struct {
				MissingRows int64 `json:"missing_rows"`
			} `json:"data_gaps"`
			Platforms []struct {
				Platform string `json:"platform"`
				Contacts string `json:"contacts"`
			} `json:"platforms"`
		} `json:"pull"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &got))
	require.Len(t, got.Pull.GaveUp, 1)
	require.Equal(t, "facebook", got.Pull.GaveUp[0].Scope)
	require.Equal(t, 5, got.Pull.GaveUp[0].Attempts)
	require.Equal(t, int64(3), got.Pull.DataGaps[0].MissingRows)
	require.Equal(t, "platform", got.Pull.Platforms[1].Contacts)
	require.Equal(t, "instagram", got.Pull.Platforms[2].Platform)
	require.Empty(t, got.Pull.Platforms[2].Contacts, "not pulled yet")
}
