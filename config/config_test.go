package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const valid = `
timezone: Asia/Bangkok
omnichat:
  token: ${OMNICHAT_TOKEN}
  window: 48h
  rate_per_second: ${OMNICHAT_RATE:-20}
line:
  channels:
    - channel_id: "1656000001"
      access_token: ${LINE_TOKEN_SHOP}
okeybot:
  channels:
    - name: shop_th
      token: ${OKEYBOT_TOKEN_SHOP}
      sources: [line, facebook/1234]
      lookup_field: phone
mapping:
  oho:
    default_picture_url: https://cdn.example.com/avatar.png
  okeybot:
    custom_fields: [{from: phone_local, name: phone}]
jobs:
  - name: omnichat_pull
    schedule: "*/15 * * * *"
    steps: [pull_contacts, pull_tagging_logs, pull_messages]
  - name: omnichat_to_oho_contacts
    schedule: "CRON_TZ=Asia/Bangkok @every 30m"
    steps: [reconcile, push_oho, push_okeybot]
    timeout: 10m
`

var validEnv = map[string]string{
	"OMNICHAT_TOKEN":     "tok",
	"LINE_TOKEN_SHOP":    "line-tok",
	"OKEYBOT_TOKEN_SHOP": "ok-tok",
	"OHO_API_KEY":        "oho-key",
	"OHO_BASE_URL":       "http://127.0.0.1:9999",
}

func TestParse_valid(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("jobs.yaml", []byte(valid), env(validEnv))
	require.NoError(t, err)

	require.Equal(t, "tok", cfg.Omnichat.Token)
	require.Equal(t, 48*time.Hour, cfg.Omnichat.Window)
	require.InDelta(t, 20.0, cfg.Omnichat.RatePerSecond, 0, "${VAR:-default} falls back to the default")
	require.Equal(t, 100, cfg.Omnichat.PageSize, "default page size")
	require.Equal(t, config.DefaultOmnichatURL, cfg.Omnichat.BaseURL)
	require.Equal(t, "http://127.0.0.1:9999", cfg.Oho.BaseURL, "base URL from the environment")
	require.Equal(t, "oho-key", cfg.Oho.APIKey, "API key from the environment")
	require.Equal(t, "Asia/Bangkok", cfg.Location().String())
	require.Equal(t, 30*time.Minute, cfg.Jobs[0].Timeout, "default timeout")
	require.Equal(t, 10*time.Minute, cfg.Jobs[1].Timeout)
	tok, ok := cfg.LineToken("1656000001")
	require.True(t, ok)
	require.Equal(t, "line-tok", tok)
	require.True(t, cfg.Uses(config.StepPushOho))
	require.Equal(t, "TH", cfg.Mapping.DefaultRegion, "mapping's region defaults to reconcile's")
	require.Equal(t, "Asia/Bangkok", cfg.Mapping.Location.String(), "mapping's zone is the configured timezone")
	require.Equal(t, "https://cdn.example.com/avatar.png", cfg.Mapping.Oho.DefaultPictureURL)

	j, err := cfg.Job("omnichat_pull")
	require.NoError(t, err)
	require.Equal(t, []string{"pull_contacts", "pull_tagging_logs", "pull_messages"}, j.Steps)

	_, err = cfg.Job("nope")
	require.EqualError(t, err, `unknown job "nope" (jobs.yaml defines: omnichat_pull, omnichat_to_oho_contacts)`)
}

func TestParse_expandsNumbersFromEnvironment(t *testing.T) {
	t.Parallel()
	e := map[string]string{"OMNICHAT_TOKEN": "t", "RATE": "12.5", "WIN": "72h"}
	cfg, err := config.Parse("x.yaml", []byte("omnichat:\n  token: ${OMNICHAT_TOKEN}\n  rate_per_second: ${RATE}\n  window: ${WIN}\n"), env(e))
	require.NoError(t, err)
	require.InDelta(t, 12.5, cfg.Omnichat.RatePerSecond, 0)
	require.Equal(t, 72*time.Hour, cfg.Omnichat.Window)
}

