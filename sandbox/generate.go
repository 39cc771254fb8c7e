package sandbox

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"crmsync/clients/lineapi/lineapitest"
	"crmsync/clients/omnichat"
	"crmsync/contact"
)

// Defaults of Options.
const (
	// DefaultSeed is the seed of the demo's dataset.
	DefaultSeed = 20250101
	// DefaultPeople is about 5,000 people (about 7,000 identities).
	DefaultPeople = 5000
	// DefaultDays is the length of the history: 90 days.
	DefaultDays = 90
	// DefaultMessagesPerPerson sizes the chat history: 6 messages per
	// person on average, 30,000 for the default 5,000 people.
	DefaultMessagesPerPerson = 6
	// DefaultSharedPhoneIdentities is how many identities carry the shop's
	// own phone number, above the default shared-key ceiling of 50.
	DefaultSharedPhoneIdentities = 60
)

// DefaultEnd is the end of the history when Options.End is zero, so that
// Generate stays a pure function of its options.
var DefaultEnd = time.Date(2025, 6, 1, 0, 0, 0, 0, Bangkok)

// Bangkok is Asia/Bangkok (UTC+7 all year, no daylight saving), the zone of
// the shop: tagging-log times are written without a zone in it. A fixed
// zone needs no tzdata on the machine.
var Bangkok = time.FixedZone("Asia/Bangkok", 7*60*60)

// ShopPhone is the shop's own landline, which agents type into customers'
// phone fields: it ends up on more identities than the shared-key ceiling.
const ShopPhone = "+6621234567"

// Options configures Generate. Zero values mean the documented default.
type Options struct {
	// Seed selects the dataset: the same options give the same dataset,
	// byte for byte. Zero is a seed like any other.
	Seed int64
	// People is how many people to make (default DefaultPeople).
	People int
	// Days is the length of the history ending at End (default DefaultDays).
	Days int
	// End is the exclusive end of the history: every time in the dataset
	// lies in [End - Days, End). Default DefaultEnd.
	End time.Time
	// Messages is the number of chat messages (default
	// DefaultMessagesPerPerson per person).
	Messages int
	// SharedPhoneIdentities is how many identities carry ShopPhone (default
	// DefaultSharedPhoneIdentities, fewer when there are not enough
	// single-identity people without a phone). Negative means none.
	SharedPhoneIdentities int
}

// withDefaults fills the zero values.
func (o Options) withDefaults() Options {
	if o.People <= 0 {
		o.People = DefaultPeople
	}
	if o.Days <= 0 {
		o.Days = DefaultDays
	}
	if o.End.IsZero() {
		o.End = DefaultEnd
	}
	o.End = o.End.Truncate(time.Second)
	if o.Messages <= 0 {
		o.Messages = DefaultMessagesPerPerson * o.People
	}
	if o.SharedPhoneIdentities == 0 {
		o.SharedPhoneIdentities = DefaultSharedPhoneIdentities
	}
	return o
}

// Channel is one messaging channel of the sandbox's Omnichat team.
type Channel struct {
	Platform contact.Platform
	ID       string // Omnichat channelId: LINE channel ID (digits), page id, "webchat", ...
	Name     string

	// LINE channels only.
	Token    string              // the channel access token the sandbox LINE API accepts
	TokenEnv string              // the environment variable jobs.yaml reads it from
	IDEnv    string              // the environment variable holding ID (as jobs.yaml's LINE_CHANNEL_ID_MAIN)
	Bot      lineapitest.BotInfo // GET /v2/bot/info

	share float64 // of home channels
}

// Omnichat returns the channel as Omnichat lists it.
func (c Channel) Omnichat() omnichat.Channel {
	return omnichat.Channel{Platform: c.Platform, ChannelID: c.ID, ChannelName: c.Name}
}

