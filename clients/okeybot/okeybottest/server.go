package okeybottest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/clients/internal/faketest"
)

// Limits and defaults the fake enforces, each from the vendor's document
// (api-docs/okeybot-contacts-api.es.txt) unless noted.
const (
	// DefaultRateLimit and DefaultRateWindow: "Hay un límite de frecuencia de
	// 100 llamadas API por minuto", per channel ("Las llamadas a la API se
	// realizan por canal").
	DefaultRateLimit  = 100
	DefaultRateWindow = time.Minute
	// MaxCustomFields: "Máximo 30 campos actualizados por solicitud" (PUT) and
	// "Máximo 30 campos creados por solicitud" (POST).
	MaxCustomFields = 30
	// MaxTags: "Máximo 10 etiquetas agregadas por solicitud" (POST tags) and
	// "Máximo de 10 etiquetas eliminadas por solicitud" (DELETE tags).
	MaxTags = 10
	// DefaultPerPage is by_custom_field's page size: the example's
	// "meta": {"per_page": 10}.
	DefaultPerPage = 10
	// DefaultRejectStatus answers a request the API refuses for its content
	// (too many fields or tags, malformed body). The document lists only one
	// general error, "General (Estado HTTP → 403)" with {"status":"error",
	// "message":"Message String","data":[]}, so the fake uses 403 unless
	// Options.RejectStatus says otherwise.
	DefaultRejectStatus = http.StatusForbidden
	// DefaultMissingStatus answers a request for a contact id the channel
	// does not hold (never created, or deleted in Okeybot). The document
	// lists no 404, only 401, 403, 405 and 429, so the fake takes the least
	// convenient reading: its general 403, which also refuses content and,
	// in the document's list, tokens. Options.MissingStatus: 404 selects the
	// other reading.
	DefaultMissingStatus = http.StatusForbidden
)

// RateScope is what one rate limit counts: each channel token's calls, or
// every call of the account.
type RateScope int

// The scopes. The document says only "Las llamadas a la API se realizan por
// canal" and "100 llamadas API por minuto", so either reading is possible.
const (
	// PerToken counts each channel token's calls apart (the default).
	PerToken RateScope = iota
	// PerAccount counts the calls of every token together: one limit for
	// the whole account.
	PerAccount
)

// Documented response messages.
const (
	msgUnauthenticated  = "API Token is invalid."                      // 401, "No autorizado"
	msgTooManyRequests  = "Too many requests"                          // 429, "Demasiadas solicitudes"
	msgMethodNotAllowed = "405 Method Not Allowed."                    // 405, "Método no permitido"
	msgTagsAdded        = "Contact Tags have been added successfully." // POST tags 200
	msgTagsDeleted      = "Contact Tags deleted successfully."         // DELETE tags 200
	// Not in the document: the fake's own wording for a missing contact,
	// sent with Options.MissingStatus in the documented error envelope.
	// Clients must not rely on it: the document's 403 says only "Message
	// String".
	msgContactNotFound = "Contact not found."
)

// firstContactID is where generated ids start: the document's example id.
const firstContactID = 1776025372480910

// Channel is one Okeybot channel the fake knows, identified by its API token.
type Channel struct {
	// Token is the channel's API token, sent as "Authorization: Bearer <token>".
	Token string
	// Viber marks a Viber channel: contact ids in request paths must be
	// Base64-encoded ("en el caso del canal Viber ... la ID de contacto debe
	// proporcionarse en un formato codificado en Base64"), and generated ids
	// contain '+', '/' and '=' like real Viber ids.
	Viber bool
}

