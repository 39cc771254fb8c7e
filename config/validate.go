package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"crmsync/clients/omnichat"
	"crmsync/contact"
	"crmsync/mapping"
)

var snakeRe = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// applyDefaults fills every zero value that has a documented default, taking
// base URLs and secrets from the documented environment variables only when
// the file leaves the key out: a key the file writes (as ${VAR} or
// ${VAR:-default}) takes that value, even empty, and never another
// variable's, so ${OMNICHAT_TOKEN_OTHER} unset cannot fall back on
// OMNICHAT_TOKEN's account.
func (l *loader) applyDefaults(c *Config) {
	env := func(key, v, name, def string) string {
		if v != "" || l.written(key) {
			return v
		}
		if e := l.getenv(name); e != "" {
			return e
		}
		return def
	}
	if c.TimeZone == "" {
		c.TimeZone = "UTC"
	}
	o := &c.Omnichat
	o.BaseURL = env("omnichat.base_url", o.BaseURL, "OMNICHAT_BASE_URL", DefaultOmnichatURL)
	o.Token = env("omnichat.token", o.Token, "OMNICHAT_TOKEN", "")
	if o.RatePerSecond == 0 {
		o.RatePerSecond = 40
	}
	if o.RateHeadroom == nil {
		h := DefaultRateHeadroom
		o.RateHeadroom = &h
	}
	if o.MaxWindowAttempts == 0 {
		o.MaxWindowAttempts = 5
	}
	if o.WindowDeadline == 0 {
		o.WindowDeadline = 15 * time.Minute
	}
	if o.PageSize == 0 {
		o.PageSize = 100
	}
	if o.Window == 0 {
		o.Window = 24 * time.Hour
	}
	if o.SafetyLag == 0 {
		o.SafetyLag = 5 * time.Minute
	}
	if o.InitialLookback == 0 {
		o.InitialLookback = 30 * 24 * time.Hour
	}
	if o.MaxWindowRows == 0 {
		o.MaxWindowRows = 10000
	}
	if o.MaxRereads == 0 {
		o.MaxRereads = 2
	}
	if len(o.Platforms) == 0 {
		for _, p := range omnichat.Platforms {
			o.Platforms = append(o.Platforms, string(p))
		}
	}
	if o.TaggingLogZone == "" {
		o.TaggingLogZone = "UTC"
	}
	c.Oho.BaseURL = env("oho.base_url", c.Oho.BaseURL, "OHO_BASE_URL", DefaultOhoURL)
	c.Oho.APIKey = env("oho.api_key", c.Oho.APIKey, "OHO_API_KEY", "")
	if c.Oho.RatePerSecond == 0 {
		c.Oho.RatePerSecond = 5
	}
	if c.Oho.Concurrency == 0 {
		c.Oho.Concurrency = 4
	}
	c.Line.BaseURL = env("line.base_url", c.Line.BaseURL, "LINE_BASE_URL", DefaultLineURL)
	if c.Line.RatePerSecond == 0 {
		c.Line.RatePerSecond = 20
	}
	c.Okeybot.BaseURL = env("okeybot.base_url", c.Okeybot.BaseURL, "OKEYBOT_BASE_URL", DefaultOkeybotURL)
	if c.Okeybot.RatePerMinute == 0 {
		c.Okeybot.RatePerMinute = 100
	}
	if c.Okeybot.RateHeadroom == 0 {
		c.Okeybot.RateHeadroom = DefaultRateHeadroom
	}
	if c.Okeybot.RateScope == "" {
		c.Okeybot.RateScope = "token"
	}
	if len(c.Reconcile.LinkKeys) == 0 {
		c.Reconcile.LinkKeys = []string{"member_id", "phone", "email"}
	}
	if c.Reconcile.SharedKeyCeiling == 0 {
		c.Reconcile.SharedKeyCeiling = 50
	}
	if c.Reconcile.DefaultRegion == "" {
		c.Reconcile.DefaultRegion = "TH"
	}
	if c.Mapping.DefaultRegion == "" {
		c.Mapping.DefaultRegion = c.Reconcile.DefaultRegion
	}
	c.Conversations.setDefaults()
	if c.Schedule.GracePeriod == 0 {
		// schedule.DefaultGracePeriod: a whole stop then ends within 24 s,
		// inside Kubernetes' default 30 s before SIGKILL.
		c.Schedule.GracePeriod = 15 * time.Second
	}
	if c.Schedule.CatchUp == nil {
		t := true
		c.Schedule.CatchUp = &t
	}
	if c.Schedule.MetricsAddr == "" {
		c.Schedule.MetricsAddr = "127.0.0.1:9464"
	}
	for i := range c.Jobs {
		if c.Jobs[i].Timeout == 0 {
			c.Jobs[i].Timeout = 30 * time.Minute
		}
	}
}

