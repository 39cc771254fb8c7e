package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
	"crmsync/store"
	"crmsync/store/storetest"
)

// seedPushContact inserts a live contact with one identity and returns its id.
func seedPushContact(t *testing.T, s *store.Store, updated time.Time, id contact.Identity) contact.ID {
	t.Helper()
	var cid int64
	require.NoError(t, s.SQL().QueryRowContext(t.Context(),
		`INSERT INTO contacts (name, identities, created_at, updated_at) VALUES ('x', 1, $1, $1) RETURNING id`, updated).Scan(&cid))
	_, err := s.SQL().ExecContext(t.Context(), `
		INSERT INTO contact_identities (platform, channel_id, user_id, contact_id, first_seen_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5)`, string(id.Platform), id.ChannelID, id.UserID, cid, updated)
	require.NoError(t, err)
	return contact.ID(cid)
}

func TestStore_SavePushState(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	id := contact.Identity{Platform: contact.LINE, ChannelID: "1656", UserID: "U1"}
	a := seedPushContact(t, s, t0, id)
	b := seedPushContact(t, s, t0, contact.Identity{Platform: contact.LINE, ChannelID: "1656", UserID: "U2"})

	t.Run("RoundTripsAndKeepsFirstPushedAt", func(t *testing.T) {
		st := store.PushState{
			Destination: store.DestinationOho, TargetKey: "line/Ubot/U1", ContactID: a, Identity: &id,
			Payload: json.RawMessage(`{"display_name": "A"}`), PayloadHash: "h1",
			Adjustments: json.RawMessage(`[{"field":"first_name","kind":"truncated","before":"x","after":"y","reason":"r"}]`),
			PushedAt:    t0,
		}
		require.NoError(t, s.SavePushState(ctx, st))
		st.Payload, st.PayloadHash, st.PushedAt, st.ContactID = json.RawMessage(`{"display_name": "B"}`), "h2", t0.Add(time.Hour), b
		require.NoError(t, s.SavePushState(ctx, st))

		got, err := s.PushTargets(ctx, store.DestinationOho, []string{"line/Ubot/U1", "line/Ubot/none"})
		require.NoError(t, err)
		require.Len(t, got, 1)
		g := got["line/Ubot/U1"].State
		require.NotNil(t, g)
		require.Equal(t, b, g.ContactID, "a save re-points the record at the contact given")
		require.Equal(t, "h2", g.PayloadHash)
		require.JSONEq(t, `{"display_name": "B"}`, string(g.Payload))
		require.True(t, t0.Equal(g.FirstPushedAt), "first_pushed_at %v", g.FirstPushedAt)
		require.True(t, t0.Add(time.Hour).Equal(g.PushedAt))
		require.Equal(t, &id, g.Identity)
		require.Empty(t, g.RemoteID)

		var n int
		require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT count(*) FROM v_push_adjustments WHERE kind = 'truncated' AND field = 'first_name'`).Scan(&n))
		require.Equal(t, 1, n)
	})

	t.Run("MoveRepointsWithoutTouchingThePayload", func(t *testing.T) {
		require.NoError(t, s.MovePushState(ctx, store.DestinationOho, []string{"line/Ubot/U1"}, a))
		got, err := s.PushTargets(ctx, store.DestinationOho, []string{"line/Ubot/U1"})
		require.NoError(t, err)
		require.Equal(t, a, got["line/Ubot/U1"].State.ContactID)
		require.Equal(t, "h2", got["line/Ubot/U1"].State.PayloadHash)
	})
}

func TestStore_RecordPushRejections(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	a := seedPushContact(t, s, t0, contact.Identity{Platform: contact.Facebook, ChannelID: "p1", UserID: "u1"})
	long := make([]rune, 700)
	for i := range long {
		long[i] = 'ก'
	}
	v := string(long)
	r := store.PushRejection{
		Destination: store.DestinationOho, ContactID: a, TargetKey: "facebook/p1/u1", Field: "first_name", Value: &v,
		Reason: "Bad request", HTTPStatus: 400, PayloadHash: "h1", At: t0,
	}
	require.NoError(t, s.RecordPushRejections(ctx, r))
	r.At = t0.Add(time.Hour)
	require.NoError(t, s.RecordPushRejections(ctx, r)) // same refusal again
	noStatus := r
	noStatus.HTTPStatus, noStatus.Field, noStatus.Value, noStatus.Reason, noStatus.PayloadHash = 0, "", nil, "no LINE token for channel 1", "h0"
	require.NoError(t, s.RecordPushRejections(ctx, noStatus))

	var n, seen, valueLen int
	require.NoError(t, s.SQL().QueryRowContext(ctx, `
		SELECT count(*), max(times_seen), max(char_length(value)) FROM push_rejections`).Scan(&n, &seen, &valueLen))
	require.Equal(t, 2, n)
	require.Equal(t, 2, seen)
	require.Equal(t, store.MaxRejectionValue, valueLen)

	got, err := s.PushTargets(ctx, store.DestinationOho, []string{"facebook/p1/u1"})
	require.NoError(t, err)
	require.Nil(t, got["facebook/p1/u1"].State)
	require.Equal(t, map[string]bool{"h1": true}, got["facebook/p1/u1"].Refused, "only refusals by the API block a payload")

	var kinds []string
	rows, err := s.SQL().QueryContext(ctx, `SELECT kind FROM v_push_reasons WHERE destination = 'oho' AND what = 'rejection' ORDER BY kind`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		kinds = append(kinds, k)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"refused_by_api", "rejected"}, kinds)
}

func TestStore_RecordPushRejections_manyInOneCall(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	a := seedPushContact(t, s, t0, contact.Identity{Platform: contact.LINE, ChannelID: "c1", UserID: "u1"})
	b := seedPushContact(t, s, t0, contact.Identity{Platform: contact.LINE, ChannelID: "c1", UserID: "u2"})
	v := `quote " and backslash \ in a value`
	first := store.PushRejection{
		Destination: store.DestinationOho, ContactID: a, TargetKey: "line/b/u1", Field: "email", Value: &v,
		Reason: "invalid email", HTTPStatus: 400, PayloadHash: "h1", At: t0,
	}
	again := first
	again.ContactID, again.At = b, t0.Add(time.Minute)
	other := first
	other.Field, other.Value, other.HTTPStatus = "", nil, 0
	type got struct {
		Field         string
		Value         *string
		Status        *int
		ContactID     int64
		Created, Last time.Time
		Seen          int
	}
	load := func() []got {
		rows, err := s.SQL().QueryContext(ctx, `
			SELECT COALESCE(field, '<null>'), value, http_status, contact_id, created_at, last_seen_at, times_seen
			FROM push_rejections ORDER BY field NULLS FIRST`)
		require.NoError(t, err)
		defer rows.Close()
		var gs []got
		for rows.Next() {
			var g got
			require.NoError(t, rows.Scan(&g.Field, &g.Value, &g.Status, &g.ContactID, &g.Created, &g.Last, &g.Seen))
			g.Created, g.Last = g.Created.UTC(), g.Last.UTC()
			gs = append(gs, g)
		}
		require.NoError(t, rows.Err())
		return gs
	}
	status := 400
	require.NoError(t, s.RecordPushRejections(ctx, first, other, again))
	require.Equal(t, []got{
		{Field: "<null>", ContactID: int64(a), Created: t0, Last: t0, Seen: 1},
		{Field: "email", Value: &v, Status: &status, ContactID: int64(b), Created: t0, Last: t0.Add(time.Minute), Seen: 2},
	}, load(), "a refusal repeated in one call counts each time; the last one's contact and time win")

	require.NoError(t, s.RecordPushRejections(ctx, first))
	require.Equal(t, []got{
		{Field: "<null>", ContactID: int64(a), Created: t0, Last: t0, Seen: 1},
		{Field: "email", Value: &v, Status: &status, ContactID: int64(a), Created: t0, Last: t0, Seen: 3},
	}, load())
}

func TestStore_PushCandidates(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	ids := make([]contact.ID, 5)
	for i := range ids {
		ids[i] = seedPushContact(t, s, t0, contact.Identity{Platform: contact.Facebook, ChannelID: "p", UserID: string(rune('a' + i))})
	}
	// ids[3] is excluded, ids[4] merged into ids[0].
	_, err := s.SQL().ExecContext(ctx, `UPDATE contacts SET excluded_from_push = true WHERE id = $1`, int64(ids[3]))
	require.NoError(t, err)
	_, err = s.SQL().ExecContext(ctx, `UPDATE contacts SET merged_into = $1 WHERE id = $2`, int64(ids[0]), int64(ids[4]))
	require.NoError(t, err)

	q := store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c1", Limit: 10}
	got, err := s.PushCandidates(ctx, q)
	require.NoError(t, err)
	require.Equal(t, ids[:3], got, "live, not excluded, never checked")

	require.NoError(t, s.MarkPushChecked(ctx, store.DestinationOho, "c1", 0, t0.Add(time.Minute), []store.PushCheck{
		{ContactID: ids[0], ContactUpdatedAt: t0, Outcome: store.PushOutcomePushed, Targets: 1},
		{ContactID: ids[1], ContactUpdatedAt: t0, Outcome: store.PushOutcomeNoTarget},
		{ContactID: ids[2], ContactUpdatedAt: t0, Outcome: store.PushOutcomeUnchanged, Targets: 1},
	}))
	_, err = s.SQL().ExecContext(ctx, `UPDATE contacts SET updated_at = $1 WHERE id = $2`, t0.Add(time.Hour), int64(ids[2]))
	require.NoError(t, err)

	tests := []struct {
		name string
		give store.PushCandidateQuery
		want []contact.ID
	}{
		{"OnlyTheChangedOne", q, ids[2:3]},
		{"OtherConfigMeansAll", store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c2", Limit: 10}, ids[:3]},
		{"OtherDestinationMeansAll", store.PushCandidateQuery{Destination: store.DestinationOkeybot, ConfigHash: "c1", Limit: 10}, ids[:3]},
		{"RecheckOldChecks", store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c1", Limit: 10, RecheckBefore: t0.Add(2 * time.Minute)}, ids[:3]},
		{"Pages", store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c2", AfterID: ids[0], Limit: 1}, ids[1:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.PushCandidates(ctx, tt.give)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			cs, err := s.PushContacts(ctx, got)
			require.NoError(t, err)
			loaded := make([]contact.ID, len(cs))
			for i, c := range cs {
				loaded[i] = c.ID
				require.Len(t, c.Identities, 1, "whole master records")
			}
			require.Equal(t, tt.want, loaded)
		})
	}

	var state string
	require.NoError(t, s.SQL().QueryRowContext(ctx,
		`SELECT state FROM v_push_status WHERE contact_id = $1 AND destination = 'oho'`, int64(ids[2])).Scan(&state))
	require.Equal(t, "pending", state)

	cs, err := s.PushContacts(ctx, ids)
	require.NoError(t, err)
	loaded := make([]contact.ID, len(cs))
	for i, c := range cs {
		loaded[i] = c.ID
	}
	require.Equal(t, ids[:3], loaded, "PushContacts leaves out the excluded and the merged")
}

// The incremental selection finds what changed after a time, what is due
// for a recheck and what waits for a retry, and nothing else, even when
// other contacts were never examined (the full pass is for those).
func TestStore_PushCandidates_incremental(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	ids := make([]contact.ID, 6)
	for i := range ids {
		ids[i] = seedPushContact(t, s, t0, contact.Identity{Platform: contact.Facebook, ChannelID: "p", UserID: string(rune('a' + i))})
	}
	var checks []store.PushCheck
	for i, id := range ids[:5] {
		at := t0
		if i == 2 {
			at = t0.Add(-time.Hour) // an older version: the push of the current one failed
		}
		checks = append(checks, store.PushCheck{ContactID: id, ContactUpdatedAt: at, Outcome: store.PushOutcomeUnchanged, Targets: 1})
	}
	require.NoError(t, s.MarkPushChecked(ctx, store.DestinationOho, "c1", 0, t0.Add(time.Minute), checks))
	// ids[0] was checked long ago (a recheck is due), ids[1] changed, ids[2]
	// failed last time, ids[3] changed and was then excluded; ids[4] is done;
	// ids[5] was never examined and did not change.
	_, err := s.SQL().ExecContext(ctx, `UPDATE push_contacts SET checked_at = $1 WHERE contact_id = $2`, t0.Add(-48*time.Hour), int64(ids[0]))
	require.NoError(t, err)
	_, err = s.SQL().ExecContext(ctx, `UPDATE contacts SET updated_at = $1 WHERE id = ANY ($2)`, t0.Add(time.Hour), []int64{int64(ids[1]), int64(ids[3])})
	require.NoError(t, err)
	_, err = s.SQL().ExecContext(ctx, `UPDATE contacts SET excluded_from_push = true WHERE id = $1`, int64(ids[3]))
	require.NoError(t, err)
	require.NoError(t, s.RecordPushRetries(ctx, store.DestinationOho, 0, t0.Add(2*time.Minute), []store.PushRetry{{ContactID: ids[2], Error: "HTTP 503"}}))

	recheck := t0.Add(-24 * time.Hour)
	tests := []struct {
		name string
		give store.PushCandidateQuery
		want []contact.ID
	}{
		{"ChangedDueAndRetried", store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c1", RecheckBefore: recheck, ChangedAfter: t0}, ids[:3]},
		{"NoRecheck", store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c1", ChangedAfter: t0}, ids[1:3]},
		{"ChangedBeforeTheTimeIsNotLookedAt", store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c1", ChangedAfter: t0.Add(2 * time.Hour)}, ids[2:3]},
		{"OtherDestinationHasNoRetries", store.PushCandidateQuery{Destination: store.DestinationOkeybot, ConfigHash: "c1", ChangedAfter: t0}, ids[1:2]},
		{"FullPassFindsTheNeverExamined", store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c1", RecheckBefore: recheck}, []contact.ID{ids[0], ids[1], ids[2], ids[5]}},
		{"Pages", store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c1", RecheckBefore: recheck, ChangedAfter: t0, AfterID: ids[0], Limit: 1}, ids[1:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.PushCandidates(ctx, tt.give)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	// Finishing a contact ends its retry.
	require.NoError(t, s.MarkPushChecked(ctx, store.DestinationOho, "c1", 0, t0.Add(3*time.Minute), []store.PushCheck{
		{ContactID: ids[2], ContactUpdatedAt: t0, Outcome: store.PushOutcomePushed, Targets: 1},
	}))
	got, err := s.PushCandidates(ctx, store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c1", ChangedAfter: t0.Add(2 * time.Hour)})
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestStore_RecordPushRetries(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	a := seedPushContact(t, s, t0, contact.Identity{Platform: contact.Facebook, ChannelID: "p", UserID: "a"})
	b := seedPushContact(t, s, t0, contact.Identity{Platform: contact.Facebook, ChannelID: "p", UserID: "b"})
	require.NoError(t, s.RecordPushRetries(ctx, store.DestinationOkeybot, 0, t0, []store.PushRetry{{ContactID: a, Error: "HTTP 502"}}))
	require.NoError(t, s.RecordPushRetries(ctx, store.DestinationOkeybot, 0, t0.Add(time.Hour), []store.PushRetry{
		{ContactID: a, Error: "timeout"}, {ContactID: b, Error: "HTTP 500"}, {ContactID: b, Error: "HTTP 500 again"},
	}))
	type row struct {
		ID          int64
		First, Last time.Time
		Failures    int
		Err         string
	}
	var got []row
	rs, err := s.SQL().QueryContext(ctx, `SELECT contact_id, first_failed_at, last_failed_at, failures, last_error FROM push_retries ORDER BY contact_id`)
	require.NoError(t, err)
	defer rs.Close()
	for rs.Next() {
		var r row
		require.NoError(t, rs.Scan(&r.ID, &r.First, &r.Last, &r.Failures, &r.Err))
		r.First, r.Last = r.First.UTC(), r.Last.UTC()
		got = append(got, r)
	}
	require.NoError(t, rs.Err())
	require.Equal(t, []row{
		{ID: int64(a), First: t0, Last: t0.Add(time.Hour), Failures: 2, Err: "timeout"},
		{ID: int64(b), First: t0.Add(time.Hour), Last: t0.Add(time.Hour), Failures: 1, Err: "HTTP 500"},
	}, got, "a contact failed twice in one call counts once")
}

func TestStore_PushProgress(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

	until, err := s.ContactsChangedUntil(ctx)
	require.NoError(t, err)
	require.True(t, until.IsZero(), "no contact yet")
	_, err = s.PushProgress(ctx, store.DestinationOho)
	require.ErrorIs(t, err, store.ErrNotFound)

	a := seedPushContact(t, s, t0, contact.Identity{Platform: contact.Facebook, ChannelID: "p", UserID: "a"})
	b := seedPushContact(t, s, t0.Add(time.Hour), contact.Identity{Platform: contact.Facebook, ChannelID: "p", UserID: "b"})
	c := seedPushContact(t, s, t0.Add(2*time.Hour), contact.Identity{Platform: contact.Facebook, ChannelID: "p", UserID: "c"})
	_, err = s.SQL().ExecContext(ctx, `UPDATE contacts SET merged_into = $1 WHERE id = $2`, int64(a), int64(c))
	require.NoError(t, err)
	until, err = s.ContactsChangedUntil(ctx)
	require.NoError(t, err)
	require.True(t, t0.Add(time.Hour).Equal(until), "the newest live contact: %v", until)

	require.NoError(t, s.RecordPushRetries(ctx, store.DestinationOho, 0, t0, []store.PushRetry{{ContactID: b, Error: "x"}, {ContactID: c, Error: "y"}}))
	for _, p := range []store.PushProgress{
		{Destination: store.DestinationOho, ConfigHash: "c1", ChangedUntil: t0, UpdatedAt: t0.Add(time.Minute)},
		{Destination: store.DestinationOho, ConfigHash: "c2", ChangedUntil: until, UpdatedAt: t0.Add(2 * time.Minute)},
	} {
		require.NoError(t, s.SavePushProgress(ctx, p))
	}
	got, err := s.PushProgress(ctx, store.DestinationOho)
	require.NoError(t, err)
	require.Equal(t, "c2", got.ConfigHash)
	require.True(t, until.Equal(got.ChangedUntil))
	require.True(t, t0.Add(2*time.Minute).Equal(got.UpdatedAt))
	_, err = s.PushProgress(ctx, store.DestinationOkeybot)
	require.ErrorIs(t, err, store.ErrNotFound)
	var left []int64
	rs, err := s.SQL().QueryContext(ctx, `SELECT contact_id FROM push_retries`)
	require.NoError(t, err)
	defer rs.Close()
	for rs.Next() {
		var id int64
		require.NoError(t, rs.Scan(&id))
		left = append(left, id)
	}
	require.NoError(t, rs.Err())
	require.Equal(t, []int64{int64(b)}, left, "the retry of a merged contact is dropped")
}

func TestStore_ReadOnly_refusesWrites(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	a := seedPushContact(t, s, t0, contact.Identity{Platform: contact.Facebook, ChannelID: "p", UserID: `we"ird\key`})
	err := s.ReadOnly(ctx, func(ro *store.Store) error {
		got, err := ro.PushCandidates(ctx, store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c", Limit: 5})
		require.NoError(t, err)
		require.Equal(t, []contact.ID{a}, got)
		got, err = ro.PushCandidates(ctx, store.PushCandidateQuery{Destination: store.DestinationOho, ConfigHash: "c", ChangedAfter: t0.Add(-time.Hour)})
		require.NoError(t, err)
		require.Equal(t, []contact.ID{a}, got)
		return ro.SavePushState(ctx, store.PushState{Destination: store.DestinationOho, TargetKey: `facebook/p/we"ird\key`,
			ContactID: a, Payload: json.RawMessage(`{}`), PayloadHash: "h", PushedAt: t0})
	})
	require.ErrorContains(t, err, "read-only transaction")
	got, err := s.PushTargets(ctx, store.DestinationOho, []string{`facebook/p/we"ird\key`})
	require.NoError(t, err)
	require.Empty(t, got)
}
