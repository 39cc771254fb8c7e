// Package config loads jobs.yaml: the schedule, the accounts crmsync talks
// to, and how records are reconciled and mapped.
//
// Loading is strict: an unknown key is an error, ${VAR} and ${VAR:-default}
// are expanded from the environment inside values, defaults are applied in
// one place (applyDefaults), and every problem is reported as
// "file:line: key: problem". Secrets (tokens, API keys) must come from the
// environment: a literal secret in the file is refused.
package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"crmsync/mapping"
)

// Vendor base URLs used when neither jobs.yaml nor the environment sets one.
const (
	DefaultOmnichatURL = "https://open-api.omnichat.ai"
	DefaultOhoURL      = "https://api.developer.oho.chat"
	DefaultOkeybotURL  = "https://app.okeybot.com/api"
	DefaultLineURL     = "https://api.line.me"
)

// DefaultRateHeadroom is omnichat.rate_headroom and okeybot.rate_headroom
// when unset: the share of a vendor's limit left unused, 2.5% (39 of
// Omnichat's 40 requests a second; the value of apiclient.DefaultHeadroom,
// which a test pins: config does not import the clients).
const DefaultRateHeadroom = 0.025

// MaxWindow is the longest range Omnichat accepts in one request.
const MaxWindow = 7 * 24 * time.Hour

// Steps a job can run, in the order they usually run.
const (
	StepPullContacts    = "pull_contacts"
	StepPullTaggingLogs = "pull_tagging_logs"
	StepPullMessages    = "pull_messages"
	StepReconcile       = "reconcile"
	StepPushOho         = "push_oho"
	StepPushOkeybot     = "push_okeybot"
)

// Steps lists every known step name.
var Steps = []string{StepPullContacts, StepPullTaggingLogs, StepPullMessages, StepPullAgents, StepReconcile, StepPushOho, StepPushOkeybot}

// Services a configuration can call, as its sections name them.
const (
	ServiceOmnichat = "omnichat"
	ServiceOho      = "oho"
	ServiceLine     = "line"
	ServiceOkeybot  = "okeybot"
)

// StepServices returns the services a step calls: the pulls Omnichat, the
// Oho push Oho and LINE (bot info and profiles), the Okeybot push Okeybot,
// reconcile none.
func StepServices(step string) []string {
	switch step {
	case StepPullContacts, StepPullTaggingLogs, StepPullMessages, StepPullAgents:
		return []string{ServiceOmnichat}
	case StepPushOho:
		return []string{ServiceOho, ServiceLine}
	case StepPushOkeybot:
		return []string{ServiceOkeybot}
	}
	return nil
}

// Config is the whole of jobs.yaml after expansion, defaults and validation.
type Config struct {
	// Path is the file the config was loaded from ("" for built-in configs).
	Path string `yaml:"-"`

	// TimeZone is the IANA zone for schedules without CRON_TZ= and for
	// displaying times. Default UTC.
	TimeZone string `yaml:"timezone"`

	Omnichat  Omnichat  `yaml:"omnichat"`
	Oho       Oho       `yaml:"oho"`
	Line      Line      `yaml:"line"`
	Okeybot   Okeybot   `yaml:"okeybot"`
	Reconcile Reconcile `yaml:"reconcile"`
	// Mapping says what each destination receives and how vendor limits are
	// met; see package mapping. Its default_region defaults to
	// reconcile.default_region, its zone to timezone.
	Mapping  mapping.Options `yaml:"mapping"`
	Schedule Schedule        `yaml:"schedule"`
	Jobs     []Job           `yaml:"jobs"`

	// Conversations says how chat history is cut into conversations.
	Conversations Conversations `yaml:"conversations"`

	loc    *time.Location
	mapper *mapping.Mapper // Mapping, compiled when the file was validated
}

