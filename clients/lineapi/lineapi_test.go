package lineapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/clients/internal/faketest"
	"crmsync/clients/lineapi"
	"crmsync/clients/lineapi/lineapitest"
)

const (
	tokenA   = "channel-access-token-A-never-logged"
	tokenB   = "channel-access-token-B-never-logged"
	botA     = "U38fa45fe626e225614b3aec24b2f24b2"
	botB     = "Uebef201e98cc729b62147a8ba3099d7c"
	friend   = "U0a0b0c525e1ade1f909a58233f9e9aaa"
	stranger = "U9053fcba2a8ab2bd58021b8da6384e5c"
)

var infoA = lineapitest.BotInfo{
	UserID: botA, BasicID: "@042bjiva", DisplayName: "To The Moon",
	PictureURL: "https://profile.line-scdn.net/0h9Jwp", ChatMode: "bot", MarkAsReadMode: "auto",
}

// seed registers channels A and B and one friend of A on srv.
func seed(srv *lineapitest.Server) {
	srv.AddChannel(tokenA, infoA)
	srv.AddChannel(tokenB, lineapitest.BotInfo{UserID: botB, BasicID: "@548unshk", DisplayName: "HelloCheck", ChatMode: "chat", MarkAsReadMode: "manual"})
	srv.AddProfile(tokenA, lineapitest.Profile{
		DisplayName: "˚♡̴ 𝒇𝒂𝒏𝒈", UserID: friend, PictureURL: "https://profile.line-scdn.net/0hfriend",
		StatusMessage: "สวัสดี", Language: "th",
	})
}

// testBundle holds what a test inspects besides the client.
type testBundle struct {
	srv    *lineapitest.Server
	hook   *test.Hook
	sleeps *faketest.SleepRecorder
}

// setup starts a seeded fake LINE API and a client logging at debug level into a hook.
func setup(t *testing.T) (*lineapi.Client, *testBundle) {
	t.Helper()
	b := &testBundle{srv: lineapitest.NewServer(t, lineapitest.Options{}), sleeps: &faketest.SleepRecorder{}}
	seed(b.srv)
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	b.hook = hook
	c, err := lineapi.New(lineapi.Config{
		BaseURL:   b.srv.URL,
		Log:       log,
		Retry:     apiclient.RetryPolicy{MaxAttempts: 3},
		SleepFunc: b.sleeps.Sleep,
	})
	require.NoError(t, err)
	return c, b
}

func TestBot_Info(t *testing.T) {
	t.Parallel()
	c, b := setup(t)

	got, err := c.Bot(tokenA).Info(t.Context())
	require.NoError(t, err)
	again, err := c.Bot(tokenA).Info(t.Context())
	require.NoError(t, err)

	want := lineapi.BotInfo{
		UserID: botA, BasicID: "@042bjiva", DisplayName: "To The Moon",
		PictureURL: "https://profile.line-scdn.net/0h9Jwp", ChatMode: "bot", MarkAsReadMode: "auto",
	}
	require.Equal(t, want, got)
	require.Equal(t, want, again)
	require.Equal(t, 1, b.srv.Count("/v2/bot/info"), "cached per token")
}

func TestBot_Info_cachedPerChannel(t *testing.T) {
	t.Parallel()
	c, b := setup(t)

	for range 3 {
		a, err := c.Bot(tokenA).Info(t.Context())
		require.NoError(t, err)
		require.Equal(t, botA, a.UserID)
		bb, err := c.Bot(tokenB).Info(t.Context())
		require.NoError(t, err)
		require.Equal(t, botB, bb.UserID)
		require.Equal(t, "@548unshk", bb.BasicID)
	}

	var bots []string
	for _, r := range b.srv.Requests() {
		bots = append(bots, r.Bot)
	}
	require.Equal(t, []string{botA, botB}, bots, "one request per channel")
	require.Same(t, c.Bot(tokenA), c.Bot(tokenA))
	require.NotSame(t, c.Bot(tokenA), c.Bot(tokenB))
}

