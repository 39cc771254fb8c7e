package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/clients/okeybot/okeybottest"
	"crmsync/store/storetest"
)

func TestPlanCommand_badUsage(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "jobs: []\n")
	tests := []struct {
		name    string
		give    []string
		wantErr string
	}{
		{"NothingToPlan", []string{"plan"}, "name what to plan"},
		{"UnknownPlan", []string{"plan", "schedule"}, `unknown plan "schedule"`},
		{"BadDestination", []string{"plan", "push", "--destination", "crm"}, `--destination "crm"`},
		{"UnknownFlag", []string{"plan", "push", "--dry"}, "flag provided but not defined: -dry"},
		{"BackfillWithoutDates", []string{"plan", "backfill"}, "--from and --to are required"},
		{"BackfillBadStream", []string{"plan", "backfill", "--from", "2026-01-01", "--to", "2026-01-02", "--streams", "chats"}, "unknown stream"},
		{"BackfillProbeWithoutToken", []string{"plan", "backfill", "--from", "2026-01-01", "--to", "2026-01-02"}, "set OMNICHAT_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			if tt.name != "BackfillProbeWithoutToken" {
				env["OMNICHAT_TOKEN"] = "t"
			}
			r := runCLI(t, env, append([]string{"--config", cfg}, tt.give...)...)
			require.Equal(t, exitBadArgs, r.code, "stdout: %s", r.stdout)
			require.Contains(t, r.stderr, tt.wantErr)
		})
	}
}

// crmsync plan push --json names each credential with its requests and
// seconds, and a push right after makes the requests it planned.
func TestPlanCommand_pushJSONThenPush(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewURL(t)
	srv := okeybottest.NewServer(t, okeybottest.Options{RateScope: okeybottest.PerAccount,
		Channels: []okeybottest.Channel{{Token: "tok-a"}, {Token: "tok-b"}}})
	st := storetest.Open(t, dbURL)
	_, err := st.SQL().ExecContext(t.Context(), `
		WITH c AS (INSERT INTO contacts (name, email, identities, created_at, updated_at)
		           SELECT 'Person ' || n, 'p' || n || '@x.example', 1, now() - interval '1 hour', now() - interval '1 hour'
		           FROM generate_series(1, 3) n RETURNING id, name)
		INSERT INTO contact_identities (platform, channel_id, user_id, contact_id, first_seen_at, updated_at)
		SELECT CASE WHEN name = 'Person 3' THEN 'facebook' ELSE 'line' END, '1656', 'U' || id, id, now(), now() FROM c`)
	require.NoError(t, err)
	cfg := writeConfig(t, `
okeybot:
  rate_scope: account
  rate_headroom: 0.05
  channels:
    - {name: shop_a, token: "${TOK_A}", sources: [line], lookup_field: email}
    - {name: shop_b, token: "${TOK_B}", sources: [facebook]}
mapping:
  okeybot:
    custom_fields: [{from: name, name: name}, {from: email, name: email}]
jobs: []
`)
	env := map[string]string{"DATABASE_URL": dbURL, "OKEYBOT_BASE_URL": srv.URL, "TOK_A": "tok-a", "TOK_B": "tok-b"}

	r := runCLI(t, env, "--config", cfg, "--log-level", "error", "plan", "push", "--destination", "okeybot", "--json")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	var plan struct {
		Destinations []struct {
			Destination string `json:"destination"`
			Create      int    `json:"create"`
		} `json:"destinations"`
		Credentials []struct {
			Credential string         `json:"credential"`
			Requests   int            `json:"requests"`
			Seconds    float64        `json:"seconds"`
			ByKind     map[string]int `json:"by_kind"`
			Channels   []string       `json:"channels"`
		} `json:"credentials"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &plan), r.stdout)
	require.Len(t, plan.Destinations, 1)
	require.Equal(t, 3, plan.Destinations[0].Create)
	require.Len(t, plan.Credentials, 1, "rate_scope account: one limiter for both tokens")
	c := plan.Credentials[0]
	require.Equal(t, "okeybot/shop_a", c.Credential)
	require.Equal(t, []string{"shop_a", "shop_b"}, c.Channels)
	require.Equal(t, map[string]int{"lookup": 2, "create": 3}, c.ByKind)
	require.Equal(t, 5, c.Requests)
	require.InDelta(t, 5/(100*0.95/60), c.Seconds, 0.1)
	require.Zero(t, srv.Calls("tok-a")+srv.Calls("tok-b"), "the plan sends Okeybot nothing")

	r = runCLI(t, env, "--config", cfg, "--log-level", "error", "push", "--destination", "okeybot")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Equal(t, c.Requests, srv.Calls("tok-a")+srv.Calls("tok-b"))
	require.Zero(t, srv.TotalRateLimited())
	var left int
	require.NoError(t, st.SQL().QueryRowContext(t.Context(), `SELECT count(*) FROM run_progress`).Scan(&left))
	require.Zero(t, left, "the progress rows go when the step ends")
}

// plan backfill --no-probe sends nothing and needs no token.
func TestPlanCommand_backfillNoProbeJSON(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewURL(t)
	cfg := writeConfig(t, "timezone: UTC\nomnichat:\n  platforms: [line]\njobs: []\n")
	r := runCLI(t, map[string]string{"DATABASE_URL": dbURL, "OMNICHAT_BASE_URL": "http://127.0.0.1:1"}, "--config", cfg,
		"plan", "backfill", "--from", "2026-01-05", "--to", "2026-01-18", "--streams", "messages", "--no-probe", "--json")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	var plan struct {
		Probe   bool `json:"probe"`
		Streams []struct {
			Stream   string `json:"stream"`
			ToRead   int    `json:"to_read"`
			Requests int    `json:"requests"`
			Unknown  int    `json:"unknown_windows"`
		} `json:"streams"`
		Credentials []struct {
			Credential string  `json:"credential"`
			Requests   int     `json:"requests"`
			Seconds    float64 `json:"seconds"`
		} `json:"credentials"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &plan), r.stdout)
	require.False(t, plan.Probe)
	require.Len(t, plan.Streams, 1)
	require.Equal(t, "messages", plan.Streams[0].Stream)
	require.Equal(t, plan.Streams[0].ToRead, plan.Streams[0].Unknown, "no done window to estimate from")
	require.Equal(t, 1+plan.Streams[0].ToRead, plan.Streams[0].Requests)
	require.Equal(t, "omnichat", plan.Credentials[0].Credential)
	require.Equal(t, plan.Streams[0].Requests, plan.Credentials[0].Requests)
	require.Positive(t, plan.Credentials[0].Seconds)
}