// Options configures the fake. Zero values mean the documented defaults.
type Options struct {
	// Channels are the tokens the fake accepts; any other token gets 401.
	Channels []Channel
	// PerPage is by_custom_field's page size (default 10).
	PerPage int
	// RateLimit calls per RateWindow are accepted per token (default 100 per
	// minute), or per account with RateScope PerAccount. The fake counts
	// them the strictest way (faketest.SlidingWindow): a call is refused
	// when RateLimit accepted calls arrived in the closed span of RateWindow
	// before it, however the spans fall. A client that passes here passes
	// a fixed window or a token bucket too. A refusal is a 429 with the
	// documented body and no Retry-After (the document promises none).
	RateLimit  int
	RateWindow time.Duration
	// RateScope says whether the limit counts each token's calls
	// (PerToken, the default) or the whole account's (PerAccount).
	RateScope RateScope
	// ArrivalJitter, when positive, delays each call's arrival time as the
	// rate limit counts it by a random amount in [0, ArrivalJitter), as a
	// network and a load balancer do: calls that leave evenly spaced do not
	// arrive so. JitterSeed seeds it (the same seed, the same delays).
	ArrivalJitter time.Duration
	JitterSeed    uint64
	// RejectStatus is the status for refused content (default 403, the
	// document's general error; see DefaultRejectStatus).
	RejectStatus int
	// MissingStatus is the status for a contact id the channel does not
	// hold, e.g. one deleted in Okeybot (default 403; see
	// DefaultMissingStatus). 404 is the other reading.
	MissingStatus int
	// NowFunc is the fake's clock (default time.Now); inject Clock.Now in
	// tests so rate windows pass without sleeping.
	NowFunc func() time.Time
}

// Contact is a contact as the fake stores it.
type Contact struct {
	ID           string
	CustomFields map[string]string
	Tags         []string
	CreatedAt    time.Time
}

// Request is one request the fake answered for a known token.
type Request struct {
	Method string
	Path   string // as sent, still escaped (a Viber id shows Base64)
	Query  string // raw query string
	Body   string
	Status int
}

// String returns "METHOD /path?query STATUS".
func (r Request) String() string {
	s := r.Method + " " + r.Path
	if r.Query != "" {
		s += "?" + r.Query
	}
	return s + " " + strconv.Itoa(r.Status)
}

// Server is an in-memory Okeybot Contacts API v1 (the respond.io legacy v1
// Contacts API). It serves the paths under /api/v1/contact (and, for mounting
// elsewhere, the same paths without the /api prefix), keeps contacts per
// channel token, and refuses what the document says the API refuses. It is
// an http.Handler and safe for concurrent use.
type Server struct {
	// URL is the base URL to give okeybot.Config.BaseURL (".../api"); set by
	// NewServer, empty for a Server from New.
	URL string

	opts Options

	mu           sync.Mutex
	channels     map[string]*channelState
	account      *faketest.SlidingWindow // the limit of every token, with PerAccount
	jitter       *rand.Rand              // nil without ArrivalJitter
	faults       []int
	nextID       uint64
	unauthorized int
}

type channelState struct {
	viber       bool
	refuse      int // status every request of the token gets (RefuseToken); 0: served
	contacts    map[string]*Contact
	order       []string                // ids in creation order
	window      *faketest.SlidingWindow // the token's limit (PerToken)
	requests    []Request
	rateLimited int
}

// New returns a fake for use as an http.Handler outside tests (sandbox,
// demo). Mount it at the root of a listener; okeybot.Config.BaseURL is then
// "<listener URL>/api".
func New(opts Options) *Server {
	if opts.PerPage <= 0 {
		opts.PerPage = DefaultPerPage
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.RateWindow <= 0 {
		opts.RateWindow = DefaultRateWindow
	}
	if opts.RejectStatus == 0 {
		opts.RejectStatus = DefaultRejectStatus
	}
	if opts.MissingStatus == 0 {
		opts.MissingStatus = DefaultMissingStatus
	}
	if opts.NowFunc == nil {
		opts.NowFunc = time.Now
	}
	s := &Server{opts: opts, channels: make(map[string]*channelState), nextID: firstContactID,
		account: faketest.NewSlidingWindow(opts.RateLimit, opts.RateWindow)}
	if opts.ArrivalJitter > 0 {
		s.jitter = rand.New(rand.NewPCG(opts.JitterSeed, 0x6f6b6579626f74)) // "okeybot"
	}
	for _, ch := range opts.Channels {
		s.AddChannel(ch)
	}
	return s
}

// NewServer starts the fake on a local listener for the length of the test
// and sets URL.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	s.URL = hs.URL + "/api"
	return s
}

// AddChannel makes the fake accept ch.Token. Adding a known token again
// keeps its contacts and updates its Viber flag.
func (s *Server) AddChannel(ch Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channelLocked(ch.Token).viber = ch.Viber
}

func (s *Server) channelLocked(token string) *channelState {
	cs, ok := s.channels[token]
	if !ok {
		cs = &channelState{contacts: make(map[string]*Contact), window: faketest.NewSlidingWindow(s.opts.RateLimit, s.opts.RateWindow)}
		s.channels[token] = cs
	}
	return cs
}

