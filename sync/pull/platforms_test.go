package pull_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/contact"
	"crmsync/store"
	"crmsync/sync/pull"
)

// The channels of a team on every platform Omnichat documents.
var everyPlatform = []omnichat.Channel{
	lineChannel,
	webchatChannel,
	{Platform: contact.Facebook, ChannelID: "104512345678901", ChannelName: "Page"},
	{Platform: contact.Instagram, ChannelID: "17841412345678901", ChannelName: "shop"},
	{Platform: contact.WhatsApp, ChannelID: "66812340000", ChannelName: "WhatsApp"},
	{Platform: contact.WeChat, ChannelID: "gh_0123456789ab", ChannelName: "WeChat"},
}

// seedEveryPlatform seeds contacts and messages on every channel, n of
// each per channel, over day 0.
func seedEveryPlatform(b *testBundle, n int) {
	for _, ch := range everyPlatform {
		b.srv.SeedChannels(ch)
		for i := range n {
			b.srv.SeedContacts(contactAt(ch, fmt.Sprintf("%s-user-%d", ch.Platform, i), "Name", day(0).Add(time.Duration(i)*time.Minute)))
		}
		b.srv.SeedMessages(messages(ch, string(ch.Platform), n, day(0), 24*time.Hour)...)
	}
}

// query returns the parsed query of each request to path.
func queries(t *testing.T, requests []string, path string) []url.Values {
	t.Helper()
	var out []url.Values
	for _, r := range requests {
		u, err := url.Parse(strings.TrimPrefix(r, "GET "))
		require.NoError(t, err)
		if u.Path == path {
			out = append(out, u.Query())
		}
	}
	return out
}

