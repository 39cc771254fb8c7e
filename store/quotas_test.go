package store_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

func TestAccountKey(t *testing.T) {
	t.Parallel()
	k := store.AccountKey("omnichat", "https://open-api.omnichat.ai/", "secret-token")
	require.Equal(t, k, store.AccountKey("omnichat", "https://open-api.omnichat.ai", "secret-token"), "a trailing slash is the same account")
	require.NotEqual(t, k, store.AccountKey("omnichat", "https://open-api.omnichat.ai", "other-token"))
	require.True(t, strings.HasPrefix(k, "omnichat:"))
	require.NotContains(t, k, "secret")
}

// Reservations from many sessions at once are never closer than the
// spacing: the account's requests are paced as one, whoever sends them.
func TestStore_ReserveSlot_spacesEveryReservation(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	const spacing = 25641 * time.Microsecond // 39/s
	key := store.AccountKey("omnichat", "http://fake", "t")

	var mu sync.Mutex
	var slots []time.Time
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				slot, wait, err := s.ReserveSlot(ctx, key, spacing)
				require.NoError(t, err)
				require.GreaterOrEqual(t, wait, time.Duration(0))
				require.LessOrEqual(t, wait, 40*spacing, "never more than the reservations before it")
				mu.Lock()
				slots = append(slots, slot)
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
	require.Len(t, slots, 40)
	for i := 1; i < len(slots); i++ {
		require.GreaterOrEqual(t, slots[i].Sub(slots[i-1]), spacing, "slots %d and %d", i-1, i)
	}

	other, wait, err := s.ReserveSlot(ctx, store.AccountKey("omnichat", "http://fake", "another team"), spacing)
	require.NoError(t, err)
	require.Zero(t, wait, "another account has its own quota")
	require.False(t, other.IsZero())

	_, _, err = s.ReserveSlot(ctx, key, 0)
	require.ErrorContains(t, err, "spacing must be positive")
}

func TestQuotaLimiter_Wait(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	lim := s.QuotaLimiter(store.AccountKey("omnichat", "http://fake", "t"), time.Hour)
	var mu sync.Mutex
	var waits []time.Duration
	lim.SleepFunc = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return ctx.Err()
	}

	for range 3 {
		require.NoError(t, lim.Wait(t.Context()))
	}
	require.Len(t, waits, 2, "the first slot is now; the next two lie one and two spacings ahead")
	require.LessOrEqual(t, waits[0], time.Hour)
	require.Greater(t, waits[0], 59*time.Minute)
	require.LessOrEqual(t, waits[1], 2*time.Hour)
	require.Greater(t, waits[1], 119*time.Minute)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, lim.Wait(ctx), context.Canceled)
	require.Len(t, waits, 2, "a done context reserves nothing")
}