// Jobs whose steps need one service's secrets.
const (
	pullJob    = "jobs:\n  - name: pull\n    schedule: \"@hourly\"\n    steps: [pull_messages]\n"
	pushOhoJob = "jobs:\n  - name: push\n    schedule: \"@hourly\"\n    steps: [push_oho]\n"
)

func TestParse_bad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		give    string
		env     map[string]string
		wantErr string
	}{
		{
			name:    "UnknownKey",
			give:    "omnichat:\n  tokne: x\n",
			wantErr: `bad.yaml:2: omnichat.tokne: unknown key (check the spelling; keys are snake_case)`,
		},
		{
			name:    "UnknownTopLevelKey",
			give:    "jobz: []\n",
			wantErr: `bad.yaml:1: jobz: unknown key (check the spelling; keys are snake_case)`,
		},
		{
			name:    "BadCron",
			give:    "jobs:\n  - name: a\n    schedule: \"61 * * * *\"\n    steps: [reconcile]\n",
			wantErr: `bad.yaml:3: jobs[0].schedule: invalid schedule: "61 * * * *": end of range (61) above maximum (59): 61`,
		},
		{
			name:    "ZoneWithoutSchedule",
			give:    "jobs:\n  - name: a\n    schedule: \"CRON_TZ=UTC\"\n    steps: [reconcile]\n",
			wantErr: `bad.yaml:3: jobs[0].schedule: invalid schedule: nothing after CRON_TZ=UTC`,
		},
		{
			name:    "SubSecondEvery",
			give:    "jobs:\n  - name: a\n    schedule: \"@every 500ms\"\n    steps: [reconcile]\n",
			wantErr: `bad.yaml:3: jobs[0].schedule: invalid schedule: @every 500ms: the interval must be a whole number of seconds, at least 1s`,
		},
		{
			name:    "MissingTokenForChannel",
			give:    "line:\n  channels:\n    - channel_id: \"42\"\n      access_token: ${LINE_TOKEN_X}\n" + pushOhoJob,
			env:     map[string]string{"OHO_API_KEY": "k"},
			wantErr: `bad.yaml:4: line.channels[0].access_token: environment variable LINE_TOKEN_X is not set`,
		},
		{
			name:    "OtherTokenVariableNeverFallsBackOnOmnichatToken",
			give:    "omnichat:\n  token: ${OMNICHAT_TOKEN_OTHER}\n" + pullJob,
			env:     map[string]string{"OMNICHAT_TOKEN": "the other account's"},
			wantErr: `bad.yaml:2: omnichat.token: environment variable OMNICHAT_TOKEN_OTHER is not set (it is read from the environment only; write ${OMNICHAT_TOKEN_OTHER:-default} for a default)`,
		},
		{
			name:    "OtherAPIKeyVariableNeverFallsBackOnOhoAPIKey",
			give:    "oho:\n  api_key: ${OHO_API_KEY_OTHER}\n" + pushOhoJob,
			env:     map[string]string{"OHO_API_KEY": "the other account's"},
			wantErr: `bad.yaml:2: oho.api_key: environment variable OHO_API_KEY_OTHER is not set`,
		},
		{
			name:    "OtherBaseURLVariableNeverFallsBackOnTheDocumentedOne",
			give:    "omnichat:\n  base_url: ${OMNICHAT_URL_STAGING}\n" + pullJob,
			env:     map[string]string{"OMNICHAT_TOKEN": "t", "OMNICHAT_BASE_URL": "https://elsewhere.example.com"},
			wantErr: `bad.yaml:2: omnichat.base_url: environment variable OMNICHAT_URL_STAGING is not set`,
		},
		{
			name:    "UnsetVariableInAGeneralKey",
			give:    "timezone: ${CRMSYNC_TZ}\n",
			wantErr: `bad.yaml:1: timezone: environment variable CRMSYNC_TZ is not set`,
		},
		{
			name:    "EmptyDefaultIsEmpty",
			give:    "omnichat:\n  token: ${OMNICHAT_TOKEN_OTHER:-}\n" + pullJob,
			env:     map[string]string{"OMNICHAT_TOKEN": "the other account's"},
			wantErr: `bad.yaml:2: omnichat.token: empty: the variable it names is set to an empty value`,
		},
		{
			name:    "UndocumentedPlatform",
			give:    "omnichat:\n  platforms: [line, viber]\n",
			wantErr: `bad.yaml:2: omnichat.platforms[1]: "viber" is not a platform Omnichat documents (one of line, facebook, instagram, whatsapp, wechat, webchat)`,
		},
		{
			name:    "PlatformTwice",
			give:    "omnichat:\n  platforms: [webchat, website]\n",
			wantErr: `bad.yaml:2: omnichat.platforms[1]: platform "website" listed twice`,
		},
		{
			name:    "HeadroomTooLarge",
			give:    "omnichat:\n  rate_headroom: 0.6\n",
			wantErr: `bad.yaml:2: omnichat.rate_headroom: 0.6 is outside 0..0.5`,
		},
		{
			name:    "NegativeHeadroom",
			give:    "omnichat:\n  rate_headroom: -0.1\n",
			wantErr: `bad.yaml:2: omnichat.rate_headroom: -0.1 is outside 0..0.5`,
		},
		{
			name:    "WindowDeadlineTooShort",
			give:    "omnichat:\n  window_deadline: 5s\n",
			wantErr: `bad.yaml:2: omnichat.window_deadline: 5s is below 10s`,
		},
		{
			name:    "NegativeWindowAttempts",
			give:    "omnichat:\n  max_window_attempts: -1\n",
			wantErr: `bad.yaml:2: omnichat.max_window_attempts: -1 is outside 1..100`,
		},
		{
			name:    "WindowOverSevenDays",
			give:    "omnichat:\n  window: 169h\n",
			wantErr: `bad.yaml:2: omnichat.window: 169h0m0s is outside 1m..168h (Omnichat refuses ranges over 7 days)`,
		},
		{
			name:    "LiteralSecret",
			give:    "oho:\n  api_key: abc123\n",
			wantErr: `bad.yaml:2: oho.api_key: secrets must come from the environment: write ${VARIABLE} instead of the value`,
		},
		{
			name:    "PullWithoutToken",
			give:    "jobs:\n  - name: pull\n    schedule: \"@hourly\"\n    steps: [pull_messages]\n",
			wantErr: `bad.yaml: omnichat.token: missing: set OMNICHAT_TOKEN (a job pulls from Omnichat)`,
		},
		{
			name:    "UnknownStep",
			give:    "jobs:\n  - name: a\n    schedule: \"@hourly\"\n    steps: [reconcile, push_hubspot]\n",
			wantErr: `bad.yaml:4: jobs[0].steps[1]: unknown step "push_hubspot" (one of pull_contacts, pull_tagging_logs, pull_messages, pull_agents, reconcile, push_oho, push_okeybot)`,
		},
		{
			name:    "DuplicateJob",
			give:    "jobs:\n  - name: a\n    schedule: \"@hourly\"\n    steps: [reconcile]\n  - name: a\n    schedule: \"@daily\"\n    steps: [reconcile]\n",
			wantErr: `bad.yaml:5: jobs[1].name: job "a" defined twice`,
		},
		{
			name:    "WrongType",
			give:    "omnichat:\n  page_size: lots\n",
			wantErr: `bad.yaml:2: omnichat.page_size: "lots" is not a whole number`,
		},
		{
			name:    "BadDuration",
			give:    "omnichat:\n  window: 7d\n",
			wantErr: `bad.yaml:2: omnichat.window: "7d" is not a duration such as 30s, 15m or 24h`,
		},
		{
			name:    "PageSizeOverVendorMax",
			give:    "omnichat:\n  page_size: 101\n",
			wantErr: `bad.yaml:2: omnichat.page_size: 101 is outside 1..100 (Omnichat's maximum page size)`,
		},
		{
			name:    "BadYAML",
			give:    "jobs: [\n",
			wantErr: `bad.yaml:1: invalid YAML: did not find expected node content`,
		},
		{
			name:    "BadTimeZone",
			give:    "timezone: Mars/Olympus\n",
			wantErr: `bad.yaml:1: timezone: unknown time zone "Mars/Olympus" (use an IANA name such as Asia/Bangkok)`,
		},
		{
			name:    "MappingRule",
			give:    "mapping:\n  oho:\n    labels:\n      - pattern: \"re:[\"\n",
			wantErr: "bad.yaml:4: mapping.oho.labels[0].pattern: invalid regexp",
		},
		{
			name:    "MappingOhoOnConflict",
			give:    "mapping:\n  oho:\n    foreign_phone: drop\n    on_conflict: newest\n",
			wantErr: `bad.yaml:4: mapping.oho.on_conflict: "newest" is not one of source, destination`,
		},
		{
			name:    "MappingUnknownKey",
			give:    "mapping:\n  oho:\n    lables: []\n",
			wantErr: `bad.yaml:3: mapping.oho.lables: unknown key (check the spelling; keys are snake_case)`,
		},
		{
			name:    "LookupFieldNotFilled",
			give:    "okeybot:\n  channels:\n    - name: shop\n      token: ${T}\n      sources: [line]\n      lookup_field: email\n",
			env:     map[string]string{"T": "x"},
			wantErr: `bad.yaml:6: okeybot.channels[0].lookup_field: "email" is not a custom field mapping.okeybot.custom_fields fills (it fills: none), so contacts crmsync creates could never be found by it`,
		},
		{
			name:    "PushOkeybotWithoutFields",
			give:    "okeybot:\n  channels:\n    - name: shop\n      token: ${T}\n      sources: [line]\njobs:\n  - name: a\n    schedule: \"@hourly\"\n    steps: [push_okeybot]\n",
			env:     map[string]string{"T": "x"},
			wantErr: `bad.yaml: mapping.okeybot.custom_fields: empty, but a job runs push_okeybot: Okeybot creates a contact only with at least one custom field`,
		},
		{
			name:    "OkeybotWithoutSources",
			give:    "okeybot:\n  channels:\n    - name: shop\n      token: ${T}\n",
			env:     map[string]string{"T": "x"},
			wantErr: `bad.yaml:3: okeybot.channels[0].sources: missing: list the Omnichat channels (platform/channelId) or platforms whose contacts go to this channel`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse("bad.yaml", []byte(tt.give), env(tt.env))
			require.Error(t, err)
			require.ErrorIs(t, err, config.ErrInvalid)
			var ce *config.Error
			require.True(t, errors.As(err, &ce))
			require.True(t, strings.HasPrefix(ce.Problems[0].String(), tt.wantErr), "got %q", ce.Problems[0].String())
			require.NotContains(t, err.Error(), "\n", "the error is one line")
		})
	}
}