// Omnichat configures the source account and how it is pulled.
type Omnichat struct {
	BaseURL string `yaml:"base_url"` // default $OMNICHAT_BASE_URL, else the vendor's address
	Token   string `yaml:"token"`    // default $OMNICHAT_TOKEN; must come from the environment
	// RatePerSecond is the request rate for the team account: default and
	// maximum 40 (the vendor's limit).
	RatePerSecond float64 `yaml:"rate_per_second"`
	// RateHeadroom is the share of RatePerSecond left unused, so a server
	// counting any second by arrival time refuses nothing despite network
	// jitter: default 0.025 (apiclient.DefaultHeadroom: 39 of 40/s), 0..0.5.
	RateHeadroom *float64 `yaml:"rate_headroom"`
	// PageSize is rows per page: default and maximum 100.
	PageSize int `yaml:"page_size"`
	// Window is the length of one pull window: default 24h, at most 168h.
	Window time.Duration `yaml:"window"`
	// SafetyLag holds back the newest window end, so rows still being
	// written upstream are read by the next run. Default 5m.
	SafetyLag time.Duration `yaml:"safety_lag"`
	// InitialLookback is how far back the first incremental run of a stream
	// starts when no window was ever pulled. Default 720h (30 days).
	InitialLookback time.Duration `yaml:"initial_lookback"`
	// MaxWindowRows is the totalElements above which a window is split in
	// half instead of paged (offset paging over live data drifts). Default 10000.
	MaxWindowRows int `yaml:"max_window_rows"`
	// MaxRereads bounds how often a window whose rows fall short of
	// totalElements is read again. Default 2.
	MaxRereads int `yaml:"max_rereads"`
	// MaxWindowAttempts is how many reads a window the API refuses (4xx) gets
	// before it is given up (status gave_up, retried only by
	// backfill --retry-gave-up). Default 5.
	MaxWindowAttempts int `yaml:"max_window_attempts"`
	// WindowDeadline bounds the reading of one window, waits after 429s
	// included; past it the window is released for the next run, not
	// failed. Default 15m.
	WindowDeadline time.Duration `yaml:"window_deadline"`
	// Platforms whose contacts and messages are pulled: per channel where
	// GET /v1/channels lists channels of the platform, otherwise per
	// platform. Only the documented ones: line, facebook, instagram,
	// whatsapp, wechat, webchat (the default: all of them).
	Platforms []string `yaml:"platforms"`
	// TaggingLogZone is the zone of the zone-less tagging-log times. Default UTC.
	TaggingLogZone string `yaml:"tagging_log_zone"`
}

// Oho configures the Oho destination.
type Oho struct {
	BaseURL string `yaml:"base_url"` // default $OHO_BASE_URL, else the vendor's address
	APIKey  string `yaml:"api_key"`  // default $OHO_API_KEY; must come from the environment
	// RatePerSecond bounds requests to Oho (no published limit). Default 5.
	RatePerSecond float64 `yaml:"rate_per_second"`
	// Concurrency is how many contacts are pushed at once. Default 4.
	Concurrency int `yaml:"concurrency"`
}

// Line configures the LINE Messaging API, which supplies the bot info and
// profiles Oho needs for LINE contacts.
type Line struct {
	BaseURL       string        `yaml:"base_url"` // default $LINE_BASE_URL, else the vendor's address
	RatePerSecond float64       `yaml:"rate_per_second"`
	Channels      []LineChannel `yaml:"channels"`
}

// LineChannel binds an Omnichat LINE channel to its channel access token.
type LineChannel struct {
	ChannelID   string `yaml:"channel_id"`   // the LINE channel ID Omnichat reports (digits)
	AccessToken string `yaml:"access_token"` // from the environment, e.g. ${LINE_TOKEN_SHOP}
}

// Okeybot configures the Okeybot destination: one token per Okeybot channel.
type Okeybot struct {
	BaseURL string `yaml:"base_url"` // default $OKEYBOT_BASE_URL, else the vendor's address
	// RatePerMinute is the call rate per channel token (per account with
	// rate_scope: account): default and maximum 100.
	RatePerMinute int `yaml:"rate_per_minute"`
	// RateHeadroom is the share of rate_per_minute left unused, so that a
	// server counting any 60 s by arrival time refuses nothing while
	// arrivals jitter: default 0.025 (97.5 calls a minute, one every 615 ms,
	// absorbing 1.5 s of jitter); at most 0.5.
	RateHeadroom float64 `yaml:"rate_headroom"`
	// RateScope is what the limit counts: "token" (each channel token apart,
	// the default) or "account" (one limiter for every channel token).
	RateScope string `yaml:"rate_scope"`
	// DetectConflicts reads each changed contact before writing it, so a
	// custom field edited in Okeybot is kept or overwritten by
	// mapping.okeybot.on_conflict and recorded in push_conflicts. Default
	// false: it costs one more call per changed contact.
	DetectConflicts bool             `yaml:"detect_conflicts"`
	Channels        []OkeybotChannel `yaml:"channels"`
}

