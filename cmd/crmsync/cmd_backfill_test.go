package main

import (
	"fmt"
	"net/http"
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
  platforms: [line]
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
	st := storetest.Open(t, dbURL)
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
		require.Contains(t, r.stdout, "  messages      windows 4 read, 4 done, 0 already done, 0 failed, 0 given up, 0 released, 0 split; rows 72 received, 72 new, 0 changed, 0 bad; data gaps 0 (0 rows missing); 429s waited out 0\n")
		require.Regexp(t, `\n  line +not pulled yet +per channel +1 +0\n`, r.stdout, "the summary says how each platform was covered")
		require.Equal(t, 72, count(`SELECT count(*) FROM omnichat_messages`))
		require.Equal(t, 1, count(`SELECT count(*) FROM sync_runs WHERE job = 'backfill' AND trigger = 'backfill' AND status = 'ok'
			AND (counts->'pull_messages'->>'rows')::int = 72
			AND (counts->'pull_messages'->>'api_attempts')::int = 5 -- the channel list and one page per window
			AND (counts->'pull_messages'->>'requests')::int = 5 -- the requests made, as the column says
			AND (counts->'pull_tagging_logs'->>'api_attempts')::int = 4
			AND (counts->'pull_tagging_logs'->>'requests')::int = 4
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
			"jobs.yaml:4: omnichat.token: environment variable OMNICHAT_TOKEN is not set"},
		{"OneDateOnlyWithRetry", []string{"backfill", "--retry-gave-up", "--from", "2025-01-01"}, env, "crmsync backfill: --from and --to are required"},
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

// backfillFixture is a fake Omnichat with messages, contacts and tagging
// logs on one LINE channel over 2025-01-01..03 (Bangkok), and a database.
type backfillFixture struct {
	srv   *omnichattest.Server
	st    *store.Store
	env   map[string]string
	dbURL string
}

func newBackfillFixture(t *testing.T, opts omnichattest.Options) *backfillFixture {
	t.Helper()
	dbURL := storetest.NewURL(t)
	srv := omnichattest.NewServer(t, opts)
	ch := omnichat.Channel{Platform: contact.LINE, ChannelID: "1657703186", ChannelName: "Shop"}
	srv.SeedChannels(ch)
	start := time.Date(2024, 12, 31, 17, 0, 0, 0, time.UTC) // 2025-01-01 00:00 in Bangkok
	for i := range 72 {
		text := fmt.Sprintf("message %d", i)
		at := start.Add(time.Duration(i) * time.Hour)
		srv.SeedMessages(omnichat.Message{Platform: ch.Platform, ChannelID: ch.ChannelID, ID: fmt.Sprintf("m%02d", i),
			Time: at, CustomerUserID: "U1", SenderType: "customer", Message: &text})
		srv.SeedContacts(omnichat.Contact{Platform: ch.Platform, ChannelID: ch.ChannelID, ID: fmt.Sprintf("U%02d", i), Name: "C", UpdatedAt: at})
		srv.SeedTaggingLogs(omnichat.TaggingLog{Time: at, Platform: ch.Platform, ChannelID: ch.ChannelID, UserID: fmt.Sprintf("U%02d", i), Tag: "VIP", Source: "bot"})
	}
	st := storetest.Open(t, dbURL)
	return &backfillFixture{srv: srv, st: st, dbURL: dbURL,
		env: map[string]string{"DATABASE_URL": dbURL, "OMNICHAT_BASE_URL": srv.URL, "OMNICHAT_TOKEN": omnichattest.DefaultToken}}
}

func (f *backfillFixture) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.st.SQL().QueryRowContext(t.Context(), q, args...).Scan(&n))
	return n
}

// Issue 12, point 7: a backfill needs the Omnichat token only, however many
// other services the configuration's jobs call, and so does run pull_*.
func TestBackfillCommand_needsOnlyTheOmnichatToken(t *testing.T) {
	t.Parallel()
	f := newBackfillFixture(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff})
	cfg := writeConfig(t, `
timezone: Asia/Bangkok
omnichat:
  token: ${OMNICHAT_TOKEN}
  platforms: [line]
oho:
  api_key: ${OHO_API_KEY}
line:
  channels:
    - channel_id: "1657703186"
      access_token: ${LINE_TOKEN_SHOP}
okeybot:
  channels:
    - name: shop
      token: ${OKEYBOT_TOKEN_SHOP}
      sources: [line]
mapping:
  okeybot:
    custom_fields: [{from: phone_local, name: phone}]
jobs:
  - name: omnichat_pull
    schedule: "*/15 * * * *"
    steps: [pull_messages]
  - name: omnichat_to_oho_contacts
    schedule: "@every 30m"
    steps: [reconcile, push_oho, push_okeybot]
`)
	r := runCLI(t, f.env, "--config", cfg, "--log-level", "error", "backfill", "--from", "2025-01-01", "--to", "2025-01-03", "--streams", "messages")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Equal(t, 72, f.count(t, `SELECT count(*) FROM omnichat_messages`))

	r = runCLI(t, f.env, "--config", cfg, "--log-level", "error", "run", "pull_messages")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	r = runCLI(t, f.env, "--config", cfg, "--log-level", "error", "run", "omnichat_pull")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)

	r = runCLI(t, f.env, "--config", cfg, "--log-level", "error", "run", "omnichat_to_oho_contacts")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "oho.api_key: environment variable OHO_API_KEY is not set", "a push does need its services' secrets")
	require.Contains(t, r.stderr, "(and 2 more", "the LINE and Okeybot tokens")
}

// Issue 12, point 6: a backfill attempts every stream even when one fails,
// and ends failed (exit 1) with each stream's outcome in sync_runs.counts.
func TestBackfillCommand_everyStreamIsAttemptedWhenOneFails(t *testing.T) {
	t.Parallel()
	f := newBackfillFixture(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff})
	f.srv.Refuse(http.StatusBadRequest, func(r *http.Request) bool { return r.URL.Path == "/v1/contacts" })
	cfg := writeConfig(t, backfillConfig)

	r := runCLI(t, f.env, "--config", cfg, "--log-level", "error", "backfill", "--from", "2025-01-01", "--to", "2025-01-03")

	require.Equal(t, 1, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stderr, "pull_contacts: pull contacts: 4 of 4 windows failed")
	require.Regexp(t, `  contacts +windows 4 read, 0 done, 0 already done, 4 failed.* FAILED\n`, r.stdout)
	require.Regexp(t, `  tagging_logs +windows 4 read, 4 done.*rows 72 received`, r.stdout)
	require.Regexp(t, `  messages +windows 4 read, 4 done.*rows 72 received`, r.stdout)
	require.Equal(t, 72, f.count(t, `SELECT count(*) FROM omnichat_messages`))
	require.Equal(t, 72, f.count(t, `SELECT count(*) FROM omnichat_tagging_logs`))
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM sync_runs WHERE job = 'backfill' AND status = 'failed'
		AND (counts->'pull_contacts'->>'failed')::int = 1 AND (counts->'pull_contacts'->>'windows_failed')::int = 4
		AND (counts->'pull_tagging_logs'->>'windows_done')::int = 4 AND (counts->'pull_messages'->>'windows_done')::int = 4
		AND error LIKE '%pull_contacts: pull contacts: 4 of 4 windows failed%'`))
}

