package sandbox

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"crmsync/clients/lineapi/lineapitest"
	"crmsync/clients/oho/ohotest"
	"crmsync/clients/okeybot/okeybottest"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/config"
)

// API names one of the four sandbox APIs.
type API string

// The sandbox APIs, in the order they are listed everywhere.
const (
	Omnichat API = "omnichat"
	Oho      API = "oho"
	Line     API = "line"
	Okeybot  API = "okeybot"
)

// APIs lists the sandbox APIs in a fixed order.
var APIs = []API{Omnichat, Oho, Line, Okeybot}

// Credentials the sandbox APIs accept. They are not secrets: they open
// nothing but the sandbox.
const (
	OmnichatToken    = "sandbox-omnichat-token"
	OhoAPIKey        = "sandbox-oho-api-key"
	OkeybotTokenMain = "sandbox-okeybot-token-main"
	OkeybotTokenChat = "sandbox-okeybot-token-chat"
)

// okeybotChannels are the sandbox's Okeybot channels: name (as in
// jobs.sandbox.yaml), token and the environment variable holding it.
var okeybotChannels = []struct{ name, token, env string }{
	{"main", OkeybotTokenMain, "OKEYBOT_TOKEN_MAIN"},
	{"chat", OkeybotTokenChat, "OKEYBOT_TOKEN_CHAT"},
}

// Ports are the loopback ports of the four APIs; 0 picks a free port.
type Ports struct {
	Omnichat, Oho, Line, Okeybot int
}

// FixedPorts are the ports of `crmsync sandbox`: stable, so the printed
// environment stays valid from one start to the next.
var FixedPorts = Ports{Omnichat: 18081, Oho: 18082, Line: 18083, Okeybot: 18084}

// of returns the port of api.
func (p Ports) of(api API) int {
	switch api {
	case Omnichat:
		return p.Omnichat
	case Oho:
		return p.Oho
	case Line:
		return p.Line
	}
	return p.Okeybot
}

// APIFaults are the failures injected into one API, answered by the fake
// itself with the vendor's error body.
type APIFaults struct {
	// ErrorEvery answers every ErrorEvery-th request with 503 (0: never).
	ErrorEvery int
	// BurstAt starts, at the BurstAt-th request, a burst of Burst 429
	// answers in a row, each with Retry-After: 1 (0: no burst), except
	// Okeybot's, which carry none as its document promises none, so the
	// client waits a minute for each. Keep Burst below the client's retry
	// attempts (5), or a request may run out.
	BurstAt, Burst int
}

// Faults are the injected failures of each API.
type Faults struct {
	Omnichat, Oho, Line, Okeybot APIFaults
}

// of returns the faults of api.
func (f Faults) of(api API) APIFaults {
	switch api {
	case Omnichat:
		return f.Omnichat
	case Oho:
		return f.Oho
	case Line:
		return f.Line
	}
	return f.Okeybot
}

// DefaultFaults are the demo's: an occasional 503 from Omnichat and one
// burst of three 429s, which the pipeline must absorb by retrying.
var DefaultFaults = Faults{
	Omnichat: APIFaults{ErrorEvery: 97, BurstAt: 25, Burst: 3},
	Line:     APIFaults{ErrorEvery: 211},
}

// StartOptions configures Start. Zero values mean the documented default.
type StartOptions struct {
	// Host is the address the APIs listen on (default 127.0.0.1).
	Host string
	// Ports of the APIs; 0 picks a free port.
	Ports Ports
	// Faults to inject (default none).
	Faults Faults
	// OkeybotRatePerMinute is the call quota per Okeybot channel token
	// (default 100, the vendor's). The demo raises it so that thousands of
	// contacts are pushed in a minute, and tells the user so.
	OkeybotRatePerMinute int
	// StateFile, when set, holds what Oho and Okeybot know (the contacts
	// crmsync created there): restored by Start when it exists, written by
	// Close, so a later process sees the same destinations.
	StateFile string
	// Log receives one debug line per API started; nil discards.
	Log logrus.FieldLogger
}

// Sandbox is the four fake APIs, seeded with a Dataset and listening on
// loopback. It is safe for concurrent use.
type Sandbox struct {
	Dataset *Dataset

	// The fakes, for assertions.
	Omnichat *omnichattest.Server
	Oho      *ohotest.Server
	Line     *lineapitest.Server
	Okeybot  *okeybottest.Server

	// URLs are the base URLs to give crmsync, by API.
	URLs map[API]string

	opts    StartOptions
	servers []*http.Server
	lns     []net.Listener
	meters  map[API]*meter

	mu       sync.Mutex
	ohoKeys  map[ohotest.Key]bool // keys of Oho contacts restored or created
	closeErr error
	closed   bool
}

