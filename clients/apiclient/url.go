package apiclient

import (
	"fmt"
	"net/url"
	"strings"
)

// ParseBaseURL parses a client's configured base URL, or def when s is "",
// and returns it without a trailing slash. It must be an absolute http(s)
// URL without a query or fragment.
func ParseBaseURL(s, def string) (*url.URL, error) {
	if s == "" {
		s = def
	}
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		return nil, fmt.Errorf("parse BaseURL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("BaseURL %q: want http(s)://host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("BaseURL %q: must not have a query or fragment", s)
	}
	return u, nil
}

// JoinSegments returns base extended by the given path segments, each
// escaped on its own, so an id holding "/" or "?" stays one segment (unlike
// url.URL.JoinPath, which treats its elements as escaped paths and cleans
// "." and ".."). base is not modified.
func JoinSegments(base *url.URL, segments ...string) *url.URL {
	u := *base
	var raw, plain strings.Builder
	raw.WriteString(base.EscapedPath())
	plain.WriteString(base.Path)
	for _, s := range segments {
		raw.WriteString("/" + url.PathEscape(s))
		plain.WriteString("/" + s)
	}
	u.Path, u.RawPath = plain.String(), raw.String()
	return &u
}
