package store

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // a dedupe key for bad records, not a security boundary
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pull streams, as sync_windows.stream and pull_errors.stream spell them.
const (
	StreamChannels    = "channels"
	StreamContacts    = "contacts"
	StreamTaggingLogs = "tagging_logs"
	StreamMessages    = "messages"
)

// PageMeta says which window a page belongs to and how it advances the
// window: its rows and the window's progress commit together.
type PageMeta struct {
	Stream   string // StreamContacts, StreamTaggingLogs or StreamMessages
	Scope    string // sync_windows.scope
	WindowID int64  // required: the sync_windows row the page advances
	RunID    int64  // the sync_runs row; 0 for none
	Page     int    // the page number written; the window's next_page becomes Page+1
	PageSize int    // the pageSize the page was asked at (sync_windows.page_size); 0 keeps the stored one
	Received int    // rows in the page, good and bad
	// TotalElements is stored on the first page of a read; -1 keeps the
	// stored value.
	TotalElements int64
}

// BadRecord is a row the API sent that cannot be stored, with the reason.
type BadRecord struct {
	Raw    []byte
	Reason string
}

// PageResult counts what writing one page changed.
type PageResult struct {
	Inserted int64 // rows new to the raw table
	Updated  int64 // existing rows that changed
	Queued   int64 // identities newly added to reconcile_queue
	Bad      int64 // bad records recorded (new or seen again), invalid rows included
	// Channels counts channels first seen in the page's rows, new to
	// omnichat_channels (not listed: their name is unknown).
	Channels int64
}

// ChannelRow is one omnichat_channels row.
type ChannelRow struct {
	Platform    string
	ChannelID   string
	ChannelName string
	Raw         []byte
}

// ContactRow is one omnichat_contacts row. Zero times are stored as NULL.
type ContactRow struct {
	Platform         string
	ChannelID        string
	UserID           string
	Name             string
	Email            string
	Phone            string
	MemberID         string
	Note             string
	Subscribed       bool
	SubscribedAt     time.Time
	UnsubscribedAt   time.Time
	LastMessageAt    time.Time
	Tags             []string
	CustomAttributes []byte // JSON array; nil means []
	UpdatedAt        time.Time
	Raw              []byte
}

// TaggingLogRow is one omnichat_tagging_logs row.
type TaggingLogRow struct {
	Platform  string
	ChannelID string
	UserID    string
	Tag       string
	TaggedAt  time.Time
	TimeRaw   string
	Source    string
	MessageID string
	Raw       []byte
}

// MessageRow is one omnichat_messages row.
type MessageRow struct {
	ID             string
	Platform       string
	ChannelID      string
	RoomID         string
	CustomerUserID string
	SenderType     string
	SenderName     string
	SenderUserID   string
	SentAt         time.Time
	MessageType    string
	MessageStatus  string
	Message        *string
	MediaURL       *string
	Raw            []byte
}

// UpsertChannels stores the channel list GET /v1/channels returned, in one
// statement: new channels are inserted and known ones get last_seen_at (and
// a changed name or raw) updated, all marked listed; every other channel is
// marked not listed (known from rows only, or no longer in the list).
func (s *Store) UpsertChannels(ctx context.Context, chans []ChannelRow) error {
	chans = pullDedupe(chans, func(c ChannelRow) string { return c.Platform + "\x00" + c.ChannelID }, pullKeepLast)
	plat, id, name, raw := []string{}, []string{}, []string{}, []string{}
	for _, c := range chans {
		plat = append(plat, c.Platform)
		id = append(id, c.ChannelID)
		name = append(name, c.ChannelName)
		raw = append(raw, pullRawOrEmpty(c.Raw))
	}
	err := s.pgxConn(ctx, func(pc *pgx.Conn) error {
		_, err := pc.Exec(ctx, `
			WITH input AS (
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(p, i, n, r)
			), up AS (
				INSERT INTO omnichat_channels AS c (platform, channel_id, channel_name, raw, listed)
				SELECT p, i, n, r::jsonb, true FROM input
				ON CONFLICT (platform, channel_id) DO UPDATE SET
					channel_name = excluded.channel_name, raw = excluded.raw, listed = true, last_seen_at = now()
				RETURNING 1
			)
			UPDATE omnichat_channels c SET listed = false
			WHERE c.listed AND NOT EXISTS (SELECT 1 FROM input i WHERE i.p = c.platform AND i.i = c.channel_id)`,
			plat, id, name, raw)
		return err
	})
	if err != nil {
		return fmt.Errorf("upsert omnichat channels: %w", err)
	}
	return nil
}

