// Package lineapitest runs an in-memory LINE Messaging API (the bot info and
// user profile endpoints) for tests and demos.
//
// Channels are registered with their channel access token; a request is
// authenticated by "Authorization: Bearer <token>" and sees only that
// channel's bot and friends. Errors use LINE's body {"message": "..."} and
// every response carries an x-line-request-id header:
//
//   - 401 without a Bearer token, or with a token no channel has;
//   - 400 for a user id that is not "U" and 32 hex digits;
//   - 404 {"message":"Not found"} for a user who is not a friend of the bot
//     (unknown, blocked, or never added it);
//   - 429/5xx only when forced with RejectNext.
//
// Tests use NewServer; a long-running sandbox serves New(opts) itself.
package lineapitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/clients/internal/faketest"
)

// LINE's error messages as the Messaging API returns them.
const (
	MsgNoAuth         = "Authorization header required. Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
	MsgBadToken       = "Authentication failed. Confirm that the access token in the authorization header is valid."
	MsgNotFound       = "Not found"
	MsgInvalidUserID  = "The value for the 'userId' parameter is invalid"
	MsgRateLimited    = "The API rate limit has been exceeded. Try again later."
	MsgInternalServer = "Internal server error"
)

// BotInfo is the GET /v2/bot/info body. The JSON names are written from the
// LINE collection's example response, not copied from package lineapi.
type BotInfo struct {
	UserID         string `json:"userId"`
	BasicID        string `json:"basicId"`
	DisplayName    string `json:"displayName"`
	PictureURL     string `json:"pictureUrl,omitempty"`
	ChatMode       string `json:"chatMode"`
	MarkAsReadMode string `json:"markAsReadMode"`
}

// Profile is the GET /v2/bot/profile/{userId} body. LINE leaves out
// pictureUrl, statusMessage and language when the user has none or hides them.
type Profile struct {
	DisplayName   string `json:"displayName"`
	UserID        string `json:"userId"`
	PictureURL    string `json:"pictureUrl,omitempty"`
	StatusMessage string `json:"statusMessage,omitempty"`
	Language      string `json:"language,omitempty"`
}

// Options configures a fake server. The zero value is ready to use.
type Options struct{}

// Request is one request the fake answered. It never holds the token.
type Request struct {
	Method string
	Path   string // escaped path, no query
	Status int
	Bot    string // userId of the bot whose token authenticated it, "" if none
}

// String returns "METHOD /path".
func (r Request) String() string { return r.Method + " " + r.Path }

// channel is one LINE channel: its bot and the profiles of its friends.
type channel struct {
	info     BotInfo
	profiles map[string]Profile
}

// Server is an in-memory LINE Messaging API. It is an http.Handler, safe for
// concurrent use.
type Server struct {
	// URL is the base URL of the httptest server started by NewServer;
	// "" for a Server made with New, which its owner serves.
	URL string

	mu       sync.Mutex
	channels map[string]*channel // by channel access token
	requests []Request
	faults   faketest.Faults
	nextID   uint64
}

// New returns a fake LINE API for a caller that serves it (a sandbox or demo).
func New(Options) *Server {
	return &Server{channels: make(map[string]*channel)}
}

// NewServer starts a fake LINE API on a loopback port for the duration of t.
func NewServer(t testing.TB, o Options) *Server {
	t.Helper()
	s := New(o)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// AddChannel registers a channel: requests bearing token see info as the bot.
func (s *Server) AddChannel(token string, info BotInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.channels[token]; ok {
		ch.info = info
		return
	}
	s.channels[token] = &channel{info: info, profiles: make(map[string]Profile)}
}

// AddProfile makes p a friend of the bot of the channel with token, which
// must have been added. It reports false for an unknown token.
func (s *Server) AddProfile(token string, p Profile) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[token]
	if !ok {
		return false
	}
	ch.profiles[p.UserID] = p
	return true
}

// Requests returns every request answered so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns how many requests to the escaped path (e.g. "/v2/bot/info")
// were answered, whatever their status.
func (s *Server) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Path == path {
			n++
		}
	}
	return n
}

// RejectNext makes the next n requests fail with status (e.g. 429 or 500)
// before any other check, with a Retry-After header of retryAfter rounded up
// to whole seconds when retryAfter > 0.
func (s *Server) RejectNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(n, status, retryAfter)
}

// userIDPattern is the shape of a LINE user ID.
var userIDPattern = regexp.MustCompile(`^U[0-9a-f]{32}$`)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	w.Header().Set("x-line-request-id", fmt.Sprintf("%08x-0000-4000-8000-%012x", s.nextID, s.nextID))
	rec := Request{Method: r.Method, Path: r.URL.EscapedPath()}
	rec.Status, rec.Bot = s.serve(w, r)
	s.requests = append(s.requests, rec)
}

// serve answers r with s.mu held and returns the status and the bot's userId.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) (int, string) {
	if f, ok := s.faults.Next(w.Header()); ok {
		msg := MsgInternalServer
		if f.Status == http.StatusTooManyRequests {
			msg = MsgRateLimited
		}
		return fail(w, f.Status, msg), ""
	}

	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return fail(w, http.StatusUnauthorized, MsgNoAuth), ""
	}
	ch, ok := s.channels[token]
	if !ok {
		return fail(w, http.StatusUnauthorized, MsgBadToken), ""
	}
	bot := ch.info.UserID

	if r.Method != http.MethodGet {
		return fail(w, http.StatusNotFound, MsgNotFound), bot
	}
	path := r.URL.EscapedPath()
	if path == "/v2/bot/info" {
		return reply(w, ch.info), bot
	}
	raw, ok := strings.CutPrefix(path, "/v2/bot/profile/")
	if !ok || raw == "" || strings.Contains(raw, "/") {
		return fail(w, http.StatusNotFound, MsgNotFound), bot
	}
	userID, err := url.PathUnescape(raw)
	if err != nil || !userIDPattern.MatchString(userID) {
		return fail(w, http.StatusBadRequest, MsgInvalidUserID), bot
	}
	p, ok := ch.profiles[userID]
	if !ok {
		return fail(w, http.StatusNotFound, MsgNotFound), bot
	}
	return reply(w, p), bot
}

// errorBody is LINE's error response.
type errorBody struct {
	Message string `json:"message"`
}

// reply writes v as a 200 JSON response.
func reply(w http.ResponseWriter, v any) int {
	write(w, http.StatusOK, v)
	return http.StatusOK
}

// fail writes a LINE error body and returns status.
func fail(w http.ResponseWriter, status int, msg string) int {
	write(w, status, errorBody{Message: msg})
	return status
}

// write sends v as JSON with status.
func write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
