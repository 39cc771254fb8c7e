package okeybot_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
	"crmsync/clients/internal/faketest"
	"crmsync/clients/okeybot"
	"crmsync/clients/okeybot/okeybottest"
)

const (
	token      = "tok-secret-plain-3f9a"
	viberToken = "tok-secret-viber-77c1"
)

var start = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// testBundle is what setup returns besides the client.
type testBundle struct {
	srv    *okeybottest.Server
	clock  *okeybottest.Clock
	sleeps *faketest.SleepRecorder
	logs   *bytes.Buffer
}

// setup starts a fake with a plain and a Viber channel and a client whose
// limiter is off (the fake's clock, not wall time, decides the rate here),
// whose sleeps advance the fake's clock, and whose debug log is captured.
func setup(t *testing.T, opts okeybottest.Options, cfg okeybot.Config) (*okeybot.Client, *testBundle) {
	t.Helper()
	clock := okeybottest.NewClock(start)
	opts.Channels = append(opts.Channels,
		okeybottest.Channel{Token: token},
		okeybottest.Channel{Token: viberToken, Viber: true})
	opts.NowFunc = clock.Now
	srv := okeybottest.NewServer(t, opts)

	logs := &bytes.Buffer{}
	log := logrus.New()
	log.SetOutput(logs)
	log.SetLevel(logrus.DebugLevel)
	log.SetFormatter(&logrus.JSONFormatter{})
	sleeps := &faketest.SleepRecorder{Clock: clock}

	cfg.BaseURL = srv.URL
	if cfg.LimiterFunc == nil {
		cfg.LimiterFunc = func(string) *rate.Limiter { return nil }
	}
	cfg.SleepFunc = sleeps.Sleep
	cfg.Log = log
	c, err := okeybot.New(cfg)
	require.NoError(t, err)
	return c, &testBundle{srv: srv, clock: clock, sleeps: sleeps, logs: logs}
}

func channel(t *testing.T, c *okeybot.Client, tok string, opts okeybot.ChannelOptions) *okeybot.Channel {
	t.Helper()
	ch, err := c.Channel(tok, opts)
	require.NoError(t, err)
	return ch
}

func customFields(n int) []okeybot.CustomField {
	fs := make([]okeybot.CustomField, n)
	for i := range fs {
		fs[i] = okeybot.CustomField{Name: fmt.Sprintf("f%02d", i), Value: fmt.Sprintf("v%02d", i)}
	}
	return fs
}

func manyTags(n int) []string {
	ts := make([]string, n)
	for i := range ts {
		ts[i] = fmt.Sprintf("tag%02d", i)
	}
	return ts
}

func requestLines(rs []okeybottest.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func TestNew_validatesConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		give    okeybot.Config
		wantErr string
	}{
		{"Defaults", okeybot.Config{}, ""},
		{"RelativeURL", okeybot.Config{BaseURL: "app.okeybot.com/api"}, "is not an absolute http(s) URL"},
		{"FTPURL", okeybot.Config{BaseURL: "ftp://app.okeybot.com/api"}, "is not an absolute http(s) URL"},
		{"QueryInURL", okeybot.Config{BaseURL: "https://app.okeybot.com/api?x=1"}, "must not carry a query"},
		{"NegativeRate", okeybot.Config{RatePerMinute: -1}, "must not be negative"},
		{"NegativeHeadroom", okeybot.Config{Headroom: -0.1}, "headroom -0.1 is outside [0, 0.5)"},
		{"HalfHeadroom", okeybot.Config{Headroom: 0.5}, "headroom 0.5 is outside [0, 0.5)"},
		{"UnknownScope", okeybot.Config{RateScope: 7}, "unknown rate scope 7"},
		{"RateLimitPeriodBelowAMinute", okeybot.Config{Retry: apiclient.RetryPolicy{RateLimitPeriod: 7500 * time.Millisecond}},
			"rate limit period 7.5s is shorter than the minute"},
		{"MaxRateLimitDelayBelowAMinute", okeybot.Config{Retry: apiclient.RetryPolicy{MaxRateLimitDelay: 30 * time.Second}},
			"max rate limit delay 30s would cut a 429's wait below 1m0s"},
		{"MaxRateLimitedWaitBelowOneWait", okeybot.Config{Retry: apiclient.RetryPolicy{MaxRateLimitedWait: time.Minute}},
			"max rate limited wait 1m0s leaves no room for one wait of up to 1m6s"},
		{"MaxRateLimitedWaitForOneWait", okeybot.Config{Retry: apiclient.RetryPolicy{MaxRateLimitedWait: 66 * time.Second}}, ""},
		{"AccountScope", okeybot.Config{RateScope: okeybot.ScopeAccount}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := okeybot.New(tt.give)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Nil(t, c)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, c)
		})
	}
}

