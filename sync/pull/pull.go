package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

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
	DefaultMaxWindowAttempts      = 5
	DefaultWindowDeadline         = 15 * time.Minute
)

// DefaultPlatforms are pulled when Options.Platforms is not set: every
// platform the API documents (omnichat.Platforms).
var DefaultPlatforms = func() []string {
	out := make([]string, len(omnichat.Platforms))
	for i, p := range omnichat.Platforms {
		out[i] = string(p)
	}
	return out
}()

// Options configures a Puller. Zero values mean the Default* values.
type Options struct {
	Client *omnichat.Client // required
	Store  *store.Store     // required
	Log    logrus.FieldLogger

	// PageSize is rows asked per request (at most 100, the API's maximum);
	// a server serving fewer is followed at the size it serves.
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
	// negative means none. A window still short after them is done with a
	// data gap (sync_windows.missing_rows).
	MaxRereads int
	// Platforms are the platforms whose contacts and messages are pulled:
	// per channel where GET /v1/channels lists channels of the platform,
	// otherwise per platform without channelId. Each must be one the API
	// documents (omnichat.Platforms).
	Platforms []string
	// Concurrency is how many windows of a stream are read at once; the
	// shared rate limiter bounds the request rate whatever it is.
	Concurrency int
	// MaxConsecutiveFailures stops reading a scope after this many of its
	// windows failed in a row with an outage (5xx, timeouts after the
	// retries): its other windows wait for the next run; other scopes go on.
	// Refusals (4xx) never stop a scope.
	MaxConsecutiveFailures int
	// MaxWindowAttempts is how many reads (sync_windows.attempts) a window
	// refused with a 4xx gets before it is given up (status gave_up).
	MaxWindowAttempts int
	// WindowDeadline bounds one window's reading, rate-limit waits
	// included: past it the window is released (pending, its committed pages
	// kept) for the next run, not failed. Negative means none.
	WindowDeadline time.Duration
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
	// RetryGaveUp makes Backfill read the windows of its range given up by
	// earlier runs too (each gets one more attempt).
	RetryGaveUp bool
	// RereadGaps makes Backfill read again the windows of its range done
	// with a data gap (fewer rows than totalElements).
	RereadGaps bool
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
	// WindowEnded is set on the call made when Window ended (done, failed,
	// given up, released or split).
	WindowEnded bool
	// Planned is how many windows the call reads (it grows when a window
	// splits); Counts are the call's totals so far.
	Planned int
	Counts  Counts
}

// Counts are what a call did.
type Counts struct {
	Windows         int   // windows whose read started (a split window and its halves each count; re-reads do not)
	WindowsDone     int   // windows marked done
	WindowsFailed   int   // windows marked failed (the next run retries them)
	WindowsGaveUp   int   // windows given up after MaxWindowAttempts refusals
	WindowsReleased int   // windows released at their deadline, for the next run
	WindowsSplit    int   // windows split in two
	WindowsKept     int   // windows in range already done (or given up), not read
	WindowsSkipped  int   // windows left for the next run because their scope kept failing
	WindowsRetried  int   // windows read again after an earlier attempt (read after the new ones)
	DataGaps        int   // windows done with fewer distinct rows than totalElements after every re-read
	MissingRows     int64 // rows those data gaps miss
	Rereads         int   // re-reads after a short count
	PageSizeChanges int   // times a server served fewer rows than asked and paging went on at its size
	Requests        int   // page requests (each counted once, whatever the transport retried)
	Pages           int   // pages committed
	Rows            int64 // rows received, good and bad
	Inserted        int64 // rows new to the raw table
	Updated         int64 // rows changed
	Queued          int64 // identities newly queued for reconcile
	Bad             int64 // bad records recorded
	ChannelsSeen    int64 // channels first seen in rows (not listed by GET /v1/channels)
	ChannelScopes   int   // scopes pulled per listed channel
	PlatformScopes  int   // scopes pulled per platform, without channelId
	ScopesFailed    int   // scopes whose windows could not be planned
	// ChannelListFailed is 1 when GET /v1/channels failed and the channels
	// it listed last time were used instead.
	ChannelListFailed int
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Windows += o.Windows
	c.WindowsDone += o.WindowsDone
	c.WindowsFailed += o.WindowsFailed
	c.WindowsGaveUp += o.WindowsGaveUp
	c.WindowsReleased += o.WindowsReleased
	c.WindowsSplit += o.WindowsSplit
	c.WindowsKept += o.WindowsKept
	c.WindowsSkipped += o.WindowsSkipped
	c.WindowsRetried += o.WindowsRetried
	c.DataGaps += o.DataGaps
	c.MissingRows += o.MissingRows
	c.Rereads += o.Rereads
	c.PageSizeChanges += o.PageSizeChanges
	c.Requests += o.Requests
	c.Pages += o.Pages
	c.Rows += o.Rows
	c.Inserted += o.Inserted
	c.Updated += o.Updated
	c.Queued += o.Queued
	c.Bad += o.Bad
	c.ChannelsSeen += o.ChannelsSeen
	c.ChannelScopes += o.ChannelScopes
	c.PlatformScopes += o.PlatformScopes
	c.ScopesFailed += o.ScopesFailed
	c.ChannelListFailed += o.ChannelListFailed
}

// Failures counts what makes a call fail: windows failed or given up in it,
// and scopes that could not be planned.
func (c Counts) Failures() int { return c.WindowsFailed + c.WindowsGaveUp + c.ScopesFailed }

