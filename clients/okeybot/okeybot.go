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
	// por minuto", per channel token.
	DefaultRatePerMinute = 100
	// DefaultBurst is 1, the only burst at which a token bucket refilling at
	// the full 100/min never puts 101 calls in one minute (see QuotaLimiter).
	DefaultBurst = 1
	// DefaultMaxDelay caps one retry wait. A per-minute quota can ask for up
	// to 60s in Retry-After, more than apiclient's 30s default.
	DefaultMaxDelay = time.Minute
)

// serviceName names Okeybot in errors, logs and observations.
const serviceName = "okeybot"

// Config holds what New needs. Zero values mean the documented default.
type Config struct {
	// BaseURL defaults to DefaultBaseURL; tests use the fake's URL.
	BaseURL string
	// RatePerMinute is the vendor's quota per channel token (default 100).
	RatePerMinute int
	// Burst is how many calls a token may make at once after being idle
	// (default 1). The limiter's refill rate is lowered so that burst plus
	// refill never exceeds RatePerMinute in any minute (QuotaLimiter).
	Burst int
	// LimiterFunc, when set, returns the limiter for a channel token instead
	// of QuotaLimiter(RatePerMinute, time.Minute, Burst). It is called once per
	// distinct token; nil from it means unlimited.
	LimiterFunc func(token string) *rate.Limiter
	// Log receives apiclient's per-attempt debug lines (never headers, bodies
	// or query strings); nil discards.
	Log logrus.FieldLogger
	// Observer is called once per attempt (metrics).
	Observer func(apiclient.RequestInfo)
	// SleepFunc waits between retries (default: a timer honouring ctx).
	SleepFunc func(ctx context.Context, d time.Duration) error
	// Retry bounds retries; a zero MaxDelay becomes DefaultMaxDelay.
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
	if cfg.RatePerMinute < 0 || cfg.Burst < 0 {
		return nil, fmt.Errorf("okeybot: rate %d/min and burst %d must not be negative", cfg.RatePerMinute, cfg.Burst)
	}
	if cfg.RatePerMinute == 0 {
		cfg.RatePerMinute = DefaultRatePerMinute
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Burst > cfg.RatePerMinute {
		return nil, fmt.Errorf("okeybot: burst %d exceeds the rate of %d/min", cfg.Burst, cfg.RatePerMinute)
	}
	if cfg.Retry.MaxDelay <= 0 {
		cfg.Retry.MaxDelay = DefaultMaxDelay
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

// QuotaLimiter returns a token bucket that never allows more than quota
// calls in any window of the given length, however the calls are timed,
// while sustaining as close to quota per window as the burst allows.
//
// A bucket of size burst refilling at r lets burst+r·window-1 calls fall in
// one half-open window (a full bucket spent at once, then one call per
// refill), so r is (quota-burst+1)/window. With burst 1 that is exactly the
// quota: 100/min is one call every 600ms, and a long run sustains 100 calls
// a minute with no 429 from a server counting any 60s span. A burst of 5
// costs 4 calls a minute of sustained rate. burst is clamped to [1, quota].
func QuotaLimiter(quota int, window time.Duration, burst int) *rate.Limiter {
	quota = max(quota, 1)
	burst = min(max(burst, 1), quota)
	n := time.Duration(quota - burst + 1)
	every := (window + n - 1) / n // round up: never faster than the quota
	return rate.NewLimiter(rate.Every(every), burst)
}

// limiter returns the one limiter of token, creating it on first use.
func (c *Client) limiter(token string) *rate.Limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lim, ok := c.limiters[token]; ok {
		return lim
	}
	var lim *rate.Limiter
	if c.cfg.LimiterFunc != nil {
		lim = c.cfg.LimiterFunc(token)
	} else {
		lim = QuotaLimiter(c.cfg.RatePerMinute, time.Minute, c.cfg.Burst)
	}
	c.limiters[token] = lim
	return lim
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
// carries the channel's token and waits on the token's limiter. Handles for
// the same token share that limiter, however many are made. A Channel is
// safe for concurrent use.
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
	ch := &Channel{
		baseURL: c.baseURL,
		viber:   opts.Viber,
		lim:     lim,
		hc: apiclient.NewHTTPClient(apiclient.Options{
			Service:   serviceName,
			Limiter:   lim,
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
// (nil when unlimited).
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