// validate records every problem with c.
func (l *loader) validate(c *Config) {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		l.addf("timezone", "unknown time zone %q (use an IANA name such as Asia/Bangkok)", c.TimeZone)
	} else {
		c.loc = loc
	}

	l.needed = l.neededServices(c)
	l.checkUnset()

	o := c.Omnichat
	l.checkURL("omnichat.base_url", o.BaseURL)
	if o.RatePerSecond < 0 || o.RatePerSecond > 40 {
		l.addf("omnichat.rate_per_second", "%v is outside 0 < rate <= 40 (Omnichat allows 40 requests/second per team)", o.RatePerSecond)
	}
	if h := *o.RateHeadroom; h < 0 || h > 0.5 {
		l.addf("omnichat.rate_headroom", "%v is outside 0..0.5 (the share of rate_per_second left unused; 0.025 leaves one request a second at 40/s)", h)
	}
	if o.MaxWindowAttempts < 1 || o.MaxWindowAttempts > 100 {
		l.addf("omnichat.max_window_attempts", "%d is outside 1..100", o.MaxWindowAttempts)
	}
	if o.WindowDeadline < 10*time.Second {
		l.addf("omnichat.window_deadline", "%s is below 10s (a window of 100 pages needs minutes when 429s come; the default is 15m)", o.WindowDeadline)
	}
	if o.PageSize < 1 || o.PageSize > 100 {
		l.addf("omnichat.page_size", "%d is outside 1..100 (Omnichat's maximum page size)", o.PageSize)
	}
	if o.Window < time.Minute || o.Window > MaxWindow {
		l.addf("omnichat.window", "%s is outside 1m..168h (Omnichat refuses ranges over 7 days)", o.Window)
	}
	if o.SafetyLag < 0 {
		l.addf("omnichat.safety_lag", "%s is negative", o.SafetyLag)
	}
	if o.InitialLookback < 0 {
		l.addf("omnichat.initial_lookback", "%s is negative", o.InitialLookback)
	}
	if o.MaxWindowRows < o.PageSize {
		l.addf("omnichat.max_window_rows", "%d is below page_size %d", o.MaxWindowRows, o.PageSize)
	}
	if o.MaxRereads < 0 {
		l.addf("omnichat.max_rereads", "%d is negative", o.MaxRereads)
	}
	seenPlatform := map[contact.Platform]bool{}
	for i, p := range o.Platforms {
		key := fmt.Sprintf("omnichat.platforms[%d]", i)
		pl := omnichat.ParsePlatform(p)
		switch {
		case !omnichat.PlatformDocumented(pl):
			l.addf(key, "%q is not a platform Omnichat documents (one of %s)", p, omnichatPlatformNames())
		case seenPlatform[pl]:
			l.addf(key, "platform %q listed twice", p)
		}
		seenPlatform[pl] = true
	}
	if _, err := time.LoadLocation(o.TaggingLogZone); err != nil {
		l.addf("omnichat.tagging_log_zone", "unknown time zone %q", o.TaggingLogZone)
	}

	l.checkURL("oho.base_url", c.Oho.BaseURL)
	if c.Oho.RatePerSecond <= 0 {
		l.addf("oho.rate_per_second", "%v must be above 0", c.Oho.RatePerSecond)
	}
	if c.Oho.Concurrency < 1 || c.Oho.Concurrency > 64 {
		l.addf("oho.concurrency", "%d is outside 1..64", c.Oho.Concurrency)
	}
	l.checkURL("line.base_url", c.Line.BaseURL)
	if c.Line.RatePerSecond <= 0 {
		l.addf("line.rate_per_second", "%v must be above 0", c.Line.RatePerSecond)
	}
	seenLine := map[string]bool{}
	for i, ch := range c.Line.Channels {
		k := fmt.Sprintf("line.channels[%d]", i)
		if ch.ChannelID == "" {
			l.addf(k+".channel_id", "missing (the LINE channel ID Omnichat reports)")
		} else if seenLine[ch.ChannelID] {
			l.addf(k+".channel_id", "channel %q configured twice", ch.ChannelID)
		}
		seenLine[ch.ChannelID] = true
		l.checkSecret(k+".access_token", ch.AccessToken, l.needed[ServiceLine])
	}

	l.checkURL("okeybot.base_url", c.Okeybot.BaseURL)
	if c.Okeybot.RatePerMinute < 1 || c.Okeybot.RatePerMinute > 100 {
		l.addf("okeybot.rate_per_minute", "%d is outside 1..100 (Okeybot allows 100 calls/minute per token)", c.Okeybot.RatePerMinute)
	}
	if h := c.Okeybot.RateHeadroom; h <= 0 || h > 0.5 {
		l.addf("okeybot.rate_headroom", "%v is outside 0 < headroom <= 0.5 (the share of rate_per_minute left unused; default 0.025)", h)
	}
	if s := c.Okeybot.RateScope; s != "token" && s != "account" {
		l.addf("okeybot.rate_scope", "%q is not one of token, account (what Okeybot's 100 calls a minute are counted over)", s)
	}
	seenOK := map[string]bool{}
	for i, ch := range c.Okeybot.Channels {
		k := fmt.Sprintf("okeybot.channels[%d]", i)
		switch {
		case !snakeRe.MatchString(ch.Name):
			l.addf(k+".name", "%q must be snake_case", ch.Name)
		case seenOK[ch.Name]:
			l.addf(k+".name", "channel %q defined twice", ch.Name)
		}
		seenOK[ch.Name] = true
		l.checkSecret(k+".token", ch.Token, l.needed[ServiceOkeybot])
		if len(ch.Sources) == 0 {
			l.addf(k+".sources", "missing: list the Omnichat channels (platform/channelId) or platforms whose contacts go to this channel")
		}
		for j, s := range ch.Sources {
			p, _, _ := strings.Cut(s, "/")
			if _, ok := contact.ParsePlatform(p); !ok {
				l.addf(fmt.Sprintf("%s.sources[%d]", k, j), "%q does not start with a known platform (%s)", s, platformNames())
			}
		}
	}

	r := c.Reconcile
	for i, k := range r.LinkKeys {
		if !slices.Contains([]string{"member_id", "phone", "email"}, k) {
			l.addf(fmt.Sprintf("reconcile.link_keys[%d]", i), "unknown key %q (one of member_id, phone, email)", k)
		}
	}
	if r.SharedKeyCeiling < 2 {
		l.addf("reconcile.shared_key_ceiling", "%d must be at least 2", r.SharedKeyCeiling)
	}
	if len(r.DefaultRegion) != 2 || strings.ToUpper(r.DefaultRegion) != r.DefaultRegion {
		l.addf("reconcile.default_region", "%q is not a two-letter upper-case country code such as TH", r.DefaultRegion)
	}

	if c.Schedule.GracePeriod < 0 {
		l.addf("schedule.grace_period", "%s is negative", c.Schedule.GracePeriod)
	}

	l.validateConversations(c)
	l.validateMapping(c)
	l.validateJobs(c)
	l.validateSecretsInUse(c)
}

