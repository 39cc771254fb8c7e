package apiclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Class sentinels. *Error unwraps to exactly one of them; test the class with
// errors.Is and get the details with errors.As.
var (
	// ErrRateLimited: a 429 not waited out again (past
	// RetryPolicy.MaxRateLimitedWait, or a body that cannot be replayed).
	ErrRateLimited = errors.New("rate limited")
	// ErrUnauthorized: 401 or 403; abort the run, the credentials are wrong.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: 404, or a 4xx whose vendor code ends in NOT_FOUND.
	ErrNotFound = errors.New("not found")
	// ErrConflict: 409, e.g. Oho "The contact already exists".
	ErrConflict = errors.New("conflict")
	// ErrRejected: any other 4xx; skip this record.
	ErrRejected = errors.New("rejected")
	// ErrUnavailable: 5xx after retries, or a transport error (timeout,
	// connection refused) after retries.
	ErrUnavailable = errors.New("unavailable")
)

// Error describes a non-2xx response. Path never includes the query string,
// which can carry tokens and phone numbers.
type Error struct {
	Service    string        // "omnichat", "oho", ...
	Method     string        // HTTP method
	Path       string        // URL path only
	Status     int           // HTTP status code
	Code       string        // vendor error code, "" when the body has none
	Message    string        // vendor error text, or the status text
	RetryAfter time.Duration // from the Retry-After header, 0 when absent
	RequestID  string        // from X-Request-Id or x-line-request-id
}

// Error implements error: "service METHOD /path: 400 CODE message".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s: %d", e.Service, e.Method, e.Path, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(" " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// Unwrap returns the class sentinel for the status (and vendor code):
// 401/403 ErrUnauthorized, 404 ErrNotFound, 409 ErrConflict, 429
// ErrRateLimited, other 4xx ErrRejected (ErrNotFound when Code ends in
// NOT_FOUND), 5xx ErrUnavailable. Other statuses have no class (nil).
func (e *Error) Unwrap() error {
	return classOf(e.Status, e.Code)
}

// classOf maps a status and vendor code to a class sentinel.
func classOf(status int, code string) error {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ErrUnauthorized
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusConflict:
		return ErrConflict
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status >= 400 && status < 500:
		if strings.HasSuffix(strings.ToUpper(code), "NOT_FOUND") {
			return ErrNotFound
		}
		return ErrRejected
	case status >= 500 && status < 600:
		return ErrUnavailable
	}
	return nil
}
