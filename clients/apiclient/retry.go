package apiclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// idempotentKey marks a context whose POST/PATCH may be retried.
type idempotentKey struct{}

// WithIdempotent returns a context that lets a POST or PATCH sent with it be
// retried. Use it only when the vendor keys the write by an identifier, so a
// repeat is harmless.
func WithIdempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

// idempotentFrom reports whether ctx was marked by WithIdempotent.
func idempotentFrom(ctx context.Context) bool {
	v, _ := ctx.Value(idempotentKey{}).(bool)
	return v
}

// retryable reports whether req may be sent again after a failure the server
// might already have acted on.
func retryable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false // the body cannot be replayed
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return idempotentFrom(req.Context())
}

// retryTransport resends failed attempts; see RetryPolicy.
type retryTransport struct {
	next      http.RoundTripper
	policy    RetryPolicy
	sleepFunc func(ctx context.Context, d time.Duration) error
	nowFunc   func() time.Time
	jitter    func(ceiling time.Duration) time.Duration
}

// RoundTrip implements http.RoundTripper. After the last attempt it returns
// the last response (which Do turns into *Error) or transport error.
//
// Failures and 429s are budgeted apart (see RetryPolicy): a 429 never spends
// an attempt or MaxWait, and is waited out for as long as the caller's
// context and MaxRateLimitedWait allow.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	canRetry := retryable(req)
	canReplay := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	var failures int                     // failed attempts (5xx, transport errors)
	var waited, rateWaited time.Duration // waits after failures, after 429s
	for attempt := 1; ; attempt++ {
		r, err := attemptRequest(req, attempt)
		if err != nil {
			return nil, err
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil && ctx.Err() != nil {
			return nil, err // the caller gave up: stop at once
		}
		if err == nil && resp.StatusCode == http.StatusTooManyRequests {
			// The server refused before acting, so even a POST that is not
			// idempotent may be sent again (when its body can be replayed).
			wait := t.rateLimitWait(resp)
			if !canReplay || t.policy.MaxRateLimitedWait > 0 && rateWaited+wait > t.policy.MaxRateLimitedWait {
				return resp, nil
			}
			drainClose(resp)
			if err := t.sleepFunc(ctx, wait); err != nil {
				return nil, err
			}
			rateWaited += wait
			continue
		}
		failures++
		wait, again := t.decide(resp, err, failures)
		if !again || !canRetry || failures >= t.policy.MaxAttempts || waited+wait > t.policy.MaxWait {
			return resp, err
		}
		drainClose(resp)
		if err := t.sleepFunc(ctx, wait); err != nil {
			return nil, err
		}
		waited += wait
	}
}

// rateLimitWait returns the wait after a 429: its Retry-After, else the
// limit's period plus up to a tenth of it at random; never above
// MaxRateLimitDelay.
func (t *retryTransport) rateLimitWait(resp *http.Response) time.Duration {
	wait, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), t.nowFunc())
	if !ok {
		p := t.policy.RateLimitPeriod
		wait = p + t.jitter(p/10)
	}
	return min(wait, t.policy.MaxRateLimitDelay)
}

// attemptRequest returns the request for the given attempt: a shallow copy
// carrying the attempt number, with a fresh body from GetBody after the first.
func attemptRequest(req *http.Request, attempt int) (*http.Request, error) {
	r := req.WithContext(context.WithValue(req.Context(), attemptKey{}, attempt))
	if attempt > 1 && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("replay request body: %w", err)
		}
		r.Body = body
	}
	return r, nil
}

// decide reports whether the outcome of a failed attempt (not a 429) is
// worth retrying and how long to wait first (already capped by MaxDelay);
// failure counts the failed attempts so far.
func (t *retryTransport) decide(resp *http.Response, err error, failure int) (time.Duration, bool) {
	if err != nil {
		if permanent(err) {
			return 0, false
		}
		return t.backoff(failure), true
	}
	switch {
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		wait, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), t.nowFunc())
		if !ok {
			wait = t.backoff(failure)
		}
		return min(wait, t.policy.MaxDelay), true
	}
	return 0, false
}

// backoff returns the wait after the given failed attempt: exponential in
// attempt, capped by MaxDelay, with full jitter.
func (t *retryTransport) backoff(attempt int) time.Duration {
	ceiling := t.policy.BaseDelay
	for i := 1; i < attempt && ceiling < t.policy.MaxDelay; i++ {
		ceiling *= 2
	}
	return t.jitter(min(ceiling, t.policy.MaxDelay))
}

// fullJitter returns a duration drawn uniformly from [0, ceiling].
func fullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// permanent reports whether a transport error will not go away by retrying:
// limiter failures, bad certificates, unsupported schemes and the like.
func permanent(err error) bool {
	var te *throttleError
	if errors.As(err, &te) {
		return true
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) {
		return true
	}
	return strings.Contains(err.Error(), "unsupported protocol scheme")
}

// ParseRetryAfter interprets a Retry-After header value, either delay
// seconds or an HTTP-date (relative to now). ok is false when v is empty or
// malformed; a date in the past yields 0.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64((1<<63-1)/time.Second) {
			secs = int64((1<<63 - 1) / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

// drainClose reads a little of a response body that is being discarded, so
// the connection can be reused, then closes it.
func drainClose(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
}