// ListedChannels returns the channels the latest stored GET /v1/channels
// listed, ordered by platform and id: what a pull uses when the list cannot
// be had.
func (s *Store) ListedChannels(ctx context.Context) ([]ChannelRow, error) {
	var rows []ChannelRow
	err := s.db.WithContext(ctx).Raw(`SELECT platform, channel_id, channel_name, raw::text AS raw FROM omnichat_channels
		WHERE listed ORDER BY platform, channel_id`).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("listed omnichat channels: %w", err)
	}
	return rows, nil
}

// WriteContactsPage writes one page of contacts, its bad records and its
// window's progress in one statement (so in one transaction). A stored
// contact is replaced only by a newer updatedAt, or by the same updatedAt
// with different raw JSON; re-reading the same data changes nothing.
// Identities of inserted or changed contacts are queued for reconcile.
func (s *Store) WriteContactsPage(ctx context.Context, m PageMeta, rows []ContactRow, bad []BadRecord) (PageResult, error) {
	rows, bad = pullSplitInvalid(rows, func(r ContactRow) []byte { return r.Raw }, bad)
	// Latest updatedAt wins within the page too; ties go to the later row.
	rows = pullDedupe(rows, func(r ContactRow) string { return r.Platform + "\x00" + r.ChannelID + "\x00" + r.UserID },
		func(old, nu ContactRow) bool { return !nu.UpdatedAt.Before(old.UpdatedAt) })
	n := len(rows)
	var (
		plat, ch, user, name, email, phone, member, note = pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n)
		subscribed                                       = make([]bool, n)
		subAt, unsubAt, lastMsg                          = make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
		tags, attrs, raw                                 = pullStrings(n), pullStrings(n), pullStrings(n)
		updated                                          = make([]time.Time, n)
	)
	for i, r := range rows {
		plat[i], ch[i], user[i], name[i], email[i] = r.Platform, r.ChannelID, r.UserID, r.Name, r.Email
		phone[i], member[i], note[i], subscribed[i] = r.Phone, r.MemberID, r.Note, r.Subscribed
		subAt[i], unsubAt[i], lastMsg[i] = optTime(r.SubscribedAt), optTime(r.UnsubscribedAt), optTime(r.LastMessageAt)
		t := r.Tags
		if t == nil {
			t = []string{}
		}
		tj, err := json.Marshal(t)
		if err != nil {
			return PageResult{}, fmt.Errorf("write contacts page: tags: %w", err)
		}
		tags[i] = string(tj)
		attrs[i] = "[]"
		if len(r.CustomAttributes) > 0 {
			attrs[i] = string(r.CustomAttributes)
		}
		updated[i], raw[i] = r.UpdatedAt.UTC(), string(r.Raw)
	}
	args := []any{plat, ch, user, name, email, phone, member, note, subscribed, subAt, unsubAt, lastMsg, tags, attrs, updated, raw}
	return s.writePullPage(ctx, "contacts", contactsPageSQL, m, args, bad)
}

