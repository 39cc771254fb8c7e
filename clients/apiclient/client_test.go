package apiclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
	"crmsync/clients/internal/faketest"
)

// reply is one scripted response of a scriptServer.
type reply struct {
	status int
	header map[string]string
	body   string
	hangup bool // close the connection without answering
}

// scriptServer answers requests with its replies in order, repeating the
// last one, and records what it received.
type scriptServer struct {
	*httptest.Server
	mu      sync.Mutex
	replies []reply
	calls   int
	bodies  []string
	auth    []string
	queries []string
}

// newScriptServer starts a scriptServer closed when t ends.
func newScriptServer(t *testing.T, replies ...reply) *scriptServer {
	t.Helper()
	s := &scriptServer{replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *scriptServer) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	i := min(s.calls, len(s.replies)-1)
	s.calls++
	s.bodies = append(s.bodies, string(b))
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	s.queries = append(s.queries, r.URL.RawQuery)
	rp := s.replies[i]
	s.mu.Unlock()
	if rp.hangup {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rp.status)
	_, _ = io.WriteString(w, rp.body)
}

// Calls returns how many requests the server received.
func (s *scriptServer) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// decodeTestErr reads {"errorCode","message"}.
func decodeTestErr(body []byte) (string, string) {
	var e struct {
		ErrorCode string `json:"errorCode"`
		Message   string `json:"message"`
	}
	_ = json.Unmarshal(body, &e)
	return e.ErrorCode, e.Message
}

var fixedNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestNewHTTPClient_Retry(t *testing.T) {
	t.Parallel()

	ok := reply{status: 200, body: `{"n":1}`}
	unavailable := reply{status: 503, body: `{"errorCode":"DOWN","message":"try later"}`}
	tooMany := func(after string) reply {
		return reply{status: 429, header: map[string]string{"Retry-After": after}, body: `{"errorCode":"TOO_MANY","message":"slow down"}`}
	}
	unavailableAfter := func(after string) reply {
		return reply{status: 503, header: map[string]string{"Retry-After": after}, body: `{"errorCode":"DOWN","message":"try later"}`}
	}

	tests := []struct {
		name       string
		give       []reply
		policy     apiclient.RetryPolicy
		wantCalls  int
		wantWaits  []time.Duration // exact waits; nil when checked by wantCeils
		wantCeils  []time.Duration // upper bounds for jittered waits
		wantFloor  time.Duration   // lower bound of every jittered wait
		wantStatus int             // 0 when Do must succeed
		wantClass  error
	}{
		{
			name:      "ServiceUnavailableThenSuccess",
			give:      []reply{unavailable, ok},
			wantCalls: 2,
			wantCeils: []time.Duration{500 * time.Millisecond},
		},
		{
			name:      "TooManyRequestsHonoursRetryAfterSeconds",
			give:      []reply{tooMany("3"), ok},
			wantCalls: 2,
			wantWaits: []time.Duration{3 * time.Second},
		},
		{
			name:      "TooManyRequestsHonoursRetryAfterHTTPDate",
			give:      []reply{tooMany(fixedNow.Add(7 * time.Second).Format(http.TimeFormat)), ok},
			wantCalls: 2,
			wantWaits: []time.Duration{7 * time.Second},
		},
		{
			name:      "RetryAfterOf429CappedByMaxRateLimitDelay",
			give:      []reply{tooMany("7200"), ok},
			policy:    apiclient.RetryPolicy{MaxDelay: 10 * time.Second, MaxRateLimitDelay: 15 * time.Minute},
			wantCalls: 2,
			wantWaits: []time.Duration{15 * time.Minute},
		},
		{
			name:      "RetryAfterOf503CappedByMaxDelay",
			give:      []reply{unavailableAfter("120"), ok},
			policy:    apiclient.RetryPolicy{MaxDelay: 10 * time.Second},
			wantCalls: 2,
			wantWaits: []time.Duration{10 * time.Second},
		},
		{
			name:       "MaxWaitStopsRetryingFailures",
			give:       []reply{unavailableAfter("3")},
			policy:     apiclient.RetryPolicy{MaxWait: 5 * time.Second},
			wantCalls:  2,
			wantWaits:  []time.Duration{3 * time.Second},
			wantStatus: 503,
			wantClass:  apiclient.ErrUnavailable,
		},
		{
			name:      "TooManyRequestsSpendNoAttempts",
			give:      append(slices.Repeat([]reply{tooMany("1")}, 12), ok),
			policy:    apiclient.RetryPolicy{MaxAttempts: 2, MaxWait: time.Second},
			wantCalls: 13,
			wantWaits: slices.Repeat([]time.Duration{time.Second}, 12),
		},
		{
			name:      "TooManyRequestsBetweenFailuresKeepTheFailureBudget",
			give:      []reply{unavailableAfter("1"), tooMany("1"), tooMany("1"), unavailableAfter("1"), ok},
			policy:    apiclient.RetryPolicy{MaxAttempts: 3},
			wantCalls: 5,
			wantWaits: slices.Repeat([]time.Duration{time.Second}, 4),
		},
		{
			name:       "FailuresAfterTooManyRequestsStillEndAtMaxAttempts",
			give:       []reply{tooMany("1"), unavailableAfter("1"), unavailableAfter("1")},
			policy:     apiclient.RetryPolicy{MaxAttempts: 2},
			wantCalls:  3,
			wantWaits:  []time.Duration{time.Second, time.Second},
			wantStatus: 503,
			wantClass:  apiclient.ErrUnavailable,
		},
		{
			name:      "TooManyRequestsWithoutRetryAfterWaitThePeriod",
			give:      []reply{{status: 429}, {status: 429}, ok},
			policy:    apiclient.RetryPolicy{RateLimitPeriod: time.Minute},
			wantCalls: 3,
			wantFloor: time.Minute,
			wantCeils: []time.Duration{66 * time.Second, 66 * time.Second},
		},
		{
			name:       "MaxRateLimitedWaitReturnsTheLast429",
			give:       []reply{tooMany("4")},
			policy:     apiclient.RetryPolicy{MaxRateLimitedWait: 10 * time.Second},
			wantCalls:  3,
			wantWaits:  []time.Duration{4 * time.Second, 4 * time.Second},
			wantStatus: 429,
			wantClass:  apiclient.ErrRateLimited,
		},
		{
			name:       "MaxAttemptsThenError",
			give:       []reply{unavailable},
			wantCalls:  5,
			wantCeils:  []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second},
			wantStatus: 503,
			wantClass:  apiclient.ErrUnavailable,
		},
		{
			name:       "BackoffCappedByMaxDelay",
			give:       []reply{unavailable},
			policy:     apiclient.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Second, MaxDelay: 1500 * time.Millisecond},
			wantCalls:  4,
			wantCeils:  []time.Duration{time.Second, 1500 * time.Millisecond, 1500 * time.Millisecond},
			wantStatus: 503,
			wantClass:  apiclient.ErrUnavailable,
		},
		{
			name:       "BadRequestNotRetried",
			give:       []reply{{status: 400, body: `{"errorCode":"BAD","message":"no"}`}},
			wantCalls:  1,
			wantWaits:  []time.Duration{},
			wantStatus: 400,
			wantClass:  apiclient.ErrRejected,
		},
		{
			name:       "NotImplementedNotRetried",
			give:       []reply{{status: 501}},
			wantCalls:  1,
			wantWaits:  []time.Duration{},
			wantStatus: 501,
			wantClass:  apiclient.ErrUnavailable,
		},
		{
			name:      "ConnectionErrorRetried",
			give:      []reply{{hangup: true}, ok},
			wantCalls: 2,
			wantCeils: []time.Duration{500 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScriptServer(t, tt.give...)
			sleeps := &faketest.SleepRecorder{}
			hc := apiclient.NewHTTPClient(apiclient.Options{
				Service:   "test",
				Retry:     tt.policy,
				SleepFunc: sleeps.Sleep,
				NowFunc:   func() time.Time { return fixedNow },
			})
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/things", nil)
			require.NoError(t, err)

			var out struct{ N int }
			err = apiclient.Do(hc, req, "test", &out, decodeTestErr)

			require.Equal(t, tt.wantCalls, srv.Calls())
			if tt.wantWaits != nil {
				require.Equal(t, tt.wantWaits, append([]time.Duration{}, sleeps.Waits()...))
			}
			if tt.wantCeils != nil {
				waits := sleeps.Waits()
				require.Len(t, waits, len(tt.wantCeils))
				for i, w := range waits {
					require.GreaterOrEqual(t, w, tt.wantFloor, "wait %d", i)
					require.LessOrEqual(t, w, tt.wantCeils[i], "wait %d", i)
				}
			}
			if tt.wantStatus == 0 {
				require.NoError(t, err)
				require.Equal(t, 1, out.N)
				return
			}
			var apiErr *apiclient.Error
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tt.wantStatus, apiErr.Status)
			require.ErrorIs(t, err, tt.wantClass)
		})
	}
}

