package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

func TestStore_JobRunSummaries(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	type seed struct {
		job, status string
		at          time.Duration
	}
	ids := map[string]int64{}
	for _, sd := range []seed{
		{"a", store.RunOK, 0},
		{"a", store.RunFailed, time.Hour},
		{"a", store.RunRunning, 2 * time.Hour}, // newest: in progress
		{"a", store.RunSkipped, 3 * time.Hour}, // skipped runs never count
		{"b", store.RunOK, 0},
		{"b", store.RunInterrupted, time.Hour},
		{"c", store.RunSkipped, 0},
	} {
		start := t0.Add(sd.at)
		nr := store.NewRun{Job: sd.job, Trigger: store.TriggerSchedule, StartedAt: start}
		var id int64
		var err error
		if sd.status == store.RunSkipped {
			id, err = s.SkipRun(ctx, nr, "held")
		} else {
			id, err = s.StartRun(ctx, nr)
			if err == nil && sd.status != store.RunRunning {
				err = s.FinishRun(ctx, id, store.RunEnd{Status: sd.status, FinishedAt: start.Add(time.Minute)})
			}
		}
		require.NoError(t, err)
		ids[sd.job+"/"+sd.status] = id
	}

	got, err := s.JobRunSummaries(ctx)
	require.NoError(t, err)
	require.Len(t, got, 2, "job c has only skipped runs: nothing to summarise")

	a, b := got[0], got[1]
	require.Equal(t, "a", a.Job)
	require.Equal(t, ids["a/running"], a.Last.ID)
	require.Equal(t, store.RunRunning, a.Last.Status)
	require.Equal(t, ids["a/failed"], a.LastFinished.ID)
	require.True(t, t0.Equal(a.LastOK))

	require.Equal(t, "b", b.Job)
	require.Equal(t, ids["b/interrupted"], b.Last.ID)
	require.Equal(t, ids["b/interrupted"], b.LastFinished.ID)
}

func seedWindow(t *testing.T, s *store.Store, stream, scope string, start time.Time, hours int, status, lastError string, updated time.Time) {
	t.Helper()
	var errText any
	if lastError != "" {
		errText = lastError
	}
	_, err := s.SQL().ExecContext(t.Context(), `
		INSERT INTO sync_windows (stream, scope, window_start, window_end, status, last_error, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		stream, scope, start, start.Add(time.Duration(hours)*time.Hour), status, errText, updated)
	require.NoError(t, err)
}

func TestStore_WindowSummaries(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	day := func(n int) time.Time { return t0.AddDate(0, 0, n) }

	got, err := s.WindowSummaries(t.Context())
	require.NoError(t, err)
	require.Empty(t, got)

	// contacts: all done in two scopes, one of which lags behind.
	seedWindow(t, s, "contacts", "line/1", day(-3), 24, "done", "", t0)
	seedWindow(t, s, "contacts", "line/1", day(-2), 24, "done", "", t0)
	seedWindow(t, s, "contacts", "facebook/9", day(-3), 24, "done", "", t0)
	// messages: a failed window in the middle, a pending one after, a split one.
	seedWindow(t, s, "messages", "line/1", day(-3), 24, "done", "", t0)
	seedWindow(t, s, "messages", "line/1", day(-2), 24, "failed", "omnichat GET /v1/messages: 503", t0.Add(-time.Hour))
	seedWindow(t, s, "messages", "line/1", day(-1), 24, "pending", "", t0)
	seedWindow(t, s, "messages", "facebook/9", day(-1), 24, "failed", "newer error", t0)
	seedWindow(t, s, "messages", "facebook/9", day(-4), 48, "split", "", t0)

	got, err = s.WindowSummaries(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 2)

	require.Equal(t, "contacts", got[0].Stream)
	require.Equal(t, [3]int64{0, 0, 0}, [3]int64{got[0].Pending, got[0].Running, got[0].Failed})
	require.Nil(t, got[0].OldestGap)
	require.True(t, day(-2).Equal(got[0].CompleteUntil), "the lagging scope facebook/9 is complete until its last done end: %s", got[0].CompleteUntil)
	require.Empty(t, got[0].LastError)

	m := got[1]
	require.Equal(t, "messages", m.Stream)
	require.Equal(t, [3]int64{1, 0, 2}, [3]int64{m.Pending, m.Running, m.Failed})
	require.NotNil(t, m.OldestGap)
	require.Equal(t, "line/1", m.OldestGap.Scope)
	require.True(t, day(-2).Equal(m.OldestGap.Start))
	require.True(t, day(-1).Equal(m.OldestGap.End))
	require.Equal(t, "failed", m.OldestGap.Status)
	require.True(t, day(-2).Equal(m.CompleteUntil))
	require.Equal(t, "newer error", m.LastError, "the most recently updated failure")
}

func TestStore_RejectionSummaries(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	var contactID int64
	require.NoError(t, s.SQL().QueryRowContext(ctx,
		`INSERT INTO contacts (created_at, updated_at) VALUES ($1, $1) RETURNING id`, t0).Scan(&contactID))
	since := t0.Add(-24 * time.Hour)
	for i, r := range []struct {
		dest, reason     string
		created, lastSee time.Time
	}{
		{"oho", "Bad request", t0.Add(-time.Hour), t0.Add(-time.Hour)},               // new
		{"oho", "Bad request", t0.Add(-48 * time.Hour), t0.Add(-2 * time.Hour)},      // old, met again
		{"oho", "name too long", t0.Add(-3 * time.Hour), t0.Add(-3 * time.Hour)},     // new
		{"oho", "stale", t0.Add(-72 * time.Hour), t0.Add(-30 * time.Hour)},           // not met in 24h
		{"okeybot", "invalid phone", t0.Add(-5 * time.Hour), t0.Add(-5 * time.Hour)}, // new
	} {
		_, err := s.SQL().ExecContext(ctx, `
			INSERT INTO push_rejections (destination, contact_id, target_key, reason, payload_hash, created_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			r.dest, contactID, "k", r.reason, string(rune('a'+i)), r.created, r.lastSee)
		require.NoError(t, err)
	}

	got, err := s.RejectionSummaries(ctx, since, 1)
	require.NoError(t, err)
	require.Equal(t, []store.DestinationRejections{
		{Destination: "oho", Records: 3, New: 2, TopReasons: []store.ReasonCount{{Reason: "Bad request", Count: 2}}},
		{Destination: "okeybot", Records: 1, New: 1, TopReasons: []store.ReasonCount{{Reason: "invalid phone", Count: 1}}},
	}, got)

	got, err = s.RejectionSummaries(ctx, t0, 5)
	require.NoError(t, err)
	require.Empty(t, got, "nothing met after t0")
}