// inProcess is a transport that serves requests with h in the calling
// goroutine, so a synctest bubble sees every blocked goroutine.
type inProcess struct{ h http.Handler }

// RoundTrip implements http.RoundTripper.
func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// gated returns a handler that holds every request until release is closed
// (or the request's context ends) before passing it to srv.
func gated(srv http.Handler, release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			srv.ServeHTTP(w, r)
		case <-r.Context().Done():
			http.Error(w, "gave up", http.StatusServiceUnavailable)
		}
	})
}

func TestBot_Info_oneRequestUnderConcurrentFirstCalls(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := lineapitest.New(lineapitest.Options{})
		seed(srv)
		release := make(chan struct{})
		c, err := lineapi.New(lineapi.Config{BaseURL: "http://line.test", Base: inProcess{gated(srv, release)}})
		require.NoError(t, err)
		bot := c.Bot(tokenA)

		const callers = 20
		type result struct {
			info lineapi.BotInfo
			err  error
		}
		results := make(chan result, callers)
		for range callers {
			go func() {
				info, err := bot.Info(t.Context())
				results <- result{info, err}
			}()
		}
		synctest.Wait() // every caller is blocked: one in the gate, the others waiting for it
		close(release)

		for range callers {
			r := <-results
			require.NoError(t, r.err)
			require.Equal(t, botA, r.info.UserID)
		}
		require.Equal(t, 1, srv.Count("/v2/bot/info"))
	})
}

func TestBot_Info_waiterRetriesWhenSenderGivesUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := lineapitest.New(lineapitest.Options{})
		seed(srv)
		release := make(chan struct{})
		c, err := lineapi.New(lineapi.Config{BaseURL: "http://line.test", Base: inProcess{gated(srv, release)}})
		require.NoError(t, err)
		bot := c.Bot(tokenA)

		senderCtx, cancel := context.WithCancel(t.Context())
		senderErr := make(chan error, 1)
		go func() {
			_, err := bot.Info(senderCtx)
			senderErr <- err
		}()
		synctest.Wait() // the sender's request is in the gate
		waiter := make(chan lineapi.BotInfo, 1)
		go func() {
			info, err := bot.Info(t.Context())
			if err != nil {
				info = lineapi.BotInfo{DisplayName: err.Error()}
			}
			waiter <- info
		}()
		synctest.Wait() // the waiter waits for the sender's request
		cancel()
		require.ErrorIs(t, <-senderErr, context.Canceled)
		synctest.Wait() // the waiter has sent its own request, held in the gate
		close(release)

		require.Equal(t, botA, (<-waiter).UserID)
		require.Equal(t, 1, srv.Count("/v2/bot/info"), "the cancelled request never reached the fake; the waiter's did")
	})
}

func TestBot_Info_failureIsNotCached(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.RejectNext(3, http.StatusInternalServerError, 0) // every attempt of the first call

	_, err := c.Bot(tokenA).Info(t.Context())
	require.ErrorIs(t, err, apiclient.ErrUnavailable)
	got, err := c.Bot(tokenA).Info(t.Context())

	require.NoError(t, err)
	require.Equal(t, botA, got.UserID)
	require.Equal(t, 4, b.srv.Count("/v2/bot/info"))
	require.Len(t, b.sleeps.Waits(), 2, "5xx is retried")
}

func TestBot_Profile(t *testing.T) {
	t.Parallel()
	c, b := setup(t)

	got, err := c.Bot(tokenA).Profile(t.Context(), friend)

	require.NoError(t, err)
	require.Equal(t, lineapi.Profile{
		DisplayName: "˚♡̴ 𝒇𝒂𝒏𝒈", UserID: friend, PictureURL: "https://profile.line-scdn.net/0hfriend",
		StatusMessage: "สวัสดี", Language: "th",
	}, got)
	require.Equal(t, 1, b.srv.Count("/v2/bot/profile/"+friend))
}

