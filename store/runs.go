package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Run statuses as stored in sync_runs.status.
const (
	RunRunning     = "running"
	RunOK          = "ok"
	RunFailed      = "failed"
	RunSkipped     = "skipped"
	RunInterrupted = "interrupted"
)

// Run triggers as stored in sync_runs.trigger.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
	TriggerBackfill = "backfill"
	TriggerCatchUp  = "catch-up"
	TriggerDemo     = "demo"
)

// ErrTickTaken is returned by StartRun when another run of the job already
// claimed the same schedule tick (NewRun.ScheduledFor).
var ErrTickTaken = errors.New("store: this tick of the job already has a run")

// RunCounts holds a run's counters per step: step → counter → value, stored
// as the JSON object in sync_runs.counts.
type RunCounts map[string]map[string]int64

// StepStatuses holds the outcome of each step of a run: step → status
// (ok, failed, skipped, interrupted, not_started, or running while it
// runs), stored as the "status" key of the step's entry in
// sync_runs.counts.
type StepStatuses map[string]string

// StatusKey is the key of a step's status in its sync_runs.counts entry; no
// counter may use it.
const StatusKey = "status"

// RunRecord is one row of sync_runs.
type RunRecord struct {
	ID           int64
	Job          string
	Trigger      string
	ScheduledFor time.Time // zero when the run is not for a schedule tick
	Status       string
	StartedAt    time.Time
	FinishedAt   time.Time // zero while running, or when the process died
	Counts       RunCounts
	// Steps is each step's status; empty for runs recorded before steps had
	// one (migration 00008).
	Steps StepStatuses
	Error string
	Host  string
	PID   int
}

