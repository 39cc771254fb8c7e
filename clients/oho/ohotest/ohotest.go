// Package ohotest runs an in-memory Oho Developer API for tests and demos.
//
// The fake serves the Contact API (GET, POST and PATCH of /contact) as the
// Oho reference (api-docs/oho-developer-api.th.txt) documents it, and refuses
// what that reference says the real API refuses, with its envelope
// {"ok": false, "status_code": N, "message": "..."}:
//
//   - 401 "You do not have valid permission" without the right x-oho-api-key;
//   - 400 "Bad request" for a body the field tables forbid: a missing required
//     field, a length over its max (counted in UTF-16 code units, the
//     stricter reading of "characters": 𝒇 counts two), a value outside its
//     enum or range, a malformed date or email, a phone not in the one
//     documented form ('0987654321': digits, a leading 0), too many tags or
//     labels, a duplicated attribute name, a field the table does not list,
//     or a platform other than line, facebook and instagram;
//   - 409 "The contact already exists" on a second create of one key;
//   - 404 "Not found contact" (GET) and "The contact not found" (PATCH).
//
// The reference does not say why a 400 was refused, so the body carries only
// "Bad request"; the fake records the rule that fired in Request.Reason.
//
// Tests use NewServer; a long-running sandbox serves New(opts) itself.
package ohotest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"crmsync/clients/internal/faketest"
)

// DefaultAPIKey is the key New and NewServer accept when Options.APIKey is empty.
const DefaultAPIKey = "ohotest-api-key"

// Messages of the documented error envelopes (oho-developer-api.th.txt), and
// of the undocumented ones the fake has to choose (429, 5xx, unknown route).
const (
	MsgBadRequest     = "Bad request"                      // §1 Error response
	MsgUnauthorized   = "You do not have valid permission" // §3.1/3.2 Response Unauthorized
	MsgNotFoundGet    = "Not found contact"                // §2.1 Response Not found
	MsgNotFoundUpdate = "The contact not found"            // §2.3 Response not found contact
	MsgConflict       = "The contact already exists"       // §2.2 Response กรณีสร้าง Contact ซ้ำกัน
	MsgCreated        = "Created contact successfully"     // §2.2
	MsgUpdated        = "Update contact successfully"      // §2.3
	MsgFound          = "Get contact successfully"         // not documented
	MsgTooMany        = "Too many requests"                // not documented
	MsgNotFound       = "Not found"                        // unknown route; not documented
)

// Options configures a fake server. The zero value is ready to use.
type Options struct {
	// APIKey is the only x-oho-api-key accepted (default DefaultAPIKey).
	APIKey string
	// Rate, when > 0, limits requests to Rate per second with bursts of
	// Burst (default 1); a request over it gets 429 with Retry-After.
	// Default: no limit (Oho publishes none).
	Rate  rate.Limit
	Burst int
	// NowFunc is the rate limiter's clock (default time.Now).
	NowFunc func() time.Time
	// Found is how GET writes a found contact, which the reference shows no
	// example of. Default FoundObjects, the least convenient reading.
	Found FoundShape
}

// FoundShape is how GET writes a found contact ("Response Found contact"
// has no example in the reference).
type FoundShape int

const (
	// FoundObjects writes tags and labels as objects {"id", "name"},
	// attributes as {"id", "name", "value": {"text"}}, every empty field as
	// null, and fields the create body does not have (id, created_at). A
	// client reading only the create body's shapes fails on it.
	FoundObjects FoundShape = iota
	// FoundCreateBody writes the create body's own names and shapes (tags
	// and labels as strings, attributes as {"display_name", "value"}).
	FoundCreateBody
)

// Request is one request the fake answered.
type Request struct {
	Method string
	Path   string // escaped path, no query
	Status int
	Reason string // why a 400 was refused; "" otherwise
}

// String returns "METHOD /path".
func (r Request) String() string { return r.Method + " " + r.Path }

// Server is an in-memory Oho. It is an http.Handler, safe for concurrent use.
type Server struct {
	// URL is the base URL of the httptest server started by NewServer;
	// "" for a Server made with New, which its owner serves.
	URL string

	apiKey  string
	limiter *rate.Limiter
	nowFunc func() time.Time
	found   FoundShape

	mu       sync.Mutex
	contacts map[Key]Contact
	foundAs  map[Key]json.RawMessage // SetFound overrides
	requests []Request
	faults   faketest.Faults
}