func TestNewHTTPClient_Retry_postNeedsIdempotent(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		idempotent bool
		wantCalls  int
		wantErr    error
	}{
		{name: "PlainPostNotRetried", wantCalls: 1, wantErr: apiclient.ErrUnavailable},
		{name: "IdempotentPostRetriedWithSameBody", idempotent: true, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScriptServer(t, reply{status: 502}, reply{status: 201, body: `{}`})
			hc := apiclient.NewHTTPClient(apiclient.Options{SleepFunc: (&faketest.SleepRecorder{}).Sleep})
			ctx := t.Context()
			if tt.idempotent {
				ctx = apiclient.WithIdempotent(ctx)
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/contact", strings.NewReader(`{"id":"u1"}`))
			require.NoError(t, err)

			err = apiclient.Do(hc, req, "test", nil, nil)

			require.Equal(t, tt.wantCalls, srv.Calls())
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			srv.mu.Lock()
			defer srv.mu.Unlock()
			require.Equal(t, []string{`{"id":"u1"}`, `{"id":"u1"}`}, srv.bodies)
		})
	}
}

// A 429 is a refusal before the server acted: any method may be sent again.
func TestNewHTTPClient_Retry_postRetriedAfter429(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, reply{status: 429, header: map[string]string{"Retry-After": "2"}}, reply{status: 201, body: `{}`})
	rec := &faketest.SleepRecorder{}
	hc := apiclient.NewHTTPClient(apiclient.Options{SleepFunc: rec.Sleep})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/contact", strings.NewReader(`{"id":"u1"}`))
	require.NoError(t, err)

	require.NoError(t, apiclient.Do(hc, req, "test", nil, nil))
	require.Equal(t, 2, srv.Calls())
	require.Equal(t, []time.Duration{2 * time.Second}, rec.Waits())
}

func TestNewHTTPClient_Retry_limiterPerAttempt(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, reply{status: 503}, reply{status: 503}, reply{status: 200, body: `{}`})
	// Five tokens, refilled once an hour: only the attempts spend them.
	lim := rate.NewLimiter(rate.Every(time.Hour), 5)
	hc := apiclient.NewHTTPClient(apiclient.Options{Limiter: lim, SleepFunc: (&faketest.SleepRecorder{}).Sleep})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/x", nil)
	require.NoError(t, err)

	require.NoError(t, apiclient.Do(hc, req, "test", nil, nil))

	require.Equal(t, 3, srv.Calls())
	require.InDelta(t, 2, lim.Tokens(), 0.01)
}

func TestNewHTTPClient_Retry_limiterWaitFailsNotRetried(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, reply{status: 200})
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	require.True(t, lim.Allow()) // empty the bucket
	hc := apiclient.NewHTTPClient(apiclient.Options{Limiter: lim, SleepFunc: (&faketest.SleepRecorder{}).Sleep})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // the next token is an hour away
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
	require.NoError(t, err)

	err = apiclient.Do(hc, req, "test", nil, nil)

	require.Error(t, err)
	require.Equal(t, 0, srv.Calls())
}

