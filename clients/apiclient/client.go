package apiclient

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"
)

// Default values used when the corresponding Options or RetryPolicy field is zero.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultMaxAttempts = 5
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxDelay    = 30 * time.Second
	DefaultMaxWait     = 2 * time.Minute
)

// DefaultRateLimitPeriod is RetryPolicy.RateLimitPeriod when zero: the
// wait after a 429 that carries no Retry-After, for a limit counted per
// second.
const DefaultRateLimitPeriod = time.Second

// DefaultMaxRateLimitDelay is RetryPolicy.MaxRateLimitDelay when zero.
const DefaultMaxRateLimitDelay = 10 * time.Minute

// RetryPolicy bounds how often and how long a request is retried.
// Zero fields take the Default* values.
//
// Failures (5xx, timeouts, connection errors) and rate limiting (429) are
// budgeted apart. MaxAttempts, BaseDelay, MaxDelay and MaxWait bound the
// failures only: a 429 is the server saying "not now", never "this failed",
// so it never spends an attempt or MaxWait (the lesson of grouparoo#2560
// and airbyte#4818). After a 429 the request waits Retry-After when the
// server sends one, else RateLimitPeriod (the limit's own period, so the
// counting window has passed), and is sent again, for as long as the
// caller's context lasts and MaxRateLimitedWait allows.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts including the first one
	// (default 5), 429s not counted. Set it to 1 to disable retries of
	// failures (429s are still waited out).
	MaxAttempts int
	// BaseDelay is the backoff ceiling before the second attempt; it doubles
	// for each further attempt (default 500ms). The actual wait is drawn
	// uniformly from [0, ceiling] ("full jitter").
	BaseDelay time.Duration
	// MaxDelay caps any single wait, Retry-After included (default 30s).
	MaxDelay time.Duration
	// MaxWait caps the sum of the waits after failures for one request
	// (default 2m). When the next wait would exceed it, the last response or
	// error is returned. Waits after a 429 do not count.
	MaxWait time.Duration
	// RateLimitPeriod is the wait after a 429 without a usable Retry-After:
	// the period the vendor counts its limit over (default 1s; Okeybot's
	// "100 calls per minute" needs a minute). Up to a tenth of it is added
	// at random, so workers refused together do not return together.
	RateLimitPeriod time.Duration
	// MaxRateLimitDelay caps one wait after a 429, Retry-After included
	// (default 10m), against an absurd header.
	MaxRateLimitDelay time.Duration
	// MaxRateLimitedWait caps the sum of the waits after 429s for one
	// request; when the next wait would exceed it, the last 429 is returned
	// (an *Error of class ErrRateLimited). Zero means no cap: the caller's
	// context bounds the wait.
	MaxRateLimitedWait time.Duration
}

// withDefaults returns p with zero fields replaced by the defaults.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.MaxWait <= 0 {
		p.MaxWait = DefaultMaxWait
	}
	if p.RateLimitPeriod <= 0 {
		p.RateLimitPeriod = DefaultRateLimitPeriod
	}
	if p.MaxRateLimitDelay <= 0 {
		p.MaxRateLimitDelay = DefaultMaxRateLimitDelay
	}
	return p
}

// RequestInfo describes one attempt of one request, for Options.Observer
// (metrics). Path never includes the query string.
type RequestInfo struct {
	Service   string
	Method    string
	Path      string
	Status    int // 0 when the attempt ended in a transport error
	Duration  time.Duration
	Attempt   int    // 1 for the first attempt
	RequestID string // from X-Request-Id or x-line-request-id, "" when absent
	Err       error  // the transport error, nil when a response arrived
}

