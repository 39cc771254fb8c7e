package push_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
	"crmsync/clients/okeybot"
	"crmsync/clients/okeybot/okeybottest"
	"crmsync/contact"
	"crmsync/mapping"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/push"
)

// The Okeybot channels the tests use: LINE contacts go to okLine, the
// Facebook page's to okFB.
const (
	okLine      = "shop_line"
	okLineToken = "okeybot-token-line"
	okFB        = "shop_fb"
	okFBToken   = "okeybot-token-fb"
)

// okBundle is what an Okeybot push test works with.
type okBundle struct {
	st    *store.Store
	srv   *okeybottest.Server
	clock *okeybottest.Clock // the fake's clock, advanced by the client's retry waits
	dest  *push.Okeybot
	opts  push.Options
	hook  *hookTransport
}

type okSetup struct {
	// mapping is mapping's okeybot section; default: name, phone, email and
	// every attribute as custom fields, every tag.
	mapping *mapping.OkeybotOptions
	// channels default to okLine (sources line) and okFB (the test page).
	channels []push.OkeybotChannel
	// fake configures the fake beyond its channels and clock.
	fake okeybottest.Options
	// limiter returns the client's limiter per token; default unlimited.
	limiter func(token string) *rate.Limiter
	// retry is the client's retry policy; default 2 attempts.
	retry apiclient.RetryPolicy
	// detect turns on OkeybotConfig.DetectConflicts.
	detect bool
}

// defaultOkeybotMapping is the mapping the tests use unless they say otherwise.
func defaultOkeybotMapping() mapping.OkeybotOptions {
	return mapping.OkeybotOptions{CustomFields: []mapping.FieldRule{
		{From: "name", Name: "name"}, {From: "phone", Name: "phone"}, {From: "email", Name: "email"}, {From: "attr:*"},
	}}
}

// okSetupBundle returns a fresh database, a fake Okeybot knowing the
// channels' tokens, and an Okeybot destination wired to them. The client
// waits for a retry by advancing the fake's clock: no test sleeps.
func okSetupBundle(t testing.TB, so okSetup) *okBundle {
	t.Helper()
	st := storetest.New(t)
	clk := okeybottest.NewClock(t0)
	fo := so.fake
	fo.NowFunc = clk.Now
	chans := so.channels
	if chans == nil {
		chans = []push.OkeybotChannel{
			{Name: okLine, Token: okLineToken, Sources: []string{"line"}},
			{Name: okFB, Token: okFBToken, Sources: []string{"facebook/" + fbPage}},
		}
	}
	if fo.Channels == nil { // the fake knows every configured token
		for _, ch := range chans {
			fo.Channels = append(fo.Channels, okeybottest.Channel{Token: ch.Token, Viber: ch.Viber})
		}
	}
	srv := okeybottest.NewServer(t, fo)

	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	hook := &hookTransport{next: tr}
	limiter := so.limiter
	if limiter == nil {
		limiter = func(string) *rate.Limiter { return nil }
	}
	retry := so.retry
	if retry.MaxAttempts == 0 {
		retry.MaxAttempts = 2
	}
	oc, err := okeybot.New(okeybot.Config{
		BaseURL: srv.URL, LimiterFunc: limiter, Base: hook, Retry: retry,
		SleepFunc: func(ctx context.Context, d time.Duration) error { clk.Advance(d); return ctx.Err() },
	})
	require.NoError(t, err)
	mo := defaultOkeybotMapping()
	if so.mapping != nil {
		mo = *so.mapping
	}
	mp, err := mapping.New(mapping.Options{Okeybot: mo})
	require.NoError(t, err)
	now := func() time.Time { return t0.Add(time.Hour) }
	dest, err := push.NewOkeybot(push.OkeybotConfig{Client: oc, Channels: chans, Mapper: mp, NowFunc: now, DetectConflicts: so.detect})
	require.NoError(t, err)
	return &okBundle{st: st, srv: srv, clock: clk, dest: dest, hook: hook,
		opts: push.Options{Store: st, NowFunc: now, Concurrency: 2, BatchSize: 3}}
}

// run pushes with the bundle's options changed by opt.
func (b *okBundle) run(t testing.TB, opt ...func(*push.Options)) (push.Result, error) {
	t.Helper()
	o := b.opts
	for _, f := range opt {
		f(&o)
	}
	return push.Run(t.Context(), b.dest, o)
}