// contactsPageSQL is the page statement of WriteContactsPage.
var contactsPageSQL = `
WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::bool[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[], $13::text[], $14::text[],
		$15::timestamptz[], $16::text[])
	AS t(platform, channel_id, user_id, name, email, phone, member_id, note, subscribed, subscribed_at,
		unsubscribed_at, last_message_at, tags, custom_attributes, updated_at, raw)
), up AS (
	INSERT INTO omnichat_contacts AS c (platform, channel_id, user_id, name, email, phone, member_id, note,
		subscribed, subscribed_at, unsubscribed_at, last_message_at, tags, custom_attributes, updated_at, raw)
	SELECT platform, channel_id, user_id, name, email, phone, member_id, note, subscribed, subscribed_at,
		unsubscribed_at, last_message_at, ARRAY(SELECT jsonb_array_elements_text(tags::jsonb)),
		custom_attributes::jsonb, updated_at, raw::jsonb
	FROM input
	ON CONFLICT (platform, channel_id, user_id) DO UPDATE SET
		name = excluded.name, email = excluded.email, phone = excluded.phone, member_id = excluded.member_id,
		note = excluded.note, subscribed = excluded.subscribed, subscribed_at = excluded.subscribed_at,
		unsubscribed_at = excluded.unsubscribed_at, last_message_at = excluded.last_message_at,
		tags = excluded.tags, custom_attributes = excluded.custom_attributes, updated_at = excluded.updated_at,
		raw = excluded.raw, last_changed_at = now()
	WHERE excluded.updated_at > c.updated_at
	   OR (excluded.updated_at = c.updated_at AND excluded.raw IS DISTINCT FROM c.raw)
	RETURNING c.platform, c.channel_id, c.user_id, (c.xmax = 0) AS inserted
)` + pullPageTailSQL(17)

// WriteTaggingLogsPage writes one page of tagging logs (deduplicated by
// their natural key; a known record is left untouched), its bad records and
// its window's progress in one statement. Identities with a new record are
// queued for reconcile.
func (s *Store) WriteTaggingLogsPage(ctx context.Context, m PageMeta, rows []TaggingLogRow, bad []BadRecord) (PageResult, error) {
	rows, bad = pullSplitInvalid(rows, func(r TaggingLogRow) []byte { return r.Raw }, bad)
	rows = pullDedupe(rows, func(r TaggingLogRow) string {
		return strings.Join([]string{r.Platform, r.ChannelID, r.UserID, r.Tag, r.TaggedAt.UTC().Format(time.RFC3339Nano), r.MessageID}, "\x00")
	}, pullKeepFirst)
	n := len(rows)
	plat, ch, user, tag, timeRaw, source, msgID, raw := pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n)
	at := make([]time.Time, n)
	for i, r := range rows {
		plat[i], ch[i], user[i], tag[i], at[i] = r.Platform, r.ChannelID, r.UserID, r.Tag, r.TaggedAt.UTC()
		timeRaw[i], source[i], msgID[i], raw[i] = r.TimeRaw, r.Source, r.MessageID, string(r.Raw)
	}
	args := []any{plat, ch, user, tag, at, timeRaw, source, msgID, raw}
	return s.writePullPage(ctx, "tagging logs", taggingLogsPageSQL, m, args, bad)
}

// taggingLogsPageSQL is the page statement of WriteTaggingLogsPage.
var taggingLogsPageSQL = `
WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
		$8::text[], $9::text[])
	AS t(platform, channel_id, user_id, tag, tagged_at, time_raw, source, message_id, raw)
), up AS (
	INSERT INTO omnichat_tagging_logs AS l (platform, channel_id, user_id, tag, tagged_at, time_raw, source, message_id, raw)
	SELECT i.platform, i.channel_id, i.user_id, i.tag, i.tagged_at, i.time_raw, i.source, i.message_id, i.raw::jsonb
	FROM input i
	WHERE NOT EXISTS ( -- keeps re-reads from spending sequence values
		SELECT 1 FROM omnichat_tagging_logs x
		WHERE x.platform = i.platform AND x.channel_id = i.channel_id AND x.user_id = i.user_id
		  AND x.tag = i.tag AND x.tagged_at = i.tagged_at AND x.message_id = i.message_id)
	ON CONFLICT ON CONSTRAINT omnichat_tagging_logs_key DO NOTHING
	RETURNING l.platform, l.channel_id, l.user_id, true AS inserted
)` + pullPageTailSQL(10)

// WriteMessagesPage writes one page of messages (one row per message id; a
// known message is updated only when its raw JSON changed, e.g. its status),
// its bad records and its window's progress in one statement. The
// customers of inserted or changed messages are queued for reconcile.
func (s *Store) WriteMessagesPage(ctx context.Context, m PageMeta, rows []MessageRow, bad []BadRecord) (PageResult, error) {
	rows, bad = pullSplitInvalid(rows, func(r MessageRow) []byte { return r.Raw }, bad)
	rows = pullDedupe(rows, func(r MessageRow) string { return r.ID }, pullKeepLast)
	return s.writePullPage(ctx, "messages", messagesPageSQL, m, pullMessageArgs(rows), bad)
}

