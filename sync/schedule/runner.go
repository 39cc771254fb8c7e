package schedule

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"crmsync/config"
	"crmsync/metrics"
	"crmsync/store"
)

// StepFunc runs one step of a job run.
//
// It checks run.Stopping() between pages or batches: when true it finishes
// the unit in hand, commits, and returns ErrInterrupted (or ctx.Err()). ctx
// itself is cancelled only when the grace period after a stop request (or
// after the job's timeout) is over; work cut off then must roll back.
//
// The returned Counts are recorded even when err is not nil, so a step
// returns what it did so far.
type StepFunc func(ctx context.Context, run *Run) (Counts, error)

// Counts are one step's counters. Every step's entry in sync_runs.counts has
// the standard keys below (0 when the step left them out), duration_ms, and
// any step-specific keys the step adds (windows, merged, unchanged...).
type Counts map[string]int64

// Standard counter keys.
const (
	CountPages       = "pages"        // API pages or DB batches committed
	CountRows        = "rows"         // rows written
	CountRequests    = "requests"     // API requests sent (attempts, retries included)
	CountRateLimited = "rate_limited" // 429 responses
	CountRejections  = "rejections"   // records refused and recorded (pull_errors, push_rejections)
	CountDurationMS  = "duration_ms"  // set by the Runner: how long the step ran
)

var standardCounts = []string{CountPages, CountRows, CountRequests, CountRateLimited, CountRejections}

// StepCounts are a run's counts per step. Its String form is compact, for
// log lines; it marshals to the JSON stored in sync_runs.counts.
type StepCounts map[string]Counts

func (c StepCounts) String() string {
	var b strings.Builder
	for i, s := range slices.Sorted(maps.Keys(c)) {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(s)
		b.WriteString("{")
		for j, k := range slices.Sorted(maps.Keys(c[s])) {
			if j > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%s=%d", k, c[s][k])
		}
		b.WriteString("}")
	}
	return b.String()
}

func (c StepCounts) toStore() store.RunCounts {
	out := make(store.RunCounts, len(c))
	for s, cs := range c {
		out[s] = map[string]int64(cs)
	}
	return out
}

// ErrInterrupted is what a step returns when it stopped early because
// run.Stopping() became true.
var ErrInterrupted = errors.New("interrupted")

// Triggers, as recorded in sync_runs.trigger.
const (
	TriggerSchedule = store.TriggerSchedule
	TriggerManual   = store.TriggerManual
	TriggerBackfill = store.TriggerBackfill
	TriggerCatchUp  = store.TriggerCatchUp
	TriggerDemo     = store.TriggerDemo
)

// Statuses of a finished run, as recorded in sync_runs.status.
const (
	StatusOK          = store.RunOK
	StatusFailed      = store.RunFailed
	StatusSkipped     = store.RunSkipped
	StatusInterrupted = store.RunInterrupted
)

// Range is a time range [From, To) a backfill run covers.
type Range struct {
	From, To time.Time
}

// IsZero reports whether the range is unset (an incremental run).
func (r Range) IsZero() bool { return r.From.IsZero() && r.To.IsZero() }

// Run is one job run, as a step sees it.
type Run struct {
	ID           int64
	Job          string
	Trigger      string
	Step         string    // the step being run
	ScheduledFor time.Time // the schedule tick, zero for manual and backfill runs
	StartedAt    time.Time
	Range        Range // set for backfill runs; zero for incremental ones
	// Log carries run_id, job, trigger and step. Steps add their own fields
	// (window, page) and never log secrets or contact data.
	Log logrus.FieldLogger

	stop *stopState
}

// Stopping reports whether the run was asked to stop (a signal, the end of
// the scheduler, or the job's timeout): finish the unit in hand, commit, and
// return ErrInterrupted.
func (r *Run) Stopping() bool {
	return r.stop != nil && r.stop.requested()
}

// StopRequested returns a channel closed when the run is asked to stop, for
// steps that wait (a rate limiter, a retry back-off) and should wake up.
func (r *Run) StopRequested() <-chan struct{} {
	if r.stop == nil {
		return nil
	}
	return r.stop.done
}

// StandaloneRun returns a Run for calling a StepFunc outside a Runner (a
// stage's tests, a one-off command), with no sync_runs row (ID 0), and a
// function that asks it to stop: run.Stopping() becomes true and
// run.StopRequested() is closed. Calling stop again does nothing.
func StandaloneRun(job, step string, log logrus.FieldLogger) (run *Run, stop func()) {
	if log == nil {
		log = discardLogger()
	}
	st := &stopState{done: make(chan struct{})}
	run = &Run{Job: job, Trigger: TriggerManual, Step: step, Log: log.WithFields(logrus.Fields{"job": job, "step": step}), stop: st}
	return run, func() { st.request(errStopRequested) }
}

