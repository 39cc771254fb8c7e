package sandbox_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/clients/lineapi"
	"crmsync/clients/oho"
	"crmsync/clients/oho/ohotest"
	"crmsync/clients/okeybot"
	"crmsync/clients/omnichat"
	"crmsync/config"
	"crmsync/contact"
	"crmsync/sandbox"
)

// noSleep lets clients retry at once.
func noSleep(context.Context, time.Duration) error { return nil }

// start runs a sandbox over a small dataset for the length of the test.
func start(t *testing.T, o sandbox.StartOptions) *sandbox.Sandbox {
	t.Helper()
	d := sandbox.Generate(sandbox.Options{Seed: 11, People: 60})
	sb, err := sandbox.Start(t.Context(), d, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	return sb
}

func TestStart_servesTheDataset(t *testing.T) {
	t.Parallel()
	sb := start(t, sandbox.StartOptions{})
	env := sb.Env()
	ctx := t.Context()

	oc, err := omnichat.New(omnichat.Config{BaseURL: env["OMNICHAT_BASE_URL"], Token: env["OMNICHAT_TOKEN"], Location: sandbox.Bangkok})
	require.NoError(t, err)
	chans, err := oc.Channels.List(ctx)
	require.NoError(t, err)
	var listed []string
	for _, c := range chans {
		listed = append(listed, string(c.Platform)+"/"+c.ChannelID)
	}
	require.Equal(t, []string{"line/1656000001", "line/1656000002", "webchat/webchat"}, listed,
		"as the vendor documents /v1/channels: LINE and webchat channels only; the others are pulled per platform")

	d := sb.Dataset
	var want int
	for _, c := range d.Contacts {
		if c.ChannelID == "1656000001" {
			want++
		}
	}
	got := 0
	for from := d.Start; from.Before(d.End); from = from.Add(omnichat.MaxWindow) {
		for c, err := range oc.Contacts.All(ctx, omnichat.ContactListOptions{
			Platform: contact.LINE, ChannelID: "1656000001", UpdatedAfter: from, UpdatedBefore: from.Add(omnichat.MaxWindow), PageSize: 100,
		}) {
			require.NoError(t, err)
			require.Equal(t, "1656000001", c.ChannelID)
			got++
		}
	}
	require.Equal(t, want, got)

	lc, err := lineapi.New(lineapi.Config{BaseURL: env["LINE_BASE_URL"]})
	require.NoError(t, err)
	info, err := lc.Bot(env["LINE_TOKEN_OUTLET"]).Info(ctx)
	require.NoError(t, err)
	require.Equal(t, d.Channels[1].Bot.UserID, info.UserID)

	kc, err := okeybot.New(okeybot.Config{BaseURL: env["OKEYBOT_BASE_URL"]})
	require.NoError(t, err)
	ch, err := kc.Channel(env["OKEYBOT_TOKEN_MAIN"], okeybot.ChannelOptions{Name: "main"})
	require.NoError(t, err)
	id, err := ch.Contacts.Create(ctx, []okeybot.CustomField{{Name: "phone", Value: "0812345678"}})
	require.NoError(t, err)
	require.NotEmpty(t, id)

	counts := sb.Counts()
	require.Len(t, counts, 4)
	require.Equal(t, sandbox.Omnichat, counts[0].API)
	require.Equal(t, counts[0].Requests, counts[0].Status(http.StatusOK))
	require.Equal(t, 1, sb.Count(sandbox.Line).Requests)
	require.Equal(t, 1, sb.Count(sandbox.Okeybot).Requests)
	require.Zero(t, sb.Count(sandbox.Oho).Requests)
}

func TestStart_injectsFaults(t *testing.T) {
	t.Parallel()
	sb := start(t, sandbox.StartOptions{Faults: sandbox.Faults{Omnichat: sandbox.APIFaults{ErrorEvery: 3, BurstAt: 1, Burst: 2}}})
	var statuses []int
	for range 6 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, sb.URLs[sandbox.Omnichat]+"/v1/channels", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+sandbox.OmnichatToken)
		resp, err := http.DefaultTransport.RoundTrip(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		statuses = append(statuses, resp.StatusCode)
	}
	require.Equal(t, []int{429, 429, 503, 200, 200, 503}, statuses)

	c := sb.Count(sandbox.Omnichat)
	require.Equal(t, 6, c.Requests)
	require.Equal(t, 2, c.RateLimited())
	require.Equal(t, 2, c.ServerErrors())
	require.Equal(t, 4, c.Injected)
	require.Zero(t, c.Refused())
}

