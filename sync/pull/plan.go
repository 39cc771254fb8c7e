package pull

import (
	"slices"
	"time"

	"crmsync/store"
)

// MaxWindow is the longest window Omnichat accepts in one request.
const MaxWindow = 7 * 24 * time.Hour

// MinSplit is the shortest window a split may produce: a window shorter
// than twice this is paged however many rows it holds.
const MinSplit = time.Minute

// GridAnchor is where the window grid starts: windows of length d begin at
// GridAnchor + k·d. It is a Monday at midnight UTC, so 7-day windows run
// Monday to Monday and 24-hour windows midnight to midnight (UTC).
var GridAnchor = time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC)

// Plan cuts [from, to) into windows of at most size (capped at MaxWindow),
// cut at the grid points GridAnchor + k·size, and leaves out every part of
// the range that a span in covered already holds. The result is ordered and
// depends only on its arguments, so planning the same range twice gives the
// same windows. Times are truncated to the millisecond (the API's unit).
func Plan(from, to time.Time, size time.Duration, covered []store.Span) []store.Span {
	from, to = from.UTC().Truncate(time.Millisecond), to.UTC().Truncate(time.Millisecond)
	if size <= 0 || size > MaxWindow {
		size = MaxWindow
	}
	if !to.After(from) {
		return nil
	}
	var out []store.Span
	for _, gap := range gaps(from, to, covered) {
		for t := gap.Start; t.Before(gap.End); {
			end := gridNext(t, size)
			if end.After(gap.End) {
				end = gap.End
			}
			out = append(out, store.Span{Start: t, End: end})
			t = end
		}
	}
	return out
}

// gridNext returns the first grid point after t.
func gridNext(t time.Time, size time.Duration) time.Time {
	d := t.Sub(GridAnchor)
	k := d / size
	if d%size != 0 && d < 0 {
		k-- // floor for times before the anchor
	}
	return GridAnchor.Add((k + 1) * size)
}

// gaps returns the parts of [from, to) that no span in covered holds.
func gaps(from, to time.Time, covered []store.Span) []store.Span {
	cs := slices.Clone(covered)
	slices.SortFunc(cs, func(a, b store.Span) int { return a.Start.Compare(b.Start) })
	var out []store.Span
	t := from
	for _, c := range cs {
		if !c.End.After(t) {
			continue
		}
		if !c.Start.Before(to) {
			break
		}
		if c.Start.After(t) {
			out = append(out, store.Span{Start: t, End: c.Start})
		}
		t = c.End
		if !t.Before(to) {
			return out
		}
	}
	if t.Before(to) {
		out = append(out, store.Span{Start: t, End: to})
	}
	return out
}

// halves returns the two halves of s, cut at the whole second nearest
// below its middle; ok is false when s is shorter than 2·MinSplit.
func halves(s store.Span) (h [2]store.Span, ok bool) {
	d := s.End.Sub(s.Start)
	if d < 2*MinSplit {
		return h, false
	}
	mid := s.Start.Add(d / 2).Truncate(time.Second)
	if !mid.After(s.Start) {
		mid = s.Start.Add(d / 2)
	}
	return [2]store.Span{{Start: s.Start, End: mid}, {Start: mid, End: s.End}}, true
}
