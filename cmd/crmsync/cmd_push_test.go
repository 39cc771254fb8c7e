package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/clients/lineapi/lineapitest"
	"crmsync/clients/oho/ohotest"
	"crmsync/store"
	"crmsync/store/storetest"
)

func TestPushCommand(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewURL(t)
	ohoSrv := ohotest.NewServer(t, ohotest.Options{})
	lineSrv := lineapitest.NewServer(t, lineapitest.Options{})
	const (
		channel = "1656000001"
		bot     = "Ub0000000000000000000000000000001"
		user    = "U00000000000000000000000000000001"
	)
	lineSrv.AddChannel("tok", lineapitest.BotInfo{UserID: bot, BasicID: "@shop", DisplayName: "Shop", ChatMode: "chat", MarkAsReadMode: "manual"})
	lineSrv.AddProfile("tok", lineapitest.Profile{UserID: user, DisplayName: "Mali", PictureURL: "https://profile.line-scdn.net/m"})

	st := storetest.Open(t, dbURL)
	_, err := st.SQL().ExecContext(t.Context(), fmt.Sprintf(`
		WITH c AS (INSERT INTO contacts (name, identities, created_at, updated_at) VALUES ('Mali', 1, now(), now()) RETURNING id)
		INSERT INTO contact_identities (platform, channel_id, user_id, contact_id, first_seen_at, updated_at)
		SELECT 'line', '%s', '%s', id, now(), now() FROM c`, channel, user))
	require.NoError(t, err)

	cfg := writeConfig(t, `
line:
  channels:
    - channel_id: "`+channel+`"
      access_token: ${LINE_TOKEN_MAIN}
jobs: []
`)
	env := map[string]string{
		"DATABASE_URL": dbURL, "OHO_BASE_URL": ohoSrv.URL, "OHO_API_KEY": ohoSrv.APIKey(),
		"LINE_BASE_URL": lineSrv.URL, "LINE_TOKEN_MAIN": "tok",
	}

	t.Run("DryRunPrintsAndSendsNothing", func(t *testing.T) {
		r := runCLI(t, env, "--config", cfg, "--log-level", "error", "push", "--dry-run")
		require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
		require.Contains(t, r.stdout, "  line/"+bot+"/"+user+" create\n")
		require.Contains(t, r.stdout, `    platform_display_name: "" → "Mali"`)
		require.Contains(t, r.stdout, "oho dry run (nothing sent, nothing written): 1 contacts, 1 targets: 1 create")
		require.Empty(t, ohoSrv.Requests())
	})
	t.Run("PushCreates", func(t *testing.T) {
		r := runCLI(t, env, "--config", cfg, "--log-level", "error", "push", "--destination", "oho")
		require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
		require.Contains(t, r.stdout, "oho push: 1 contacts, 1 targets: 1 create")
		_, ok := ohoSrv.Contact(ohotest.Key{Platform: "line", PlatformID: bot, UserID: user})
		require.True(t, ok)

		// A real push runs as the scheduler does: a sync_runs row per destination.
		runs, err := st.ListRuns(t.Context(), store.RunListOptions{Job: "push_oho"})
		require.NoError(t, err)
		require.Len(t, runs, 1)
		require.Equal(t, "manual", runs[0].Trigger)
		require.Equal(t, "ok", runs[0].Status)
		require.Equal(t, int64(1), runs[0].Counts["push_oho"]["created"])
	})

	tests := []struct {
		name       string
		give       []string
		giveEnv    map[string]string
		wantCode   int
		wantStderr string
	}{
		{"OkeybotWithoutChannels", []string{"push", "--destination", "okeybot"}, env, 2, "no Okeybot channel: add okeybot.channels"},
		{"UnknownDestination", []string{"push", "--destination", "x"}, env, 2, `--destination "x": want oho or okeybot`},
		{"NegativeLimit", []string{"push", "--limit", "-1"}, env, 2, "--limit -1: must be 0 or more"},
		{"NoAPIKey", []string{"push"}, map[string]string{"DATABASE_URL": dbURL, "LINE_TOKEN_MAIN": "tok"}, 2, "no Oho API key: set OHO_API_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.giveEnv, append([]string{"--config", cfg}, tt.give...)...)
			require.Equal(t, tt.wantCode, r.code, "stderr: %s", r.stderr)
			require.Contains(t, r.stderr, tt.wantStderr)
		})
	}
}