// messagesUpsertSQL is the merge of a page of messages from the CTE "input";
// the page's statement and the benchmarks' COPY variant share it.
const messagesUpsertSQL = `
up AS (
	INSERT INTO omnichat_messages AS m (id, platform, channel_id, room_id, customer_user_id, sender_type,
		sender_name, sender_user_id, sent_at, message_type, message_status, message, media_url, raw)
	SELECT id, platform, channel_id, room_id, customer_user_id, sender_type, sender_name, sender_user_id,
		sent_at, message_type, message_status, message, media_url, raw::jsonb
	FROM input
	ON CONFLICT (id) DO UPDATE SET
		platform = excluded.platform, channel_id = excluded.channel_id, room_id = excluded.room_id,
		customer_user_id = excluded.customer_user_id, sender_type = excluded.sender_type,
		sender_name = excluded.sender_name, sender_user_id = excluded.sender_user_id, sent_at = excluded.sent_at,
		message_type = excluded.message_type, message_status = excluded.message_status,
		message = excluded.message, media_url = excluded.media_url, raw = excluded.raw
	WHERE m.raw IS DISTINCT FROM excluded.raw
	RETURNING m.platform, m.channel_id, m.customer_user_id AS user_id, (m.xmax = 0) AS inserted
)`

// messagesPageSQL is the whole page statement for messages.
var messagesPageSQL = `
WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
	AS t(id, platform, channel_id, room_id, customer_user_id, sender_type, sender_name, sender_user_id,
		sent_at, message_type, message_status, message, media_url, raw)
),` + messagesUpsertSQL + pullPageTailSQL(15)

// pullMessageArgs returns the page statement's column arrays for rows.
func pullMessageArgs(rows []MessageRow) []any {
	n := len(rows)
	id, plat, ch, room, cust, stype, sname, suser := pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n)
	mtype, mstatus, raw := pullStrings(n), pullStrings(n), pullStrings(n)
	at := make([]time.Time, n)
	msg, media := make([]*string, n), make([]*string, n)
	for i, r := range rows {
		id[i], plat[i], ch[i], room[i], cust[i] = r.ID, r.Platform, r.ChannelID, r.RoomID, r.CustomerUserID
		stype[i], sname[i], suser[i], at[i] = r.SenderType, r.SenderName, r.SenderUserID, r.SentAt.UTC()
		mtype[i], mstatus[i], msg[i], media[i], raw[i] = r.MessageType, r.MessageStatus, r.Message, r.MediaURL, string(r.Raw)
	}
	return []any{id, plat, ch, room, cust, stype, sname, suser, at, mtype, mstatus, msg, media, raw}
}