// Seed stores contacts under token (adding the token as a non-Viber channel
// if unknown) and returns them as stored: an empty ID is generated and a zero
// CreatedAt becomes now. Seeding is not a request: it spends no rate.
func (s *Server) Seed(token string, cs ...Contact) []Contact {
	now := s.opts.NowFunc()
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channelLocked(token)
	out := make([]Contact, 0, len(cs))
	for _, c := range cs {
		c = cloneContact(c)
		if c.ID == "" {
			c.ID = s.newIDLocked(ch.viber)
		}
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		if c.CustomFields == nil {
			c.CustomFields = map[string]string{}
		}
		if _, exists := ch.contacts[c.ID]; !exists {
			ch.order = append(ch.order, c.ID)
		}
		stored := c
		ch.contacts[c.ID] = &stored
		out = append(out, cloneContact(c))
	}
	return out
}

// FailNext makes the next len(statuses) authenticated requests fail, in
// order, with these statuses and the documented error envelope (a 429, as
// the fake's own, without Retry-After). Injected failures spend no rate.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, statuses...)
}

// RefuseToken makes every later request with token fail with status (the
// document's 401 "API Token is invalid.", or its general 403, which its
// list of errors also allows for a token Okeybot refuses), before the rate
// limit and routing, as a revoked token would; 0 serves it again. The
// requests are recorded and the channel's contacts kept.
func (s *Server) RefuseToken(token string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channelLocked(token).refuse = status
}

// Contacts returns token's contacts in creation order.
func (s *Server) Contacts(token string) []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[token]
	if !ok {
		return nil
	}
	out := make([]Contact, 0, len(ch.order))
	for _, id := range ch.order {
		out = append(out, cloneContact(*ch.contacts[id]))
	}
	return out
}

// Contact returns one of token's contacts by its raw (not encoded) id.
func (s *Server) Contact(token, id string) (Contact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[token]
	if !ok {
		return Contact{}, false
	}
	c, ok := ch.contacts[id]
	if !ok {
		return Contact{}, false
	}
	return cloneContact(*c), true
}

// Delete removes one of token's contacts, as a person deleting it in
// Okeybot does (the API documents no delete). It reports whether the
// contact existed. Later requests for its id get Options.MissingStatus.
func (s *Server) Delete(token, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[token]
	if !ok {
		return false
	}
	if _, ok := ch.contacts[id]; !ok {
		return false
	}
	delete(ch.contacts, id)
	ch.order = slices.DeleteFunc(ch.order, func(x string) bool { return x == id })
	return true
}

// Edit changes one of token's contacts as a person does in Okeybot's
// inbox, without a request: f receives the stored contact and may change
// its custom fields (an empty value removes the field) and tags. It reports
// whether the contact exists.
func (s *Server) Edit(token, id string, f func(*Contact)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[token]
	if !ok {
		return false
	}
	c, ok := ch.contacts[id]
	if !ok {
		return false
	}
	f(c)
	if c.CustomFields == nil {
		c.CustomFields = map[string]string{}
	}
	for k, v := range c.CustomFields {
		if v == "" {
			delete(c.CustomFields, k)
		}
	}
	c.Tags = slices.Compact(slices.DeleteFunc(c.Tags, func(t string) bool { return t == "" }))
	return true
}

// Requests returns the requests answered for token, oldest first.
func (s *Server) Requests(token string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.channels[token]; ok {
		return slices.Clone(ch.requests)
	}
	return nil
}

// Calls returns how many requests token sent, whatever their outcome.
func (s *Server) Calls(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.channels[token]; ok {
		return len(ch.requests)
	}
	return 0
}

// RateLimited returns how many of token's requests got 429 because it was
// over the rate limit (injected failures not included).
func (s *Server) RateLimited(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.channels[token]; ok {
		return ch.rateLimited
	}
	return 0
}

// TotalRateLimited returns RateLimited summed over all tokens.
func (s *Server) TotalRateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ch := range s.channels {
		n += ch.rateLimited
	}
	return n
}

// Unauthorized returns how many requests were refused with 401 (missing or
// unknown token). Their tokens are not recorded.
func (s *Server) Unauthorized() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unauthorized
}

// response is what one request is answered with.
type response struct {
	status int
	header http.Header
	body   any
}

// envelope is the documented error (and tag success) body.
type envelope struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Data    []any  `json:"data"`
}

