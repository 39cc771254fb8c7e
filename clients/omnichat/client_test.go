package omnichat_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
	"crmsync/clients/internal/faketest"
	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/contact"
)

// day0 is the start of the test data.
var day0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// testBundle is what setup returns besides the client.
type testBundle struct {
	srv   *omnichattest.Server
	clock *omnichattest.Clock
	sleep *faketest.SleepRecorder
}

// setup starts a fake Omnichat with the vendor's limits (rate limit on a
// manual clock) and a client for it whose retry sleeps advance that clock.
func setup(t *testing.T, opts ...omnichattest.Options) (*omnichat.Client, *testBundle) {
	t.Helper()
	clock := omnichattest.NewClock(day0)
	var o omnichattest.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.NowFunc == nil {
		o.NowFunc = clock.Now
	}
	srv := omnichattest.NewServer(t, o)
	sleep := &faketest.SleepRecorder{Clock: clock}
	c, err := omnichat.New(omnichat.Config{
		BaseURL:   srv.URL,
		Token:     omnichattest.DefaultToken,
		Location:  o.Location,
		Limiter:   rate.NewLimiter(rate.Inf, 0), // the fake's limit is the one under test
		SleepFunc: sleep.Sleep,
	})
	require.NoError(t, err)
	return c, &testBundle{srv: srv, clock: clock, sleep: sleep}
}

func TestNew(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		give    omnichat.Config
		wantErr string
	}{
		{name: "Defaults", give: omnichat.Config{Token: "t"}},
		{name: "WithPrefix", give: omnichat.Config{Token: "t", BaseURL: "http://127.0.0.1:9/omnichat/"}},
		{name: "NoToken", give: omnichat.Config{}, wantErr: "token is required"},
		{name: "RelativeURL", give: omnichat.Config{Token: "t", BaseURL: "open-api.omnichat.ai"}, wantErr: "want http(s)://host"},
		{name: "BadScheme", give: omnichat.Config{Token: "t", BaseURL: "ftp://x"}, wantErr: "want http(s)://host"},
		{name: "Unparseable", give: omnichat.Config{Token: "t", BaseURL: "http://[::1"}, wantErr: "base url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := omnichat.New(tt.give)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Nil(t, c)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, c.Contacts)
			require.NotNil(t, c.Channels)
			require.NotNil(t, c.TaggingLogs)
			require.NotNil(t, c.Messages)
		})
	}
}

func TestClient_errors(t *testing.T) {
	t.Parallel()
	week := omnichat.ContactListOptions{Platform: contact.LINE, UpdatedAfter: day0, UpdatedBefore: day0.Add(7 * 24 * time.Hour)}

	tests := []struct {
		name      string
		give      omnichat.ContactListOptions
		token     string
		wantCode  string
		wantMsg   string
		wantClass error
	}{
		{
			name:      "WindowOverSevenDays",
			give:      omnichat.ContactListOptions{Platform: contact.LINE, UpdatedAfter: day0, UpdatedBefore: day0.Add(7*24*time.Hour + time.Millisecond)},
			wantCode:  "INVALID_REQUEST_PARAMETERS",
			wantMsg:   "The date range between after and before cannot exceed 7 days.",
			wantClass: apiclient.ErrRejected,
		},
		{
			name:      "PageSizeOverMax",
			give:      omnichat.ContactListOptions{Platform: contact.LINE, UpdatedAfter: day0, UpdatedBefore: day0.Add(time.Hour), PageSize: 101},
			wantCode:  "INVALID_REQUEST_PARAMETERS",
			wantClass: apiclient.ErrRejected,
		},
		{
			name:      "MissingPlatform",
			give:      omnichat.ContactListOptions{UpdatedAfter: day0, UpdatedBefore: day0.Add(time.Hour)},
			wantCode:  "INVALID_REQUEST_PARAMETERS",
			wantClass: apiclient.ErrRejected,
		},
		{name: "WrongToken", give: week, token: "wrong", wantCode: "UNAUTHORIZED", wantClass: apiclient.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, b := setup(t)
			if tt.token != "" {
				var err error
				c, err = omnichat.New(omnichat.Config{BaseURL: b.srv.URL, Token: tt.token})
				require.NoError(t, err)
			}

			p, err := c.Contacts.List(t.Context(), tt.give)

			require.Nil(t, p)
			var apiErr *apiclient.Error
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tt.wantCode, apiErr.Code)
			if tt.wantMsg != "" {
				require.Equal(t, tt.wantMsg, apiErr.Message)
			}
			require.Equal(t, "omnichat", apiErr.Service)
			require.Equal(t, "/v1/contacts", apiErr.Path)
			require.ErrorIs(t, err, tt.wantClass)
			require.Equal(t, 1, b.srv.RequestCount(), "a refused request is not retried")
			require.NotContains(t, err.Error(), "updatedAfter=", "errors never carry the query string")
		})
	}
}

