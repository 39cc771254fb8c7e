package omnichattest

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"crmsync/clients/omnichat"
)

//go:embed testdata/*.json
var fixtures embed.FS

// Fixture returns one of the example payloads from the vendor's collection
// kept in testdata ("contacts_line.json", "messages_whatsapp.json",
// "tagging_logs.json", "channels.json", ...). It returns nil for an unknown name.
func Fixture(name string) []byte {
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		return nil
	}
	return b
}

// SeedFixture adds the rows of a testdata fixture to stream (see SeedJSON).
// A fixture is either a page {"content": [...]} or a plain array.
func (s *Server) SeedFixture(stream Stream, name string) error {
	b := Fixture(name)
	if b == nil {
		return fmt.Errorf("seed fixture %s: no such fixture", name)
	}
	rows, err := splitRows(b)
	if err != nil {
		return fmt.Errorf("seed fixture %s: %w", name, err)
	}
	return s.SeedJSON(stream, rows...)
}

// splitRows returns the rows of a page {"content": [...]} or a plain array.
func splitRows(b []byte) ([]json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	var rows []json.RawMessage
	if len(b) > 0 && b[0] == '[' {
		err := json.Unmarshal(b, &rows)
		return rows, err
	}
	var page struct {
		Content []json.RawMessage `json:"content"`
	}
	err := json.Unmarshal(b, &page)
	return page.Content, err
}

// SeedChannels adds channels; a channel with the same platform and id
// replaces the earlier one.
func (s *Server) SeedChannels(cs ...omnichat.Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		raw, _ := json.Marshal(c) // a struct of strings cannot fail
		s.data.channels.put(row{platform: string(c.Platform), channelID: c.ChannelID, id: string(c.Platform) + "|" + c.ChannelID, raw: raw})
	}
}

// SeedContacts adds contacts, filed by UpdatedAt; a contact with the same
// platform, channel and id replaces the earlier one (latest version wins).
func (s *Server) SeedContacts(cs ...omnichat.Contact) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		s.putContact(c)
	}
}

// putContact files one contact; s.mu must be held.
func (s *Server) putContact(c omnichat.Contact) {
	raw, _ := json.Marshal(c) // built from plain fields; cannot fail
	s.data.contacts.put(row{
		at:        c.UpdatedAt.UnixMilli(),
		platform:  string(c.Platform),
		channelID: c.ChannelID,
		id:        contactKey(string(c.Platform), c.ChannelID, c.ID),
		userID:    c.ID,
		raw:       raw,
	})
}

// contactKey is the identity of a contact row.
func contactKey(platform, channelID, id string) string {
	return strings.ToLower(platform) + "|" + channelID + "|" + id
}

// SeedTaggingLogs adds tagging logs. Each is served with TimeRaw, or with
// Time written without a zone in Options.Location when TimeRaw is empty, and
// filed by the instant that string means in Options.Location. Tagging logs
// are never deduplicated.
func (s *Server) SeedTaggingLogs(ls ...omnichat.TaggingLog) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range ls {
		s.putTaggingLog(l)
	}
}

// putTaggingLog files one tagging log; s.mu must be held. A zero TimeRaw is
// filled from Time written in Options.Location, as the vendor writes it, and
// the row is filed by the instant its string means there.
func (s *Server) putTaggingLog(l omnichat.TaggingLog) {
	if l.TimeRaw == "" && !l.Time.IsZero() {
		l.TimeRaw = l.Time.In(s.opts.Location).Format("2006-01-02T15:04:05")
	}
	at := l.Time.UnixMilli()
	if t, err := s.parseTaggingTime(l.TimeRaw); err == nil {
		at = t.UnixMilli()
	}
	raw, _ := json.Marshal(l)
	s.data.taggingLogs.put(row{at: at, platform: string(l.Platform), channelID: l.ChannelID, userID: l.UserID, raw: raw})
}

// SeedMessages adds messages, filed by Time; a message with the same id
// replaces the earlier one.
func (s *Server) SeedMessages(ms ...omnichat.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		s.putMessage(m)
	}
}

// putMessage files one message; s.mu must be held.
func (s *Server) putMessage(m omnichat.Message) {
	raw, _ := json.Marshal(m)
	s.data.messages.put(row{at: m.Time.UnixMilli(), platform: string(m.Platform), channelID: m.ChannelID, id: m.ID, userID: m.CustomerUserID, raw: raw})
}

