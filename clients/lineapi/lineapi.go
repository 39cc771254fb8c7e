// Package lineapi is a client for the two LINE Messaging API endpoints Oho
// needs (api-docs/line-messaging-api.postman.json, "Bot" and "Users"):
// the bot's own info, which gives Oho's platform_id, line_basic_id and
// platform_name, and a user's profile, which gives a contact's picture and
// original display name.
//
// LINE authenticates with one channel access token per channel, so a request
// is made through the Bot handle of a channel:
//
//	c, err := lineapi.New(lineapi.Config{})
//	bot := c.Bot(token)            // one handle per token, kept by c
//	info, err := bot.Info(ctx)     // fetched once per token for c's lifetime
//	p, err := bot.Profile(ctx, userID)
//	if errors.Is(err, apiclient.ErrNotFound) {
//		// no profile: the user blocked the bot or never added it
//	}
//
// Errors are *apiclient.Error carrying LINE's message (and details) and the
// x-line-request-id of the response. Tokens are never logged.
package lineapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
)

// DefaultBaseURL is the production LINE Messaging API.
const DefaultBaseURL = "https://api.line.me"

// service names LINE in errors, logs and observations.
const service = "line"

// Config holds what New needs. Zero values mean the documented default.
type Config struct {
	// BaseURL defaults to DefaultBaseURL; tests use the fake's URL.
	BaseURL string
	// Limiter bounds the request rate of every channel of this client
	// together; nil means unlimited.
	Limiter *rate.Limiter
	// Log receives one debug line per attempt; nil discards.
	Log logrus.FieldLogger
	// Observer, when set, is called once per attempt (metrics).
	Observer func(apiclient.RequestInfo)
	// SleepFunc waits between retries (default: a timer honouring ctx).
	SleepFunc func(ctx context.Context, d time.Duration) error
	// Retry bounds retries; zero fields take apiclient's defaults.
	Retry apiclient.RetryPolicy
	// Base is the innermost transport (default: a clone of
	// http.DefaultTransport). A sandbox or test may serve the fake in
	// process through it.
	Base http.RoundTripper
}

// Client talks to the LINE Messaging API for any number of channels. It is
// safe for concurrent use.
type Client struct {
	baseURL *url.URL
	opts    apiclient.Options // template for each channel's HTTP client

	mu   sync.Mutex
	bots map[string]*Bot // by channel access token
}

// New validates cfg and builds a client.
func New(cfg Config) (*Client, error) {
	base, err := apiclient.ParseBaseURL(cfg.BaseURL, DefaultBaseURL)
	if err != nil {
		return nil, fmt.Errorf("new line client: %w", err)
	}
	transport := cfg.Base
	if transport == nil {
		transport = apiclient.NewBase() // one connection pool shared by every channel
	}
	return &Client{
		baseURL: base,
		opts: apiclient.Options{
			Service:   service,
			Limiter:   cfg.Limiter,
			Log:       cfg.Log,
			Retry:     cfg.Retry,
			SleepFunc: cfg.SleepFunc,
			Observer:  cfg.Observer,
			Base:      transport,
		},
		bots: make(map[string]*Bot),
	}, nil
}

// Bot returns the handle of the channel whose channel access token is
// token. The same token always yields the same handle, so the bot info it
// caches lasts as long as c.
func (c *Client) Bot(token string) *Bot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.bots[token]; ok {
		return b
	}
	o := c.opts
	o.Auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	b := &Bot{c: c, hc: apiclient.NewHTTPClient(o), hasToken: token != ""}
	c.bots[token] = b
	return b
}

// Bot is one LINE channel, authenticated by its channel access token. It is
// safe for concurrent use.
type Bot struct {
	c        *Client
	hc       *http.Client
	hasToken bool

	mu      sync.Mutex
	info    *BotInfo  // cached after the first success
	pending *infoCall // the request in flight, if any
}

// infoCall is one GET /v2/bot/info shared by every caller waiting for it.
type infoCall struct {
	done chan struct{}
	info BotInfo
	err  error
}

// errNoToken refuses a request without credentials before it is sent.
var errNoToken = errors.New("empty channel access token")

