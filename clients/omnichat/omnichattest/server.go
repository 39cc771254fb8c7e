// Package omnichattest runs an in-memory Omnichat Open API for tests, the
// sandbox and benchmarks.
//
// The Server serves GET /v1/channels, /v1/contacts, /v1/tagging-logs/records,
// /v1/messages and /v1/system-users the way the vendor documents them (api-docs/README.md and
// omnichat-open-api.readable.txt), and refuses what the real API refuses:
//
//   - a missing or wrong bearer token: 401;
//   - more than the rate limit (40 requests per second per team by
//     default), counted in the strictest reading: any span of one second,
//     by arrival time (faketest.SlidingWindow), with Options.ArrivalJitter
//     of random network delay added to each arrival: 429 with Retry-After in
//     whole seconds (rounded up, so a retry then is accepted);
//   - pageSize above 100 (or below 1), page below 1, a missing platform for
//     contacts and messages, missing window parameters, and any window longer
//     than 7 days (contacts, tagging logs and messages alike): 400
//     INVALID_REQUEST_PARAMETERS with the vendor's {"errorCode","message"}
//     body.
//
// Where the document is silent, the server takes the least convenient
// reading a real one may:
//
//   - GET /v1/channels lists only LINE and webchat channels (the document
//     says "Available platform: web: Webchat, line: LINE", and its example
//     returns exactly those), while contacts, tagging logs and messages of
//     every platform are served (Options.ListEveryPlatform lists all);
//   - tagging-log pages, whose maximum pageSize is not documented, hold at
//     most 20 rows (the documented default) whatever pageSize asks, without
//     saying so (Options.TaggingLogPageCap);
//   - a 429 may come at any time (Options.RateLimitedShare answers that
//     share of requests 429 at random, as when other clients spend the
//     team's quota).
//
// Rows are filtered by window on updatedAt (contacts), time (messages) and
// the tagging time (tagging logs, read in Options.Location), ordered by that
// time and then by key, so offset paging is stable, unless Drift is injected.
// Faults (FailNext, Refuse), latency and drift let tests exercise the
// worker's retries and re-reads. MessageSource lets the server serve millions of
// messages computed on demand instead of held in memory.
//
// The server's limits are written from the vendor documents, independently of
// the client code, so a passing test proves the client respects them.
package omnichattest

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/clients/internal/faketest"
)

// DefaultToken is the bearer token a server accepts unless Options.Token says otherwise.
const DefaultToken = "test-token"

// DefaultRateLimit is the vendor's documented limit in requests per second.
const DefaultRateLimit = 40

// RateLimitOff, as Options.RateLimit or in SetRateLimit, disables rate limiting.
const RateLimitOff = -1

// Vendor limits, from the API documents.
const (
	defaultPageSize = 20
	maxPageSize     = 100
	maxWindowMillis = int64(7 * 24 * time.Hour / time.Millisecond)
)

// DefaultTaggingLogPageCap is the most tagging-log rows a page holds unless
// Options.TaggingLogPageCap says otherwise: the documented default page size,
// since no maximum is documented for that endpoint.
const DefaultTaggingLogPageCap = defaultPageSize

// listedPlatforms are the platforms whose channels GET /v1/channels lists
// (its document: "Available platform: web: Webchat, line: LINE").
var listedPlatforms = []string{"line", "webchat"}

// Options configures a Server. Zero values mean the vendor's behaviour.
type Options struct {
	// Token is the only bearer token accepted (default DefaultToken).
	Token string
	// RateLimit is how many requests any span of one second may hold, by
	// arrival time: 0 means DefaultRateLimit, RateLimitOff (any negative
	// value) disables it.
	RateLimit int
	// ArrivalJitter adds a random delay in [0, ArrivalJitter) to the arrival
	// time each request is counted at, as a network does (default none).
	ArrivalJitter time.Duration
	// RateLimitedShare answers that share of requests (0..1), drawn at
	// random before the rate limit is counted, with 429 and Retry-After: 1,
	// as a team whose quota other clients spend sees (default none).
	RateLimitedShare float64
	// Seed seeds the random draws of ArrivalJitter and RateLimitedShare
	// (default 1), so a test sees the same ones every run.
	Seed uint64
	// ListEveryPlatform makes GET /v1/channels list the seeded channels of
	// every platform, not only LINE and webchat ones as documented.
	ListEveryPlatform bool
	// TaggingLogPageCap is the most rows a tagging-log page holds, whatever
	// pageSize asks: 0 means DefaultTaggingLogPageCap, a negative value no
	// cap (pageSize above 100 is refused either way).
	TaggingLogPageCap int
	// Location is the zone in which zone-less tagging-log times are read for
	// window filtering (default UTC). Match the client's Config.Location.
	Location *time.Location
	// Latency is added to every request once its arrival is recorded (the
	// rate limit counts arrivals), before anything else happens.
	Latency time.Duration
	// NowFunc is the clock of the rate limiter (default time.Now). Tests
	// pass Clock.Now so that no test depends on real time.
	NowFunc func() time.Time
	// SleepFunc waits for Latency (default: a timer that gives up when the
	// request's context ends). Tests pass Clock.Sleep or a recorder.
	SleepFunc func(ctx context.Context, d time.Duration) error
	// MaxRequestLog bounds how many entries Requests keeps, oldest dropped
	// first (default 100,000). RequestCount is never bounded.
	MaxRequestLog int
}