func TestClient_Channel(t *testing.T) {
	t.Parallel()

	t.Run("SameTokenSameLimiter", func(t *testing.T) {
		t.Parallel()
		c, err := okeybot.New(okeybot.Config{})
		require.NoError(t, err)
		first := channel(t, c, token, okeybot.ChannelOptions{})
		var wg sync.WaitGroup
		got := make([]*rate.Limiter, 8)
		for i := range got {
			wg.Go(func() {
				ch, err := c.Channel(token, okeybot.ChannelOptions{Name: fmt.Sprint(i)})
				if err == nil {
					got[i] = ch.Limiter()
				}
			})
		}
		wg.Wait()
		for _, lim := range got {
			require.Same(t, first.Limiter(), lim)
		}
		require.NotSame(t, first.Limiter(), channel(t, c, viberToken, okeybot.ChannelOptions{}).Limiter())
	})

	t.Run("DefaultLimiterPacesWithHeadroom", func(t *testing.T) {
		t.Parallel()
		c, err := okeybot.New(okeybot.Config{})
		require.NoError(t, err)
		lim := channel(t, c, token, okeybot.ChannelOptions{}).Limiter()
		require.Equal(t, 1, lim.Burst())
		require.InDelta(t, 97.5/60, float64(lim.Limit()), 1e-9, "100 a minute less 2.5%: one call every 615 ms")

		c, err = okeybot.New(okeybot.Config{RatePerMinute: 50, Headroom: 0.1})
		require.NoError(t, err)
		require.InDelta(t, 45.0/60, float64(channel(t, c, token, okeybot.ChannelOptions{}).Limiter().Limit()), 1e-9)
	})

	t.Run("AccountScopeOneLimiterForEveryToken", func(t *testing.T) {
		t.Parallel()
		var calls []string
		c, err := okeybot.New(okeybot.Config{RateScope: okeybot.ScopeAccount, LimiterFunc: func(tok string) *rate.Limiter {
			calls = append(calls, tok)
			return rate.NewLimiter(1, 1)
		}})
		require.NoError(t, err)
		first := channel(t, c, token, okeybot.ChannelOptions{})
		require.Same(t, first.Limiter(), channel(t, c, viberToken, okeybot.ChannelOptions{Viber: true}).Limiter())
		require.Equal(t, []string{""}, calls, "one limiter, made once")
	})

	t.Run("LimiterFuncCalledOncePerToken", func(t *testing.T) {
		t.Parallel()
		var calls []string
		c, err := okeybot.New(okeybot.Config{LimiterFunc: func(tok string) *rate.Limiter {
			calls = append(calls, tok)
			return rate.NewLimiter(1, 1)
		}})
		require.NoError(t, err)
		channel(t, c, token, okeybot.ChannelOptions{})
		channel(t, c, token, okeybot.ChannelOptions{Viber: true})
		channel(t, c, viberToken, okeybot.ChannelOptions{})
		require.Equal(t, []string{token, viberToken}, calls)
	})

	t.Run("EmptyToken", func(t *testing.T) {
		t.Parallel()
		c, err := okeybot.New(okeybot.Config{})
		require.NoError(t, err)
		ch, err := c.Channel("  ", okeybot.ChannelOptions{})
		require.EqualError(t, err, "okeybot channel: empty token")
		require.Nil(t, ch)
	})
}

// TestChannel_pacesWithHeadroom sends a long run of calls, each when a
// limiter lets it leave (virtual time: Reserve at the clock's time, advance
// by the delay; the client's own throttle is off so that wall time plays no
// part), to a fake counting any 60 s by arrival time with arrival jitter.
// The limiter New builds by default (apiclient.Pace with headroom) meets no
// 429; one spacing calls exactly 600 ms apart is caught.
func TestChannel_pacesWithHeadroom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		limiter func(t *testing.T) *rate.Limiter
		want429 bool
	}{
		{"DefaultPace", func(t *testing.T) *rate.Limiter { return pacer(t, okeybot.Config{})(token) }, false},
		{"ExactlyTheLimit", func(*testing.T) *rate.Limiter { return rate.NewLimiter(rate.Every(600*time.Millisecond), 1) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, b := setup(t, okeybottest.Options{ArrivalJitter: time.Second, JitterSeed: 5}, okeybot.Config{})
			ch := channel(t, c, token, okeybot.ChannelOptions{})
			seeded := b.srv.Seed(token, okeybottest.Contact{})[0]
			lim := tt.limiter(t)

			for range 400 {
				now := b.clock.Now()
				r := lim.ReserveN(now, 1)
				require.True(t, r.OK())
				b.clock.Advance(r.DelayFrom(now))
				_, err := ch.Contacts.Get(t.Context(), seeded.ID)
				require.NoError(t, err, "a 429 is waited out, never returned")
			}

			if tt.want429 {
				require.Positive(t, b.srv.RateLimited(token), "the fake must catch a limiter without headroom")
				return
			}
			require.Zero(t, b.srv.RateLimited(token))
			require.Equal(t, 400, b.srv.Calls(token))
			require.Empty(t, b.sleeps.Waits(), "nothing to wait out")
		})
	}
}

// pacer returns the limiter a Client built with cfg gives each token: the
// one New makes by default, for driving virtual time.
func pacer(t *testing.T, cfg okeybot.Config) func(token string) *rate.Limiter {
	t.Helper()
	c, err := okeybot.New(cfg)
	require.NoError(t, err)
	return func(tok string) *rate.Limiter { return channel(t, c, tok, okeybot.ChannelOptions{}).Limiter() }
}

