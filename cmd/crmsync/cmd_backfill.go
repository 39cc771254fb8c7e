package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sirupsen/logrus"

	"crmsync/clients/apiclient"
	"crmsync/clients/omnichat"
	"crmsync/config"
	"crmsync/store"
	"crmsync/sync/pull"
	"crmsync/sync/schedule"
)

// backfillJob is the name of the ad-hoc job a backfill runs as: its
// sync_runs rows and its lock (two backfills never run at once).
const backfillJob = "backfill"

// backfillFlags are the flags of crmsync backfill.
type backfillFlags struct {
	from, to, streams       string
	retryGaveUp, rereadGaps bool
}

func backfillCommand() *command {
	return &command{
		name: "backfill", summary: "Pull a date range from Omnichat in windows of at most 7 days (resumable)",
		setFlags: func(fs *flag.FlagSet) any {
			f := &backfillFlags{}
			fs.StringVar(&f.from, "from", "", "first day to pull, YYYY-MM-DD in the configured timezone (inclusive)")
			fs.StringVar(&f.to, "to", "", "last day to pull, YYYY-MM-DD in the configured timezone (inclusive: the whole day is pulled)")
			fs.StringVar(&f.streams, "streams", "contacts,tagging_logs,messages", "comma-separated streams to pull")
			fs.BoolVar(&f.retryGaveUp, "retry-gave-up", false, "read again the windows given up after repeated refusals: those of --from..--to, or without dates every one")
			fs.BoolVar(&f.rereadGaps, "reread-gaps", false, "read again the windows done with a data gap (fewer rows than totalElements): those of --from..--to, or without dates every one")
			return f
		},
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, opts any) error {
			f := opts.(*backfillFlags)
			if fs.NArg() > 0 {
				return usagef("unexpected argument %q", fs.Arg(0))
			}
			streams, err := parseStreams(f.streams)
			if err != nil {
				return err
			}
			steps := make([]string, len(streams))
			for i, s := range streams {
				steps[i] = pullStepName(s)
			}
			cfg, err := e.config(config.ForRun(steps...)) // the Omnichat token only
			if err != nil {
				return err
			}
			var from, to time.Time
			if !(f.retryGaveUp || f.rereadGaps) || f.from != "" || f.to != "" {
				if from, to, err = parseDateRange(f.from, f.to, cfg.Location()); err != nil {
					return err
				}
			}
			if cfg.Omnichat.Token == "" {
				return usagef("no Omnichat token: set OMNICHAT_TOKEN")
			}
			st, err := e.openMigratedStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			return runBackfill(ctx, e, cfg, st, backfillPlan{streams: streams, from: from, to: to, retryGaveUp: f.retryGaveUp, rereadGaps: f.rereadGaps})
		},
	}
}

// backfillPlan is what one crmsync backfill reads.
type backfillPlan struct {
	streams  []pull.Stream
	from, to time.Time // zero with retryGaveUp or rereadGaps alone: every such window
	// retryGaveUp reads the windows given up again: in [from, to), or all.
	retryGaveUp bool
	// rereadGaps reads the windows done with a data gap again: in [from,
	// to), or all.
	rereadGaps bool
}

// parseStreams reads --streams: known names, comma-separated, returned in
// the order a full pull reads them.
func parseStreams(s string) ([]pull.Stream, error) {
	want := map[pull.Stream]bool{}
	for part := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		st, err := pull.ParseStream(part)
		if err != nil {
			return nil, usagef("--streams: %v", err)
		}
		want[st] = true
	}
	var out []pull.Stream
	for _, st := range pull.Streams {
		if want[st] {
			out = append(out, st)
		}
	}
	if len(out) == 0 {
		return nil, usagef("--streams: name at least one of contacts, tagging_logs, messages")
	}
	return out, nil
}

// parseDateRange reads --from and --to as days in loc and returns the
// range [from 00:00, the day after to 00:00): --to is inclusive.
func parseDateRange(fromS, toS string, loc *time.Location) (from, to time.Time, err error) {
	if fromS == "" || toS == "" {
		return from, to, usagef("--from and --to are required, e.g. --from 2025-01-01 --to 2025-03-31")
	}
	day := func(flag, v string) (time.Time, error) {
		t, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(v), loc)
		if err != nil {
			return t, usagef("%s %q: want a date as YYYY-MM-DD", flag, v)
		}
		return t, nil
	}
	if from, err = day("--from", fromS); err != nil {
		return from, to, err
	}
	if to, err = day("--to", toS); err != nil {
		return from, to, err
	}
	if from.After(to) {
		return from, to, usagef("--from %s is after --to %s", fromS, toS)
	}
	return from, to.AddDate(0, 0, 1), nil
}

