package pull

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"crmsync/clients/apiclient"
	"crmsync/clients/omnichat"
	"crmsync/contact"
	"crmsync/store"
)

// scope is one sync_windows scope of a stream and what its requests send.
type scope struct {
	key       string // sync_windows.scope
	platform  contact.Platform
	channelID string
}

// scopeOf returns the scope a sync_windows.scope names: "platform/channelId"
// (one listed channel), "platform" (the whole platform, no channelId) or ""
// (tagging logs).
func scopeOf(key string) scope {
	plat, ch, _ := strings.Cut(key, "/")
	if key == "" {
		return scope{}
	}
	return scope{key: key, platform: omnichat.ParsePlatform(plat), channelID: ch}
}

// platformScope is the scope reading a whole platform without channelId.
func platformScope(p contact.Platform) scope {
	return scope{key: string(p), platform: p}
}

// channelScope is the scope reading one listed channel.
func channelScope(c omnichat.Channel) scope {
	return scope{key: string(c.Platform) + "/" + c.ChannelID, platform: c.Platform, channelID: c.ChannelID}
}

// scopes returns the scopes of stream and counts them: for contacts and
// messages, every configured platform, per channel where GET /v1/channels
// lists channels of it (the list is stored on the way), otherwise per
// platform without channelId, since the list documents only LINE and webchat
// channels; a single "" scope for tagging logs, which have no platform
// parameter.
func (p *Puller) scopes(ctx context.Context, stream Stream) ([]scope, Counts, error) {
	if stream == TaggingLogs {
		return []scope{{}}, Counts{}, nil
	}
	log := p.log.WithField("stream", string(stream))
	var c Counts
	chans, err := p.listChannels(ctx)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, apiclient.ErrUnauthorized) {
			return nil, Counts{}, err
		}
		// 5xx after the retries, or 429s past the window deadline: the
		// channels listed last time stand in, so the stream goes on.
		stored, serr := p.st.ListedChannels(ctx)
		if serr != nil {
			return nil, Counts{}, fmt.Errorf("%w (and %w)", err, serr)
		}
		log.WithError(err).WithField("channels", len(stored)).Warn("pull: GET /v1/channels failed; using the channels it listed last time")
		chans, c.ChannelListFailed = nil, 1
		for _, r := range stored {
			chans = append(chans, omnichat.Channel{Platform: contact.Platform(r.Platform), ChannelID: r.ChannelID, ChannelName: r.ChannelName})
		}
	}
	out, sc, perChannel, perPlatform, skipped := p.shape(chans)
	c.Add(sc)
	if len(skipped) > 0 {
		log.WithField("platforms", skipped).Warn("pull: GET /v1/channels lists channels of platforms omnichat.platforms leaves out; not pulled")
	}
	log.WithFields(logrus.Fields{"per_channel": strings.Join(perChannel, ", "), "per_platform": strings.Join(perPlatform, ", ")}).
		Info("pull: coverage (a platform whose channels GET /v1/channels does not list is pulled without channelId)")
	return out, c, nil
}

// shape returns the scopes of the configured platforms given the listed
// channels chans: per channel where chans lists channels of the platform,
// otherwise the whole platform; with the counts, the coverage per platform
// and the platforms chans lists that are not configured.
func (p *Puller) shape(chans []omnichat.Channel) (out []scope, c Counts, perChannel, perPlatform, skipped []string) {
	byPlatform := map[contact.Platform][]omnichat.Channel{}
	for _, ch := range chans {
		byPlatform[ch.Platform] = append(byPlatform[ch.Platform], ch)
	}
	for _, pl := range p.platforms {
		listed := byPlatform[pl]
		delete(byPlatform, pl)
		if len(listed) == 0 {
			out = append(out, platformScope(pl))
			c.PlatformScopes++
			perPlatform = append(perPlatform, string(pl))
			continue
		}
		slices.SortFunc(listed, func(a, b omnichat.Channel) int { return strings.Compare(a.ChannelID, b.ChannelID) })
		listed = slices.CompactFunc(listed, func(a, b omnichat.Channel) bool { return a.ChannelID == b.ChannelID })
		for _, ch := range listed {
			out = append(out, channelScope(ch))
		}
		c.ChannelScopes += len(listed)
		perChannel = append(perChannel, fmt.Sprintf("%s (%d)", pl, len(listed)))
	}
	for pl := range byPlatform {
		skipped = append(skipped, string(pl))
	}
	slices.Sort(skipped)
	return out, c, perChannel, perPlatform, skipped
}

