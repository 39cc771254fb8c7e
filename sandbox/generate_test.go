package sandbox_test

import (
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
	"crmsync/contact"
	"crmsync/sandbox"
)

// defaultDataset is the demo's dataset, generated once for the shape tests.
var defaultDataset = sync.OnceValue(func() *sandbox.Dataset {
	return sandbox.Generate(sandbox.Options{Seed: sandbox.DefaultSeed})
})

// goldenHash is the hash of Generate(Options{Seed: 7, People: 200}). It pins
// the generator across machines and Go versions (math/rand/v2's PCG is
// specified): when a deliberate change to the generator moves it, update it
// here and say so in the commit.
const goldenHash = "907be58e6e6ae5abcc21d1122037e48cb9b9b2c8dd410fd416de11f25528f1b2"

func TestGenerate_sameSeed_identicalDataset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give sandbox.Options
	}{
		{name: "Small", give: sandbox.Options{Seed: 7, People: 200}},
		{name: "SeedZero", give: sandbox.Options{Seed: 0, People: 150, Messages: 500}},
		{name: "CustomEnd", give: sandbox.Options{Seed: 3, People: 120, Days: 30, End: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := sandbox.Generate(tt.give), sandbox.Generate(tt.give)
			require.Equal(t, a.Hash(), b.Hash())
			require.Equal(t, a.Contacts, b.Contacts)
			require.Equal(t, a.Messages, b.Messages)
			require.Equal(t, a.TaggingLogs, b.TaggingLogs)
			require.Equal(t, a.Profiles, b.Profiles)
		})
	}
}

func TestGenerate_golden(t *testing.T) {
	t.Parallel()
	require.Equal(t, goldenHash, sandbox.Generate(sandbox.Options{Seed: 7, People: 200}).Hash())
}

func TestGenerate_differentSeeds_differ(t *testing.T) {
	t.Parallel()
	a := sandbox.Generate(sandbox.Options{Seed: 1, People: 200})
	b := sandbox.Generate(sandbox.Options{Seed: 2, People: 200})
	require.NotEqual(t, a.Hash(), b.Hash())
	require.NotEqual(t, a.Contacts[5].ID, b.Contacts[5].ID)

	later := sandbox.Generate(sandbox.Options{Seed: 1, People: 200, End: sandbox.DefaultEnd.Add(time.Hour)})
	require.NotEqual(t, a.Hash(), later.Hash(), "End is part of the dataset")
}

func TestGenerate_defaults(t *testing.T) {
	t.Parallel()
	d := defaultDataset()
	require.Equal(t, sandbox.DefaultEnd.UTC(), d.End)
	require.Equal(t, sandbox.DefaultEnd.Add(-90*24*time.Hour).UTC(), d.Start)
	require.Len(t, d.People, sandbox.DefaultPeople)
	require.Len(t, d.Messages, sandbox.DefaultMessagesPerPerson*sandbox.DefaultPeople)
}

func TestGenerate_channelMix(t *testing.T) {
	t.Parallel()
	d := defaultDataset()
	var platforms []contact.Platform
	for _, c := range d.Channels {
		platforms = append(platforms, c.Platform)
	}
	require.Equal(t, []contact.Platform{contact.LINE, contact.LINE, contact.Facebook, contact.Instagram, contact.WhatsApp, contact.Webchat}, platforms)

	st := d.Stats()
	byPlatform := map[contact.Platform]int{}
	for _, pc := range st.ByPlatform {
		byPlatform[pc.Platform] = pc.N
	}
	for _, p := range platforms {
		share := float64(byPlatform[p]) / float64(st.Identities)
		require.Greater(t, share, 0.05, "platform %s", p)
	}
	require.Greater(t, byPlatform[contact.LINE], byPlatform[contact.Facebook], "LINE is the shop's main channel")

	perChannel := map[string]int{}
	for _, c := range d.Contacts {
		perChannel[c.ChannelID]++
	}
	require.Len(t, perChannel, 6, "every channel has contacts")
}

func TestGenerate_identitiesPerPerson(t *testing.T) {
	t.Parallel()
	d := defaultDataset()
	st := d.Stats()
	ratio := float64(st.Identities) / float64(st.People)
	require.InDelta(t, 1.4, ratio, 0.05)
	require.InDelta(t, 7000, st.Identities, 250)
	require.Greater(t, st.MultiChannelPeople, st.People/4)

	n := 0
	for _, p := range d.People {
		n += len(p.Identities)
		chans := map[string]bool{}
		for _, id := range p.Identities {
			require.False(t, chans[id.ChannelID], "a person has one identity per channel")
			chans[id.ChannelID] = true
		}
	}
	require.Equal(t, st.Identities, n)
}

