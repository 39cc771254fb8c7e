package omnichat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
)

// Vendor defaults and limits (api-docs/README.md "Omnichat Open API").
const (
	// DefaultBaseURL is the real Omnichat Open API.
	DefaultBaseURL = "https://open-api.omnichat.ai"
	// DefaultRate is the documented limit: 40 requests per second per team account.
	DefaultRate = 40
	// RatePeriod is the period the limit is counted over (a second): the
	// wait after a 429 that carries no Retry-After.
	RatePeriod = time.Second
	// DefaultPageSize is the page size the API uses when none is sent.
	DefaultPageSize = 20
	// MaxPageSize is the largest page size the API accepts.
	MaxPageSize = 100
	// MaxWindow is the longest [after, before) range the API accepts.
	MaxWindow = 7 * 24 * time.Hour
)

// serviceName names Omnichat in errors, logs and observations.
const serviceName = "omnichat"

// Config holds what New needs. Zero values mean the documented default.
type Config struct {
	// BaseURL is the API root without /v1 (default DefaultBaseURL); tests
	// use the fake's URL.
	BaseURL string
	// Token is the team's API token (required); cmd reads it from
	// OMNICHAT_TOKEN, never from jobs.yaml.
	Token string
	// Limiter is shared by every client of the same team account: a local
	// apiclient.Pace limiter, or one shared by every process through the
	// database. nil means apiclient.Pace(DefaultRate, RatePeriod,
	// apiclient.DefaultHeadroom): evenly spaced, 2.5% below the limit.
	Limiter apiclient.Limiter
	// Log receives the transport's debug lines and warnings about unusable
	// channel rows; nil discards.
	Log logrus.FieldLogger
	// Location is the zone in which tagging-log times, which carry none,
	// are read (default UTC).
	Location *time.Location
	// Observer is called once per HTTP attempt (metrics).
	Observer func(apiclient.RequestInfo)
	// SleepFunc waits between retries (default: a timer honouring ctx).
	SleepFunc func(ctx context.Context, d time.Duration) error
	// Retry bounds retries (apiclient defaults when zero; a zero
	// RateLimitPeriod is RatePeriod). A 429 never spends the retry budget:
	// it is waited out (Retry-After, else RatePeriod) for as long as the
	// caller's context lasts.
	Retry apiclient.RetryPolicy
	// Timeout bounds one HTTP attempt (apiclient default when zero).
	Timeout time.Duration
	// Base is the innermost transport (default: a clone of
	// http.DefaultTransport), named as in the other clients' Config.
	Base http.RoundTripper
}

// Client talks to the Omnichat Open API. It is safe for concurrent use.
type Client struct {
	baseURL *url.URL
	hc      *http.Client
	loc     *time.Location
	log     logrus.FieldLogger

	// Channels lists the team's messaging channels.
	Channels *ChannelsService
	// Contacts lists contacts updated in a window.
	Contacts *ContactsService
	// TaggingLogs lists tagging-log records in a window.
	TaggingLogs *TaggingLogsService
	// Messages lists chat history in a window.
	Messages *MessagesService
	// SystemUsers lists the team's agents (a full listing, no window).
	SystemUsers *SystemUsersService
}

// service is the common base of the resource services.
type service struct{ c *Client }

// New validates cfg and returns a Client whose HTTP transport is built by
// apiclient.NewHTTPClient.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, errors.New("new omnichat client: token is required")
	}
	raw := cfg.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("new omnichat client: base url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("new omnichat client: base url %q: want http(s)://host[/prefix]", raw)
	}
	u.RawQuery, u.Fragment = "", ""

	lim := cfg.Limiter
	if l, ok := lim.(*rate.Limiter); lim == nil || ok && l == nil {
		lim = apiclient.Pace(DefaultRate, RatePeriod, apiclient.DefaultHeadroom)
	}
	retry := cfg.Retry
	if retry.RateLimitPeriod == 0 {
		retry.RateLimitPeriod = RatePeriod
	}
	loc := cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	log := cfg.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	token := cfg.Token
	c := &Client{
		baseURL: u,
		loc:     loc,
		log:     log,
		hc: apiclient.NewHTTPClient(apiclient.Options{
			Service:   serviceName,
			Limiter:   lim,
			Auth:      func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) },
			Log:       log,
			Timeout:   cfg.Timeout,
			Retry:     retry,
			SleepFunc: cfg.SleepFunc,
			Observer:  cfg.Observer,
			Base:      cfg.Base,
		}),
	}
	c.Channels = &ChannelsService{c: c}
	c.Contacts = &ContactsService{c: c}
	c.TaggingLogs = &TaggingLogsService{c: c}
	c.Messages = &MessagesService{c: c}
	c.SystemUsers = &SystemUsersService{c: c}
	return c, nil
}

// get sends GET base/path?q and decodes the JSON answer into out.
func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	u := c.baseURL.JoinPath(path)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	return apiclient.Do(c.hc, req, serviceName, out, decodeError)
}

// decodeError reads Omnichat's error body {"errorCode": "...", "message": "..."}.
func decodeError(body []byte) (code, msg string) {
	var e struct {
		ErrorCode string `json:"errorCode"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	return e.ErrorCode, e.Message
}
