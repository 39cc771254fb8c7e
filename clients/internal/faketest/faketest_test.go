package faketest_test

import (
	"context"
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