// With the fake counting the whole account, two tokens paced at 100 a
// minute each meet 429s; okeybot.rate_scope account (one limiter) meets none.
func TestChannel_rateScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		scope   okeybot.RateScope
		want429 bool
	}{
		{"TokenScopeOverrunsAnAccountLimit", okeybot.ScopeToken, true},
		{"AccountScopeHoldsIt", okeybot.ScopeAccount, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, b := setup(t, okeybottest.Options{RateScope: okeybottest.PerAccount}, okeybot.Config{})
			p := pacer(t, okeybot.Config{RateScope: tt.scope})
			chans := []*okeybot.Channel{channel(t, c, token, okeybot.ChannelOptions{}), channel(t, c, viberToken, okeybot.ChannelOptions{Viber: true})}
			lims := []*rate.Limiter{p(token), p(viberToken)}
			ids := []string{b.srv.Seed(token, okeybottest.Contact{})[0].ID, b.srv.Seed(viberToken, okeybottest.Contact{})[0].ID}
			// The two channels take turns, each when its limiter lets it (virtual time).
			for i := range 300 {
				now := b.clock.Now()
				r := lims[i%2].ReserveN(now, 1)
				require.True(t, r.OK())
				b.clock.Advance(r.DelayFrom(now))
				_, err := chans[i%2].Contacts.Get(t.Context(), ids[i%2])
				require.NoError(t, err)
			}
			require.Equal(t, tt.want429, b.srv.TotalRateLimited() > 0, "429s: %d", b.srv.TotalRateLimited())
		})
	}
}

// A 429 without Retry-After (as Okeybot sends it) is waited out a full
// minute or more each time, and the request goes on for as long as the
// context lasts: twenty in a row cost twenty minutes, not a failure.
func TestChannel_rateLimitedWaitsAMinuteAndNeverGivesUp(t *testing.T) {
	t.Parallel()
	c, b := setup(t, okeybottest.Options{}, okeybot.Config{Retry: apiclient.RetryPolicy{MaxAttempts: 1}})
	ch := channel(t, c, token, okeybot.ChannelOptions{})
	id := b.srv.Seed(token, okeybottest.Contact{})[0].ID
	fails := make([]int, 20)
	for i := range fails {
		fails[i] = http.StatusTooManyRequests
	}
	b.srv.FailNext(fails...)

	require.NoError(t, ch.Contacts.Update(t.Context(), id, []okeybot.CustomField{{Name: "a", Value: "b"}}))

	waits := b.sleeps.Waits()
	require.Len(t, waits, 20)
	for _, w := range waits {
		require.GreaterOrEqual(t, w, time.Minute, "the limit's window has passed before the next try")
		require.LessOrEqual(t, w, time.Minute+6*time.Second, "plus at most a tenth of jitter")
	}
	require.Equal(t, 21, b.srv.Calls(token))
}

func TestChannel_waitPastTheDeadlineEndsAsTheDeadline(t *testing.T) {
	t.Parallel()
	c, b := setup(t, okeybottest.Options{}, okeybot.Config{LimiterFunc: func(string) *rate.Limiter {
		return rate.NewLimiter(rate.Every(time.Hour), 1)
	}})
	ch := channel(t, c, token, okeybot.ChannelOptions{})
	id := b.srv.Seed(token, okeybottest.Contact{})[0].ID
	_, err := ch.Contacts.Get(t.Context(), id) // spends the hour's one call
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err = ch.Contacts.Get(ctx, id)
	require.ErrorIs(t, err, context.DeadlineExceeded, "not rate.Limiter's own 'would exceed context deadline'")
	require.Equal(t, 1, b.srv.Calls(token))
}

func TestContactsService_roundTrip(t *testing.T) {
	t.Parallel()
	c, b := setup(t, okeybottest.Options{}, okeybot.Config{})
	ch := channel(t, c, token, okeybot.ChannelOptions{})
	ctx := t.Context()

	id, err := ch.Contacts.Create(ctx, []okeybot.CustomField{
		{Name: "phone", Value: "03244077087"}, {Name: "firstName", Value: "Mahin"}, {Name: "vip", Value: okeybot.Bool(true)},
	})
	require.NoError(t, err)
	require.NoError(t, ch.Contacts.Update(ctx, id, []okeybot.CustomField{{Name: "firstName", Value: "Muhammad Mahin"}}))
	require.NoError(t, ch.Tags.Add(ctx, id, []string{"Blog Updates", "Platform Updates", "VIP"}))
	require.NoError(t, ch.Tags.Remove(ctx, id, []string{"VIP"}))

	got, err := ch.Contacts.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, &okeybot.Contact{
		ID:           id,
		CustomFields: map[string]string{"phone": "03244077087", "firstName": "Muhammad Mahin", "vip": "TRUE"},
		Tags:         []string{"Blog Updates", "Platform Updates"},
		CreatedAt:    start,
	}, got)

	stored, ok := b.srv.Contact(token, id)
	require.True(t, ok)
	require.Equal(t, got.CustomFields, stored.CustomFields)
	require.Equal(t, got.Tags, stored.Tags)

	reqs := b.srv.Requests(token)
	require.Equal(t, []string{
		"POST /api/v1/contact 200",
		"PUT /api/v1/contact/" + id + " 200",
		"POST /api/v1/contact/" + id + "/tags 200",
		"DELETE /api/v1/contact/" + id + "/tags 200",
		"GET /api/v1/contact/" + id + " 200",
	}, requestLines(reqs))
	require.JSONEq(t, `{"custom_fields":[{"name":"firstName","value":"Muhammad Mahin"}]}`, reqs[1].Body)
	require.JSONEq(t, `{"tags":["VIP"]}`, reqs[3].Body, "DELETE carries the tags as a JSON body")
}