func TestNewHTTPClient_Retry_contextCancel(t *testing.T) {
	t.Parallel()

	t.Run("CancelDuringWaitStopsAtOnce", func(t *testing.T) {
		t.Parallel()
		srv := newScriptServer(t, reply{status: 503})
		ctx, cancel := context.WithCancel(t.Context())
		var waits int
		hc := apiclient.NewHTTPClient(apiclient.Options{SleepFunc: func(ctx context.Context, d time.Duration) error {
			waits++
			cancel()
			return ctx.Err()
		}})
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
		require.NoError(t, err)

		err = apiclient.Do(hc, req, "test", nil, nil)

		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, apiclient.ErrUnavailable)
		require.Equal(t, 1, srv.Calls())
		require.Equal(t, 1, waits)
	})

	t.Run("DefaultSleepHonoursContext", func(t *testing.T) {
		t.Parallel()
		srv := newScriptServer(t, reply{status: 503})
		ctx, cancel := context.WithCancel(t.Context())
		// An hour-long backoff: the test only finishes if the default sleep
		// returns as soon as the context is cancelled.
		hc := apiclient.NewHTTPClient(apiclient.Options{
			Retry:    apiclient.RetryPolicy{BaseDelay: time.Hour, MaxDelay: time.Hour, MaxWait: 10 * time.Hour},
			Observer: func(apiclient.RequestInfo) { cancel() },
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
		require.NoError(t, err)

		err = apiclient.Do(hc, req, "test", nil, nil)

		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 1, srv.Calls())
	})

	t.Run("CancelledBeforeSendNoRequest", func(t *testing.T) {
		t.Parallel()
		srv := newScriptServer(t, reply{status: 200})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		hc := apiclient.NewHTTPClient(apiclient.Options{Limiter: rate.NewLimiter(10, 1)})
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
		require.NoError(t, err)

		err = apiclient.Do(hc, req, "test", nil, nil)

		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 0, srv.Calls())
	})
}

func TestNewHTTPClient_attemptTimeout(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, reply{status: 200})
	var infos []apiclient.RequestInfo
	hc := apiclient.NewHTTPClient(apiclient.Options{
		Timeout:   time.Nanosecond, // every attempt is over before it starts
		Retry:     apiclient.RetryPolicy{MaxAttempts: 2},
		SleepFunc: (&faketest.SleepRecorder{}).Sleep,
		Observer:  func(i apiclient.RequestInfo) { infos = append(infos, i) },
	})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/x", nil)
	require.NoError(t, err)

	err = apiclient.Do(hc, req, "test", nil, nil)

	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, apiclient.ErrUnavailable)
	require.Len(t, infos, 2)
	require.Equal(t, 0, infos[1].Status)
	require.Error(t, infos[1].Err)
}

func TestNewHTTPClient_Observer(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t,
		reply{status: 503},
		reply{status: 429, header: map[string]string{"Retry-After": "1"}},
		reply{status: 200, header: map[string]string{"X-Request-Id": "req-7"}, body: `{}`},
	)
	var mu sync.Mutex
	var infos []apiclient.RequestInfo
	hc := apiclient.NewHTTPClient(apiclient.Options{
		Service:   "omnichat",
		SleepFunc: (&faketest.SleepRecorder{}).Sleep,
		Observer: func(i apiclient.RequestInfo) {
			mu.Lock()
			defer mu.Unlock()
			infos = append(infos, i)
		},
	})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/contacts?phone=66812345678", nil)
	require.NoError(t, err)

	require.NoError(t, apiclient.Do(hc, req, "omnichat", nil, nil))

	require.Len(t, infos, 3)
	for i, want := range []int{503, 429, 200} {
		require.Equal(t, "omnichat", infos[i].Service)
		require.Equal(t, http.MethodGet, infos[i].Method)
		require.Equal(t, "/v1/contacts", infos[i].Path)
		require.Equal(t, want, infos[i].Status)
		require.Equal(t, i+1, infos[i].Attempt)
	}
	require.Equal(t, "req-7", infos[2].RequestID)
}

func TestNewHTTPClient_Auth(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, reply{status: 500}, reply{status: 200, body: `{}`})
	hc := apiclient.NewHTTPClient(apiclient.Options{
		SleepFunc: (&faketest.SleepRecorder{}).Sleep,
		Auth:      func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") },
	})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/x", nil)
	require.NoError(t, err)

	require.NoError(t, apiclient.Do(hc, req, "test", nil, nil))

	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.Equal(t, []string{"Bearer s3cret", "Bearer s3cret"}, srv.auth)
	require.Empty(t, req.Header.Get("Authorization"), "the caller's request must not be modified")
}

