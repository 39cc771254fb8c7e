package omnichattest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"crmsync/clients/omnichat"
	"crmsync/contact"
)

// Stream names one kind of row the server holds.
type Stream string

// The streams the server serves.
const (
	StreamChannels    Stream = "channels"     // GET /v1/channels
	StreamContacts    Stream = "contacts"     // GET /v1/contacts
	StreamTaggingLogs Stream = "tagging_logs" // GET /v1/tagging-logs/records
	StreamMessages    Stream = "messages"     // GET /v1/messages
)

// RawRow is a row served verbatim, so fixtures can hold malformed data. The
// other fields say where the server files it, since the JSON may not.
type RawRow struct {
	JSON      json.RawMessage // served as is
	At        time.Time       // the window time: updatedAt, tagging time or message time
	Platform  string          // for the platform filter (contacts, messages)
	ChannelID string          // for the channelId filter
	ID        string          // a row with the same non-empty ID replaces the earlier one
	UserID    string          // contacts: for the userId filter (default ID's user part)
}

// row is one stored row.
type row struct {
	at        int64 // epoch ms
	platform  string
	channelID string
	id        string // dedupe key, "" for none
	userID    string
	seq       int64 // insertion order, the last tie-breaker
	raw       []byte
}

// table holds one stream's static rows, sorted lazily by (at, id, seq).
type table struct {
	rows   []*row
	byID   map[string]*row
	sorted bool
	seq    int64
}

// put adds r, replacing the row with the same non-empty id.
func (t *table) put(r row) {
	if t.byID == nil {
		t.byID = map[string]*row{}
	}
	if r.id != "" {
		if old, ok := t.byID[r.id]; ok {
			r.seq = old.seq
			*old = r
			t.sorted = false
			return
		}
	}
	t.seq++
	r.seq = t.seq
	p := &r
	t.rows = append(t.rows, p)
	if r.id != "" {
		t.byID[r.id] = p
	}
	t.sorted = false
}

// sortRows orders the rows by (at, id, seq) if needed.
func (t *table) sortRows() {
	if t.sorted {
		return
	}
	slices.SortFunc(t.rows, func(a, b *row) int {
		switch {
		case a.at != b.at:
			return cmpInt(a.at, b.at)
		case a.id != b.id:
			return strings.Compare(a.id, b.id)
		}
		return cmpInt(a.seq, b.seq)
	})
	t.sorted = true
}

// cmpInt compares two int64.
func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// filter selects rows for one request.
type filter struct {
	after, before int64 // [after, before); before 0 = no upper bound
	windowed      bool
	platform      string // "" = any
	channelID     string // "" = any
	userID        string // "" = any
}

// match reports whether r passes f's non-window conditions.
func (f filter) match(r *row) bool {
	return (f.platform == "" || samePlatform(r.platform, f.platform)) &&
		(f.channelID == "" || r.channelID == f.channelID) &&
		(f.userID == "" || r.userID == f.userID)
}

// samePlatform compares platform names as the API does ("website" is webchat).
func samePlatform(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "website" {
			return "webchat"
		}
		return s
	}
	return norm(a) == norm(b)
}

// window returns the rows matching f, in order.
func (t *table) window(f filter) []*row {
	t.sortRows()
	rows := t.rows
	if f.windowed {
		lo := sort.Search(len(rows), func(i int) bool { return rows[i].at >= f.after })
		hi := sort.Search(len(rows), func(i int) bool { return rows[i].at >= f.before })
		rows = rows[lo:max(lo, hi)]
	}
	out := make([]*row, 0, len(rows))
	for _, r := range rows {
		if f.match(r) {
			out = append(out, r)
		}
	}
	return out
}

// MessageSource generates N messages on one channel, spread evenly over
// [From, To), computed on demand: message i is at From + i·(To−From)/N
// (millisecond precision). The server never holds them in memory, so a
// benchmark can serve a million.
type MessageSource struct {
	N         int
	From, To  time.Time
	Platform  contact.Platform // every generated message's channel
	ChannelID string
	// Func returns message i; it must be deterministic and safe for
	// concurrent use. The server overwrites Time, Platform and ChannelID,
	// and sets ID to "gen-<channel>-<i>" when Func leaves it empty.
	// nil means DefaultMessage.
	Func func(i int) omnichat.Message
}

// DefaultMessage is the generator used when MessageSource.Func is nil: a
// conversation of 1,000 customers, alternating customer and agent text
// messages.
func DefaultMessage(i int) omnichat.Message {
	user := fmt.Sprintf("user-%04d", i%1000)
	text := fmt.Sprintf("message %d", i)
	m := omnichat.Message{
		RoomID:         "room-" + user,
		CustomerUserID: user,
		SenderType:     "customer",
		SenderName:     "Customer " + user,
		SenderUserID:   user,
		MessageType:    "text",
		MessageStatus:  "read",
		Message:        &text,
	}
	if i%2 == 1 {
		m.SenderType, m.SenderName, m.SenderUserID = "agent", "Agent", "agent-1"
	}
	return m
}