// listChannels lists the channels (within the window deadline: the list's
// 429s are waited out no longer than a window's) and stores the list.
func (p *Puller) listChannels(ctx context.Context) ([]omnichat.Channel, error) {
	if d := p.o.WindowDeadline; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	chans, err := p.c.Channels.List(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]store.ChannelRow, len(chans))
	for i, ch := range chans {
		rows[i] = store.ChannelRow{Platform: string(ch.Platform), ChannelID: ch.ChannelID, ChannelName: ch.ChannelName, Raw: ch.Raw}
	}
	if err := p.st.UpsertChannels(ctx, rows); err != nil {
		return nil, err
	}
	return chans, nil
}

// plan is the windows a call planned to look at.
type plan struct {
	windows []store.Window // any status; done, split and given-up ones are kept, not read
	failed  []error        // scopes whose windows could not be planned
}

// planBackfill returns the windows of every scope covering [from, to): the
// existing ones (any status but split) and new ones for the gaps. A scope
// that cannot be planned is recorded and the others go on.
func (p *Puller) planBackfill(ctx context.Context, stream Stream, scopes []scope, from, to time.Time, runID int64) (plan, error) {
	var pl plan
	for _, sc := range scopes {
		if err := p.planScope(ctx, &pl, stream, sc, from, to, runID); err != nil {
			return pl, err
		}
	}
	return pl, nil
}

// planScope adds to pl the windows of sc covering [from, to): the existing
// ones (any status but split) and new ones for the gaps. A scope that cannot
// be planned is recorded in pl.failed; only the end of ctx is returned.
func (p *Puller) planScope(ctx context.Context, pl *plan, stream Stream, sc scope, from, to time.Time, runID int64) error {
	ws, err := p.st.Windows(ctx, string(stream), sc.key, from, to)
	if err == nil {
		ws, err = p.fillRange(ctx, stream, sc, from, to, ws, runID)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return err
	case err != nil:
		pl.failed = append(pl.failed, fmt.Errorf("plan windows of %q: %w", sc.key, err))
	default:
		pl.windows = append(pl.windows, ws...)
	}
	return nil
}

// planIncremental returns, for every scope, the windows from the end of its
// last done window to `to` (new ones planned for the gaps), then every open
// window of the stream in any scope (the retries). A scope with no done
// window starts where its platform was last read as a whole or per channel
// (a platform whose channels GET /v1/channels began or stopped listing), or
// else at to − InitialLookback.
func (p *Puller) planIncremental(ctx context.Context, stream Stream, scopes []scope, to time.Time, runID int64) (plan, error) {
	var pl plan
	ends, err := p.st.LastDoneEnds(ctx, string(stream))
	if err != nil {
		return pl, err
	}
	for _, sc := range scopes {
		from, ok := ends[sc.key]
		if !ok {
			from, ok = inheritedEnd(sc, ends)
		}
		if !ok {
			from = to.Add(-p.o.InitialLookback)
		}
		if !to.After(from) {
			continue
		}
		if err := p.planScope(ctx, &pl, stream, sc, from, to, runID); err != nil {
			return pl, err
		}
	}
	open, err := p.st.OpenWindows(ctx, string(stream))
	if err != nil {
		return pl, err
	}
	pl.windows = append(pl.windows, open...)
	return pl, nil
}

