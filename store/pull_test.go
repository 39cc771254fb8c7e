package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

func pullMessage(id, user, raw string) store.MessageRow {
	text := "hi " + id
	return store.MessageRow{
		ID: id, Platform: "line", ChannelID: "1", RoomID: "r-" + user, CustomerUserID: user,
		SenderType: "customer", SenderName: "C", SenderUserID: user, SentAt: pullDay(1).Add(time.Hour),
		MessageType: "text", MessageStatus: "read", Message: &text, Raw: []byte(raw),
	}
}

func pullContact(user string, updated time.Time, name string) store.ContactRow {
	raw := fmt.Sprintf(`{"channel":{"platform":"line","channelId":"1"},"id":%q,"name":%q,"updatedAt":%d}`, user, name, updated.UnixMilli())
	return store.ContactRow{
		Platform: "line", ChannelID: "1", UserID: user, Name: name, Subscribed: true,
		Tags: []string{"VIP"}, CustomAttributes: []byte(`[{"key":"TIER","value":"GOLD","type":"text","displayName":"Tier"}]`),
		UpdatedAt: updated, Raw: []byte(raw),
	}
}

// newWindow creates one window and returns a PageMeta for its first page.
func pullWindow(t *testing.T, s *store.Store, stream string) store.PageMeta {
	t.Helper()
	ws, err := s.CreateWindows(t.Context(), stream, "line/1", []store.Span{{pullDay(1), pullDay(2)}}, 0)
	require.NoError(t, err)
	return store.PageMeta{Stream: stream, Scope: "line/1", WindowID: ws[0].ID, Page: 1, TotalElements: -1}
}

func pullCount(t *testing.T, s *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, s.SQL().QueryRowContext(t.Context(), query, args...).Scan(&n))
	return n
}

// snapshot returns every raw-table row as text, to prove a re-read changed nothing.
func pullSnapshot(t *testing.T, s *store.Store) string {
	t.Helper()
	var out string
	err := s.SQL().QueryRowContext(t.Context(), `SELECT concat_ws('|',
		(SELECT string_agg(c::text, ',' ORDER BY platform, channel_id, user_id) FROM omnichat_contacts c),
		(SELECT string_agg(l::text, ',' ORDER BY id) FROM omnichat_tagging_logs l),
		(SELECT string_agg(m::text, ',' ORDER BY id) FROM omnichat_messages m),
		(SELECT string_agg((q.platform, q.channel_id, q.user_id, q.queued_at)::text, ',' ORDER BY platform, channel_id, user_id) FROM reconcile_queue q))`).Scan(&out)
	require.NoError(t, err)
	return out
}

