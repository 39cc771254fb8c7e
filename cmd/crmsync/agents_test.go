package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat/omnichattest"
	"crmsync/store"
	"crmsync/store/storetest"
)

// crmsync run pull_agents reads the system users and applies
// conversations.quiet_gap; run again, it changes nothing.
func TestRun_pullAgents(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewURL(t)
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff})
	srv.SeedSystemUsers(omnichattest.SystemUsers(25)...)
	cfg := writeConfig(t, "timezone: Asia/Bangkok\nomnichat:\n  token: ${OMNICHAT_TOKEN}\nconversations:\n  quiet_gap: 12h\njobs: []\n")
	env := map[string]string{"DATABASE_URL": dbURL, "OMNICHAT_BASE_URL": srv.URL, "OMNICHAT_TOKEN": omnichattest.DefaultToken}
	st := storetest.Open(t, dbURL)
	count := func(q string) int {
		var n int
		require.NoError(t, st.SQL().QueryRowContext(t.Context(), q).Scan(&n))
		return n
	}
	_, err := st.SQL().ExecContext(t.Context(), `INSERT INTO omnichat_messages (id, platform, channel_id, room_id, customer_user_id, sender_type, sent_at, raw)
		VALUES ('m1', 'line', 'ch', 'r', 'c', 'customer', '2026-01-01 00:00Z', '{}'), ('m2', 'line', 'ch', 'r', 'c', 'customer', '2026-01-01 13:00Z', '{}')`)
	require.NoError(t, err)
	require.Equal(t, 1, count(`SELECT count(*) FROM conversations`), "13 hours apart: one conversation at the default 24h")

	r := runCLI(t, env, "--config", cfg, "--log-level", "error", "run", "pull_agents")

	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Equal(t, 25, count(`SELECT count(*) FROM omnichat_system_users`))
	require.Equal(t, 2, count(`SELECT count(*) FROM conversations`), "rebuilt with the configured 12h")
	cs, err := st.ConversationSettings(t.Context())
	require.NoError(t, err)
	require.Equal(t, store.ConversationSettings{QuietGap: 12 * time.Hour, TimeZone: "Asia/Bangkok"}, cs)
	require.Equal(t, 1, count(`SELECT count(*) FROM sync_runs WHERE job = 'pull_agents' AND status = 'ok'
		AND (counts->'pull_agents'->>'inserted')::int = 25 AND (counts->'pull_agents'->>'pages')::int = 2
		AND (counts->'pull_agents'->>'api_attempts')::int = 3 AND (counts->'pull_agents'->>'conversations_rebuilt')::int = 2`))

	r = runCLI(t, env, "--config", cfg, "--log-level", "error", "run", "pull_agents")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Equal(t, 1, count(`SELECT count(*) FROM sync_runs WHERE job = 'pull_agents' AND status = 'ok'
		AND (counts->'pull_agents'->>'inserted')::int = 0 AND (counts->'pull_agents'->>'updated')::int = 0
		AND (counts->'pull_agents'->>'conversations_rebuilt')::int = 0`))
}