// inheritedEnd returns where a scope with no done window of its own starts
// when its platform was pulled in another shape: a channel scope from the
// platform scope's last done end, a platform scope from the earliest last
// done end of the platform's channel scopes.
func inheritedEnd(sc scope, ends map[string]time.Time) (time.Time, bool) {
	if sc.key == "" {
		return time.Time{}, false
	}
	if sc.channelID != "" {
		end, ok := ends[string(sc.platform)]
		return end, ok
	}
	var earliest time.Time
	for key, end := range ends {
		if strings.HasPrefix(key, sc.key+"/") && (earliest.IsZero() || end.Before(earliest)) {
			earliest = end
		}
	}
	return earliest, !earliest.IsZero()
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

// job is one window to read.
type job struct {
	sc scope
	w  store.Window
}

// pull lists the scopes of stream, plans their windows with planFunc and
// reads the ones to read.
func (p *Puller) pull(ctx context.Context, stream Stream, ro RunOptions, planFunc func(context.Context, []scope) (plan, error)) (Counts, error) {
	switch stream {
	case Contacts, TaggingLogs, Messages:
	default:
		return Counts{}, fmt.Errorf("pull: unknown stream %q", stream)
	}
	scopes, base, err := p.scopes(ctx, stream)
	if err != nil {
		return Counts{}, fmt.Errorf("pull %s: %w", stream, err)
	}
	return p.run(ctx, stream, ro, &base, func(ctx context.Context) ([]store.Window, error) {
		pl, err := planFunc(ctx, scopes)
		if err == nil && len(pl.failed) > 0 {
			err = &planErrors{errs: pl.failed}
		}
		return pl.windows, err
	})
}

// planErrors are the scopes a plan could not cover; the others are read.
type planErrors struct{ errs []error }

// Error implements error.
func (e *planErrors) Error() string {
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the scopes' errors.
func (e *planErrors) Unwrap() []error { return e.errs }

// run reads the windows listWindows returns that are to be read: not done
// (unless with a data gap and ro.RereadGaps), not split, not given up
// (unless ro.RetryGaveUp); new ones (never attempted) first, then the
// retries, each by start. base holds counts known before (the scopes).
func (p *Puller) run(ctx context.Context, stream Stream, ro RunOptions, base *Counts,
	listWindows func(context.Context) ([]store.Window, error)) (Counts, error) {
	r := &runner{p: p, stream: stream, ro: ro, log: p.log.WithField("stream", string(stream)),
		inRow: map[string]int{}, stopped: map[string]bool{}}
	if base != nil {
		r.counts = *base
	}
	if ro.RunID != 0 {
		r.log = r.log.WithField("run_id", ro.RunID)
	}
	ws, err := listWindows(ctx)
	var pe *planErrors
	switch {
	case errors.As(err, &pe):
		r.counts.ScopesFailed = len(pe.errs)
		r.firstFail = pe
		for _, e := range pe.errs {
			r.log.WithError(e).Warn("pull: a scope could not be planned; the others are read")
		}
	case err != nil:
		return r.counts, fmt.Errorf("pull %s: %w", stream, err)
	}
	var jobs []job
	seen := map[int64]bool{}
	for _, w := range ws {
		if seen[w.ID] {
			continue
		}
		seen[w.ID] = true
		switch {
		case w.Status == store.WindowSplit:
			continue
		case w.Status == store.WindowDone && !(ro.RereadGaps && w.MissingRows > 0),
			w.Status == store.WindowGaveUp && !ro.RetryGaveUp:
			r.counts.WindowsKept++
			continue
		}
		if w.Attempts > 0 {
			r.counts.WindowsRetried++
		}
		jobs = append(jobs, job{sc: scopeOf(w.Scope), w: w})
	}
	slices.SortStableFunc(jobs, func(a, b job) int {
		if fa, fb := a.w.Attempts == 0, b.w.Attempts == 0; fa != fb {
			if fa {
				return -1
			}
			return 1
		}
		if c := a.w.Start.Compare(b.w.Start); c != 0 {
			return c
		}
		return strings.Compare(a.sc.key, b.sc.key)
	})
	r.planned = len(jobs)
	return r.run(ctx, jobs)
}