// Result is how a run ended.
type Result struct {
	RunID        int64 // the sync_runs row; 0 when nothing was recorded
	Job          string
	Trigger      string
	Status       string // ok, failed, skipped or interrupted
	ScheduledFor time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	Counts       StepCounts
	// Err says why the run failed, was interrupted or skipped; nil when ok.
	// It is also recorded in sync_runs.error.
	Err error
}

// Duration is how long the run took.
func (r Result) Duration() time.Duration { return r.FinishedAt.Sub(r.StartedAt) }

// Failed reports whether the run ended with status failed.
func (r Result) Failed() bool { return r.Status == StatusFailed }

// RunOptions are the per-run settings of Runner.Start.
type RunOptions struct {
	Trigger string // one of the Trigger* constants; required
	// ScheduledFor is the schedule tick the run is for. At most one run per
	// job and tick is not skipped, across processes. Zero for none.
	ScheduledFor time.Time
	Range        Range // for backfill runs, passed to the steps as Run.Range
}

// Runner runs jobs: one sync_runs row per run, the job's advisory lock held
// for the run, steps in order with their counts recorded after each, panics
// turned into failed runs. The scheduler, `crmsync run` and `crmsync
// backfill` all run jobs through it. A Runner is safe for concurrent use;
// its fields must not change once it is in use.
type Runner struct {
	Store   *store.Store
	Steps   map[string]StepFunc // step name → implementation
	Log     logrus.FieldLogger  // nil discards
	Metrics *metrics.Registry   // nil records nothing
	NowFunc func() time.Time    // default time.Now
	// GracePeriod is how long running steps get to finish the unit in hand
	// after a stop request or the job's timeout, before their ctx is
	// cancelled. Default 30s.
	GracePeriod time.Duration
	Host        string // recorded in sync_runs.host; default os.Hostname()
	PID         int    // recorded in sync_runs.pid; default os.Getpid()
}

func (r *Runner) now() time.Time {
	if r.NowFunc != nil {
		return r.NowFunc()
	}
	return time.Now()
}

func (r *Runner) log() logrus.FieldLogger {
	if r.Log != nil {
		return r.Log
	}
	return discardLogger()
}

func (r *Runner) grace() time.Duration {
	if r.GracePeriod > 0 {
		return r.GracePeriod
	}
	return 30 * time.Second
}

func (r *Runner) host() (string, int) {
	h, pid := r.Host, r.PID
	if h == "" {
		h, _ = os.Hostname()
	}
	if pid == 0 {
		pid = os.Getpid()
	}
	return h, pid
}

// RunJob runs job now with the given trigger; see Start.
func (r *Runner) RunJob(ctx context.Context, job config.Job, trigger string) (Result, error) {
	return r.Start(ctx, job, RunOptions{Trigger: trigger})
}

// Start runs job once and returns how it ended. The job may be built in
// code (an ad-hoc backfill job with no schedule): only its Name, Steps and
// Timeout are used.
//
// ctx ending is a stop request, not an abort: running steps see
// run.Stopping() and finish the unit in hand; their own ctx is cancelled
// GracePeriod later. The run is then recorded as interrupted. A job Timeout
// stops the run the same way and records it as failed.
//
// When another session holds the job's lock, or another run already took
// opts.ScheduledFor, a skipped run is recorded and returned. Before a run
// starts, runs of the job still recorded as running (their process died) are
// marked failed.
//
// The returned error is not nil only when the run could not be started or
// its end could not be recorded (invalid job, database unreachable, ctx
// ended before it started); the run's own outcome is Result.Status and
// Result.Err.
func (r *Runner) Start(ctx context.Context, job config.Job, opts RunOptions) (Result, error) {
	res := Result{Job: job.Name, Trigger: opts.Trigger, ScheduledFor: opts.ScheduledFor}
	if err := r.check(job, opts); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("run %s: not started: %w", job.Name, err)
	}
	host, pid := r.host()
	res.StartedAt = r.now()
	nr := store.NewRun{Job: job.Name, Trigger: opts.Trigger, ScheduledFor: opts.ScheduledFor, StartedAt: res.StartedAt, Host: host, PID: pid}
	log := r.log().WithFields(logrus.Fields{"job": job.Name, "trigger": opts.Trigger})
	if !opts.ScheduledFor.IsZero() {
		log = log.WithField("tick", opts.ScheduledFor.Format(time.RFC3339))
	}

	lock, ok, err := r.Store.TryLockJob(ctx, job.Name)
	if err != nil {
		return res, fmt.Errorf("run %s: %w", job.Name, err)
	}
	if !ok {
		return r.skip(ctx, res, nr, log, r.holder(ctx, job.Name))
	}
	defer func() {
		if err := lock.Release(); err != nil {
			log.WithError(err).Warn("job lock")
		}
	}()

	abandoned, err := r.Store.AbandonRuns(ctx, job.Name, fmt.Sprintf("abandoned: its process ended without recording the end of the run (found by %s pid %d)", host, pid))
	if err != nil {
		return res, fmt.Errorf("run %s: %w", job.Name, err)
	}
	if abandoned > 0 {
		log.WithField("runs", abandoned).Warn("marked runs left running by a process that died as failed")
	}
	id, err := r.Store.StartRun(ctx, nr)
	if errors.Is(err, store.ErrTickTaken) {
		return r.skip(ctx, res, nr, log, fmt.Sprintf("tick %s already has a run (another replica, or a catch-up, got there first)", opts.ScheduledFor.Format(time.RFC3339)))
	}
	if err != nil {
		return res, fmt.Errorf("run %s: %w", job.Name, err)
	}
	res.RunID = id
	r.Metrics.RunStarted(job.Name)
	run := &Run{
		ID: id, Job: job.Name, Trigger: opts.Trigger, ScheduledFor: opts.ScheduledFor,
		StartedAt: res.StartedAt, Range: opts.Range, Log: log.WithField("run_id", id),
	}
	return r.execute(ctx, job, run, res)
}

