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

// TaggingLogsService reads tagging-log records.
type TaggingLogsService service

// TaggingLog is one tagging event: a tag added to a contact.
type TaggingLog struct {
	Time      time.Time        // TimeRaw read in Config.Location
	TimeRaw   string           // as sent, without a zone: "2023-01-03T12:32:12"
	Platform  contact.Platform // normalised ("website" → webchat)
	ChannelID string
	UserID    string
	Tag       string
	Source    string // lower-cased ("Bot" → "bot")
	MessageID string // "" when absent
	Raw       json.RawMessage
}

// TaggingLogListOptions selects one page of tagging logs.
type TaggingLogListOptions struct {
	TaggedAfter  time.Time // inclusive, required by the API
	TaggedBefore time.Time // exclusive, required by the API; at most MaxWindow after TaggedAfter
	Page         int       // 1-based; 0 means 1
	PageSize     int       // 0 means DefaultPageSize (20); the API refuses more than MaxPageSize (100)
}

// TaggingLogPage is one page of tagging logs.
type TaggingLogPage struct {
	TaggingLogs   []TaggingLog
	Bad           []BadRecord
	TotalElements int
}

// taggingLogWire is TaggingLog as the API spells it.
type taggingLogWire struct {
	Time      flexString `json:"time"`
	Platform  flexString `json:"platform"`
	ChannelID flexString `json:"channelId"`
	UserID    flexString `json:"userId"`
	Tag       flexString `json:"tag"`
	Source    flexString `json:"source"`
	MessageID flexString `json:"messageId"`
}

// taggingTimeLayouts are the accepted forms of a tagging-log time; the
// documented one has no zone and no fraction.
var taggingTimeLayouts = []string{
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999999",
}

// TaggingTimeLayout is the documented wire form of a tagging-log time.
const TaggingTimeLayout = "2006-01-02T15:04:05"

// ParseTaggingTime reads a tagging-log time. A zone-less value (the
// documented form) is read in loc; a value carrying an RFC 3339 zone keeps
// it. Years outside 1970..9999 are refused.
func ParseTaggingTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("missing time")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		for _, layout := range taggingTimeLayouts {
			if t, err = time.ParseInLocation(layout, s, loc); err == nil {
				break
			}
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("want YYYY-MM-DDThh:mm:ss, got %q", truncate(s, maxValueText))
	}
	if ms := t.UnixMilli(); ms <= 0 || ms > maxMillis {
		return time.Time{}, fmt.Errorf("out of range (1970 to 9999), got %q", s)
	}
	return t, nil
}

// DecodeTaggingLog decodes and validates one tagging-log row, reading its
// zone-less time in loc (nil means UTC). time, platform, channelId, userId
// and tag are required.
func DecodeTaggingLog(raw json.RawMessage, loc *time.Location) (TaggingLog, error) {
	if loc == nil {
		loc = time.UTC
	}
	if err := requireObject(raw); err != nil {
		return TaggingLog{}, err
	}
	var w taggingLogWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return TaggingLog{}, decodeReason(raw, err)
	}
	l := TaggingLog{
		TimeRaw:   string(w.Time),
		Platform:  ParsePlatform(string(w.Platform)),
		ChannelID: trim(w.ChannelID),
		UserID:    trim(w.UserID),
		Tag:       trim(w.Tag),
		Source:    strings.ToLower(trim(w.Source)),
		MessageID: trim(w.MessageID),
		Raw:       raw,
	}
	switch {
	case l.Platform == "":
		return TaggingLog{}, missing(raw, "platform")
	case l.ChannelID == "":
		return TaggingLog{}, missing(raw, "channelId")
	case l.UserID == "":
		return TaggingLog{}, missing(raw, "userId")
	case l.Tag == "":
		return TaggingLog{}, missing(raw, "tag")
	}
	if strings.TrimSpace(l.TimeRaw) == "" {
		return TaggingLog{}, missing(raw, "time")
	}
	t, err := ParseTaggingTime(l.TimeRaw, loc)
	if err != nil {
		return TaggingLog{}, fmt.Errorf("time: %w", err)
	}
	l.Time = t
	return l, nil
}

// MarshalJSON encodes l as the API does: TimeRaw when set, else Time
// formatted without a zone in Time's own location.
func (l TaggingLog) MarshalJSON() ([]byte, error) {
	ts := l.TimeRaw
	if ts == "" && !l.Time.IsZero() {
		ts = l.Time.Format(TaggingTimeLayout)
	}
	return json.Marshal(struct {
		Time      string `json:"time"`
		Platform  string `json:"platform"`
		ChannelID string `json:"channelId"`
		UserID    string `json:"userId"`
		Tag       string `json:"tag"`
		Source    string `json:"source"`
		MessageID string `json:"messageId,omitempty"`
	}{ts, string(l.Platform), l.ChannelID, l.UserID, l.Tag, l.Source, l.MessageID})
}

// List returns one page of tagging logs recorded in [TaggedAfter, TaggedBefore).
//
// Omnichat docs: GET /v1/tagging-logs/records ("Tag | Get tagging log records").
func (s *TaggingLogsService) List(ctx context.Context, opts TaggingLogListOptions) (*TaggingLogPage, error) {
	p, _, err := s.list(ctx, opts)
	return p, err
}

// list fetches one page and reports what the paging loop needs.
func (s *TaggingLogsService) list(ctx context.Context, opts TaggingLogListOptions) (*TaggingLogPage, pageInfo, error) {
	q := url.Values{}
	setWindow(q, "taggedAfter", opts.TaggedAfter, "taggedBefore", opts.TaggedBefore)
	setPage(q, opts.Page, opts.PageSize)

	var env envelope
	if err := s.c.get(ctx, "/v1/tagging-logs/records", q, &env); err != nil {
		return nil, pageInfo{}, fmt.Errorf("list omnichat tagging logs page %d: %w", max(opts.Page, 1), err)
	}
	loc := s.c.loc
	good, bad := decodeRows(env.Content, func(raw json.RawMessage) (TaggingLog, error) { return DecodeTaggingLog(raw, loc) })
	return &TaggingLogPage{TaggingLogs: good, Bad: bad, TotalElements: env.total()}, env.info(), nil
}

// Pages returns every page from opts.Page (default 1) on, bad rows
// included; see ContactsService.Pages for when it stops.
func (s *TaggingLogsService) Pages(ctx context.Context, opts TaggingLogListOptions) iter.Seq2[*TaggingLogPage, error] {
	return pages(ctx, opts.Page, opts.PageSize, func(ctx context.Context, page, size int) (*TaggingLogPage, pageInfo, error) {
		o := opts
		o.Page, o.PageSize = page, size
		return s.list(ctx, o)
	})
}

// All returns every good tagging log of every page. Bad rows are skipped:
// use Pages or List to record them.
func (s *TaggingLogsService) All(ctx context.Context, opts TaggingLogListOptions) iter.Seq2[TaggingLog, error] {
	return items(s.Pages(ctx, opts), func(p *TaggingLogPage) []TaggingLog { return p.TaggingLogs })
}

// truncate cuts s to at most n runes, for error messages.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