func TestNewHTTPClient_Log(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t,
		reply{status: 503},
		reply{status: 200, header: map[string]string{"x-line-request-id": "line-42"}, body: `{}`},
	)
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	hc := apiclient.NewHTTPClient(apiclient.Options{
		Service:   "line",
		Log:       log,
		SleepFunc: (&faketest.SleepRecorder{}).Sleep,
		Auth:      func(r *http.Request) { r.Header.Set("Authorization", "Bearer very-secret-token") },
	})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v2/bot/profile/U1?phone=66812345678", nil)
	require.NoError(t, err)

	require.NoError(t, apiclient.Do(hc, req, "line", nil, nil))

	entries := hook.AllEntries()
	require.Len(t, entries, 2)
	for i, e := range entries {
		require.Equal(t, logrus.DebugLevel, e.Level)
		line, err := e.String()
		require.NoError(t, err)
		require.NotContains(t, line, "very-secret-token")
		require.NotContains(t, line, "66812345678")
		require.NotContains(t, line, "?")
		require.Equal(t, "/v2/bot/profile/U1", e.Data["path"])
		require.Equal(t, "GET", e.Data["method"])
		require.Equal(t, "line", e.Data["service"])
		require.Equal(t, i+1, e.Data["attempt"])
		require.Contains(t, e.Data, "duration_ms")
	}
	require.Equal(t, 503, entries[0].Data["status"])
	require.Equal(t, 200, entries[1].Data["status"])
	require.Equal(t, "line-42", entries[1].Data["request_id"])
}

func TestDo(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		give      reply
		decodeErr func([]byte) (string, string)
		wantN     int
		wantErr   *apiclient.Error // nil when Do must succeed
	}{
		{name: "DecodesSuccessBody", give: reply{status: 200, body: `{"n":42}`}, wantN: 42},
		{name: "NoContent", give: reply{status: 204}},
		{name: "EmptySuccessBody", give: reply{status: 200}},
		{
			name:      "DecodesVendorError",
			give:      reply{status: 400, header: map[string]string{"X-Request-Id": "r1"}, body: `{"errorCode":"INVALID_REQUEST_PARAMETERS","message":"The date range between after and before cannot exceed 7 days."}`},
			decodeErr: decodeTestErr,
			wantErr: &apiclient.Error{
				Service: "omnichat", Method: "GET", Path: "/v1/messages", Status: 400,
				Code: "INVALID_REQUEST_PARAMETERS", Message: "The date range between after and before cannot exceed 7 days.",
				RequestID: "r1",
			},
		},
		{
			name:      "RetryAfterKept",
			give:      reply{status: 429, header: map[string]string{"Retry-After": "9"}, body: `{"errorCode":"RATE","message":"slow"}`},
			decodeErr: decodeTestErr,
			wantErr: &apiclient.Error{
				Service: "omnichat", Method: "GET", Path: "/v1/messages", Status: 429,
				Code: "RATE", Message: "slow", RetryAfter: 9 * time.Second,
			},
		},
		{
			name: "NoDecoderUsesStatusText",
			give: reply{status: 404, body: `whatever`},
			wantErr: &apiclient.Error{
				Service: "omnichat", Method: "GET", Path: "/v1/messages", Status: 404, Message: "Not Found",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScriptServer(t, tt.give)
			// No retry of failures, and no wait after a 429 (any wait is over the cap).
			hc := apiclient.NewHTTPClient(apiclient.Options{Retry: apiclient.RetryPolicy{MaxAttempts: 1, MaxRateLimitedWait: time.Nanosecond}})
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/messages?after=1&before=2", nil)
			require.NoError(t, err)

			var out struct{ N int }
			err = apiclient.Do(hc, req, "omnichat", &out, tt.decodeErr)

			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, tt.wantN, out.N)
				return
			}
			var got *apiclient.Error
			require.ErrorAs(t, err, &got)
			require.Equal(t, tt.wantErr, got)
			require.NotContains(t, err.Error(), "after=")
		})
	}
}

func TestDo_malformedSuccessBody(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, reply{status: 200, body: `{"n":`})
	hc := apiclient.NewHTTPClient(apiclient.Options{})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/x", nil)
	require.NoError(t, err)

	var out struct{ N int }
	err = apiclient.Do(hc, req, "test", &out, nil)

	require.ErrorContains(t, err, "decode test GET /x response")
}

func TestDo_transportErrorHasNoQuery(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // connection refused from now on
	hc := apiclient.NewHTTPClient(apiclient.Options{Retry: apiclient.RetryPolicy{MaxAttempts: 2}, SleepFunc: (&faketest.SleepRecorder{}).Sleep})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/v1/contacts?phone=66812345678", nil)
	require.NoError(t, err)

	err = apiclient.Do(hc, req, "omnichat", nil, nil)

	require.ErrorIs(t, err, apiclient.ErrUnavailable)
	require.ErrorContains(t, err, "omnichat GET /v1/contacts")
	require.NotContains(t, err.Error(), "66812345678")
}