func TestStore_PullHealth(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	day := func(n int) time.Time { return t0.AddDate(0, 0, n) }
	seedWindow(t, s, store.StreamContacts, "line/1657703186", day(0), 24, "done", "", day(1))
	seedWindow(t, s, store.StreamContacts, "line/1657703186", day(1), 24, "done", "", day(2))
	seedWindow(t, s, store.StreamContacts, "facebook", day(0), 24, "gave_up", "gave up after 5 attempts: omnichat GET /v1/contacts: 400", day(1))
	seedWindow(t, s, store.StreamContacts, "facebook", day(1), 24, "done", "", day(2))
	seedWindow(t, s, store.StreamMessages, "line/1657703186", day(0), 24, "done", "", day(1))
	seedWindow(t, s, store.StreamMessages, "line", day(1), 24, "done", "", day(2)) // the channel vanished from the list
	seedWindow(t, s, store.StreamTaggingLogs, "", day(0), 24, "done", "short count: 247 distinct rows of totalElements 250 after 3 reads", day(1))
	_, err := s.SQL().ExecContext(ctx, `UPDATE sync_windows SET missing_rows = 3, total_elements = 250, attempts = 3 WHERE stream = 'tagging_logs'`)
	require.NoError(t, err)
	require.NoError(t, s.UpsertChannels(ctx, []store.ChannelRow{{Platform: "line", ChannelID: "1657703186", ChannelName: "Shop"}}))
	_, err = s.SQL().ExecContext(ctx, `INSERT INTO omnichat_channels (platform, channel_id, raw, listed) VALUES ('facebook', '104512345678901', '{}', false), ('whatsapp', '66812340000', '{}', false)`)
	require.NoError(t, err)

	h, err := s.PullHealth(ctx, 10)
	require.NoError(t, err)
	require.Len(t, h.GaveUp, 1)
	require.Equal(t, store.WindowNote{Stream: "contacts", Scope: "facebook", Start: day(0), End: day(1), TotalElements: -1,
		Reason: "gave up after 5 attempts: omnichat GET /v1/contacts: 400"}, normalizeNote(h.GaveUp[0]))
	require.Len(t, h.DataGaps, 1)
	require.Equal(t, int64(3), h.DataGaps[0].MissingRows)
	require.Equal(t, int64(250), h.DataGaps[0].TotalElements)
	require.Equal(t, []store.PlatformCoverage{
		{Platform: "facebook", Unlisted: 1, Contacts: store.CoveredPerPlatform},
		{Platform: "line", Listed: 1, Contacts: store.CoveredPerChannel, Messages: store.CoveredPerPlatform},
		{Platform: "whatsapp", Unlisted: 1},
	}, h.Coverage)

	sums, err := s.WindowSummaries(ctx)
	require.NoError(t, err)
	require.Equal(t, "contacts", sums[0].Stream)
	require.Equal(t, int64(1), sums[0].GaveUp)
	require.True(t, day(2).Equal(sums[0].CompleteUntil), "a window given up does not hold complete-until back")
	require.Equal(t, "tagging_logs", sums[2].Stream)
	require.Equal(t, int64(1), sums[2].DataGaps)
	require.Equal(t, int64(3), sums[2].MissingRows)
}

// normalizeNote puts a note's times in UTC, for comparison.
func normalizeNote(n store.WindowNote) store.WindowNote {
	n.Start, n.End = n.Start.UTC(), n.End.UTC()
	return n
}
