package okeybot

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
)

// Defaults, from api-docs/okeybot-contacts-api.es.txt.
const (
	// DefaultBaseURL is the vendor's address.
	DefaultBaseURL = "https://app.okeybot.com/api"
	// DefaultRatePerMinute: "Hay un límite de frecuencia de 100 llamadas API
	// por minuto", per channel token ("Las llamadas a la API se realizan por
	// canal") unless RateScope says the account.
	DefaultRatePerMinute = 100
	// RatePeriod is the period the limit is counted over: a minute. A 429,
	// which Okeybot sends without Retry-After, is waited out for at least
	// this long (RetryPolicy.RateLimitPeriod), so the window has passed.
	RatePeriod = time.Minute
	// DefaultMaxDelay caps one wait after a 5xx. A per-minute quota can ask
	// for up to 60s in Retry-After, more than apiclient's 30s default.
	DefaultMaxDelay = time.Minute
)

// RateScope says what one limiter paces: each channel token's calls, or
// every call of the account.
type RateScope int

// The scopes. The document says calls are made per channel and limited to
// 100 a minute, not whether the 100 is per channel token or per account.
const (
	// ScopeToken gives each channel token its own limiter (the default).
	ScopeToken RateScope = iota
	// ScopeAccount gives every token one limiter: 100 a minute in all.
	ScopeAccount
)

// String returns "token" or "account", as jobs.yaml spells them.
func (s RateScope) String() string {
	if s == ScopeAccount {
		return "account"
	}
	return "token"
}

// ParseRateScope reads "token" or "account" (okeybot.rate_scope).
func ParseRateScope(s string) (RateScope, error) {
	switch s {
	case "", "token":
		return ScopeToken, nil
	case "account":
		return ScopeAccount, nil
	}
	return 0, fmt.Errorf("rate scope %q is not one of token, account", s)
}

// serviceName names Okeybot in errors, logs and observations.
const serviceName = "okeybot"

// Config holds what New needs. Zero values mean the documented default.
type Config struct {
	// BaseURL defaults to DefaultBaseURL; tests use the fake's URL.
	BaseURL string
	// RatePerMinute is the vendor's quota per limiter (default 100).
	RatePerMinute int
	// Headroom is the share of RatePerMinute left unused (default
	// apiclient.DefaultHeadroom, 2.5%: one call every 615 ms at 100 a
	// minute), so that a server counting any 60 s by arrival time refuses
	// nothing while arrivals jitter by less than
	// apiclient.JitterTolerance(time.Minute, Headroom) (1.5 s). Must be below
	// 0.5.
	Headroom float64
	// RateScope is ScopeToken (a limiter per channel token, the default) or
	// ScopeAccount (one limiter for every token of the Client).
	RateScope RateScope
	// LimiterFunc, when set, returns the limiter instead of
	// apiclient.Pace(RatePerMinute, time.Minute, Headroom). It is called once
	// per limiter: per distinct token, or once (with "") under ScopeAccount;
	// nil from it means unlimited.
	LimiterFunc func(token string) *rate.Limiter
	// Log receives apiclient's per-attempt debug lines (never headers, bodies
	// or query strings); nil discards.
	Log logrus.FieldLogger
	// Observer is called once per attempt (metrics).
	Observer func(apiclient.RequestInfo)
	// SleepFunc waits between retries (default: a timer honouring ctx).
	SleepFunc func(ctx context.Context, d time.Duration) error
	// Retry bounds retries. A zero MaxDelay becomes DefaultMaxDelay and a
	// zero RateLimitPeriod RatePeriod. A 429 is never a failure: it is
	// waited out, RateLimitPeriod (at least a minute) plus up to a tenth at
	// random, and sent again, for as long as the caller's context lasts
	// (MaxRateLimitedWait 0, the default) or MaxRateLimitedWait allows, which
	// must leave room for one full wait.
	Retry apiclient.RetryPolicy
	// Timeout bounds one attempt (apiclient's default 30s).
	Timeout time.Duration
	// Base is the innermost transport, shared by all channels (default: a
	// clone of http.DefaultTransport).
	Base http.RoundTripper
}

