package apiclient_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
	"crmsync/clients/internal/faketest"
)

func TestPace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		n          float64
		period     time.Duration
		headroom   float64
		wantLimit  rate.Limit
		wantJitter time.Duration
	}{
		{name: "OmnichatFortyPerSecond", n: 40, period: time.Second, headroom: 0.025, wantLimit: 39, wantJitter: 25641025 * time.Nanosecond},
		{name: "OkeybotHundredPerMinute", n: 100, period: time.Minute, headroom: 0.025, wantLimit: rate.Limit(97.5 / 60), wantJitter: 1538461538 * time.Nanosecond},
		{name: "NoHeadroom", n: 40, period: time.Second, headroom: 0, wantLimit: 40},
		{name: "OutOfRangeHeadroomIsTheDefault", n: 40, period: time.Second, headroom: 1, wantLimit: 39},
		{name: "NoLimit", n: 0, period: time.Second, headroom: 0.025, wantLimit: rate.Inf, wantJitter: 25641025 * time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim := apiclient.Pace(tt.n, tt.period, tt.headroom)
			require.InDelta(t, float64(tt.wantLimit), float64(lim.Limit()), 1e-9)
			require.Equal(t, 1, lim.Burst(), "no burst: a full bucket after a pause would bunch requests")
			require.Equal(t, tt.wantJitter, apiclient.JitterTolerance(tt.period, tt.headroom))
		})
	}
}

// Departures reserved from a Pace limiter, delayed by random arrival
// jitter below JitterTolerance, never put 41 requests in any second of a
// server counting by arrival time; without headroom they do.
func TestPace_sparesASlidingWindowServer(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	refused := func(headroom float64, jitter time.Duration) int {
		lim := apiclient.Pace(40, time.Second, headroom)
		srv := faketest.NewSlidingWindow(40, time.Second)
		rnd := rand.New(rand.NewPCG(7, 11))
		n := 0
		for range 10_000 {
			r := lim.ReserveN(t0, 1)
			depart := t0.Add(r.DelayFrom(t0))
			if ok, _ := srv.Allow(depart.Add(time.Duration(rnd.Int64N(int64(jitter))))); !ok {
				n++
			}
		}
		return n
	}
	require.Positive(t, refused(0, 5*time.Millisecond))
	require.Zero(t, refused(apiclient.DefaultHeadroom, 5*time.Millisecond))
	require.Zero(t, refused(apiclient.DefaultHeadroom, 25*time.Millisecond))
}