func TestContactsService_sendsWhatItIsGiven(t *testing.T) {
	t.Parallel()
	c, b := setup(t, okeybottest.Options{}, okeybot.Config{})
	ch := channel(t, c, token, okeybot.ChannelOptions{})
	id := b.srv.Seed(token, okeybottest.Contact{})[0].ID
	ctx := t.Context()

	require.NoError(t, ch.Contacts.Update(ctx, id, customFields(30)))
	require.NoError(t, ch.Tags.Add(ctx, id, manyTags(10)))
	require.NoError(t, ch.Tags.Remove(ctx, id, manyTags(10)))
	require.NoError(t, ch.Contacts.Update(ctx, id, nil), "no fields: nothing to send")
	require.NoError(t, ch.Tags.Add(ctx, id, nil), "no tags: nothing to send")
	require.NoError(t, ch.Tags.Remove(ctx, id, []string{}), "no tags: nothing to send")

	require.Equal(t, 3, b.srv.Calls(token))
	stored, _ := b.srv.Contact(token, id)
	require.Len(t, stored.CustomFields, 30)
	require.Empty(t, stored.Tags)
}

func TestContactsService_errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		call        func(ctx context.Context, ch *okeybot.Channel, id string) error
		badToken    bool
		wantClass   error
		notClass    error
		wantStatus  int
		wantMessage string
		wantPrefix  string
	}{
		{
			name:     "BadToken",
			badToken: true,
			call: func(ctx context.Context, ch *okeybot.Channel, id string) error {
				_, err := ch.Contacts.Get(ctx, id)
				return err
			},
			wantClass: apiclient.ErrUnauthorized, wantStatus: 401, wantMessage: "API Token is invalid.",
			wantPrefix: "get okeybot contact ",
		},
		{
			name: "UnknownContact",
			call: func(ctx context.Context, ch *okeybot.Channel, _ string) error {
				_, err := ch.Contacts.Get(ctx, "999")
				return err
			},
			wantClass: apiclient.ErrRejected, notClass: apiclient.ErrUnauthorized, wantStatus: 403, wantMessage: "Contact not found.",
			wantPrefix: "get okeybot contact 999: okeybot GET /api/v1/contact/999: 403",
		},
		{
			name: "ThirtyOneFieldsOnUpdate",
			call: func(ctx context.Context, ch *okeybot.Channel, id string) error {
				return ch.Contacts.Update(ctx, id, customFields(31))
			},
			wantClass: apiclient.ErrRejected, notClass: apiclient.ErrUnauthorized,
			wantStatus: 403, wantMessage: "Maximum 30 custom fields per request.",
			wantPrefix: "update okeybot contact ",
		},
		{
			name: "ThirtyOneFieldsOnCreate",
			call: func(ctx context.Context, ch *okeybot.Channel, _ string) error {
				_, err := ch.Contacts.Create(ctx, customFields(31))
				return err
			},
			wantClass: apiclient.ErrRejected, notClass: apiclient.ErrUnauthorized,
			wantStatus: 403, wantMessage: "Maximum 30 custom fields per request.",
			wantPrefix: "create okeybot contact: ",
		},
		{
			name: "ElevenTags",
			call: func(ctx context.Context, ch *okeybot.Channel, id string) error {
				return ch.Tags.Add(ctx, id, manyTags(11))
			},
			wantClass: apiclient.ErrRejected, notClass: apiclient.ErrUnauthorized,
			wantStatus: 403, wantMessage: "Maximum 10 tags per request.",
			wantPrefix: "add okeybot tags to contact ",
		},
		{
			name: "ElevenTagsRemoved",
			call: func(ctx context.Context, ch *okeybot.Channel, id string) error {
				return ch.Tags.Remove(ctx, id, manyTags(11))
			},
			wantClass: apiclient.ErrRejected, wantStatus: 403, wantMessage: "Maximum 10 tags per request.",
			wantPrefix: "remove okeybot tags from contact ",
		},
		{
			name: "CreateWithoutFields",
			call: func(ctx context.Context, ch *okeybot.Channel, _ string) error {
				_, err := ch.Contacts.Create(ctx, nil)
				return err
			},
			wantClass: apiclient.ErrRejected, wantStatus: 403, wantMessage: "The custom fields field is required.",
			wantPrefix: "create okeybot contact: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, b := setup(t, okeybottest.Options{}, okeybot.Config{})
			tok := token
			if tt.badToken {
				tok = "not-a-channel-token"
			}
			ch := channel(t, c, tok, okeybot.ChannelOptions{})
			id := b.srv.Seed(token, okeybottest.Contact{CustomFields: map[string]string{"a": "1"}})[0].ID

			err := tt.call(t.Context(), ch, id)

			require.ErrorIs(t, err, tt.wantClass)
			if tt.notClass != nil {
				require.NotErrorIs(t, err, tt.notClass)
			}
			var ae *apiclient.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, "okeybot", ae.Service)
			require.Equal(t, tt.wantStatus, ae.Status)
			require.Equal(t, tt.wantMessage, ae.Message)
			require.True(t, strings.HasPrefix(err.Error(), tt.wantPrefix), err.Error())
			require.NotContains(t, err.Error(), tok)
			stored, _ := b.srv.Contact(token, id)
			require.Equal(t, map[string]string{"a": "1"}, stored.CustomFields, "nothing changed")
			require.Len(t, b.srv.Contacts(token), 1, "nothing created")
		})
	}
}