func errorResponse(status int, msg string) response {
	return response{status: status, body: envelope{Status: "error", Message: msg, Data: []any{}}}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, 1<<20)); err != nil {
			writeResponse(w, errorResponse(http.StatusBadRequest, "Unreadable body."))
			return
		}
	}
	now := s.opts.NowFunc()
	s.mu.Lock()
	resp := s.handleLocked(r, body, now)
	s.mu.Unlock()
	writeResponse(w, resp)
}

func writeResponse(w http.ResponseWriter, resp response) {
	for k, vs := range resp.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	_ = json.NewEncoder(w).Encode(resp.body)
}

// handleLocked authenticates, rate-limits, routes and logs one request.
func (s *Server) handleLocked(r *http.Request, body []byte, now time.Time) response {
	token, ok := bearer(r.Header.Get("Authorization"))
	ch := s.channels[token]
	if !ok || ch == nil {
		s.unauthorized++
		return errorResponse(http.StatusUnauthorized, msgUnauthenticated)
	}
	resp := s.serveChannelLocked(ch, r, body, now)
	ch.requests = append(ch.requests, Request{
		Method: r.Method,
		Path:   r.URL.EscapedPath(),
		Query:  r.URL.RawQuery,
		Body:   string(body),
		Status: resp.status,
	})
	return resp
}

func (s *Server) serveChannelLocked(ch *channelState, r *http.Request, body []byte, now time.Time) response {
	if ch.refuse != 0 {
		return errorResponse(ch.refuse, faultMessage(ch.refuse))
	}
	if len(s.faults) > 0 {
		status := s.faults[0]
		s.faults = s.faults[1:]
		return errorResponse(status, faultMessage(status))
	}

	arrival := now
	if s.jitter != nil {
		arrival = arrival.Add(time.Duration(s.jitter.Int64N(int64(s.opts.ArrivalJitter))))
	}
	w := ch.window
	if s.opts.RateScope == PerAccount {
		w = s.account
	}
	if ok, _ := w.Allow(arrival); !ok {
		// The document shows the body and promises no Retry-After: none is sent.
		ch.rateLimited++
		return errorResponse(http.StatusTooManyRequests, msgTooManyRequests)
	}
	return s.routeLocked(ch, r, body, now)
}

func faultMessage(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return msgUnauthenticated
	case http.StatusTooManyRequests:
		return msgTooManyRequests
	case http.StatusMethodNotAllowed:
		return msgMethodNotAllowed
	case http.StatusForbidden:
		return "Message String" // the document's example
	}
	return http.StatusText(status)
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// routeLocked dispatches on the escaped path, so an id holding "%2F" (a
// Base64 Viber id) stays one segment.
func (s *Server) routeLocked(ch *channelState, r *http.Request, body []byte, now time.Time) response {
	p := r.URL.EscapedPath()
	prefix := ""
	if strings.HasPrefix(p, "/api/") {
		prefix = "/api"
		p = strings.TrimPrefix(p, prefix)
	}
	rest, ok := strings.CutPrefix(p, "/v1/contact")
	if !ok {
		return errorResponse(http.StatusNotFound, "Not found.")
	}
	rest = strings.TrimPrefix(rest, "/")
	segs := strings.Split(rest, "/")
	switch {
	case rest == "":
		if r.Method != http.MethodPost {
			return errorResponse(http.StatusMethodNotAllowed, msgMethodNotAllowed)
		}
		return s.createLocked(ch, body, now)
	case rest == "by_custom_field":
		if r.Method != http.MethodGet {
			return errorResponse(http.StatusMethodNotAllowed, msgMethodNotAllowed)
		}
		return s.byCustomFieldLocked(ch, r, prefix)
	case len(segs) == 1:
		switch r.Method {
		case http.MethodGet:
			return s.withContactLocked(ch, segs[0], func(c *Contact) response {
				return response{status: http.StatusOK, body: map[string]any{"data": contactJSON(c)}}
			})
		case http.MethodPut:
			return s.withContactLocked(ch, segs[0], func(c *Contact) response {
				return s.updateLocked(c, body)
			})
		}
		return errorResponse(http.StatusMethodNotAllowed, msgMethodNotAllowed)
	case len(segs) == 2 && segs[1] == "tags":
		switch r.Method {
		case http.MethodPost, http.MethodDelete:
			return s.withContactLocked(ch, segs[0], func(c *Contact) response {
				return s.tagsLocked(c, r.Method, body)
			})
		}
		return errorResponse(http.StatusMethodNotAllowed, msgMethodNotAllowed)
	}
	return errorResponse(http.StatusNotFound, "Not found.")
}