func TestGenerate_names(t *testing.T) {
	t.Parallel()
	d := defaultDataset()
	names := map[string]bool{}
	thai, emoji, long := 0, 0, 0
	for _, c := range d.Contacts {
		names[c.Name] = true
		if strings.ContainsFunc(c.Name, func(r rune) bool { return r >= 0x0E00 && r <= 0x0E7F }) {
			thai++
		}
		if strings.ContainsFunc(c.Name, func(r rune) bool { return r >= 0x1F300 }) {
			emoji++
		}
		if utf8.RuneCountInString(c.Name) > 255 {
			long++
		}
		require.True(t, utf8.ValidString(c.Name))
	}
	require.True(t, names["˚♡̴ 𝒇𝒂𝒏𝒈"], "the issue's first seed example")
	require.True(t, names["ปักเป้า"], "the issue's second seed example")
	require.Greater(t, thai, len(d.Contacts)/3)
	require.Greater(t, emoji, 100)
	require.Positive(t, long, "names over Oho's 255 characters")
}

func TestGenerate_linkKeys(t *testing.T) {
	t.Parallel()
	d := defaultDataset()
	byUser := map[contact.Identity]omnichat.Contact{}
	for _, c := range d.Contacts {
		byUser[contact.Identity{Platform: c.Platform, ChannelID: c.ChannelID, UserID: c.ID}] = c
	}
	var memberLinks, localIntl, emailCase int
	for _, p := range d.People {
		for i, a := range p.Identities {
			for _, b := range p.Identities[i+1:] {
				ca, cb := byUser[a], byUser[b]
				if ca.MemberID != "" && strings.TrimSpace(ca.MemberID) == strings.TrimSpace(cb.MemberID) {
					memberLinks++
				}
				if (strings.HasPrefix(ca.Phone, "08") || strings.HasPrefix(ca.Phone, "09")) && cb.Phone == "66"+ca.Phone[1:] {
					localIntl++
				}
				if ca.Email != "" && ca.Email != cb.Email && strings.EqualFold(strings.TrimSpace(ca.Email), strings.TrimSpace(cb.Email)) {
					emailCase++
				}
			}
		}
	}
	require.Greater(t, memberLinks, 100, "member ids shared across channels")
	require.Greater(t, localIntl, 20, "the same phone as 08… on one channel and 668… on another")
	require.Greater(t, emailCase, 20, "the same email in different case")
}

func TestGenerate_phonesAreValidThaiNumbers(t *testing.T) {
	t.Parallel()
	d := defaultDataset()
	shop := 0
	for _, c := range d.Contacts {
		if c.Phone == "" {
			continue
		}
		s := strings.TrimSpace(c.Phone)
		if !strings.HasPrefix(s, "0") && !strings.HasPrefix(s, "+") {
			s = "+" + s
		}
		num, err := phonenumbers.Parse(s, "TH")
		require.NoError(t, err, c.Phone)
		require.True(t, phonenumbers.IsValidNumber(num), c.Phone)
		if phonenumbers.Format(num, phonenumbers.E164) == sandbox.ShopPhone {
			shop++
		}
		if c.Platform == contact.WhatsApp {
			require.Equal(t, c.ID, c.Phone, "a WhatsApp user id is the phone number")
		}
	}
	require.Equal(t, sandbox.DefaultSharedPhoneIdentities, shop)
	require.Equal(t, shop, d.Stats().SharedPhoneIdentities)
}

func TestDataset_ExpectedContacts(t *testing.T) {
	t.Parallel()
	d := defaultDataset()
	below := d.ExpectedContacts(50) // the shop phone (60 identities) links nothing
	above := d.ExpectedContacts(60) // it links all 60 into one contact
	require.Equal(t, below-59, above)
	require.Less(t, below, len(d.Contacts))
	require.GreaterOrEqual(t, below, len(d.People), "identities of different people never link")
}

var lineUserID = regexp.MustCompile(`^U[0-9a-f]{32}$`)

func TestGenerate_identifiers(t *testing.T) {
	t.Parallel()
	d := defaultDataset()
	seen := map[contact.Identity]bool{}
	for _, c := range d.Contacts {
		id := contact.Identity{Platform: c.Platform, ChannelID: c.ChannelID, UserID: c.ID}
		require.False(t, seen[id], "duplicate identity %s", id)
		seen[id] = true
		switch c.Platform {
		case contact.LINE:
			require.Regexp(t, lineUserID, c.ID)
		case contact.Facebook:
			require.Regexp(t, `^\d{16}$`, c.ID)
		case contact.Instagram:
			require.Regexp(t, `^\d{17}$`, c.ID)
		case contact.WhatsApp:
			require.Regexp(t, `^66[89]\d{8}$`, c.ID)
		}
	}
	for _, ch := range d.Channels {
		if ch.Platform == contact.LINE {
			require.Regexp(t, lineUserID, ch.Bot.UserID)
			require.NotEmpty(t, ch.Bot.BasicID)
			require.NotEmpty(t, ch.Token)
		}
	}
	ids := map[string]bool{}
	for _, m := range d.Messages {
		require.False(t, ids[m.ID], "duplicate message id %s", m.ID)
		ids[m.ID] = true
		require.True(t, seen[contact.Identity{Platform: m.Platform, ChannelID: m.ChannelID, UserID: m.CustomerUserID}], "message of an unknown contact")
	}
	for _, p := range d.Profiles {
		require.True(t, seen[contact.Identity{Platform: contact.LINE, ChannelID: p.ChannelID, UserID: p.UserID}])
	}
	require.Less(t, len(d.Profiles), d.Stats().ByPlatform[0].N, "some LINE users blocked the bot")
}

