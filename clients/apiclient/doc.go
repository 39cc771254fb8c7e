// Package apiclient is the HTTP layer shared by every vendor client in
// crmsync (Omnichat, Oho, Okeybot, LINE).
//
// NewHTTPClient builds an *http.Client whose transport is, outermost first:
//
//	retry → throttle → log → auth → base
//
// The layers:
//
//   - retry resends a request after 429 (honouring Retry-After, in seconds or as
//     an HTTP-date), 5xx, timeouts and connection errors, with exponential
//     backoff and full jitter. Each wait is capped by RetryPolicy.MaxDelay and
//     all waits together by RetryPolicy.MaxWait. Only idempotent methods are
//     retried, and POST/PATCH only when the context is marked with
//     WithIdempotent, except after a 429, which the server answers before
//     acting, so any request whose body can be replayed is sent again.
//     Bodies are replayed through Request.GetBody.
//   - throttle waits on the shared *rate.Limiter before every attempt, so
//     retries spend tokens too.
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