func TestContactsService_ListByCustomField_followsPages(t *testing.T) {
	t.Parallel()
	c, b := setup(t, okeybottest.Options{PerPage: 10}, okeybot.Config{})
	ch := channel(t, c, token, okeybot.ChannelOptions{})
	var want []string
	for i := range 30 {
		city := "Lima"
		if i%6 == 5 {
			city = "Cusco" // 5 of 30 do not match
		}
		cs := b.srv.Seed(token, okeybottest.Contact{CustomFields: map[string]string{"city": city, "n": fmt.Sprint(i)}})
		if city == "Lima" {
			want = append(want, cs[0].ID)
		}
	}
	require.Len(t, want, 25)

	got, err := ch.Contacts.ListByCustomField(t.Context(), "city", "Lima")
	require.NoError(t, err)

	ids := make([]string, len(got))
	for i, ct := range got {
		ids[i] = ct.ID
		require.Equal(t, "Lima", ct.CustomFields["city"])
	}
	require.Equal(t, want, ids)
	require.Equal(t, []string{
		"GET /api/v1/contact/by_custom_field?name=city&value=Lima 200",
		"GET /api/v1/contact/by_custom_field?name=city&page=2&value=Lima 200",
		"GET /api/v1/contact/by_custom_field?name=city&page=3&value=Lima 200",
	}, requestLines(b.srv.Requests(token)), "name and value are kept although links.next drops them")
}

func TestContactsService_AllByCustomField(t *testing.T) {
	t.Parallel()

	t.Run("StopsWhenTheCallerStops", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t, okeybottest.Options{PerPage: 2}, okeybot.Config{})
		ch := channel(t, c, token, okeybot.ChannelOptions{})
		for range 6 {
			b.srv.Seed(token, okeybottest.Contact{CustomFields: map[string]string{"vip": "TRUE"}})
		}
		n := 0
		for _, err := range ch.Contacts.AllByCustomField(t.Context(), "vip", okeybot.Bool(true)) {
			require.NoError(t, err)
			n++
			if n == 3 {
				break
			}
		}
		require.Equal(t, 3, n)
		require.Equal(t, 2, b.srv.Calls(token), "the third page is never fetched")
	})

	t.Run("NoMatch", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t, okeybottest.Options{}, okeybot.Config{})
		ch := channel(t, c, token, okeybot.ChannelOptions{})
		got, err := ch.Contacts.ListByCustomField(t.Context(), "city", "Nowhere")
		require.NoError(t, err)
		require.Empty(t, got)
		require.Equal(t, 1, b.srv.Calls(token))
	})

	t.Run("EmptyName", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t, okeybottest.Options{}, okeybot.Config{})
		ch := channel(t, c, token, okeybot.ChannelOptions{})
		_, err := ch.Contacts.ListByCustomField(t.Context(), "", "x")
		require.EqualError(t, err, "list okeybot contacts by custom field: empty field name")
		require.Zero(t, b.srv.Calls(token))
	})
}

// TestContactsService_ListByCustomField_links serves hand-written pages to
// check how links.next is read.
func TestContactsService_ListByCustomField_links(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		giveNext string // links.next of page 1; page 2 has none
		wantErr  string
		wantN    int
	}{
		{"OtherHostStaysOnBaseURL", "http://elsewhere.invalid/api/v1/contact/by_custom_field?page=2", "", 2},
		{"RelativeLink", "/api/v1/contact/by_custom_field?page=2", "", 2},
		{"NotAdvancing", "http://x/api/v1/contact/by_custom_field?page=1", "links.next goes from page 1 to 1", 1},
		{"NoPageNumber", "http://x/api/v1/contact/by_custom_field", "links.next has no page number", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var seen []string
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, r.URL.RawQuery)
				mu.Unlock()
				next := any(nil)
				id := 2
				if r.URL.Query().Get("page") == "" {
					next, id = tt.giveNext, 1
				}
				_ = json.NewEncoder(w).Encode(map[string]any{
					"data":  []any{map[string]any{"id": id, "custom_fields": map[string]any{"email": "a@b.c"}}},
					"links": map[string]any{"next": next},
				})
			}))
			t.Cleanup(hs.Close)
			c, err := okeybot.New(okeybot.Config{BaseURL: hs.URL + "/api", LimiterFunc: func(string) *rate.Limiter { return nil }})
			require.NoError(t, err)
			ch := channel(t, c, token, okeybot.ChannelOptions{})

			n := 0
			var gotErr error
			for ct, err := range ch.Contacts.AllByCustomField(t.Context(), "email", "a@b.c") {
				if err != nil {
					gotErr = err
					break
				}
				n++
				require.Equal(t, fmt.Sprint(n), ct.ID, "numeric ids read as strings")
			}
			require.Equal(t, tt.wantN, n)
			if tt.wantErr != "" {
				require.ErrorContains(t, gotErr, tt.wantErr)
				require.NotContains(t, gotErr.Error(), "a@b.c", "the value never appears in errors")
				return
			}
			require.NoError(t, gotErr)
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, []string{"name=email&value=a%40b.c", "name=email&page=2&value=a%40b.c"}, seen)
		})
	}
}