// New returns a fake Oho for a caller that serves it (a sandbox or demo).
func New(o Options) *Server {
	s := &Server{
		apiKey:   o.APIKey,
		nowFunc:  o.NowFunc,
		found:    o.Found,
		contacts: make(map[Key]Contact),
		foundAs:  make(map[Key]json.RawMessage),
	}
	if s.apiKey == "" {
		s.apiKey = DefaultAPIKey
	}
	if s.nowFunc == nil {
		s.nowFunc = time.Now
	}
	if o.Rate > 0 {
		burst := o.Burst
		if burst <= 0 {
			burst = 1
		}
		s.limiter = rate.NewLimiter(o.Rate, burst)
	}
	return s
}

// NewServer starts a fake Oho on a loopback port for the duration of t.
func NewServer(t testing.TB, o Options) *Server {
	t.Helper()
	s := New(o)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// APIKey returns the key the server accepts.
func (s *Server) APIKey() string { return s.apiKey }

// Seed stores contacts as they are, without validation, replacing any with
// the same key.
func (s *Server) Seed(cs ...Contact) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		s.contacts[c.Key()] = c.clone()
	}
}

// Edit changes the stored contact with key k as a person working in Oho
// would (an agent adding a tag, a label or an attribute, fixing a name),
// without validation, and reports whether the contact exists. edit receives
// a copy it may change freely.
func (s *Server) Edit(k Key, edit func(c *Contact)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[k]
	if !ok {
		return false
	}
	c = c.clone()
	edit(&c)
	s.contacts[k] = c.clone()
	return true
}

// SetFound makes every GET of the contact with key k answer 200 with data
// as the envelope's data (e.g. a body no client can read), whatever the
// fake holds; nil undoes it. The contact must exist for the GET to find it.
func (s *Server) SetFound(k Key, data json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if data == nil {
		delete(s.foundAs, k)
		return
	}
	s.foundAs[k] = slices.Clone(data)
}

// Contact returns the stored state of the contact with key k.
func (s *Server) Contact(k Key) (Contact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[k]
	if !ok {
		return Contact{}, false
	}
	return c.clone(), true
}

// Contacts returns every stored contact, ordered by key.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Contact, 0, len(s.contacts))
	for _, c := range s.contacts {
		out = append(out, c.clone())
	}
	slices.SortFunc(out, func(a, b Contact) int { return strings.Compare(a.Key().String(), b.Key().String()) })
	return out
}

// Len returns the number of stored contacts.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.contacts)
}

// Requests returns every request answered so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns how many requests with the given method were answered.
func (s *Server) Count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Method == method {
			n++
		}
	}
	return n
}

// RejectNext makes the next n requests fail with status (e.g. 500, 503 or
// 429) before any other check, with a Retry-After header of retryAfter
// rounded up to whole seconds when retryAfter > 0.
func (s *Server) RejectNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(n, status, retryAfter)
}

// maxBody bounds the request body the fake reads.
const maxBody = 1 << 20

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Read the body before taking the lock, so a slow client holds up no one.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Request{Method: r.Method, Path: r.URL.EscapedPath()}
	switch {
	case err != nil:
		rec.Status, rec.Reason = fail(w, http.StatusBadRequest, MsgBadRequest), "read body: "+err.Error()
	case len(body) > maxBody:
		rec.Status, rec.Reason = fail(w, http.StatusRequestEntityTooLarge, http.StatusText(http.StatusRequestEntityTooLarge)), "body too large"
	default:
		rec.Status, rec.Reason = s.serve(w, r, body)
	}
	s.requests = append(s.requests, rec)
}

// serve answers r with s.mu held and returns the status and refusal reason.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, body []byte) (int, string) {
	if f, ok := s.faults.Next(w.Header()); ok {
		return fail(w, f.Status, messageFor(f.Status)), "forced"
	}
	if r.Header.Get("x-oho-api-key") != s.apiKey {
		return fail(w, http.StatusUnauthorized, MsgUnauthorized), "bad api key"
	}
	if s.limiter != nil {
		now := s.nowFunc()
		res := s.limiter.ReserveN(now, 1)
		if d := res.DelayFrom(now); !res.OK() || d > 0 {
			res.CancelAt(now)
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
			return fail(w, http.StatusTooManyRequests, MsgTooMany), "rate limited"
		}
	}

	key, route := parsePath(r.URL.EscapedPath())
	switch {
	case route == routeCreate && r.Method == http.MethodPost:
		return s.create(w, r, body)
	case route == routeContact && r.Method == http.MethodGet:
		return s.get(w, key)
	case route == routeContact && r.Method == http.MethodPatch:
		return s.update(w, r, body, key)
	}
	return fail(w, http.StatusNotFound, MsgNotFound), ""
}

