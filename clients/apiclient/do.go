package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// maxErrorBody bounds how much of an error response Do reads.
const maxErrorBody = 64 << 10

// Do sends req with hc, decodes a 2xx JSON body into out (if out != nil and
// the body is not empty), and turns any other status into *Error, using
// decodeErr (may be nil) to pull the vendor's code and message out of the
// body, read through a 64 KiB LimitReader.
//
// A transport error is returned wrapped with "service METHOD /path" (never the
// query string). Unless it is the context's own error, it also matches
// ErrUnavailable, since it survived every retry.
func Do(hc *http.Client, req *http.Request, service string, out any, decodeErr func(body []byte) (code, msg string)) error {
	resp, err := hc.Do(req)
	if err != nil {
		return transportError(req, service, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
	}()

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil || resp.StatusCode == http.StatusNoContent {
			return nil
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // empty body: nothing to decode
			}
			return fmt.Errorf("decode %s %s %s response: %w", service, req.Method, req.URL.Path, err)
		}
		return nil
	}

	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{
		Service:   service,
		Method:    req.Method,
		Path:      req.URL.Path,
		Status:    resp.StatusCode,
		RequestID: requestID(resp.Header),
	}
	if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = d
	}
	if decodeErr != nil && len(body) > 0 {
		e.Code, e.Message = decodeErr(body)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// transportError wraps an error from hc.Do without the URL http.Client puts
// in its *url.Error (the query string can carry phones and tokens).
func transportError(req *http.Request, service string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) && req.Context().Err() != nil {
		return fmt.Errorf("%s %s %s: %w", service, req.Method, req.URL.Path, err)
	}
	return fmt.Errorf("%s %s %s: %w: %w", service, req.Method, req.URL.Path, ErrUnavailable, err)
}
