package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"crmsync/clients/apiclient"
	"crmsync/clients/omnichat"
	"crmsync/contact"
	"crmsync/store"
)

// Stream is one Omnichat stream pulled into a raw table.
type Stream string

// The streams, spelled as sync_windows.stream and the --streams flag spell them.
const (
	Contacts    Stream = store.StreamContacts    // GET /v1/contacts → omnichat_contacts
	TaggingLogs Stream = store.StreamTaggingLogs // GET /v1/tagging-logs/records → omnichat_tagging_logs
	Messages    Stream = store.StreamMessages    // GET /v1/messages → omnichat_messages
)

// Streams lists every stream in the order a full pull reads them.
var Streams = []Stream{Contacts, TaggingLogs, Messages}

// ParseStream returns the stream named s.
func ParseStream(s string) (Stream, error) {
	for _, st := range Streams {
		if string(st) == strings.TrimSpace(s) {
			return st, nil
		}
	}
	names := make([]string, len(Streams))
	for i, st := range Streams {
		names[i] = string(st)
	}
	return "", fmt.Errorf("unknown stream %q (one of %s)", s, strings.Join(names, ", "))
}

// ErrStopped is returned when RunOptions.StoppingFunc asked the pull to
// stop: the page in hand was committed and the window released for the next
// run.
var ErrStopped = errors.New("pull: stopped")

// Defaults used when the corresponding Options field is zero.
const (
	DefaultPageSize               = 100
	DefaultWindow                 = 24 * time.Hour
	DefaultSafetyLag              = 5 * time.Minute
	DefaultInitialLookback        = 30 * 24 * time.Hour
	DefaultMaxWindowRows          = 10000
	DefaultMaxRereads             = 2
	DefaultConcurrency            = 4
	DefaultMaxConsecutiveFailures = 3
)

// DefaultPlatforms are pulled when the channel list is empty and
// Options.Platforms is not set.
var DefaultPlatforms = []string{"line", "facebook", "instagram", "whatsapp", "wechat", "webchat"}

// Options configures a Puller. Zero values mean the Default* values.
type Options struct {
	Client *omnichat.Client // required
	Store  *store.Store     // required
	Log    logrus.FieldLogger

	// PageSize is rows per request (at most 100, the API's maximum).
	PageSize int
	// Window is the length of a window (at most 7 days).
	Window time.Duration
	// SafetyLag holds back the newest window end: no window ends after
	// now − SafetyLag. Negative means none.
	SafetyLag time.Duration
	// InitialLookback is where an incremental pull of a stream and scope
	// with no done window starts: now − InitialLookback.
	InitialLookback time.Duration
	// MaxWindowRows is the totalElements above which a window is split.
	MaxWindowRows int
	// MaxRereads bounds re-reads of a window short of totalElements;
	// negative means none.
	MaxRereads int
	// Platforms are pulled (as scope "platform") when /v1/channels lists no
	// channel.
	Platforms []string
	// Concurrency is how many windows of a stream are read at once; the
	// shared rate limiter bounds the request rate whatever it is.
	Concurrency int
	// MaxConsecutiveFailures stops a stream after this many windows failed
	// in a row.
	MaxConsecutiveFailures int
	// NowFunc is the clock (default time.Now).
	NowFunc func() time.Time
}

// RunOptions ties one call to its run.
type RunOptions struct {
	// RunID is the sync_runs row the windows and bad records point to; 0
	// for none.
	RunID int64
	// StoppingFunc, when it reports true, stops the call between pages
	// (see ErrStopped). nil never stops.
	StoppingFunc func() bool
	// ProgressFunc is called after every committed page and every finished
	// window, one call at a time. nil reports nothing.
	ProgressFunc func(Progress)
}

// Progress reports where a call is.
type Progress struct {
	Stream Stream
	Scope  string
	Window store.Span
	// Page and Rows are the pages committed and rows received in the
	// current read of Window; TotalElements is the latest the API reported.
	Page          int
	Rows          int64
	TotalElements int
	// WindowEnded is set on the call made when Window ended (done, failed
	// or split).
	WindowEnded bool
	// Planned is how many windows the call reads (it grows when a window
	// splits); Counts are the call's totals so far.
	Planned int
	Counts  Counts
}

