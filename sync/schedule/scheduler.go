package schedule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"crmsync/config"
)

// stepUnwind is how long Stop allows, after the grace period, for steps
// whose ctx was cancelled to return (a step lock's release is bounded at 2
// s), before the Runner's own bookkeeping (Runner.FinishTimeout).
const stepUnwind = 3 * time.Second

// httpShutdown bounds the shutdown of the operations listener, whose
// requests (probes, a scrape) are short.
const httpShutdown = time.Second

// Options configures NewScheduler.
type Options struct {
	Runner *Runner      // required: runs every job
	Jobs   []config.Job // each needs a Schedule
	// Location is the zone of schedules without CRON_TZ= (config timezone).
	// Default UTC.
	Location *time.Location
	// CatchUp runs at Start, once, each job whose last successful run is
	// older than one period (a tick was missed since).
	CatchUp bool
	// HTTPAddr is where /healthz, /readyz and /metrics listen; "" or "off"
	// for no listener.
	HTTPAddr string
	// ConfigPath names the configuration in errors ("" for none).
	ConfigPath string
	Log        logrus.FieldLogger // nil: Runner.Log
}

// Scheduler runs jobs on their cron schedules with robfig/cron: Recover and
// SkipIfStillRunning around every job, a PostgreSQL advisory lock per job
// across processes (Runner), one run per tick across replicas
// (sync_runs.scheduled_for), catch-up at start, and a graceful stop.
type Scheduler struct {
	o    Options
	log  logrus.FieldLogger
	jobs []*jobRunner

	mu         sync.Mutex
	state      int // 0 new, 1 started, 2 stopped
	cron       *cron.Cron
	runCtx     context.Context
	cancelRuns context.CancelFunc
	catchUps   sync.WaitGroup
	http       *HTTPServer
}

// jobRunner is one scheduled job.
type jobRunner struct {
	s    *Scheduler
	job  config.Job
	spec *config.Spec
	log  logrus.FieldLogger
	busy sync.Mutex // one run of the job at a time in this process (ticks and catch-up)
}

// NewScheduler parses every job's schedule, once, with config.ParseSchedule,
// and checks that job names are unique and that every step has an
// implementation in this build. A problem is a configuration error
// (errors.Is(err, config.ErrInvalid)) naming jobs[i] in Options.ConfigPath.
func NewScheduler(o Options) (*Scheduler, error) {
	if o.Runner == nil || o.Runner.Store == nil {
		return nil, errors.New("schedule: Options.Runner with a Store is required")
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.HTTPAddr == "off" {
		o.HTTPAddr = ""
	}
	log := o.Log
	if log == nil {
		log = o.Runner.log()
	}
	s := &Scheduler{o: o, log: log}
	file := o.ConfigPath
	if file == "" {
		file = "jobs"
	}
	var probs []config.Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, config.Problem{File: file, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	seen := map[string]bool{}
	for i, j := range o.Jobs {
		key := fmt.Sprintf("jobs[%d]", i)
		if seen[j.Name] {
			add(key+".name", "job %q defined twice", j.Name)
			continue
		}
		seen[j.Name] = true
		spec, err := config.ParseSchedule(j.Schedule, o.Location)
		if err != nil {
			add(key+".schedule", "job %q: %v", j.Name, err)
		}
		for n, step := range j.Steps {
			if o.Runner.Steps[step] == nil {
				add(fmt.Sprintf("%s.steps[%d]", key, n), "job %q: step %q is not available in this build", j.Name, step)
			}
		}
		s.jobs = append(s.jobs, &jobRunner{s: s, job: j, spec: spec, log: log.WithField("job", j.Name)})
	}
	if len(probs) > 0 {
		return nil, &config.Error{Problems: probs}
	}
	return s, nil
}

// Start starts the listener (if any), the cron loop and the catch-up runs,
// and returns. The catch-up decisions are taken before Start returns; the
// runs themselves go on in the background.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != 0 {
		return errors.New("schedule: Start called twice")
	}
	if s.o.HTTPAddr != "" {
		h := NewHTTPHandler(s.o.Runner.Store, s.o.Runner.Metrics, s.ready)
		srv, err := ListenHTTP(s.o.HTTPAddr, h, s.log)
		if err != nil {
			return err
		}
		s.http = srv
	}
	s.state = 1
	s.runCtx, s.cancelRuns = context.WithCancel(context.WithoutCancel(ctx))

	s.cron = cron.New(cron.WithLocation(s.o.Location), cron.WithLogger(cronLogger{log: s.log}))
	for _, j := range s.jobs {
		l := cronLogger{log: j.log}
		s.cron.Schedule(j.spec, cron.NewChain(cron.Recover(l), cron.SkipIfStillRunning(l)).Then(cron.FuncJob(j.tick)))
	}
	s.cron.Start()

	now := s.o.Runner.now()
	for _, j := range s.jobs {
		j.log.WithFields(logrus.Fields{"schedule": j.spec.String(), "next": j.spec.Next(now).Format(time.RFC3339)}).Info("job scheduled")
	}
	s.log.WithFields(logrus.Fields{"grace_period": s.o.Runner.grace().String(), "stop_timeout": s.StopTimeout().String()}).
		Info("scheduler started; a stop (SIGTERM) ends within stop_timeout: let the orchestrator wait at least that long before SIGKILL")
	if s.o.CatchUp {
		for _, j := range s.jobs {
			s.startCatchUp(ctx, j, now)
		}
	}
	return nil
}