// Options configures NewHTTPClient. Zero values mean sensible defaults.
type Options struct {
	// Service names the vendor ("omnichat", "oho", "okeybot", "line") in
	// errors, logs and observations.
	Service string
	// Limiter is shared per API account or token; nil means unlimited.
	// A *rate.Limiter (see Pace) or a limiter shared between processes.
	Limiter Limiter
	// Auth sets the credentials on each attempt's request (a copy the
	// caller's request is never affected by). nil sets nothing.
	Auth func(*http.Request)
	// Log receives one debug line per attempt; nil discards.
	Log logrus.FieldLogger
	// Timeout bounds one attempt, reading the response body included
	// (default 30s).
	Timeout time.Duration
	// Retry bounds retries; see RetryPolicy.
	Retry RetryPolicy
	// SleepFunc waits between attempts; it must return ctx.Err() as soon as
	// ctx is done. Default: a timer honouring ctx. Tests inject one that
	// records the durations instead of sleeping.
	SleepFunc func(ctx context.Context, d time.Duration) error
	// NowFunc is the clock used to turn a Retry-After HTTP-date into a
	// duration (default time.Now).
	NowFunc func() time.Time
	// Observer, when set, is called once per attempt, after the attempt's
	// response headers arrive or its transport error is known.
	Observer func(RequestInfo)
	// Base is the innermost transport (default: a clone of
	// http.DefaultTransport).
	Base http.RoundTripper
}

// NewHTTPClient returns a client whose transport is, outermost first:
// retry (429/5xx/timeouts, Retry-After capped) → throttle (Limiter.Wait per
// attempt) → log (and Observer, per attempt) → auth → base.
// Retry wraps throttle so every attempt, retries included, spends a token.
//
// The returned client has no overall Timeout: each attempt is bounded by
// Options.Timeout and the waits between attempts by RetryPolicy.MaxWait; the
// caller's context bounds the whole.
func NewHTTPClient(o Options) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.SleepFunc == nil {
		o.SleepFunc = sleepContext
	}
	if o.NowFunc == nil {
		o.NowFunc = time.Now
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	if l, ok := o.Limiter.(*rate.Limiter); ok && l == nil {
		o.Limiter = nil // a typed nil is no limiter, not one that panics
	}
	base := o.Base
	if base == nil {
		base = NewBase()
	}

	var rt http.RoundTripper = base
	rt = &authTransport{next: rt, set: o.Auth}
	rt = &logTransport{next: rt, log: o.Log, service: o.Service, timeout: o.Timeout, observer: o.Observer}
	rt = &throttleTransport{next: rt, lim: o.Limiter}
	rt = &retryTransport{
		next:      rt,
		policy:    o.Retry.withDefaults(),
		sleepFunc: o.SleepFunc,
		nowFunc:   o.NowFunc,
		jitter:    fullJitter,
	}
	return &http.Client{Transport: rt}
}

// NewBase returns the default innermost transport: a clone of
// http.DefaultTransport, with its own connection pool. A client that builds
// one *http.Client per token gives them all one NewBase as Options.Base, so
// they share that pool.
func NewBase() http.RoundTripper {
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		return dt.Clone()
	}
	return http.DefaultTransport
}

// sleepContext waits for d or until ctx is done, whichever comes first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// authTransport sets credentials on a copy of each request.
type authTransport struct {
	next http.RoundTripper
	set  func(*http.Request)
}

// RoundTrip implements http.RoundTripper.
func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.set == nil {
		return t.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	t.set(r)
	return t.next.RoundTrip(r)
}

// throttleTransport waits for a token of the shared limiter before each attempt.
type throttleTransport struct {
	next http.RoundTripper
	lim  Limiter
}

// throttleError is a limiter failure (context done, or a wait that would
// overrun the context's deadline). It is never retried.
type throttleError struct{ err error }

// Error implements error.
func (e *throttleError) Error() string { return "wait for rate limiter: " + e.err.Error() }

// Unwrap returns the limiter's error.
func (e *throttleError) Unwrap() error { return e.err }

// RoundTrip implements http.RoundTripper.
func (t *throttleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.lim != nil {
		if err := t.lim.Wait(req.Context()); err != nil {
			closeBody(req)
			return nil, &throttleError{err: err}
		}
	}
	return t.next.RoundTrip(req)
}

// closeBody closes a request body that will not be sent, as the
// RoundTripper contract requires.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
