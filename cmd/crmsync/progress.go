package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"

	"crmsync/store"
)

// quotaProgress follows a running push step or backfill stream per
// credential: the requests made so far, the requests still to make
// (estimated: each credential's requests per unit of work so far, times
// the units left) and the time the credential's limit needs for them. It
// keeps the latest figures in run_progress, where crmsync status reads
// them, and logs them; the rows are deleted when the step ends.
type quotaProgress struct {
	st         *store.Store
	runID      int64
	step, unit string
	rate       func(credential string) float64
	log        logrus.FieldLogger
	quiet      bool // the caller logs the progress itself
	nowFunc    func() time.Time

	mu          sync.Mutex
	done, total int64
	made        map[string]int64
	// planned, when set, are the requests a plan made before the step
	// counts per credential (crmsync plan push's computation): what is
	// left is then the plan less what was made, not an extrapolation.
	planned map[string]int64
	saved   bool // a row was written (so there are rows to clear)
	changed bool // figures changed since the last flush
}

// progressEvery is how often a running step's progress is written and logged.
const progressEvery = 10 * time.Second

// newQuotaProgress returns the progress of step of run runID, counted in
// unit ("contacts", "windows"), with the rate of each credential. With a nil
// log it logs only its failures to write (to a logger that discards them).
func newQuotaProgress(st *store.Store, runID int64, step, unit string, rate func(string) float64, log logrus.FieldLogger) *quotaProgress {
	q := &quotaProgress{st: st, runID: runID, step: step, unit: unit, rate: rate, log: log, nowFunc: time.Now, made: map[string]int64{}}
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		q.log, q.quiet = l, true
	}
	return q
}

// update records where the step is: done of total units, and the requests
// made so far per credential (credentials not named keep their count).
// It only stores the figures; flush writes them.
func (q *quotaProgress) update(done, total int64, made map[string]int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.done, q.total = done, total
	maps.Copy(q.made, made)
	q.changed = true
}

// rows returns the progress per credential, by name.
func (q *quotaProgress) rows() []store.RunProgress {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.nowFunc()
	creds := map[string]bool{}
	for c := range q.made {
		creds[c] = true
	}
	for c := range q.planned {
		creds[c] = true
	}
	out := make([]store.RunProgress, 0, len(creds))
	for _, cred := range slices.Sorted(maps.Keys(creds)) {
		p := store.RunProgress{
			RunID: q.runID, Step: q.step, Credential: cred, DoneUnits: q.done, TotalUnits: q.total, Unit: q.unit,
			Requests: q.made[cred], RatePerSecond: q.rate(cred), UpdatedAt: now,
		}
		if q.planned != nil {
			p.RequestsLeft = max(q.planned[cred]-p.Requests, 0)
			p.SecondsLeft = requestSeconds(int(p.RequestsLeft), p.RatePerSecond)
		} else {
			p = estimateLeft(p)
		}
		out = append(out, p)
	}
	return out
}

// plan sets the requests planned per credential before the step.
func (q *quotaProgress) plan(planned map[string]int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.planned = planned
	q.changed = true
}

// estimateLeft fills RequestsLeft and SecondsLeft of p: its requests per
// unit done so far times the units left, at its rate. Nothing is estimated
// before the first unit is done.
func estimateLeft(p store.RunProgress) store.RunProgress {
	if left := p.TotalUnits - p.DoneUnits; p.DoneUnits > 0 && left > 0 {
		p.RequestsLeft = (p.Requests*left + p.DoneUnits - 1) / p.DoneUnits
	}
	p.SecondsLeft = requestSeconds(int(p.RequestsLeft), p.RatePerSecond)
	return p
}

