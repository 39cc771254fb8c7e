// Package oho is a client for the Oho Developer API's Contact API
// (api-docs/oho-developer-api.th.txt §2, digest in api-docs/README.md).
//
// Every request carries the x-oho-api-key header and goes through the shared
// apiclient chain (retry on 429/5xx, throttle, log without secrets). Oho wraps
// every answer in an envelope {"ok", "status_code", "message", "data"}; an
// error envelope becomes an *apiclient.Error carrying Oho's message, so
//
//	errors.Is(err, apiclient.ErrNotFound)  // "Not found contact", "The contact not found"
//	errors.Is(err, apiclient.ErrConflict)  // "The contact already exists"
//	errors.Is(err, apiclient.ErrRejected)  // 400 "Bad request": the payload broke a rule
//	errors.Is(err, oho.ErrUnreadable)      // 200, but the found contact cannot be read (Get)
//
// This package enforces none of Oho's field limits: package mapping does,
// before a request is built.
package oho

import (
	"bytes"
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

// DefaultBaseURL is the production Oho Developer API.
const DefaultBaseURL = "https://api.developer.oho.chat"

// service names Oho in errors, logs and observations.
const service = "oho"

// Config holds what New needs. Zero values mean the documented default.
type Config struct {
	// BaseURL defaults to DefaultBaseURL; tests use the fake's URL.
	BaseURL string
	// APIKey is sent as x-oho-api-key on every request (required). It is
	// never logged: apiclient logs neither headers nor bodies.
	APIKey string
	// Limiter bounds the request rate of the API account (Oho publishes no
	// limit; the caller configures one). nil means unlimited.
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

// Client talks to the Oho Developer API. It is safe for concurrent use.
type Client struct {
	baseURL *url.URL
	hc      *http.Client

	// Contacts reads, creates and updates contacts.
	Contacts *ContactsService
}

// New validates cfg and builds a client.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("new oho client: APIKey is required")
	}
	base, err := apiclient.ParseBaseURL(cfg.BaseURL, DefaultBaseURL)
	if err != nil {
		return nil, fmt.Errorf("new oho client: %w", err)
	}
	key := cfg.APIKey
	c := &Client{
		baseURL: base,
		hc: apiclient.NewHTTPClient(apiclient.Options{
			Service:   service,
			Limiter:   cfg.Limiter,
			Auth:      func(r *http.Request) { r.Header.Set("x-oho-api-key", key) },
			Log:       cfg.Log,
			Retry:     cfg.Retry,
			SleepFunc: cfg.SleepFunc,
			Observer:  cfg.Observer,
			Base:      cfg.Base,
		}),
	}
	c.Contacts = &ContactsService{c: c}
	return c, nil
}

// envelope is Oho's response body (§1 "Successful response" / "Error response").
type envelope struct {
	OK         bool            `json:"ok"`
	StatusCode int             `json:"status_code"`
	Message    string          `json:"message"`
	Data       json.RawMessage `json:"data"`
}

// errNoData says a 2xx envelope carried no data where some was expected.
var errNoData = errors.New("no data")

// decodeError pulls the message out of an error envelope. Oho has no error
// codes, only the message.
func decodeError(body []byte) (code, msg string) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return "", ""
	}
	return "", env.Message
}

// do sends method to the escaped path segments (joined with "/") with body
// encoded as JSON (when not nil) and decodes the envelope's data into out
// (when not nil).
func (c *Client) do(ctx context.Context, method string, segments []string, body, out any) error {
	u := apiclient.JoinSegments(c.baseURL, segments...)
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode body: %w", err)
		}
		rd = bytes.NewReader(b) // lets apiclient replay it on retry (GetBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	var env envelope
	if err := apiclient.Do(c.hc, req, service, &env, decodeError); err != nil {
		return err
	}
	if !env.OK && env.StatusCode != 0 {
		// A 2xx carrying an error envelope: trust the envelope.
		return &apiclient.Error{Service: service, Method: method, Path: u.Path, Status: env.StatusCode, Message: env.Message}
	}
	if out != nil {
		if len(env.Data) == 0 || string(env.Data) == "null" {
			return fmt.Errorf("decode %s %s response: %w", method, u.Path, errNoData)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("decode %s %s response: %w", method, u.Path, err)
		}
	}
	return nil
}