func TestParse_reportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := config.Parse("bad.yaml", []byte("omnichat:\n  page_size: 500\n  window: 200h\n"), env(nil))
	var ce *config.Error
	require.True(t, errors.As(err, &ce))
	require.Len(t, ce.Problems, 2)
	require.Contains(t, err.Error(), "(and 1 more; run crmsync check-config)")
}

func TestLoad_missingFile(t *testing.T) {
	t.Parallel()
	_, err := config.Load("testdata/does-not-exist.yaml", env(nil))
	require.EqualError(t, err, "testdata/does-not-exist.yaml: cannot read: no such file or directory")
}

// The jobs.yaml shipped at the repository root must stay valid.
func TestLoad_repositoryJobsYAML(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../jobs.yaml")
	require.NoError(t, err)
	// Give every ${VAR} it references a value, as a deployment would.
	e := map[string]string{}
	for _, f := range strings.FieldsFunc(string(data), func(r rune) bool { return r == '{' || r == '}' }) {
		if strings.HasPrefix(f, "$") {
			continue
		}
		if name, _, _ := strings.Cut(f, ":-"); name != "" && strings.ToUpper(name) == name && !strings.ContainsAny(name, " \n") {
			e[name] = "set"
			if strings.HasSuffix(name, "_URL") {
				e[name] = "https://example.com/set"
			}
		}
	}
	e["OMNICHAT_TOKEN"], e["OHO_API_KEY"] = "set", "set"
	cfg, err := config.Parse("jobs.yaml", data, env(e))
	require.NoError(t, err)
	require.NotEmpty(t, cfg.Jobs)
}

