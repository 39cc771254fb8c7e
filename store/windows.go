package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// WindowStatus is the state of a pull window (sync_windows.status).
type WindowStatus string

// The states of a pull window.
const (
	WindowPending WindowStatus = "pending" // planned, or released by a stopped run
	WindowRunning WindowStatus = "running" // a read is in progress (or its process died)
	WindowDone    WindowStatus = "done"    // every page of a read committed
	WindowFailed  WindowStatus = "failed"  // the last read failed; the next run retries it
	WindowSplit   WindowStatus = "split"   // replaced by two halves
	// WindowGaveUp: refused (4xx) on as many attempts as allowed; no run
	// reads it again unless asked to (crmsync backfill --retry-gave-up).
	WindowGaveUp WindowStatus = "gave_up"
)

// Span is a time range [Start, End).
type Span struct {
	Start, End time.Time
}

// Window is one row of sync_windows: a stream, a scope and a time range read
// page by page.
type Window struct {
	ID            int64
	Stream        string
	Scope         string
	Start, End    time.Time
	Status        WindowStatus
	Pages         int
	Rows          int64
	TotalElements int64 // -1 when not known yet
	NextPage      int
	Attempts      int
	LastError     string
	RunID         int64 // 0 when none
	// PageSize is the pageSize the last read's pages were asked at (what
	// the server served); 0 before the first page.
	PageSize int
	// MissingRows is the data gap of a done window: totalElements minus the
	// distinct rows received (0 when complete).
	MissingRows int64
}

// Span returns the window's time range.
func (w Window) Span() Span { return Span{Start: w.Start, End: w.End} }

// windowRow is the gorm model of sync_windows.
type windowRow struct {
	ID            int64 `gorm:"primaryKey"`
	Stream        string
	Scope         string
	WindowStart   time.Time
	WindowEnd     time.Time
	Status        string
	Pages         int
	Rows          int64
	TotalElements *int64
	NextPage      int
	Attempts      int
	LastError     *string
	RunID         *int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
	FinishedAt    *time.Time
	PageSize      *int
	MissingRows   int64
}

// TableName implements gorm's tabler.
func (windowRow) TableName() string { return "sync_windows" }

func (r windowRow) toWindow() Window {
	w := Window{
		ID: r.ID, Stream: r.Stream, Scope: r.Scope,
		Start: r.WindowStart.UTC(), End: r.WindowEnd.UTC(),
		Status: WindowStatus(r.Status), Pages: r.Pages, Rows: r.Rows,
		TotalElements: -1, NextPage: r.NextPage, Attempts: r.Attempts, MissingRows: r.MissingRows,
	}
	if r.PageSize != nil {
		w.PageSize = *r.PageSize
	}
	if r.TotalElements != nil {
		w.TotalElements = *r.TotalElements
	}
	if r.LastError != nil {
		w.LastError = *r.LastError
	}
	if r.RunID != nil {
		w.RunID = *r.RunID
	}
	return w
}

func windowsFrom(rows []windowRow) []Window {
	out := make([]Window, len(rows))
	for i, r := range rows {
		out[i] = r.toWindow()
	}
	return out
}

// windowRunID maps run id 0 to NULL.
func windowRunID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// Windows returns the windows of stream and scope that overlap [from, to),
// whatever their status except split (a split window is covered by its
// halves), ordered by start.
func (s *Store) Windows(ctx context.Context, stream, scope string, from, to time.Time) ([]Window, error) {
	var rows []windowRow
	err := s.db.WithContext(ctx).
		Where("stream = ? AND scope = ? AND status <> ? AND window_start < ? AND window_end > ?",
			stream, scope, string(WindowSplit), to, from).
		Order("window_start, window_end, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list %s windows of %q: %w", stream, scope, err)
	}
	return windowsFrom(rows), nil
}

// OpenWindows returns the windows of stream, in every scope, that are
// neither done, split nor given up (pending, running or failed), ordered by
// start: the ones an incremental run retries.
func (s *Store) OpenWindows(ctx context.Context, stream string) ([]Window, error) {
	return s.windowsWith(ctx, "open", stream, []string{string(WindowPending), string(WindowRunning), string(WindowFailed)})
}

// GaveUpWindows returns the windows of stream, in every scope, given up
// after repeated refusals, ordered by start.
func (s *Store) GaveUpWindows(ctx context.Context, stream string) ([]Window, error) {
	return s.windowsWith(ctx, "given-up", stream, []string{string(WindowGaveUp)})
}

