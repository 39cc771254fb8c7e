package omnichat

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"time"

	"crmsync/contact"
)

// ContactsService reads contacts.
type ContactsService service

// Contact is one contact (a user on one channel) as Omnichat reports it.
// Times are UTC; the zero time means the API sent none (absent, null or 0).
type Contact struct {
	Platform          contact.Platform // channel.platform, normalised ("website" → webchat)
	ChannelID         string           // channel.channelId
	ID                string           // the user's id on the platform (LINE user ID, PSID, phone, ...)
	Name              string
	LastMessageTime   time.Time
	SubscribedAt      time.Time
	UnsubscribedAt    time.Time
	UpdatedAt         time.Time // zero when the API sent none (the vendor's own example omits it)
	Tags              []string
	CustomAttributes  []CustomAttribute
	Status            bool   // subscribed
	Note              string // "" when absent or null
	Email             string
	Phone             string // international digits without "+", as sent
	MemberID          string // may be ""
	AgentName         string // OMO Sales only
	AgentEmployeeCode string
	AgentBindTime     time.Time
	AgentLocationName string
	AgentLocationCode string
	Raw               json.RawMessage // the row as the API sent it (nil when built in code)
}

// Identity returns the contact's (platform, channel, user) triple.
func (c Contact) Identity() contact.Identity {
	return contact.Identity{Platform: c.Platform, ChannelID: c.ChannelID, UserID: c.ID}
}

// CustomAttribute is one custom attribute of a contact. Value holds the
// text of what the API sent: strings as is, numbers and booleans as their
// JSON literal ("42", "true"), null as "".
type CustomAttribute struct {
	Key         string
	Value       string
	Type        contact.AttrType // text, number, date, datetime, boolean (lower-cased as sent)
	DisplayName string
}

// ContactListOptions selects one page of contacts. Zero fields are not sent.
type ContactListOptions struct {
	Platform      contact.Platform // required by the API
	ChannelID     string
	UserID        string    // one user; the window is then optional
	UpdatedAfter  time.Time // inclusive
	UpdatedBefore time.Time // exclusive; at most MaxWindow after UpdatedAfter
	Page          int       // 1-based; 0 means 1
	PageSize      int       // 0 means DefaultPageSize (20); the API refuses more than MaxPageSize (100)
}

// ContactPage is one page of contacts.
type ContactPage struct {
	Contacts      []Contact   // the good rows, in the API's order
	Bad           []BadRecord // rows that could not be used
	TotalElements int         // the API's count of rows in the whole window
}

// contactWire is Contact as the API spells it, read leniently.
type contactWire struct {
	Channel *struct {
		Platform  flexString `json:"platform"`
		ChannelID flexString `json:"channelId"`
	} `json:"channel"`
	ID                flexString      `json:"id"`
	Name              flexString      `json:"name"`
	LastMessageTime   flexMillis      `json:"lastMessageTime"`
	SubscribedAt      flexMillis      `json:"subscribedAt"`
	UnsubscribedAt    flexMillis      `json:"unsubscribedAt"`
	UpdatedAt         flexMillis      `json:"updatedAt"`
	Tags              []flexString    `json:"tags"`
	CustomAttributes  []attributeWire `json:"customAttributes"`
	Status            flexBool        `json:"status"`
	Note              flexString      `json:"note"`
	Email             flexString      `json:"email"`
	Phone             flexString      `json:"phone"`
	MemberID          flexString      `json:"memberId"`
	AgentName         flexString      `json:"agentName"`
	AgentEmployeeCode flexString      `json:"agentEmployeeCode"`
	AgentBindTime     flexMillis      `json:"agentBindTime"`
	AgentLocationName flexString      `json:"agentLocationName"`
	AgentLocationCode flexString      `json:"agentLocationCode"`
}

// attributeWire is one custom attribute as the API spells it.
type attributeWire struct {
	Key         flexString `json:"key"`
	Value       anyText    `json:"value"`
	Type        flexString `json:"type"`
	DisplayName flexString `json:"displayName"`
}