func TestParse_withoutSecrets(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("jobs.yaml", []byte(valid), env(nil), config.WithoutSecrets())
	require.NoError(t, err, "status needs no API secrets")
	require.Empty(t, cfg.Omnichat.Token)

	_, err = config.Parse("jobs.yaml", []byte("oho:\n  api_key: abc\n"), env(nil), config.WithoutSecrets())
	require.ErrorContains(t, err, "secrets must come from the environment", "a literal secret is refused all the same")
}

// A command asks only for the secrets of the services it calls: a backfill
// or `run pull_messages` needs the Omnichat token and nothing else.
func TestParse_forRun(t *testing.T) {
	t.Parallel()
	onlyOmnichat := map[string]string{"OMNICHAT_TOKEN": "tok"}

	keys := func(err error) []string {
		var ce *config.Error
		require.ErrorAs(t, err, &ce)
		var out []string
		for _, p := range ce.Problems {
			out = append(out, p.Key)
		}
		return out
	}
	_, err := config.Parse("jobs.yaml", []byte(valid), env(onlyOmnichat))
	require.ElementsMatch(t, []string{"line.channels[0].access_token", "okeybot.channels[0].token", "oho.api_key"}, keys(err),
		"without ForRun every job's services are needed")

	for _, names := range [][]string{{"pull_messages"}, {"omnichat_pull"}, {"pull_contacts", "reconcile"}} {
		cfg, err := config.Parse("jobs.yaml", []byte(valid), env(onlyOmnichat), config.ForRun(names...))
		require.NoError(t, err, "%v", names)
		require.Equal(t, "tok", cfg.Omnichat.Token)
		require.Empty(t, cfg.Line.Channels[0].AccessToken)
	}

	_, err = config.Parse("jobs.yaml", []byte(valid), env(map[string]string{"LINE_TOKEN_SHOP": "l"}), config.ForRun("pull_messages"))
	require.ErrorContains(t, err, "omnichat.token: environment variable OMNICHAT_TOKEN is not set")

	_, err = config.Parse("jobs.yaml", []byte(valid), env(onlyOmnichat), config.ForRun("omnichat_to_oho_contacts"))
	require.ElementsMatch(t, []string{"line.channels[0].access_token", "okeybot.channels[0].token", "oho.api_key"}, keys(err),
		"that job pushes to Oho (with LINE) and Okeybot")
}

func TestParse_pullDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("jobs.yaml", []byte("omnichat:\n  platforms: [line, website]\n"), env(nil))
	require.NoError(t, err)
	o := cfg.Omnichat
	require.InDelta(t, config.DefaultRateHeadroom, *o.RateHeadroom, 0)
	require.Equal(t, 15*time.Minute, o.WindowDeadline)
	require.Equal(t, 5, o.MaxWindowAttempts)
	require.Equal(t, []string{"line", "website"}, o.Platforms)

	cfg, err = config.Parse("jobs.yaml", []byte("omnichat:\n  rate_headroom: 0\n"), env(nil))
	require.NoError(t, err)
	require.Zero(t, *cfg.Omnichat.RateHeadroom, "0 is a valid headroom, not the default")
	require.Equal(t, []string{"line", "facebook", "instagram", "whatsapp", "wechat", "webchat"}, cfg.Omnichat.Platforms)
}
