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

// ErrSkipped is what a step returns, wrapped with the reason, when it did
// not run because another process is doing its work (it holds the step's
// lock). The step is recorded skipped and the run goes on to the next step;
// a run that skipped a step and had no failure is recorded skipped, not ok,
// so catch-up and the last-success metric do not count it as a success.
var ErrSkipped = errors.New("skipped")

// Step statuses, as the "status" key of each step's entry in
// sync_runs.counts records them (Result.Steps).
const (
	StepOK          = "ok"
	StepFailed      = "failed"
	StepSkipped     = "skipped"     // another process was running it (ErrSkipped)
	StepInterrupted = "interrupted" // stopped by a signal, the job timeout or the loss of the job lock
	StepNotStarted  = "not_started" // the run was stopped, or the database became unreachable, before it
	StepRunning     = "running"     // while it runs (and for ever if the process dies)
)

// Defaults of Runner.
const (
	// DefaultGracePeriod is how long running steps get to finish the unit in
	// hand after a stop request. With DefaultFinishTimeout and the
	// scheduler's margins, a whole stop ends within 24 s
	// (Scheduler.StopTimeout): inside Kubernetes' default
	// terminationGracePeriodSeconds (30 s).
	DefaultGracePeriod = 15 * time.Second
	// DefaultFinishTimeout bounds the Runner's bookkeeping once a run's
	// steps have returned: recording the counts and the end of the run,
	// the window lag, and releasing the job lock, all together.
	DefaultFinishTimeout = 5 * time.Second
)

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
	// also are more reasons to stop, closed channels (StopOn); stopped is
	// closed when any of them or stop is.
	also    []<-chan struct{}
	stopped <-chan struct{}
}

// Stopping reports whether the run was asked to stop (a signal, the end of
// the scheduler, the job's timeout, the loss of the job's lock, or of what
// StopOn watches): finish the unit in hand, commit, and return
// ErrInterrupted.
func (r *Run) Stopping() bool {
	for _, c := range r.also {
		select {
		case <-c:
			return true
		default:
		}
	}
	return r.stop != nil && r.stop.requested()
}

// StopRequested returns a channel closed when the run is asked to stop, for
// steps that wait (a rate limiter, a retry back-off) and should wake up.
func (r *Run) StopRequested() <-chan struct{} {
	if r.stopped != nil {
		return r.stopped
	}
	if r.stop == nil {
		return nil
	}
	return r.stop.done
}

// StopOn returns a copy of run, for a step that holds something it can lose
// (a lock), that is also stopping once lost is closed: Stopping becomes true
// and StopRequested is closed, so the step finishes the unit in hand and
// returns before the next one. Call release when the step is over.
func (r *Run) StopOn(lost <-chan struct{}) (sub *Run, release func()) {
	parent := r.StopRequested()
	stopped, quit := make(chan struct{}), make(chan struct{})
	go func() {
		select {
		case <-parent:
		case <-lost:
		case <-quit:
			return
		}
		close(stopped)
	}()
	s := *r
	s.also = append(slices.Clone(r.also), lost)
	s.stopped = stopped
	var once sync.Once
	return &s, func() { once.Do(func() { close(quit) }) }
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
	// Steps is each step's status (StepOK, StepFailed, ...), one per step of
	// the job; empty for a run that did not start.
	Steps map[string]string
	// Err says why the run failed, was interrupted or skipped: every failed
	// or skipped step's error ("step NAME: ..."), joined by "; " (errors.Is
	// sees each); nil when ok. It is also recorded in sync_runs.error.
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
	// cancelled. Default DefaultGracePeriod (15s).
	GracePeriod time.Duration
	// FinishTimeout bounds the bookkeeping once a run's steps have returned
	// or were stopped (counts, end of run, window lag, job lock release, all
	// together), and each recording of progress between steps. Default
	// DefaultFinishTimeout (5s).
	FinishTimeout time.Duration
	Host          string // recorded in sync_runs.host; default os.Hostname()
	PID           int    // recorded in sync_runs.pid; default os.Getpid()
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
	return DefaultGracePeriod
}

