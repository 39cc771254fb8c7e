package apiclient

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// attemptKey is the context key under which retryTransport stores the
// attempt number for the inner layers.
type attemptKey struct{}

// attemptFrom returns the attempt number stored in ctx, 1 when absent.
func attemptFrom(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}

// logTransport bounds each attempt by timeout, then logs it at debug level
// and reports it to the observer. It never logs headers, bodies or the query
// string.
type logTransport struct {
	next     http.RoundTripper
	log      logrus.FieldLogger
	service  string
	timeout  time.Duration
	observer func(RequestInfo)
}

// RoundTrip implements http.RoundTripper.
func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	start := time.Now()
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	elapsed := time.Since(start)

	info := RequestInfo{
		Service:  t.service,
		Method:   req.Method,
		Path:     req.URL.Path,
		Duration: elapsed,
		Attempt:  attemptFrom(req.Context()),
		Err:      err,
	}
	if err != nil {
		cancel()
	} else {
		info.Status = resp.StatusCode
		info.RequestID = requestID(resp.Header)
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	}

	fields := logrus.Fields{
		"service":     info.Service,
		"method":      info.Method,
		"path":        info.Path,
		"status":      info.Status,
		"duration_ms": info.Duration.Milliseconds(),
		"attempt":     info.Attempt,
	}
	if info.RequestID != "" {
		fields["request_id"] = info.RequestID
	}
	entry := t.log.WithFields(fields)
	if err != nil {
		// Errors from a RoundTripper below http.Client carry no URL; the
		// url.Error with the full URL is only added by http.Client itself.
		entry = entry.WithField("error", err.Error())
	}
	entry.Debug("http attempt")

	if t.observer != nil {
		t.observer(info)
	}
	return resp, err
}

// cancelOnClose releases an attempt's timeout once its body is closed, so
// the timeout covers reading the body too.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

// Close closes the body and releases the attempt's context.
func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// requestID returns the vendor's request id from h, "" when absent.
func requestID(h http.Header) string {
	for _, k := range []string{"X-Request-Id", "X-Line-Request-Id"} {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// Redacted replaces the value of every sensitive header in a debug dump.
const Redacted = "[REDACTED]"

// RedactHeaders returns a copy of h, safe to print, in which every sensitive
// header's values are replaced by Redacted: Authorization,
// Proxy-Authorization, Cookie, Set-Cookie, x-oho-api-key and any header whose
// name contains "token", "key" or "secret" (case-insensitive). h is not
// modified.
func RedactHeaders(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		if sensitiveHeader(k) {
			red := make([]string, len(vs))
			for i := range red {
				red[i] = Redacted
			}
			out[k] = red
			continue
		}
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// sensitiveHeader reports whether the header named k may carry a secret.
func sensitiveHeader(k string) bool {
	k = strings.ToLower(k)
	switch k {
	case "authorization", "proxy-authorization", "cookie", "set-cookie", "x-oho-api-key":
		return true
	}
	return strings.Contains(k, "token") || strings.Contains(k, "key") || strings.Contains(k, "secret")
}
