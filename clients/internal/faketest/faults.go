package faketest

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// Fault is a forced answer for one request.
type Fault struct {
	Status     int
	RetryAfter time.Duration // 0: no Retry-After header
}

// Faults is a queue of forced answers, served one per request before any
// other check. It is not safe for concurrent use on its own: a fake keeps it
// under the mutex that guards the rest of its state.
type Faults struct {
	queue []Fault
}

// Add queues n faults answering with status, each with a Retry-After of
// retryAfter when retryAfter > 0.
func (f *Faults) Add(n, status int, retryAfter time.Duration) {
	for range n {
		f.queue = append(f.queue, Fault{Status: status, RetryAfter: retryAfter})
	}
}

// Next removes the first queued fault and returns it, having set h's
// Retry-After to its RetryAfter rounded up to whole seconds (when > 0). ok is
// false when none is queued.
func (f *Faults) Next(h http.Header) (fault Fault, ok bool) {
	if len(f.queue) == 0 {
		return Fault{}, false
	}
	fault, f.queue = f.queue[0], f.queue[1:]
	if fault.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(fault.RetryAfter.Seconds()))))
	}
	return fault, true
}