func (r *Runner) finishTimeout() time.Duration {
	if r.FinishTimeout > 0 {
		return r.FinishTimeout
	}
	return DefaultFinishTimeout
}

// bookkeeping returns a context for recording what happened, which a stop
// does not cancel and FinishTimeout bounds.
func (r *Runner) bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.finishTimeout())
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
	handedOver := false // execute releases the lock within its bookkeeping
	defer func() {
		if handedOver {
			return
		}
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
	handedOver = true
	return r.execute(ctx, job, run, res, lock)
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
//
// Every step is attempted, whatever happened to the ones before: a failed
// pull of contacts does not keep the tagging logs, the messages or a push
// from running (each step's own progress is in the database, so a later
// step works on whatever the earlier ones committed). What still ends the
// run before its next step: a stop (signal, scheduler stop, job timeout),
// the loss of the job's lock, and a database that no longer answers after a
// step failed (every later step would fail on it, each after its own
// timeouts, and nothing could record them). Those steps are recorded
// not_started.
func (r *Runner) execute(ctx context.Context, job config.Job, run *Run, res Result, lock *store.JobLock) (Result, error) {
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
	watchDone := make(chan struct{})
	defer close(watchDone)
	go func() {
		select {
		case <-lock.Lost():
			st.request(fmt.Errorf("%w: %w", errJobLockLost, lock.Err()))
		case <-watchDone:
		}
	}()

	res.Counts = StepCounts{}
	res.Steps = make(map[string]string, len(job.Steps))
	var errs stepErrors
	var stopped error // why the steps left are not started
	failed, skipped := false, false
	for i, name := range job.Steps {
		if stopped == nil {
			if reason := st.reason(); reason != nil {
				errs = append(errs, fmt.Errorf("stopped before step %s: %w", name, reason))
				stopped = reason
			}
		}
		if stopped != nil {
			res.Steps[name] = StepNotStarted
			continue
		}
		step := *run
		step.Step = name
		step.Log = run.Log.WithField("step", name)
		res.Steps[name] = StepRunning
		r.recordProgress(ctx, run, res)
		began := r.now()
		counts, err := r.callStep(hardCtx, r.Steps[name], &step)
		d := r.now().Sub(began)
		res.Counts[name] = normalize(counts, d)
		r.Metrics.ObserveStep(job.Name, name, d)
		status, serr := stepOutcome(name, err, st, hardCtx)
		res.Steps[name] = status
		switch status {
		case StepFailed:
			failed = true
			errs = append(errs, serr)
			if perr := r.databaseAnswers(ctx, st); perr != nil {
				errs = append(errs, perr)
				stopped = perr
			}
		case StepSkipped:
			skipped = true
			errs = append(errs, serr)
		case StepInterrupted:
			errs = append(errs, serr)
			stopped = st.reason()
		}
		// The end of the run records the last step's counts: once the steps
		// are over, or stopped, the only bookkeeping left is finish's.
		if i < len(job.Steps)-1 && stopped == nil && st.reason() == nil {
			r.recordProgress(ctx, run, res)
		}
	}
	switch reason := st.reason(); {
	case failed, stopped != nil && !errors.Is(stopped, errStopRequested):
		res.Status = StatusFailed // a failure, the timeout, the lost lock or database
	case reason != nil && stopped != nil:
		res.Status = StatusInterrupted
	case skipped:
		res.Status = StatusSkipped
	default:
		res.Status = StatusOK
	}
	res.Err = errs.err()
	return r.finish(ctx, run, res, lock)
}

// stepOutcome classifies how a step ended: its status, and the error to
// record ("step NAME: ...").
func stepOutcome(name string, err error, st *stopState, hardCtx context.Context) (string, error) {
	if err == nil {
		return StepOK, nil
	}
	serr := fmt.Errorf("step %s: %w", name, err)
	if errors.Is(err, ErrSkipped) {
		return StepSkipped, serr
	}
	var pe *panicError
	reason := st.reason()
	if reason == nil || errors.As(err, &pe) ||
		!(errors.Is(err, ErrInterrupted) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || hardCtx.Err() != nil) {
		return StepFailed, serr
	}
	// Stopped early: say why when it was not a plain stop request.
	if cause := context.Cause(hardCtx); cause != nil && !errors.Is(err, cause) {
		serr = fmt.Errorf("step %s: %w (%v)", name, err, cause)
	} else if !errors.Is(reason, errStopRequested) && !errors.Is(err, reason) {
		serr = fmt.Errorf("step %s: %w (%v)", name, err, reason)
	}
	return StepInterrupted, serr
}

// recordProgress records the counts and statuses of a running run; a
// failure is logged, the run goes on.
func (r *Runner) recordProgress(ctx context.Context, run *Run, res Result) {
	bctx, cancel := r.bookkeeping(ctx)
	defer cancel()
	if err := r.Store.SetRunCounts(bctx, run.ID, res.Counts.toStore(), res.Steps); err != nil {
		run.Log.WithError(err).Warn("could not record step counts")
	}
}

// databaseAnswers returns an error when the database no longer answers
// (after a step failed): the steps left are then not started. It asks
// nothing once the run is stopping (no step is left to protect).
func (r *Runner) databaseAnswers(ctx context.Context, st *stopState) error {
	if st.requested() {
		return nil
	}
	bctx, cancel := r.bookkeeping(ctx)
	defer cancel()
	if err := r.Store.Ping(bctx); err != nil {
		return fmt.Errorf("%w: %w; the steps left were not started", errDatabaseGone, err)
	}
	return nil
}

// stepErrors are the errors of a run's steps, in order.
type stepErrors []error

func (e stepErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e stepErrors) Unwrap() []error { return e }

// err returns nil for none, the error itself for one, e for more.
func (e stepErrors) err() error {
	switch len(e) {
	case 0:
		return nil
	case 1:
		return e[0]
	}
	return e
}

// finish records the end of a run, logs its one line, updates metrics and
// releases the job lock, all within FinishTimeout.
func (r *Runner) finish(ctx context.Context, run *Run, res Result, lock *store.JobLock) (Result, error) {
	res.FinishedAt = r.now()
	fctx, cancel := r.bookkeeping(ctx)
	defer cancel()
	end := store.RunEnd{Status: res.Status, FinishedAt: res.FinishedAt, Counts: res.Counts.toStore(), Steps: res.Steps}
	if res.Err != nil {
		end.Error = res.Err.Error()
	}
	err := r.Store.FinishRun(fctx, run.ID, end)
	if err != nil {
		err = fmt.Errorf("run %s: %w", run.Job, err)
	}
	r.refreshWindowLag(fctx) // before the run counts as ended: a scrape that sees the run sees its lag
	r.Metrics.RunFinished(run.Job, res.Status, res.StartedAt)
	if lerr := lock.ReleaseContext(fctx); lerr != nil {
		run.Log.WithError(lerr).Warn("job lock")
	}

	entry := run.Log.WithFields(logrus.Fields{
		"status":   res.Status,
		"duration": res.Duration().Round(time.Millisecond).String(),
		"counts":   res.Counts,
		"steps":    stepsField(res.Steps),
	})
	if res.Err != nil {
		entry = entry.WithError(res.Err)
	}
	switch res.Status {
	case StatusOK:
		entry.Info("run finished")
	case StatusInterrupted:
		entry.Warn("run interrupted")
	case StatusSkipped:
		entry.Warn("run finished, skipping a step another process was running")
	default:
		entry.Error("run failed")
	}
	if err != nil {
		run.Log.WithError(err).Error("could not record the end of the run")
	}
	return res, err
}

// stepsField formats step statuses for a log line: "a=ok b=failed".
func stepsField(steps map[string]string) string {
	var b strings.Builder
	for i, s := range slices.Sorted(maps.Keys(steps)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s + "=" + steps[s])
	}
	return b.String()
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
	errJobLockLost   = errors.New("job lock lost")
	errDatabaseGone  = errors.New("database unreachable")
)

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