func TestStart_clientsAbsorbTheDefaultFaults(t *testing.T) {
	t.Parallel()
	sb := start(t, sandbox.StartOptions{Faults: sandbox.DefaultFaults})
	oc, err := omnichat.New(omnichat.Config{
		BaseURL: sb.URLs[sandbox.Omnichat], Token: sandbox.OmnichatToken, SleepFunc: noSleep,
		Retry: apiclient.RetryPolicy{MaxAttempts: 5},
		// The demo's headroom: the fake counts any second by arrival time, and a
		// loaded test machine must not provoke a 429 beyond the injected burst.
		Limiter: apiclient.Pace(omnichat.DefaultRate, omnichat.RatePeriod, 0.1),
	})
	require.NoError(t, err)
	for range 200 {
		_, err := oc.Channels.List(t.Context())
		require.NoError(t, err)
	}
	c := sb.Count(sandbox.Omnichat)
	require.Equal(t, 3, c.RateLimited(), "one burst of three")
	require.Positive(t, c.ServerErrors())
	require.Equal(t, 200, c.Status(http.StatusOK))
	require.Equal(t, c.RateLimited()+c.ServerErrors(), c.Injected)
}

func TestStart_portInUse(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	d := sandbox.Generate(sandbox.Options{Seed: 1, People: 5})
	_, err = sandbox.Start(t.Context(), d, sandbox.StartOptions{Ports: sandbox.Ports{Oho: port}})
	require.ErrorContains(t, err, "start sandbox oho API on 127.0.0.1:"+strconv.Itoa(port))
}

func TestSandbox_Close_freesThePorts(t *testing.T) {
	t.Parallel()
	d := sandbox.Generate(sandbox.Options{Seed: 1, People: 5})
	sb, err := sandbox.Start(t.Context(), d, sandbox.StartOptions{})
	require.NoError(t, err)
	addr := sb.URLs[sandbox.Omnichat][len("http://"):]
	require.NoError(t, sb.Close(t.Context()))
	require.NoError(t, sb.Close(t.Context()), "a second Close is harmless")

	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", addr)
	require.NoError(t, err)
	require.NoError(t, ln.Close())
}

func TestSandbox_Env(t *testing.T) {
	t.Parallel()
	sb := start(t, sandbox.StartOptions{})
	require.Equal(t, []string{
		"LINE_BASE_URL", "LINE_CHANNEL_ID_MAIN", "LINE_CHANNEL_ID_OUTLET", "LINE_TOKEN_MAIN", "LINE_TOKEN_OUTLET",
		"OHO_API_KEY", "OHO_BASE_URL", "OKEYBOT_BASE_URL", "OKEYBOT_TOKEN_CHAT", "OKEYBOT_TOKEN_MAIN",
		"OMNICHAT_BASE_URL", "OMNICHAT_TOKEN",
	}, sb.EnvNames())
	env := sb.Env()
	require.Equal(t, sb.URLs[sandbox.Okeybot], env["OKEYBOT_BASE_URL"])
	require.Regexp(t, `^http://127\.0\.0\.1:\d+/api$`, env["OKEYBOT_BASE_URL"])
	require.Equal(t, "1656000001", env["LINE_CHANNEL_ID_MAIN"], "the channel id jobs.yaml defaults to")

	getenv := sb.Getenv(func(name string) string { return "from-fallback-" + name })
	require.Equal(t, sandbox.OhoAPIKey, getenv("OHO_API_KEY"))
	require.Equal(t, "from-fallback-DATABASE_URL", getenv("DATABASE_URL"))
}

func TestSandbox_Config(t *testing.T) {
	t.Parallel()
	sb := start(t, sandbox.StartOptions{})
	cfg, err := sb.Config(func(string) string { return "" })
	require.NoError(t, err)
	job, err := cfg.Job("demo")
	require.NoError(t, err)
	require.Equal(t, config.Steps, job.Steps)
	require.Equal(t, sb.URLs[sandbox.Omnichat], cfg.Omnichat.BaseURL)
	require.Equal(t, sandbox.OmnichatToken, cfg.Omnichat.Token)
	require.Equal(t, "Asia/Bangkok", cfg.Omnichat.TaggingLogZone)
	require.Equal(t, sandbox.OhoAPIKey, cfg.Oho.APIKey)
	require.Len(t, cfg.Line.Channels, 2)
	for _, ch := range sb.Dataset.Channels {
		if ch.Platform == contact.LINE {
			tok, ok := cfg.LineToken(ch.ID)
			require.True(t, ok)
			require.Equal(t, ch.Token, tok)
		}
	}
	require.Len(t, cfg.Okeybot.Channels, 2)
	require.Equal(t, sandbox.OkeybotTokenMain, cfg.Okeybot.Channels[0].Token)
	require.Greater(t, cfg.Omnichat.InitialLookback, time.Duration(sandbox.DefaultDays)*24*time.Hour, "the first run reaches the whole history")
	require.NotEmpty(t, cfg.Mapping.Oho.DefaultPictureURL, "Facebook and Instagram contacts have no picture of their own")

	_, err = config.Parse("x.yaml", sandbox.ConfigYAML(), func(string) string { return "" })
	require.ErrorIs(t, err, config.ErrInvalid, "without the sandbox's environment the tokens are missing")
}

