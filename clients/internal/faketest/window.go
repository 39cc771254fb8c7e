package faketest

import (
	"slices"
	"time"
)

// SlidingWindow is the strictest reading of a vendor's "N requests per
// period": it counts the requests it accepted by arrival time and refuses
// one that would put more than Limit of them in any closed span of Period,
// however the spans fall. A client that sends exactly N per period, evenly
// spaced, is refused as soon as arrival jitter brings two of its requests a
// hair closer than the spacing; only a client that paces with headroom is
// never refused. (A token bucket, by contrast, forgives bunching.)
//
// Refused requests are not counted, so a client that waits the Retry-After
// it is given gets in. It is not safe for concurrent use on its own: a fake
// keeps it under the mutex that guards the rest of its state.
type SlidingWindow struct {
	limit    int
	period   time.Duration
	accepted []time.Time // arrival times of accepted requests in the last period, oldest first
}

// NewSlidingWindow returns a window allowing limit requests in any span of
// period. limit ≤ 0 or period ≤ 0 allows everything.
func NewSlidingWindow(limit int, period time.Duration) *SlidingWindow {
	return &SlidingWindow{limit: limit, period: period}
}

// Allow reports whether a request arriving at now is accepted, and counts
// it when it is. When it is refused, retryAfter is how long until the
// oldest counted arrival leaves the span, so a retry then is accepted.
func (w *SlidingWindow) Allow(now time.Time) (ok bool, retryAfter time.Duration) {
	if w.limit <= 0 || w.period <= 0 {
		return true, 0
	}
	// Forget arrivals before now − period: a closed span [now − period, now]
	// still holds one exactly a period old.
	cut := 0
	for cut < len(w.accepted) && w.accepted[cut].Before(now.Add(-w.period)) {
		cut++
	}
	w.accepted = w.accepted[cut:]
	// Arrivals may be recorded slightly out of order by concurrent
	// handlers; count only those not after now.
	in := 0
	for _, a := range w.accepted {
		if !a.After(now) {
			in++
		}
	}
	if in >= w.limit {
		oldest := w.accepted[in-w.limit]
		return false, max(oldest.Add(w.period).Sub(now)+time.Nanosecond, time.Nanosecond)
	}
	i, _ := slices.BinarySearchFunc(w.accepted, now, func(a, t time.Time) int { return a.Compare(t) })
	w.accepted = slices.Insert(w.accepted, i, now)
	return true, 0
}

// Count returns how many accepted requests arrived in [now − period, now].
func (w *SlidingWindow) Count(now time.Time) int {
	n := 0
	for _, a := range w.accepted {
		if !a.Before(now.Add(-w.period)) && !a.After(now) {
			n++
		}
	}
	return n
}