// SeedMessageSource adds a generated message source (see MessageSource).
func (s *Server) SeedMessageSource(src MessageSource) error {
	switch {
	case src.N <= 0:
		return errors.New("seed message source: N must be positive")
	case !src.To.After(src.From):
		return errors.New("seed message source: To must be after From")
	case src.Platform == "" || src.ChannelID == "":
		return errors.New("seed message source: Platform and ChannelID are required")
	}
	g := &generator{src: src, from: src.From.UnixMilli(), span: src.To.UnixMilli() - src.From.UnixMilli(), platform: string(src.Platform)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.gens = append(s.data.gens, g)
	return nil
}

// SeedRaw adds rows served verbatim, filed as each RawRow says.
func (s *Server) SeedRaw(stream Stream, rows ...RawRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.data.table(stream)
	if t == nil {
		return fmt.Errorf("seed raw: unknown stream %q", stream)
	}
	for _, r := range rows {
		user := r.UserID
		if user == "" {
			user = r.ID
		}
		t.put(row{
			at:        r.At.UnixMilli(),
			platform:  r.Platform,
			channelID: r.ChannelID,
			id:        r.ID,
			userID:    user,
			raw:       append([]byte(nil), r.JSON...),
		})
	}
	return nil
}

// SeedJSON adds rows given as raw JSON (which may be malformed in ways the
// client must tolerate), filing each by what it can read from it: for
// contacts updatedAt (else lastMessageTime), channel and id; for messages
// time, channel and id; for tagging logs the time read in Options.Location;
// channels need nothing. A row whose window time cannot be read is an error:
// file it with SeedRaw instead. Nothing is added when an error is returned.
func (s *Server) SeedJSON(stream Stream, rows ...json.RawMessage) error {
	out := make([]RawRow, 0, len(rows))
	for i, raw := range rows {
		r, err := s.fileJSON(stream, raw)
		if err != nil {
			return fmt.Errorf("seed %s json row %d: %w", stream, i, err)
		}
		out = append(out, r)
	}
	return s.SeedRaw(stream, out...)
}

// loose is a row read leniently to file it.
type loose struct {
	Channel *struct {
		Platform  any `json:"platform"`
		ChannelID any `json:"channelId"`
	} `json:"channel"`
	Platform        any `json:"platform"`
	ChannelID       any `json:"channelId"`
	ID              any `json:"id"`
	UserID          any `json:"userId"`
	CustomerUserID  any `json:"customerUserId"`
	UpdatedAt       any `json:"updatedAt"`
	LastMessageTime any `json:"lastMessageTime"`
	Time            any `json:"time"`
}

// fileJSON works out where a raw row belongs.
func (s *Server) fileJSON(stream Stream, raw json.RawMessage) (RawRow, error) {
	r := RawRow{JSON: raw}
	var l loose
	if err := json.Unmarshal(raw, &l); err != nil {
		if stream == StreamChannels {
			return r, nil
		}
		return r, fmt.Errorf("not an object: %w", err)
	}
	if l.Channel != nil {
		r.Platform, r.ChannelID = text(l.Channel.Platform), text(l.Channel.ChannelID)
	} else {
		r.Platform, r.ChannelID = text(l.Platform), text(l.ChannelID)
	}
	switch stream {
	case StreamChannels:
		r.ID = strings.ToLower(r.Platform) + "|" + r.ChannelID
	case StreamContacts:
		ms, ok := epochMillis(l.UpdatedAt)
		if !ok {
			ms, ok = epochMillis(l.LastMessageTime)
		}
		if !ok {
			return r, errors.New("no usable updatedAt or lastMessageTime")
		}
		r.At = time.UnixMilli(ms)
		if id := text(l.ID); id != "" {
			r.ID, r.UserID = contactKey(r.Platform, r.ChannelID, id), id
		}
	case StreamMessages:
		ms, ok := epochMillis(l.Time)
		if !ok {
			return r, errors.New("no usable time")
		}
		r.At, r.ID, r.UserID = time.UnixMilli(ms), text(l.ID), text(l.CustomerUserID)
	case StreamTaggingLogs:
		t, err := s.parseTaggingTime(text(l.Time))
		if err != nil {
			return r, err
		}
		r.At, r.UserID = t, text(l.UserID)
	default:
		return r, fmt.Errorf("unknown stream %q", stream)
	}
	return r, nil
}

// text returns a loosely decoded scalar as text.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// epochMillis reads a positive epoch-ms number or numeric string.
func epochMillis(v any) (int64, bool) {
	switch v := v.(type) {
	case float64:
		return int64(v), v > 0
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil && n > 0
	}
	return 0, false
}

// parseTaggingTime reads the vendor's zone-less tagging time
// ("2023-01-03T12:32:12") in Options.Location.
func (s *Server) parseTaggingTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", v, s.opts.Location)
	if err != nil {
		return time.Time{}, fmt.Errorf("tagging time %q: want YYYY-MM-DDThh:mm:ss", v)
	}
	return t, nil
}

// Len returns how many rows a stream holds, generated messages included.
func (s *Server) Len(stream Stream) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.data.table(stream)
	if t == nil {
		return 0
	}
	n := len(t.rows)
	if stream == StreamMessages {
		for _, g := range s.data.gens {
			n += g.src.N
		}
	}
	return n
}