// channels are the sandbox team's channels: two LINE official accounts, a
// Facebook page, an Instagram account, a WhatsApp number and the web chat.
func channels() []Channel {
	return []Channel{
		{
			Platform: contact.LINE, ID: "1656000001", Name: "ปักเป้า Official",
			Token: "sandbox-line-token-main", TokenEnv: "LINE_TOKEN_MAIN", IDEnv: "LINE_CHANNEL_ID_MAIN",
			Bot: lineapitest.BotInfo{
				UserID: "U4af4980629a1b2c3d4e5f60718293a4b", BasicID: "@pakpao", DisplayName: "ปักเป้า Official",
				PictureURL: "https://profile.line-scdn.net/0hpakpaoOfficial", ChatMode: "chat", MarkAsReadMode: "manual",
			},
			share: 0.40,
		},
		{
			Platform: contact.LINE, ID: "1656000002", Name: "Pakpao Outlet 🐡",
			Token: "sandbox-line-token-outlet", TokenEnv: "LINE_TOKEN_OUTLET", IDEnv: "LINE_CHANNEL_ID_OUTLET",
			Bot: lineapitest.BotInfo{
				UserID: "U9be7a1c2d3e4f5a6b7c8d9e0f1a2b3c4", BasicID: "@pakpaooutlet", DisplayName: "Pakpao Outlet 🐡",
				ChatMode: "bot", MarkAsReadMode: "auto",
			},
			share: 0.12,
		},
		{Platform: contact.Facebook, ID: "104512345678901", Name: "ปักเป้า Pakpao Shop", share: 0.20},
		{Platform: contact.Instagram, ID: "17841412345678901", Name: "pakpao.shop", share: 0.10},
		{Platform: contact.WhatsApp, ID: "66812340000", Name: "Pakpao WhatsApp", share: 0.08},
		{Platform: contact.Webchat, ID: "webchat", Name: "Pakpao Team", share: 0.10},
	}
}

// LineProfile is a LINE user's profile as one LINE channel's bot sees it.
type LineProfile struct {
	ChannelID string // the Omnichat (LINE) channel ID
	lineapitest.Profile
}

// Person is the truth behind the data: one real person and the identities
// they have on the team's channels. Reconcile never sees it; tests compare
// its result with it.
type Person struct {
	Name       string
	Identities []contact.Identity // in the order they were made; the first is the home channel
}

// Dataset is a generated Omnichat team: channels, contacts, tagging logs and
// chat history, plus what the LINE API knows of the LINE users. Build it
// with Generate.
type Dataset struct {
	// Options are the options it was generated with, defaults filled in.
	Options Options
	// Start and End bound every time in the dataset: [Start, End).
	Start, End time.Time

	Channels    []Channel
	People      []Person
	Contacts    []omnichat.Contact    // one per identity, in People order
	TaggingLogs []omnichat.TaggingLog // Time in Bangkok, TimeRaw zone-less
	Messages    []omnichat.Message    // per identity, in time order
	Profiles    []LineProfile         // LINE users who are friends of the bot (not every LINE identity: some blocked it)

	keys []idKeys // per contact: the link keys reconcile should derive
}

// idKeys are an identity's link keys as reconcile normalises them ("" none).
type idKeys struct {
	member, phone, email string
}

// Generate builds a dataset. It is pure and deterministic: the same options
// give an identical dataset (Dataset.Hash), whatever the machine.
func Generate(o Options) *Dataset {
	o = o.withDefaults()
	g := &gen{
		r:     rand.New(rand.NewPCG(uint64(o.Seed), 0x9e3779b97f4a7c15^uint64(o.Seed))),
		o:     o,
		start: o.End.Add(-time.Duration(o.Days) * 24 * time.Hour).UTC(),
		end:   o.End.UTC(),
		used:  map[string]bool{},
	}
	d := &Dataset{Options: o, Start: g.start, End: g.end, Channels: channels()}
	g.d = d
	g.phoneBase = g.r.IntN(100_000_000)
	for i := range o.People {
		g.person(i)
	}
	g.shopPhone()
	for i := range d.Contacts {
		g.fill(i)
	}
	g.messages()
	for i := range d.Contacts {
		g.taggingLogs(i)
		g.profile(i)
	}
	return d
}

// gen holds the state of one Generate call.
type gen struct {
	r          *rand.Rand
	o          Options
	d          *Dataset
	start, end time.Time
	phoneBase  int
	used       map[string]bool // user ids handed out (lookups only, never iterated)
	meta       []idMeta        // per contact
	msgSeq     int
}

// idMeta is what the generator remembers about one identity while it builds it.
type idMeta struct {
	person   int
	channel  int
	first    time.Time // subscribed
	lastMsg  time.Time // zero when no message
	blocked  bool      // LINE user who blocked the bot: no profile
	manyTags bool
	manyAttr bool
	longName bool
	style    personStyle
}

// personStyle is what the generator decided about a person.
type personStyle struct {
	index      int
	name       string // display name
	first      string // given name (Thai or Latin)
	last       string
	latin      string // romanised "first.last" for emails
	nationalNo string // 9 national digits of the mobile, "" when none
	member     string
	email      string
}

// pick returns a random element of xs.
func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// chance reports true with probability p.
func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// between returns a random time in [from, to) at whole seconds, in UTC
// (from when the range is empty).
func (g *gen) between(from, to time.Time) time.Time {
	span := to.Sub(from)
	if span <= time.Second {
		return from.Truncate(time.Second).UTC()
	}
	return from.Add(time.Duration(g.r.Int64N(int64(span/time.Second))) * time.Second).Truncate(time.Second).UTC()
}

