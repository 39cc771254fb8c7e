package faketest_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/internal/faketest"
)

func TestClock_Sleep(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c := faketest.NewClock(start)

	require.NoError(t, c.Sleep(t.Context(), 3*time.Second))
	c.Advance(time.Second)
	require.Equal(t, start.Add(4*time.Second), c.Now())

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, c.Sleep(ctx, time.Hour), context.Canceled)
	require.Equal(t, start.Add(4*time.Second), c.Now(), "a cancelled sleep does not move the clock")

	c.Set(start)
	require.Equal(t, start, c.Now())
}

func TestFaults_Next(t *testing.T) {
	t.Parallel()
	var f faketest.Faults
	f.Add(2, http.StatusTooManyRequests, 1500*time.Millisecond)
	f.Add(1, http.StatusServiceUnavailable, 0)

	tests := []struct {
		name           string
		want           faketest.Fault
		wantOK         bool
		wantRetryAfter string
	}{
		{name: "FirstRoundsRetryAfterUp", want: faketest.Fault{Status: 429, RetryAfter: 1500 * time.Millisecond}, wantOK: true, wantRetryAfter: "2"},
		{name: "SecondOfTheSameAdd", want: faketest.Fault{Status: 429, RetryAfter: 1500 * time.Millisecond}, wantOK: true, wantRetryAfter: "2"},
		{name: "NoRetryAfterWhenZero", want: faketest.Fault{Status: 503}, wantOK: true},
		{name: "EmptyQueue"},
	}
	for _, tt := range tests { // sequential, in order: each step takes one fault
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			got, ok := f.Next(h)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.wantRetryAfter, h.Get("Retry-After"))
		})
	}
}

func TestSlidingWindow_Allow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

	tests := []struct {
		name      string
		limit     int
		arrivals  []time.Time
		wantOK    []bool
		wantAfter time.Duration // of the last arrival, when refused
	}{
		{
			name:     "ThreePerSecondEvenlySpacedAtTheLimitIsRefusedAtTheClosedEdge",
			limit:    3,
			arrivals: []time.Time{ms(0), ms(333), ms(666), ms(1000)},
			wantOK:   []bool{true, true, true, false},
			// [0, 1000] holds the arrival at 0: retry just after 1000.
			wantAfter: time.Nanosecond,
		},
		{
			name:     "AHairLaterIsAccepted",
			limit:    3,
			arrivals: []time.Time{ms(0), ms(333), ms(666), ms(1001)},
			wantOK:   []bool{true, true, true, true},
		},
		{
			name:      "BunchedArrivalsAnywhereInTheSpanAreRefused",
			limit:     3,
			arrivals:  []time.Time{ms(0), ms(900), ms(950), ms(990)},
			wantOK:    []bool{true, true, true, false},
			wantAfter: 10*time.Millisecond + time.Nanosecond,
		},
		{
			name:     "RefusedArrivalsAreNotCounted",
			limit:    2,
			arrivals: []time.Time{ms(0), ms(10), ms(20), ms(30), ms(1011)},
			wantOK:   []bool{true, true, false, false, true},
		},
		{
			name:     "OutOfOrderArrivalIsCountedWhereItBelongs",
			limit:    2,
			arrivals: []time.Time{ms(500), ms(100), ms(1050)},
			wantOK:   []bool{true, true, false},
			// [50, 1050] holds 100 and 500: retry when 100 leaves.
			wantAfter: 50*time.Millisecond + time.Nanosecond,
		},
		{
			name:     "NoLimit",
			limit:    0,
			arrivals: []time.Time{ms(0), ms(0), ms(0)},
			wantOK:   []bool{true, true, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := faketest.NewSlidingWindow(tt.limit, time.Second)
			var after time.Duration
			got := make([]bool, len(tt.arrivals))
			for i, a := range tt.arrivals {
				got[i], after = w.Allow(a)
			}
			require.Equal(t, tt.wantOK, got)
			require.Equal(t, tt.wantAfter, after)
		})
	}
}

// Requests paced at the limit exactly are refused once arrival jitter
// bunches them; paced with headroom larger than the jitter, none is.
func TestSlidingWindow_jitterNeedsHeadroom(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	refused := func(spacing time.Duration) int {
		w := faketest.NewSlidingWindow(40, time.Second)
		rnd := rand.New(rand.NewPCG(1, 2)) // the same jitter for every spacing
		n := 0
		for i := range 4000 {
			jitter := time.Duration(rnd.Int64N(int64(4 * time.Millisecond))) // [0, 4 ms)
			if ok, _ := w.Allow(t0.Add(time.Duration(i)*spacing + jitter)); !ok {
				n++
			}
		}
		return n
	}
	require.Positive(t, refused(25*time.Millisecond), "40/s exactly, with 4 ms of jitter")
	require.Zero(t, refused(25*time.Millisecond+5*time.Millisecond/40), "spacing for 5 ms of tolerance")
	require.Zero(t, refused(25641*time.Microsecond), "apiclient.DefaultHeadroom's spacing")
}
