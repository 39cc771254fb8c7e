package pull

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"crmsync/clients/omnichat"
	"crmsync/store"
)

// page is one fetched page, converted to store rows, ready to write.
type page struct {
	total    int      // totalElements
	received int      // rows in content, good and bad
	keys     []string // one per row: the row's key, or a hash of a bad row
	write    func(ctx context.Context, st *store.Store, m store.PageMeta) (store.PageResult, error)
}

// fetch requests page n of window w of stream in scope sc.
func (p *Puller) fetch(ctx context.Context, stream Stream, sc scope, w store.Window, n, size int) (*page, error) {
	switch stream {
	case Contacts:
		pg, err := p.c.Contacts.List(ctx, omnichat.ContactListOptions{
			Platform: sc.platform, ChannelID: sc.channelID, UpdatedAfter: w.Start, UpdatedBefore: w.End, Page: n, PageSize: size,
		})
		if err != nil {
			return nil, err
		}
		return contactsPage(pg, w), nil
	case Messages:
		pg, err := p.c.Messages.List(ctx, omnichat.MessageListOptions{
			Platform: sc.platform, ChannelID: sc.channelID, After: w.Start, Before: w.End, Page: n, PageSize: size,
		})
		if err != nil {
			return nil, err
		}
		return messagesPage(pg, sc), nil
	case TaggingLogs:
		pg, err := p.c.TaggingLogs.List(ctx, omnichat.TaggingLogListOptions{
			TaggedAfter: w.Start, TaggedBefore: w.End, Page: n, PageSize: size,
		})
		if err != nil {
			return nil, err
		}
		return taggingLogsPage(pg), nil
	}
	return nil, fmt.Errorf("unknown stream %q", stream)
}

// badRecords converts the client's bad rows and adds their keys.
func badRecords(bad []omnichat.BadRecord, keys []string) ([]store.BadRecord, []string) {
	out := make([]store.BadRecord, len(bad))
	for i, b := range bad {
		out[i] = store.BadRecord{Raw: b.Raw, Reason: b.Reason}
		sum := sha256.Sum256(b.Raw)
		keys = append(keys, "bad\x00"+string(sum[:]))
	}
	return out, keys
}

// attributeJSON is one custom attribute as omnichat_contacts.custom_attributes stores it.
type attributeJSON struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Type        string `json:"type"`
	DisplayName string `json:"displayName"`
}

// contactsPage converts a page of contacts. A contact without updatedAt is
// stored with the window's start: the API matched it as updated at or
// after that time, so a later window's version still wins.
func contactsPage(pg *omnichat.ContactPage, w store.Window) *page {
	rows := make([]store.ContactRow, 0, len(pg.Contacts))
	keys := make([]string, 0, len(pg.Contacts)+len(pg.Bad))
	var bad []store.BadRecord
	for _, c := range pg.Contacts {
		attrs := make([]attributeJSON, len(c.CustomAttributes))
		for i, a := range c.CustomAttributes {
			attrs[i] = attributeJSON{Key: a.Key, Value: a.Value, Type: string(a.Type), DisplayName: a.DisplayName}
		}
		aj, err := json.Marshal(attrs)
		if err != nil { // strings only; cannot fail, but never lose the row silently
			bad = append(bad, store.BadRecord{Raw: c.Raw, Reason: "encode customAttributes: " + err.Error()})
			continue
		}
		updated := c.UpdatedAt
		if updated.IsZero() {
			updated = w.Start
		}
		rows = append(rows, store.ContactRow{
			Platform: string(c.Platform), ChannelID: c.ChannelID, UserID: c.ID,
			Name: c.Name, Email: c.Email, Phone: c.Phone, MemberID: c.MemberID, Note: c.Note,
			Subscribed: c.Status, SubscribedAt: c.SubscribedAt, UnsubscribedAt: c.UnsubscribedAt,
			LastMessageAt: c.LastMessageTime, Tags: c.Tags, CustomAttributes: aj, UpdatedAt: updated,
			Raw: rawOf(c.Raw, c),
		})
		keys = append(keys, string(c.Platform)+"\x00"+c.ChannelID+"\x00"+c.ID)
	}
	b, keys := badRecords(pg.Bad, keys)
	bad = append(bad, b...)
	return &page{
		total: pg.TotalElements, received: len(pg.Contacts) + len(pg.Bad), keys: keys,
		write: func(ctx context.Context, st *store.Store, m store.PageMeta) (store.PageResult, error) {
			return st.WriteContactsPage(ctx, m, rows, bad)
		},
	}
}

// messagesPage converts a page of messages; a message without a channel
// takes its scope's platform and channel.
func messagesPage(pg *omnichat.MessagePage, sc scope) *page {
	rows := make([]store.MessageRow, 0, len(pg.Messages))
	keys := make([]string, 0, len(pg.Messages)+len(pg.Bad))
	for _, m := range pg.Messages {
		plat, ch := m.Platform, m.ChannelID
		if plat == "" {
			plat = sc.platform
		}
		if ch == "" {
			ch = sc.channelID
		}
		rows = append(rows, store.MessageRow{
			ID: m.ID, Platform: string(plat), ChannelID: ch, RoomID: m.RoomID, CustomerUserID: m.CustomerUserID,
			SenderType: m.SenderType, SenderName: m.SenderName, SenderUserID: m.SenderUserID, SentAt: m.Time,
			MessageType: m.MessageType, MessageStatus: m.MessageStatus, Message: m.Message, MediaURL: m.MediaURL,
			Raw: rawOf(m.Raw, m),
		})
		keys = append(keys, m.ID)
	}
	bad, keys := badRecords(pg.Bad, keys)
	return &page{
		total: pg.TotalElements, received: len(pg.Messages) + len(pg.Bad), keys: keys,
		write: func(ctx context.Context, st *store.Store, m store.PageMeta) (store.PageResult, error) {
			return st.WriteMessagesPage(ctx, m, rows, bad)
		},
	}
}

// taggingLogsPage converts a page of tagging logs.
func taggingLogsPage(pg *omnichat.TaggingLogPage) *page {
	rows := make([]store.TaggingLogRow, 0, len(pg.TaggingLogs))
	keys := make([]string, 0, len(pg.TaggingLogs)+len(pg.Bad))
	for _, l := range pg.TaggingLogs {
		rows = append(rows, store.TaggingLogRow{
			Platform: string(l.Platform), ChannelID: l.ChannelID, UserID: l.UserID, Tag: l.Tag, TaggedAt: l.Time,
			TimeRaw: l.TimeRaw, Source: l.Source, MessageID: l.MessageID, Raw: rawOf(l.Raw, l),
		})
		keys = append(keys, strings.Join([]string{string(l.Platform), l.ChannelID, l.UserID, l.Tag,
			l.Time.UTC().Format(time.RFC3339Nano), l.MessageID}, "\x00"))
	}
	bad, keys := badRecords(pg.Bad, keys)
	return &page{
		total: pg.TotalElements, received: len(pg.TaggingLogs) + len(pg.Bad), keys: keys,
		write: func(ctx context.Context, st *store.Store, m store.PageMeta) (store.PageResult, error) {
			return st.WriteTaggingLogsPage(ctx, m, rows, bad)
		},
	}
}

// rawOf returns the row's raw JSON, or v encoded when the client kept none.
func rawOf(raw json.RawMessage, v any) []byte {
	if len(raw) > 0 {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("{}")
	}
	return b
}