// OkeybotChannel is one Okeybot channel and the contacts that go to it.
type OkeybotChannel struct {
	Name  string `yaml:"name"`  // snake_case, unique
	Token string `yaml:"token"` // from the environment, e.g. ${OKEYBOT_TOKEN_SHOP}
	// Sources selects the contacts pushed to this channel: identities on these
	// Omnichat channels ("platform/channelId") or whole platforms ("line").
	Sources []string `yaml:"sources"`
	// LookupField is the Okeybot custom field used to find an existing contact
	// before creating one (e.g. "phone" or "email"); "" creates without lookup.
	LookupField string `yaml:"lookup_field"`
	// Viber marks a Viber channel, whose contact ids Okeybot wants Base64
	// encoded in request paths.
	Viber bool `yaml:"viber"`
}

// Reconcile configures identity resolution.
type Reconcile struct {
	// LinkKeys are the keys that link identities into one contact: any of
	// member_id, phone, email. Default all three.
	LinkKeys []string `yaml:"link_keys"`
	// SharedKeyCeiling: a key shared by more identities than this does not
	// link (it is listed for review instead). Default 50.
	SharedKeyCeiling int `yaml:"shared_key_ceiling"`
	// DefaultRegion is the ISO country for phones written without a country
	// code. Default TH.
	DefaultRegion string `yaml:"default_region"`
}

// Schedule configures `crmsync schedule`.
type Schedule struct {
	// GracePeriod is how long a stop waits for running steps to finish the
	// unit in hand before cancelling them. Default 15s; a whole stop takes
	// at most GracePeriod + 9s (schedule.Scheduler.StopTimeout).
	GracePeriod time.Duration `yaml:"grace_period"`
	// CatchUp runs, at start, each job whose last successful run is older than
	// one period. Default true.
	CatchUp *bool `yaml:"catch_up"`
	// MetricsAddr is where /healthz, /readyz and /metrics listen while the
	// scheduler runs. Default 127.0.0.1:9464; "off" disables.
	MetricsAddr string `yaml:"metrics_addr"`
}

// Job is one entry in jobs: a named list of steps on a schedule.
type Job struct {
	Name     string        `yaml:"name"`     // snake_case, unique
	Schedule string        `yaml:"schedule"` // 5-field cron, @every/@hourly…, optional CRON_TZ= prefix
	Steps    []string      `yaml:"steps"`    // from Steps
	Timeout  time.Duration `yaml:"timeout"`  // default 30m
}

// Location returns the configured time zone.
func (c *Config) Location() *time.Location {
	if c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// Mapper returns the mapping rules of the configuration, compiled and
// validated when it was loaded. Safe for concurrent use.
func (c *Config) Mapper() *mapping.Mapper {
	return c.mapper
}

// Job returns the job with the given name.
func (c *Config) Job(name string) (Job, error) {
	for _, j := range c.Jobs {
		if j.Name == name {
			return j, nil
		}
	}
	names := make([]string, 0, len(c.Jobs))
	for _, j := range c.Jobs {
		names = append(names, j.Name)
	}
	return Job{}, fmt.Errorf("unknown job %q (%s defines: %s)", name, c.source(), strings.Join(names, ", "))
}

// Uses reports whether any job runs the given step.
func (c *Config) Uses(step string) bool {
	for _, j := range c.Jobs {
		if slices.Contains(j.Steps, step) {
			return true
		}
	}
	return false
}

// LineToken returns the access token configured for a LINE channel.
func (c *Config) LineToken(channelID string) (string, bool) {
	for _, ch := range c.Line.Channels {
		if ch.ChannelID == channelID {
			return ch.AccessToken, true
		}
	}
	return "", false
}

func (c *Config) source() string {
	if c.Path == "" {
		return "the configuration"
	}
	return c.Path
}
