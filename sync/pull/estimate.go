package pull

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"crmsync/clients/apiclient"
	"crmsync/clients/omnichat"
	"crmsync/contact"
	"crmsync/store"
)

// EstimateOptions configures Estimate.
type EstimateOptions struct {
	// Probe reads page 1 of every window to read (one request each, spent
	// on the account's quota now) for its totalElements. Without it the
	// rows of a window are estimated from the done windows of the same
	// scope (store.Store.RowDensity: rows already stored), and the scopes
	// from the channels GET /v1/channels listed last time.
	Probe bool
	// RetryGaveUp and RereadGaps count the windows a backfill with the same
	// flags reads again.
	RetryGaveUp, RereadGaps bool
}

// Estimate is what a Backfill of one stream over a range would read.
type Estimate struct {
	Stream Stream
	// From and To are the range, To held back to the Horizon.
	From, To time.Time
	// Scopes is how many scopes the stream is read in.
	Scopes int
	// Windows is how many windows cover the range; Done of them are done
	// (or given up) already and cost nothing; ToRead are read.
	Windows, Done, ToRead int
	// Rows is the rows estimated in the windows to read.
	Rows int64
	// Requests is the page requests the backfill is estimated to make
	// (splits of windows above MaxWindowRows included), plus the channel
	// list (contacts and messages).
	Requests int
	// ProbeRequests is the requests the estimate itself made (page 1 of
	// each window to read, and the channel list).
	ProbeRequests int
	// Unknown counts the windows whose rows no done window of their scope
	// or stream tells (--no-probe): estimated as one page each.
	Unknown int
}

// Estimate says what Backfill(stream, from, to) would read, without
// writing anything: the windows it would plan (those already done are
// kept, free), and for each one to read its pages, from its totalElements
// (page 1 read now with EstimateOptions.Probe, else its row density in the
// done windows of its scope). A window whose read is under way goes on from
// its next page; one above MaxWindowRows is counted as split in halves
// until they fit, each half reading page 1 again, as a backfill does.
func (p *Puller) Estimate(ctx context.Context, stream Stream, from, to time.Time, o EstimateOptions) (Estimate, error) {
	est := Estimate{Stream: stream}
	if h := p.Horizon(); to.After(h) {
		to = h
	}
	est.From, est.To = from.UTC(), to.UTC()
	if !est.To.After(est.From) {
		return est, nil
	}
	scopes, err := p.estimateScopes(ctx, stream, o.Probe, &est)
	if err != nil {
		return est, fmt.Errorf("estimate %s: %w", stream, err)
	}
	est.Scopes = len(scopes)
	var density map[string]float64
	if !o.Probe {
		if density, err = p.st.RowDensity(ctx, string(stream)); err != nil {
			return est, fmt.Errorf("estimate %s: %w", stream, err)
		}
	}
	for _, sc := range scopes {
		existing, err := p.st.Windows(ctx, string(stream), sc.key, est.From, est.To)
		if err != nil {
			return est, fmt.Errorf("estimate %s: %w", stream, err)
		}
		covered := make([]store.Span, len(existing))
		for i, w := range existing {
			covered[i] = w.Span()
		}
		ws := existing
		for _, span := range Plan(est.From, est.To, p.o.Window, covered) {
			ws = append(ws, store.Window{Stream: string(stream), Scope: sc.key, Start: span.Start, End: span.End,
				Status: store.WindowPending, TotalElements: -1})
		}
		for _, w := range ws {
			est.Windows++
			if w.Status == store.WindowDone && !(o.RereadGaps && w.MissingRows > 0) || w.Status == store.WindowGaveUp && !o.RetryGaveUp {
				est.Done++
				continue
			}
			est.ToRead++
			total, size, err := p.windowRows(ctx, stream, sc, w, o.Probe, density, &est)
			if err != nil {
				return est, fmt.Errorf("estimate %s: window %s of %q: %w", stream, w.Start.Format(time.RFC3339), sc.key, err)
			}
			est.Rows += total
			if first := w.NextPage; first > 1 && w.TotalElements >= 0 && w.PageSize > 0 {
				// Under way: the read goes on from its next page.
				left := max(w.TotalElements-int64(first-1)*int64(w.PageSize), 0)
				est.Requests += max(1, int(ceilDiv(left, int64(w.PageSize))))
				continue
			}
			est.Requests += p.pagesOf(w.Span(), total, size)
		}
	}
	return est, nil
}

// estimateScopes returns the scopes of stream: from GET /v1/channels (one
// request, counted in est, nothing stored) when probing, else from the
// channels it listed last time.
func (p *Puller) estimateScopes(ctx context.Context, stream Stream, probe bool, est *Estimate) ([]scope, error) {
	if stream == TaggingLogs {
		return []scope{{}}, nil
	}
	est.Requests++ // the backfill lists the channels first
	if probe {
		est.ProbeRequests++
		chans, err := p.c.Channels.List(ctx)
		if err != nil {
			return nil, err
		}
		out, _, _, _, _ := p.shape(chans)
		return out, nil
	}
	stored, err := p.st.ListedChannels(ctx)
	if err != nil {
		return nil, err
	}
	chans := make([]omnichat.Channel, len(stored))
	for i, r := range stored {
		chans[i] = omnichat.Channel{Platform: contact.Platform(r.Platform), ChannelID: r.ChannelID, ChannelName: r.ChannelName}
	}
	out, _, _, _, _ := p.shape(chans)
	return out, nil
}

// windowRows returns the rows of window w and the page size the server
// serves: totalElements of page 1 (read now when probing; known already
// for a window read before), else the scope's row density times the
// window's length.
func (p *Puller) windowRows(ctx context.Context, stream Stream, sc scope, w store.Window, probe bool, density map[string]float64, est *Estimate) (total int64, size int, err error) {
	size = p.o.PageSize
	if w.PageSize > 0 {
		size = w.PageSize
	}
	switch {
	case w.TotalElements >= 0 && w.Status != store.WindowDone:
		return w.TotalElements, size, nil
	case probe:
		est.ProbeRequests++
		pg, err := p.fetch(ctx, stream, sc, w, 1, p.o.PageSize)
		if err != nil {
			if errors.Is(err, apiclient.ErrRejected) {
				return 0, size, nil // refused: the backfill's read is refused too, one request
			}
			return 0, size, err
		}
		size = p.o.PageSize
		if pg.received > 0 && pg.received < min(p.o.PageSize, pg.total) {
			size = pg.received // the server serves fewer rows a page than asked
		}
		return int64(pg.total), size, nil
	}
	d, ok := density[sc.key]
	if !ok {
		d, ok = density[""]
	}
	if !ok {
		est.Unknown++
		return 0, size, nil
	}
	return int64(math.Round(d * w.End.Sub(w.Start).Seconds())), size, nil
}

// pagesOf returns the page requests reading a window of span with total
// rows takes at size rows a page: its pages, or, above MaxWindowRows, page
// 1 and then its halves' (rows spread evenly), as readWindow splits it.
func (p *Puller) pagesOf(span store.Span, total int64, size int) int {
	if total > int64(p.o.MaxWindowRows) {
		if h, ok := halves(span); ok {
			return 1 + p.pagesOf(h[0], total/2, size) + p.pagesOf(h[1], total-total/2, size)
		}
	}
	return max(1, int(ceilDiv(total, int64(size))))
}

func ceilDiv(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	return (a + b - 1) / b
}
