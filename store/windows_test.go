package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

func pullDay(d int) time.Time { return time.Date(2025, 1, d, 0, 0, 0, 0, time.UTC) }

func TestStore_CreateWindows(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()

	t.Run("CreatesPendingWindowsInOrder", func(t *testing.T) {
		ws, err := s.CreateWindows(ctx, store.StreamMessages, "line/1", []store.Span{{pullDay(2), pullDay(3)}, {pullDay(1), pullDay(2)}}, 0)
		require.NoError(t, err)
		require.Len(t, ws, 2)
		require.Equal(t, pullDay(1), ws[0].Start)
		require.Equal(t, pullDay(3), ws[1].End)
		for _, w := range ws {
			require.Equal(t, store.WindowPending, w.Status)
			require.Equal(t, 1, w.NextPage)
			require.Equal(t, int64(-1), w.TotalElements)
			require.Zero(t, w.Attempts)
		}
	})

	t.Run("ReusesExistingWindows", func(t *testing.T) {
		first, err := s.CreateWindows(ctx, store.StreamContacts, "", []store.Span{{pullDay(1), pullDay(2)}}, 0)
		require.NoError(t, err)
		_, err = s.StartWindow(ctx, first[0].ID, 0)
		require.NoError(t, err)
		again, err := s.CreateWindows(ctx, store.StreamContacts, "", []store.Span{{pullDay(1), pullDay(2)}, {pullDay(2), pullDay(3)}}, 0)
		require.NoError(t, err)
		require.Len(t, again, 2)
		require.Equal(t, first[0].ID, again[0].ID)
		require.Equal(t, store.WindowRunning, again[0].Status, "an existing window keeps its state")
		var n int
		require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT count(*) FROM sync_windows WHERE stream = 'contacts'`).Scan(&n))
		require.Equal(t, 2, n)
	})

	t.Run("RefusesWindowsOverSevenDays", func(t *testing.T) {
		_, err := s.CreateWindows(ctx, store.StreamContacts, "x", []store.Span{{pullDay(1), pullDay(9)}}, 0)
		require.Error(t, err)
	})
}

func TestStore_StartWindow(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	ws, err := s.CreateWindows(ctx, store.StreamMessages, "line/1", []store.Span{{pullDay(1), pullDay(2)}}, 0)
	require.NoError(t, err)
	id := ws[0].ID

	w, err := s.StartWindow(ctx, id, 0)
	require.NoError(t, err)
	require.Equal(t, store.WindowRunning, w.Status)
	require.Equal(t, 1, w.Attempts)

	_, err = s.WriteMessagesPage(ctx, store.PageMeta{Stream: store.StreamMessages, Scope: "line/1", WindowID: id, Page: 1, Received: 1, TotalElements: 150},
		[]store.MessageRow{pullMessage("m1", "u1", `{"id":"m1"}`)}, nil)
	require.NoError(t, err)
	require.NoError(t, s.ReleaseWindow(ctx, id, ""))

	w, err = s.StartWindow(ctx, id, 0)
	require.NoError(t, err)
	require.Equal(t, 2, w.NextPage, "a stopped read resumes after its last committed page")
	require.Equal(t, 2, w.Attempts)
	require.Equal(t, int64(150), w.TotalElements)

	require.NoError(t, s.RestartWindow(ctx, id, "short count"))
	w, err = s.Window(ctx, id)
	require.NoError(t, err)
	require.Equal(t, 1, w.NextPage)
	require.Zero(t, w.Pages)
	require.Equal(t, int64(-1), w.TotalElements)
	require.Equal(t, "short count", w.LastError)

	require.NoError(t, s.FinishWindow(ctx, id, "", 0))
	w, err = s.Window(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.WindowDone, w.Status)
	require.Empty(t, w.LastError)
	require.Zero(t, w.MissingRows)

	_, err = s.StartWindow(ctx, 999999, 0)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestStore_FailWindow_keepsProgressAndIsOpen(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	ws, err := s.CreateWindows(ctx, store.StreamTaggingLogs, "", []store.Span{{pullDay(1), pullDay(2)}, {pullDay(2), pullDay(3)}}, 0)
	require.NoError(t, err)
	_, err = s.StartWindow(ctx, ws[0].ID, 0)
	require.NoError(t, err)
	require.NoError(t, s.FinishWindow(ctx, ws[0].ID, "", 0))
	_, err = s.StartWindow(ctx, ws[1].ID, 0)
	require.NoError(t, err)
	require.NoError(t, s.FailWindow(ctx, ws[1].ID, "503 after 5 attempts"))

	open, err := s.OpenWindows(ctx, store.StreamTaggingLogs)
	require.NoError(t, err)
	require.Len(t, open, 1)
	require.Equal(t, ws[1].ID, open[0].ID)
	require.Equal(t, store.WindowFailed, open[0].Status)
	require.Equal(t, "503 after 5 attempts", open[0].LastError)
	require.Equal(t, 1, open[0].Attempts)

	ends, err := s.LastDoneEnds(ctx, store.StreamTaggingLogs)
	require.NoError(t, err)
	require.Equal(t, map[string]time.Time{"": pullDay(2)}, ends, "a scope with no done window is absent")
}

func TestStore_GiveUpWindow(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	ws, err := s.CreateWindows(ctx, store.StreamContacts, "facebook", []store.Span{{pullDay(1), pullDay(2)}, {pullDay(2), pullDay(3)}}, 0)
	require.NoError(t, err)
	other, err := s.CreateWindows(ctx, store.StreamContacts, "line/1", []store.Span{{pullDay(1), pullDay(2)}}, 0)
	require.NoError(t, err)
	_, err = s.StartWindow(ctx, ws[0].ID, 0)
	require.NoError(t, err)
	require.NoError(t, s.GiveUpWindow(ctx, ws[0].ID, "gave up after 5 attempts: 400"))

	open, err := s.OpenWindows(ctx, store.StreamContacts)
	require.NoError(t, err)
	require.Equal(t, []int64{other[0].ID, ws[1].ID}, []int64{open[0].ID, open[1].ID}, "every scope, by start; given up is not open")
	require.Len(t, open, 2)
	gaveUp, err := s.GaveUpWindows(ctx, store.StreamContacts)
	require.NoError(t, err)
	require.Len(t, gaveUp, 1)
	require.Equal(t, store.WindowGaveUp, gaveUp[0].Status)
	require.Equal(t, "gave up after 5 attempts: 400", gaveUp[0].LastError)

	w, err := s.StartWindow(ctx, ws[0].ID, 0)
	require.NoError(t, err, "a window given up can be read again when asked")
	require.Equal(t, 2, w.Attempts)
}

func TestStore_FinishWindow_recordsTheDataGap(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	ws, err := s.CreateWindows(ctx, store.StreamTaggingLogs, "", []store.Span{{pullDay(1), pullDay(2)}}, 0)
	require.NoError(t, err)
	_, err = s.StartWindow(ctx, ws[0].ID, 0)
	require.NoError(t, err)
	_, err = s.WriteTaggingLogsPage(ctx, store.PageMeta{Stream: store.StreamTaggingLogs, WindowID: ws[0].ID, Page: 1, PageSize: 20, Received: 0, TotalElements: 250}, nil, nil)
	require.NoError(t, err)
	require.NoError(t, s.FinishWindow(ctx, ws[0].ID, "short count: 247 distinct rows of totalElements 250 after 3 reads", 3))

	w, err := s.Window(ctx, ws[0].ID)
	require.NoError(t, err)
	require.Equal(t, int64(3), w.MissingRows)
	require.Equal(t, 20, w.PageSize, "the size the server served, for a resumed read")
	var gaps, missing int
	require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT data_gaps, missing_rows FROM v_sync_health WHERE kind = 'stream' AND name = 'tagging_logs'`).Scan(&gaps, &missing))
	require.Equal(t, 1, gaps)
	require.Equal(t, 3, missing)
}

func TestStore_SplitWindow(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	ws, err := s.CreateWindows(ctx, store.StreamMessages, "line/1", []store.Span{{pullDay(1), pullDay(3)}}, 0)
	require.NoError(t, err)

	halves, err := s.SplitWindow(ctx, ws[0].ID, [2]store.Span{{pullDay(1), pullDay(2)}, {pullDay(2), pullDay(3)}}, "totalElements 20000 > 10000", 0)
	require.NoError(t, err)
	require.Len(t, halves, 2)
	require.Equal(t, store.Span{Start: pullDay(1), End: pullDay(2)}, halves[0].Span())
	require.Equal(t, store.Span{Start: pullDay(2), End: pullDay(3)}, halves[1].Span())

	parent, err := s.Window(ctx, ws[0].ID)
	require.NoError(t, err)
	require.Equal(t, store.WindowSplit, parent.Status)

	listed, err := s.Windows(ctx, store.StreamMessages, "line/1", pullDay(1), pullDay(3))
	require.NoError(t, err)
	require.Len(t, listed, 2, "a split window is covered by its halves")
	require.Equal(t, halves[0].ID, listed[0].ID)
}