// Issue 12, point 6: backfill --retry-gave-up, without dates, reads every
// window given up once more.
func TestBackfillCommand_retryGaveUp(t *testing.T) {
	t.Parallel()
	f := newBackfillFixture(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff})
	cfg := writeConfig(t, backfillConfig)
	r := runCLI(t, f.env, "--config", cfg, "--log-level", "error", "backfill", "--from", "2025-01-01", "--to", "2025-01-03", "--streams", "messages")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	// As if the API had refused the first window's first page five times.
	_, err := f.st.SQL().ExecContext(t.Context(), `UPDATE sync_windows SET status = 'gave_up', attempts = 5, last_error = 'gave up',
		next_page = 1, pages = 0, rows = 0 WHERE window_start = (SELECT min(window_start) FROM sync_windows)`)
	require.NoError(t, err)
	_, err = f.st.SQL().ExecContext(t.Context(), `DELETE FROM omnichat_messages`)
	require.NoError(t, err)

	r = runCLI(t, f.env, "--config", cfg, "--log-level", "error", "backfill", "--from", "2025-01-01", "--to", "2025-01-03", "--streams", "messages")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stdout, "windows 0 read, 0 done, 4 already done", "a plain backfill keeps windows given up")

	r = runCLI(t, f.env, "--config", cfg, "--log-level", "error", "backfill", "--retry-gave-up", "--streams", "messages")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stdout, "windows 1 read, 1 done")
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM sync_windows WHERE status = 'done' AND attempts = 6`))
	require.Positive(t, f.count(t, `SELECT count(*) FROM omnichat_messages`))
	require.Zero(t, f.count(t, `SELECT count(*) FROM sync_windows WHERE status = 'gave_up'`))
}

// Issue 12, point 3: against a fake answering 30% of the requests 429 (with
// Retry-After: 1, waited for real), a backfill exits 0 with every window
// done, every row present, the run ok, and the 429s counted in
// sync_runs.counts. (Figures at a larger size: BenchmarkBackfill_429s.)
func TestBackfillCommand_thirtyPercent429s(t *testing.T) {
	t.Parallel()
	f := newBackfillFixture(t, omnichattest.Options{RateLimitedShare: 0.3, Seed: 3})
	cfg := writeConfig(t, backfillConfig)

	r := runCLI(t, f.env, "--config", cfg, "--log-level", "error", "backfill", "--from", "2025-01-01", "--to", "2025-01-03")

	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Positive(t, f.srv.RateLimited())
	require.Equal(t, 3*72, f.count(t, `SELECT (SELECT count(*) FROM omnichat_messages) + (SELECT count(*) FROM omnichat_contacts) + (SELECT count(*) FROM omnichat_tagging_logs)`))
	require.Zero(t, f.count(t, `SELECT count(*) FROM sync_windows WHERE status <> 'done'`))
	require.Equal(t, f.srv.RateLimited(), f.count(t, `SELECT (counts->'pull_contacts'->>'rate_limited')::int + (counts->'pull_tagging_logs'->>'rate_limited')::int
		+ (counts->'pull_messages'->>'rate_limited')::int FROM sync_runs WHERE job = 'backfill' AND status = 'ok'`), "every 429 counted")
	require.Contains(t, r.stdout, "429s waited out ")
}
