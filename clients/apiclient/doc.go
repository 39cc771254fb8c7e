// Package apiclient is the HTTP layer shared by every vendor client in
// crmsync (Omnichat, Oho, Okeybot, LINE).
//
// NewHTTPClient builds an *http.Client whose transport is, outermost first:
//
//	retry → throttle → log → auth → base
//
// The layers:
//
//   - retry resends a request after 5xx, timeouts and connection errors, with
//     exponential backoff and full jitter (each wait capped by
//     RetryPolicy.MaxDelay, all of them by MaxWait, at most MaxAttempts
//     attempts), and after a 429, which is budgeted apart: it never spends an
//     attempt or MaxWait, and is waited out (Retry-After, in seconds or as an
//     HTTP-date, else RetryPolicy.RateLimitPeriod, the limit's own period)
//     for as long as the caller's context lasts. Only idempotent methods are
//     retried after a failure, and POST/PATCH only when the context is
//     marked with WithIdempotent; after a 429, which the server answers
//     before acting, any request whose body can be replayed is sent again.
//     Bodies are replayed through Request.GetBody.
//   - throttle waits on the shared Limiter before every attempt, so retries
//     spend tokens too. Pace builds one that spaces requests evenly with
//     headroom, so a server counting any span by arrival time refuses none.
//   - log writes one debug line per attempt (method, path without the query
//     string, status, duration, attempt, request id) and calls
//     Options.Observer. It never logs headers or bodies. It also starts the
//     attempt's timeout, so waiting for a token does not count against it.
//   - auth sets the credentials on a copy of each attempt's request.
//   - base is a clone of http.DefaultTransport unless Options.Base is set.
//
// Do sends a request through such a client, decodes a 2xx JSON body and turns
// any other status into *Error, which unwraps to one of the class sentinels
// (ErrRateLimited, ErrUnauthorized, ErrNotFound, ErrConflict, ErrRejected,
// ErrUnavailable), so callers use errors.Is for the class and errors.As for
// the details.
package apiclient
