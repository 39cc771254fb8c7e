package pull_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/pull"
)

// agentsSetup starts a fake Omnichat holding n system users (rate limit
// off) and returns a Puller for it on a fresh database.
func agentsSetup(t *testing.T, n int) (*pull.Puller, *omnichattest.Server, *store.Store) {
	t.Helper()
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff})
	srv.SeedSystemUsers(omnichattest.SystemUsers(n)...)
	c, err := omnichat.New(omnichat.Config{BaseURL: srv.URL, Token: omnichattest.DefaultToken, Limiter: rate.NewLimiter(rate.Inf, 0)})
	require.NoError(t, err)
	st := storetest.New(t)
	p, err := pull.New(pull.Options{Client: c, Store: st})
	require.NoError(t, err)
	return p, srv, st
}

// agentsCount runs a count query.
func agentsCount(t *testing.T, st *store.Store, q string) int {
	t.Helper()
	var n int
	require.NoError(t, st.SQL().QueryRowContext(t.Context(), q).Scan(&n))
	return n
}

func TestPuller_SystemUsers(t *testing.T) {
	t.Parallel()
	p, srv, st := agentsSetup(t, 45)
	srv.SeedSystemUsersJSON(
		json.RawMessage(`{"email":"nobody@example.com","name":"No username"}`),
		json.RawMessage(`{"username":"odd","role":"supervisor"}`),
	)
	ctx := t.Context()

	c, err := p.SystemUsers(ctx, pull.RunOptions{})

	require.NoError(t, err)
	require.Equal(t, 4, c.Requests, "pages of 20, 20 and 7 rows, then the empty page that ends the listing")
	require.Equal(t, 3, c.Pages)
	require.Equal(t, int64(47), c.Rows)
	require.Equal(t, int64(45), c.Inserted)
	require.Equal(t, int64(2), c.Bad)
	require.Equal(t, 45, agentsCount(t, st, `SELECT count(*) FROM omnichat_system_users`))
	require.Equal(t, 1, agentsCount(t, st, `SELECT count(*) FROM omnichat_system_users
		WHERE username = 'agent-0001' AND email = 'agent0001@example.com' AND employee_code = 'E0001' AND role = 7
		  AND shops @> '[{"code":"A01"},{"code":"B02"}]' AND raw ->> 'team' = 'Omnichat'`))
	require.Equal(t, 1, agentsCount(t, st, `SELECT count(*) FROM omnichat_system_users
		WHERE username = 'agent-0007' AND phone = '' AND employee_code = '' AND shops = '[]'`), "absent fields stored empty")
	require.Equal(t, 2, agentsCount(t, st, `SELECT count(*) FROM pull_errors WHERE stream = 'system_users'
		AND reason IN ('missing username', 'role "supervisor": want an integer')`))

	t.Run("AgainChangesNothing", func(t *testing.T) {
		c, err := p.SystemUsers(ctx, pull.RunOptions{})
		require.NoError(t, err)
		require.Zero(t, c.Inserted+c.Updated+c.Missing)
		require.Equal(t, 45, agentsCount(t, st, `SELECT count(*) FROM omnichat_system_users`))
		require.Equal(t, 2, agentsCount(t, st, `SELECT count(*) FROM pull_errors WHERE stream = 'system_users' AND times_seen = 2`))
	})
	t.Run("RenamedAndRemovedUsers", func(t *testing.T) {
		u := omnichattest.SystemUsers(2)[1]
		u.Name = "Agent Two (Bangkok)"
		srv.SeedSystemUsers(u)
		require.True(t, srv.RemoveSystemUser("agent-0003"))

		c, err := p.SystemUsers(ctx, pull.RunOptions{})

		require.NoError(t, err)
		require.Equal(t, int64(1), c.Updated)
		require.Equal(t, int64(1), c.Missing)
		require.Equal(t, 1, agentsCount(t, st, `SELECT count(*) FROM omnichat_system_users WHERE username = 'agent-0002' AND name = 'Agent Two (Bangkok)'`))
		require.Equal(t, 1, agentsCount(t, st, `SELECT count(*) FROM omnichat_system_users WHERE missing_since IS NOT NULL AND username = 'agent-0003'`))
		require.Equal(t, map[string]int64{"page_requests": 4, "pages": 3, "rows": 46, "inserted": 0, "updated": 1, "rejections": 2, "missing": 1}, c.Map())
	})
}

func TestPuller_SystemUsers_serverIgnoresPaging(t *testing.T) {
	t.Parallel()
	p, srv, st := agentsSetup(t, 130)
	srv.SetSystemUsersPaging(true, 0)

	c, err := p.SystemUsers(t.Context(), pull.RunOptions{})

	require.NoError(t, err)
	require.Equal(t, 2, c.Requests, "the second page repeats the first: the listing is complete")
	require.Equal(t, 130, agentsCount(t, st, `SELECT count(*) FROM omnichat_system_users`))
	require.Equal(t, []string{"GET /v1/system-users", "GET /v1/system-users?page=2"}, srv.Requests())
}

func TestPuller_SystemUsers_incompleteListingMarksNoOne(t *testing.T) {
	t.Parallel()
	p, srv, st := agentsSetup(t, 30)
	_, err := p.SystemUsers(t.Context(), pull.RunOptions{})
	require.NoError(t, err)
	require.True(t, srv.RemoveSystemUser("agent-0030"))

	t.Run("Stopped", func(t *testing.T) {
		c, err := p.SystemUsers(t.Context(), pull.RunOptions{StoppingFunc: func() bool { return true }})
		require.ErrorIs(t, err, pull.ErrStopped)
		require.Equal(t, 1, c.Pages, "the page in hand is written")
		require.Zero(t, agentsCount(t, st, `SELECT count(*) FROM omnichat_system_users WHERE missing_since IS NOT NULL`))
	})
	t.Run("Failed", func(t *testing.T) {
		srv.FailNext(1, 401)
		_, err := p.SystemUsers(t.Context(), pull.RunOptions{})
		require.ErrorContains(t, err, "pull system users")
		require.Zero(t, agentsCount(t, st, `SELECT count(*) FROM omnichat_system_users WHERE missing_since IS NOT NULL`))
	})
	t.Run("Complete", func(t *testing.T) {
		c, err := p.SystemUsers(t.Context(), pull.RunOptions{})
		require.NoError(t, err)
		require.Equal(t, int64(1), c.Missing)
	})
}