func (r *Runner) check(job config.Job, opts RunOptions) error {
	if r.Store == nil {
		return errors.New("schedule: Runner.Store is nil")
	}
	if job.Name == "" {
		return errors.New("run job: the job has no name")
	}
	if len(job.Steps) == 0 {
		return fmt.Errorf("run %s: the job has no steps", job.Name)
	}
	for _, s := range job.Steps {
		if r.Steps[s] == nil {
			return fmt.Errorf("run %s: step %q is not available (have: %s)", job.Name, s, strings.Join(slices.Sorted(maps.Keys(r.Steps)), ", "))
		}
	}
	switch opts.Trigger {
	case TriggerSchedule, TriggerManual, TriggerBackfill, TriggerCatchUp, TriggerDemo:
	default:
		return fmt.Errorf("run %s: unknown trigger %q", job.Name, opts.Trigger)
	}
	return nil
}

// holder describes the run holding the job's lock, for a skipped run.
func (r *Runner) holder(ctx context.Context, job string) string {
	h, err := r.Store.RunningRun(ctx, job)
	if err != nil {
		return "another process holds the job lock"
	}
	return fmt.Sprintf("another process holds the job lock: run %d (%s) on %s pid %d, started %s",
		h.ID, h.Trigger, h.Host, h.PID, h.StartedAt.UTC().Format(time.RFC3339))
}

func (r *Runner) skip(ctx context.Context, res Result, nr store.NewRun, log logrus.FieldLogger, reason string) (Result, error) {
	res.Status = StatusSkipped
	res.FinishedAt = res.StartedAt
	res.Err = errors.New(reason)
	id, err := r.Store.SkipRun(ctx, nr, reason)
	if err != nil {
		return res, fmt.Errorf("run %s: %w", nr.Job, err)
	}
	res.RunID = id
	r.Metrics.RunSkipped(nr.Job)
	log.WithField("run_id", id).WithField("status", StatusSkipped).Warn("run skipped: " + reason)
	return res, nil
}

// execute runs the steps of a started run and records its end.
func (r *Runner) execute(ctx context.Context, job config.Job, run *Run, res Result) (Result, error) {
	grace := r.grace()
	hardCtx, hardCancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer hardCancel(nil)
	st := &stopState{done: make(chan struct{}), grace: grace, hard: hardCancel}
	run.stop = st
	defer st.close()
	stopOnCtx := context.AfterFunc(ctx, func() { st.request(errStopRequested) })
	defer stopOnCtx()
	if job.Timeout > 0 {
		t := time.AfterFunc(job.Timeout, func() { st.request(fmt.Errorf("%w after %s", errTimedOut, job.Timeout)) })
		defer t.Stop()
	}

	res.Counts = StepCounts{}
	res.Status = StatusOK
	for _, name := range job.Steps {
		if reason := st.reason(); reason != nil {
			res.Err = fmt.Errorf("stopped before step %s: %w", name, reason)
			res.Status = statusForStop(reason)
			break
		}
		step := *run
		step.Step = name
		step.Log = run.Log.WithField("step", name)
		began := r.now()
		counts, err := r.callStep(hardCtx, r.Steps[name], &step)
		d := r.now().Sub(began)
		res.Counts[name] = normalize(counts, d)
		r.Metrics.ObserveStep(job.Name, name, d)
		if cerr := r.Store.SetRunCounts(context.WithoutCancel(ctx), run.ID, res.Counts.toStore()); cerr != nil {
			run.Log.WithError(cerr).Warn("could not record step counts")
		}
		if err != nil {
			res.Err = fmt.Errorf("step %s: %w", name, err)
			res.Status = StatusFailed
			var pe *panicError
			if reason := st.reason(); reason != nil && !errors.As(err, &pe) &&
				(errors.Is(err, ErrInterrupted) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || hardCtx.Err() != nil) {
				res.Status = statusForStop(reason)
				if cause := context.Cause(hardCtx); cause != nil && !errors.Is(err, cause) {
					res.Err = fmt.Errorf("step %s: %w (%v)", name, err, cause)
				}
			}
			break
		}
	}
	return r.finish(ctx, run, res)
}