// runBackfill pulls the plan's streams over [from, to) (or, with
// retryGaveUp and no range, every window given up) as one run of the ad-hoc
// job "backfill" (trigger backfill) through the same Runner as crmsync run,
// so it is recorded in sync_runs and stops gracefully on a signal. Windows
// already done are skipped, so running it again resumes. Every stream is
// attempted even when an earlier one failed; the run then ends failed.
func runBackfill(ctx context.Context, e *env, cfg *config.Config, st *store.Store, bp backfillPlan) error {
	progress := newBackfillProgress(e.stderr, isTerminal(e.stderr), e.log)
	progress.st, progress.rate = st, credentialRate(cfg, omnichatCredential)
	obs := &apiObserver{} // api_attempts and rate_limited per step, as buildSteps counts them
	p, err := newPuller(cfg, st, e.log, obs.observe)
	if err != nil {
		return err
	}
	job := config.Job{Name: backfillJob}
	steps := make(map[string]schedule.StepFunc, len(bp.streams))
	var failed streamFailures
	for i, s := range bp.streams {
		name := pullStepName(s)
		job.Steps = append(job.Steps, name)
		var step schedule.StepFunc
		if bp.from.IsZero() {
			step = retryStep(p, s, progress.update, bp.retryGaveUp, bp.rereadGaps)
		} else {
			step = pullStep(p, s, progress.update, pull.RunOptions{RetryGaveUp: bp.retryGaveUp, RereadGaps: bp.rereadGaps})
		}
		if i < len(bp.streams)-1 {
			step = failed.deferFrom(name, step)
		} else {
			step = failed.reportAfter(step)
		}
		steps[name] = obs.counted(progress.wrap(s, step))
	}
	runner := &schedule.Runner{Store: st, Steps: steps, Log: e.log, GracePeriod: cfg.Schedule.GracePeriod}
	if h := p.Horizon(); bp.to.After(h) {
		e.log.WithField("horizon", h.In(cfg.Location()).Format(time.RFC3339)).
			Info("backfill: the range ends after now minus the safety lag; it stops there (the next run picks up the rest)")
	}
	fields := logrus.Fields{"streams": job.Steps, "retry_gave_up": bp.retryGaveUp, "reread_gaps": bp.rereadGaps}
	if !bp.from.IsZero() {
		fields["from"], fields["to"] = bp.from.Format(time.RFC3339), bp.to.Format(time.RFC3339)
	}
	e.log.WithFields(fields).Info("backfill started")
	res, err := runner.Start(ctx, job, schedule.RunOptions{Trigger: schedule.TriggerBackfill, Range: schedule.Range{From: bp.from, To: bp.to}})
	progress.finish()
	if err != nil {
		return err
	}
	printBackfillSummary(e.stdout, res, bp.streams)
	if slices.Contains(bp.streams, pull.Contacts) || slices.Contains(bp.streams, pull.Messages) {
		if ps, err := buildPullStatus(context.WithoutCancel(ctx), st, cfg); err == nil {
			writePlatformCoverage(e.stdout, ps.Platforms, "  ")
		} else {
			e.log.WithError(err).Warn("backfill: could not read the platforms' coverage")
		}
	}
	switch res.Status {
	case schedule.StatusOK:
		return nil
	case schedule.StatusSkipped:
		return failedRunError{msg: fmt.Sprintf("not run: %v", res.Err)}
	case schedule.StatusInterrupted:
		return failedRunError{msg: fmt.Sprintf("run %d interrupted; run the same command again to resume", res.RunID)}
	}
	return failedRunError{msg: fmt.Sprintf("run %d failed: %v (run the same command again to retry the failed windows)", res.RunID, res.Err)}
}

// streamFailures holds the failures of a backfill's streams until its last
// step, so the Runner, which stops a job at its first failed step, attempts
// every stream all the same; the last step returns them all, so the run
// ends failed. Stops (a signal, a timeout) and refused tokens are returned
// at once.
type streamFailures struct {
	errs []error
}

// deferFrom wraps the step of a stream that is not the last.
func (f *streamFailures) deferFrom(name string, step schedule.StepFunc) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		c, err := step(ctx, run)
		if err == nil || ctx.Err() != nil || errors.Is(err, schedule.ErrInterrupted) || errors.Is(err, apiclient.ErrUnauthorized) {
			return c, err
		}
		run.Log.WithError(err).Warn("backfill: stream failed; the next streams are read all the same")
		f.errs = append(f.errs, fmt.Errorf("%s: %w", name, err))
		return c, nil
	}
}

// reportAfter wraps the last stream's step: it returns its own error with
// those of the streams before it.
func (f *streamFailures) reportAfter(step schedule.StepFunc) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		c, err := step(ctx, run)
		if len(f.errs) == 0 {
			return c, err
		}
		all := f.errs
		if err != nil {
			all = append(all, fmt.Errorf("%s: %w", run.Step, err))
		}
		return c, joinedErrors(all)
	}
}

