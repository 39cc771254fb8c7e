package push_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/clients/lineapi"
	"crmsync/clients/lineapi/lineapitest"
	"crmsync/clients/oho"
	"crmsync/clients/oho/ohotest"
	"crmsync/contact"
	"crmsync/mapping"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/push"
)

func TestMain(m *testing.M) { os.Exit(storetest.RunCheckingLeaks(m)) }

// t0 is the clock the tests start at.
var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// The LINE channel the tests use: Omnichat channel id, token, and its bot.
const (
	lineChannel  = "1656000001"
	lineToken    = "line-token-shop"
	botUserID    = "Ub0000000000000000000000000000001"
	botBasicID   = "@shop123"
	botName      = "Shop OA"
	fbPage       = "105000000000001"
	fbPageName   = "Shop Page"
	defaultPhoto = "https://cdn.example.com/default.png"
)

// lineUser returns a valid LINE user id for n.
func lineUser(n int) string { return fmt.Sprintf("U%032x", n) }

// seedContact is a master record written straight into the master tables.
type seedContact struct {
	Name, Email, Phone string
	Identities         []contact.Identity
	Tags               []string
	Attrs              map[string]string // key → value (display name = key)
	UpdatedAt          time.Time         // default t0
	Excluded           bool
}

// seedContacts inserts master records and returns their ids.
func seedContacts(t testing.TB, st *store.Store, cs ...seedContact) []contact.ID {
	t.Helper()
	ctx := context.Background()
	db := st.SQL()
	ids := make([]contact.ID, len(cs))
	for i, c := range cs {
		at := c.UpdatedAt
		if at.IsZero() {
			at = t0
		}
		var id int64
		require.NoError(t, db.QueryRowContext(ctx, `
			INSERT INTO contacts (name, email, phone, identities, excluded_from_push, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id`,
			c.Name, c.Email, c.Phone, len(c.Identities), c.Excluded, at).Scan(&id))
		for _, ident := range c.Identities {
			_, err := db.ExecContext(ctx, `
				INSERT INTO contact_identities (platform, channel_id, user_id, contact_id, has_profile, first_seen_at, updated_at)
				VALUES ($1, $2, $3, $4, true, $5, $5)`, string(ident.Platform), ident.ChannelID, ident.UserID, id, at)
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, `
				INSERT INTO omnichat_contacts (platform, channel_id, user_id, name, updated_at, raw)
				VALUES ($1, $2, $3, $4, $5, '{}')`, string(ident.Platform), ident.ChannelID, ident.UserID, c.Name, at)
			require.NoError(t, err)
		}
		for _, tag := range c.Tags {
			_, err := db.ExecContext(ctx, `INSERT INTO contact_tags (contact_id, tag) VALUES ($1, $2)`, id, tag)
			require.NoError(t, err)
		}
		for k, v := range c.Attrs {
			_, err := db.ExecContext(ctx, `INSERT INTO contact_attributes (contact_id, key, value, display_name) VALUES ($1, $2, $3, $2)`, id, k, v)
			require.NoError(t, err)
		}
		ids[i] = contact.ID(id)
	}
	return ids
}

// exec runs one statement against the test database.
func exec(t testing.TB, st *store.Store, q string, args ...any) {
	t.Helper()
	_, err := st.SQL().ExecContext(context.Background(), q, args...)
	require.NoError(t, err)
}

// count returns the single integer q selects.
func count(t testing.TB, st *store.Store, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, st.SQL().QueryRowContext(context.Background(), q, args...).Scan(&n))
	return n
}

// rename changes a contact's name and stamps it as changed at `at`.
func rename(t testing.TB, st *store.Store, id contact.ID, name string, at time.Time) {
	t.Helper()
	exec(t, st, `UPDATE contacts SET name = $1, updated_at = $2 WHERE id = $3`, name, at, int64(id))
}

// bodyLog records the bodies of the requests sent through it.
type bodyLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []string // "METHOD /path body"
}

func (b *bodyLog) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	b.mu.Lock()
	b.reqs = append(b.reqs, strings.TrimSpace(r.Method+" "+r.URL.EscapedPath()+" "+string(body)))
	b.mu.Unlock()
	return b.next.RoundTrip(r)
}