// generator is a validated MessageSource.
type generator struct {
	src      MessageSource
	from     int64
	span     int64
	platform string
}

// at returns message i's time in epoch ms.
func (g *generator) at(i int) int64 {
	n, k := int64(g.src.N), int64(i)
	return g.from + g.span/n*k + g.span%n*k/n
}

// countLT returns how many messages are before t.
func (g *generator) countLT(t int64) int {
	return sort.Search(g.src.N, func(i int) bool { return g.at(i) >= t })
}

// message builds message i as JSON.
func (g *generator) message(i int) ([]byte, error) {
	f := g.src.Func
	if f == nil {
		f = DefaultMessage
	}
	m := f(i)
	m.Time = time.UnixMilli(g.at(i)).UTC()
	m.Platform = g.src.Platform
	m.ChannelID = g.src.ChannelID
	if m.ID == "" {
		m.ID = fmt.Sprintf("gen-%s-%d", g.src.ChannelID, i)
	}
	m.Raw = nil
	return json.Marshal(m)
}

// store is everything the server serves.
type store struct {
	channels    table
	contacts    table
	taggingLogs table
	messages    table
	gens        []*generator
}

// table returns the table of a windowed stream.
func (d *store) table(st Stream) *table {
	switch st {
	case StreamChannels:
		return &d.channels
	case StreamContacts:
		return &d.contacts
	case StreamTaggingLogs:
		return &d.taggingLogs
	case StreamMessages:
		return &d.messages
	}
	return nil
}

// ref is one row of a page: stored bytes, or a generated message to build
// outside the lock.
type ref struct {
	raw []byte
	gen *generator
	i   int
}

// bytes returns the row's JSON.
func (r ref) bytes() ([]byte, error) {
	if r.gen != nil {
		return r.gen.message(r.i)
	}
	return r.raw, nil
}

// view is one ordered source of rows in a request's window.
type view interface {
	len() int
	atOf(k int) int64
	countLT(t int64) int
	ref(k int) ref
}

// rowView is a view over stored rows.
type rowView []*row

func (v rowView) len() int         { return len(v) }
func (v rowView) atOf(k int) int64 { return v[k].at }
func (v rowView) ref(k int) ref    { return ref{raw: v[k].raw} }
func (v rowView) countLT(t int64) int {
	return sort.Search(len(v), func(i int) bool { return v[i].at >= t })
}

// genView is a view over the generated messages lo..hi-1 of one source.
type genView struct {
	g      *generator
	lo, hi int
}

func (v genView) len() int         { return v.hi - v.lo }
func (v genView) atOf(k int) int64 { return v.g.at(v.lo + k) }
func (v genView) ref(k int) ref    { return ref{gen: v.g, i: v.lo + k} }
func (v genView) countLT(t int64) int {
	return min(max(v.g.countLT(t)-v.lo, 0), v.len())
}

// views returns the sources of a request, stored rows first, then each
// generator in the order it was added (for messages).
func (d *store) views(st Stream, f filter) []view {
	vs := []view{rowView(d.table(st).window(f))}
	if st != StreamMessages {
		return vs
	}
	for _, g := range d.gens {
		if f.userID != "" || f.platform != "" && !samePlatform(g.platform, f.platform) ||
			f.channelID != "" && g.src.ChannelID != f.channelID {
			continue
		}
		lo, hi := 0, g.src.N
		if f.windowed {
			lo, hi = g.countLT(f.after), g.countLT(f.before)
		}
		if hi > lo {
			vs = append(vs, genView{g: g, lo: lo, hi: max(lo, hi)})
		}
	}
	return vs
}

// total returns how many rows the views hold together.
func total(vs []view) int {
	n := 0
	for _, v := range vs {
		n += v.len()
	}
	return n
}

// selectPage returns rows offset..offset+size-1 of the views merged by
// (time, view, position), without walking the rows before offset.
func selectPage(vs []view, offset, size int) []ref {
	if offset >= total(vs) || size <= 0 {
		return nil
	}
	countLT := func(t int64) int {
		n := 0
		for _, v := range vs {
			n += v.countLT(t)
		}
		return n
	}
	// The row at rank offset has the smallest time T with countLT(T+1) > offset.
	lo, hi := int64(1<<62), int64(-1<<62)
	for _, v := range vs {
		if v.len() > 0 {
			lo, hi = min(lo, v.atOf(0)), max(hi, v.atOf(v.len()-1))
		}
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if countLT(mid+1) > offset {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	pos := make([]int, len(vs))
	skip := offset
	for i, v := range vs {
		pos[i] = v.countLT(lo)
		skip -= pos[i]
	}
	for i, v := range vs { // skip rows at time T, view by view
		eq := v.countLT(lo+1) - pos[i]
		d := min(eq, skip)
		pos[i] += d
		skip -= d
	}
	out := make([]ref, 0, size)
	for len(out) < size {
		best := -1
		for i, v := range vs {
			if pos[i] < v.len() && (best < 0 || v.atOf(pos[i]) < vs[best].atOf(pos[best])) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		out = append(out, vs[best].ref(pos[best]))
		pos[best]++
	}
	return out
}
