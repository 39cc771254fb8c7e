package omnichattest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"crmsync/clients/omnichat"
	"crmsync/contact"
)

// invalid is the vendor's error code for a refused request parameter.
const invalid = "INVALID_REQUEST_PARAMETERS"

// windowTooLong is the vendor's documented message for a window over 7 days.
const windowTooLong = "The date range between after and before cannot exceed 7 days."

// queryPlatforms are the platform values the API documents for query parameters.
var queryPlatforms = []string{"line", "facebook", "whatsapp", "instagram", "wechat", "webchat"}

// badRequest is a refused parameter, answered with 400.
type badRequest struct{ msg string }

// Error implements error.
func (e *badRequest) Error() string { return e.msg }

// refuse builds a badRequest.
func refuse(format string, args ...any) error { return &badRequest{msg: fmt.Sprintf(format, args...)} }

// handleChannels serves GET /v1/channels: a plain array of the LINE and
// webchat channels (all of them with Options.ListEveryPlatform).
func (s *Server) handleChannels(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	rows := slices.Clone(s.data.channels.rows)
	s.mu.Unlock()
	slices.SortFunc(rows, func(a, b *row) int { return cmpInt(a.seq, b.seq) })
	var buf bytes.Buffer
	buf.WriteByte('[')
	n := 0
	for _, r := range rows {
		if !s.opts.ListEveryPlatform && !slices.ContainsFunc(listedPlatforms, func(p string) bool { return samePlatform(p, r.platform) }) {
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		buf.Write(r.raw)
	}
	buf.WriteByte(']')
	writeJSON(w, buf.Bytes())
}

// handleContacts serves GET /v1/contacts.
func (s *Server) handleContacts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := filter{channelID: q.Get("channelId"), userID: q.Get("userId")}
	var err error
	if f.platform, err = platformParam(q); err == nil {
		err = windowParams(q, "updatedAfter", "updatedBefore", f.userID == "", &f)
	}
	s.serveWindow(w, StreamContacts, q, f, err)
}

// handleTaggingLogs serves GET /v1/tagging-logs/records.
func (s *Server) handleTaggingLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f filter
	err := windowParams(q, "taggedAfter", "taggedBefore", true, &f)
	s.serveWindow(w, StreamTaggingLogs, q, f, err)
}

// handleMessages serves GET /v1/messages.
func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := filter{channelID: q.Get("channelId")}
	var err error
	if f.platform, err = platformParam(q); err == nil {
		err = windowParams(q, "after", "before", true, &f)
	}
	s.serveWindow(w, StreamMessages, q, f, err)
}

// serveWindow validates paging, then answers one page of stream's rows
// matching f as {"content": [...], "totalElements": N}. err is a parameter
// error found by the caller.
func (s *Server) serveWindow(w http.ResponseWriter, stream Stream, q url.Values, f filter, err error) {
	var page, size int
	if err == nil {
		page, size, err = pageParams(q)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, invalid, err.Error())
		return
	}

	served := size
	if stream == StreamTaggingLogs && s.opts.TaggingLogPageCap > 0 {
		served = min(size, s.opts.TaggingLogPageCap) // silently: the page is simply short
	}
	s.mu.Lock()
	vs := s.data.views(stream, f)
	n := total(vs)
	refs := selectPage(vs, (page-1)*size, served)
	s.applyDrift(stream, page, f)
	s.mu.Unlock()

	var buf bytes.Buffer
	buf.WriteString(`{"content":[`)
	for i, ref := range refs {
		b, err := ref.bytes()
		if err != nil {
			writeError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "generate row: "+err.Error())
			return
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
	}
	fmt.Fprintf(&buf, `],"totalElements":%d}`, n)
	writeJSON(w, buf.Bytes())
}