// BotInfo is the bot of a channel (GET /v2/bot/info).
type BotInfo struct {
	// UserID is the bot's user ID: Oho's social_profile.platform_id.
	UserID string `json:"userId"`
	// BasicID is the LINE ID such as "@042bjiva": Oho's line_basic_id.
	BasicID string `json:"basicId"`
	// DisplayName is the OA's name: Oho's platform_name.
	DisplayName string `json:"displayName"`
	// PictureURL is absent when the OA has no picture.
	PictureURL string `json:"pictureUrl"`
	// ChatMode is "chat" or "bot".
	ChatMode string `json:"chatMode"`
	// MarkAsReadMode is "auto" or "manual".
	MarkAsReadMode string `json:"markAsReadMode"`
}

// Profile is a user's profile as a bot sees it (GET /v2/bot/profile/{userId}).
type Profile struct {
	// DisplayName is the user's name: Oho's platform_display_name.
	DisplayName string `json:"displayName"`
	UserID      string `json:"userId"`
	// PictureURL is "" when the user has no picture: Oho's profile_picture_url.
	PictureURL    string `json:"pictureUrl"`
	StatusMessage string `json:"statusMessage"`
	// Language is "" when the user hides it.
	Language string `json:"language"`
}

// Info returns the channel's bot info, fetched with one request the first
// time and cached for the client's lifetime. Concurrent first calls share
// that one request; a failure is not cached, so the next call tries again.
//
// LINE docs: GET /v2/bot/info
func (b *Bot) Info(ctx context.Context) (BotInfo, error) {
	for {
		b.mu.Lock()
		if b.info != nil {
			info := *b.info
			b.mu.Unlock()
			return info, nil
		}
		if call := b.pending; call != nil {
			b.mu.Unlock()
			select {
			case <-ctx.Done():
				return BotInfo{}, fmt.Errorf("get line bot info: %w", ctx.Err())
			case <-call.done:
			}
			if call.err == nil {
				return call.info, nil
			}
			if ctx.Err() == nil && isContextErr(call.err) {
				continue // the caller who sent it gave up; we have not: try again
			}
			return BotInfo{}, call.err
		}
		call := &infoCall{done: make(chan struct{})}
		b.pending = call
		b.mu.Unlock()

		call.info, call.err = b.fetchInfo(ctx)
		b.mu.Lock()
		if call.err == nil {
			b.info = &call.info
		}
		b.pending = nil
		b.mu.Unlock()
		close(call.done)
		return call.info, call.err
	}
}

// isContextErr reports whether err is a cancellation or deadline.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fetchInfo sends GET /v2/bot/info.
func (b *Bot) fetchInfo(ctx context.Context) (BotInfo, error) {
	var info BotInfo
	if err := b.get(ctx, &info, "v2", "bot", "info"); err != nil {
		return BotInfo{}, fmt.Errorf("get line bot info: %w", err)
	}
	return info, nil
}

// Profile returns the profile of the user with userID. A user who is not a
// friend of the bot (blocked it, never added it, or does not exist) is an
// error matching apiclient.ErrNotFound: a final answer, never retried, that
// callers treat as "no profile".
//
// LINE docs: GET /v2/bot/profile/{userId}
func (b *Bot) Profile(ctx context.Context, userID string) (Profile, error) {
	if userID == "" {
		return Profile{}, errors.New("get line profile: empty user id")
	}
	var p Profile
	if err := b.get(ctx, &p, "v2", "bot", "profile", userID); err != nil {
		return Profile{}, fmt.Errorf("get line profile %s: %w", userID, err)
	}
	return p, nil
}

// get sends a GET to the path segments (each escaped) and decodes the body into out.
func (b *Bot) get(ctx context.Context, out any, segments ...string) error {
	if !b.hasToken {
		return errNoToken
	}
	u := apiclient.JoinSegments(b.c.baseURL, segments...)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	return apiclient.Do(b.hc, req, service, out, decodeError)
}

// errorBody is LINE's error response: a message and, for validation
// errors, details naming the property at fault.
type errorBody struct {
	Message string `json:"message"`
	Details []struct {
		Message  string `json:"message"`
		Property string `json:"property"`
	} `json:"details"`
}

// decodeError turns a LINE error body into apiclient's message:
// "message (property: detail; ...)". LINE has no error codes.
func decodeError(body []byte) (code, msg string) {
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		return "", ""
	}
	if len(e.Details) == 0 {
		return "", e.Message
	}
	parts := make([]string, 0, len(e.Details))
	for _, d := range e.Details {
		if d.Property != "" {
			parts = append(parts, d.Property+": "+d.Message)
		} else {
			parts = append(parts, d.Message)
		}
	}
	return "", e.Message + " (" + strings.Join(parts, "; ") + ")"
}