// flush writes the figures to run_progress and logs them, when they
// changed since the last flush. A failure to write is logged, never fatal:
// progress is for people to read.
func (q *quotaProgress) flush(ctx context.Context) {
	q.mu.Lock()
	changed := q.changed
	q.changed = false
	q.mu.Unlock()
	if !changed {
		return
	}
	rows := q.rows()
	if q.runID != 0 && q.st != nil {
		if err := q.st.SaveRunProgress(ctx, rows); err != nil {
			q.log.WithError(err).Warn("could not record the run's progress")
		} else {
			q.mu.Lock()
			q.saved = true
			q.mu.Unlock()
		}
	}
	if !q.quiet && len(rows) > 0 {
		q.log.WithFields(logrus.Fields{"step": q.step, q.unit: fmt.Sprintf("%d/%d", rows[0].DoneUnits, rows[0].TotalUnits),
			"left_at_limit": progressText(rows)}).Info("progress")
	}
}

// progressText is the remaining requests and time per credential:
// "okeybot/main 420 requests, 4m19s; okeybot/chat …".
func progressText(rows []store.RunProgress) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%s %d requests, %s", r.Credential, r.RequestsLeft, fmtDuration(r.SecondsLeft))
	}
	return strings.Join(parts, "; ")
}

// start flushes every progressEvery until the returned stop is called;
// stop flushes once more and deletes the step's rows.
func (q *quotaProgress) start(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				q.flush(ctx)
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		q.finish(context.WithoutCancel(ctx))
	}
}

// finish deletes the step's progress rows.
func (q *quotaProgress) finish(ctx context.Context) {
	q.mu.Lock()
	saved := q.saved
	q.mu.Unlock()
	if !saved || q.st == nil {
		return
	}
	if err := q.st.ClearRunProgress(ctx, q.runID, q.step); err != nil {
		q.log.WithError(err).Warn("could not clear the run's progress")
	}
}

// runningProgress is one running step's progress in crmsync status.
type runningProgress struct {
	RunID       int64            `json:"run_id"`
	Step        string           `json:"step"`
	Unit        string           `json:"unit"`
	Done        int64            `json:"done"`
	Total       int64            `json:"total"`
	Credentials []credentialLeft `json:"credentials"`
	UpdatedAt   time.Time        `json:"updated_at"`
}

// credentialLeft is one credential's part of a running step.
type credentialLeft struct {
	Credential    string  `json:"credential"`
	Requests      int64   `json:"requests"`
	RequestsLeft  int64   `json:"requests_left"`
	SecondsLeft   float64 `json:"seconds_left"`
	RatePerSecond float64 `json:"rate_per_second"`
}

// buildRunningProgress groups run_progress rows of running runs by step.
func buildRunningProgress(rows []store.RunProgress) []runningProgress {
	out := []runningProgress{}
	for _, r := range rows {
		if n := len(out); n == 0 || out[n-1].RunID != r.RunID || out[n-1].Step != r.Step {
			out = append(out, runningProgress{RunID: r.RunID, Step: r.Step, Unit: r.Unit, Done: r.DoneUnits, Total: r.TotalUnits, UpdatedAt: r.UpdatedAt})
		}
		p := &out[len(out)-1]
		p.Credentials = append(p.Credentials, credentialLeft{Credential: r.Credential, Requests: r.Requests, RequestsLeft: r.RequestsLeft,
			SecondsLeft: r.SecondsLeft, RatePerSecond: r.RatePerSecond})
		if r.UpdatedAt.After(p.UpdatedAt) {
			p.UpdatedAt = r.UpdatedAt
		}
	}
	return out
}

// writeRunningProgress prints the running steps' progress as a table.
func writeRunningProgress(w io.Writer, ps []runningProgress, loc *time.Location) error {
	if len(ps) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("\nRunning now (requests left: the plan made at the start less those made (Okeybot), else extrapolated from the work done so far; time at each credential's limit):\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTEP\tDONE\tCREDENTIAL\tREQUESTS MADE\tREQUESTS LEFT\tTIME LEFT AT LIMIT\tAS OF")
	for _, p := range ps {
		for _, c := range p.Credentials {
			fmt.Fprintf(tw, "%d\t%s\t%d/%d %s\t%s\t%d\t%d\t%s\t%s\n", p.RunID, p.Step, p.Done, p.Total, p.Unit, c.Credential, c.Requests,
				c.RequestsLeft, fmtDuration(c.SecondsLeft), p.UpdatedAt.In(loc).Format(statusTime))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}