// startCatchUp runs j once now, in the background, if it missed a tick
// since its last success.
func (s *Scheduler) startCatchUp(ctx context.Context, j *jobRunner, now time.Time) {
	last, err := s.o.Runner.Store.LastSuccess(ctx, j.job.Name)
	if err != nil {
		j.log.WithError(err).Error("catch-up: could not read the last successful run")
		return
	}
	if !j.spec.Due(last, now) {
		return
	}
	tick := j.spec.Prev(now)
	fields := logrus.Fields{"tick": tick.Format(time.RFC3339)}
	if last.IsZero() {
		fields["last_ok"] = "never"
	} else {
		fields["last_ok"] = last.Format(time.RFC3339)
	}
	j.log.WithFields(fields).Info("catch-up: a tick was missed since the last successful run; running once now")
	recoverer := cron.Recover(cronLogger{log: j.log})
	s.catchUps.Add(1)
	go func() {
		defer s.catchUps.Done()
		recoverer(cron.FuncJob(func() { j.run(TriggerCatchUp, tick) })).Run()
	}()
}

// tick is what cron calls for the job; the tick is the latest one due.
func (j *jobRunner) tick() {
	j.run(TriggerSchedule, j.spec.Prev(time.Now()))
}

func (j *jobRunner) run(trigger string, tick time.Time) {
	if !j.busy.TryLock() {
		j.log.WithField("trigger", trigger).Warn("not started: the previous run of the job is still running in this process")
		return
	}
	defer j.busy.Unlock()
	if _, err := j.s.o.Runner.Start(j.s.runCtx, j.job, RunOptions{Trigger: trigger, ScheduledFor: tick}); err != nil {
		if j.s.runCtx.Err() != nil {
			j.log.WithField("trigger", trigger).Info("not started: stopping")
			return
		}
		j.log.WithField("trigger", trigger).WithError(err).Error("run could not be recorded")
	}
}

// ready answers /readyz: not ready once Stop was called.
func (s *Scheduler) ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == 2 {
		return errors.New("stopping")
	}
	return nil
}

// HTTPAddr returns the address of the operations listener, "" when none.
func (s *Scheduler) HTTPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.http == nil {
		return ""
	}
	return s.http.Addr()
}

// Next returns the next tick of the named job after now, or the zero time
// for an unknown job.
func (s *Scheduler) Next(job string, now time.Time) time.Time {
	for _, j := range s.jobs {
		if j.job.Name == job {
			return j.spec.Next(now)
		}
	}
	return time.Time{}
}

// Stop stops the scheduler gracefully: no new runs start; running steps are
// asked to finish the unit in hand (run.Stopping()), and their ctx is
// cancelled after the Runner's grace period; runs are recorded as
// interrupted. Stop returns when every run has ended, or with an error when
// some are still running a short margin after the grace period.
func (s *Scheduler) Stop() error {
	s.mu.Lock()
	if s.state != 1 {
		s.mu.Unlock()
		return nil
	}
	s.state = 2
	s.mu.Unlock()

	grace := s.o.Runner.grace()
	s.log.WithFields(logrus.Fields{"grace_period": grace.String(), "stop_timeout": s.StopTimeout().String()}).
		Info("stopping: no new runs; waiting for running steps to finish the unit in hand")
	ticksDone := s.cron.Stop()
	s.cancelRuns()

	all := make(chan struct{})
	go func() {
		<-ticksDone.Done()
		s.catchUps.Wait()
		close(all)
	}()
	var err error
	limit := s.StopTimeout() - httpShutdown
	wait := time.NewTimer(limit)
	select {
	case <-all:
		wait.Stop()
	case <-wait.C:
		err = fmt.Errorf("stop: runs still going %s after the stop request; exiting anyway (they stay recorded as running until the job runs again)", limit)
	}
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), httpShutdown)
		defer cancel()
		if herr := s.http.Shutdown(ctx); herr != nil && err == nil {
			err = herr
		}
	}
	if err == nil {
		s.log.Info("stopped")
	}
	return err
}

// StopTimeout is the longest Stop takes: the Runner's grace period, then
// a few seconds for the steps to return, the Runner's bookkeeping
// (FinishTimeout) and the listener's shutdown. An orchestrator must allow
// at least this much between its stop signal and SIGKILL (24 s with the
// defaults: inside Kubernetes' 30 s).
func (s *Scheduler) StopTimeout() time.Duration {
	return s.o.Runner.grace() + stepUnwind + s.o.Runner.finishTimeout() + httpShutdown
}

// Run starts the scheduler, waits for ctx to end (SIGINT/SIGTERM in
// crmsync), and stops it gracefully.
func (s *Scheduler) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Stop()
}