func TestBot_Profile_errors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		giveToken   string
		giveUser    string
		wantClass   error
		wantStatus  int
		wantMessage string
		wantPath    string // the escaped path the fake saw, exactly once
	}{
		{
			name: "NotAFriendIsNotFound", giveToken: tokenA, giveUser: stranger,
			wantClass: apiclient.ErrNotFound, wantStatus: 404, wantMessage: "Not found",
			wantPath: "/v2/bot/profile/" + stranger,
		},
		{
			name: "FriendOfAnotherBotIsNotFound", giveToken: tokenB, giveUser: friend,
			wantClass: apiclient.ErrNotFound, wantStatus: 404, wantMessage: "Not found",
			wantPath: "/v2/bot/profile/" + friend,
		},
		{
			name: "UnknownTokenIsUnauthorized", giveToken: "revoked", giveUser: friend,
			wantClass: apiclient.ErrUnauthorized, wantStatus: 401, wantMessage: lineapitest.MsgBadToken,
			wantPath: "/v2/bot/profile/" + friend,
		},
		{
			name: "MalformedUserIDIsRejected", giveToken: tokenA, giveUser: "../info",
			wantClass: apiclient.ErrRejected, wantStatus: 400, wantMessage: lineapitest.MsgInvalidUserID,
			wantPath: "/v2/bot/profile/..%2Finfo",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, b := setup(t)

			_, err := c.Bot(tt.giveToken).Profile(t.Context(), tt.giveUser)

			require.ErrorIs(t, err, tt.wantClass)
			var apiErr *apiclient.Error
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tt.wantStatus, apiErr.Status)
			require.Equal(t, tt.wantMessage, apiErr.Message)
			require.Equal(t, "line", apiErr.Service)
			require.NotEmpty(t, apiErr.RequestID, "from x-line-request-id")
			require.Contains(t, err.Error(), apiErr.RequestID)
			require.NotContains(t, err.Error(), tt.giveToken)
			require.Equal(t, 1, b.srv.Count(tt.wantPath), "a 4xx is final: not retried")
			require.Len(t, b.srv.Requests(), 1)
			require.Empty(t, b.sleeps.Waits())
		})
	}
}

func TestBot_Profile_retriesRateLimit(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.RejectNext(2, http.StatusTooManyRequests, 2*time.Second)

	got, err := c.Bot(tokenA).Profile(t.Context(), friend)

	require.NoError(t, err)
	require.Equal(t, friend, got.UserID)
	require.Equal(t, []time.Duration{2 * time.Second, 2 * time.Second}, b.sleeps.Waits())
	require.Equal(t, 3, b.srv.Count("/v2/bot/profile/"+friend))
}

// A 429 spends none of the three attempts: a burst longer than the retry
// budget is waited out.
func TestBot_Profile_rateLimitSpendsNoAttempts(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.RejectNext(5, http.StatusTooManyRequests, time.Second)

	got, err := c.Bot(tokenA).Profile(t.Context(), friend)

	require.NoError(t, err)
	require.Equal(t, friend, got.UserID)
	require.Len(t, b.sleeps.Waits(), 5)
	require.Equal(t, 6, b.srv.Count("/v2/bot/profile/"+friend))
}

// Past RetryPolicy.MaxRateLimitedWait the last 429 is returned as an error
// of class ErrRateLimited, its Retry-After kept.
func TestBot_Profile_rateLimitedPastMaxRateLimitedWait(t *testing.T) {
	t.Parallel()
	b := &testBundle{srv: lineapitest.NewServer(t, lineapitest.Options{}), sleeps: &faketest.SleepRecorder{}}
	seed(b.srv)
	c, err := lineapi.New(lineapi.Config{
		BaseURL:   b.srv.URL,
		Retry:     apiclient.RetryPolicy{MaxAttempts: 3, MaxRateLimitedWait: 2 * time.Second},
		SleepFunc: b.sleeps.Sleep,
	})
	require.NoError(t, err)
	b.srv.RejectNext(3, http.StatusTooManyRequests, time.Second)

	_, err = c.Bot(tokenA).Profile(t.Context(), friend)

	require.ErrorIs(t, err, apiclient.ErrRateLimited)
	var apiErr *apiclient.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, lineapitest.MsgRateLimited, apiErr.Message)
	require.Equal(t, time.Second, apiErr.RetryAfter)
	require.Equal(t, []time.Duration{time.Second, time.Second}, b.sleeps.Waits())
}