// validateMapping checks the mapping section with package mapping's own
// rules, and that each Okeybot lookup field is one mapping fills.
func (l *loader) validateMapping(c *Config) {
	c.Mapping.Location = c.Location()
	m, err := mapping.New(c.Mapping)
	if err != nil {
		for _, e := range flatten(err) {
			key, msg, ok := strings.Cut(e.Error(), ": ")
			if !ok || !strings.HasPrefix(key, "mapping") {
				key, msg = "mapping", e.Error()
			}
			l.addf(key, "%s", msg)
		}
		return
	}
	c.mapper = m
	names, wildcard := m.OkeybotFieldNames()
	if c.Uses(StepPushOkeybot) && len(names) == 0 && !wildcard {
		l.addf("mapping.okeybot.custom_fields", "empty, but a job runs push_okeybot: Okeybot creates a contact only with at least one custom field")
	}
	fills := strings.Join(names, ", ")
	if fills == "" {
		fills = "none"
	}
	for i, ch := range c.Okeybot.Channels {
		if ch.LookupField == "" || wildcard || slices.Contains(names, ch.LookupField) {
			continue
		}
		l.addf(fmt.Sprintf("okeybot.channels[%d].lookup_field", i),
			"%q is not a custom field mapping.okeybot.custom_fields fills (it fills: %s), so contacts crmsync creates could never be found by it",
			ch.LookupField, fills)
	}
}

// flatten returns the errors joined in err (errors.Join), or err itself.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func (l *loader) validateJobs(c *Config) {
	seen := map[string]bool{}
	for i, j := range c.Jobs {
		k := fmt.Sprintf("jobs[%d]", i)
		switch {
		case j.Name == "":
			l.addf(k+".name", "missing")
		case !snakeRe.MatchString(j.Name):
			l.addf(k+".name", "%q must be snake_case (e.g. omnichat_to_oho_contacts)", j.Name)
		case seen[j.Name]:
			l.addf(k+".name", "job %q defined twice", j.Name)
		}
		seen[j.Name] = true
		if j.Schedule == "" {
			l.addf(k+".schedule", "missing (a cron expression such as \"*/15 * * * *\" or \"@every 15m\")")
		} else if _, err := ParseSchedule(j.Schedule, c.Location()); err != nil {
			l.addf(k+".schedule", "invalid schedule: %v", err)
		}
		if len(j.Steps) == 0 {
			l.addf(k+".steps", "missing: list at least one of %s", strings.Join(Steps, ", "))
		}
		dup := map[string]bool{}
		for n, s := range j.Steps {
			sk := fmt.Sprintf("%s.steps[%d]", k, n)
			switch {
			case !slices.Contains(Steps, s):
				l.addf(sk, "unknown step %q (one of %s)", s, strings.Join(Steps, ", "))
			case dup[s]:
				l.addf(sk, "step %q listed twice", s)
			}
			dup[s] = true
		}
		if j.Timeout < 0 {
			l.addf(k+".timeout", "%s is negative", j.Timeout)
		}
	}
}