// DecodeContact decodes and validates one contact row. channel.platform,
// channel.channelId and id are required; timestamps must lie in (1970, 9999]
// (0 in an optional one counts as absent). Attributes without a key are
// dropped. raw is kept in Contact.Raw (not copied).
func DecodeContact(raw json.RawMessage) (Contact, error) {
	if err := requireObject(raw); err != nil {
		return Contact{}, err
	}
	var w contactWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return Contact{}, decodeReason(raw, err)
	}
	c := Contact{
		ID:                trim(w.ID),
		Name:              string(w.Name),
		Status:            bool(w.Status),
		Note:              string(w.Note),
		Email:             trim(w.Email),
		Phone:             trim(w.Phone),
		MemberID:          trim(w.MemberID),
		AgentName:         string(w.AgentName),
		AgentEmployeeCode: trim(w.AgentEmployeeCode),
		AgentLocationName: string(w.AgentLocationName),
		AgentLocationCode: trim(w.AgentLocationCode),
		Raw:               raw,
	}
	if w.Channel != nil {
		c.Platform = ParsePlatform(string(w.Channel.Platform))
		c.ChannelID = trim(w.Channel.ChannelID)
	}
	switch {
	case c.Platform == "":
		return Contact{}, missing(raw, "channel.platform")
	case c.ChannelID == "":
		return Contact{}, missing(raw, "channel.channelId")
	case c.ID == "":
		return Contact{}, missing(raw, "id")
	}
	var err error
	for _, f := range []struct {
		dst  *time.Time
		src  flexMillis
		name string
	}{
		{&c.UpdatedAt, w.UpdatedAt, "updatedAt"},
		{&c.LastMessageTime, w.LastMessageTime, "lastMessageTime"},
		{&c.SubscribedAt, w.SubscribedAt, "subscribedAt"},
		{&c.UnsubscribedAt, w.UnsubscribedAt, "unsubscribedAt"},
		{&c.AgentBindTime, w.AgentBindTime, "agentBindTime"},
	} {
		if f.name == "updatedAt" && f.src.set && f.src.ms == 0 {
			return Contact{}, fmt.Errorf("updatedAt: out of range (epoch milliseconds from 1970 to 9999), got %s", valueOf(raw, "updatedAt"))
		}
		if *f.dst, err = f.src.optional(raw, f.name); err != nil {
			return Contact{}, err
		}
	}
	for _, t := range w.Tags {
		if s := trim(t); s != "" {
			c.Tags = append(c.Tags, s)
		}
	}
	for _, a := range w.CustomAttributes {
		key := trim(a.Key)
		if key == "" {
			continue
		}
		c.CustomAttributes = append(c.CustomAttributes, CustomAttribute{
			Key:         key,
			Value:       string(a.Value),
			Type:        contact.AttrType(strings.ToLower(trim(a.Type))),
			DisplayName: string(a.DisplayName),
		})
	}
	return c, nil
}

// MarshalJSON encodes c as the API does (epoch milliseconds, zero times
// omitted, attribute values typed by Type). The fake server uses it.
func (c Contact) MarshalJSON() ([]byte, error) {
	type channel struct {
		Platform  string `json:"platform"`
		ChannelID string `json:"channelId"`
	}
	type attr struct {
		Key         string `json:"key"`
		Value       any    `json:"value"`
		Type        string `json:"type"`
		DisplayName string `json:"displayName"`
	}
	attrs := make([]attr, 0, len(c.CustomAttributes))
	for _, a := range c.CustomAttributes {
		attrs = append(attrs, attr{Key: a.Key, Value: typedValue(a.Type, a.Value), Type: string(a.Type), DisplayName: a.DisplayName})
	}
	tags := c.Tags
	if tags == nil {
		tags = []string{}
	}
	return json.Marshal(struct {
		Channel           channel  `json:"channel"`
		ID                string   `json:"id"`
		Name              string   `json:"name"`
		LastMessageTime   *int64   `json:"lastMessageTime,omitempty"`
		SubscribedAt      *int64   `json:"subscribedAt,omitempty"`
		UnsubscribedAt    *int64   `json:"unsubscribedAt,omitempty"`
		UpdatedAt         *int64   `json:"updatedAt,omitempty"`
		Tags              []string `json:"tags"`
		CustomAttributes  []attr   `json:"customAttributes"`
		Status            bool     `json:"status"`
		Note              string   `json:"note"`
		Email             string   `json:"email"`
		Phone             string   `json:"phone"`
		MemberID          string   `json:"memberId"`
		AgentName         *string  `json:"agentName"`
		AgentEmployeeCode *string  `json:"agentEmployeeCode"`
		AgentBindTime     *int64   `json:"agentBindTime"`
		AgentLocationName *string  `json:"agentLocationName"`
		AgentLocationCode *string  `json:"agentLocationCode"`
	}{
		Channel:           channel{string(c.Platform), c.ChannelID},
		ID:                c.ID,
		Name:              c.Name,
		LastMessageTime:   millis(c.LastMessageTime),
		SubscribedAt:      millis(c.SubscribedAt),
		UnsubscribedAt:    millis(c.UnsubscribedAt),
		UpdatedAt:         millis(c.UpdatedAt),
		Tags:              tags,
		CustomAttributes:  attrs,
		Status:            c.Status,
		Note:              c.Note,
		Email:             c.Email,
		Phone:             c.Phone,
		MemberID:          c.MemberID,
		AgentName:         nullable(c.AgentName),
		AgentEmployeeCode: nullable(c.AgentEmployeeCode),
		AgentBindTime:     millis(c.AgentBindTime),
		AgentLocationName: nullable(c.AgentLocationName),
		AgentLocationCode: nullable(c.AgentLocationCode),
	})
}