// Map returns the counts by snake_case name, for sync_runs.counts: rows are
// rows received, rejections the bad records, page_requests the page
// requests made (HTTP attempts and 429s are the client's to count).
func (c Counts) Map() map[string]int64 {
	return map[string]int64{
		"windows": int64(c.Windows), "windows_done": int64(c.WindowsDone), "windows_failed": int64(c.WindowsFailed),
		"windows_gave_up": int64(c.WindowsGaveUp), "windows_released": int64(c.WindowsReleased),
		"windows_split": int64(c.WindowsSplit), "windows_kept": int64(c.WindowsKept), "windows_skipped": int64(c.WindowsSkipped),
		"windows_retried": int64(c.WindowsRetried), "data_gaps": int64(c.DataGaps), "missing_rows": c.MissingRows,
		"rereads": int64(c.Rereads), "page_size_changes": int64(c.PageSizeChanges), "page_requests": int64(c.Requests),
		"pages": int64(c.Pages), "rows": c.Rows, "inserted": c.Inserted, "updated": c.Updated, "queued": c.Queued,
		"rejections": c.Bad, "channels_seen": c.ChannelsSeen, "scopes_channel": int64(c.ChannelScopes),
		"scopes_platform": int64(c.PlatformScopes), "scopes_failed": int64(c.ScopesFailed),
		"channel_list_failed": int64(c.ChannelListFailed),
	}
}

// Puller pulls Omnichat streams into the raw tables. It is safe for
// concurrent use; each call reads its own windows.
type Puller struct {
	c         *omnichat.Client
	st        *store.Store
	log       logrus.FieldLogger
	o         Options
	platforms []contact.Platform
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
	var platforms []contact.Platform
	for _, name := range o.Platforms {
		pl := omnichat.ParsePlatform(name)
		if !omnichat.PlatformDocumented(pl) {
			return nil, fmt.Errorf("new puller: platform %q is not one the Omnichat API documents (%s)", name, strings.Join(DefaultPlatforms, ", "))
		}
		if !slices.Contains(platforms, pl) {
			platforms = append(platforms, pl)
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxConsecutiveFailures <= 0 {
		o.MaxConsecutiveFailures = DefaultMaxConsecutiveFailures
	}
	if o.MaxWindowAttempts <= 0 {
		o.MaxWindowAttempts = DefaultMaxWindowAttempts
	}
	switch {
	case o.WindowDeadline == 0:
		o.WindowDeadline = DefaultWindowDeadline
	case o.WindowDeadline < 0:
		o.WindowDeadline = 0
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
	return &Puller{c: o.Client, st: o.Store, log: log, o: o, platforms: platforms}, nil
}

// Horizon returns now − SafetyLag (to the second): no window ends later.
func (p *Puller) Horizon() time.Time {
	return p.o.NowFunc().UTC().Add(-p.o.SafetyLag).Truncate(time.Second)
}

// Backfill reads stream over [from, to), to held back to the Horizon:
// windows already done are kept, and so are windows given up unless
// ro.RetryGaveUp; the others (new, pending, interrupted or failed) are read,
// new ones first. Calling it again after an interruption resumes.
func (p *Puller) Backfill(ctx context.Context, stream Stream, from, to time.Time, ro RunOptions) (Counts, error) {
	if h := p.Horizon(); to.After(h) {
		to = h
	}
	from, to = from.UTC(), to.UTC()
	if !to.After(from) {
		p.log.WithFields(logrus.Fields{"stream": stream, "from": from, "to": to}).Info("pull: nothing to read before the safety lag")
		return Counts{}, nil
	}
	return p.pull(ctx, stream, ro, func(ctx context.Context, scopes []scope) (plan, error) {
		return p.planBackfill(ctx, stream, scopes, from, to, ro.RunID)
	})
}

// Incremental reads stream in every scope from the end of its last done
// window (or now − InitialLookback) to the Horizon, new windows first, then
// retries the windows earlier runs left open (pending, interrupted or
// failed), in any scope. Windows given up are not read.
func (p *Puller) Incremental(ctx context.Context, stream Stream, ro RunOptions) (Counts, error) {
	ro.RetryGaveUp = false
	return p.pull(ctx, stream, ro, func(ctx context.Context, scopes []scope) (plan, error) {
		return p.planIncremental(ctx, stream, scopes, p.Horizon(), ro.RunID)
	})
}

// RetryGaveUp reads once more every window of stream given up by earlier
// runs (crmsync backfill --retry-gave-up), in any scope: each is done, or
// fails, or (refused again) is given up again.
func (p *Puller) RetryGaveUp(ctx context.Context, stream Stream, ro RunOptions) (Counts, error) {
	ro.RetryGaveUp, ro.RereadGaps = true, false
	return p.run(ctx, stream, ro, nil, func(ctx context.Context) ([]store.Window, error) {
		return p.st.GaveUpWindows(ctx, string(stream))
	})
}

// RereadGaps reads again, from page 1, every window of stream done with a
// data gap (crmsync backfill --reread-gaps), in any scope; the gap it leaves,
// if any, replaces the old one.
func (p *Puller) RereadGaps(ctx context.Context, stream Stream, ro RunOptions) (Counts, error) {
	ro.RetryGaveUp, ro.RereadGaps = false, true
	return p.run(ctx, stream, ro, nil, func(ctx context.Context) ([]store.Window, error) {
		return p.st.DataGapWindows(ctx, string(stream))
	})
}