// person makes person i and their identities.
func (g *gen) person(i int) {
	st := g.style(i)
	n := 1
	switch x := g.r.Float64(); {
	case x < 0.01:
		n = 4
	case x < 0.07:
		n = 3
	case x < 0.32:
		n = 2
	}
	chs := g.channelsFor(n)
	// WhatsApp ids are phone numbers: a person there has a mobile.
	for _, c := range chs {
		if g.d.Channels[c].Platform == contact.WhatsApp && st.nationalNo == "" {
			st.nationalNo = g.mobile(i)
		}
	}
	p := Person{Name: st.name}
	keys := make([]idKeys, n)
	for j, c := range chs {
		k := idKeys{}
		if j == 0 || !g.chance(0.08) { // 8% of extra identities carry no key: they cannot be linked
			if st.member != "" && g.chance(0.6) {
				k.member = st.member
			}
			if st.nationalNo != "" && g.chance(0.55) {
				k.phone = "+66" + st.nationalNo
			}
			if st.email != "" && g.chance(0.5) {
				k.email = st.email
			}
			if j > 0 {
				g.link(st, keys[:j], &k)
			}
		}
		if g.d.Channels[c].Platform == contact.WhatsApp {
			k.phone = "+66" + st.nationalNo
		}
		keys[j] = k
		id := contact.Identity{Platform: g.d.Channels[c].Platform, ChannelID: g.d.Channels[c].ID, UserID: g.userID(c, st)}
		p.Identities = append(p.Identities, id)
		g.d.Contacts = append(g.d.Contacts, omnichat.Contact{Platform: id.Platform, ChannelID: id.ChannelID, ID: id.UserID})
		g.meta = append(g.meta, idMeta{person: i, channel: c, style: st})
	}
	g.d.keys = append(g.d.keys, keys...) // after the loop: link may add keys to earlier identities
	g.d.People = append(g.d.People, p)
}

// link makes k share at least one key with an earlier identity of the same
// person, adding the key to both when needed.
func (g *gen) link(st personStyle, earlier []idKeys, k *idKeys) {
	for _, e := range earlier {
		if (k.member != "" && k.member == e.member) || (k.phone != "" && k.phone == e.phone) || (k.email != "" && k.email == e.email) {
			return
		}
	}
	var opts []string
	if st.member != "" {
		opts = append(opts, "member")
	}
	if st.nationalNo != "" {
		opts = append(opts, "phone")
	}
	if st.email != "" {
		opts = append(opts, "email")
	}
	if len(opts) == 0 {
		return // nothing to link by: this person's identities stay apart
	}
	e := &earlier[g.r.IntN(len(earlier))]
	switch pick(g.r, opts) {
	case "member":
		k.member, e.member = st.member, st.member
	case "phone":
		k.phone, e.phone = "+66"+st.nationalNo, "+66"+st.nationalNo
	case "email":
		k.email, e.email = st.email, st.email
	}
}