// hookTransport calls before with each request it is about to send, and
// after with each response it passes on, when they are set. Set them before
// the run starts.
type hookTransport struct {
	next   http.RoundTripper
	before func(*http.Request)
	after  func(*http.Request, *http.Response)
}

func (h *hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.before != nil {
		h.before(r)
	}
	resp, err := h.next.RoundTrip(r)
	if err == nil && h.after != nil {
		h.after(r, resp)
	}
	return resp, err
}

// okRequests returns the fake's requests of token as "METHOD /path STATUS",
// the /api prefix and contact ids left out ("{id}").
func okRequests(s *okeybottest.Server, token string) []string {
	var out []string
	for _, r := range s.Requests(token) {
		p := strings.TrimPrefix(r.Path, "/api")
		if rest, ok := strings.CutPrefix(p, "/v1/contact/"); ok && rest != "by_custom_field" {
			_, tail, _ := strings.Cut(rest, "/")
			p = "/v1/contact/{id}"
			if tail != "" {
				p += "/" + tail
			}
		}
		out = append(out, fmt.Sprintf("%s %s %d", r.Method, p, r.Status))
	}
	return out
}

// okBodyCounts returns, per request of token, how many custom fields or
// tags its body carried.
func okBodyCounts(t testing.TB, s *okeybottest.Server, token string) []int {
	t.Helper()
	var out []int
	for _, r := range s.Requests(token) {
		if r.Body == "" {
			out = append(out, 0)
			continue
		}
		var b struct {
			CustomFields []json.RawMessage `json:"custom_fields"`
			Tags         []string          `json:"tags"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.Body), &b))
		out = append(out, len(b.CustomFields)+len(b.Tags))
	}
	return out
}

// okState returns the stored remote id and payload of a target.
func okState(t testing.TB, st *store.Store, key string) (remote string, payload mapping.OkeybotContact) {
	t.Helper()
	var raw string
	require.NoError(t, st.SQL().QueryRowContext(context.Background(),
		`SELECT remote_id, payload::text FROM push_state WHERE destination = 'okeybot' AND target_key = $1`, key).Scan(&remote, &raw))
	require.NoError(t, json.Unmarshal([]byte(raw), &payload))
	return remote, payload
}

// okOnly returns the single contact the fake holds for token.
func okOnly(t testing.TB, s *okeybottest.Server, token string) okeybottest.Contact {
	t.Helper()
	cs := s.Contacts(token)
	require.Len(t, cs, 1)
	return cs[0]
}

// attrs returns n attributes a01 … an with values v01 ….
func attrs(n int) map[string]string {
	m := make(map[string]string, n)
	for i := 1; i <= n; i++ {
		m[fmt.Sprintf("a%02d", i)] = fmt.Sprintf("v%02d", i)
	}
	return m
}

// tagNames returns n tags named prefix01 ….
func tagNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i+1)
	}
	return out
}

// okKey returns the target key of a contact on an Okeybot channel.
func okKey(channel string, id contact.ID) string { return push.OkeybotTargetKey(channel, id) }

// sortedTags returns a contact's tags sorted.
func sortedTags(c okeybottest.Contact) []string { return slices.Sorted(slices.Values(c.Tags)) }

// setTags replaces a contact's master tags and stamps it as changed at `at`.
func setTags(t testing.TB, st *store.Store, id contact.ID, at time.Time, tags ...string) {
	t.Helper()
	exec(t, st, `DELETE FROM contact_tags WHERE contact_id = $1`, int64(id))
	for _, tag := range tags {
		exec(t, st, `INSERT INTO contact_tags (contact_id, tag) VALUES ($1, $2)`, int64(id), tag)
	}
	exec(t, st, `UPDATE contacts SET updated_at = $1 WHERE id = $2`, at, int64(id))
}

// setEmail changes a contact's master email and stamps it as changed at `at`.
func setEmail(t testing.TB, st *store.Store, id contact.ID, email string, at time.Time) {
	t.Helper()
	exec(t, st, `UPDATE contacts SET email = $1, updated_at = $2 WHERE id = $3`, email, at, int64(id))
}