// Start seeds the fakes with d and serves them on loopback. Close stops them.
func Start(ctx context.Context, d *Dataset, o StartOptions) (*Sandbox, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.OkeybotRatePerMinute <= 0 {
		o.OkeybotRatePerMinute = okeybottest.DefaultRateLimit
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	s := &Sandbox{Dataset: d, opts: o, URLs: map[API]string{}, meters: map[API]*meter{}, ohoKeys: map[ohotest.Key]bool{}}
	s.seed(d)
	if o.StateFile != "" {
		if err := s.restore(o.StateFile); err != nil {
			return nil, err
		}
	}

	handlers := map[API]http.Handler{
		Omnichat: s.Omnichat.Handler(),
		Oho:      s.Oho,
		Line:     s.Line,
		Okeybot:  s.Okeybot,
	}
	for _, api := range APIs {
		m := &meter{api: api, faults: o.Faults.of(api), inject: s.injector(api), statuses: map[int]int{}}
		if api == Oho {
			m.created = s.rememberOhoKey
		}
		s.meters[api] = m
		addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Ports.of(api)))
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			_ = s.shutdown(context.Background())
			return nil, fmt.Errorf("start sandbox %s API on %s: %w", api, addr, err)
		}
		srv := &http.Server{Handler: m.wrap(handlers[api]), ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, srv)
		s.lns = append(s.lns, ln)
		go func() { _ = srv.Serve(ln) }()
		base := "http://" + ln.Addr().String()
		if api == Okeybot {
			base += "/api"
		}
		s.URLs[api] = base
		o.Log.WithFields(logrus.Fields{"api": api, "url": base}).Debug("sandbox API listening")
	}
	return s, nil
}

// seed creates the fakes and loads the dataset into them.
func (s *Sandbox) seed(d *Dataset) {
	s.Omnichat = omnichattest.New(omnichattest.Options{
		Token:         OmnichatToken,
		Location:      Bangkok,
		MaxRequestLog: 1000,
	})
	for _, c := range d.Channels {
		s.Omnichat.SeedChannels(c.Omnichat())
	}
	s.Omnichat.SeedContacts(d.Contacts...)
	s.Omnichat.SeedTaggingLogs(d.TaggingLogs...)
	s.Omnichat.SeedMessages(d.Messages...)
	s.Omnichat.SeedSystemUsers(SystemUsers()...)

	s.Oho = ohotest.New(ohotest.Options{APIKey: OhoAPIKey})

	s.Line = lineapitest.New(lineapitest.Options{})
	for _, c := range d.Channels {
		if c.Token != "" {
			s.Line.AddChannel(c.Token, c.Bot)
		}
	}
	for _, p := range d.Profiles {
		i := slices.IndexFunc(d.Channels, func(c Channel) bool { return c.ID == p.ChannelID })
		s.Line.AddProfile(d.Channels[i].Token, p.Profile)
	}

	chans := make([]okeybottest.Channel, 0, len(okeybotChannels))
	for _, c := range okeybotChannels {
		chans = append(chans, okeybottest.Channel{Token: c.token})
	}
	s.Okeybot = okeybottest.New(okeybottest.Options{Channels: chans, RateLimit: s.opts.OkeybotRatePerMinute})
}

// injector returns how faults are injected into api's fake.
func (s *Sandbox) injector(api API) func(n, status int) {
	retryAfter := func(status int) time.Duration {
		if status == http.StatusTooManyRequests {
			return time.Second
		}
		return 0
	}
	switch api {
	case Omnichat:
		return func(n, status int) { s.Omnichat.FailNext(n, status) }
	case Oho:
		return func(n, status int) { s.Oho.RejectNext(n, status, retryAfter(status)) }
	case Line:
		return func(n, status int) { s.Line.RejectNext(n, status, retryAfter(status)) }
	}
	return func(n, status int) {
		st := make([]int, n)
		for i := range st {
			st[i] = status
		}
		s.Okeybot.FailNext(st...)
	}
}

// rememberOhoKey records the key of an Oho contact, for the state file.
func (s *Sandbox) rememberOhoKey(k ohotest.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ohoKeys[k] = true
}

// Env returns the environment that points crmsync at the sandbox: base
// URLs, credentials, and the LINE channel ids and tokens jobs.yaml reads.
func (s *Sandbox) Env() map[string]string {
	env := map[string]string{
		"OMNICHAT_BASE_URL": s.URLs[Omnichat],
		"OMNICHAT_TOKEN":    OmnichatToken,
		"OHO_BASE_URL":      s.URLs[Oho],
		"OHO_API_KEY":       OhoAPIKey,
		"LINE_BASE_URL":     s.URLs[Line],
		"OKEYBOT_BASE_URL":  s.URLs[Okeybot],
	}
	for _, c := range s.Dataset.Channels {
		if c.TokenEnv != "" {
			env[c.TokenEnv] = c.Token
			env[c.IDEnv] = c.ID
		}
	}
	for _, c := range okeybotChannels {
		env[c.env] = c.token
	}
	return env
}