// Counts are what a call did.
type Counts struct {
	Windows       int   // windows whose read started (a split window and its halves each count; re-reads do not)
	WindowsDone   int   // windows marked done
	WindowsFailed int   // windows marked failed
	WindowsSplit  int   // windows split in two
	WindowsKept   int   // windows in range already done, not read
	ShortWindows  int   // windows done short of totalElements after every re-read
	Rereads       int   // re-reads after a short count
	Requests      int   // page requests (each counted once, whatever the transport retried)
	Pages         int   // pages committed
	Rows          int64 // rows received, good and bad
	Inserted      int64 // rows new to the raw table
	Updated       int64 // rows changed
	Queued        int64 // identities newly queued for reconcile
	Bad           int64 // bad records recorded
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Windows += o.Windows
	c.WindowsDone += o.WindowsDone
	c.WindowsFailed += o.WindowsFailed
	c.WindowsSplit += o.WindowsSplit
	c.WindowsKept += o.WindowsKept
	c.ShortWindows += o.ShortWindows
	c.Rereads += o.Rereads
	c.Requests += o.Requests
	c.Pages += o.Pages
	c.Rows += o.Rows
	c.Inserted += o.Inserted
	c.Updated += o.Updated
	c.Queued += o.Queued
	c.Bad += o.Bad
}

// Map returns the counts by snake_case name, for sync_runs.counts: rows are
// rows received, rejections the bad records, page_requests the page
// requests made (HTTP attempts and 429s are the client's to count).
func (c Counts) Map() map[string]int64 {
	return map[string]int64{
		"windows": int64(c.Windows), "windows_done": int64(c.WindowsDone), "windows_failed": int64(c.WindowsFailed),
		"windows_split": int64(c.WindowsSplit), "windows_kept": int64(c.WindowsKept), "short_windows": int64(c.ShortWindows),
		"rereads": int64(c.Rereads), "page_requests": int64(c.Requests), "pages": int64(c.Pages), "rows": c.Rows,
		"inserted": c.Inserted, "updated": c.Updated, "queued": c.Queued, "rejections": c.Bad,
	}
}

// Puller pulls Omnichat streams into the raw tables. It is safe for
// concurrent use; each call reads its own windows.
type Puller struct {
	c   *omnichat.Client
	st  *store.Store
	log logrus.FieldLogger
	o   Options
}