// Client is an Okeybot Contacts API v1 client. Okeybot authenticates each
// channel with its own token and limits each token separately, so the work is
// done through Channel handles. A Client is safe for concurrent use.
type Client struct {
	cfg     Config
	baseURL string // without a trailing slash
	base    http.RoundTripper

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("okeybot: base URL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("okeybot: base URL %q must not carry a query, fragment or user info", u.Redacted())
	}
	if cfg.RatePerMinute < 0 {
		return nil, fmt.Errorf("okeybot: rate %d/min must not be negative", cfg.RatePerMinute)
	}
	if cfg.RatePerMinute == 0 {
		cfg.RatePerMinute = DefaultRatePerMinute
	}
	if cfg.Headroom < 0 || cfg.Headroom >= 0.5 {
		return nil, fmt.Errorf("okeybot: headroom %v is outside [0, 0.5)", cfg.Headroom)
	}
	if cfg.Headroom == 0 {
		cfg.Headroom = apiclient.DefaultHeadroom
	}
	if cfg.RateScope != ScopeToken && cfg.RateScope != ScopeAccount {
		return nil, fmt.Errorf("okeybot: unknown rate scope %d", cfg.RateScope)
	}
	if err := checkRetry(&cfg.Retry); err != nil {
		return nil, err
	}
	base := cfg.Base
	if base == nil {
		base = apiclient.NewBase() // one connection pool shared by every channel
	}
	return &Client{
		cfg:      cfg,
		baseURL:  strings.TrimSuffix(u.String(), "/"),
		base:     base,
		limiters: make(map[string]*rate.Limiter),
	}, nil
}

// checkRetry fills Okeybot's retry defaults into p and refuses a policy
// that would give up on a 429 before a full minute has gone by: Okeybot
// sends no Retry-After, and its limit is counted per minute.
func checkRetry(p *apiclient.RetryPolicy) error {
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.RateLimitPeriod == 0 {
		p.RateLimitPeriod = RatePeriod
	}
	if p.RateLimitPeriod < RatePeriod {
		return fmt.Errorf("okeybot: rate limit period %s is shorter than the minute Okeybot counts its limit over", p.RateLimitPeriod)
	}
	if p.MaxRateLimitDelay > 0 && p.MaxRateLimitDelay < p.RateLimitPeriod {
		return fmt.Errorf("okeybot: max rate limit delay %s would cut a 429's wait below %s", p.MaxRateLimitDelay, p.RateLimitPeriod)
	}
	firstWait := p.RateLimitPeriod + p.RateLimitPeriod/10 // the longest first wait apiclient may draw
	if p.MaxRateLimitDelay > 0 {
		firstWait = min(firstWait, p.MaxRateLimitDelay)
	}
	if p.MaxRateLimitedWait > 0 && p.MaxRateLimitedWait < firstWait {
		return fmt.Errorf("okeybot: max rate limited wait %s leaves no room for one wait of up to %s after a 429", p.MaxRateLimitedWait, firstWait)
	}
	return nil
}

// limiter returns the limiter of token (of the account under ScopeAccount),
// creating it on first use.
func (c *Client) limiter(token string) *rate.Limiter {
	if c.cfg.RateScope == ScopeAccount {
		token = ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if lim, ok := c.limiters[token]; ok {
		return lim
	}
	var lim *rate.Limiter
	if c.cfg.LimiterFunc != nil {
		lim = c.cfg.LimiterFunc(token)
	} else {
		lim = apiclient.Pace(float64(c.cfg.RatePerMinute), time.Minute, c.cfg.Headroom)
	}
	c.limiters[token] = lim
	return lim
}

// untilDeadline is a limiter that, when the caller's deadline comes before
// the next free slot, waits for the deadline and returns the context's
// error, instead of failing at once as rate.Limiter does: a run that meets
// its deadline ends as a deadline (context.DeadlineExceeded), not as a
// string of contacts each failed in a few microseconds.
type untilDeadline struct{ lim *rate.Limiter }

// Wait implements apiclient.Limiter.
func (u untilDeadline) Wait(ctx context.Context) error {
	err := u.lim.Wait(ctx)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

// ChannelOptions describes one channel beyond its token.
type ChannelOptions struct {
	// Name labels the channel in log lines ("channel" field). The token
	// itself is never logged.
	Name string
	// Viber marks a Viber channel, whose contact ids Okeybot wants
	// Base64-encoded in request paths. The handle encodes them: callers
	// always pass raw ids, as Okeybot returns them.
	Viber bool
}

// Channel is the handle for one Okeybot channel: every request it sends
// carries the channel's token and waits on the token's limiter (the
// account's under ScopeAccount). Handles for the same token share that
// limiter, however many are made. A Channel is safe for concurrent use.
type Channel struct {
	// Contacts reads, creates and updates contacts.
	Contacts *ContactsService
	// Tags adds and removes contact tags.
	Tags *TagsService

	baseURL string
	viber   bool
	hc      *http.Client
	lim     *rate.Limiter
}

type service struct{ ch *Channel }

// Channel returns the handle for the channel whose API token is token.
func (c *Client) Channel(token string, opts ChannelOptions) (*Channel, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, errors.New("okeybot channel: empty token")
	}
	var log logrus.FieldLogger
	if c.cfg.Log != nil {
		log = c.cfg.Log
		if opts.Name != "" {
			log = log.WithField("channel", opts.Name)
		}
	}
	lim := c.limiter(token)
	var paced apiclient.Limiter
	if lim != nil {
		paced = untilDeadline{lim: lim}
	}
	ch := &Channel{
		baseURL: c.baseURL,
		viber:   opts.Viber,
		lim:     lim,
		hc: apiclient.NewHTTPClient(apiclient.Options{
			Service:   serviceName,
			Limiter:   paced,
			Auth:      func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) },
			Log:       log,
			Timeout:   c.cfg.Timeout,
			Retry:     c.cfg.Retry,
			SleepFunc: c.cfg.SleepFunc,
			Observer:  c.cfg.Observer,
			Base:      c.base,
		}),
	}
	ch.Contacts = &ContactsService{ch: ch}
	ch.Tags = &TagsService{ch: ch}
	return ch, nil
}

