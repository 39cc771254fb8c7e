package lineapitest_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/lineapi/lineapitest"
)

const (
	token   = "channel-token-a"
	botID   = "U38fa45fe626e225614b3aec24b2f24b2"
	userID  = "U0a0b0c525e1ade1f909a58233f9e9aaa"
	otherID = "U9053fcba2a8ab2bd58021b8da6384e5c"
)

// newServer returns a fake with one channel and one friend.
func newServer() *lineapitest.Server {
	srv := lineapitest.New(lineapitest.Options{})
	srv.AddChannel(token, lineapitest.BotInfo{
		UserID: botID, BasicID: "@042bjiva", DisplayName: "To The Moon",
		PictureURL: "https://profile.line-scdn.net/0h9Jwp", ChatMode: "bot", MarkAsReadMode: "auto",
	})
	srv.AddProfile(token, lineapitest.Profile{DisplayName: "˚♡̴ 𝒇𝒂𝒏𝒈", UserID: userID, Language: "th"})
	return srv
}

func TestServer_ServeHTTP(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		givePath   string
		giveAuth   string
		giveMethod string
		wantStatus int
		wantBody   string
	}{
		{
			name: "BotInfo", givePath: "/v2/bot/info", giveAuth: "Bearer " + token, wantStatus: 200,
			wantBody: `{"userId":"` + botID + `","basicId":"@042bjiva","displayName":"To The Moon",
				"pictureUrl":"https://profile.line-scdn.net/0h9Jwp","chatMode":"bot","markAsReadMode":"auto"}`,
		},
		{
			name: "ProfileOfFriend", givePath: "/v2/bot/profile/" + userID, giveAuth: "Bearer " + token, wantStatus: 200,
			wantBody: `{"displayName":"˚♡̴ 𝒇𝒂𝒏𝒈","userId":"` + userID + `","language":"th"}`,
		},
		{
			name: "ProfileOfStranger", givePath: "/v2/bot/profile/" + otherID, giveAuth: "Bearer " + token,
			wantStatus: 404, wantBody: `{"message":"Not found"}`,
		},
		{
			name: "MalformedUserID", givePath: "/v2/bot/profile/user-1", giveAuth: "Bearer " + token,
			wantStatus: 400, wantBody: `{"message":"The value for the 'userId' parameter is invalid"}`,
		},
		{
			name: "NoAuthorization", givePath: "/v2/bot/info",
			wantStatus: 401, wantBody: `{"message":"` + lineapitest.MsgNoAuth + `"}`,
		},
		{
			name: "NotBearer", givePath: "/v2/bot/info", giveAuth: "Basic " + token,
			wantStatus: 401, wantBody: `{"message":"` + lineapitest.MsgNoAuth + `"}`,
		},
		{
			name: "UnknownToken", givePath: "/v2/bot/info", giveAuth: "Bearer nope",
			wantStatus: 401, wantBody: `{"message":"` + lineapitest.MsgBadToken + `"}`,
		},
		{
			name: "UnknownRoute", givePath: "/v2/bot/followers/ids", giveAuth: "Bearer " + token,
			wantStatus: 404, wantBody: `{"message":"Not found"}`,
		},
		{
			name: "WrongMethod", givePath: "/v2/bot/info", giveAuth: "Bearer " + token, giveMethod: http.MethodPost,
			wantStatus: 404, wantBody: `{"message":"Not found"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer()
			method := tt.giveMethod
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequestWithContext(t.Context(), method, tt.givePath, nil)
			if tt.giveAuth != "" {
				req.Header.Set("Authorization", tt.giveAuth)
			}
			rec := httptest.NewRecorder()

			srv.ServeHTTP(rec, req)

			require.Equal(t, tt.wantStatus, rec.Code)
			require.JSONEq(t, tt.wantBody, rec.Body.String())
			require.NotEmpty(t, rec.Header().Get("x-line-request-id"))
			wantBot := botID
			if tt.wantStatus == http.StatusUnauthorized {
				wantBot = ""
			}
			require.Equal(t, []lineapitest.Request{{Method: method, Path: tt.givePath, Status: tt.wantStatus, Bot: wantBot}}, srv.Requests())
		})
	}
}

func TestServer_AddProfile_perChannel(t *testing.T) {
	t.Parallel()
	srv := newServer()
	srv.AddChannel("channel-token-b", lineapitest.BotInfo{UserID: "Uebef201e98cc729b62147a8ba3099d7c"})
	require.False(t, srv.AddProfile("unknown", lineapitest.Profile{UserID: userID}))

	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v2/bot/profile/"+userID, nil)
	req.Header.Set("Authorization", "Bearer channel-token-b")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)

	require.Equal(t, http.StatusNotFound, rec.Code, "a friend of bot A is a stranger to bot B")
}

func TestServer_RejectNext(t *testing.T) {
	t.Parallel()
	srv := newServer()
	srv.RejectNext(1, http.StatusTooManyRequests, 1100*time.Millisecond)
	srv.RejectNext(1, http.StatusInternalServerError, 0)
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v2/bot/info", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}

	rec := get()
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.Equal(t, "2", rec.Header().Get("Retry-After"))
	require.JSONEq(t, `{"message":"The API rate limit has been exceeded. Try again later."}`, rec.Body.String())
	rec = get()
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Empty(t, rec.Header().Get("Retry-After"))
	require.Equal(t, http.StatusOK, get().Code)
	require.Equal(t, 3, srv.Count("/v2/bot/info"))
}

func TestNewServer_servesOverHTTP(t *testing.T) {
	t.Parallel()
	srv := lineapitest.NewServer(t, lineapitest.Options{})
	srv.AddChannel(token, lineapitest.BotInfo{UserID: botID})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v2/bot/info", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)

	resp, err := (&http.Client{}).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })

	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 1, srv.Count("/v2/bot/info"))
}

func TestServer_ServeHTTP_concurrent(t *testing.T) {
	t.Parallel()
	srv := newServer()
	const n = 20

	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v2/bot/profile/"+userID, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			srv.ServeHTTP(httptest.NewRecorder(), req)
		})
	}
	wg.Wait()

	require.Equal(t, n, srv.Count("/v2/bot/profile/"+userID))
	for _, r := range srv.Requests() {
		require.Equal(t, http.StatusOK, r.Status)
		require.Equal(t, botID, r.Bot)
	}
}