// pullPageTailSQL returns the part of a page statement shared by every stream,
// its parameters numbered from p (pullTailArgs): the identities the CTE "up"
// returned go to reconcile_queue, channels first seen in the rows of "input"
// to omnichat_channels (not listed), the bad records to pull_errors, the
// window advances, and the statement answers with its counts.
func pullPageTailSQL(p int) string {
	r := strings.NewReplacer(
		"$BADRAW", fmt.Sprintf("$%d", p), "$BADHASH", fmt.Sprintf("$%d", p+1), "$BADREASON", fmt.Sprintf("$%d", p+2),
		"$STREAM", fmt.Sprintf("$%d", p+3), "$SCOPE", fmt.Sprintf("$%d", p+4), "$WINDOW", fmt.Sprintf("$%d", p+5),
		"$RUN", fmt.Sprintf("$%d", p+6), "$PAGESIZE", fmt.Sprintf("$%d", p+10), "$PAGE", fmt.Sprintf("$%d", p+7),
		"$RECEIVED", fmt.Sprintf("$%d", p+8), "$TOTAL", fmt.Sprintf("$%d", p+9),
	)
	return r.Replace(`, async AS (
	-- This transaction's commit need not wait for the WAL flush: a page lost
	-- in a crash is lost with its window progress, so it is simply read again
	-- (and the window's done mark, committed synchronously, flushes it).
	SELECT set_config('synchronous_commit', 'off', true) AS v
), q AS (
	-- An identity already waiting is stamped with this transaction again
	-- (queued_by): a reconcile run that claimed the row before this commits
	-- then leaves it for the next run (migration 00022). Only new rows count.
	INSERT INTO reconcile_queue AS rq (platform, channel_id, user_id)
	SELECT DISTINCT platform, channel_id, user_id FROM up WHERE user_id <> '' ORDER BY 1, 2, 3
	ON CONFLICT (platform, channel_id, user_id) DO UPDATE SET queued_by = EXCLUDED.queued_by
	RETURNING rq.xmax = 0 AS inserted
), ch AS (
	-- A channel first seen in a row (its platform was pulled without
	-- channelId, GET /v1/channels not listing it): known, name unknown.
	INSERT INTO omnichat_channels (platform, channel_id, channel_name, raw, listed)
	SELECT DISTINCT platform, channel_id, '', '{}'::jsonb, false FROM input
	WHERE platform <> '' AND channel_id <> '' ORDER BY 1, 2
	ON CONFLICT (platform, channel_id) DO NOTHING
	RETURNING 1
), bad AS (
	INSERT INTO pull_errors AS e (stream, scope, raw, raw_hash, reason, window_id, run_id)
	SELECT $STREAM::text, $SCOPE::text, b.raw, b.hash, b.reason, $WINDOW::bigint, $RUN::bigint
	FROM unnest($BADRAW::text[], $BADHASH::text[], $BADREASON::text[]) AS b(raw, hash, reason)
	ORDER BY b.hash
	ON CONFLICT (stream, raw_hash) DO UPDATE SET
		last_seen_at = now(), times_seen = e.times_seen + 1, reason = excluded.reason
	RETURNING 1
), w AS (
	UPDATE sync_windows SET
		pages = pages + 1, rows = rows + $RECEIVED::bigint, next_page = $PAGE::int + 1,
		page_size = COALESCE(NULLIF($PAGESIZE::int, 0), page_size),
		total_elements = COALESCE($TOTAL::bigint, total_elements),
		status = 'running', run_id = COALESCE($RUN::bigint, run_id), updated_at = now()
	WHERE id = $WINDOW::bigint AND stream = $STREAM::text
	RETURNING 1
)
SELECT (SELECT count(*) FROM up WHERE inserted), (SELECT count(*) FROM up WHERE NOT inserted),
	(SELECT count(*) FROM q WHERE inserted), (SELECT count(*) FROM bad), (SELECT count(*) FROM w WHERE (SELECT v FROM async) = 'off'),
	(SELECT count(*) FROM ch)`)
}

// pullTailArgs returns the parameters of pullPageTailSQL after the bad
// records': the window bookkeeping of m.
func pullTailArgs(m PageMeta) []any {
	return []any{m.Stream, m.Scope, m.WindowID, windowRunID(m.RunID), m.Page, m.Received, pullOptTotal(m.TotalElements), m.PageSize}
}

// writePullPage runs one page statement: args are the stream's column arrays,
// followed here by the bad records and the window bookkeeping.
func (s *Store) writePullPage(ctx context.Context, what, sql string, m PageMeta, args []any, bad []BadRecord) (PageResult, error) {
	switch m.Stream {
	case StreamContacts, StreamTaggingLogs, StreamMessages:
	default:
		return PageResult{}, fmt.Errorf("write %s page: unknown stream %q", what, m.Stream)
	}
	args = append(args, pullBadArgs(bad)...)
	args = append(args, pullTailArgs(m)...)
	var res PageResult
	var windows int64
	err := s.pgxConn(ctx, func(pc *pgx.Conn) error {
		return pc.QueryRow(ctx, sql, args...).Scan(&res.Inserted, &res.Updated, &res.Queued, &res.Bad, &windows, &res.Channels)
	})
	if err != nil {
		return PageResult{}, fmt.Errorf("write %s page %d of window %d: %w", what, m.Page, m.WindowID, err)
	}
	if windows != 1 {
		// The statement ran in one transaction; a missing window means the
		// rows were written without progress, which the next read repairs.
		return res, fmt.Errorf("write %s page %d: window %d of stream %s: %w", what, m.Page, m.WindowID, m.Stream, ErrNotFound)
	}
	return res, nil
}