// Limiter returns the limiter shared by every handle of this channel's token
// (by every handle of the Client under ScopeAccount); nil when unlimited.
func (ch *Channel) Limiter() *rate.Limiter { return ch.lim }

// PathID returns contact id as it goes into a request path: for a Viber
// channel Base64-encoded (standard alphabet, padded) as the document asks
// ("la ID de contacto debe proporcionarse en un formato codificado en
// Base64"), then percent-encoded, so the '/', '+' and '=' of Base64 (or of
// any id) reach the server as %2F, %2B and %3D, surviving both path and
// form-style decoding. Channel handles call it; callers need it only to
// build URLs themselves.
func PathID(id string, viber bool) string {
	if viber {
		id = base64.StdEncoding.EncodeToString([]byte(id))
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// contactPath returns the escaped path of contact id plus suffix.
func (ch *Channel) contactPath(id, suffix string) string {
	return "/v1/contact/" + PathID(id, ch.viber) + suffix
}

// do sends one request. escapedPath is relative to the base URL and already
// escaped; body, when not nil, is sent as JSON.
func (ch *Channel) do(ctx context.Context, method, escapedPath string, query url.Values, body, out any) error {
	u, err := url.Parse(ch.baseURL + escapedPath)
	if err != nil {
		return fmt.Errorf("build okeybot URL: %w", err)
	}
	u.RawQuery = query.Encode()
	var rd io.Reader // a nil interface, not a nil *bytes.Reader, when there is no body
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode okeybot %s body: %w", method, err)
		}
		rd = bytes.NewReader(b) // lets apiclient replay it on retry (GetBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("build okeybot request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return classify(apiclient.Do(ch.hc, req, serviceName, out, decodeError))
}

// decodeError reads the documented error envelope
// {"status":"error","message":"...","data":[]}. It has no code.
func decodeError(body []byte) (code, msg string) {
	var e struct {
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	msg, _, _ = scalarText(e.Message)
	return "", msg
}

// classify re-classes Okeybot's 403. The document gives 401 ("API Token is
// invalid.") for a bad token and 403 only as "General", with a free message:
// a refusal of this request, not of the credentials. apiclient classes every
// 403 as ErrUnauthorized, which would stop a whole run over one record, so a
// 403 is returned as generalError: errors.Is(err, apiclient.ErrRejected)
// holds, errors.Is(err, apiclient.ErrUnauthorized) does not, and errors.As
// still yields the *apiclient.Error with Status 403.
func classify(err error) error {
	var ae *apiclient.Error
	if errors.As(err, &ae) && ae.Status == http.StatusForbidden {
		return &generalError{e: ae}
	}
	return err
}

// generalError is Okeybot's 403 "General" error; see classify.
type generalError struct{ e *apiclient.Error }

// Error implements error.
func (g *generalError) Error() string { return g.e.Error() }

// Unwrap returns apiclient.ErrRejected.
func (g *generalError) Unwrap() error { return apiclient.ErrRejected }

// As sets *target to the underlying *apiclient.Error.
func (g *generalError) As(target any) bool {
	if p, ok := target.(**apiclient.Error); ok {
		*p = g.e
		return true
	}
	return false
}

// MaybeMissing reports whether err may mean that the contact a request
// named does not exist (any more): a 404, or a 403, since the document
// lists no 404 and its general 403 also answers a refused body and, in its
// list of errors, a refused token. Only the caller can tell them apart, by
// reading the contact (GET answers the same if it is gone) and checking the
// token on another request (a by_custom_field lookup works with a good token).
func MaybeMissing(err error) bool {
	var ae *apiclient.Error
	return errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusForbidden)
}