func TestStore_WriteMessagesPage(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	meta := pullWindow(t, s, store.StreamMessages)
	meta.Received, meta.TotalElements = 4, 4
	rows := []store.MessageRow{
		pullMessage("m2", "u1", `{"id":"m2"}`),
		pullMessage("m1", "u1", `{"id":"m1"}`),
		pullMessage("m3", "", `{"id":"m3"}`),   // no customer: stored, not queued
		pullMessage("m1", "u1", `{"id":"m1"}`), // duplicate within the page
	}

	res, err := s.WriteMessagesPage(ctx, meta, rows, nil)
	require.NoError(t, err)
	require.Equal(t, store.PageResult{Inserted: 3, Queued: 1, Channels: 1}, res, "channel line/1 first seen in these rows")
	require.Equal(t, 3, pullCount(t, s, `SELECT count(*) FROM omnichat_messages`))
	require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM reconcile_queue WHERE (platform, channel_id, user_id) = ('line', '1', 'u1')`))

	w, err := s.Window(ctx, meta.WindowID)
	require.NoError(t, err)
	require.Equal(t, 1, w.Pages)
	require.Equal(t, int64(4), w.Rows)
	require.Equal(t, int64(4), w.TotalElements)
	require.Equal(t, 2, w.NextPage)

	t.Run("ReReadChangesNothing", func(t *testing.T) {
		_, err := s.SQL().ExecContext(ctx, `DELETE FROM reconcile_queue`)
		require.NoError(t, err)
		before := pullSnapshot(t, s)
		res, err := s.WriteMessagesPage(ctx, meta, rows, nil)
		require.NoError(t, err)
		require.Equal(t, store.PageResult{}, res)
		require.Equal(t, before, pullSnapshot(t, s))
	})

	t.Run("ChangedMessageIsUpdatedAndQueued", func(t *testing.T) {
		changed := pullMessage("m2", "u2", `{"id":"m2","messageStatus":"read"}`)
		res, err := s.WriteMessagesPage(ctx, meta, []store.MessageRow{changed}, nil)
		require.NoError(t, err)
		require.Equal(t, store.PageResult{Updated: 1, Queued: 1}, res)
		require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM omnichat_messages WHERE id = 'm2' AND customer_user_id = 'u2'`))
		require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM reconcile_queue WHERE user_id = 'u2'`))
	})

	t.Run("UnknownWindowIsAnError", func(t *testing.T) {
		m := meta
		m.WindowID = 987654
		_, err := s.WriteMessagesPage(ctx, m, nil, nil)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestStore_WriteContactsPage_latestUpdatedAtWins(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	meta := pullWindow(t, s, store.StreamContacts)
	t0 := pullDay(1).Add(time.Hour)

	res, err := s.WriteContactsPage(ctx, meta, []store.ContactRow{pullContact("u1", t0, "Old")}, nil)
	require.NoError(t, err)
	require.Equal(t, store.PageResult{Inserted: 1, Queued: 1, Channels: 1}, res)
	_, err = s.SQL().ExecContext(ctx, `DELETE FROM reconcile_queue`)
	require.NoError(t, err)

	tests := []struct {
		name     string
		give     store.ContactRow
		want     store.PageResult
		wantName string
	}{
		{"SameVersionChangesNothing", pullContact("u1", t0, "Old"), store.PageResult{}, "Old"},
		{"NewerVersionWins", pullContact("u1", t0.Add(time.Minute), "New"), store.PageResult{Updated: 1, Queued: 1}, "New"},
		{"OlderVersionArrivingLaterLoses", pullContact("u1", t0, "Old"), store.PageResult{}, "New"},
		{"SameUpdatedAtDifferentDataWins", pullContact("u1", t0.Add(time.Minute), "Newer"), store.PageResult{Updated: 1}, "Newer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var changedBefore time.Time
			require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT last_changed_at FROM omnichat_contacts`).Scan(&changedBefore))
			res, err := s.WriteContactsPage(ctx, meta, []store.ContactRow{tt.give}, nil)
			require.NoError(t, err)
			require.Equal(t, tt.want, res)
			var name string
			var changed time.Time
			require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT name, last_changed_at FROM omnichat_contacts`).Scan(&name, &changed))
			require.Equal(t, tt.wantName, name)
			if tt.want.Updated == 0 {
				require.Equal(t, changedBefore, changed, "an unchanged row keeps last_changed_at")
			}
		})
	}

	t.Run("NewestInPageWins", func(t *testing.T) {
		res, err := s.WriteContactsPage(ctx, meta, []store.ContactRow{
			pullContact("u9", t0.Add(2*time.Hour), "Newest"),
			pullContact("u9", t0, "Older"),
		}, nil)
		require.NoError(t, err)
		require.Equal(t, int64(1), res.Inserted)
		require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM omnichat_contacts WHERE user_id = 'u9' AND name = 'Newest'`))
	})

	t.Run("ColumnsAreStored", func(t *testing.T) {
		var tags []byte
		var tier string
		var sub bool
		require.NoError(t, s.SQL().QueryRowContext(ctx, `
			SELECT array_to_json(tags)::text, custom_attributes->0->>'value', subscribed FROM omnichat_contacts WHERE user_id = 'u1'`).
			Scan(&tags, &tier, &sub))
		require.JSONEq(t, `["VIP"]`, string(tags))
		require.Equal(t, "GOLD", tier)
		require.True(t, sub)
	})
}

func TestStore_WriteTaggingLogsPage_deduplicatesByKey(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	meta := pullWindow(t, s, store.StreamTaggingLogs)
	at := pullDay(1).Add(12 * time.Hour)
	log := func(tag, msg string) store.TaggingLogRow {
		return store.TaggingLogRow{Platform: "line", ChannelID: "1", UserID: "u1", Tag: tag, TaggedAt: at,
			TimeRaw: "2025-01-01T12:00:00", Source: "bot", MessageID: msg, Raw: []byte(`{"tag":"` + tag + `"}`)}
	}
	page := []store.TaggingLogRow{log("VIP", ""), log("VIP", "m1"), log("VIP", "")}

	res, err := s.WriteTaggingLogsPage(ctx, meta, page, nil)
	require.NoError(t, err)
	require.Equal(t, store.PageResult{Inserted: 2, Queued: 1, Channels: 1}, res)

	var seq int64
	require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT last_value FROM omnichat_tagging_logs_id_seq`).Scan(&seq))
	before := pullSnapshot(t, s)
	res, err = s.WriteTaggingLogsPage(ctx, meta, page, nil)
	require.NoError(t, err)
	require.Equal(t, store.PageResult{}, res)
	require.Equal(t, before, pullSnapshot(t, s))
	var seqAfter int64
	require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT last_value FROM omnichat_tagging_logs_id_seq`).Scan(&seqAfter))
	require.Equal(t, seq, seqAfter, "a re-read must not spend sequence values")
}