// joinedErrors are several errors on one line, each matched by errors.Is.
type joinedErrors []error

// Error implements error.
func (e joinedErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the errors.
func (e joinedErrors) Unwrap() []error { return e }

// printBackfillSummary writes one line per stream: its windows, its rows and
// its outcome.
func printBackfillSummary(w io.Writer, res schedule.Result, streams []pull.Stream) {
	fmt.Fprintf(w, "backfill run %d: %s in %s\n", res.RunID, res.Status, res.Duration().Round(time.Millisecond))
	for _, s := range streams {
		c, ok := res.Counts[pullStepName(s)]
		if !ok {
			fmt.Fprintf(w, "  %-13s not started\n", s)
			continue
		}
		outcome := ""
		if c["failed"] > 0 {
			outcome = " FAILED"
		}
		fmt.Fprintf(w, "  %-13s windows %d read, %d done, %d already done, %d failed, %d given up, %d released, %d split; rows %d received, %d new, %d changed, %d bad; data gaps %d (%d rows missing); 429s waited out %d%s\n",
			s, c["windows"], c["windows_done"], c["windows_kept"], c["windows_failed"], c["windows_gave_up"], c["windows_released"],
			c["windows_split"], c[schedule.CountRows], c["inserted"], c["updated"], c[schedule.CountRejections],
			c["data_gaps"], c["missing_rows"], c[schedule.CountRateLimited], outcome)
	}
}

// pullStepName is the jobs.yaml step that pulls stream (pull_contacts, ...).
func pullStepName(s pull.Stream) string { return "pull_" + string(s) }

// newPuller builds the Omnichat client and the Puller from the
// configuration; observe (may be nil) sees every HTTP attempt. The client's
// requests take their turn in the account's quota, shared through the
// database by every process pulling it (store.QuotaLimiter, keyed by a hash
// of base URL and token): one slot every period ÷ ((1 − rate_headroom) ×
// rate_per_second), the spacing apiclient.Pace gives a single process, so a
// backfill beside the scheduled pull, on any machine, shares the 40/s
// instead of doubling it. A 429 waits the limit's second (or Retry-After)
// and never spends the retry budget.
func newPuller(cfg *config.Config, st *store.Store, log logrus.FieldLogger, observe func(apiclient.RequestInfo)) (*pull.Puller, error) {
	o := cfg.Omnichat
	if o.Token == "" {
		return nil, usagef("no Omnichat token: set OMNICHAT_TOKEN")
	}
	loc, err := time.LoadLocation(o.TaggingLogZone)
	if err != nil {
		return nil, usagef("omnichat.tagging_log_zone: %v", err)
	}
	c, err := omnichat.New(omnichat.Config{
		BaseURL:  o.BaseURL,
		Token:    o.Token,
		Limiter:  st.QuotaLimiter(store.AccountKey(config.ServiceOmnichat, o.BaseURL, o.Token), omnichatSpacing(o)),
		Log:      log,
		Location: loc,
		Observer: observe,
		Retry:    apiclient.RetryPolicy{RateLimitPeriod: omnichat.RatePeriod},
	})
	if err != nil {
		return nil, err
	}
	return pull.New(pull.Options{
		Client: c, Store: st, Log: log,
		PageSize: o.PageSize, Window: o.Window, SafetyLag: o.SafetyLag, InitialLookback: o.InitialLookback,
		MaxWindowRows: o.MaxWindowRows, MaxRereads: o.MaxRereads, Platforms: o.Platforms,
		MaxWindowAttempts: o.MaxWindowAttempts, WindowDeadline: o.WindowDeadline,
	})
}

// omnichatSpacing is the time between two requests of the account: the
// spacing of apiclient.Pace at rate_per_second with rate_headroom.
func omnichatSpacing(o config.Omnichat) time.Duration {
	lim := apiclient.Pace(o.RatePerSecond, omnichat.RatePeriod, *o.RateHeadroom)
	return time.Duration(float64(omnichat.RatePeriod) / float64(lim.Limit()))
}

// pullStep adapts one stream of p to a Runner step: a run with a Range (a
// backfill) reads that range (with base's RetryGaveUp and RereadGaps), any
// other run reads incrementally from the last done window. A stop request
// ends the step after the page in hand with schedule.ErrInterrupted. The
// counts say the step's outcome ("failed": 1 when it failed). progress may
// be nil.
func pullStep(p *pull.Puller, s pull.Stream, progress func(pull.Progress), base pull.RunOptions) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		ro := base
		ro.RunID, ro.StoppingFunc, ro.ProgressFunc = run.ID, run.Stopping, progress
		if run.Range.IsZero() {
			return pullCounts(p.Incremental(ctx, s, ro))
		}
		return pullCounts(p.Backfill(ctx, s, run.Range.From, run.Range.To, ro))
	}
}