func TestChannel_viberIDsEncoded(t *testing.T) {
	t.Parallel()
	c, b := setup(t, okeybottest.Options{}, okeybot.Config{})
	ch := channel(t, c, viberToken, okeybot.ChannelOptions{Viber: true})
	ctx := t.Context()

	id, err := ch.Contacts.Create(ctx, []okeybot.CustomField{{Name: "firstName", Value: "Ana"}})
	require.NoError(t, err)
	require.True(t, strings.ContainsAny(id, "+/="), "the fake makes Viber-like ids: %q", id)

	require.NoError(t, ch.Contacts.Update(ctx, id, []okeybot.CustomField{{Name: "lastName", Value: "Paz"}}))
	require.NoError(t, ch.Tags.Add(ctx, id, []string{"viber"}))
	got, err := ch.Contacts.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, id, got.ID, "ids come back raw")
	require.Equal(t, map[string]string{"firstName": "Ana", "lastName": "Paz"}, got.CustomFields)
	require.Equal(t, []string{"viber"}, got.Tags)

	enc := base64.StdEncoding.EncodeToString([]byte(id))
	wantSeg := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(enc)
	require.Equal(t, wantSeg, okeybot.PathID(id, true))
	require.Equal(t, []string{
		"POST /api/v1/contact 200",
		"PUT /api/v1/contact/" + wantSeg + " 200",
		"POST /api/v1/contact/" + wantSeg + "/tags 200",
		"GET /api/v1/contact/" + wantSeg + " 200",
	}, requestLines(b.srv.Requests(viberToken)))

	plain := channel(t, c, viberToken, okeybot.ChannelOptions{})
	_, err = plain.Contacts.Get(ctx, id)
	require.True(t, okeybot.MaybeMissing(err), "without the Viber option the raw id is refused: %v", err)
}

func TestPathID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		giveID    string
		giveViber bool
		want      string
	}{
		{"PlainDigits", "1776025372480910", false, "1776025372480910"},
		{"PlainEscapesReserved", "cus_1/2+3 4", false, "cus_1%2F2%2B3%204"},
		{"ViberBase64", "01234567890A=", true, "MDEyMzQ1Njc4OTBBPQ%3D%3D"},
		{"ViberSlashAndPlus", "\xfb\xff", true, "%2B%2F8%3D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, okeybot.PathID(tt.giveID, tt.giveViber))
		})
	}
}

func TestChannel_honoursTooManyRequests(t *testing.T) {
	t.Parallel()
	c, b := setup(t, okeybottest.Options{}, okeybot.Config{})
	ch := channel(t, c, token, okeybot.ChannelOptions{})
	id := b.srv.Seed(token, okeybottest.Contact{})[0].ID
	ctx := t.Context()

	// 100 calls at one instant fill the minute; the client's limiter is off,
	// so the 101st reaches the fake and gets 429, without Retry-After.
	for range 100 {
		_, err := ch.Contacts.Get(ctx, id)
		require.NoError(t, err)
	}
	require.NoError(t, ch.Contacts.Update(ctx, id, []okeybot.CustomField{{Name: "a", Value: "b"}}))

	waits := b.sleeps.Waits()
	require.Len(t, waits, 1)
	require.GreaterOrEqual(t, waits[0], time.Minute, "no Retry-After: the limit's minute is waited")
	require.Equal(t, 1, b.srv.RateLimited(token))
	reqs := b.srv.Requests(token)
	require.Equal(t, []string{"PUT /api/v1/contact/" + id + " 429", "PUT /api/v1/contact/" + id + " 200"},
		requestLines(reqs[len(reqs)-2:]))
	stored, _ := b.srv.Contact(token, id)
	require.Equal(t, "b", stored.CustomFields["a"])
}