// finish records the end of a run, logs its one line and updates metrics.
func (r *Runner) finish(ctx context.Context, run *Run, res Result) (Result, error) {
	res.FinishedAt = r.now()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	end := store.RunEnd{Status: res.Status, FinishedAt: res.FinishedAt, Counts: res.Counts.toStore()}
	if res.Err != nil {
		end.Error = res.Err.Error()
	}
	err := r.Store.FinishRun(fctx, run.ID, end)
	if err != nil {
		err = fmt.Errorf("run %s: %w", run.Job, err)
	}
	r.refreshWindowLag(fctx) // before the run counts as ended: a scrape that sees the run sees its lag
	r.Metrics.RunFinished(run.Job, res.Status, res.StartedAt)

	entry := run.Log.WithFields(logrus.Fields{
		"status":   res.Status,
		"duration": res.Duration().Round(time.Millisecond).String(),
		"counts":   res.Counts,
	})
	if res.Err != nil {
		entry = entry.WithError(res.Err)
	}
	switch res.Status {
	case StatusOK:
		entry.Info("run finished")
	case StatusInterrupted:
		entry.Warn("run interrupted")
	default:
		entry.Error("run failed")
	}
	if err != nil {
		run.Log.WithError(err).Error("could not record the end of the run")
	}
	return res, err
}

// refreshWindowLag updates the window lag gauges from sync_windows.
func (r *Runner) refreshWindowLag(ctx context.Context) {
	if r.Metrics == nil {
		return
	}
	sums, err := r.Store.WindowSummaries(ctx)
	if err != nil {
		r.log().WithError(err).Warn("could not read window lag")
		return
	}
	now := r.now()
	for _, s := range sums {
		if !s.CompleteUntil.IsZero() {
			r.Metrics.SetWindowLag(s.Stream, now.Sub(s.CompleteUntil))
		}
	}
}

// panicError is a step's panic, turned into an error.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// callStep runs one step, turning a panic into an error; the stack is
// logged once, here.
func (r *Runner) callStep(ctx context.Context, fn StepFunc, run *Run) (counts Counts, err error) {
	defer func() {
		if p := recover(); p != nil {
			run.Log.WithField("stack", string(debug.Stack())).Errorf("step panicked: %v", p)
			err = &panicError{value: p}
		}
	}()
	return fn(ctx, run)
}

// normalize copies c with every standard key present and the duration set.
func normalize(c Counts, d time.Duration) Counts {
	out := make(Counts, len(c)+len(standardCounts)+1)
	for _, k := range standardCounts {
		out[k] = 0
	}
	for k, v := range c {
		out[k] = v
	}
	out[CountDurationMS] = d.Milliseconds()
	return out
}

var (
	errStopRequested = errors.New("stop requested")
	errTimedOut      = errors.New("job timed out")
)

func statusForStop(reason error) string {
	if errors.Is(reason, errTimedOut) {
		return StatusFailed
	}
	return StatusInterrupted
}

// stopState is a run's stop request: the first reason wins; GracePeriod
// after it the steps' ctx is cancelled.
type stopState struct {
	mu     sync.Mutex
	why    error
	done   chan struct{}
	grace  time.Duration
	hard   context.CancelCauseFunc
	timer  *time.Timer
	closed bool
}

func (s *stopState) request(reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.why != nil || s.closed {
		return
	}
	s.why = reason
	close(s.done)
	if s.hard != nil {
		s.timer = time.AfterFunc(s.grace, func() {
			s.hard(fmt.Errorf("%w: grace period of %s over", reason, s.grace))
		})
	}
}

func (s *stopState) reason() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.why
}

func (s *stopState) requested() bool { return s.reason() != nil }

// close ends the stop state when the run is over: no timer stays behind.
func (s *stopState) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
}
