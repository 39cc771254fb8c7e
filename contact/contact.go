// Package contact holds crmsync's domain types: the master record of a person,
// the identities it was built from, and their tags and attributes.
//
// It is the leaf of the import graph: no I/O, no logging, no gorm or JSON
// tags. Package store translates rows into these types; package mapping turns
// them into destination payloads.
package contact

import (
	"fmt"
	"strings"
	"time"
)

// Platform is a messaging platform as Omnichat names it.
type Platform string

// The platforms Omnichat documents. Channel objects may say "website" for
// webchat; ParsePlatform folds it.
const (
	LINE      Platform = "line"
	Facebook  Platform = "facebook"
	Instagram Platform = "instagram"
	WhatsApp  Platform = "whatsapp"
	WeChat    Platform = "wechat"
	Webchat   Platform = "webchat"
	Viber     Platform = "viber"
)

// Platforms lists every known platform in a fixed order.
var Platforms = []Platform{LINE, Facebook, Instagram, WhatsApp, WeChat, Webchat, Viber}

// ParsePlatform returns the platform named by s, case-insensitively, folding
// Omnichat's "website" into Webchat. ok is false for an unknown name.
func ParsePlatform(s string) (p Platform, ok bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "website" {
		return Webchat, true
	}
	for _, p := range Platforms {
		if string(p) == s {
			return p, true
		}
	}
	return "", false
}

// ID is the stable id of a master contact. It survives across runs; when two
// contacts merge, the older id survives.
type ID int64

// Identity is one (platform, channel, user) triple: a person as one channel
// knows them. It is the unit Omnichat reports and Oho keys its contacts by.
type Identity struct {
	Platform  Platform
	ChannelID string // Omnichat channel id (for LINE, the LINE channel ID, digits)
	UserID    string // the user's id on that platform
}

// String returns "platform/channel/user", for logs and error messages.
func (i Identity) String() string {
	return fmt.Sprintf("%s/%s/%s", i.Platform, i.ChannelID, i.UserID)
}

// AttrType is the type Omnichat gives a custom attribute.
type AttrType string

// The custom attribute types Omnichat documents.
const (
	AttrText     AttrType = "text"
	AttrNumber   AttrType = "number"
	AttrDate     AttrType = "date"
	AttrDatetime AttrType = "datetime"
	AttrBoolean  AttrType = "boolean"
)

// Attribute is one custom attribute of a contact, merged per Key across the
// contact's identities (latest wins, type kept).
type Attribute struct {
	Key         string
	Value       string
	Type        AttrType
	DisplayName string
	UpdatedAt   time.Time // when the identity that supplied the value was last updated
}

// Tag is a tag currently on a contact.
type Tag struct {
	Name      string
	AppliedAt time.Time // zero when no tagging log tells when it was applied
	Source    string    // lower-case tagging-log source (e.g. "bot", "agent"), "" when unknown
}

// Facts are derived from a contact's chat history.
type Facts struct {
	FirstMessageAt        time.Time // zero when the contact has no messages
	LastMessageAt         time.Time
	LastCustomerMessageAt time.Time
	LastAgentMessageAt    time.Time
	MessagesTotal         int
	Messages7d            int
	Messages30d           int
	CustomerMessagesTotal int
	AgentMessagesTotal    int
	BotMessagesTotal      int      // senderType bot or ai-chat
	Channels              []string // "platform/channelId" the contact wrote on, sorted
}

// Profile is what one identity says about the person, as last pulled.
type Profile struct {
	Identity
	Name       string
	Email      string
	Phone      string // as the source gave it
	MemberID   string
	Subscribed bool
	UpdatedAt  time.Time // the source's updatedAt
}

// Contact is the master record of one person across channels.
type Contact struct {
	ID         ID
	Name       string
	Email      string // lower-cased, "" when unknown
	Phone      string // E.164 ("+66812345678"), "" when unknown or not a valid number
	MemberID   string
	Attributes []Attribute // sorted by Key
	Tags       []Tag       // sorted by Name
	Facts      Facts
	Identities []Profile // sorted by Platform, ChannelID, UserID
	UpdatedAt  time.Time
}

// Attribute returns the attribute with the given key and whether it exists.
func (c Contact) Attribute(key string) (Attribute, bool) {
	for _, a := range c.Attributes {
		if a.Key == key {
			return a, true
		}
	}
	return Attribute{}, false
}