// Server is an in-memory Omnichat. It is safe for concurrent use.
type Server struct {
	// URL is the base URL to give the client (no trailing slash); set by
	// NewServer, empty for a Server from New until the caller serves
	// Handler somewhere and sets it.
	URL string

	opts    Options
	handler http.Handler

	mu          sync.Mutex
	win         *faketest.SlidingWindow // nil when rate limiting is off
	rnd         *rand.Rand
	requests    []string
	requestN    int
	rateLimited int
	failN       int
	failStatus  int
	refusals    []refusal
	drifts      []drift
	driftSeq    int
	data        store
	agents      systemUsers // GET /v1/system-users (system_users.go)
}

// refusal is a persistent fault: requests matching match answer status.
type refusal struct {
	status int
	match  func(*http.Request) bool
}

// New returns a Server that is not listening: serve Handler yourself (the
// sandbox binds it to a fixed port). Use NewServer in tests.
func New(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.NowFunc == nil {
		opts.NowFunc = time.Now
	}
	if opts.SleepFunc == nil {
		opts.SleepFunc = sleepContext
	}
	if opts.MaxRequestLog <= 0 {
		opts.MaxRequestLog = 100_000
	}
	if opts.TaggingLogPageCap == 0 {
		opts.TaggingLogPageCap = DefaultTaggingLogPageCap
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	s := &Server{opts: opts, rnd: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))}
	s.win = newWindow(opts.RateLimit)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/channels", s.getOnly(s.handleChannels))
	mux.HandleFunc("/v1/contacts", s.getOnly(s.handleContacts))
	mux.HandleFunc("/v1/tagging-logs/records", s.getOnly(s.handleTaggingLogs))
	mux.HandleFunc("/v1/messages", s.getOnly(s.handleMessages))
	mux.HandleFunc("/v1/system-users", s.getOnly(s.handleSystemUsers))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "No such endpoint.")
	})
	s.handler = s.middleware(mux)
	return s
}

// NewServer starts a Server on a loopback port and closes it when t ends.
// opts holds at most one Options; none means the vendor's defaults.
func NewServer(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s := New(o)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Requests returns "METHOD /path?query" for every request received, oldest
// first (at most Options.MaxRequestLog of the latest).
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests[max(0, len(s.requests)-s.opts.MaxRequestLog):])
}

// RequestCount returns how many requests the server has received.
func (s *Server) RequestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requestN
}

// RateLimited returns how many 429 responses the server has sent, from the
// rate limit, RateLimitedShare and FailNext alike.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimited
}