func TestStore_WritePage_badRecords(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	meta := pullWindow(t, s, store.StreamMessages)
	bad := []store.BadRecord{
		{Raw: []byte(`{"id":"x","time":0}`), Reason: "time 0 out of range"},
		{Raw: []byte(`{"id":"x","time":0}`), Reason: "time 0 out of range"}, // twice in one page
		{Raw: []byte("{\"id\":\"\xff\"}"), Reason: "invalid"},
	}
	unstorable := pullMessage("nul", "u1", `{"id":"nul","message":"a\u0000b"}`)
	good := pullMessage("ok", "u1", `{"id":"ok"}`)

	res, err := s.WriteMessagesPage(ctx, meta, []store.MessageRow{unstorable, good}, bad)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Inserted)
	require.Equal(t, int64(3), res.Bad)
	require.Equal(t, 3, pullCount(t, s, `SELECT count(*) FROM pull_errors WHERE stream = 'messages' AND scope = 'line/1' AND window_id = $1`, meta.WindowID))
	require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM pull_errors WHERE reason = $1`,
		`message: \u0000 in JSON: not storable in PostgreSQL, got a string "a\u0000b"`), "the reason names the field and the value")

	_, err = s.WriteMessagesPage(ctx, meta, nil, bad[:1])
	require.NoError(t, err)
	require.Equal(t, 2, pullCount(t, s, `SELECT times_seen FROM pull_errors WHERE reason = 'time 0 out of range'`))
	require.Equal(t, 3, pullCount(t, s, `SELECT count(*) FROM pull_errors`))
}

func TestStore_WritePage_keepsThaiAndEmoji(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	meta := pullWindow(t, s, store.StreamContacts)
	name := "˚♡̴ 𝒇𝒂𝒏𝒈 สวัสดีครับ 👩‍👩‍👧"
	c := pullContact("u1", pullDay(1), name)
	_, err := s.WriteContactsPage(ctx, meta, []store.ContactRow{c}, nil)
	require.NoError(t, err)
	var got, gotRaw string
	require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT name, raw->>'name' FROM omnichat_contacts`).Scan(&got, &gotRaw))
	require.Equal(t, name, got)
	require.Equal(t, name, gotRaw)
}

