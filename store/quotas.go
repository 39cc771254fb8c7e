package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// AccountKey is the api_quotas key of one API account: the service and a
// SHA-256 of its base URL (trailing slashes dropped) and token. The token
// itself is never stored.
func AccountKey(service, baseURL, token string) string {
	sum := sha256.Sum256([]byte(strings.TrimRight(baseURL, "/") + "\n" + token))
	return service + ":" + hex.EncodeToString(sum[:16])
}

// quotaSQL reserves the next slot of an account in one statement, on the
// database clock (clock_timestamp, read once): the slot is the later of the
// account's next_slot and now, and next_slot moves one spacing past it. It
// answers with the slot and the wait until it, in microseconds.
const quotaSQL = `
WITH now AS (SELECT clock_timestamp() AS t)
INSERT INTO api_quotas AS q (account_key, next_slot, updated_at)
SELECT $1, now.t + $2::bigint * interval '1 microsecond', now.t FROM now
ON CONFLICT (account_key) DO UPDATE SET
	next_slot = greatest(q.next_slot, (SELECT t FROM now)) + $2::bigint * interval '1 microsecond',
	updated_at = (SELECT t FROM now)
RETURNING q.next_slot - $2::bigint * interval '1 microsecond',
	(extract(epoch FROM q.next_slot - $2::bigint * interval '1 microsecond' - (SELECT t FROM now)) * 1000000)::bigint`

// ReserveSlot reserves the next request slot of the account key, spacing
// after the slot reserved before it (spacing is rounded up to the
// microsecond the database keeps), and returns the slot (database clock) and
// how long to wait for it: 0 when it is now. One statement; processes on
// different machines agree because only the database clock is read.
func (s *Store) ReserveSlot(ctx context.Context, key string, spacing time.Duration) (slot time.Time, wait time.Duration, err error) {
	if spacing <= 0 {
		return time.Time{}, 0, errors.New("reserve api slot: spacing must be positive")
	}
	us := int64((spacing + time.Microsecond - 1) / time.Microsecond)
	var waitUS int64
	if err := s.sql.QueryRowContext(ctx, quotaSQL, key, us).Scan(&slot, &waitUS); err != nil {
		return time.Time{}, 0, fmt.Errorf("reserve api slot of %s: %w", strings.SplitN(key, ":", 2)[0], err)
	}
	return slot, time.Duration(max(waitUS, 0)) * time.Microsecond, nil
}

// QuotaLimiter paces the requests of one API account across every process
// sharing the database: each Wait reserves the account's next slot
// (ReserveSlot) and sleeps until it, so two processes pulling one account
// share its quota instead of each spending all of it. It implements the
// Limiter interface of clients/apiclient (Wait(ctx) error). A process that
// dies loses at most the slots it had reserved.
type QuotaLimiter struct {
	st      *Store
	key     string
	spacing time.Duration
	// SleepFunc waits for a reserved slot; it must return ctx.Err() as soon
	// as ctx is done (default: a timer honouring ctx). Tests record instead.
	SleepFunc func(ctx context.Context, d time.Duration) error
}

// QuotaLimiter returns a limiter spacing the requests of the account key
// by spacing (period ÷ allowed rate, e.g. 25.64 ms for 39/s).
func (s *Store) QuotaLimiter(key string, spacing time.Duration) *QuotaLimiter {
	return &QuotaLimiter{st: s, key: key, spacing: spacing, SleepFunc: sleepContext}
}

// Spacing returns the time between two reserved slots.
func (l *QuotaLimiter) Spacing() time.Duration { return l.spacing }

// Wait reserves the account's next slot and waits until it comes, or
// returns ctx's error (the slot is then lost). The wait is the database's
// (slot − its clock), less half the statement's round trip measured here:
// the answer left the database that long ago, so a slow round trip does not
// make the request late and bunch it with the next one.
func (l *QuotaLimiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	began := time.Now()
	_, wait, err := l.st.ReserveSlot(ctx, l.key, l.spacing)
	if err != nil {
		return err
	}
	wait -= time.Since(began) / 2
	if wait <= 0 {
		return nil
	}
	return l.SleepFunc(ctx, wait)
}

// sleepContext waits for d or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