func TestError_Unwrap(t *testing.T) {
	t.Parallel()

	classes := []error{
		apiclient.ErrRateLimited, apiclient.ErrUnauthorized, apiclient.ErrNotFound,
		apiclient.ErrConflict, apiclient.ErrRejected, apiclient.ErrUnavailable,
	}
	tests := []struct {
		name string
		give apiclient.Error
		want error
	}{
		{name: "Unauthorized", give: apiclient.Error{Status: 401}, want: apiclient.ErrUnauthorized},
		{name: "Forbidden", give: apiclient.Error{Status: 403}, want: apiclient.ErrUnauthorized},
		{name: "NotFound", give: apiclient.Error{Status: 404}, want: apiclient.ErrNotFound},
		{name: "VendorNotFoundCode", give: apiclient.Error{Status: 400, Code: "USER_ID_NOT_FOUND"}, want: apiclient.ErrNotFound},
		{name: "Conflict", give: apiclient.Error{Status: 409}, want: apiclient.ErrConflict},
		{name: "TooManyRequests", give: apiclient.Error{Status: 429}, want: apiclient.ErrRateLimited},
		{name: "BadRequest", give: apiclient.Error{Status: 400, Code: "INVALID_REQUEST_PARAMETERS"}, want: apiclient.ErrRejected},
		{name: "Unprocessable", give: apiclient.Error{Status: 422}, want: apiclient.ErrRejected},
		{name: "InternalServerError", give: apiclient.Error{Status: 500}, want: apiclient.ErrUnavailable},
		{name: "GatewayTimeout", give: apiclient.Error{Status: 504}, want: apiclient.ErrUnavailable},
		{name: "Redirect", give: apiclient.Error{Status: 302}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error = &tt.give
			require.Equal(t, tt.want, errors.Unwrap(err))
			for _, c := range classes {
				require.Equal(t, c == tt.want, errors.Is(err, c), "errors.Is(%v)", c)
			}
		})
	}
}

func TestError_Error(t *testing.T) {
	t.Parallel()
	e := &apiclient.Error{Service: "omnichat", Method: "GET", Path: "/v1/messages", Status: 400, Code: "INVALID_REQUEST_PARAMETERS", Message: "too long", RequestID: "r9"}
	require.Equal(t, "omnichat GET /v1/messages: 400 INVALID_REQUEST_PARAMETERS too long (request id r9)", e.Error())
}

func TestRedactHeaders(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		give string
		want string
	}{
		{name: "Authorization", give: "Authorization", want: apiclient.Redacted},
		{name: "OhoAPIKey", give: "X-Oho-Api-Key", want: apiclient.Redacted},
		{name: "ContainsToken", give: "X-Channel-Token", want: apiclient.Redacted},
		{name: "ContainsKey", give: "Idempotency-Key", want: apiclient.Redacted},
		{name: "Cookie", give: "Cookie", want: apiclient.Redacted},
		{name: "ContentTypeKept", give: "Content-Type", want: "v"},
		{name: "RequestIDKept", give: "X-Request-Id", want: "v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			h.Add(tt.give, "v")
			h.Add(tt.give, "v")

			got := apiclient.RedactHeaders(h)

			require.Equal(t, []string{tt.want, tt.want}, got.Values(tt.give))
			require.Equal(t, []string{"v", "v"}, h.Values(tt.give), "input must not change")
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		give   string
		want   time.Duration
		wantOK bool
	}{
		{name: "Seconds", give: "12", want: 12 * time.Second, wantOK: true},
		{name: "Zero", give: "0", want: 0, wantOK: true},
		{name: "HTTPDate", give: fixedNow.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second, wantOK: true},
		{name: "PastDate", give: fixedNow.Add(-time.Hour).Format(http.TimeFormat), want: 0, wantOK: true},
		{name: "Empty", give: ""},
		{name: "Negative", give: "-3"},
		{name: "Garbage", give: "soon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := apiclient.ParseRetryAfter(tt.give, fixedNow)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}