// retryStep reads once more every window of s given up (retryGaveUp) and
// every one done with a data gap (rereadGaps).
func retryStep(p *pull.Puller, s pull.Stream, progress func(pull.Progress), retryGaveUp, rereadGaps bool) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		ro := pull.RunOptions{RunID: run.ID, StoppingFunc: run.Stopping, ProgressFunc: progress}
		var total pull.Counts
		if retryGaveUp {
			c, err := p.RetryGaveUp(ctx, s, ro)
			total.Add(c)
			if err != nil {
				return pullCounts(total, err)
			}
		}
		if rereadGaps {
			c, err := p.RereadGaps(ctx, s, ro)
			total.Add(c)
			return pullCounts(total, err)
		}
		return pullCounts(total, nil)
	}
}

// pullCounts turns a pull's result into a step's.
func pullCounts(c pull.Counts, err error) (schedule.Counts, error) {
	counts := schedule.Counts(c.Map())
	if errors.Is(err, pull.ErrStopped) {
		return counts, fmt.Errorf("%w: %w", schedule.ErrInterrupted, err)
	}
	if err != nil {
		counts["failed"] = 1
	}
	return counts, err
}

// backfillProgress shows a progress bar per stream on a terminal, and
// otherwise a log line at most every logEvery, each with the requests and
// time left at the account's rate (estimated from the windows ended so
// far), which it keeps in run_progress for crmsync status too.
type backfillProgress struct {
	w     io.Writer
	tty   bool
	log   logrus.FieldLogger
	st    *store.Store // nil: no run_progress rows
	rate  float64      // the account's paced requests per second
	quota *quotaProgress

	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	ended   int64
	lastLog time.Time
}

// logEvery is the interval between progress log lines off a terminal.
const logEvery = 10 * time.Second

func newBackfillProgress(w io.Writer, tty bool, log logrus.FieldLogger) *backfillProgress {
	return &backfillProgress{w: w, tty: tty, log: log}
}

// wrap starts a fresh bar for stream s around its step.
func (b *backfillProgress) wrap(s pull.Stream, f schedule.StepFunc) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		q := newQuotaProgress(b.st, run.ID, run.Step, "windows", func(string) float64 { return b.rate }, nil)
		stopQuota := q.start(ctx)
		defer stopQuota()
		b.mu.Lock()
		b.quota = q
		b.ended, b.lastLog = 0, time.Time{}
		if b.tty {
			b.bar = progressbar.NewOptions64(-1,
				progressbar.OptionSetWriter(b.w),
				progressbar.OptionSetDescription(fmt.Sprintf("%-13s planning", s)),
				progressbar.OptionShowCount(),
				progressbar.OptionSetItsString("windows"),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionFullWidth(),
			)
		}
		b.mu.Unlock()
		c, err := f(ctx, run)
		b.finish()
		if !b.tty {
			b.log.WithFields(logrus.Fields{"stream": s, "windows_done": c["windows_done"], "rows": c[schedule.CountRows]}).Info("backfill: stream finished")
		}
		return c, err
	}
}

// update receives the Puller's progress (one call at a time).
func (b *backfillProgress) update(pr pull.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if pr.WindowEnded {
		b.ended++
	}
	left := "left: estimating"
	if b.quota != nil {
		b.quota.update(b.ended, int64(pr.Planned), map[string]int64{omnichatCredential: int64(pr.Counts.Requests)})
		if rows := b.quota.rows(); len(rows) == 1 && b.ended > 0 {
			left = fmt.Sprintf("left: ~%d requests, %s at %s", rows[0].RequestsLeft, fmtDuration(rows[0].SecondsLeft), fmtRate(rows[0].RatePerSecond))
		}
	}
	if b.bar != nil {
		b.bar.ChangeMax64(int64(pr.Planned))
		b.bar.Describe(fmt.Sprintf("%-13s %d rows (%d new, %d bad); %s", pr.Stream, pr.Counts.Rows, pr.Counts.Inserted, pr.Counts.Bad, left))
		_ = b.bar.Set64(b.ended)
		return
	}
	if now := time.Now(); now.Sub(b.lastLog) >= logEvery {
		b.lastLog = now
		b.log.WithFields(logrus.Fields{
			"stream": pr.Stream, "windows": fmt.Sprintf("%d/%d", b.ended, pr.Planned), "rows": pr.Counts.Rows,
			"new": pr.Counts.Inserted, "bad": pr.Counts.Bad, "window_start": pr.Window.Start.Format(time.RFC3339), "omnichat": left,
		}).Info("backfill progress")
	}
}

// finish closes the current bar, if any.
func (b *backfillProgress) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Finish()
		fmt.Fprintln(b.w)
		b.bar = nil
	}
}
