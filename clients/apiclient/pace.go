package apiclient

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// Limiter paces requests: Wait returns when the next request may leave, or
// with an error when ctx ends first (or its deadline cannot be met). A
// *rate.Limiter is one; a limiter shared by several processes through the
// database is another.
type Limiter interface {
	Wait(ctx context.Context) error
}

// DefaultHeadroom is the share of a vendor's limit Pace leaves unused by
// default: 2.5%. At 40 requests per second that is one request every
// 25.64 ms instead of 25.00 ms, which tolerates 25.6 ms of arrival jitter;
// at 100 calls per minute, one call every 615 ms, which tolerates 1.5 s.
const DefaultHeadroom = 0.025

// Pace returns a limiter that lets requests leave one at a time, evenly
// spaced, at (1 − headroom) × n per period, with no burst.
//
// A server that counts the requests arriving in any span of period (a
// sliding window by arrival time, the strictest reading of "n per period")
// refuses none of them as long as arrivals are delayed by amounts that
// differ by less than period × headroom / (1 − headroom): n + 1 departures
// span n × spacing = period / (1 − headroom), more than period plus that
// jitter. A burst would defeat this (after a pause the bucket would let a
// full period's worth leave at once, on top of the ones already counted),
// so the bucket holds one token. headroom outside [0, 1) means
// DefaultHeadroom; n ≤ 0 or period ≤ 0 means no limit (rate.Inf).
func Pace(n float64, period time.Duration, headroom float64) *rate.Limiter {
	if n <= 0 || period <= 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	if headroom < 0 || headroom >= 1 {
		headroom = DefaultHeadroom
	}
	return rate.NewLimiter(rate.Limit(n*(1-headroom)/period.Seconds()), 1)
}

// JitterTolerance returns the arrival jitter a Pace limiter with these
// settings absorbs: period × headroom / (1 − headroom).
func JitterTolerance(period time.Duration, headroom float64) time.Duration {
	if headroom <= 0 || headroom >= 1 {
		return 0
	}
	return time.Duration(float64(period) * headroom / (1 - headroom))
}
