package faketest

import (
	"context"
	"slices"
	"sync"
	"time"
)

// SleepRecorder is a client's SleepFunc for tests: Sleep records each wait
// and, instead of sleeping, advances Clock (when set) so a fake reading that
// clock sees the time pass. It is safe for concurrent use.
type SleepRecorder struct {
	// Clock, when not nil, is advanced by each wait.
	Clock *Clock

	mu    sync.Mutex
	waits []time.Duration
}

// Sleep records d, then advances Clock by d; it returns ctx.Err() if ctx is
// done (the wait is recorded, the clock not moved).
func (r *SleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	if r.Clock == nil {
		return ctx.Err()
	}
	return r.Clock.Sleep(ctx, d)
}

// Waits returns every wait passed to Sleep, oldest first.
func (r *SleepRecorder) Waits() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.waits)
}