// validateSecretsInUse requires the secrets of every service the command
// calls (see neededServices).
func (l *loader) validateSecretsInUse(c *Config) {
	l.checkSecret("omnichat.token", c.Omnichat.Token, l.needed[ServiceOmnichat])
	l.checkSecret("oho.api_key", c.Oho.APIKey, l.needed[ServiceOho])
	if l.needed[ServiceOkeybot] && len(c.Okeybot.Channels) == 0 {
		l.addf("okeybot.channels", "a job runs push_okeybot but no Okeybot channel is configured")
	}
}

// neededServices returns the services the command calls: none for
// WithoutSecrets, those of the ForRun jobs and steps, else those of every
// job's steps.
func (l *loader) neededServices(c *Config) map[string]bool {
	needed := map[string]bool{}
	if l.noSecrets {
		return needed
	}
	var steps []string
	if l.forRun {
		for _, name := range l.runNames {
			if j, err := c.Job(name); err == nil {
				steps = append(steps, j.Steps...)
			} else if slices.Contains(Steps, name) {
				steps = append(steps, name)
			}
		}
	} else {
		for _, j := range c.Jobs {
			steps = append(steps, j.Steps...)
		}
	}
	for _, s := range steps {
		for _, svc := range StepServices(s) {
			needed[svc] = true
		}
	}
	return needed
}

// serviceOf returns the service a key configures ("" for general keys:
// timezone, reconcile, schedule, jobs, the general part of mapping).
func serviceOf(key string) string {
	for _, svc := range []string{ServiceOmnichat, ServiceOho, ServiceLine, ServiceOkeybot} {
		if strings.HasPrefix(key, svc+".") || strings.HasPrefix(key, "mapping."+svc+".") {
			return svc
		}
	}
	return ""
}

// checkUnset reports every value that names an unset environment variable
// without a ${VAR:-default}, naming the variable, unless its key belongs to
// a service the command does not call.
func (l *loader) checkUnset() {
	keys := make([]string, 0, len(l.unset))
	for k := range l.unset {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if svc := serviceOf(key); svc != "" && !l.needed[svc] {
			continue
		}
		vars := l.unset[key]
		noun := "variable " + vars[0] + " is"
		if len(vars) > 1 {
			noun = "variables " + strings.Join(vars, ", ") + " are"
		}
		l.addf(key, "environment %s not set (it is read from the environment only; write ${%s:-default} for a default)", noun, vars[0])
	}
}

// checkSecret refuses a secret written literally in the file and, when
// required, an empty one (an unset ${VAR} is reported by checkUnset).
func (l *loader) checkSecret(key, value string, required bool) {
	_, fromEnv := l.raw[key]
	if l.written(key) && !fromEnv && value != "" {
		l.addf(key, "secrets must come from the environment: write ${VARIABLE} instead of the value")
		return
	}
	if value != "" || !required || l.noSecrets {
		return
	}
	if len(l.unset[key]) > 0 {
		return
	}
	if l.written(key) {
		l.addf(key, "empty: the variable it names is set to an empty value")
		return
	}
	switch key {
	case "omnichat.token":
		l.addf(key, "missing: set OMNICHAT_TOKEN (a job pulls from Omnichat)")
	case "oho.api_key":
		l.addf(key, "missing: set OHO_API_KEY (a job pushes to Oho)")
	default:
		l.addf(key, "missing")
	}
}

func (l *loader) checkURL(key, v string) {
	if v == "" && len(l.unset[key]) > 0 {
		return // an unset ${VAR}: checkUnset reports it where it matters
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.addf(key, "%q is not an http(s) URL", v)
	}
}

// omnichatPlatformNames lists the platforms Omnichat documents.
func omnichatPlatformNames() string {
	names := make([]string, len(omnichat.Platforms))
	for i, p := range omnichat.Platforms {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

func platformNames() string {
	names := make([]string, 0, len(contact.Platforms))
	for _, p := range contact.Platforms {
		names = append(names, string(p))
	}
	return strings.Join(names, ", ")
}
