package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
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
	Error        string
	Host         string
	PID          int
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
		if err := json.Unmarshal(r.Counts, &rec.Counts); err != nil {
			return RunRecord{}, fmt.Errorf("decode counts of run %d: %w", r.ID, err)
		}
	}
	return rec, nil
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

func encodeCounts(c RunCounts) ([]byte, error) {
	if c == nil {
		c = RunCounts{}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode counts: %w", err)
	}
	return b, nil
}

// SetRunCounts replaces the counters of a running run, so progress is
// visible while it runs.
func (s *Store) SetRunCounts(ctx context.Context, id int64, counts RunCounts) error {
	b, err := encodeCounts(counts)
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
	Status     string // ok, failed or interrupted
	FinishedAt time.Time
	Counts     RunCounts
	Error      string // "" for none
}

// FinishRun records the end of a running run. A run that is no longer
// running (finished already, or marked abandoned) is left alone and
// ErrNotFound is returned.
func (s *Store) FinishRun(ctx context.Context, id int64, end RunEnd) error {
	switch end.Status {
	case RunOK, RunFailed, RunInterrupted:
	default:
		return fmt.Errorf("finish run %d: status %q is not ok, failed or interrupted", id, end.Status)
	}
	b, err := encodeCounts(end.Counts)
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

// JobLock is a job's PostgreSQL advisory lock, held on one dedicated
// connection until Release. Every process sharing the database sees it.
type JobLock struct {
	job    string
	key    int32
	conn   *sql.Conn
	closed bool
}

// jobLockClass is the first key of every job lock ("crms"), so job locks
// never collide with other advisory locks (goose's and storetest's use the
// one-bigint form, which PostgreSQL keeps apart from the two-int4 form).
const jobLockClass int32 = 0x63726d73

func jobLockKey(job string) int32 {
	h := fnv.New32a()
	h.Write([]byte(job))
	return int32(h.Sum32())
}

// TryLockJob takes the advisory lock of job without waiting. It returns
// ok=false, and no lock, when another session holds it.
func (s *Store) TryLockJob(ctx context.Context, job string) (lock *JobLock, ok bool, err error) {
	conn, err := s.sql.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock job %s: %w", job, err)
	}
	key := jobLockKey(job)
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, $2)`, jobLockClass, key).Scan(&ok); err != nil {
		discard(conn)
		return nil, false, fmt.Errorf("lock job %s: %w", job, err)
	}
	if !ok {
		_ = conn.Close()
		return nil, false, nil
	}
	return &JobLock{job: job, key: key, conn: conn}, true, nil
}

// Release unlocks the job and returns the connection. It reports an error
// when the lock had been lost (the connection was reset during the run); the
// connection is then discarded, never returned to the pool holding a lock.
// Release is safe to call twice.
func (l *JobLock) Release() error {
	if l == nil || l.closed {
		return nil
	}
	l.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var held bool
	if err := l.conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1, $2)`, jobLockClass, l.key).Scan(&held); err != nil {
		discard(l.conn)
		return fmt.Errorf("unlock job %s: %w", l.job, err)
	}
	if !held {
		discard(l.conn)
		return fmt.Errorf("unlock job %s: the lock was lost during the run (database connection reset)", l.job)
	}
	return l.conn.Close()
}

// discard closes conn's underlying connection instead of returning it to
// the pool, so no session-level lock can outlive its holder.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