// EnvNames returns the names of Env's variables, sorted.
func (s *Sandbox) EnvNames() []string {
	env := s.Env()
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Getenv looks name up in Env, then in fallback (os.Getenv, or nil for none).
func (s *Sandbox) Getenv(fallback func(string) string) func(string) string {
	env := s.Env()
	return func(name string) string {
		if v, ok := env[name]; ok {
			return v
		}
		if fallback != nil {
			return fallback(name)
		}
		return ""
	}
}

//go:embed jobs.sandbox.yaml
var configYAML []byte

// ConfigName is the name the sandbox configuration is reported under.
const ConfigName = "jobs.sandbox.yaml"

// ConfigYAML returns the sandbox's jobs.yaml: the sandbox channels and
// accounts, read from the variables Env sets, and one job "demo" that runs
// every step.
func ConfigYAML() []byte { return slices.Clone(configYAML) }

// Config loads ConfigYAML with the sandbox's environment over getenv.
func (s *Sandbox) Config(getenv func(string) string) (*config.Config, error) {
	return config.Parse(ConfigName, configYAML, s.Getenv(getenv))
}

// Counts is what one API answered.
type Counts struct {
	API      API
	Requests int
	// Statuses counts answers by HTTP status, sorted by status.
	Statuses []StatusCount
	// Injected is how many answers were failures the sandbox injected.
	Injected int
}

// StatusCount is a number of answers with one status.
type StatusCount struct {
	Status, N int
}

// Status returns how many answers had status.
func (c Counts) Status(status int) int {
	for _, s := range c.Statuses {
		if s.Status == status {
			return s.N
		}
	}
	return 0
}

// RateLimited returns the number of 429 answers.
func (c Counts) RateLimited() int { return c.Status(http.StatusTooManyRequests) }

// ServerErrors returns the number of 5xx answers.
func (c Counts) ServerErrors() int {
	n := 0
	for _, s := range c.Statuses {
		if s.Status >= 500 {
			n += s.N
		}
	}
	return n
}

// Refused returns the number of 4xx answers other than 404 (a lookup that
// found nothing) and 429 (slow down): requests the API refused.
func (c Counts) Refused() int {
	n := 0
	for _, s := range c.Statuses {
		if s.Status >= 400 && s.Status < 500 && s.Status != http.StatusNotFound && s.Status != http.StatusTooManyRequests {
			n += s.N
		}
	}
	return n
}

// Counts returns what each API answered so far, in APIs order.
func (s *Sandbox) Counts() []Counts {
	out := make([]Counts, 0, len(APIs))
	for _, api := range APIs {
		out = append(out, s.meters[api].counts())
	}
	return out
}

// Count returns what api answered so far.
func (s *Sandbox) Count(api API) Counts {
	return s.meters[api].counts()
}

// Close stops the APIs and writes the state file, if one is configured.
// Calling it again returns the first call's result.
func (s *Sandbox) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		defer s.mu.Unlock()
		return s.closeErr
	}
	s.closed = true
	s.mu.Unlock()
	err := s.shutdown(ctx)
	if s.opts.StateFile != "" {
		err = errors.Join(err, s.SaveState(s.opts.StateFile))
	}
	s.mu.Lock()
	s.closeErr = err
	s.mu.Unlock()
	return err
}

// shutdown stops the HTTP servers, waiting for requests in flight.
func (s *Sandbox) shutdown(ctx context.Context) error {
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop sandbox API: %w", err))
		}
	}
	// Shutdown closes only the listeners Serve has started on; a goroutine
	// not yet scheduled would free its port later. Close them all now.
	for _, ln := range s.lns {
		_ = ln.Close()
	}
	return errors.Join(errs...)
}

// meter counts one API's answers and injects its faults.
type meter struct {
	api     API
	faults  APIFaults
	inject  func(n, status int)
	created func(ohotest.Key) // Oho only: a contact was created

	mu       sync.Mutex
	n        int
	statuses map[int]int
	injected int
	pending  int // injected failures not yet answered
}

// wrap returns h with counting and fault injection around it.
func (m *meter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.n++
		f := m.faults
		switch {
		case f.BurstAt > 0 && f.Burst > 0 && m.n == f.BurstAt:
			m.inject(f.Burst, http.StatusTooManyRequests)
			m.pending += f.Burst
		case f.ErrorEvery > 0 && m.n%f.ErrorEvery == 0 && m.pending == 0:
			m.inject(1, http.StatusServiceUnavailable)
			m.pending++
		}
		m.mu.Unlock()

		var body []byte
		if m.created != nil && r.Method == http.MethodPost && r.Body != nil {
			body, _ = io.ReadAll(io.LimitReader(r.Body, 2<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}

		m.mu.Lock()
		m.statuses[status]++
		if m.pending > 0 && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) {
			m.pending--
			m.injected++
		}
		m.mu.Unlock()
		if status == http.StatusCreated && body != nil {
			if k, ok := ohoKeyOf(body); ok {
				m.created(k)
			}
		}
	})
}

// counts returns a copy of the meter's counts.
func (m *meter) counts() Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := Counts{API: m.api, Injected: m.injected}
	for st, n := range m.statuses {
		c.Requests += n
		c.Statuses = append(c.Statuses, StatusCount{Status: st, N: n})
	}
	slices.SortFunc(c.Statuses, func(a, b StatusCount) int { return a.Status - b.Status })
	return c
}

// statusRecorder remembers the status written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader implements http.ResponseWriter.
func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

// Write implements http.ResponseWriter.
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