func TestClient_rateLimitRetried(t *testing.T) {
	t.Parallel()
	c, b := setup(t, omnichattest.Options{RateLimit: 1})

	for range 3 {
		_, err := c.Channels.List(t.Context())
		require.NoError(t, err)
	}

	// Each call after the first meets a 429 (any closed second holds one
	// request) with Retry-After: 2, waits it, and is accepted.
	require.Equal(t, 2, b.srv.RateLimited())
	require.Equal(t, 5, b.srv.RequestCount())
	require.Equal(t, []time.Duration{2 * time.Second, 2 * time.Second}, b.sleep.Waits())
}

func TestClient_serverErrorsRetried(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.FailNext(2, 503)

	chans, err := c.Channels.List(t.Context())

	require.NoError(t, err)
	require.Empty(t, chans)
	require.Equal(t, 3, b.srv.RequestCount())
	require.Len(t, b.sleep.Waits(), 2)
}

func TestClient_serverErrorsExhausted(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.FailNext(10, 500)

	_, err := c.Channels.List(t.Context())

	require.ErrorIs(t, err, apiclient.ErrUnavailable)
	require.Equal(t, apiclient.DefaultMaxAttempts, b.srv.RequestCount())
}

func TestClient_contextCancelled(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := c.Messages.List(ctx, omnichat.MessageListOptions{Platform: contact.LINE, After: day0, Before: day0.Add(time.Hour)})

	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, apiclient.ErrUnavailable)
	require.Equal(t, 0, b.srv.RequestCount())
}

func TestClient_sharedLimiter(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff})
	lim := rate.NewLimiter(rate.Every(time.Hour), 3) // three tokens, no refill during the test
	a, err := omnichat.New(omnichat.Config{BaseURL: srv.URL, Token: omnichattest.DefaultToken, Limiter: lim})
	require.NoError(t, err)
	b, err := omnichat.New(omnichat.Config{BaseURL: srv.URL, Token: omnichattest.DefaultToken, Limiter: lim})
	require.NoError(t, err)

	_, err = a.Channels.List(t.Context())
	require.NoError(t, err)
	_, err = b.Channels.List(t.Context())
	require.NoError(t, err)

	require.InDelta(t, 1, lim.Tokens(), 0.01)
}

// A run of 429s longer than the retry budget is waited out: a 429 never
// spends an attempt (issue 12, point 3).
func TestClient_rateLimitedNeverSpendsTheRetryBudget(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.FailNext(3*apiclient.DefaultMaxAttempts, 429)

	_, err := c.Channels.List(t.Context())

	require.NoError(t, err)
	require.Equal(t, 3*apiclient.DefaultMaxAttempts+1, b.srv.RequestCount())
	require.Len(t, b.sleep.Waits(), 3*apiclient.DefaultMaxAttempts)
	for _, w := range b.sleep.Waits() {
		require.Equal(t, time.Second, w, "Retry-After: 1")
	}
}