// FailNext makes the next n requests fail with status, before auth and rate
// checks, with an {"errorCode","message"} body (and Retry-After: 1 for 429).
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// Refuse makes every later request for which match reports true answer
// status (after the token and the rate limit are checked), with the vendor's
// error body: a window the API keeps refusing. match must be safe for
// concurrent use; WindowStarting builds a common one.
func (s *Server) Refuse(status int, match func(r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals = append(s.refusals, refusal{status: status, match: match})
}

// WindowStarting matches the requests of stream whose window starts at
// start (updatedAfter, taggedAfter or after), for Refuse.
func WindowStarting(stream Stream, start time.Time) func(r *http.Request) bool {
	path, param := "/v1/contacts", "updatedAfter"
	switch stream {
	case StreamTaggingLogs:
		path, param = "/v1/tagging-logs/records", "taggedAfter"
	case StreamMessages:
		path, param = "/v1/messages", "after"
	}
	want := strconv.FormatInt(start.UnixMilli(), 10)
	return func(r *http.Request) bool {
		return r.URL.Path == path && r.URL.Query().Get(param) == want
	}
}

// SetRateLimit changes the rate limit: perSecond as in Options.RateLimit
// (0 = the vendor's 40/s, negative = off). Requests counted so far are
// forgotten.
func (s *Server) SetRateLimit(perSecond int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.win = newWindow(perSecond)
}

// SetRateLimitedShare changes Options.RateLimitedShare: the share of later
// requests answered 429 at random.
func (s *Server) SetRateLimitedShare(share float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.RateLimitedShare = share
}

// newWindow builds the server's sliding window, nil when it is off.
func newWindow(perSecond int) *faketest.SlidingWindow {
	if perSecond < 0 {
		return nil
	}
	if perSecond == 0 {
		perSecond = DefaultRateLimit
	}
	return faketest.NewSlidingWindow(perSecond, time.Second)
}

// middleware records, delays, fails, authenticates and rate-limits each
// request, in that order, before routing it.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entry := r.Method + " " + r.URL.Path
		if r.URL.RawQuery != "" {
			entry += "?" + r.URL.RawQuery
		}
		arrival := s.opts.NowFunc()
		s.mu.Lock()
		s.requestN++
		s.requests = append(s.requests, entry)
		if len(s.requests) > 2*s.opts.MaxRequestLog {
			s.requests = append([]string(nil), s.requests[len(s.requests)-s.opts.MaxRequestLog:]...)
		}
		s.mu.Unlock()

		if s.opts.Latency > 0 {
			if err := s.opts.SleepFunc(r.Context(), s.opts.Latency); err != nil {
				return // the client is gone
			}
		}

		s.mu.Lock()
		if s.failN > 0 {
			s.failN--
			status := s.failStatus
			if status == http.StatusTooManyRequests {
				s.rateLimited++
			}
			s.mu.Unlock()
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			writeError(w, status, faultCode(status), "Injected fault.")
			return
		}
		s.mu.Unlock()

		if !s.authorized(r) {
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Invalid or missing API token.")
			return
		}

		s.mu.Lock()
		var retryAfter int
		switch {
		case s.opts.RateLimitedShare > 0 && s.rnd.Float64() < s.opts.RateLimitedShare:
			s.rateLimited++
			retryAfter = 1
		case s.win != nil:
			if s.opts.ArrivalJitter > 0 {
				arrival = arrival.Add(time.Duration(s.rnd.Int64N(int64(s.opts.ArrivalJitter))))
			}
			if ok, after := s.win.Allow(arrival); !ok {
				s.rateLimited++
				retryAfter = max(1, int(math.Ceil(after.Seconds())))
			}
		}
		refused := 0
		if retryAfter == 0 {
			for _, f := range s.refusals {
				if f.match(r) {
					refused = f.status
					break
				}
			}
		}
		s.mu.Unlock()
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
			writeError(w, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", "Too many requests.")
			return
		}
		if refused > 0 {
			writeError(w, refused, faultCode(refused), "Refused.")
			return
		}

		next.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries "Authorization: Bearer <token>".
func (s *Server) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && tok == s.opts.Token
}

// getOnly refuses methods other than GET with 405.
func (s *Server) getOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Method not allowed.")
			return
		}
		h(w, r)
	}
}

// faultCode is the errorCode of an injected failure.
func faultCode(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "TOO_MANY_REQUESTS"
	case status == http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case status >= 500:
		return "INTERNAL_SERVER_ERROR"
	}
	return "INVALID_REQUEST_PARAMETERS"
}

// writeError writes Omnichat's error body.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		ErrorCode string `json:"errorCode"`
		Message   string `json:"message"`
	}{code, msg})
}

// sleepContext waits for d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Clock is a manual clock for tests: Now reports the current fake time and
// Sleep advances it instead of waiting. Pass Clock.Now as Options.NowFunc
// and Clock.Sleep as the client's SleepFunc, so a 429's Retry-After is
// "waited" by moving the server's rate-limit clock. Safe for concurrent use.
type Clock = faketest.Clock

// NewClock returns a Clock set to start.
func NewClock(start time.Time) *Clock { return faketest.NewClock(start) }