// bodies returns the logged requests whose method is method.
func (b *bodyLog) bodies(method string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, r := range b.reqs {
		if strings.HasPrefix(r, method+" ") {
			out = append(out, r)
		}
	}
	return out
}

// bundle is what a push test works with.
type bundle struct {
	st     *store.Store
	oho    *ohotest.Server
	line   *lineapitest.Server
	sent   *bodyLog
	client *oho.Client
	dest   *push.Oho
	opts   push.Options
	clock  *clock
}

// clock is a settable NowFunc.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// noSleep lets apiclient retry at once.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

type setupOptions struct {
	mapping  mapping.Options
	apiKey   string            // Oho key the client sends; default the fake's
	noTokens bool              // configure no LINE token
	tokens   map[string]string // more LINE channels and their tokens
}

// setup returns a fresh database, fake Oho and LINE with one LINE channel and
// one Facebook page, and an Oho destination wired to them.
func setup(t testing.TB, so setupOptions) *bundle {
	t.Helper()
	st := storetest.New(t)
	ohoSrv := ohotest.NewServer(t, ohotest.Options{})
	lineSrv := lineapitest.NewServer(t, lineapitest.Options{})
	lineSrv.AddChannel(lineToken, lineapitest.BotInfo{UserID: botUserID, BasicID: botBasicID, DisplayName: botName, ChatMode: "chat", MarkAsReadMode: "manual"})
	exec(t, st, `INSERT INTO omnichat_channels (platform, channel_id, channel_name, raw) VALUES
		('line', $1, 'Shop LINE', '{}'), ('facebook', $2, $3, '{}')`, lineChannel, fbPage, fbPageName)

	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	sent := &bodyLog{next: tr}
	key := so.apiKey
	if key == "" {
		key = ohoSrv.APIKey()
	}
	oc, err := oho.New(oho.Config{BaseURL: ohoSrv.URL, APIKey: key, Base: sent, SleepFunc: noSleep,
		Retry: apiclient.RetryPolicy{MaxAttempts: 2}})
	require.NoError(t, err)
	lc, err := lineapi.New(lineapi.Config{BaseURL: lineSrv.URL, Base: tr, SleepFunc: noSleep})
	require.NoError(t, err)

	mo := so.mapping
	if mo.Oho.DefaultPictureURL == "" {
		mo.Oho.DefaultPictureURL = defaultPhoto
	}
	mp, err := mapping.New(mo)
	require.NoError(t, err)
	clk := &clock{now: t0.Add(time.Hour)}
	tokens := map[string]string{lineChannel: lineToken}
	if so.noTokens {
		tokens = nil
	}
	for ch, tok := range so.tokens {
		tokens[ch] = tok
	}
	dest, err := push.NewOho(push.OhoConfig{Client: oc, Line: lc, LineTokens: tokens, Mapper: mp, NowFunc: clk.Now})
	require.NoError(t, err)
	return &bundle{
		st: st, oho: ohoSrv, line: lineSrv, sent: sent, client: oc, dest: dest, clock: clk,
		opts: push.Options{Store: st, NowFunc: clk.Now, Concurrency: 2, BatchSize: 3},
	}
}

// run pushes with the bundle's options changed by opt.
func (b *bundle) run(t testing.TB, opt ...func(*push.Options)) (push.Result, error) {
	t.Helper()
	o := b.opts
	for _, f := range opt {
		f(&o)
	}
	return push.Run(t.Context(), b.dest, o)
}

// ohoKey returns the fake's key of a LINE user of the test bot.
func ohoLineKey(user string) ohotest.Key {
	return ohotest.Key{Platform: "line", PlatformID: botUserID, UserID: user}
}

// lineID returns the identity of a LINE user on the test channel.
func lineID(n int) contact.Identity {
	return contact.Identity{Platform: contact.LINE, ChannelID: lineChannel, UserID: lineUser(n)}
}

// fbID returns the identity of a Facebook user of the test page.
func fbID(user string) contact.Identity {
	return contact.Identity{Platform: contact.Facebook, ChannelID: fbPage, UserID: user}
}

// methods returns the methods of the fake's requests, in order.
func methods(s *ohotest.Server) []string {
	var out []string
	for _, r := range s.Requests() {
		out = append(out, r.Method)
	}
	return out
}