// Issue 12, point 1: GET /v1/channels lists only LINE and webchat channels,
// as the vendor documents; every other platform's contacts and messages are
// pulled anyway, per platform without channelId, and their channels are
// recorded from the rows.
func TestPuller_Backfill_everyPlatformWhateverTheChannelListSays(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.Platforms = nil }) // the default: all six
	seedEveryPlatform(b, 40)

	var c pull.Counts
	for _, s := range []pull.Stream{pull.Contacts, pull.Messages} {
		got, err := p.Backfill(t.Context(), s, day(0), day(1), pull.RunOptions{})
		require.NoError(t, err)
		c.Add(got)
	}

	require.Equal(t, 6*40, count(t, b.st, `SELECT count(*) FROM omnichat_contacts`), "every platform's contacts landed")
	require.Equal(t, 6*40, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
	for _, ch := range everyPlatform {
		require.Equal(t, 40, count(t, b.st, `SELECT count(*) FROM omnichat_contacts WHERE platform = $1 AND channel_id = $2`, ch.Platform, ch.ChannelID), ch.Platform)
	}
	require.Equal(t, 2*2, c.ChannelScopes, "LINE and webchat per listed channel, for both streams")
	require.Equal(t, 2*4, c.PlatformScopes, "facebook, instagram, whatsapp, wechat per platform")
	require.Equal(t, []string{"facebook", "instagram", "line/1657703186", "webchat/webchat", "wechat", "whatsapp"},
		scopes(t, b.st, "contacts"))

	for _, q := range append(queries(t, b.srv.Requests(), "/v1/contacts"), queries(t, b.srv.Requests(), "/v1/messages")...) {
		switch contact.Platform(q.Get("platform")) {
		case contact.LINE, contact.Webchat:
			require.NotEmpty(t, q.Get("channelId"), "a listed channel is asked for by id")
		default:
			require.False(t, q.Has("channelId"), "an unlisted platform is asked for whole: %v", q)
		}
	}

	// The channel list, and the channels first seen in rows (name unknown).
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM omnichat_channels WHERE listed AND channel_name <> ''`))
	require.Equal(t, 4, count(t, b.st, `SELECT count(*) FROM omnichat_channels WHERE NOT listed AND channel_name = ''`))
	require.Equal(t, int64(4), c.ChannelsSeen)

	h, err := b.st.PullHealth(t.Context(), 10)
	require.NoError(t, err)
	require.Equal(t, []store.PlatformCoverage{
		{Platform: "facebook", Unlisted: 1, Contacts: store.CoveredPerPlatform, Messages: store.CoveredPerPlatform},
		{Platform: "instagram", Unlisted: 1, Contacts: store.CoveredPerPlatform, Messages: store.CoveredPerPlatform},
		{Platform: "line", Listed: 1, Contacts: store.CoveredPerChannel, Messages: store.CoveredPerChannel},
		{Platform: "webchat", Listed: 1, Contacts: store.CoveredPerChannel, Messages: store.CoveredPerChannel},
		{Platform: "wechat", Unlisted: 1, Contacts: store.CoveredPerPlatform, Messages: store.CoveredPerPlatform},
		{Platform: "whatsapp", Unlisted: 1, Contacts: store.CoveredPerPlatform, Messages: store.CoveredPerPlatform},
	}, h.Coverage)
}

// A server that does list every platform's channels gets every platform
// pulled per channel.
func TestPuller_Backfill_everyListedChannelPerChannel(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{ListEveryPlatform: true}, func(o *pull.Options) { o.Platforms = nil })
	seedEveryPlatform(b, 5)

	c, err := p.Backfill(t.Context(), pull.Contacts, day(0), day(1), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 6*5, count(t, b.st, `SELECT count(*) FROM omnichat_contacts`))
	require.Equal(t, 6, c.ChannelScopes)
	require.Zero(t, c.PlatformScopes)
	require.Zero(t, c.ChannelsSeen)
}

// A platform whose channels the list begins to name continues where the
// pull of the whole platform left off, per channel: nothing read twice.
func TestPuller_Incremental_platformNowListedContinuesPerChannel(t *testing.T) {
	t.Parallel()
	fb := everyPlatform[2]
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.Platforms = []string{"facebook"} })
	b.setNow(day(3))
	b.srv.SeedChannels(fb) // not listed: the fake lists LINE and webchat only
	b.srv.SeedContacts(contactAt(fb, "PSID1", "A", day(1)))
	_, err := p.Backfill(t.Context(), pull.Contacts, day(0), day(2), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"facebook"}, scopes(t, b.st, "contacts"))

	// Same database, a server that now lists the page.
	_, pl := setup(t, omnichattest.Options{ListEveryPlatform: true})
	p2, err := pull.New(pull.Options{Client: pl.c, Store: b.st, Platforms: []string{"facebook"}, Window: 24 * time.Hour,
		SafetyLag: 5 * time.Minute, NowFunc: func() time.Time { return day(3) }})
	require.NoError(t, err)
	pl.srv.SeedChannels(fb)
	pl.srv.SeedContacts(contactAt(fb, "PSID1", "A", day(1)), contactAt(fb, "PSID2", "B", day(2).Add(time.Hour)))
	c, err := p2.Incremental(t.Context(), pull.Contacts, pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(1), c.Inserted, "only PSID2 is new")
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE scope = $1 AND window_start = $2`, "facebook/"+fb.ChannelID, day(2)),
		"the per-channel scope starts where the platform scope ended")
	require.Zero(t, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE scope = $1 AND window_start < $2`, "facebook/"+fb.ChannelID, day(2)))
}

// scopes returns the distinct scopes of stream's windows, sorted.
func scopes(t *testing.T, st *store.Store, stream string) []string {
	t.Helper()
	rows, err := st.SQL().QueryContext(t.Context(), `SELECT DISTINCT scope FROM sync_windows WHERE stream = $1 ORDER BY 1`, stream)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestNew_refusesUndocumentedPlatforms(t *testing.T) {
	t.Parallel()
	_, b := setup(t, omnichattest.Options{})
	o := b.opts
	o.Platforms = []string{"line", "viber"}
	_, err := pull.New(o)
	require.EqualError(t, err, `new puller: platform "viber" is not one the Omnichat API documents (line, facebook, instagram, whatsapp, wechat, webchat)`)
}
