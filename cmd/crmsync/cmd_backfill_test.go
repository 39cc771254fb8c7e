package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/contact"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/pull"
)

const backfillConfig = `
timezone: Asia/Bangkok
omnichat:
  token: ${OMNICHAT_TOKEN}
  window: 24h
jobs: []
`

func TestBackfillCommand(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewURL(t)
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff})
	ch := omnichat.Channel{Platform: contact.LINE, ChannelID: "1657703186", ChannelName: "Shop"}
	srv.SeedChannels(ch)
	// Days in Asia/Bangkok (UTC+7): 2025-01-01 00:00 there is 2024-12-31 17:00 UTC.
	start := time.Date(2024, 12, 31, 17, 0, 0, 0, time.UTC)
	for i := range 72 {
		text := fmt.Sprintf("message %d", i)
		srv.SeedMessages(omnichat.Message{Platform: ch.Platform, ChannelID: ch.ChannelID, ID: fmt.Sprintf("m%02d", i),
			Time: start.Add(time.Duration(i) * time.Hour), CustomerUserID: "U1", SenderType: "customer", Message: &text})
	}
	srv.SeedMessages(omnichat.Message{Platform: ch.Platform, ChannelID: ch.ChannelID, ID: "outside",
		Time: start.Add(72 * time.Hour), CustomerUserID: "U1", SenderType: "customer"})
	cfg := writeConfig(t, backfillConfig)
	env := map[string]string{"DATABASE_URL": dbURL, "OMNICHAT_BASE_URL": srv.URL, "OMNICHAT_TOKEN": omnichattest.DefaultToken}
	st, err := store.Open(t.Context(), dbURL, store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	count := func(q string) int {
		var n int
		require.NoError(t, st.SQL().QueryRowContext(t.Context(), q).Scan(&n))
		return n
	}

	t.Run("PullsTheWholeLastDay", func(t *testing.T) {
		r := runCLI(t, env, "--config", cfg, "--log-level", "error", "backfill", "--from", "2025-01-01", "--to", "2025-01-03", "--streams", "messages,tagging_logs")
		require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
		require.Contains(t, r.stdout, "backfill run ")
		require.Contains(t, r.stdout, "  tagging_logs  windows 4 read, 4 done, 0 already done")
		require.Contains(t, r.stdout, "  messages      windows 4 read, 4 done, 0 already done, 0 failed, 0 split; rows 72 received, 72 new")
		require.Equal(t, 72, count(`SELECT count(*) FROM omnichat_messages`))
		require.Equal(t, 1, count(`SELECT count(*) FROM sync_runs WHERE job = 'backfill' AND trigger = 'backfill' AND status = 'ok'
			AND (counts->'pull_messages'->>'rows')::int = 72
			AND (counts->'pull_messages'->>'api_attempts')::int = 5 -- the channel list and one page per window
			AND (counts->'pull_tagging_logs'->>'api_attempts')::int = 4
			AND (counts->'pull_messages'->>'rate_limited')::int = 0`))
		require.Equal(t, 8, count(`SELECT count(*) FROM sync_windows WHERE status = 'done'`), "the UTC grid cuts each Bangkok day at 07:00")
	})

	t.Run("SecondRunSkipsDoneWindows", func(t *testing.T) {
		requests := srv.RequestCount()
		r := runCLI(t, env, "--config", cfg, "--log-level", "error", "backfill", "--from", "2025-01-01", "--to", "2025-01-03", "--streams", "messages")
		require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
		require.Contains(t, r.stdout, "  messages      windows 0 read, 0 done, 4 already done")
		require.Equal(t, requests+1, srv.RequestCount(), "only the channel list")
		require.Equal(t, 2, count(`SELECT count(*) FROM sync_runs WHERE job = 'backfill'`))
	})

	tests := []struct {
		name       string
		give       []string
		giveEnv    map[string]string
		wantStderr string
	}{
		{"NoDates", []string{"backfill"}, env, "crmsync backfill: --from and --to are required, e.g. --from 2025-01-01 --to 2025-03-31"},
		{"MalformedFrom", []string{"backfill", "--from", "2025-13-01", "--to", "2025-01-02"}, env, `crmsync backfill: --from "2025-13-01": want a date as YYYY-MM-DD`},
		{"MalformedTo", []string{"backfill", "--from", "2025-01-01", "--to", "01/02/2025"}, env, `crmsync backfill: --to "01/02/2025": want a date as YYYY-MM-DD`},
		{"FromAfterTo", []string{"backfill", "--from", "2025-02-01", "--to", "2025-01-01"}, env, "crmsync backfill: --from 2025-02-01 is after --to 2025-01-01"},
		{"UnknownStream", []string{"backfill", "--from", "2025-01-01", "--to", "2025-01-01", "--streams", "contacts,chats"}, env,
			`crmsync backfill: --streams: unknown stream "chats" (one of contacts, tagging_logs, messages)`},
		{"NoStream", []string{"backfill", "--from", "2025-01-01", "--to", "2025-01-01", "--streams", ","}, env, "crmsync backfill: --streams: name at least one"},
		{"ExtraArgument", []string{"backfill", "--from", "2025-01-01", "--to", "2025-01-01", "now"}, env, `crmsync backfill: unexpected argument "now"`},
		{"NoToken", []string{"backfill", "--from", "2025-01-01", "--to", "2025-01-01"}, map[string]string{"DATABASE_URL": dbURL},
			"crmsync backfill: no Omnichat token: set OMNICHAT_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.giveEnv, append([]string{"--config", cfg}, tt.give...)...)
			require.Equal(t, 2, r.code, "stderr: %s", r.stderr)
			require.Contains(t, r.stderr, tt.wantStderr)
			require.Equal(t, 1, len(splitLines(r.stderr)), "one clear line: %q", r.stderr)
		})
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i, c := range s {
		if c == '\n' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func TestParseDateRange_toIsInclusive(t *testing.T) {
	t.Parallel()
	bkk, err := time.LoadLocation("Asia/Bangkok")
	require.NoError(t, err)
	from, to, err := parseDateRange("2025-01-01", "2025-03-31", bkk)
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 12, 31, 17, 0, 0, 0, time.UTC), from.UTC())
	require.Equal(t, time.Date(2025, 3, 31, 17, 0, 0, 0, time.UTC), to.UTC())

	_, to, err = parseDateRange("2025-01-01", "2025-01-01", time.UTC)
	require.NoError(t, err)
	require.Equal(t, 24*time.Hour, to.Sub(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), "a one-day backfill pulls that whole day")
}

func TestParseStreams(t *testing.T) {
	t.Parallel()
	got, err := parseStreams("messages, contacts,messages")
	require.NoError(t, err)
	require.Equal(t, []pull.Stream{pull.Contacts, pull.Messages}, got, "canonical order, no duplicates")
}
