package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"crmsync/clients/apiclient"
	"crmsync/config"
	"crmsync/metrics"
	"crmsync/store"
	"crmsync/sync/pull"
	"crmsync/sync/push"
	"crmsync/sync/reconcile"
	"crmsync/sync/schedule"
)

// errStepUnconfigured is what a step no job of the configuration names
// returns: its clients were not built (their secrets may be unset).
var errStepUnconfigured = errors.New("not set up: no job of the configuration runs this step")

// apiObserver counts every attempt of every API client of the process, for
// Prometheus and for the per-step counts in sync_runs (requests, rate_limited).
type apiObserver struct {
	metrics     *metrics.Registry
	requests    atomic.Int64
	rateLimited atomic.Int64
}

// observe is the apiclient Observer of every client built by cmd.
func (o *apiObserver) observe(info apiclient.RequestInfo) {
	if o == nil {
		return
	}
	o.requests.Add(1)
	if info.Status == 429 {
		o.rateLimited.Add(1)
	}
	o.metrics.ObserveAPI(info.Service, info.Status, info.Duration)
}

// counted wraps a step so its counts include the API attempts (retries too)
// and the 429s met while it ran; a step that reports no requests of its own
// (the pulls) gets the attempts as its requests, as sync_runs.counts
// documents. Steps of one process run one at a time per job; concurrent
// jobs in one process may blur these counts, never the Prometheus series.
func (o *apiObserver) counted(step schedule.StepFunc) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		req0, rl0 := o.requests.Load(), o.rateLimited.Load()
		c, err := step(ctx, run)
		if c == nil {
			c = schedule.Counts{}
		}
		c["api_attempts"] = o.requests.Load() - req0
		c[schedule.CountRateLimited] = o.rateLimited.Load() - rl0
		if c[schedule.CountRequests] == 0 {
			c[schedule.CountRequests] = c["api_attempts"]
		}
		return c, err
	}
}

// stepOptions change what the steps of one invocation do.
type stepOptions struct {
	// full rebuilds every master record (reconcile) and examines every
	// contact (push), instead of only what changed.
	full bool
	// extra are steps to set up although no job of the configuration names
	// them (crmsync run STEP, crmsync push).
	extra []string
	// only, when set, are the only steps to set up (crmsync run JOB…: the
	// named jobs' steps), so the clients, and the secrets, of the others are
	// not needed.
	only []string
	// limit caps the contacts a push step examines (0: all).
	limit int
	// pushResult, when set, receives each push step's result (crmsync push
	// prints it).
	pushResult func(push.Result)
}

// buildSteps returns the implementation of every step jobs.yaml can name,
// wired to the configuration, the store and the metrics. Clients are built
// here once, so their limiters and caches (LINE bot info) last the process.
// Only the steps some job names (or o.extra) are set up.
func buildSteps(_ context.Context, e *env, cfg *config.Config, st *store.Store, m *metrics.Registry, o stepOptions) (map[string]schedule.StepFunc, error) {
	obs := &apiObserver{metrics: m}
	uses := func(step string) bool {
		return (o.only == nil && cfg.Uses(step)) || slices.Contains(o.only, step) || slices.Contains(o.extra, step)
	}
	steps := make(map[string]schedule.StepFunc, len(config.Steps))
	for _, name := range config.Steps {
		steps[name] = unconfiguredStep
	}
	if uses(config.StepPullContacts) || uses(config.StepPullTaggingLogs) || uses(config.StepPullMessages) || uses(config.StepPullAgents) {
		p, err := newPuller(cfg, st, e.log, obs.observe)
		if err != nil {
			return nil, err
		}
		for _, s := range pull.Streams {
			steps[pullStepName(s)] = observedPull(st, m, s, pullStep(p, s, nil, pull.RunOptions{}))
		}
		steps[config.StepPullAgents] = pullAgentsStep(p, st, m, store.ConversationSettings{QuietGap: cfg.Conversations.QuietGap, TimeZone: cfg.TimeZone})
	}
	steps[config.StepReconcile] = reconcileStep(cfg, st, o.full)
	if uses(config.StepPushOho) {
		s, err := pushOhoStep(e, cfg, st, m, obs, o)
		if err != nil {
			return nil, err
		}
		steps[config.StepPushOho] = s
	}
	if uses(config.StepPushOkeybot) {
		d, err := newOkeybotDestination(cfg, e.log, obs.observe)
		if err != nil {
			return nil, err
		}
		steps[config.StepPushOkeybot] = pushStep(d, st, m, push.DefaultOkeybotConcurrency, okeybotRate(d), true, o)
	}
	for name, s := range steps {
		if name != config.StepReconcile { // reconcile holds its own lock
			s = exclusive(st, name, s)
		}
		steps[name] = obs.counted(s)
	}
	return steps, nil
}