// get answers GET /contact/:platform/:platform_id/user/:user_id.
func (s *Server) get(w http.ResponseWriter, k Key) (int, string) {
	if !slices.Contains(Platforms, k.Platform) {
		return fail(w, http.StatusBadRequest, MsgBadRequest), "platform must be one of line, facebook, instagram"
	}
	c, ok := s.contacts[k]
	if !ok {
		return fail(w, http.StatusNotFound, MsgNotFoundGet), ""
	}
	if raw, ok := s.foundAs[k]; ok {
		return reply(w, http.StatusOK, MsgFound, raw), ""
	}
	if s.found == FoundCreateBody {
		return reply(w, http.StatusOK, MsgFound, c.clone()), ""
	}
	return reply(w, http.StatusOK, MsgFound, c.asFound()), ""
}

// create answers POST /contact.
func (s *Server) create(w http.ResponseWriter, r *http.Request, body []byte) (int, string) {
	var b createBody
	if reason := decode(r, body, &b); reason != "" {
		return fail(w, http.StatusBadRequest, MsgBadRequest), reason
	}
	c, reason := validateCreate(b)
	if reason != "" {
		return fail(w, http.StatusBadRequest, MsgBadRequest), reason
	}
	if _, ok := s.contacts[c.Key()]; ok {
		return fail(w, http.StatusConflict, MsgConflict), ""
	}
	s.contacts[c.Key()] = c
	return reply(w, http.StatusCreated, MsgCreated, nil), ""
}

// update answers PATCH /contact/:platform/:platform_id/user/:user_id.
func (s *Server) update(w http.ResponseWriter, r *http.Request, body []byte, k Key) (int, string) {
	if !slices.Contains(Platforms, k.Platform) {
		return fail(w, http.StatusBadRequest, MsgBadRequest), "platform must be one of line, facebook, instagram"
	}
	var b updateBody
	if reason := decode(r, body, &b); reason != "" {
		return fail(w, http.StatusBadRequest, MsgBadRequest), reason
	}
	if reason := validateUpdate(b); reason != "" {
		return fail(w, http.StatusBadRequest, MsgBadRequest), reason
	}
	c, ok := s.contacts[k]
	if !ok {
		return fail(w, http.StatusNotFound, MsgNotFoundUpdate), ""
	}
	s.contacts[k] = b.apply(c)
	return reply(w, http.StatusOK, MsgUpdated, nil), ""
}

// decode reads the JSON body into v, refusing a missing JSON content type
// (the reference requires "Content-Type: application/json"), fields the
// table does not list, and trailing data. It returns the refusal reason.
func decode(r *http.Request, body []byte, v any) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return "Content-Type must be application/json"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return "invalid JSON body: " + err.Error()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "invalid JSON body: trailing data"
	}
	return ""
}

// Routes the fake knows.
const (
	routeNone    = iota
	routeCreate  // /contact
	routeContact // /contact/:platform/:platform_id/user/:user_id
)

// parsePath splits an escaped path into a route and, for routeContact, its key.
// Segments are unescaped one by one, so an id holding "/" (sent as %2F) stays whole.
func parsePath(p string) (Key, int) {
	seg := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(seg) == 1 && seg[0] == "contact" {
		return Key{}, routeCreate
	}
	if len(seg) != 5 || seg[0] != "contact" || seg[3] != "user" {
		return Key{}, routeNone
	}
	var parts [3]string
	for i, s := range []string{seg[1], seg[2], seg[4]} {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return Key{}, routeNone
		}
		parts[i] = u
	}
	return Key{Platform: parts[0], PlatformID: parts[1], UserID: parts[2]}, routeContact
}

// envelope is Oho's response body (§1 Response).
type envelope struct {
	OK         bool   `json:"ok"`
	StatusCode int    `json:"status_code"`
	Message    string `json:"message"`
	Data       any    `json:"data,omitempty"`
}

// reply writes a success envelope and returns status.
func reply(w http.ResponseWriter, status int, msg string, data any) int {
	write(w, status, envelope{OK: true, StatusCode: status, Message: msg, Data: data})
	return status
}

// fail writes an error envelope and returns status.
func fail(w http.ResponseWriter, status int, msg string) int {
	write(w, status, envelope{OK: false, StatusCode: status, Message: msg})
	return status
}

// write sends v as JSON with status.
func write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// messageFor returns the envelope message of a forced status.
func messageFor(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return MsgTooMany
	case status == http.StatusUnauthorized:
		return MsgUnauthorized
	case status == http.StatusNotFound:
		return MsgNotFound
	case status == http.StatusConflict:
		return MsgConflict
	case status >= 500:
		return http.StatusText(status)
	}
	return MsgBadRequest
}