// withContactLocked resolves a path segment to a contact (decoding Base64
// on Viber channels) and calls f, or answers Options.MissingStatus.
func (s *Server) withContactLocked(ch *channelState, seg string, f func(*Contact) response) response {
	missing := errorResponse(s.opts.MissingStatus, msgContactNotFound)
	id, err := url.PathUnescape(seg)
	if err != nil {
		return missing
	}
	if ch.viber {
		raw, err := base64.StdEncoding.DecodeString(id)
		if err != nil {
			return missing
		}
		id = string(raw)
	}
	c, ok := ch.contacts[id]
	if !ok {
		return missing
	}
	return f(c)
}

// customFieldsBody is the POST/PUT /v1/contact body.
type customFieldsBody struct {
	CustomFields []struct {
		Name  *string         `json:"name"`
		Value json.RawMessage `json:"value"`
	} `json:"custom_fields"`
}

// parseFields validates a create/update body: 1 to 30 fields, each with a
// non-empty name and a scalar value.
func (s *Server) parseFields(body []byte) ([][2]string, *response) {
	var b customFieldsBody
	if err := json.Unmarshal(body, &b); err != nil {
		r := errorResponse(s.opts.RejectStatus, "The request body must be JSON with custom_fields.")
		return nil, &r
	}
	if len(b.CustomFields) == 0 {
		r := errorResponse(s.opts.RejectStatus, "The custom fields field is required.")
		return nil, &r
	}
	if len(b.CustomFields) > MaxCustomFields {
		r := errorResponse(s.opts.RejectStatus, fmt.Sprintf("Maximum %d custom fields per request.", MaxCustomFields))
		return nil, &r
	}
	out := make([][2]string, 0, len(b.CustomFields))
	for i, f := range b.CustomFields {
		if f.Name == nil || *f.Name == "" {
			r := errorResponse(s.opts.RejectStatus, fmt.Sprintf("custom_fields.%d.name is required.", i))
			return nil, &r
		}
		v, ok := scalarString(f.Value)
		if !ok {
			r := errorResponse(s.opts.RejectStatus, fmt.Sprintf("custom_fields.%d.value must be a string, number or boolean.", i))
			return nil, &r
		}
		out = append(out, [2]string{*f.Name, v})
	}
	return out, nil
}

// scalarString turns a JSON scalar into the text the API stores; booleans
// become TRUE/FALSE, as the document asks for boolean custom fields.
func scalarString(raw json.RawMessage) (string, bool) {
	var v any
	if len(raw) == 0 {
		return "", true
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		if x {
			return "TRUE", true
		}
		return "FALSE", true
	}
	return "", false
}

func (s *Server) createLocked(ch *channelState, body []byte, now time.Time) response {
	fields, refused := s.parseFields(body)
	if refused != nil {
		return *refused
	}
	c := &Contact{ID: s.newIDLocked(ch.viber), CustomFields: map[string]string{}, Tags: []string{}, CreatedAt: now}
	for _, f := range fields {
		c.CustomFields[f[0]] = f[1]
	}
	ch.contacts[c.ID] = c
	ch.order = append(ch.order, c.ID)
	return response{status: http.StatusOK, body: map[string]any{"data": map[string]string{"id": c.ID}}}
}

// updateLocked merges the given fields into c by name; others stay.
func (s *Server) updateLocked(c *Contact, body []byte) response {
	fields, refused := s.parseFields(body)
	if refused != nil {
		return *refused
	}
	for _, f := range fields {
		c.CustomFields[f[0]] = f[1]
	}
	return response{status: http.StatusOK, body: map[string]any{"data": map[string]string{"id": c.ID}}}
}