func TestGenerate_timesInsideHistory(t *testing.T) {
	t.Parallel()
	d := defaultDataset()
	inside := func(tm time.Time) bool { return !tm.Before(d.Start) && tm.Before(d.End) }
	last := map[string]time.Time{}
	for _, m := range d.Messages {
		require.True(t, inside(m.Time), "message at %s", m.Time)
		k := m.ChannelID + "|" + m.CustomerUserID
		require.False(t, m.Time.Before(last[k]), "messages of a contact are in time order")
		last[k] = m.Time
	}
	for _, c := range d.Contacts {
		require.True(t, inside(c.UpdatedAt), "updatedAt %s", c.UpdatedAt)
		require.Equal(t, last[c.ChannelID+"|"+c.ID], c.LastMessageTime, "lastMessageTime is the last message's time")
		require.False(t, c.UpdatedAt.Before(c.LastMessageTime))
	}
}

func TestGenerate_taggingLogs(t *testing.T) {
	t.Parallel()
	d := defaultDataset()
	keys := map[string]bool{}
	sources := map[string]bool{}
	for _, l := range d.TaggingLogs {
		require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`, l.TimeRaw, "zone-less")
		at, err := time.ParseInLocation(omnichat.TaggingTimeLayout, l.TimeRaw, sandbox.Bangkok)
		require.NoError(t, err)
		require.True(t, at.Equal(l.Time), "TimeRaw is Time in Bangkok")
		require.True(t, !at.Before(d.Start) && at.Before(d.End))
		k := strings.Join([]string{string(l.Platform), l.ChannelID, l.UserID, l.Tag, l.TimeRaw, l.MessageID}, "|")
		require.False(t, keys[k], "duplicate tagging log %s", k)
		keys[k] = true
		sources[l.Source] = true
	}
	require.True(t, sources["Bot"] && sources["bot"], "both spellings of the bot source")
	require.Greater(t, len(d.TaggingLogs), len(d.Contacts))
}

func TestGenerate_overLimitCases(t *testing.T) {
	t.Parallel()
	st := defaultDataset().Stats()
	require.Positive(t, st.OverTagLimit, "contacts with more than Oho's 20 tags")
	require.Positive(t, st.OverAttributeLimit, "contacts with more than Okeybot's 30 fields per request")
	require.Positive(t, st.LongNames, "names over Oho's 255 characters")
	require.Positive(t, st.LongAttributeNames, "attribute names over Oho's 100 characters")

	small := sandbox.Generate(sandbox.Options{Seed: 9, People: 10}).Stats()
	require.Positive(t, small.OverTagLimit, "even a tiny dataset has each case")
	require.Positive(t, small.OverAttributeLimit)
	require.Positive(t, small.LongNames)
}

func TestGenerate_attributesOfEveryType(t *testing.T) {
	t.Parallel()
	d := defaultDataset()
	types := map[contact.AttrType]int{}
	var values []string
	for _, c := range d.Contacts {
		for _, a := range c.CustomAttributes {
			types[a.Type]++
			if a.Key == "age" || a.Key == "birthday" {
				values = append(values, a.Key+"="+a.Value)
			}
			require.LessOrEqual(t, utf8.RuneCountInString(a.Value), 1000, "Omnichat's own limit")
		}
	}
	for _, typ := range []contact.AttrType{contact.AttrText, contact.AttrNumber, contact.AttrDate, contact.AttrDatetime, contact.AttrBoolean} {
		require.Greater(t, types[typ], 100, "type %s", typ)
	}
	require.Contains(t, values, "age=150", "an age outside Oho's 1..99")
	require.Contains(t, values, "birthday=1970-01-01", "Omnichat's cleared date")
}

func TestGenerate_messagesOfEveryKind(t *testing.T) {
	t.Parallel()
	st := defaultDataset().Stats()
	names := func(ncs []sandbox.NameCount) []string {
		var out []string
		for _, nc := range ncs {
			require.Positive(t, nc.N)
			out = append(out, nc.Name)
		}
		return out
	}
	require.Equal(t, []string{"agent", "ai-chat", "bot", "customer"}, names(st.SenderTypes))
	require.Equal(t, []string{"audio", "chatbot", "document", "photo", "text", "video"}, names(st.MessageTypes))

	statuses := map[string]bool{}
	for _, m := range defaultDataset().Messages {
		statuses[m.MessageStatus] = true
		if m.MessageType == "text" || m.MessageType == "chatbot" {
			require.NotNil(t, m.Message)
			require.Nil(t, m.MediaURL)
		}
		if slices.Contains([]string{"photo", "audio", "video"}, m.MessageType) {
			require.NotNil(t, m.MediaURL)
			require.Nil(t, m.Message)
		}
	}
	require.Len(t, statuses, 4, "sent, delivered, read and error")
}
