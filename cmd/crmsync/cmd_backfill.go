package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

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
	from, to, streams string
}

func backfillCommand() *command {
	return &command{
		name: "backfill", summary: "Pull a date range from Omnichat in windows of at most 7 days (resumable)",
		setFlags: func(fs *flag.FlagSet) any {
			f := &backfillFlags{}
			fs.StringVar(&f.from, "from", "", "first day to pull, YYYY-MM-DD in the configured timezone (inclusive)")
			fs.StringVar(&f.to, "to", "", "last day to pull, YYYY-MM-DD in the configured timezone (inclusive: the whole day is pulled)")
			fs.StringVar(&f.streams, "streams", "contacts,tagging_logs,messages", "comma-separated streams to pull")
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
			cfg, err := e.config()
			if err != nil {
				return err
			}
			from, to, err := parseDateRange(f.from, f.to, cfg.Location())
			if err != nil {
				return err
			}
			if cfg.Omnichat.Token == "" {
				return usagef("no Omnichat token: set OMNICHAT_TOKEN")
			}
			st, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := requireSchema(ctx, st); err != nil {
				return err
			}
			return runBackfill(ctx, e, cfg, st, streams, from, to)
		},
	}
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

// runBackfill pulls streams over [from, to) as one run of the ad-hoc job
// "backfill" (trigger backfill) through the same Runner as crmsync run, so
// it is recorded in sync_runs and stops gracefully on a signal. Windows
// already done are skipped, so running it again resumes.
func runBackfill(ctx context.Context, e *env, cfg *config.Config, st *store.Store, streams []pull.Stream, from, to time.Time) error {
	progress := newBackfillProgress(e.stderr, isTerminal(e.stderr), e.log)
	obs := &apiObserver{} // api_attempts and rate_limited per step, as buildSteps counts them
	p, err := newPuller(cfg, st, e.log, obs.observe)
	if err != nil {
		return err
	}
	job := config.Job{Name: backfillJob}
	steps := make(map[string]schedule.StepFunc, len(streams))
	for _, s := range streams {
		name := pullStepName(s)
		job.Steps = append(job.Steps, name)
		steps[name] = obs.counted(progress.wrap(s, pullStep(p, s, progress.update)))
	}
	runner := &schedule.Runner{Store: st, Steps: steps, Log: e.log, GracePeriod: cfg.Schedule.GracePeriod}
	if h := p.Horizon(); to.After(h) {
		e.log.WithField("horizon", h.In(cfg.Location()).Format(time.RFC3339)).
			Info("backfill: the range ends after now minus the safety lag; it stops there (the next run picks up the rest)")
	}
	e.log.WithFields(logrus.Fields{"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339), "streams": job.Steps}).Info("backfill started")
	res, err := runner.Start(ctx, job, schedule.RunOptions{Trigger: schedule.TriggerBackfill, Range: schedule.Range{From: from, To: to}})
	progress.finish()
	if err != nil {
		return err
	}
	printBackfillSummary(e.stdout, res, streams)
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

// printBackfillSummary writes one line per stream.
func printBackfillSummary(w io.Writer, res schedule.Result, streams []pull.Stream) {
	fmt.Fprintf(w, "backfill run %d: %s in %s\n", res.RunID, res.Status, res.Duration().Round(time.Millisecond))
	for _, s := range streams {
		c, ok := res.Counts[pullStepName(s)]
		if !ok {
			fmt.Fprintf(w, "  %-13s not started\n", s)
			continue
		}
		fmt.Fprintf(w, "  %-13s windows %d read, %d done, %d already done, %d failed, %d split; rows %d received, %d new, %d changed, %d bad\n",
			s, c["windows"], c["windows_done"], c["windows_kept"], c["windows_failed"], c["windows_split"],
			c[schedule.CountRows], c["inserted"], c["updated"], c[schedule.CountRejections])
	}
}

// pullStepName is the jobs.yaml step that pulls stream (pull_contacts, ...).
func pullStepName(s pull.Stream) string { return "pull_" + string(s) }

// newPuller builds the Omnichat client and the Puller from the
// configuration; observe (may be nil) sees every HTTP attempt. The client's
// limiter has a burst of 1: requests go out evenly at rate_per_second, so the
// API's own bucket never sees a burst it would answer with 429
// (docs/benchmarks-pull.md).
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
		Limiter:  rate.NewLimiter(rate.Limit(o.RatePerSecond), 1),
		Log:      log,
		Location: loc,
		Observer: observe,
	})
	if err != nil {
		return nil, err
	}
	return pull.New(pull.Options{
		Client: c, Store: st, Log: log,
		PageSize: o.PageSize, Window: o.Window, SafetyLag: o.SafetyLag, InitialLookback: o.InitialLookback,
		MaxWindowRows: o.MaxWindowRows, MaxRereads: o.MaxRereads, Platforms: o.Platforms,
	})
}

// pullStep adapts one stream of p to a Runner step: a run with a Range (a
// backfill) reads that range, any other run reads incrementally from the
// last done window. A stop request ends the step after the page in hand
// with schedule.ErrInterrupted. progress may be nil.
func pullStep(p *pull.Puller, s pull.Stream, progress func(pull.Progress)) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		ro := pull.RunOptions{RunID: run.ID, StoppingFunc: run.Stopping, ProgressFunc: progress}
		var c pull.Counts
		var err error
		if run.Range.IsZero() {
			c, err = p.Incremental(ctx, s, ro)
		} else {
			c, err = p.Backfill(ctx, s, run.Range.From, run.Range.To, ro)
		}
		if errors.Is(err, pull.ErrStopped) {
			err = fmt.Errorf("%w: %w", schedule.ErrInterrupted, err)
		}
		return schedule.Counts(c.Map()), err
	}
}

// backfillProgress shows a progress bar per stream on a terminal, and
// otherwise a log line at most every logEvery.
type backfillProgress struct {
	w   io.Writer
	tty bool
	log logrus.FieldLogger

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
		b.mu.Lock()
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
	if b.bar != nil {
		b.bar.ChangeMax64(int64(pr.Planned))
		b.bar.Describe(fmt.Sprintf("%-13s %d rows (%d new, %d bad)", pr.Stream, pr.Counts.Rows, pr.Counts.Inserted, pr.Counts.Bad))
		_ = b.bar.Set64(b.ended)
		return
	}
	if now := time.Now(); now.Sub(b.lastLog) >= logEvery {
		b.lastLog = now
		b.log.WithFields(logrus.Fields{
			"stream": pr.Stream, "windows": fmt.Sprintf("%d/%d", b.ended, pr.Planned), "rows": pr.Counts.Rows,
			"new": pr.Counts.Inserted, "bad": pr.Counts.Bad, "window_start": pr.Window.Start.Format(time.RFC3339),
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
