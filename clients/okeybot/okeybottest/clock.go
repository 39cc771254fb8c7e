package okeybottest

import (
	"time"

	"crmsync/clients/internal/faketest"
)

// Clock is a manual clock for Options.NowFunc: it moves only when Advance,
// Set or Sleep is called, so rate-limit windows can be tested without
// sleeping. It is safe for concurrent use.
type Clock = faketest.Clock

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock { return faketest.NewClock(start) }
