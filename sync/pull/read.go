package pull

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"crmsync/clients/apiclient"
	"crmsync/clients/omnichat"
	"crmsync/store"
)

// errWindowDeadline is the cause of a window read cancelled at
// Options.WindowDeadline: the window is released, not failed.
var errWindowDeadline = errors.New("window deadline passed")

// runner reads the windows of one call.
type runner struct {
	p      *Puller
	stream Stream
	ro     RunOptions
	log    logrus.FieldLogger

	mu        sync.Mutex
	counts    Counts
	planned   int
	inRow     map[string]int  // outage failures in a row, per scope
	stopped   map[string]bool // scopes stopped after MaxConsecutiveFailures outages in a row
	firstFail error
	fatal     error
}

// run reads jobs with Options.Concurrency workers. A window that fails
// fails alone: the others are read, and a scope whose windows keep failing
// with an outage stops alone. It returns an error when any window failed or
// was given up (the counts say which), or when the call had to stop.
func (r *runner) run(ctx context.Context, jobs []job) (Counts, error) {
	ch := make(chan job)
	var wg sync.WaitGroup
	for range min(r.p.o.Concurrency, max(len(jobs), 1)) {
		wg.Go(func() {
			for j := range ch {
				switch {
				case r.aborted():
					continue
				case r.stopping():
					r.abort(ErrStopped)
					continue
				case r.scopeStopped(j.sc.key):
					r.update(func(c *Counts) { c.WindowsSkipped++ }, nil)
					continue
				}
				if err := r.readWindow(ctx, j.sc, j.w); err != nil {
					r.abort(err)
				}
			}
		})
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()

	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts
	switch {
	case r.fatal != nil:
		return c, r.fatal
	case c.Failures() > 0:
		return c, fmt.Errorf("pull %s: %s (the next run retries failed windows; backfill --retry-gave-up retries given-up ones): %w",
			r.stream, failureSummary(c, r.planned), r.firstFail)
	}
	return c, nil
}

// failureSummary says what failed in a call.
func failureSummary(c Counts, planned int) string {
	var parts []string
	if c.WindowsFailed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d windows failed", c.WindowsFailed, planned))
	}
	if c.WindowsGaveUp > 0 {
		parts = append(parts, fmt.Sprintf("%d given up after repeated refusals", c.WindowsGaveUp))
	}
	if c.WindowsSkipped > 0 {
		parts = append(parts, fmt.Sprintf("%d left for the next run (their scope kept failing)", c.WindowsSkipped))
	}
	if c.ScopesFailed > 0 {
		parts = append(parts, fmt.Sprintf("%d scopes could not be planned", c.ScopesFailed))
	}
	return strings.Join(parts, ", ")
}

// stopping reports whether the caller asked to stop.
func (r *runner) stopping() bool {
	return r.ro.StoppingFunc != nil && r.ro.StoppingFunc()
}

func (r *runner) aborted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal != nil
}

// abort records the first error that ends the call.
func (r *runner) abort(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fatal == nil {
		r.fatal = err
	}
}

func (r *runner) scopeStopped(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped[key]
}

// update changes the counts under the lock and reports progress.
func (r *runner) update(f func(c *Counts), pr *Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.counts)
	if pr != nil && r.ro.ProgressFunc != nil {
		pr.Stream, pr.Planned, pr.Counts = r.stream, r.planned, r.counts
		r.ro.ProgressFunc(*pr)
	}
}

// isFatal reports whether err must end the whole call rather than fail one
// window: the caller's context ended, a stop was asked, or the token is
// refused (every other window would be refused too).
func isFatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, ErrStopped) || errors.Is(err, apiclient.ErrUnauthorized) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// refused reports whether err is the API refusing the window's requests
// (a 4xx other than 401/403 and 429): reading it again the same way will
// likely be refused again.
func refused(err error) bool {
	return errors.Is(err, apiclient.ErrRejected) || errors.Is(err, apiclient.ErrNotFound) || errors.Is(err, apiclient.ErrConflict)
}