func TestBot_emptyArguments(t *testing.T) {
	t.Parallel()
	c, b := setup(t)

	_, err := c.Bot("").Info(t.Context())
	require.ErrorContains(t, err, "empty channel access token")
	_, err = c.Bot("").Profile(t.Context(), friend)
	require.ErrorContains(t, err, "empty channel access token")
	_, err = c.Bot(tokenA).Profile(t.Context(), "")
	require.ErrorContains(t, err, "empty user id")

	require.Empty(t, b.srv.Requests(), "nothing sent")
}

func TestClient_neverLogsTokens(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.RejectNext(1, http.StatusInternalServerError, 0)

	_, err := c.Bot(tokenA).Info(t.Context())
	require.NoError(t, err)
	_, err = c.Bot(tokenB).Profile(t.Context(), friend)
	require.ErrorIs(t, err, apiclient.ErrNotFound)
	_, err = c.Bot(tokenA).Profile(t.Context(), friend)
	require.NoError(t, err)

	entries := b.hook.AllEntries()
	require.GreaterOrEqual(t, len(entries), 4, "one debug line per attempt, so the check below has something to check")
	for _, e := range entries {
		line, err := e.String()
		require.NoError(t, err)
		for _, tok := range []string{tokenA, tokenB} {
			require.NotContains(t, line, tok)
			for k, v := range e.Data {
				require.NotContains(t, fmt.Sprint(v), tok, "field %s", k)
			}
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		give    lineapi.Config
		wantErr string
	}{
		{name: "Defaults", give: lineapi.Config{}},
		{name: "TrailingSlash", give: lineapi.Config{BaseURL: "http://127.0.0.1:1/"}},
		{name: "RelativeBaseURL", give: lineapi.Config{BaseURL: "api.line.me"}, wantErr: "want http(s)://host"},
		{name: "BaseURLWithQuery", give: lineapi.Config{BaseURL: "https://api.line.me?x=1"}, wantErr: "must not have a query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := lineapi.New(tt.give)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Nil(t, c)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, c.Bot("t"))
		})
	}
}

func TestBot_Profile_errorBody(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		give        string
		wantMessage string
	}{
		{name: "MessageOnly", give: `{"message":"Not found"}`, wantMessage: "Not found"},
		{
			name:        "WithDetails",
			give:        `{"message":"The request body has 2 error(s)","details":[{"message":"May not be empty","property":"messages[0].text"},{"message":"Must be one of the following values: [text]","property":"messages[1].type"}]}`,
			wantMessage: "The request body has 2 error(s) (messages[0].text: May not be empty; messages[1].type: Must be one of the following values: [text])",
		},
		{name: "DetailWithoutProperty", give: `{"message":"Bad","details":[{"message":"why"}]}`, wantMessage: "Bad (why)"},
		{name: "NotJSON", give: `<html>bad gateway</html>`, wantMessage: "Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("x-line-request-id", "req-1")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(tt.give))
			})
			c, err := lineapi.New(lineapi.Config{BaseURL: "http://line.test", Base: inProcess{h}})
			require.NoError(t, err)

			_, err = c.Bot(tokenA).Profile(t.Context(), friend)

			var apiErr *apiclient.Error
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tt.wantMessage, apiErr.Message)
			require.Equal(t, "req-1", apiErr.RequestID)
			require.ErrorIs(t, err, apiclient.ErrRejected)
		})
	}
}
