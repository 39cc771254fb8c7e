package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

func TestEstimateLeft(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		give        store.RunProgress
		wantLeft    int64
		wantSeconds float64
	}{
		{"NothingDoneYet", store.RunProgress{TotalUnits: 100, Requests: 3, RatePerSecond: 1}, 0, 0},
		{"Halfway", store.RunProgress{DoneUnits: 50, TotalUnits: 100, Requests: 120, RatePerSecond: 1.625}, 120, 73.8},
		{"RoundsUp", store.RunProgress{DoneUnits: 3, TotalUnits: 4, Requests: 4, RatePerSecond: 2}, 2, 1},
		{"Done", store.RunProgress{DoneUnits: 10, TotalUnits: 10, Requests: 40, RatePerSecond: 2}, 0, 0},
		{"NoRate", store.RunProgress{DoneUnits: 1, TotalUnits: 2, Requests: 5}, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := estimateLeft(tt.give)
			require.Equal(t, tt.wantLeft, got.RequestsLeft)
			require.InDelta(t, tt.wantSeconds, got.SecondsLeft, 0.05)
		})
	}
}

func TestQuotaProgress_flushShowsInStatusUntilTheStepEnds(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := t.Context()
	started := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	id, err := st.StartRun(ctx, store.NewRun{Job: "omnichat_to_okeybot_contacts", Trigger: "manual", StartedAt: started, Host: "h", PID: 1})
	require.NoError(t, err)
	rates := map[string]float64{"okeybot/main": 97.5 / 60, "okeybot/chat": 97.5 / 60}
	q := newQuotaProgress(st, id, "push_okeybot", "contacts", func(c string) float64 { return rates[c] }, nil)
	q.nowFunc = func() time.Time { return started.Add(time.Minute) }

	q.update(100, 400, map[string]int64{"okeybot/main": 150, "okeybot/chat": 40})
	q.flush(ctx)
	rows, err := st.RunningProgress(ctx)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, "okeybot/chat", rows[0].Credential)
	require.Equal(t, int64(120), rows[0].RequestsLeft) // 40 per 100 contacts, 300 left
	require.Equal(t, int64(450), rows[1].RequestsLeft)
	require.InDelta(t, 450/(97.5/60), rows[1].SecondsLeft, 0.1)

	var out bytes.Buffer
	require.NoError(t, writeRunningProgress(&out, buildRunningProgress(rows), time.UTC))
	require.Contains(t, out.String(), "push_okeybot")
	require.Contains(t, out.String(), "100/400 contacts")
	require.Contains(t, out.String(), "okeybot/main  150            450            4m37s")

	// Later figures replace the rows; the end of the step deletes them.
	q.update(200, 400, map[string]int64{"okeybot/main": 300})
	q.flush(ctx)
	rows, err = st.RunningProgress(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(200), rows[1].DoneUnits)
	require.Equal(t, int64(300), rows[1].RequestsLeft)
	q.finish(ctx)
	rows, err = st.RunningProgress(ctx)
	require.NoError(t, err)
	require.Empty(t, rows)
}

func TestQuotaProgress_rows_leftIsThePlanLessWhatWasMade(t *testing.T) {
	t.Parallel()
	q := newQuotaProgress(nil, 0, "push_okeybot", "contacts", func(string) float64 { return 97.5 / 60 }, nil)
	q.plan(map[string]int64{"okeybot/main": 1000, "okeybot/chat": 10})
	// Contacts without a target finish first: the contacts say little, the plan tells.
	q.update(250, 279, map[string]int64{"okeybot/main": 400, "okeybot/chat": 12})
	rows := q.rows()
	require.Len(t, rows, 2)
	require.Equal(t, "okeybot/chat", rows[0].Credential)
	require.Zero(t, rows[0].RequestsLeft, "more than planned (a 409, a dead id): nothing left, never below")
	require.Equal(t, int64(600), rows[1].RequestsLeft)
	require.InDelta(t, 600/(97.5/60), rows[1].SecondsLeft, 0.1)
}
