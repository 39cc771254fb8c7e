package faketest_test

import (
	"context"
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