// typedValue returns v as the JSON value the API would send for an
// attribute of type t: a number or boolean when v parses as one, else text.
func typedValue(t contact.AttrType, v string) any {
	switch t {
	case contact.AttrNumber:
		if json.Valid([]byte(v)) {
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				return json.Number(v)
			}
		}
	case contact.AttrBoolean:
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return v
}

// nullable returns nil for "" so the field is sent as null.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// trim returns s without surrounding white space.
func trim(s flexString) string { return strings.TrimSpace(string(s)) }

// List returns one page of contacts updated in [UpdatedAfter, UpdatedBefore).
//
// Omnichat docs: GET /v1/contacts ("Contacts | Get contacts (Deprecated)").
func (s *ContactsService) List(ctx context.Context, opts ContactListOptions) (*ContactPage, error) {
	p, _, err := s.list(ctx, opts)
	return p, err
}

// list fetches one page and reports what the paging loop needs.
func (s *ContactsService) list(ctx context.Context, opts ContactListOptions) (*ContactPage, pageInfo, error) {
	q := url.Values{}
	if opts.Platform != "" {
		q.Set("platform", string(opts.Platform))
	}
	if opts.ChannelID != "" {
		q.Set("channelId", opts.ChannelID)
	}
	if opts.UserID != "" {
		q.Set("userId", opts.UserID)
	}
	setWindow(q, "updatedAfter", opts.UpdatedAfter, "updatedBefore", opts.UpdatedBefore)
	setPage(q, opts.Page, opts.PageSize)

	var env envelope
	if err := s.c.get(ctx, "/v1/contacts", q, &env); err != nil {
		return nil, pageInfo{}, fmt.Errorf("list omnichat contacts page %d: %w", max(opts.Page, 1), err)
	}
	good, bad := decodeRows(env.Content, DecodeContact)
	return &ContactPage{Contacts: good, Bad: bad, TotalElements: env.total()}, env.info(), nil
}

// Pages returns every page from opts.Page (default 1) on, bad rows
// included, until an empty page, the page that reaches totalElements, or a
// short page that is the last (see PageCursor: a short page while rows are
// missing is a server serving fewer rows than asked, followed at its size).
// opts is a copy and never changed.
func (s *ContactsService) Pages(ctx context.Context, opts ContactListOptions) iter.Seq2[*ContactPage, error] {
	return pages(ctx, opts.Page, opts.PageSize, func(ctx context.Context, page, size int) (*ContactPage, pageInfo, error) {
		o := opts
		o.Page, o.PageSize = page, size
		return s.list(ctx, o)
	})
}

// All returns every good contact of every page (see Pages). Bad rows are
// skipped: use Pages or List to record them.
func (s *ContactsService) All(ctx context.Context, opts ContactListOptions) iter.Seq2[Contact, error] {
	return items(s.Pages(ctx, opts), func(p *ContactPage) []Contact { return p.Contacts })
}