// DataGapWindows returns the windows of stream, in every scope, done with a
// data gap (missing_rows > 0), ordered by start.
func (s *Store) DataGapWindows(ctx context.Context, stream string) ([]Window, error) {
	var rows []windowRow
	err := s.db.WithContext(ctx).Where("stream = ? AND status = ? AND missing_rows > 0", stream, string(WindowDone)).
		Order("window_start, window_end, scope, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list %s windows with a data gap: %w", stream, err)
	}
	return windowsFrom(rows), nil
}

// windowsWith returns the windows of stream with one of statuses.
func (s *Store) windowsWith(ctx context.Context, what, stream string, statuses []string) ([]Window, error) {
	var rows []windowRow
	err := s.db.WithContext(ctx).Where("stream = ? AND status IN ?", stream, statuses).
		Order("window_start, window_end, scope, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list %s %s windows: %w", what, stream, err)
	}
	return windowsFrom(rows), nil
}

// LastDoneEnds returns, per scope of stream, the latest end of a done
// window; a scope with none is absent.
func (s *Store) LastDoneEnds(ctx context.Context, stream string) (map[string]time.Time, error) {
	var rows []struct {
		Scope string    `gorm:"column:scope"`
		Last  time.Time `gorm:"column:last"`
	}
	err := s.db.WithContext(ctx).Raw(`SELECT scope, max(window_end) AS last FROM sync_windows
		WHERE stream = ? AND status = 'done' GROUP BY scope`, stream).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("last done %s windows: %w", stream, err)
	}
	out := make(map[string]time.Time, len(rows))
	for _, r := range rows {
		out[r.Scope] = r.Last.UTC()
	}
	return out, nil
}

// CreateWindows inserts pending windows for spans (one statement; a span
// that already exists is left as it is) and returns the windows of every
// span, new or not, ordered by start.
func (s *Store) CreateWindows(ctx context.Context, stream, scope string, spans []Span, runID int64) ([]Window, error) {
	if len(spans) == 0 {
		return nil, nil
	}
	rows := make([]windowRow, len(spans))
	for i, sp := range spans {
		rows[i] = windowRow{
			Stream: stream, Scope: scope, WindowStart: sp.Start.UTC(), WindowEnd: sp.End.UTC(),
			Status: string(WindowPending), NextPage: 1, RunID: windowRunID(runID),
		}
	}
	db := s.db.WithContext(ctx)
	err := db.Clauses(clause.OnConflict{DoNothing: true}).
		Omit("ID", "CreatedAt", "UpdatedAt").Create(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("create %s windows of %q: %w", stream, scope, err)
	}
	pairs := make([][]any, len(spans))
	for i, sp := range spans {
		pairs[i] = []any{sp.Start.UTC(), sp.End.UTC()}
	}
	var out []windowRow
	err = db.Where("stream = ? AND scope = ? AND (window_start, window_end) IN ?", stream, scope, pairs).
		Order("window_start, window_end").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("create %s windows of %q: %w", stream, scope, err)
	}
	return windowsFrom(out), nil
}

// Window returns the window with the given id.
func (s *Store) Window(ctx context.Context, id int64) (Window, error) {
	var r windowRow
	err := s.db.WithContext(ctx).Take(&r, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Window{}, ErrNotFound
	}
	if err != nil {
		return Window{}, fmt.Errorf("get window %d: %w", id, err)
	}
	return r.toWindow(), nil
}

// StartWindow begins a read of window id: status running, attempts + 1,
// run_id set. A done window restarts from page 1; any other keeps its
// next_page, so a read interrupted between pages resumes where it stopped.
func (s *Store) StartWindow(ctx context.Context, id, runID int64) (Window, error) {
	var r windowRow
	err := s.db.WithContext(ctx).Raw(`
		UPDATE sync_windows SET
			status = 'running',
			attempts = attempts + 1,
			run_id = COALESCE(?, run_id),
			next_page = CASE WHEN status = 'done' THEN 1 ELSE next_page END,
			pages = CASE WHEN status = 'done' THEN 0 ELSE pages END,
			rows = CASE WHEN status = 'done' THEN 0 ELSE rows END,
			updated_at = now()
		WHERE id = ? AND status <> 'split'
		RETURNING *`, windowRunID(runID), id).Scan(&r).Error
	if err != nil {
		return Window{}, fmt.Errorf("start window %d: %w", id, err)
	}
	if r.ID == 0 {
		return Window{}, fmt.Errorf("start window %d: %w", id, ErrNotFound)
	}
	return r.toWindow(), nil
}

// RestartWindow prepares window id for a re-read from page 1 (after a short
// count): pages, rows and total_elements are reset and reason is kept in
// last_error. attempts goes up when the re-read starts (StartWindow).
func (s *Store) RestartWindow(ctx context.Context, id int64, reason string) error {
	res := s.db.WithContext(ctx).Exec(`
		UPDATE sync_windows SET next_page = 1, pages = 0, rows = 0, total_elements = NULL,
			last_error = ?, updated_at = now()
		WHERE id = ?`, reason, id)
	if res.Error != nil {
		return fmt.Errorf("restart window %d: %w", id, res.Error)
	}
	return nil
}