// New validates o and returns a Puller.
func New(o Options) (*Puller, error) {
	if o.Client == nil || o.Store == nil {
		return nil, errors.New("new puller: Client and Store are required")
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.PageSize < 1 || o.PageSize > omnichat.MaxPageSize {
		return nil, fmt.Errorf("new puller: page size %d is outside 1..%d", o.PageSize, omnichat.MaxPageSize)
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Window < time.Minute || o.Window > MaxWindow {
		return nil, fmt.Errorf("new puller: window %s is outside 1m..%s", o.Window, MaxWindow)
	}
	switch {
	case o.SafetyLag == 0:
		o.SafetyLag = DefaultSafetyLag
	case o.SafetyLag < 0:
		o.SafetyLag = 0
	}
	if o.InitialLookback <= 0 {
		o.InitialLookback = DefaultInitialLookback
	}
	if o.MaxWindowRows == 0 {
		o.MaxWindowRows = DefaultMaxWindowRows
	}
	if o.MaxWindowRows < o.PageSize {
		return nil, fmt.Errorf("new puller: max window rows %d is below the page size %d", o.MaxWindowRows, o.PageSize)
	}
	switch {
	case o.MaxRereads == 0:
		o.MaxRereads = DefaultMaxRereads
	case o.MaxRereads < 0:
		o.MaxRereads = 0
	}
	if len(o.Platforms) == 0 {
		o.Platforms = DefaultPlatforms
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxConsecutiveFailures <= 0 {
		o.MaxConsecutiveFailures = DefaultMaxConsecutiveFailures
	}
	if o.NowFunc == nil {
		o.NowFunc = time.Now
	}
	log := o.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	return &Puller{c: o.Client, st: o.Store, log: log, o: o}, nil
}

// Horizon returns now − SafetyLag (to the second): no window ends later.
func (p *Puller) Horizon() time.Time {
	return p.o.NowFunc().UTC().Add(-p.o.SafetyLag).Truncate(time.Second)
}

// Backfill reads stream over [from, to), to held back to the Horizon:
// windows already done are kept, the others (new, pending, interrupted or
// failed) are read. Calling it again after an interruption resumes.
func (p *Puller) Backfill(ctx context.Context, stream Stream, from, to time.Time, ro RunOptions) (Counts, error) {
	if h := p.Horizon(); to.After(h) {
		to = h
	}
	from, to = from.UTC(), to.UTC()
	if !to.After(from) {
		p.log.WithFields(logrus.Fields{"stream": stream, "from": from, "to": to}).Info("pull: nothing to read before the safety lag")
		return Counts{}, nil
	}
	return p.pull(ctx, stream, ro, func(ctx context.Context, sc scope) ([]store.Window, error) {
		return p.planRange(ctx, stream, sc, from, to, ro.RunID)
	})
}

// Incremental reads stream from the end of the last done window of each
// scope (or now − InitialLookback) to the Horizon, after retrying the
// windows earlier runs left open (pending, interrupted or failed).
func (p *Puller) Incremental(ctx context.Context, stream Stream, ro RunOptions) (Counts, error) {
	to := p.Horizon()
	return p.pull(ctx, stream, ro, func(ctx context.Context, sc scope) ([]store.Window, error) {
		// Every window after the last done end is open, so the open windows
		// are all the windows [from, to) already has.
		open, err := p.st.OpenWindows(ctx, string(stream), sc.key)
		if err != nil {
			return nil, err
		}
		from := to.Add(-p.o.InitialLookback)
		last, ok, err := p.st.LastDoneEnd(ctx, string(stream), sc.key)
		if err != nil {
			return nil, err
		}
		if ok {
			from = last
		}
		if !to.After(from) {
			return open, nil
		}
		return p.fillRange(ctx, stream, sc, from, to, open, ro.RunID)
	})
}

// planRange returns the windows of sc covering [from, to): the existing
// ones (any status but split) and new ones for the gaps.
func (p *Puller) planRange(ctx context.Context, stream Stream, sc scope, from, to time.Time, runID int64) ([]store.Window, error) {
	existing, err := p.st.Windows(ctx, string(stream), sc.key, from, to)
	if err != nil {
		return nil, err
	}
	return p.fillRange(ctx, stream, sc, from, to, existing, runID)
}

// fillRange creates windows for the parts of [from, to) that no window in
// existing covers and returns existing and the new ones, ordered by start.
func (p *Puller) fillRange(ctx context.Context, stream Stream, sc scope, from, to time.Time, existing []store.Window, runID int64) ([]store.Window, error) {
	covered := make([]store.Span, len(existing))
	for i, w := range existing {
		covered[i] = w.Span()
	}
	created, err := p.st.CreateWindows(ctx, string(stream), sc.key, Plan(from, to, p.o.Window, covered), runID)
	if err != nil {
		return nil, err
	}
	ws := append(existing, created...)
	slices.SortFunc(ws, func(a, b store.Window) int { return a.Start.Compare(b.Start) })
	return ws, nil
}

// scope is one sync_windows scope of a stream and what its requests send.
type scope struct {
	key       string // sync_windows.scope
	platform  contact.Platform
	channelID string
}

// scopes returns the scopes of stream: one per channel for contacts and
// messages (the channel list is stored on the way), or one per configured
// platform when the list is empty; a single "" scope for tagging logs.
func (p *Puller) scopes(ctx context.Context, stream Stream) ([]scope, error) {
	if stream == TaggingLogs {
		return []scope{{}}, nil
	}
	chans, err := p.c.Channels.List(ctx)
	if err != nil {
		return nil, err
	}
	if len(chans) == 0 {
		out := make([]scope, 0, len(p.o.Platforms))
		for _, pl := range p.o.Platforms {
			plat := omnichat.ParsePlatform(pl)
			out = append(out, scope{key: string(plat), platform: plat})
		}
		p.log.WithField("platforms", p.o.Platforms).Info("pull: no channel listed; pulling per platform")
		return out, nil
	}
	rows := make([]store.ChannelRow, len(chans))
	out := make([]scope, 0, len(chans))
	for i, ch := range chans {
		rows[i] = store.ChannelRow{Platform: string(ch.Platform), ChannelID: ch.ChannelID, ChannelName: ch.ChannelName, Raw: ch.Raw}
		out = append(out, scope{key: string(ch.Platform) + "/" + ch.ChannelID, platform: ch.Platform, channelID: ch.ChannelID})
	}
	if err := p.st.UpsertChannels(ctx, rows); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b scope) int { return strings.Compare(a.key, b.key) })
	return slices.CompactFunc(out, func(a, b scope) bool { return a.key == b.key }), nil
}

// job is one window to read.
type job struct {
	sc scope
	w  store.Window
}

// pull plans the windows of every scope of stream with plan and reads the
// ones not done.
func (p *Puller) pull(ctx context.Context, stream Stream, ro RunOptions, plan func(context.Context, scope) ([]store.Window, error)) (Counts, error) {
	switch stream {
	case Contacts, TaggingLogs, Messages:
	default:
		return Counts{}, fmt.Errorf("pull: unknown stream %q", stream)
	}
	scopes, err := p.scopes(ctx, stream)
	if err != nil {
		return Counts{}, fmt.Errorf("pull %s: %w", stream, err)
	}
	var kept int
	var jobs []job
	for _, sc := range scopes {
		ws, err := plan(ctx, sc)
		if err != nil {
			return Counts{}, fmt.Errorf("pull %s: plan windows of %q: %w", stream, sc.key, err)
		}
		for _, w := range ws {
			if w.Status == store.WindowDone {
				kept++
				continue
			}
			jobs = append(jobs, job{sc: sc, w: w})
		}
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return a.w.Start.Compare(b.w.Start) })
	r := &runner{p: p, stream: stream, ro: ro, log: p.log.WithField("stream", string(stream))}
	r.counts.WindowsKept = kept
	r.planned = len(jobs)
	if ro.RunID != 0 {
		r.log = r.log.WithField("run_id", ro.RunID)
	}
	return r.run(ctx, jobs)
}