// Duration is FinishedAt - StartedAt, or 0 when the run has not finished.
func (r RunRecord) Duration() time.Duration {
	if r.FinishedAt.IsZero() {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// runRow is the gorm model for sync_runs. It never leaves package store.
type runRow struct {
	ID           int64      `gorm:"column:id"`
	Job          string     `gorm:"column:job"`
	Trigger      string     `gorm:"column:trigger"`
	ScheduledFor *time.Time `gorm:"column:scheduled_for"`
	Status       string     `gorm:"column:status"`
	StartedAt    time.Time  `gorm:"column:started_at"`
	FinishedAt   *time.Time `gorm:"column:finished_at"`
	Counts       []byte     `gorm:"column:counts"`
	Error        *string    `gorm:"column:error"`
	Host         string     `gorm:"column:host"`
	PID          int        `gorm:"column:pid"`
}

const runColumns = `id, job, trigger, scheduled_for, status, started_at, finished_at, counts, error, host, pid`

func (r runRow) toRecord() (RunRecord, error) {
	rec := RunRecord{ID: r.ID, Job: r.Job, Trigger: r.Trigger, Status: r.Status, StartedAt: r.StartedAt, Host: r.Host, PID: r.PID}
	if r.ScheduledFor != nil {
		rec.ScheduledFor = *r.ScheduledFor
	}
	if r.FinishedAt != nil {
		rec.FinishedAt = *r.FinishedAt
	}
	if r.Error != nil {
		rec.Error = *r.Error
	}
	if len(r.Counts) > 0 {
		var err error
		if rec.Counts, rec.Steps, err = decodeCounts(r.Counts); err != nil {
			return RunRecord{}, fmt.Errorf("decode counts of run %d: %w", r.ID, err)
		}
	}
	return rec, nil
}

// decodeCounts splits sync_runs.counts into the counters and the statuses.
func decodeCounts(b []byte) (RunCounts, StepStatuses, error) {
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, nil, err
	}
	counts := make(RunCounts, len(raw))
	var steps StepStatuses
	for step, kv := range raw {
		cs := make(map[string]int64, len(kv))
		for k, v := range kv {
			if k == StatusKey {
				var st string
				if err := json.Unmarshal(v, &st); err != nil {
					return nil, nil, fmt.Errorf("%s.%s: %w", step, k, err)
				}
				if steps == nil {
					steps = StepStatuses{}
				}
				steps[step] = st
				continue
			}
			var n int64
			if err := json.Unmarshal(v, &n); err != nil {
				return nil, nil, fmt.Errorf("%s.%s: %w", step, k, err)
			}
			cs[k] = n
		}
		counts[step] = cs
	}
	return counts, steps, nil
}

func toRecords(rows []runRow) ([]RunRecord, error) {
	out := make([]RunRecord, 0, len(rows))
	for _, r := range rows {
		rec, err := r.toRecord()
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// NewRun describes a run about to be recorded.
type NewRun struct {
	Job          string
	Trigger      string    // one of the Trigger* constants
	ScheduledFor time.Time // the schedule tick the run is for; zero for none
	StartedAt    time.Time
	Host         string
	PID          int
}

// StartRun records a run in progress (status running) and returns its id.
// When nr.ScheduledFor is set and another run of the job (not skipped)
// already has that tick, it returns ErrTickTaken and records nothing.
func (s *Store) StartRun(ctx context.Context, nr NewRun) (int64, error) {
	var id int64
	err := s.db.WithContext(ctx).Raw(`
		INSERT INTO sync_runs (job, trigger, scheduled_for, status, started_at, host, pid)
		VALUES (?, ?, ?, 'running', ?, ?, ?)
		RETURNING id`,
		nr.Job, nr.Trigger, optTime(nr.ScheduledFor), nr.StartedAt, nr.Host, nr.PID).Scan(&id).Error
	if isTickConflict(err) {
		return 0, ErrTickTaken
	}
	if err != nil {
		return 0, fmt.Errorf("record start of %s run: %w", nr.Job, err)
	}
	return id, nil
}

// SkipRun records a run that did not happen (status skipped, finished at
// once) with the reason in its error column, and returns its id.
func (s *Store) SkipRun(ctx context.Context, nr NewRun, reason string) (int64, error) {
	var id int64
	err := s.db.WithContext(ctx).Raw(`
		INSERT INTO sync_runs (job, trigger, scheduled_for, status, started_at, finished_at, error, host, pid)
		VALUES (?, ?, ?, 'skipped', ?, ?, ?, ?, ?)
		RETURNING id`,
		nr.Job, nr.Trigger, optTime(nr.ScheduledFor), nr.StartedAt, nr.StartedAt, reason, nr.Host, nr.PID).Scan(&id).Error
	if err != nil {
		return 0, fmt.Errorf("record skipped %s run: %w", nr.Job, err)
	}
	return id, nil
}

// isTickConflict reports whether err is a violation of sync_runs_tick_key.
// (gorm translates errors for its own statements, not for Raw scans, so the
// driver's error is checked too.)
func isTickConflict(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505" && pg.ConstraintName == "sync_runs_tick_key"
	}
	return errors.Is(err, gorm.ErrDuplicatedKey)
}

// encodeCounts merges the counters and the statuses into the JSON of
// sync_runs.counts: one object per step, its status under StatusKey.
func encodeCounts(c RunCounts, steps StepStatuses) ([]byte, error) {
	out := make(map[string]map[string]any, max(len(c), len(steps)))
	for step, cs := range c {
		m := make(map[string]any, len(cs)+1)
		for k, v := range cs {
			if k == StatusKey {
				return nil, fmt.Errorf("encode counts: step %s has a counter named %q, the key of its status", step, k)
			}
			m[k] = v
		}
		out[step] = m
	}
	for step, st := range steps {
		if out[step] == nil {
			out[step] = map[string]any{}
		}
		out[step][StatusKey] = st
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode counts: %w", err)
	}
	return b, nil
}

// SetRunCounts replaces the counters and step statuses of a running run,
// so progress is visible while it runs.
func (s *Store) SetRunCounts(ctx context.Context, id int64, counts RunCounts, steps StepStatuses) error {
	b, err := encodeCounts(counts, steps)
	if err != nil {
		return err
	}
	res := s.db.WithContext(ctx).Exec(`UPDATE sync_runs SET counts = ?::jsonb WHERE id = ? AND status = 'running'`, string(b), id)
	if res.Error != nil {
		return fmt.Errorf("record counts of run %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("record counts of run %d: %w", id, ErrNotFound)
	}
	return nil
}

// RunEnd is how a run ended.
type RunEnd struct {
	// Status is ok, failed, interrupted, or skipped for a run that skipped a
	// step another process was running.
	Status     string
	FinishedAt time.Time
	Counts     RunCounts
	Steps      StepStatuses
	Error      string // "" for none
}

// FinishRun records the end of a running run. A run that is no longer
// running (finished already, or marked abandoned) is left alone and
// ErrNotFound is returned.
func (s *Store) FinishRun(ctx context.Context, id int64, end RunEnd) error {
	switch end.Status {
	case RunOK, RunFailed, RunInterrupted, RunSkipped:
	default:
		return fmt.Errorf("finish run %d: status %q is not ok, failed, interrupted or skipped", id, end.Status)
	}
	b, err := encodeCounts(end.Counts, end.Steps)
	if err != nil {
		return err
	}
	var errText *string
	if end.Error != "" {
		errText = &end.Error
	}
	res := s.db.WithContext(ctx).Exec(`
		UPDATE sync_runs SET status = ?, finished_at = ?, counts = ?::jsonb, error = ?
		WHERE id = ? AND status = 'running'`,
		end.Status, end.FinishedAt, string(b), errText, id)
	if res.Error != nil {
		return fmt.Errorf("record end of run %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("record end of run %d: %w", id, ErrNotFound)
	}
	return nil
}

// AbandonRuns marks every run of job still recorded as running as failed
// with reason, and returns how many it marked. Call it only while holding
// the job's lock: no live process can then be running the job, so such rows
// belong to processes that died.
func (s *Store) AbandonRuns(ctx context.Context, job, reason string) (int64, error) {
	res := s.db.WithContext(ctx).Exec(`
		UPDATE sync_runs SET status = 'failed', error = ?
		WHERE job = ? AND status = 'running'`, reason, job)
	if res.Error != nil {
		return 0, fmt.Errorf("mark abandoned %s runs: %w", job, res.Error)
	}
	return res.RowsAffected, nil
}

// GetRun returns the run with the given id.
func (s *Store) GetRun(ctx context.Context, id int64) (RunRecord, error) {
	var rows []runRow
	if err := s.db.WithContext(ctx).Raw(`SELECT `+runColumns+` FROM sync_runs WHERE id = ?`, id).Scan(&rows).Error; err != nil {
		return RunRecord{}, fmt.Errorf("get run %d: %w", id, err)
	}
	if len(rows) == 0 {
		return RunRecord{}, ErrNotFound
	}
	return rows[0].toRecord()
}

// RunningRun returns the newest run of job recorded as running.
func (s *Store) RunningRun(ctx context.Context, job string) (RunRecord, error) {
	var rows []runRow
	err := s.db.WithContext(ctx).Raw(`SELECT `+runColumns+` FROM sync_runs
		WHERE job = ? AND status = 'running' ORDER BY started_at DESC, id DESC LIMIT 1`, job).Scan(&rows).Error
	if err != nil {
		return RunRecord{}, fmt.Errorf("get running %s run: %w", job, err)
	}
	if len(rows) == 0 {
		return RunRecord{}, ErrNotFound
	}
	return rows[0].toRecord()
}

// RunListOptions selects runs for ListRuns. Zero values select everything.
type RunListOptions struct {
	Job    string // "" for every job
	Status string // "" for every status
	Limit  int    // 0 for no limit
}

// ListRuns returns runs, oldest first.
func (s *Store) ListRuns(ctx context.Context, o RunListOptions) ([]RunRecord, error) {
	q := s.db.WithContext(ctx).Table("sync_runs").Select(runColumns)
	if o.Job != "" {
		q = q.Where("job = ?", o.Job)
	}
	if o.Status != "" {
		q = q.Where("status = ?", o.Status)
	}
	if o.Limit > 0 {
		q = q.Limit(o.Limit)
	}
	var rows []runRow
	if err := q.Order("started_at, id").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return toRecords(rows)
}

// LastSuccess returns when the newest ok run of job started, or the zero
// time when the job never succeeded.
func (s *Store) LastSuccess(ctx context.Context, job string) (time.Time, error) {
	var row struct {
		Last *time.Time `gorm:"column:last"`
	}
	err := s.db.WithContext(ctx).Raw(`SELECT max(started_at) AS last FROM sync_runs WHERE job = ? AND status = 'ok'`, job).Scan(&row).Error
	if err != nil {
		return time.Time{}, fmt.Errorf("last successful %s run: %w", job, err)
	}
	if row.Last == nil {
		return time.Time{}, nil
	}
	return *row.Last, nil
}