// lockLostGrace is how long a step whose lock was lost may go on with the
// work in hand before its ctx is cancelled. A push to Okeybot has a whole
// batch in hand, each contact waiting for its turn at the token's 100
// calls/minute: cancelled, those give up without sending anything, while a
// request already in flight has had the time to be answered and recorded.
const lockLostGrace = 2 * time.Second

// exclusive lets one process at a time run a step, whichever job names it:
// two jobs pushing to Okeybot at once could create a contact twice, and two
// pulls of one stream would spend the quota twice. A step another process
// holds is skipped (schedule.ErrSkipped: recorded skipped, and so is the run
// unless something failed, so it does not count as a success); that process
// is doing the work. A lock lost mid-step (its connection reset, so another
// process may take the step over) stops the step before its next batch,
// after the work in hand (cut off lockLostGrace after the loss), and fails
// it.
func exclusive(st *store.Store, name string, step schedule.StepFunc) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		lock, ok, err := st.TryLockJob(ctx, "step:"+name)
		if err != nil {
			return nil, err
		}
		if !ok {
			run.Log.Warn("step skipped: another process is running it")
			return nil, fmt.Errorf("%w: another process is running it (it holds the step's lock)", schedule.ErrSkipped)
		}
		guarded, release := run.StopOn(lock.Lost())
		sctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		stepDone := make(chan struct{})
		go func() {
			select {
			case <-lock.Lost():
				run.Log.WithError(lock.Err()).Error("step lock lost: stopping the step after the work in hand")
				t := time.AfterFunc(lockLostGrace, func() { cancel(lock.Err()) })
				<-stepDone
				t.Stop()
			case <-stepDone:
			}
		}()
		c, err := step(sctx, guarded)
		close(stepDone)
		release()
		lost := lock.Err()
		if rerr := lock.Release(); rerr != nil && lost == nil {
			run.Log.WithError(rerr).Warn("step lock")
		}
		if lost != nil {
			if err != nil && !errors.Is(err, schedule.ErrInterrupted) {
				return c, fmt.Errorf("%w; the step stopped after the work in hand: %w", lost, err)
			}
			return c, fmt.Errorf("%w; the step stopped after the work in hand, before its next batch", lost)
		}
		return c, err
	}
}

func unconfiguredStep(context.Context, *schedule.Run) (schedule.Counts, error) {
	return nil, errStepUnconfigured
}

// observedPull wraps a pull step so Prometheus sees the rows it wrote and,
// per stream, the windows given up and the data gaps. (The window lag
// gauges are refreshed by the Runner after every run.)
func observedPull(st *store.Store, m *metrics.Registry, s pull.Stream, step schedule.StepFunc) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		c, err := step(ctx, run)
		m.AddRowsUpserted("omnichat_"+string(s), int(c["inserted"]+c["updated"]))
		if m != nil {
			sums, serr := st.WindowSummaries(context.WithoutCancel(ctx))
			if serr != nil {
				run.Log.WithError(serr).Warn("could not read the windows given up and the data gaps")
			}
			for _, w := range sums {
				m.SetWindowHealth(w.Stream, w.GaveUp, w.DataGaps, w.MissingRows)
			}
		}
		return c, err
	}
}

// reconcileOptions are the reconcile settings of the configuration.
func reconcileOptions(cfg *config.Config, log logrus.FieldLogger) reconcile.Options {
	return reconcile.Options{
		LinkKeys:         cfg.Reconcile.LinkKeys,
		SharedKeyCeiling: cfg.Reconcile.SharedKeyCeiling,
		DefaultRegion:    cfg.Reconcile.DefaultRegion,
		Log:              log,
	}
}

// reconcileStep rebuilds the master records of the identities pull changed
// (all of them when full). Reconcile holds its own advisory lock, so two
// jobs naming it take turns.
func reconcileStep(cfg *config.Config, st *store.Store, full bool) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		res, err := reconcile.Run(ctx, st, reconcileOptions(cfg, run.Log), full)
		if err != nil {
			return nil, err
		}
		run.Log.WithFields(logrus.Fields{
			"queued": res.Queued, "identities": res.IdentitiesTouched, "created": res.ContactsCreated,
			"merged": res.ContactsMerged, "updated": res.ContactsUpdated, "full": res.Full,
		}).Info("reconciled")
		full := int64(0)
		if res.Full {
			full = 1
		}
		return schedule.Counts{
			schedule.CountRows:    int64(res.ContactsUpdated),
			"queued":              int64(res.Queued),
			"identities_touched":  int64(res.IdentitiesTouched),
			"new_identities":      int64(res.NewIdentities),
			"contacts_created":    int64(res.ContactsCreated),
			"contacts_merged":     int64(res.ContactsMerged),
			"contacts_split":      int64(res.ContactsSplit),
			"contacts_recomputed": int64(res.ContactsRecomputed),
			"contacts_facts_only": int64(res.ContactsFactsOnly),
			"shared_keys":         int64(res.SharedKeysHeldBack),
			"full":                full,
		}, nil
	}
}