// bookkeeping returns a context for window bookkeeping that outlives a
// cancelled ctx by a few seconds, so an interrupted read still records
// where it stopped.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// readWindow reads w until it is done, split, failed, given up, released at
// its deadline, or the call stops. It returns only errors that end the call.
func (r *runner) readWindow(ctx context.Context, sc scope, w store.Window) error {
	log := r.log.WithFields(logrus.Fields{"scope": sc.key, "window_start": w.Start, "window_end": w.End})
	r.update(func(c *Counts) { c.Windows++ }, nil)
	ended := func() {
		r.update(func(*Counts) {}, &Progress{Scope: sc.key, Window: w.Span(), WindowEnded: true})
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if d := r.p.o.WindowDeadline; d > 0 {
		t := time.AfterFunc(d, func() { cancel(errWindowDeadline) })
		defer t.Stop()
	}
	for rereads := 0; ; rereads++ {
		started, err := r.p.st.StartWindow(wctx, w.ID, r.ro.RunID)
		if err != nil {
			if r.pastDeadline(ctx, wctx) {
				return r.release(ctx, log, w, ended)
			}
			if isFatal(ctx, err) {
				return err
			}
			return fmt.Errorf("pull %s: %w", r.stream, err)
		}
		res, err := r.readOnce(wctx, sc, started)
		switch {
		case err != nil && r.pastDeadline(ctx, wctx):
			return r.release(ctx, log, started, ended)
		case err != nil && isFatal(ctx, err):
			bctx, cancel := bookkeeping(ctx)
			defer cancel()
			if errors.Is(err, apiclient.ErrUnauthorized) {
				_ = r.p.st.FailWindow(bctx, w.ID, err.Error())
			} else {
				_ = r.p.st.ReleaseWindow(bctx, w.ID, "")
			}
			if errors.Is(err, ErrStopped) {
				return ErrStopped
			}
			return fmt.Errorf("pull %s: %w", r.stream, err)
		case err != nil:
			return r.fail(ctx, log, sc, started, err, ended)
		case res.split:
			return r.split(ctx, log, sc, started, res.total, ended)
		}
		r.update(func(c *Counts) { c.PageSizeChanges += res.resized }, nil)
		if res.distinct < int64(res.maxTotal) && rereads < r.p.o.MaxRereads {
			reason := fmt.Sprintf("short count: %d distinct rows of totalElements %d; re-reading", res.distinct, res.maxTotal)
			log.WithField("reread", rereads+1).Info("pull: " + reason)
			if err := r.p.st.RestartWindow(wctx, w.ID, reason); err != nil {
				if r.pastDeadline(ctx, wctx) {
					return r.release(ctx, log, started, ended)
				}
				return r.fail(ctx, log, sc, started, err, ended)
			}
			r.update(func(c *Counts) { c.Rereads++ }, nil)
			continue
		}
		var warning string
		missing := max(int64(res.maxTotal)-res.distinct, 0)
		if missing > 0 {
			warning = fmt.Sprintf("short count: %d distinct rows of totalElements %d after %d reads", res.distinct, res.maxTotal, rereads+1)
			log.WithField("missing_rows", missing).Warn("pull: window done with a data gap: " + warning)
		}
		if res.tooLarge {
			warning = strings.TrimPrefix(warning+"; ", "; ") + fmt.Sprintf("totalElements %d above %d but too short to split", res.total, r.p.o.MaxWindowRows)
		}
		if err := r.p.st.FinishWindow(ctx, w.ID, warning, missing); err != nil {
			if isFatal(ctx, err) {
				return fmt.Errorf("pull %s: %w", r.stream, err)
			}
			return r.fail(ctx, log, sc, started, err, ended)
		}
		r.update(func(c *Counts) {
			c.WindowsDone++
			if missing > 0 {
				c.DataGaps++
				c.MissingRows += missing
			}
		}, nil)
		r.mu.Lock()
		r.inRow[sc.key] = 0
		r.mu.Unlock()
		log.WithFields(logrus.Fields{"pages": res.pages, "rows": res.rows}).Debug("pull: window done")
		ended()
		return nil
	}
}

// pastDeadline reports whether the window's own deadline, not the caller,
// ended its read.
func (r *runner) pastDeadline(ctx, wctx context.Context) bool {
	return ctx.Err() == nil && errors.Is(context.Cause(wctx), errWindowDeadline)
}

// release returns a window whose deadline passed to pending, its committed
// pages kept, for the next run: a window that only waited (429s) has not
// failed.
func (r *runner) release(ctx context.Context, log logrus.FieldLogger, w store.Window, ended func()) error {
	reason := fmt.Sprintf("released at the window deadline of %s (omnichat.window_deadline); the next run resumes it", r.p.o.WindowDeadline)
	log.Warn("pull: " + reason)
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := r.p.st.ReleaseWindow(bctx, w.ID, reason); err != nil {
		return fmt.Errorf("pull %s: %w", r.stream, err)
	}
	r.update(func(c *Counts) { c.WindowsReleased++ }, nil)
	ended()
	return nil
}

// fail marks w failed or, when the API refused it on its
// MaxWindowAttempts-th attempt, given up. It never ends the call: after
// MaxConsecutiveFailures outages in a row in w's scope, that scope's other
// windows are left for the next run.
func (r *runner) fail(ctx context.Context, log logrus.FieldLogger, sc scope, w store.Window, cause error, ended func()) error {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	isRefusal := refused(cause)
	if isRefusal && w.Attempts >= r.p.o.MaxWindowAttempts {
		reason := fmt.Sprintf("gave up after %d attempts (omnichat.max_window_attempts), refused: %v", w.Attempts, cause)
		log.WithError(cause).Warn("pull: window given up; crmsync backfill --retry-gave-up tries it again")
		if err := r.p.st.GiveUpWindow(bctx, w.ID, reason); err != nil {
			return fmt.Errorf("pull %s: %w (after %w)", r.stream, err, cause)
		}
		r.update(func(c *Counts) { c.WindowsGaveUp++ }, nil)
	} else {
		log.WithError(cause).WithField("attempts", w.Attempts).Warn("pull: window failed")
		if err := r.p.st.FailWindow(bctx, w.ID, cause.Error()); err != nil {
			return fmt.Errorf("pull %s: %w (after %w)", r.stream, err, cause)
		}
		r.update(func(c *Counts) { c.WindowsFailed++ }, nil)
	}
	r.mu.Lock()
	if r.firstFail == nil {
		r.firstFail = cause
	}
	if !isRefusal {
		r.inRow[sc.key]++
		if r.inRow[sc.key] >= r.p.o.MaxConsecutiveFailures && !r.stopped[sc.key] {
			r.stopped[sc.key] = true
			log.WithField("failed_in_a_row", r.inRow[sc.key]).Warn("pull: scope stopped after windows failed in a row; its other windows wait for the next run, other scopes go on")
		}
	}
	r.mu.Unlock()
	ended()
	return nil
}

// split replaces w by its halves and reads them, each with its own
// deadline.
func (r *runner) split(ctx context.Context, log logrus.FieldLogger, sc scope, w store.Window, total int, ended func()) error {
	hs, _ := halves(w.Span()) // readOnce asks for a split only when there are halves
	reason := fmt.Sprintf("totalElements %d above %d: split in two", total, r.p.o.MaxWindowRows)
	log.Info("pull: " + reason)
	ws, err := r.p.st.SplitWindow(ctx, w.ID, hs, reason, r.ro.RunID)
	if err != nil {
		if isFatal(ctx, err) {
			return fmt.Errorf("pull %s: %w", r.stream, err)
		}
		return r.fail(ctx, log, sc, w, err, ended)
	}
	r.update(func(c *Counts) {
		c.WindowsSplit++
		r.planned++ // one window became two; the parent never ends on its own
	}, nil)
	for _, h := range ws {
		if h.Status == store.WindowDone {
			r.update(func(c *Counts) { c.WindowsKept++ }, &Progress{Scope: sc.key, Window: h.Span(), WindowEnded: true})
			continue
		}
		if r.stopping() {
			return ErrStopped
		}
		if err := r.readWindow(ctx, sc, h); err != nil {
			return err
		}
	}
	return nil
}

// readResult is what one read of a window saw.
type readResult struct {
	split    bool  // the first page asked for a split; nothing was written
	tooLarge bool  // above MaxWindowRows but too short to split
	total    int   // totalElements of the read's first page
	maxTotal int   // the largest totalElements of the read
	distinct int64 // distinct rows received (a resumed read counts earlier pages' rows)
	pages    int
	rows     int64
	resized  int // times the server served fewer rows than asked and paging went on at its size
}

// fetched is a page or the error fetching it.
type fetched struct {
	pg  *page
	err error
}

// readOnce reads w once from its next_page to its last page, fetching the
// next page while writing the current one. Pages follow omnichat.PageCursor:
// a page shorter than asked while rows are missing means the server serves
// that many per page, and the read goes on at that size (sync_windows.
// page_size keeps it, so a resumed read asks the same pages).
func (r *runner) readOnce(ctx context.Context, sc scope, w store.Window) (readResult, error) {
	size := r.p.o.PageSize
	first := max(w.NextPage, 1)
	if first > 1 && w.PageSize > 0 {
		size = w.PageSize
	}
	cur := omnichat.NewPageCursor(first, size)
	res := readResult{total: -1, maxTotal: -1}
	if first > 1 {
		res.distinct = w.Rows // keys unknown: counted as distinct
	}
	seen := make(map[string]struct{})

	fctx, cancel := context.WithCancel(ctx)
	ch := make(chan fetched, 1)
	pending := false
	fetch := func(n, size int) {
		pending = true
		r.update(func(c *Counts) { c.Requests++ }, nil)
		go func() {
			pg, err := r.p.fetch(fctx, r.stream, sc, w, n, size)
			ch <- fetched{pg, err}
		}()
	}
	defer func() {
		cancel()
		if pending {
			<-ch
		}
	}()

	fetch(cur.Page, cur.Size)
	for firstPage := true; ; firstPage = false {
		f := <-ch
		pending = false
		if f.err != nil {
			return res, f.err
		}
		pg := f.pg
		n, asked := cur.Page, cur.Size // what this page was asked at
		if firstPage {
			res.total = pg.total
			if pg.total > r.p.o.MaxWindowRows {
				if _, ok := halves(w.Span()); ok {
					res.split = true
					return res, nil
				}
				res.tooLarge = true
			}
		}
		res.maxTotal = max(res.maxTotal, pg.total)
		more, restarted := cur.Advance(pg.received, pg.total, pg.total > 0)
		if more && (restarted || cur.Size != asked) {
			res.resized++
			r.log.WithFields(logrus.Fields{"scope": sc.key, "window_start": w.Start, "asked": asked, "served": cur.Size}).
				Info("pull: the server served fewer rows per page than asked while rows are missing; paging on at the size it serves")
		}
		if more && !r.stopping() {
			fetch(cur.Page, cur.Size)
		}
		meta := store.PageMeta{
			Stream: string(r.stream), Scope: sc.key, WindowID: w.ID, RunID: r.ro.RunID,
			Page: n, PageSize: asked, Received: pg.received, TotalElements: -1,
		}
		if firstPage {
			meta.TotalElements = int64(pg.total)
		}
		pr, err := pg.write(ctx, r.p.st, meta)
		if err != nil {
			return res, err
		}
		for _, k := range pg.keys {
			seen[k] = struct{}{}
		}
		res.pages++
		res.rows += int64(pg.received)
		r.update(func(c *Counts) {
			c.Pages++
			c.Rows += int64(pg.received)
			c.Inserted += pr.Inserted
			c.Updated += pr.Updated
			c.Queued += pr.Queued
			c.Bad += pr.Bad
			c.ChannelsSeen += pr.Channels
		}, &Progress{Scope: sc.key, Window: w.Span(), Page: res.pages, Rows: res.rows, TotalElements: pg.total})
		if !more {
			break
		}
		if limit := int64(2*max(r.p.o.MaxWindowRows, res.maxTotal) + size); res.rows > limit {
			return res, fmt.Errorf("paging does not end: %d rows read in %d pages, totalElements %d", res.rows, res.pages, res.maxTotal)
		}
		if r.stopping() {
			return res, ErrStopped
		}
	}
	res.distinct += int64(len(seen))
	return res, nil
}