// FinishWindow marks window id done. missing is its data gap
// (totalElements minus the distinct rows received, 0 when complete) and
// warning, when not empty, is kept in last_error (what the gap is);
// otherwise last_error is cleared.
func (s *Store) FinishWindow(ctx context.Context, id int64, warning string, missing int64) error {
	var w *string
	if warning != "" {
		w = &warning
	}
	res := s.db.WithContext(ctx).Exec(`
		UPDATE sync_windows SET status = 'done', last_error = ?, missing_rows = ?, finished_at = now(), updated_at = now()
		WHERE id = ?`, w, max(missing, 0), id)
	if res.Error != nil {
		return fmt.Errorf("finish window %d: %w", id, res.Error)
	}
	return nil
}

// FailWindow marks window id failed with reason. Its committed pages stay;
// the next run reads it again.
func (s *Store) FailWindow(ctx context.Context, id int64, reason string) error {
	return s.endWindow(ctx, "fail", id, WindowFailed, reason)
}

// GiveUpWindow marks window id given up with reason: the API refused it as
// often as allowed, and no run reads it again unless asked to.
func (s *Store) GiveUpWindow(ctx context.Context, id int64, reason string) error {
	return s.endWindow(ctx, "give up", id, WindowGaveUp, reason)
}

// endWindow sets a window's status and last_error.
func (s *Store) endWindow(ctx context.Context, what string, id int64, status WindowStatus, reason string) error {
	res := s.db.WithContext(ctx).Exec(`
		UPDATE sync_windows SET status = ?, last_error = ?, updated_at = now()
		WHERE id = ?`, string(status), reason, id)
	if res.Error != nil {
		return fmt.Errorf("%s window %d: %w", what, id, res.Error)
	}
	return nil
}

// ReleaseWindow returns a running window to pending, keeping next_page,
// when a run stops between pages or the window's deadline passes; reason,
// when not empty, is kept in last_error.
func (s *Store) ReleaseWindow(ctx context.Context, id int64, reason string) error {
	var r *string
	if reason != "" {
		r = &reason
	}
	res := s.db.WithContext(ctx).Exec(`
		UPDATE sync_windows SET status = 'pending', last_error = COALESCE(?, last_error), updated_at = now()
		WHERE id = ? AND status = 'running'`, r, id)
	if res.Error != nil {
		return fmt.Errorf("release window %d: %w", id, res.Error)
	}
	return nil
}

// SplitWindow marks window id split (with reason in last_error) and creates
// its halves, in one transaction, returning the halves in order. A half that
// exists already is reused.
func (s *Store) SplitWindow(ctx context.Context, id int64, halves [2]Span, reason string, runID int64) ([]Window, error) {
	var out []Window
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var parent windowRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&parent, id).Error; err != nil {
			return err
		}
		if err := tx.Exec(`UPDATE sync_windows SET status = 'split', last_error = ?, updated_at = now(), finished_at = now() WHERE id = ?`,
			reason, id).Error; err != nil {
			return err
		}
		ws, err := (&Store{db: tx, sql: s.sql, log: s.log}).CreateWindows(ctx, parent.Stream, parent.Scope, halves[:], runID)
		if err != nil {
			return err
		}
		out = ws
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("split window %d: %w", id, err)
	}
	return out, nil
}

// RowDensity returns, per scope of stream, the rows a second of window time
// held in the done windows (the greater of the rows received and
// totalElements, over their summed length): what crmsync plan backfill
// --no-probe estimates windows not read yet from. The "" key holds the
// stream's density over every scope. A scope with no done window is absent.
func (s *Store) RowDensity(ctx context.Context, stream string) (map[string]float64, error) {
	var rows []struct {
		Scope         string
		RowsPerSecond float64
	}
	err := s.db.WithContext(ctx).Raw(`
		SELECT coalesce(scope, '') AS scope, rows_per_second FROM (
			SELECT scope, sum(greatest(rows, coalesce(total_elements, 0)))::float8
			              / nullif(sum(extract(epoch FROM window_end - window_start)), 0) AS rows_per_second
			FROM sync_windows WHERE stream = ? AND status = ?
			GROUP BY GROUPING SETS ((scope), ())
		) d WHERE rows_per_second IS NOT NULL`, stream, string(WindowDone)).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("row density of %s windows: %w", stream, err)
	}
	out := make(map[string]float64, len(rows))
	for _, r := range rows {
		out[r.Scope] = r.RowsPerSecond
	}
	return out, nil
}