// writeJSON writes a 200 JSON body.
func writeJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// pageParams reads page (default 1) and pageSize (default 20, at most 100).
func pageParams(q url.Values) (page, size int, err error) {
	page, size = 1, defaultPageSize
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 || page > 1<<31 {
			return 0, 0, refuse("page must be a positive integer.")
		}
	}
	if v := q.Get("pageSize"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > maxPageSize {
			return 0, 0, refuse("pageSize must be an integer between 1 and %d.", maxPageSize)
		}
	}
	return page, size, nil
}

// platformParam reads the required platform parameter.
func platformParam(q url.Values) (string, error) {
	p := q.Get("platform")
	if p == "" {
		return "", refuse("platform is required.")
	}
	if !slices.Contains(queryPlatforms, p) {
		return "", refuse("platform must be one of %s.", strings.Join(queryPlatforms, ", "))
	}
	return p, nil
}

// windowParams reads an [after, before) pair of epoch-ms parameters into f.
// Both are required when required is set, or when either is given; the range
// may not exceed 7 days.
func windowParams(q url.Values, afterKey, beforeKey string, required bool, f *filter) error {
	av, bv := q.Get(afterKey), q.Get(beforeKey)
	if av == "" && bv == "" && !required {
		return nil
	}
	if av == "" || bv == "" {
		return refuse("%s and %s are required.", afterKey, beforeKey)
	}
	after, err1 := strconv.ParseInt(av, 10, 64)
	before, err2 := strconv.ParseInt(bv, 10, 64)
	if err1 != nil || err2 != nil || after < 0 || before < 0 {
		return refuse("%s and %s must be unix timestamps in milliseconds.", afterKey, beforeKey)
	}
	if after > before {
		return refuse("%s must not be later than %s.", afterKey, beforeKey)
	}
	if before-after > maxWindowMillis {
		return refuse(windowTooLong)
	}
	f.after, f.before, f.windowed = after, before, true
	return nil
}

// drift is one armed drift injection.
type drift struct {
	stream    Stream
	afterPage int
	rows      int
}

// Drift makes the server, right after it serves page afterPage of stream
// (once), insert rows new rows at the very start of the window being paged,
// as live data does: every later page shifts, so offset paging sees some
// rows twice and never sees the new ones, and totalElements grows. The rows
// take the request's platform and channel (else "line" and "drift") and ids
// "drift-N".
func (s *Server) Drift(stream Stream, afterPage, rows int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drifts = append(s.drifts, drift{stream: stream, afterPage: afterPage, rows: rows})
}

// applyDrift inserts the rows of the first drift armed for this page; s.mu
// must be held.
func (s *Server) applyDrift(stream Stream, page int, f filter) {
	i := slices.IndexFunc(s.drifts, func(d drift) bool { return d.stream == stream && d.afterPage == page })
	if i < 0 {
		return
	}
	d := s.drifts[i]
	s.drifts = slices.Delete(s.drifts, i, i+1)

	platform, channel := contact.Platform(f.platform), f.channelID
	if platform == "" {
		platform = contact.LINE
	}
	if channel == "" {
		channel = "drift"
	}
	at := time.UnixMilli(f.after).UTC()
	for range d.rows {
		s.driftSeq++
		id := fmt.Sprintf("drift-%d", s.driftSeq)
		switch stream {
		case StreamContacts:
			user := id
			if f.userID != "" {
				user = f.userID
			}
			s.putContact(omnichat.Contact{Platform: platform, ChannelID: channel, ID: user, Name: "Drift " + id, UpdatedAt: at, Status: true})
		case StreamMessages:
			text := "drift"
			s.putMessage(omnichat.Message{
				Platform: platform, ChannelID: channel, ID: id, Time: at, RoomID: "room-" + id, CustomerUserID: id,
				SenderType: "customer", SenderName: "Drift", SenderUserID: id, MessageType: "text", MessageStatus: "read", Message: &text,
			})
		case StreamTaggingLogs:
			s.putTaggingLog(omnichat.TaggingLog{Time: at.In(s.opts.Location), Platform: platform, ChannelID: channel, UserID: id, Tag: "drift", Source: "bot"})
		}
	}
}
