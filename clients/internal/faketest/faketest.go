// Package faketest holds the test support the vendor fakes
// (clients/<vendor>/<vendor>test) and the clients' tests share: a manual
// Clock, a SleepRecorder that advances it, and a queue of forced Faults. It
// knows nothing of any vendor or client: each fake keeps its own wire types,
// limits and error bodies, so a fake stays independent of the client it tests.
package faketest

import (
	"context"
	"sync"
	"time"
)

// Clock is a manual clock for a fake's NowFunc: it moves only when Advance,
// Set or Sleep is called, so rate-limit windows and Retry-After waits can be
// tested without sleeping. Pass Clock.Now as the fake's NowFunc and
// Clock.Sleep as the client's SleepFunc, so a 429's Retry-After is "waited"
// by moving the fake's clock. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Sleep advances the clock by d at once; it returns ctx.Err() if ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}