// runner reads the windows of one call.
type runner struct {
	p      *Puller
	stream Stream
	ro     RunOptions
	log    logrus.FieldLogger

	mu          sync.Mutex
	counts      Counts
	planned     int
	failedInRow int
	firstFail   error
	fatal       error
}

// run reads jobs with Options.Concurrency workers.
func (r *runner) run(ctx context.Context, jobs []job) (Counts, error) {
	ch := make(chan job)
	var wg sync.WaitGroup
	for range min(r.p.o.Concurrency, max(len(jobs), 1)) {
		wg.Go(func() {
			for j := range ch {
				if r.aborted() {
					continue
				}
				if r.stopping() {
					r.abort(ErrStopped)
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
	case c.WindowsFailed > 0:
		return c, fmt.Errorf("pull %s: %d of %d windows failed (the next run retries them): %w",
			r.stream, c.WindowsFailed, r.planned, r.firstFail)
	}
	return c, nil
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
// window.
func isFatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, ErrStopped) || errors.Is(err, apiclient.ErrUnauthorized) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// bookkeeping returns a context for window bookkeeping that outlives a
// cancelled ctx by a few seconds, so an interrupted read still records
// where it stopped.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// readWindow reads w until it is done, split, failed or the call stops.
// It returns only errors that end the call.
func (r *runner) readWindow(ctx context.Context, sc scope, w store.Window) error {
	log := r.log.WithFields(logrus.Fields{"scope": sc.key, "window_start": w.Start, "window_end": w.End})
	r.update(func(c *Counts) { c.Windows++ }, nil)
	ended := func() {
		r.update(func(*Counts) {}, &Progress{Scope: sc.key, Window: w.Span(), WindowEnded: true})
	}
	for rereads := 0; ; rereads++ {
		started, err := r.p.st.StartWindow(ctx, w.ID, r.ro.RunID)
		if err != nil {
			if isFatal(ctx, err) {
				return err
			}
			return fmt.Errorf("pull %s: %w", r.stream, err)
		}
		res, err := r.readOnce(ctx, sc, started)
		switch {
		case err != nil && isFatal(ctx, err):
			bctx, cancel := bookkeeping(ctx)
			defer cancel()
			if errors.Is(err, apiclient.ErrUnauthorized) {
				_ = r.p.st.FailWindow(bctx, w.ID, err.Error())
			} else {
				_ = r.p.st.ReleaseWindow(bctx, w.ID)
			}
			if errors.Is(err, ErrStopped) {
				return ErrStopped
			}
			return fmt.Errorf("pull %s: %w", r.stream, err)
		case err != nil:
			return r.fail(ctx, log, w, err, ended)
		case res.split:
			return r.split(ctx, log, sc, w, res.total, ended)
		}
		if res.distinct < int64(res.maxTotal) && rereads < r.p.o.MaxRereads {
			reason := fmt.Sprintf("short count: %d distinct rows of totalElements %d; re-reading", res.distinct, res.maxTotal)
			log.WithField("reread", rereads+1).Info("pull: " + reason)
			if err := r.p.st.RestartWindow(ctx, w.ID, reason); err != nil {
				return r.fail(ctx, log, w, err, ended)
			}
			r.update(func(c *Counts) { c.Rereads++ }, nil)
			continue
		}
		warning := ""
		if res.distinct < int64(res.maxTotal) {
			warning = fmt.Sprintf("short count: %d distinct rows of totalElements %d after %d reads", res.distinct, res.maxTotal, rereads+1)
			log.Warn("pull: window done " + warning)
		}
		if res.tooLarge {
			warning = strings.TrimPrefix(warning+"; ", "; ") + fmt.Sprintf("totalElements %d above %d but too short to split", res.total, r.p.o.MaxWindowRows)
		}
		if err := r.p.st.FinishWindow(ctx, w.ID, warning); err != nil {
			if isFatal(ctx, err) {
				return fmt.Errorf("pull %s: %w", r.stream, err)
			}
			return r.fail(ctx, log, w, err, ended)
		}
		r.update(func(c *Counts) {
			c.WindowsDone++
			if res.distinct < int64(res.maxTotal) {
				c.ShortWindows++
			}
		}, nil)
		r.mu.Lock()
		r.failedInRow = 0
		r.mu.Unlock()
		log.WithFields(logrus.Fields{"pages": res.pages, "rows": res.rows}).Debug("pull: window done")
		ended()
		return nil
	}
}

// fail marks w failed; after MaxConsecutiveFailures in a row it returns an
// error that stops the stream.
func (r *runner) fail(ctx context.Context, log logrus.FieldLogger, w store.Window, cause error, ended func()) error {
	log.WithError(cause).Warn("pull: window failed")
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := r.p.st.FailWindow(bctx, w.ID, cause.Error()); err != nil {
		return fmt.Errorf("pull %s: %w (after %w)", r.stream, err, cause)
	}
	r.mu.Lock()
	r.counts.WindowsFailed++
	r.failedInRow++
	if r.firstFail == nil {
		r.firstFail = cause
	}
	inRow := r.failedInRow
	r.mu.Unlock()
	ended()
	if inRow >= r.p.o.MaxConsecutiveFailures {
		return fmt.Errorf("pull %s: stopped after %d windows failed in a row (the next run retries them): %w", r.stream, inRow, cause)
	}
	return nil
}

// split replaces w by its halves and reads them.
func (r *runner) split(ctx context.Context, log logrus.FieldLogger, sc scope, w store.Window, total int, ended func()) error {
	hs, _ := halves(w.Span()) // readOnce asks for a split only when there are halves
	reason := fmt.Sprintf("totalElements %d above %d: split in two", total, r.p.o.MaxWindowRows)
	log.Info("pull: " + reason)
	ws, err := r.p.st.SplitWindow(ctx, w.ID, hs, reason, r.ro.RunID)
	if err != nil {
		if isFatal(ctx, err) {
			return fmt.Errorf("pull %s: %w", r.stream, err)
		}
		return r.fail(ctx, log, w, err, ended)
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
}

// fetched is a page or the error fetching it.
type fetched struct {
	pg  *page
	err error
}

// readOnce reads w once from its next_page to its last page, fetching the
// next page while writing the current one.
func (r *runner) readOnce(ctx context.Context, sc scope, w store.Window) (readResult, error) {
	size := r.p.o.PageSize
	first := max(w.NextPage, 1)
	res := readResult{total: -1, maxTotal: -1}
	if first > 1 {
		res.distinct = w.Rows // keys unknown: counted as distinct
	}
	seen := make(map[string]struct{})

	fctx, cancel := context.WithCancel(ctx)
	ch := make(chan fetched, 1)
	pending := false
	fetch := func(n int) {
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

	fetch(first)
	for n := first; ; n++ {
		f := <-ch
		pending = false
		if f.err != nil {
			return res, f.err
		}
		pg := f.pg
		if n == first {
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
		// A short page ends the window, and so does reaching the latest
		// totalElements; a full page with no usable total (0) does not.
		last := pg.received < size || pg.total > 0 && n*size >= pg.total
		if !last && !r.stopping() {
			fetch(n + 1)
		}
		meta := store.PageMeta{
			Stream: string(r.stream), Scope: sc.key, WindowID: w.ID, RunID: r.ro.RunID,
			Page: n, Received: pg.received, TotalElements: -1,
		}
		if n == first {
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
		}, &Progress{Scope: sc.key, Window: w.Span(), Page: res.pages, Rows: res.rows, TotalElements: pg.total})
		if last {
			break
		}
		if r.stopping() {
			return res, ErrStopped
		}
	}
	res.distinct += int64(len(seen))
	return res, nil
}