// channelsFor picks n distinct channels, the first weighted by share.
func (g *gen) channelsFor(n int) []int {
	chs := g.d.Channels
	out := make([]int, 0, n)
	for len(out) < n {
		total := 0.0
		for c := range chs {
			if !slices.Contains(out, c) {
				total += chs[c].share
			}
		}
		x := g.r.Float64() * total
		for c := range chs {
			if slices.Contains(out, c) {
				continue
			}
			x -= chs[c].share
			if x < 0 || c == len(chs)-1 {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// style decides who person i is.
func (g *gen) style(i int) personStyle {
	st := personStyle{index: i}
	tf, tl := pick(g.r, thaiFirst), pick(g.r, thaiLast)
	switch x := g.r.Float64(); {
	case i == 0:
		st.name = fancyNames[0] // ˚♡̴ 𝒇𝒂𝒏𝒈, the first seed example
		st.first, st.latin = "fang", "fang"
	case i == 1:
		st.name = nicknames[0] // ปักเป้า, the other
		st.first, st.latin = "ปักเป้า", "pakpao"
	case x < 0.50:
		st.name, st.first, st.last, st.latin = tf.thai+" "+tl.thai, tf.thai, tl.thai, tf.latin+"."+tl.latin
	case x < 0.70:
		f, l := pick(g.r, latinFirst), pick(g.r, latinLast)
		st.name, st.first, st.last, st.latin = f+" "+l, f, l, strings.ToLower(f+"."+l)
	case x < 0.85:
		st.name, st.first, st.latin = pick(g.r, nicknames), tf.thai, tf.latin
	default:
		st.name, st.first, st.latin = pick(g.r, fancyNames), tf.thai, tf.latin
	}
	if g.chance(0.78) {
		st.nationalNo = g.mobile(i)
	}
	if g.chance(0.35) {
		st.member = fmt.Sprintf("PK%06d", i+1)
	}
	if g.chance(0.45) {
		st.email = fmt.Sprintf("%s%d@%s", st.latin, i+1, pick(g.r, []string{"gmail.com", "hotmail.com", "yahoo.co.th", "outlook.com", "pakpao.co.th"}))
	}
	return st
}

// mobile returns person i's Thai mobile in 9 national digits (8XXXXXXXX or
// 9XXXXXXXX), distinct for every person: 7919 is prime to 10^8, so i ↦
// i·7919 + base is one-to-one modulo 10^8.
func (g *gen) mobile(i int) string {
	n := (i*7919 + g.phoneBase) % 100_000_000
	return strconv.Itoa(8+i%2) + fmt.Sprintf("%08d", n)
}

// userID returns a fresh user id in the platform's format.
func (g *gen) userID(c int, st personStyle) string {
	ch := g.d.Channels[c]
	for {
		var id string
		switch ch.Platform {
		case contact.LINE:
			id = fmt.Sprintf("U%016x%016x", g.r.Uint64(), g.r.Uint64())
		case contact.Facebook:
			id = strconv.FormatInt(2_000_000_000_000_000+g.r.Int64N(8_000_000_000_000_000), 10) // 16 digits
		case contact.Instagram:
			id = strconv.FormatInt(10_000_000_000_000_000+g.r.Int64N(80_000_000_000_000_000), 10) // 17 digits
		case contact.WhatsApp:
			id = "66" + st.nationalNo
		default:
			id = g.uuid()
		}
		if !g.used[ch.ID+"|"+id] {
			g.used[ch.ID+"|"+id] = true
			return id
		}
		if ch.Platform == contact.WhatsApp {
			return id // one WhatsApp identity per person and number
		}
	}
}

// uuid returns a random version-4 UUID.
func (g *gen) uuid() string {
	a, b := g.r.Uint64(), g.r.Uint64()
	a = a&^0xf000 | 0x4000
	b = b&^(0xc<<60) | 0x8<<60
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, a>>16&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// shopPhone gives ShopPhone to single-identity people without a phone of
// their own, as agents do when they type the shop's number.
func (g *gen) shopPhone() {
	want := g.o.SharedPhoneIdentities
	if want < 0 {
		return
	}
	var eligible []int
	for ci, m := range g.meta {
		if len(g.d.People[m.person].Identities) == 1 && g.d.keys[ci].phone == "" && m.style.nationalNo == "" {
			eligible = append(eligible, ci)
		}
	}
	g.r.Shuffle(len(eligible), func(i, j int) { eligible[i], eligible[j] = eligible[j], eligible[i] })
	eligible = eligible[:min(want, len(eligible))]
	slices.Sort(eligible)
	for _, ci := range eligible {
		g.d.keys[ci].phone = ShopPhone
	}
}

// phoneForm writes an E.164 number the way a channel might have stored it.
func (g *gen) phoneForm(e164 string, platform contact.Platform) string {
	if platform == contact.WhatsApp {
		return strings.TrimPrefix(e164, "+") // Omnichat's documented form
	}
	national := strings.TrimPrefix(e164, "+66")
	switch x := g.r.Float64(); {
	case x < 0.45:
		return "0" + national // 0812345678
	case x < 0.80:
		return "66" + national // 66812345678: the documented international digits
	case x < 0.92:
		if len(national) == 9 {
			return "0" + national[:2] + "-" + national[2:5] + "-" + national[5:] // 081-234-5678
		}
		return "0" + national[:1] + "-" + national[1:4] + "-" + national[4:] // 02-123-4567
	default:
		return "+66 " + national // +66 812345678
	}
}

// emailForm writes an email in one of the cases and spacings people type.
func (g *gen) emailForm(e string) string {
	switch x := g.r.Float64(); {
	case x < 0.55:
		return e
	case x < 0.75:
		local, domain, _ := strings.Cut(e, "@")
		return titleWord(local) + "@" + titleWord(domain)
	case x < 0.90:
		return strings.ToUpper(e)
	default:
		return " " + e + " "
	}
}

// titleWord upper-cases the first letter of each dot-separated part.
func titleWord(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, ".")
}

// fill writes contact ci's fields from its person and keys.
func (g *gen) fill(ci int) {
	c := &g.d.Contacts[ci]
	m := &g.meta[ci]
	k := g.d.keys[ci]
	st := m.style

	c.Name = g.identityName(st, c.Platform)
	if g.chance(0.004) || st.index == 2 {
		c.Name = longName(g.r.IntN(3))
		m.longName = true
	}
	if k.member != "" {
		c.MemberID = k.member
		if g.chance(0.1) {
			c.MemberID = " " + k.member // trimmed by reconcile
		}
	}
	if k.phone != "" {
		c.Phone = g.phoneForm(k.phone, c.Platform)
	}
	if k.email != "" {
		c.Email = g.emailForm(k.email)
	} else if st.email != "" && g.chance(0.05) {
		local, _, _ := strings.Cut(st.email, "@")
		c.Email = local + "@gmail" // no dotted domain: not an email reconcile accepts
	}

	// Subscribed before or during the history; times are whole seconds.
	m.first = g.between(g.start.Add(-400*24*time.Hour), g.end.Add(-2*time.Hour))
	c.SubscribedAt = m.first
	c.Status = true
	if g.chance(0.05) {
		c.Status = false
		c.UnsubscribedAt = g.between(maxTime(m.first, g.start), g.end)
	}
	if g.chance(0.06) {
		c.Note = pick(g.r, []string{"ลูกค้าขอให้โทรก่อนส่ง", "ส่งของที่ทำงาน จันทร์–ศุกร์", "แพ้ผ้าขนสัตว์", "ขอใบกำกับภาษีทุกครั้ง", "Prefers English"})
	}
	if c.Platform == contact.WhatsApp && g.chance(0.3) {
		c.AgentName, c.AgentEmployeeCode, c.AgentLocationName, c.AgentLocationCode = "Sales Ken", "S0001", "สาขาสยาม", "S-001"
		c.AgentBindTime = g.between(maxTime(m.first, g.start), g.end)
	}
	c.CustomAttributes = g.attributes(st, m)
	c.Tags = g.tags(m)
}

// identityName is the name a channel shows for the person.
func (g *gen) identityName(st personStyle, p contact.Platform) string {
	switch {
	case st.index < 2:
		return st.name
	case p == contact.Facebook && st.last != "" && g.chance(0.5):
		return st.first + " " + st.last
	case p == contact.Instagram && g.chance(0.6):
		return strings.ReplaceAll(st.latin, ".", "_") + strconv.Itoa(g.r.IntN(100))
	case p == contact.Webchat && g.chance(0.3):
		return "Visitor " + strconv.Itoa(1000+g.r.IntN(9000))
	case g.chance(0.15):
		return " " + st.name + "  " // stray white space
	}
	return st.name
}

// longName returns a display name over 255 characters (over 100 for
// variant 2's first part alone).
func longName(variant int) string {
	var b strings.Builder
	for utf8.RuneCountInString(b.String()) < 262+variant*40 {
		b.WriteString(longNameBase)
	}
	return strings.TrimSpace(b.String())
}

// attrDef is one custom attribute the team has defined in Omnichat.
type attrDef struct {
	key, display string
	typ          contact.AttrType
	p            float64 // share of contacts that have it
}

// attrDefs are the team's custom attributes: every type Omnichat has.
var attrDefs = []attrDef{
	{"first_name", "ชื่อ", contact.AttrText, 0.5},
	{"last_name", "นามสกุล", contact.AttrText, 0.4},
	{"gender", "เพศ", contact.AttrText, 0.5},
	{"age", "อายุ", contact.AttrNumber, 0.4},
	{"birthday", "วันเกิด", contact.AttrDate, 0.3},
	{"province", "จังหวัด", contact.AttrText, 0.4},
	{"customer_group", "กลุ่มลูกค้า", contact.AttrText, 0.3},
	{"points", "แต้มสะสม", contact.AttrNumber, 0.3},
	{"total_spent", "ยอดซื้อรวม (บาท)", contact.AttrNumber, 0.25},
	{"last_purchase_at", "ซื้อล่าสุด", contact.AttrDatetime, 0.25},
	{"opt_in_marketing", "ยินยอมรับข่าวสาร", contact.AttrBoolean, 0.4},
	{"is_wholesale", "ลูกค้าขายส่ง", contact.AttrBoolean, 0.1},
	{"favorite_product", "สินค้าที่ชอบ", contact.AttrText, 0.2},
	{"member_since", "เป็นสมาชิกตั้งแต่", contact.AttrDate, 0},
	{"survey_q1", surveyName, contact.AttrText, 0.05},
}

// attributes makes an identity's custom attributes.
func (g *gen) attributes(st personStyle, m *idMeta) []omnichat.CustomAttribute {
	var out []omnichat.CustomAttribute
	add := func(d attrDef, v string) {
		out = append(out, omnichat.CustomAttribute{Key: d.key, Value: v, Type: d.typ, DisplayName: d.display})
	}
	for _, d := range attrDefs {
		switch {
		case d.key == "member_since":
			if st.member != "" && g.chance(0.7) {
				add(d, g.between(g.start.Add(-700*24*time.Hour), g.end).In(Bangkok).Format(time.DateOnly))
			}
			continue
		case !g.chance(d.p):
			continue
		}
		add(d, g.attrValue(d, st))
	}
	if g.chance(0.015) || st.index == 3 {
		m.manyAttr = true
		for n := range 32 + g.r.IntN(4) {
			n++
			typ := []contact.AttrType{contact.AttrText, contact.AttrNumber, contact.AttrBoolean}[n%3]
			v := pick(g.r, products)
			switch typ {
			case contact.AttrNumber:
				v = strconv.Itoa(g.r.IntN(10))
			case contact.AttrBoolean:
				v = strconv.FormatBool(g.chance(0.5))
			}
			out = append(out, omnichat.CustomAttribute{
				Key: fmt.Sprintf("pref_%02d", n), Value: v, Type: typ, DisplayName: fmt.Sprintf("ความชอบ %02d", n),
			})
		}
	}
	return out
}

// attrValue makes one attribute value, now and then one Oho cannot take as is.
func (g *gen) attrValue(d attrDef, st personStyle) string {
	switch d.key {
	case "first_name":
		if st.first != "" {
			return st.first
		}
		return st.name
	case "last_name":
		if st.last == "" {
			return pick(g.r, thaiLast).thai
		}
		return st.last
	case "gender":
		return pick(g.r, genders)
	case "age":
		switch x := g.r.Float64(); {
		case x < 0.03:
			return pick(g.r, []string{"0", "150", "-1"}) // outside Oho's 1..99
		case x < 0.08:
			return strconv.Itoa(18+g.r.IntN(50)) + ".0"
		}
		return strconv.Itoa(15 + g.r.IntN(56))
	case "birthday":
		y, mo, dd := 1960+g.r.IntN(50), 1+g.r.IntN(12), 1+g.r.IntN(28)
		switch x := g.r.Float64(); {
		case x < 0.04:
			y += 543 // Buddhist era
		case x < 0.06:
			return "1970-01-01" // Omnichat's cleared date
		case x < 0.07:
			y = g.end.Year() + 1 // in the future
		}
		return fmt.Sprintf("%04d-%02d-%02d", y, mo, dd)
	case "province":
		return pick(g.r, provinces)
	case "customer_group":
		return pick(g.r, customerGroups)
	case "points":
		return strconv.Itoa(g.r.IntN(20000))
	case "total_spent":
		return strconv.FormatFloat(float64(g.r.IntN(5_000_000))/100, 'f', -1, 64)
	case "last_purchase_at":
		return g.between(g.start, g.end).In(Bangkok).Format("2006-01-02T15:04:05")
	case "opt_in_marketing", "is_wholesale":
		return strconv.FormatBool(g.chance(0.6))
	case "favorite_product":
		return pick(g.r, products)
	case "survey_q1":
		var b strings.Builder
		n := 1 + g.r.IntN(14)
		for range n {
			b.WriteString(surveyAnswer)
		}
		return truncateRunes(strings.TrimSpace(b.String()), 1000) // Omnichat's own limit
	}
	return ""
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// tags picks an identity's current tags; a few have more than Oho's 20.
func (g *gen) tags(m *idMeta) []string {
	n := 0
	switch x := g.r.Float64(); {
	case x < 0.012 || m.style.index == 4:
		n = 21 + g.r.IntN(8)
		m.manyTags = true
	case x < 0.10:
		n = 4 + g.r.IntN(5)
	case x < 0.65:
		n = 1 + g.r.IntN(3)
	}
	perm := g.r.Perm(len(tagNames))[:n]
	out := make([]string, n)
	for i, p := range perm {
		out[i] = tagNames[p]
	}
	return out
}

// messages spreads Options.Messages over the identities, heavy-tailed, and
// writes each identity's conversations.
func (g *gen) messages() {
	weights := make([]float64, len(g.d.Contacts))
	total := 0.0
	for i := range weights {
		if g.chance(0.08) {
			continue // followed, never wrote
		}
		w := math.Pow(g.r.ExpFloat64(), 1.6) + 0.2
		weights[i] = w
		total += w
	}
	counts := make([]int, len(weights))
	if total > 0 {
		assigned := 0
		for i, w := range weights {
			counts[i] = int(float64(g.o.Messages) * w / total)
			assigned += counts[i]
		}
		// Hand out the remainder one by one, deterministically.
		for i := 0; assigned < g.o.Messages; i = (i + 1) % len(counts) {
			if weights[i] > 0 {
				counts[i]++
				assigned++
			}
		}
	}
	for ci, n := range counts {
		g.conversation(ci, n)
	}
}

// sender is one message author kind.
type sender int

const (
	fromCustomer sender = iota
	fromAgent
	fromBot
	fromAI
)

// conversation writes n messages of contact ci in sessions: the customer
// writes, a bot or the AI answers at once, an agent later.
func (g *gen) conversation(ci, n int) {
	if n == 0 {
		g.finishContact(ci)
		return
	}
	c := &g.d.Contacts[ci]
	m := &g.meta[ci]
	from := maxTime(m.first, g.start)
	room := g.room(c)
	var times []time.Time
	var senders []sender
	for len(times) < n {
		t := g.between(from, g.end.Add(-time.Minute))
		seq := []sender{fromCustomer}
		for range g.r.IntN(3) {
			seq = append(seq, fromCustomer)
		}
		if g.chance(0.5) {
			seq = append(seq, pick(g.r, []sender{fromBot, fromBot, fromAI}))
		}
		for range g.r.IntN(4) {
			seq = append(seq, pick(g.r, []sender{fromAgent, fromAgent, fromCustomer}))
		}
		for _, s := range seq {
			if len(times) == n || !t.Before(g.end) {
				break
			}
			times, senders = append(times, t), append(senders, s)
			t = t.Add(time.Duration(5+g.r.IntN(900)) * time.Second)
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return times[a].Compare(times[b]) })
	for _, i := range order {
		g.d.Messages = append(g.d.Messages, g.message(c, room, times[i], senders[i]))
		m.lastMsg = times[i]
	}
	g.finishContact(ci)
}

// finishContact sets the contact's lastMessageTime and updatedAt.
func (g *gen) finishContact(ci int) {
	c := &g.d.Contacts[ci]
	m := &g.meta[ci]
	upd := g.between(maxTime(m.first, g.start), g.end)
	if !m.lastMsg.IsZero() {
		c.LastMessageTime = m.lastMsg
		if m.lastMsg.After(upd) {
			upd = m.lastMsg
		}
	}
	if !c.UnsubscribedAt.IsZero() && c.UnsubscribedAt.After(upd) {
		upd = c.UnsubscribedAt
	}
	c.UpdatedAt = upd.Add(time.Duration(g.r.IntN(1000)) * time.Millisecond)
	if !c.UpdatedAt.Before(g.end) {
		c.UpdatedAt = g.end.Add(-time.Millisecond)
	}
}

// room returns the chat room id of a contact.
func (g *gen) room(c *omnichat.Contact) string {
	prefix := map[contact.Platform]string{contact.LINE: "ln", contact.Facebook: "fb", contact.Instagram: "ig", contact.WhatsApp: "wh", contact.Webchat: "wc"}[c.Platform]
	return prefix + g.uuid() + "-" + c.ID
}

// message builds one message.
func (g *gen) message(c *omnichat.Contact, room string, t time.Time, s sender) omnichat.Message {
	g.msgSeq++
	m := omnichat.Message{
		Platform: c.Platform, ChannelID: c.ChannelID, RoomID: room, CustomerUserID: c.ID,
		ID: g.messageID(c.Platform), Time: t.UTC(),
	}
	text := func(xs []string) { v := pick(g.r, xs); m.Message = &v }
	media := func(ext string) {
		u := fmt.Sprintf("https://media.omnichat.example.com/%s/%d.%s", c.ChannelID, g.msgSeq, ext)
		m.MediaURL = &u
	}
	switch s {
	case fromCustomer:
		m.SenderType, m.SenderName, m.SenderUserID = "customer", strings.TrimSpace(c.Name), c.ID
		if c.Platform == contact.WhatsApp {
			m.SenderPhone = c.ID
		}
		if c.Platform == contact.Webchat {
			m.SenderEmail = strings.ToLower(strings.TrimSpace(c.Email))
		}
		m.MessageStatus = pick(g.r, []string{"read", "read", "read", "delivered"})
		switch x := g.r.Float64(); {
		case x < 0.75:
			m.MessageType = "text"
			text(customerTexts)
		case x < 0.87:
			m.MessageType = "photo"
			media("jpg")
		case x < 0.91:
			m.MessageType = "audio"
			media("m4a")
		case x < 0.94:
			m.MessageType = "video"
			media("mp4")
		default:
			m.MessageType = "document"
			media("pdf")
		}
	case fromAgent:
		a := pick(g.r, agents)
		m.SenderType, m.SenderName, m.SenderUserID = "agent", a.name, a.id
		m.MessageStatus = g.outboundStatus()
		if g.chance(0.85) {
			m.MessageType = "text"
			text(agentTexts)
		} else {
			m.MessageType = pick(g.r, []string{"photo", "document"})
			media(map[string]string{"photo": "jpg", "document": "pdf"}[m.MessageType])
			if m.MessageType == "document" {
				v := "ใบเสนอราคา.pdf"
				m.Message = &v
			}
		}
	case fromBot:
		m.SenderType, m.SenderName, m.SenderUserID = "bot", "Pakpao Bot", "bot"
		m.MessageStatus = g.outboundStatus()
		m.MessageType = pick(g.r, []string{"chatbot", "chatbot", "text"})
		text(botTexts)
	case fromAI:
		m.SenderType, m.SenderName, m.SenderUserID = "ai-chat", "Pakpao AI ✨", "ai-assistant"
		m.MessageStatus = g.outboundStatus()
		m.MessageType = "text"
		text(botTexts)
	}
	return m
}

// outboundStatus is the delivery status of a message the shop sent.
func (g *gen) outboundStatus() string {
	switch x := g.r.Float64(); {
	case x < 0.02:
		return "error"
	case x < 0.15:
		return "sent"
	case x < 0.40:
		return "delivered"
	}
	return "read"
}

// messageID returns a unique message id in the platform's style.
func (g *gen) messageID(p contact.Platform) string {
	switch p {
	case contact.LINE:
		return strconv.FormatInt(510_000_000_000_000_000+int64(g.msgSeq)*7_919, 10)
	case contact.Facebook:
		return fmt.Sprintf("m_%x%08x", g.r.Uint64(), g.msgSeq)
	case contact.Instagram:
		return fmt.Sprintf("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE%x%08x", g.r.Uint32(), g.msgSeq)
	case contact.WhatsApp:
		return fmt.Sprintf("wamid.HBgLNjY%X%08X", g.r.Uint32(), g.msgSeq)
	}
	return fmt.Sprintf("wc-%08d-%s", g.msgSeq, g.uuid()[:8])
}

// taggingLogs writes when each current tag was applied, plus tags applied
// and later removed, in Bangkok time without a zone.
func (g *gen) taggingLogs(ci int) {
	c := &g.d.Contacts[ci]
	m := &g.meta[ci]
	from := maxTime(m.first, g.start)
	to := c.UpdatedAt.Truncate(time.Second)
	if !to.After(from) {
		to = from.Add(time.Second)
	}
	tags := slices.Clone(c.Tags)
	if g.chance(0.2) {
		extra := tagNames[g.r.IntN(len(tagNames))]
		if !slices.Contains(tags, extra) {
			tags = append(tags, extra) // applied, later removed
		}
	}
	for _, tag := range tags {
		t := g.between(from, to).In(Bangkok)
		l := omnichat.TaggingLog{
			Time: t, TimeRaw: t.Format(omnichat.TaggingTimeLayout),
			Platform: c.Platform, ChannelID: c.ChannelID, UserID: c.ID, Tag: tag, Source: pick(g.r, taggingSources),
		}
		if l.Source == "keyword_auto_reply" || g.chance(0.1) {
			l.MessageID = g.messageID(c.Platform)
		}
		g.d.TaggingLogs = append(g.d.TaggingLogs, l)
	}
}

// profile records what LINE knows of a LINE identity: most are friends of
// the bot, 1% blocked it, 3% show no picture.
func (g *gen) profile(ci int) {
	c := &g.d.Contacts[ci]
	if c.Platform != contact.LINE {
		return
	}
	if g.chance(0.01) {
		g.meta[ci].blocked = true
		return
	}
	p := lineapitest.Profile{DisplayName: strings.TrimSpace(c.Name), UserID: c.ID, Language: pick(g.r, []string{"th", "th", "en"})}
	if !g.chance(0.03) {
		p.PictureURL = fmt.Sprintf("https://profile.line-scdn.net/0h%016x%016x", g.r.Uint64(), g.r.Uint64())
	}
	if g.chance(0.3) {
		p.StatusMessage = pick(g.r, []string{"☀️ สู้ๆ", "ขายของออนไลน์ ทักได้ค่ะ", "Living my best life", "🐡"})
	}
	g.d.Profiles = append(g.d.Profiles, LineProfile{ChannelID: c.ChannelID, Profile: p})
}

// maxTime returns the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
