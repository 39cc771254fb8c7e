package omnichat

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strings"
	"time"

	"crmsync/contact"
)

// MessagesService reads chat history.
type MessagesService service

// Message is one chat message.
type Message struct {
	Platform       contact.Platform // channel.platform, normalised
	ChannelID      string           // channel.channelId
	RoomID         string
	CustomerUserID string
	ID             string
	SenderType     string // customer, agent, bot, ai-chat (lower-cased)
	SenderName     string
	SenderUserID   string
	SenderPhone    string
	SenderEmail    string
	Time           time.Time // UTC
	MessageType    string    // text, photo, audio, video, document, chatbot (lower-cased)
	MessageStatus  string    // sent, delivered, read, error (lower-cased)
	Message        *string   // nil when null or absent
	MediaURL       *string   // nil when null or absent
	Raw            json.RawMessage
}

// MessageListOptions selects one page of messages.
type MessageListOptions struct {
	Platform  contact.Platform // required by the API
	ChannelID string
	After     time.Time // inclusive, required by the API
	Before    time.Time // exclusive, required; at most MaxWindow after After
	Page      int       // 1-based; 0 means 1
	PageSize  int       // 0 means DefaultPageSize (20); the API refuses more than MaxPageSize (100)
}

// MessagePage is one page of messages.
type MessagePage struct {
	Messages      []Message
	Bad           []BadRecord
	TotalElements int
}

// messageWire is Message as the API spells it.
type messageWire struct {
	Channel *struct {
		Platform  flexString `json:"platform"`
		ChannelID flexString `json:"channelId"`
	} `json:"channel"`
	RoomID         flexString  `json:"roomId"`
	CustomerUserID flexString  `json:"customerUserId"`
	ID             flexString  `json:"id"`
	SenderType     flexString  `json:"senderType"`
	SenderName     flexString  `json:"senderName"`
	SenderUserID   flexString  `json:"senderUserId"`
	SenderPhone    flexString  `json:"senderPhone"`
	SenderEmail    flexString  `json:"senderEmail"`
	Time           flexMillis  `json:"time"`
	MessageType    flexString  `json:"messageType"`
	MessageStatus  flexString  `json:"messageStatus"`
	Message        *flexString `json:"message"`
	MediaURL       *flexString `json:"mediaUrl"`
}

// DecodeMessage decodes and validates one message row: id and time are
// required, time must lie in (1970, 9999].
func DecodeMessage(raw json.RawMessage) (Message, error) {
	if err := requireObject(raw); err != nil {
		return Message{}, err
	}
	var w messageWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return Message{}, decodeReason(raw, err)
	}
	m := Message{
		RoomID:         trim(w.RoomID),
		CustomerUserID: trim(w.CustomerUserID),
		ID:             trim(w.ID),
		SenderType:     strings.ToLower(trim(w.SenderType)),
		SenderName:     string(w.SenderName),
		SenderUserID:   trim(w.SenderUserID),
		SenderPhone:    trim(w.SenderPhone),
		SenderEmail:    trim(w.SenderEmail),
		MessageType:    strings.ToLower(trim(w.MessageType)),
		MessageStatus:  strings.ToLower(trim(w.MessageStatus)),
		Message:        optString(w.Message),
		MediaURL:       optString(w.MediaURL),
		Raw:            raw,
	}
	if w.Channel != nil {
		m.Platform = ParsePlatform(string(w.Channel.Platform))
		m.ChannelID = trim(w.Channel.ChannelID)
	}
	if m.ID == "" {
		return Message{}, missing(raw, "id")
	}
	t, err := w.Time.required(raw, "time")
	if err != nil {
		return Message{}, err
	}
	m.Time = t
	return m, nil
}

// optString turns a decoded nullable string into *string: JSON null (which
// the decoder leaves as a nil pointer) stays nil.
func optString(f *flexString) *string {
	if f == nil {
		return nil
	}
	s := string(*f)
	return &s
}

// MarshalJSON encodes m as the API does.
func (m Message) MarshalJSON() ([]byte, error) {
	type channel struct {
		Platform  string `json:"platform"`
		ChannelID string `json:"channelId"`
	}
	return json.Marshal(struct {
		Channel        channel `json:"channel"`
		ID             string  `json:"id"`
		Time           *int64  `json:"time"`
		SenderName     string  `json:"senderName"`
		SenderUserID   string  `json:"senderUserId"`
		SenderPhone    *string `json:"senderPhone"`
		SenderEmail    *string `json:"senderEmail"`
		SenderType     string  `json:"senderType"`
		MessageType    string  `json:"messageType"`
		MessageStatus  string  `json:"messageStatus"`
		Message        *string `json:"message"`
		MediaURL       *string `json:"mediaUrl"`
		RoomID         string  `json:"roomId"`
		CustomerUserID string  `json:"customerUserId"`
	}{
		Channel:        channel{string(m.Platform), m.ChannelID},
		ID:             m.ID,
		Time:           millis(m.Time),
		SenderName:     m.SenderName,
		SenderUserID:   m.SenderUserID,
		SenderPhone:    nullable(m.SenderPhone),
		SenderEmail:    nullable(m.SenderEmail),
		SenderType:     m.SenderType,
		MessageType:    m.MessageType,
		MessageStatus:  m.MessageStatus,
		Message:        m.Message,
		MediaURL:       m.MediaURL,
		RoomID:         m.RoomID,
		CustomerUserID: m.CustomerUserID,
	})
}

// List returns one page of messages sent or received in [After, Before).
//
// Omnichat docs: GET /v1/messages ("Messaging | Get chat history").
func (s *MessagesService) List(ctx context.Context, opts MessageListOptions) (*MessagePage, error) {
	p, _, err := s.list(ctx, opts)
	return p, err
}

// list fetches one page and reports what the paging loop needs.
func (s *MessagesService) list(ctx context.Context, opts MessageListOptions) (*MessagePage, pageInfo, error) {
	q := url.Values{}
	if opts.Platform != "" {
		q.Set("platform", string(opts.Platform))
	}
	if opts.ChannelID != "" {
		q.Set("channelId", opts.ChannelID)
	}
	setWindow(q, "after", opts.After, "before", opts.Before)
	setPage(q, opts.Page, opts.PageSize)

	var env envelope
	if err := s.c.get(ctx, "/v1/messages", q, &env); err != nil {
		return nil, pageInfo{}, fmt.Errorf("list omnichat messages page %d: %w", max(opts.Page, 1), err)
	}
	good, bad := decodeRows(env.Content, DecodeMessage)
	return &MessagePage{Messages: good, Bad: bad, TotalElements: env.total()}, env.info(), nil
}

// Pages returns every page from opts.Page (default 1) on, bad rows
// included; see ContactsService.Pages for when it stops.
func (s *MessagesService) Pages(ctx context.Context, opts MessageListOptions) iter.Seq2[*MessagePage, error] {
	return pages(ctx, opts.Page, opts.PageSize, func(ctx context.Context, page, size int) (*MessagePage, pageInfo, error) {
		o := opts
		o.Page, o.PageSize = page, size
		return s.list(ctx, o)
	})
}

// All returns every good message of every page. Bad rows are skipped: use
// Pages or List to record them.
func (s *MessagesService) All(ctx context.Context, opts MessageListOptions) iter.Seq2[Message, error] {
	return items(s.Pages(ctx, opts), func(p *MessagePage) []Message { return p.Messages })
}