func TestChannel_retries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		giveFail     []int
		giveAttempts int
		call         func(ctx context.Context, ch *okeybot.Channel, id string) error
		wantErr      error
		wantCalls    int
		wantMinutes  int // waits of a minute (plus jitter) after a 429; the other waits are back-offs
	}{
		{
			name:     "TagsAddIsIdempotent",
			giveFail: []int{http.StatusTooManyRequests, http.StatusTooManyRequests},
			call: func(ctx context.Context, ch *okeybot.Channel, id string) error {
				return ch.Tags.Add(ctx, id, []string{"x"})
			},
			wantCalls: 3, wantMinutes: 2,
		},
		{
			name:     "TagsRemoveIsRetried",
			giveFail: []int{http.StatusTooManyRequests},
			call: func(ctx context.Context, ch *okeybot.Channel, id string) error {
				return ch.Tags.Remove(ctx, id, []string{"x"})
			},
			wantCalls: 2, wantMinutes: 1,
		},
		{
			// A 429 is refused before anything is created, so even a create is sent again.
			name:     "CreateRetriedAfter429",
			giveFail: []int{http.StatusTooManyRequests},
			call: func(ctx context.Context, ch *okeybot.Channel, _ string) error {
				_, err := ch.Contacts.Create(ctx, []okeybot.CustomField{{Name: "a", Value: "b"}})
				return err
			},
			wantCalls: 2, wantMinutes: 1,
		},
		{
			// A 5xx may come after the contact was created: a create is not sent again.
			name:     "CreateNotRetriedAfter5xx",
			giveFail: []int{http.StatusBadGateway},
			call: func(ctx context.Context, ch *okeybot.Channel, _ string) error {
				_, err := ch.Contacts.Create(ctx, []okeybot.CustomField{{Name: "a", Value: "b"}})
				return err
			},
			wantErr: apiclient.ErrUnavailable, wantCalls: 1,
		},
		{
			name:         "GivesUpAfterMaxAttempts",
			giveFail:     []int{http.StatusBadGateway, http.StatusBadGateway, http.StatusBadGateway},
			giveAttempts: 2,
			call: func(ctx context.Context, ch *okeybot.Channel, id string) error {
				_, err := ch.Contacts.Get(ctx, id)
				return err
			},
			wantErr: apiclient.ErrUnavailable, wantCalls: 2, // one jittered back-off wait
		},
		{
			name:         "RateLimitedSpendsNoAttempts",
			giveFail:     []int{http.StatusTooManyRequests, http.StatusTooManyRequests, http.StatusTooManyRequests},
			giveAttempts: 2,
			call: func(ctx context.Context, ch *okeybot.Channel, id string) error {
				_, err := ch.Contacts.Get(ctx, id)
				return err
			},
			wantCalls: 4, wantMinutes: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			attempts := 3
			if tt.giveAttempts > 0 {
				attempts = tt.giveAttempts
			}
			c, b := setup(t, okeybottest.Options{}, okeybot.Config{Retry: apiclient.RetryPolicy{MaxAttempts: attempts}})
			ch := channel(t, c, token, okeybot.ChannelOptions{})
			id := b.srv.Seed(token, okeybottest.Contact{Tags: []string{"x"}})[0].ID
			b.srv.FailNext(tt.giveFail...)

			err := tt.call(t.Context(), ch, id)

			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.wantCalls, b.srv.Calls(token))
			waits := b.sleeps.Waits()
			require.Len(t, waits, tt.wantCalls-1)
			minutes := 0
			for _, w := range waits {
				if w >= time.Minute {
					require.LessOrEqual(t, w, time.Minute+6*time.Second)
					minutes++
				}
			}
			require.Equal(t, tt.wantMinutes, minutes)
		})
	}
}

func TestChannel_neverLogsToken(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var observed []apiclient.RequestInfo
	c, b := setup(t, okeybottest.Options{}, okeybot.Config{
		Retry:    apiclient.RetryPolicy{MaxAttempts: 2},
		Observer: func(ri apiclient.RequestInfo) { mu.Lock(); observed = append(observed, ri); mu.Unlock() },
	})
	const phone = "66812345678"
	ch := channel(t, c, token, okeybot.ChannelOptions{Name: "line-th"})
	bad := channel(t, c, "tok-wrong-secret-0000", okeybot.ChannelOptions{})
	id := b.srv.Seed(token, okeybottest.Contact{CustomFields: map[string]string{"phone": phone}})[0].ID
	ctx := t.Context()

	var errs []error
	_, err := ch.Contacts.Get(ctx, id)
	errs = append(errs, err)
	b.srv.FailNext(http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	_, err = ch.Contacts.ListByCustomField(ctx, "phone", phone) // 429 (no attempt spent), then 503 on both attempts
	errs = append(errs, err)
	_, err = ch.Contacts.ListByCustomField(ctx, "phone", phone)
	errs = append(errs, err)
	_, err = bad.Contacts.Get(ctx, id)
	errs = append(errs, err)

	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], apiclient.ErrUnavailable)
	require.NoError(t, errs[2])
	require.ErrorIs(t, errs[3], apiclient.ErrUnauthorized)

	logs := b.logs.String()
	require.Equal(t, 6, strings.Count(logs, `"msg":"http attempt"`), logs)
	require.Contains(t, logs, `"channel":"line-th"`)
	require.Contains(t, logs, `"service":"okeybot"`)
	for _, secret := range []string{token, "tok-wrong-secret-0000", "Bearer", phone} {
		require.NotContains(t, logs, secret)
		for _, err := range errs {
			if err != nil {
				require.NotContains(t, err.Error(), secret)
			}
		}
	}

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, observed, 6)
	require.Equal(t, "okeybot", observed[1].Service)
	require.Equal(t, "/api/v1/contact/by_custom_field", observed[1].Path)
	require.Equal(t, http.StatusTooManyRequests, observed[1].Status)
	require.Equal(t, 2, observed[2].Attempt)
}

