package omnichattest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat/omnichattest"
)

// systemUsersAnswer is one answer of GET /v1/system-users.
type systemUsersAnswer struct {
	status int
	body   map[string]json.RawMessage
	users  []string // usernames in content
}

// getSystemUsers sends method /v1/system-users?query with the default token.
func getSystemUsers(t *testing.T, srv *omnichattest.Server, method, query string) systemUsersAnswer {
	t.Helper()
	u := srv.URL + "/v1/system-users"
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+omnichattest.DefaultToken)
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := systemUsersAnswer{status: resp.StatusCode}
	require.NoError(t, json.Unmarshal(b, &a.body), string(b))
	var rows []struct {
		Username string `json:"username"`
	}
	if c, ok := a.body["content"]; ok {
		require.NoError(t, json.Unmarshal(c, &rows))
	}
	for _, r := range rows {
		a.users = append(a.users, r.Username)
	}
	return a
}

func TestServer_systemUsers(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff})
	srv.SeedSystemUsers(omnichattest.SystemUsers(25)...)

	t.Run("FirstPageIsTheDefaultSizeWithoutATotal", func(t *testing.T) {
		a := getSystemUsers(t, srv, http.MethodGet, "")
		require.Equal(t, http.StatusOK, a.status)
		require.Len(t, a.users, 20)
		require.Equal(t, "agent-0001", a.users[0])
		require.NotContains(t, a.body, "totalElements", "the document shows none")
	})
	t.Run("SecondPageHoldsTheRest", func(t *testing.T) {
		a := getSystemUsers(t, srv, http.MethodGet, "page=2")
		require.Equal(t, []string{"agent-0021", "agent-0022", "agent-0023", "agent-0024", "agent-0025"}, a.users)
	})
	t.Run("PastTheEndIsEmpty", func(t *testing.T) {
		a := getSystemUsers(t, srv, http.MethodGet, "page=3")
		require.Equal(t, http.StatusOK, a.status)
		require.Empty(t, a.users)
		require.JSONEq(t, `[]`, string(a.body["content"]))
	})
	t.Run("PageSizeAsked", func(t *testing.T) {
		a := getSystemUsers(t, srv, http.MethodGet, "page=2&pageSize=10")
		require.Len(t, a.users, 10)
		require.Equal(t, "agent-0011", a.users[0])
	})
	t.Run("BadPagingRefused", func(t *testing.T) {
		for _, q := range []string{"page=0", "pageSize=101", "pageSize=x"} {
			a := getSystemUsers(t, srv, http.MethodGet, q)
			require.Equal(t, http.StatusBadRequest, a.status, q)
			require.JSONEq(t, `"INVALID_REQUEST_PARAMETERS"`, string(a.body["errorCode"]), q)
		}
	})
	t.Run("OnlyGet", func(t *testing.T) {
		a := getSystemUsers(t, srv, http.MethodPost, "")
		require.Equal(t, http.StatusMethodNotAllowed, a.status)
	})
}

func TestServer_systemUsers_ignorePaging(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff})
	srv.SeedSystemUsers(omnichattest.SystemUsers(30)...)
	srv.SetSystemUsersPaging(true, 0)

	for _, q := range []string{"", "page=2", "page=9&pageSize=5"} {
		require.Len(t, getSystemUsers(t, srv, http.MethodGet, q).users, 30, q)
	}
}

func TestServer_systemUsers_seedReplacesAndRemoves(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff})
	us := omnichattest.SystemUsers(7)
	srv.SeedSystemUsers(us...)
	us[1].Name = "Renamed"
	srv.SeedSystemUsers(us[1])
	srv.SeedSystemUsersJSON(json.RawMessage(`{"name":"no username"}`), json.RawMessage(`{"name":"no username"}`))

	require.True(t, srv.RemoveSystemUser("agent-0001"))
	require.False(t, srv.RemoveSystemUser("agent-0001"))

	a := getSystemUsers(t, srv, http.MethodGet, "")
	require.Equal(t, []string{"agent-0002", "agent-0003", "agent-0004", "agent-0005", "agent-0006", "agent-0007", "", ""}, a.users,
		"replaced in place; unreadable rows are never merged")
	var rows []map[string]any
	require.NoError(t, json.Unmarshal(a.body["content"], &rows))
	require.Equal(t, "Renamed", rows[0]["name"])
	for _, f := range []string{"phone", "profilePicture", "employeeCode", "shops"} {
		require.Contains(t, rows[5], f)
		require.Nil(t, rows[5][f], "agent-0007 has no %s: null, as in the document's second example", f)
	}
}
