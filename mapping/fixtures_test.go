package mapping

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
)

// now is the fixed time of every test run.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	lineUser   = "U0a0b0c525e1ade1f909a58233f9e9aaa"
	lineBot    = "Uf43c82b98f893660ff936c921ca4034b"
	fbUser     = "6543219876543210"
	fbPage     = "104123456789012"
	defaultPic = "https://cdn.example.com/avatar.png"
)

var (
	lineID = contact.Identity{Platform: contact.LINE, ChannelID: "1656789012", UserID: lineUser}
	fbID   = contact.Identity{Platform: contact.Facebook, ChannelID: fbPage, UserID: fbUser}
	waID   = contact.Identity{Platform: contact.WhatsApp, ChannelID: "66800000000", UserID: "66812345678"}
	viber  = contact.Identity{Platform: contact.Viber, ChannelID: "pa:crmsync", UserID: "01234567ABCDEFGH+/=="}
)

// lineTarget is what push knows about the LINE OA in the vendor's example.
var lineTarget = OhoTarget{
	PlatformID:   lineBot,
	PlatformName: "ปักเป้า",
	LineBasicID:  "@129oruit",
	PictureURL:   "https://profile.line-scdn.net/0h6si80NdTaVxUQX3tDp4WC2gEZzEjb28ULHciaCRIZzsrJi1ZYCB1aHQSNjl5JisCPXUiO3kRNTgg",
	OriginalName: "˚♡̴ 𝒇𝒂𝒏𝒈",
}

var fbTarget = OhoTarget{PlatformID: fbPage, PlatformName: "Oho Shop"}

// fang is a contact shaped like the vendor's create example.
func fang() contact.Contact {
	return contact.Contact{
		ID:       42,
		Name:     "˚♡̴ 𝒇𝒂𝒏𝒈",
		Email:    "hello@oho.chat",
		Phone:    "+66987654321",
		MemberID: "123456789",
		Attributes: []contact.Attribute{
			{Key: "birthday", Value: "1998-11-29", Type: contact.AttrDate, DisplayName: "Birthday"},
			{Key: "customer_group", Value: "Crown", Type: contact.AttrText, DisplayName: "customer_group"},
			{Key: "first_name", Value: "ฝาง", Type: contact.AttrText, DisplayName: "First name"},
			{Key: "gender", Value: "หญิง", Type: contact.AttrText, DisplayName: "Gender"},
			{Key: "last_name", Value: "", Type: contact.AttrText, DisplayName: "Last name"},
			{Key: "points", Value: "1200", Type: contact.AttrNumber, DisplayName: "แต้มสะสม"},
			{Key: "profile_link", Value: "https://www.facebook.com/GetOhoChat", Type: contact.AttrText, DisplayName: "profile_link"},
			{Key: "province", Value: "Bangkok", Type: contact.AttrText, DisplayName: "Province"},
			{Key: "registered_at", Value: "1970-01-01T00:00:00", Type: contact.AttrDatetime, DisplayName: "Registered"},
		},
		Tags: []contact.Tag{
			{Name: "VIP", AppliedAt: now.Add(-48 * time.Hour), Source: "agent"},
			{Name: "packgate รายเดือน", AppliedAt: now.Add(-72 * time.Hour), Source: "bot"},
			{Name: "ติดตามสินค้า", AppliedAt: now.Add(-2 * time.Hour), Source: "agent"},
			{Name: "ลูกค้าประจำ", AppliedAt: now.Add(-24 * time.Hour), Source: "agent"},
			{Name: "vip ", AppliedAt: now.Add(-96 * time.Hour), Source: "bot"},
		},
		Facts: contact.Facts{
			FirstMessageAt:        now.Add(-90 * 24 * time.Hour),
			LastMessageAt:         now.Add(-3 * time.Hour),
			LastCustomerMessageAt: now.Add(-5 * time.Hour),
			LastAgentMessageAt:    now.Add(-3 * time.Hour),
			MessagesTotal:         57,
			Messages7d:            6,
			Messages30d:           20,
			CustomerMessagesTotal: 30,
			AgentMessagesTotal:    20,
			BotMessagesTotal:      7,
			Channels:              []string{"facebook/" + fbPage, "line/1656789012"},
		},
		Identities: []contact.Profile{
			{Identity: fbID, Name: "Fang Fb", Subscribed: true, UpdatedAt: now.Add(-time.Hour)},
			{Identity: lineID, Name: "˚♡̴ 𝒇𝒂𝒏𝒈", Email: "hello@oho.chat", Phone: "0987654321", Subscribed: true, UpdatedAt: now.Add(-time.Hour)},
			{Identity: waID, Name: "Fang WA", Phone: "66812345678", UpdatedAt: now.Add(-time.Hour)},
		},
		UpdatedAt: now.Add(-time.Hour),
	}
}

// fullOptions exercises every kind of rule.
func fullOptions() Options {
	return Options{
		TagPriority: []string{"VIP", "re:^ลูกค้า", "ติดตาม*"},
		Oho: OhoOptions{
			DefaultPictureURL: defaultPic,
			Fields: OhoFields{
				FirstName: "attr:first_name",
				LastName:  "attr:last_name",
				Gender:    "attr:gender",
				BirthDate: "attr:birthday",
				City:      "attr:province",
			},
			Cities: []EnumValue{
				{Value: "กรุงเทพมหานคร", Aliases: []string{"Bangkok", "กทม"}},
				{Value: "เชียงใหม่", Aliases: []string{"Chiang Mai"}},
			},
			Attributes: []AttributeRule{
				{From: "member_id", DisplayName: "customer_id"},
				{From: "attr:customer_group", DisplayName: "customer_group"},
				{From: "fact:last_customer_message_at", DisplayName: "ข้อความล่าสุดจากลูกค้า"},
				{From: "fact:inactive_30d", DisplayName: "inactive_30d"},
				{From: "attr:*"},
			},
			Tags: TagRules{
				Exclude: []string{"ติดตาม*"},
				Facts:   []FactTag{{Fact: "replied_within_24h", Tag: "ตอบภายใน 24 ชม."}},
			},
			Labels: []LabelRule{
				{Pattern: "ติดตาม*"},
				{Pattern: "re:^VIP$", Label: "Oho Team"},
				{Fact: "awaiting_reply", Label: "รอตอบ"},
				{Fact: "active_24h", Label: "active today"},
			},
		},
		Okeybot: OkeybotOptions{
			CustomFields: []FieldRule{
				{From: "name", Name: "firstName"},
				{From: "phone_local", Name: "phone"},
				{From: "email", Name: "email"},
				{From: "member_id", Name: "customerid"},
				{From: "fact:messages_30d", Name: "messages_30d"},
				{From: "attr:*"},
			},
			Tags: TagRules{
				Include: []string{"*"},
				Facts:   []FactTag{{Fact: "inactive_30d", Tag: "inactive 30d"}},
			},
		},
	}
}

func newMapper(t testing.TB, o Options) *Mapper {
	t.Helper()
	m, err := New(o)
	require.NoError(t, err)
	return m
}