func TestContact_UnmarshalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		give    string
		want    okeybot.Contact
		wantErr string
	}{
		{
			name: "DocumentExample",
			give: `{"id":"1776025372480910","custom_fields":{"firstName":"Mahin","timezone":"5","customerid":"1"},
				"tags":["Blog Updates","Platform Updates"],"created_at":1575618542}`,
			want: okeybot.Contact{
				ID: "1776025372480910", CustomFields: map[string]string{"firstName": "Mahin", "timezone": "5", "customerid": "1"},
				Tags: []string{"Blog Updates", "Platform Updates"}, CreatedAt: time.Unix(1575618542, 0).UTC(),
			},
		},
		{
			name: "NumericIDAndScalarValues",
			give: `{"id":1776025372480910,"custom_fields":{"age":41,"score":4.5,"vip":true,"optout":false,"gone":null},"tags":[]}`,
			want: okeybot.Contact{
				ID: "1776025372480910", Tags: []string{},
				CustomFields: map[string]string{"age": "41", "score": "4.5", "vip": "TRUE", "optout": "FALSE"},
			},
		},
		{
			name: "CustomFieldsAsList",
			give: `{"id":"7","custom_fields":[{"name":"a","value":"1"},{"name":"b","value":2},{"key":"c","value":true},{"name":"d","value":null}]}`,
			want: okeybot.Contact{ID: "7", CustomFields: map[string]string{"a": "1", "b": "2", "c": "TRUE"}},
		},
		{
			name: "EmptyCustomFieldsAsPHPArray",
			give: `{"id":"7","custom_fields":[],"tags":null,"created_at":null}`,
			want: okeybot.Contact{ID: "7", CustomFields: map[string]string{}},
		},
		{
			name: "LooseTagsAndDateString",
			give: `{"id":"7","tags":["a",12,{"name":"b"},null,""],"created_at":"2019-12-06 07:49:02"}`,
			want: okeybot.Contact{
				ID: "7", CustomFields: map[string]string{}, Tags: []string{"a", "12", "b"},
				CreatedAt: time.Date(2019, 12, 6, 7, 49, 2, 0, time.UTC),
			},
		},
		{
			name: "CreatedAtMillisAndStrings",
			give: `{"id":"7","created_at":1575618542000}`,
			want: okeybot.Contact{ID: "7", CustomFields: map[string]string{}, CreatedAt: time.Unix(1575618542, 0).UTC()},
		},
		{
			name: "CreatedAtNumericString",
			give: `{"id":"7","created_at":"1575618542"}`,
			want: okeybot.Contact{ID: "7", CustomFields: map[string]string{}, CreatedAt: time.Unix(1575618542, 0).UTC()},
		},
		{
			name: "UnreadableCreatedAtIsZero",
			give: `{"id":"7","created_at":"yesterday"}`,
			want: okeybot.Contact{ID: "7", CustomFields: map[string]string{}},
		},
		{name: "MissingID", give: `{"custom_fields":{}}`, wantErr: "id (missing) is not a string or number"},
		{name: "NullID", give: `{"id":null}`, wantErr: "id null is not a string or number"},
		{name: "CustomFieldsString", give: `{"id":"7","custom_fields":"x"}`, wantErr: "custom_fields is neither an object nor a list"},
		{name: "NamelessListField", give: `{"id":"7","custom_fields":[{"value":"x"}]}`, wantErr: "custom_fields[0]: no name"},
		{name: "TagsObject", give: `{"id":"7","tags":{"a":1}}`, wantErr: "tags is not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got okeybot.Contact
			err := json.Unmarshal([]byte(tt.give), &got)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestBool(t *testing.T) {
	t.Parallel()
	require.Equal(t, "TRUE", okeybot.Bool(true))
	require.Equal(t, "FALSE", okeybot.Bool(false))
}

func TestGeneralError_isRejectedNotUnauthorized(t *testing.T) {
	t.Parallel()
	c, b := setup(t, okeybottest.Options{}, okeybot.Config{})
	ch := channel(t, c, token, okeybot.ChannelOptions{})
	id := b.srv.Seed(token, okeybottest.Contact{})[0].ID
	b.srv.FailNext(http.StatusForbidden)

	_, err := ch.Contacts.Get(t.Context(), id)

	require.ErrorIs(t, err, apiclient.ErrRejected)
	require.NotErrorIs(t, err, apiclient.ErrUnauthorized)
	var ae *apiclient.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "Message String", ae.Message)
	require.Equal(t, "get okeybot contact "+id+": okeybot GET /api/v1/contact/"+id+": 403 Message String", err.Error())
}