// tagsLocked adds (POST) or removes (DELETE) 1 to 10 tags. Adding a tag the
// contact has, or removing one it lacks, is harmless.
func (s *Server) tagsLocked(c *Contact, method string, body []byte) response {
	var b struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return errorResponse(s.opts.RejectStatus, "The tags must be a list of strings.")
	}
	if len(b.Tags) == 0 {
		return errorResponse(s.opts.RejectStatus, "The tags field is required.")
	}
	if len(b.Tags) > MaxTags {
		return errorResponse(s.opts.RejectStatus, fmt.Sprintf("Maximum %d tags per request.", MaxTags))
	}
	for i, t := range b.Tags {
		if t == "" {
			return errorResponse(s.opts.RejectStatus, fmt.Sprintf("tags.%d must not be empty.", i))
		}
	}
	if method == http.MethodPost {
		for _, t := range b.Tags {
			if !slices.Contains(c.Tags, t) {
				c.Tags = append(c.Tags, t)
			}
		}
		return response{status: http.StatusOK, body: envelope{Status: "success", Message: msgTagsAdded, Data: []any{}}}
	}
	c.Tags = slices.DeleteFunc(c.Tags, func(t string) bool { return slices.Contains(b.Tags, t) })
	return response{status: http.StatusOK, body: envelope{Status: "success", Message: msgTagsDeleted, Data: []any{}}}
}

// pageLinks and pageMeta follow the document's (Laravel) paginator shape.
type pageLinks struct {
	First string  `json:"first"`
	Last  string  `json:"last"`
	Prev  *string `json:"prev"`
	Next  *string `json:"next"`
}

type pageMeta struct {
	CurrentPage int    `json:"current_page"`
	From        *int   `json:"from"`
	LastPage    int    `json:"last_page"`
	Path        string `json:"path"`
	PerPage     int    `json:"per_page"`
	To          *int   `json:"to"`
	Total       int    `json:"total"`
}

// byCustomFieldLocked lists the contacts whose field name equals value, one
// page at a time. As in the document's example, links carry only ?page=N,
// not the name and value filters: a client must keep those itself.
func (s *Server) byCustomFieldLocked(ch *channelState, r *http.Request, prefix string) response {
	q := r.URL.Query()
	name, value := q.Get("name"), q.Get("value")
	if name == "" {
		return errorResponse(s.opts.RejectStatus, "The name field is required.")
	}
	var matches []*Contact
	for _, id := range ch.order {
		c := ch.contacts[id]
		if v, ok := c.CustomFields[name]; ok && v == value {
			matches = append(matches, c)
		}
	}
	per := s.opts.PerPage
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	last := max(1, (len(matches)+per-1)/per)

	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := scheme + "://" + r.Host + prefix + "/v1/contact/by_custom_field"
	pageURL := func(n int) string { return path + "?page=" + strconv.Itoa(n) }
	links := pageLinks{First: pageURL(1), Last: pageURL(last)}
	if page > 1 {
		u := pageURL(min(page-1, last))
		links.Prev = &u
	}
	if page < last {
		u := pageURL(page + 1)
		links.Next = &u
	}
	meta := pageMeta{CurrentPage: page, LastPage: last, Path: path, PerPage: per, Total: len(matches)}

	data := []any{}
	start := (page - 1) * per
	if start < len(matches) {
		end := min(start+per, len(matches))
		for _, c := range matches[start:end] {
			data = append(data, contactJSON(c))
		}
		from, to := start+1, end
		meta.From, meta.To = &from, &to
	}
	return response{status: http.StatusOK, body: map[string]any{"data": data, "links": links, "meta": meta}}
}

// contactJSON renders a contact as the API does. An empty custom_fields
// comes out as [] (PHP encodes an empty array that way), which clients must
// accept.
func contactJSON(c *Contact) map[string]any {
	var fields any = []any{}
	if len(c.CustomFields) > 0 {
		fields = c.CustomFields
	}
	tags := c.Tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{
		"id":            c.ID,
		"custom_fields": fields,
		"tags":          tags,
		"created_at":    c.CreatedAt.Unix(),
	}
}

// newIDLocked returns a fresh contact id: digits as in the document's
// example, or for Viber a Base64 text holding '+', '/' and '=' like a real
// Viber user id, so a client that forgets to encode it breaks the path.
func (s *Server) newIDLocked(viber bool) string {
	n := s.nextID
	s.nextID++
	if !viber {
		return strconv.FormatUint(n, 10)
	}
	b := make([]byte, 16)
	b[0], b[1], b[2] = 0xfb, 0xff, 0xfe
	binary.BigEndian.PutUint64(b[8:], n)
	return base64.StdEncoding.EncodeToString(b)
}

func cloneContact(c Contact) Contact {
	if c.CustomFields != nil {
		m := make(map[string]string, len(c.CustomFields))
		for k, v := range c.CustomFields {
			m[k] = v
		}
		c.CustomFields = m
	}
	c.Tags = slices.Clone(c.Tags)
	return c
}