// pullBadArgs returns the bad records as three arrays: raw text (made storable),
// md5 of the bytes as received, reason. Duplicates within the page are
// dropped (one statement may not update a row twice).
func pullBadArgs(bad []BadRecord) []any {
	raw, hash, reason := make([]string, 0, len(bad)), make([]string, 0, len(bad)), make([]string, 0, len(bad))
	seen := make(map[string]bool, len(bad))
	for _, b := range bad {
		sum := md5.Sum(b.Raw) //nolint:gosec // dedupe key
		h := hex.EncodeToString(sum[:])
		if seen[h] {
			continue
		}
		seen[h] = true
		raw = append(raw, pullText(b.Raw))
		hash = append(hash, h)
		reason = append(reason, pullText([]byte(b.Reason)))
	}
	return []any{raw, hash, reason}
}

// pgxConn runs f on a pooled connection's underlying *pgx.Conn (for COPY,
// array parameters, the statement cache and reconcile's transaction).
func (s *Store) pgxConn(ctx context.Context, f func(pc *pgx.Conn) error) error {
	conn, err := s.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("get a database connection: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("driver connection is %T, not pgx", dc)
		}
		return f(c.Conn())
	})
}

// pullKeepFirst and pullKeepLast are dedupe policies: whether a later duplicate
// replaces the one kept so far.
func pullKeepFirst[T any](_, _ T) bool { return false }
func pullKeepLast[T any](_, _ T) bool  { return true }