func TestSandbox_State_survivesARestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	d := sandbox.Generate(sandbox.Options{Seed: 5, People: 20})
	ctx := t.Context()

	sb, err := sandbox.Start(ctx, d, sandbox.StartOptions{StateFile: path})
	require.NoError(t, err)
	bot := d.Channels[0].Bot
	user := d.Profiles[0].UserID
	key := ohotest.Key{Platform: "line", PlatformID: bot.UserID, UserID: user}
	hc, err := oho.New(oho.Config{BaseURL: sb.URLs[sandbox.Oho], APIKey: sandbox.OhoAPIKey})
	require.NoError(t, err)
	require.NoError(t, hc.Contacts.Create(ctx, oho.ContactCreateRequest{
		SocialProfile:     oho.SocialProfile{Platform: oho.LINE, ID: user, PlatformID: bot.UserID, PlatformName: bot.DisplayName, LineBasicID: bot.BasicID},
		ProfilePictureURL: "https://example.com/p.png", PlatformDisplayName: "ปักเป้า", DisplayName: "ปักเป้า", FirstName: "ปักเป้า",
		Tags: []string{"VIP"},
	}))
	kc, err := okeybot.New(okeybot.Config{BaseURL: sb.URLs[sandbox.Okeybot]})
	require.NoError(t, err)
	ch, err := kc.Channel(sandbox.OkeybotTokenChat, okeybot.ChannelOptions{})
	require.NoError(t, err)
	first, err := ch.Contacts.Create(ctx, []okeybot.CustomField{{Name: "email", Value: "a@example.com"}})
	require.NoError(t, err)
	require.NoError(t, sb.Close(ctx))
	_, err = os.Stat(path)
	require.NoError(t, err)

	sb2, err := sandbox.Start(ctx, d, sandbox.StartOptions{StateFile: path})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb2.Close(context.Background()) })
	got, ok := sb2.Oho.Contact(key)
	require.True(t, ok, "the Oho contact survived")
	require.Equal(t, []string{"VIP"}, got.Tags)
	restored, ok := sb2.Okeybot.Contact(sandbox.OkeybotTokenChat, first)
	require.True(t, ok, "the Okeybot contact survived")
	require.Equal(t, "a@example.com", restored.CustomFields["email"])

	kc2, err := okeybot.New(okeybot.Config{BaseURL: sb2.URLs[sandbox.Okeybot]})
	require.NoError(t, err)
	ch2, err := kc2.Channel(sandbox.OkeybotTokenChat, okeybot.ChannelOptions{})
	require.NoError(t, err)
	second, err := ch2.Contacts.Create(ctx, []okeybot.CustomField{{Name: "email", Value: "b@example.com"}})
	require.NoError(t, err)
	require.NotEqual(t, first, second, "a new contact gets a new id")
	require.Len(t, sb2.Okeybot.Contacts(sandbox.OkeybotTokenChat), 2)
	require.Zero(t, sb2.Count(sandbox.Oho).Requests, "restoring is not a request")
}

func TestSandbox_State_refusesAnotherVersion(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"version": 99}`), 0o600))
	d := sandbox.Generate(sandbox.Options{Seed: 5, People: 5})
	_, err := sandbox.Start(t.Context(), d, sandbox.StartOptions{StateFile: path})
	require.ErrorContains(t, err, "version 99")
}

func TestConfigYAML_usesNoFactThatMovesWithTheClock(t *testing.T) {
	t.Parallel()
	// A fact judged against now (active_7d, inactive_30d, ...) changes
	// payloads as days pass, so a second demo run would push again.
	sliding := []string{"active_24h", "active_7d", "active_30d", "inactive_30d", "inactive_90d", "new_7d",
		"messages_7d", "messages_30d", "days_since_last_customer_message"}
	used := regexp.MustCompile(`fact:\s*"?([a-z0-9_]+)`).FindAllStringSubmatch(string(sandbox.ConfigYAML()), -1)
	require.NotEmpty(t, used)
	for _, m := range used {
		require.NotContains(t, sliding, m[1])
	}
}