// pushStep adapts a push destination to a step. While it runs, its
// progress per credential (requests made, requests and time left at the
// credential's limit, rate) is logged and kept in run_progress for crmsync
// status. With planAhead (a destination whose dry run sends nothing:
// Okeybot) the step first plans the run as crmsync plan push does, and what
// is left is the plan less what was made; otherwise it is extrapolated from
// the contacts examined so far.
func pushStep(d push.Destination, st *store.Store, m *metrics.Registry, concurrency int, rate func(string) float64, planAhead bool, o stepOptions) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		prog := newQuotaProgress(st, run.ID, run.Step, "contacts", rate, run.Log)
		if planAhead {
			plan, err := push.Run(ctx, d, push.Options{Store: st, Log: run.Log.WithField("purpose", "plan for the progress"),
				DryRun: true, Full: o.full, Limit: o.limit})
			if err != nil {
				run.Log.WithError(err).Warn("push: could not plan the run; its progress extrapolates what is left")
			} else {
				planned := map[string]int64{}
				for _, c := range plan.Calls.Credentials() {
					planned[c] = int64(plan.Calls.Total(c))
				}
				prog.plan(planned)
			}
		}
		stop := prog.start(ctx)
		res, err := push.Run(ctx, d, push.Options{
			Store: st, Log: run.Log, RunID: run.ID, Concurrency: concurrency, Stopping: run.Stopping,
			Full: o.full, Limit: o.limit,
			ProgressFunc: func(p push.Progress) {
				made := map[string]int64{}
				for _, c := range p.Calls.Credentials() {
					made[c] = int64(p.Calls.Total(c))
				}
				prog.update(int64(p.Contacts), int64(p.Candidates), made)
			},
		})
		stop()
		if o.pushResult != nil {
			o.pushResult(res)
		}
		for class, n := range res.RejectionClasses {
			m.AddRejections(d.Name(), class, n)
		}
		c := schedule.Counts(res.Counts())
		switch {
		case errors.Is(err, push.ErrStopped):
			return c, schedule.ErrInterrupted
		case err == nil && res.Failed > 0:
			return c, fmt.Errorf("push %s: %d targets failed; the next run retries them", d.Name(), res.Failed)
		}
		return c, err
	}
}

func pushOhoStep(e *env, cfg *config.Config, st *store.Store, m *metrics.Registry, obs *apiObserver, o stepOptions) (schedule.StepFunc, error) {
	d, err := newOhoDestination(cfg, e.log, false, obs.observe)
	if err != nil {
		return nil, err
	}
	return pushStep(d, st, m, cfg.Oho.Concurrency, func(c string) float64 { return credentialRate(cfg, c) }, false, o), nil
}

// newRunner returns the Runner that run, schedule and demo share.
func newRunner(ctx context.Context, e *env, cfg *config.Config, st *store.Store, m *metrics.Registry, o stepOptions) (*schedule.Runner, error) {
	steps, err := buildSteps(ctx, e, cfg, st, m, o)
	if err != nil {
		return nil, err
	}
	return &schedule.Runner{
		Store:       st,
		Steps:       steps,
		Log:         e.log,
		Metrics:     m,
		GracePeriod: cfg.Schedule.GracePeriod,
	}, nil
}

// requireSchema refuses to run on a database whose schema is behind this
// binary, with one line saying what to do.
func requireSchema(ctx context.Context, st *store.Store) error {
	ms, err := st.Migrations(ctx)
	if err != nil {
		return err
	}
	pending := 0
	for _, m := range ms {
		if !m.Applied {
			pending++
		}
	}
	if pending > 0 {
		return fmt.Errorf("the database schema is %d migration(s) behind this crmsync: run crmsync migrate", pending)
	}
	return nil
}

// okeybotRate returns the rate of an Okeybot credential: its limiter's.
func okeybotRate(d *push.Okeybot) func(string) float64 {
	return func(c string) float64 {
		r, _ := d.CredentialRate(c)
		return r
	}
}