// pullDedupe drops rows with the same key (replace decides whether a
// later duplicate wins) and orders the rest by key, so concurrent writers
// lock rows in the same order and cannot deadlock.
func pullDedupe[T any](rows []T, key func(T) string, replace func(old, nu T) bool) []T {
	type kv struct {
		k string
		v T
	}
	idx := make(map[string]int, len(rows))
	out := make([]kv, 0, len(rows))
	for _, r := range rows {
		k := key(r)
		if i, ok := idx[k]; ok {
			if replace(out[i].v, r) {
				out[i].v = r
			}
			continue
		}
		idx[k] = len(out)
		out = append(out, kv{k, r})
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	res := make([]T, len(out))
	for i, e := range out {
		res[i] = e.v
	}
	return res
}

// pullSplitInvalid moves rows whose raw JSON PostgreSQL cannot store (invalid
// UTF-8, \u0000, unpaired surrogate escapes) to bad, so one such row does
// not fail its page.
func pullSplitInvalid[T any](rows []T, raw func(T) []byte, bad []BadRecord) ([]T, []BadRecord) {
	good := rows[:0:0]
	for _, r := range rows {
		if err := CheckRaw(raw(r)); err != nil {
			bad = append(bad, BadRecord{Raw: raw(r), Reason: err.Error()})
			continue
		}
		good = append(good, r)
	}
	return good, bad
}

// ErrUnstorable is the class of CheckRaw's errors.
var ErrUnstorable = errors.New("not storable in PostgreSQL")

// CheckRaw reports why raw JSON cannot be stored as jsonb: invalid JSON,
// invalid UTF-8, a \u0000 escape, or an unpaired UTF-16 surrogate escape
// (Go's decoder accepts the last three; PostgreSQL refuses them). The reason
// names the field holding the bad text and its value, like the client's:
// `message: \u0000 in JSON: not storable in PostgreSQL, got "a\x00b"`.
func CheckRaw(raw []byte) error {
	if !json.Valid(raw) {
		return fmt.Errorf("row: invalid JSON: %w", ErrUnstorable)
	}
	if !utf8.Valid(raw) {
		return pullUnstorable(raw, "invalid UTF-8", func(s string) bool { return strings.ContainsRune(s, utf8.RuneError) })
	}
	for i := 0; i < len(raw); {
		j := bytes.Index(raw[i:], []byte(`\u`))
		if j < 0 {
			break
		}
		j += i
		// An escaped backslash (\\u0000 is the text "\u0000") does not start an escape.
		bs := 0
		for k := j - 1; k >= 0 && raw[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 1 || j+6 > len(raw) {
			i = j + 2
			continue
		}
		v, ok := pullHex4(raw[j+2 : j+6])
		switch {
		case !ok:
		case v == 0:
			return pullUnstorable(raw, `\u0000 in JSON`, func(s string) bool { return strings.ContainsRune(s, 0) })
		case v >= 0xD800 && v <= 0xDBFF:
			if j+12 > len(raw) || raw[j+6] != '\\' || raw[j+7] != 'u' {
				return pullUnstorable(raw, "unpaired surrogate escape in JSON", pullHasReplacement)
			}
			lo, ok := pullHex4(raw[j+8 : j+12])
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return pullUnstorable(raw, "unpaired surrogate escape in JSON", pullHasReplacement)
			}
			i = j + 12
			continue
		case v >= 0xDC00 && v <= 0xDFFF:
			return pullUnstorable(raw, "unpaired surrogate escape in JSON", pullHasReplacement)
		}
		i = j + 6
	}
	return nil
}

// pullHasReplacement reports whether s holds U+FFFD, which Go's decoder
// puts for invalid UTF-8 and unpaired surrogates.
func pullHasReplacement(s string) bool { return strings.ContainsRune(s, utf8.RuneError) }

// pullUnstorable is CheckRaw's error: what is wrong, in the first field of
// raw whose key or text bad reports (decoded by Go), with its value.
func pullUnstorable(raw []byte, what string, bad func(string) bool) error {
	var v any
	field, value := "row", ""
	if json.Unmarshal(raw, &v) == nil {
		if f, val, ok := pullFindText(v, "", bad); ok {
			field, value = f, val
		}
	}
	if field == "row" || field == "" {
		return fmt.Errorf("row: %s: %w", what, ErrUnstorable)
	}
	if r := []rune(value); len(r) > 60 {
		value = string(r[:60]) + "…"
	}
	return fmt.Errorf("%s: %s: %w, got a string %s", strings.Trim(pullJSONText(field), `"`), what, ErrUnstorable, pullJSONText(value))
}

// pullJSONText returns s as a JSON string literal, so a NUL or a control
// character in it is written as an escape, never as itself; U+FFFD (what
// invalid UTF-8 and lone surrogates decode to) is written \ufffd too.
func pullJSONText(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) != nil {
		return strconv.QuoteToASCII(s)
	}
	return strings.ReplaceAll(strings.TrimSuffix(b.String(), "\n"), "\uFFFD", `\ufffd`)
}

// pullFindText returns the path (keys dotted, indexes in brackets) and text
// of the first string in v, key or value, that bad reports; keys are
// visited in order.
func pullFindText(v any, path string, bad func(string) bool) (string, string, bool) {
	switch x := v.(type) {
	case string:
		if bad(x) {
			return path, x, true
		}
	case []any:
		for i, e := range x {
			if f, val, ok := pullFindText(e, fmt.Sprintf("%s[%d]", path, i), bad); ok {
				return f, val, true
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if bad(k) {
				return p, k, true
			}
			if f, val, ok := pullFindText(x[k], p, bad); ok {
				return f, val, true
			}
		}
	}
	return "", "", false
}

func pullHex4(b []byte) (rune, bool) {
	var v rune
	for _, c := range b {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			v |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			v |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return v, true
}

// pullText returns b as text PostgreSQL accepts: invalid UTF-8 replaced
// by U+FFFD and NUL bytes dropped.
func pullText(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "")
}

// pullRawOrEmpty returns raw as text, or "{}" when it is empty.
func pullRawOrEmpty(raw []byte) string {
	if len(raw) == 0 {
		return "{}"
	}
	return string(raw)
}

func pullStrings(n int) []string { return make([]string, n) }

// optTime returns t in UTC, or nil (NULL) when it is zero.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func pullOptTotal(n int64) *int64 {
	if n < 0 {
		return nil
	}
	return &n
}