func TestStore_UpsertChannels(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	chans := []store.ChannelRow{
		{Platform: "line", ChannelID: "1657703186", ChannelName: "LINE", Raw: []byte(`{"platform":"line"}`)},
		{Platform: "webchat", ChannelID: "webchat", ChannelName: "Team"},
	}
	require.NoError(t, s.UpsertChannels(ctx, chans))
	chans[0].ChannelName = "LINE renamed"
	require.NoError(t, s.UpsertChannels(ctx, chans))
	require.Equal(t, 2, pullCount(t, s, `SELECT count(*) FROM omnichat_channels`))
	require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM omnichat_channels WHERE channel_name = 'LINE renamed'`))
	require.Equal(t, 2, pullCount(t, s, `SELECT count(*) FROM omnichat_channels WHERE listed`))

	// A channel first seen in a row is known, not listed, its name unknown.
	meta := pullWindow(t, s, store.StreamContacts)
	fb := pullContact("PSID1", pullDay(1), "Somchai")
	fb.Platform, fb.ChannelID = "facebook", "104512345678901"
	res, err := s.WriteContactsPage(ctx, meta, []store.ContactRow{fb, pullContact("u1", pullDay(1), "x")}, nil)
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Channels, "line/1 and the Facebook page are new to omnichat_channels")
	res, err = s.WriteContactsPage(ctx, meta, []store.ContactRow{fb}, nil)
	require.NoError(t, err)
	require.Zero(t, res.Channels)
	require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM omnichat_channels WHERE platform = 'facebook' AND NOT listed AND channel_name = '' AND raw = '{}'`))

	// A later list that names it makes it listed, with its name; what the
	// list leaves out is no longer listed.
	require.NoError(t, s.UpsertChannels(ctx, []store.ChannelRow{{Platform: "facebook", ChannelID: "104512345678901", ChannelName: "Page"}}))
	require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM omnichat_channels WHERE listed AND channel_name = 'Page'`))
	require.Equal(t, 3, pullCount(t, s, `SELECT count(*) FROM omnichat_channels WHERE NOT listed`))
	require.NoError(t, s.UpsertChannels(ctx, nil))
	require.Equal(t, 0, pullCount(t, s, `SELECT count(*) FROM omnichat_channels WHERE listed`))
	require.Equal(t, 4, pullCount(t, s, `SELECT count(*) FROM omnichat_channels`), "nothing is deleted")
}

func TestCheckRaw(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		give    string
		wantErr string // "" when storable
	}{
		{"Plain", `{"a":"b"}`, ""},
		{"ThaiAndEmoji", `{"a":"สวัสดี 👋"}`, ""},
		{"EscapedPair", `{"a":"\ud83d\udc4b"}`, ""},
		{"EscapedBackslashBeforeU", `{"a":"\\u0000"}`, ""},
		{"Nul", `{"a":"ok","b":{"c":["x","\u0000"]}}`, `b.c[1]: \u0000 in JSON: not storable in PostgreSQL, got a string "\u0000"`},
		{"NulInAKey", `{"a\u0000":1}`, `a\u0000: \u0000 in JSON: not storable in PostgreSQL, got a string "a\u0000"`},
		{"LoneHigh", `{"a":"\ud83d"}`, `a: unpaired surrogate escape in JSON: not storable in PostgreSQL, got a string "\ufffd"`},
		{"LoneLow", `{"a":"\udc4b x"}`, `a: unpaired surrogate escape in JSON: not storable in PostgreSQL, got a string "\ufffd x"`},
		{"InvalidUTF8", "{\"name\":\"\xc3\x28\"}", `name: invalid UTF-8: not storable in PostgreSQL, got a string "\ufffd("`},
		{"NotJSON", `{"a":`, "row: invalid JSON: not storable in PostgreSQL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := store.CheckRaw([]byte(tt.give))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, store.ErrUnstorable)
			require.EqualError(t, err, tt.wantErr)
		})
	}
}

// The writer must hold under concurrent pages touching the same identities
// (it orders rows by key so two pages never deadlock).
func TestStore_WriteMessagesPage_concurrentPagesDoNotDeadlock(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	meta := pullWindow(t, s, store.StreamMessages)
	page := func(rev bool, salt string) []store.MessageRow {
		var rows []store.MessageRow
		for i := range 50 {
			j := i
			if rev {
				j = 49 - i
			}
			rows = append(rows, pullMessage(fmt.Sprintf("m%02d", j), fmt.Sprintf("u%02d", j), fmt.Sprintf(`{"id":"m%02d","s":%q}`, j, salt)))
		}
		return rows
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			_, err := s.WriteMessagesPage(context.WithoutCancel(ctx), meta, page(i%2 == 1, fmt.Sprint(i)), nil)
			errs <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	require.Equal(t, 50, pullCount(t, s, `SELECT count(*) FROM omnichat_messages`))
}

// The page statement commits asynchronously (a lost page is read again);
// the setting must end with its transaction, not stay on the pooled session.
func TestStore_WriteMessagesPage_asyncCommitDoesNotLeak(t *testing.T) {
	t.Parallel()
	s, err := store.Open(t.Context(), storetest.NewURL(t), store.Options{MaxOpenConns: 1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	// The session's own setting (the throwaway test cluster defaults to off).
	_, err = s.SQL().ExecContext(t.Context(), `SET synchronous_commit = on`)
	require.NoError(t, err)
	meta := pullWindow(t, s, store.StreamMessages)
	_, err = s.WriteMessagesPage(t.Context(), meta, []store.MessageRow{pullMessage("m1", "u1", `{"id":"m1"}`)}, nil)
	require.NoError(t, err)
	var setting string
	require.NoError(t, s.SQL().QueryRowContext(t.Context(), `SHOW synchronous_commit`).Scan(&setting))
	require.Equal(t, "on", setting)
	require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM omnichat_messages`))
}
