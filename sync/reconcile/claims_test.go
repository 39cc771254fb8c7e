package reconcile_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/reconcile"
)

// pausedRun is a reconcile run stopped inside its transaction after a step
// until resume is closed.
type pausedRun struct {
	paused chan struct{} // closed once the run reached the step
	resume chan struct{} // close to let it go on
	done   chan error    // the run's result
	res    reconcile.Result
}

// startPaused starts a run that pauses after step.
func startPaused(ctx context.Context, st *store.Store, o reconcile.Options, step string) *pausedRun {
	p := &pausedRun{paused: make(chan struct{}), resume: make(chan struct{}), done: make(chan error, 1)}
	hooked := reconcile.WithAfterStep(ctx, func(ctx context.Context, s string) {
		if s != step {
			return
		}
		close(p.paused)
		select {
		case <-p.resume:
		case <-ctx.Done():
		}
	})
	go func() {
		var err error
		p.res, err = reconcile.Run(hooked, st, o, false)
		p.done <- err
	}()
	return p
}

// wait returns the run's error, failing the test if it had to wait past
// the test's deadline.
func (p *pausedRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-t.Context().Done():
		require.FailNow(t, "the run never ended")
		return nil
	}
}

// pullUpsert writes one raw contact and queues it in one transaction the way
// a pull page does, refusing to wait for any lock longer than lock_timeout:
// it fails if a row it writes is held by another transaction.
func pullUpsert(ctx context.Context, st *store.Store, user, name string) error {
	tx, err := st.SQL().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`SET LOCAL lock_timeout = '200ms'`, nil},
		{`INSERT INTO omnichat_contacts (platform, channel_id, user_id, name, email, phone, member_id, tags, custom_attributes, updated_at, raw)
		  VALUES ('line', 'ch1', $1, $2, '', '', '', '{}', '[]', $3, '{}')
		  ON CONFLICT (platform, channel_id, user_id) DO UPDATE SET name = EXCLUDED.name, updated_at = EXCLUDED.updated_at`,
			[]any{user, name, t0}},
		{`INSERT INTO reconcile_queue (platform, channel_id, user_id) VALUES ('line', 'ch1', $1)
		  ON CONFLICT (platform, channel_id, user_id) DO UPDATE SET queued_by = EXCLUDED.queued_by`, []any{user}},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// beginPullUpsert is pullUpsert left open: its transaction has written and
// queued, and commit finishes it.
func beginPullUpsert(t *testing.T, st *store.Store, user, name string) (commit func()) {
	t.Helper()
	tx, err := st.SQL().BeginTx(t.Context(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	_, err = tx.ExecContext(t.Context(), `INSERT INTO omnichat_contacts (platform, channel_id, user_id, name, email, phone, member_id, tags, custom_attributes, updated_at, raw)
		VALUES ('line', 'ch1', $1, $2, '', '', '', '{}', '[]', $3, '{}')
		ON CONFLICT (platform, channel_id, user_id) DO UPDATE SET name = EXCLUDED.name, updated_at = EXCLUDED.updated_at`, user, name, t0)
	require.NoError(t, err)
	_, err = tx.ExecContext(t.Context(), `INSERT INTO reconcile_queue (platform, channel_id, user_id) VALUES ('line', 'ch1', $1)
		ON CONFLICT (platform, channel_id, user_id) DO UPDATE SET queued_by = EXCLUDED.queued_by`, user)
	require.NoError(t, err)
	return func() { require.NoError(t, tx.Commit()) }
}

func TestRun_claimedIdentityRequeuesWithoutWaiting(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", Name: "A", Phone: "0811111111"})
	s.contact(rawContact{User: "b", Name: "B", Phone: "0811111111"})
	s.apply(t, st)
	c := &clock{t0}
	run(t, st, opts(c), false)

	s.contact(rawContact{User: "a", Name: "A1", Phone: "0811111111"})
	s.apply(t, st)
	c.now = t0.Add(time.Hour)
	p := startPaused(t.Context(), st, opts(c), "contacts rebuilt")
	<-p.paused
	// Mid-transaction (the master records are written, not committed), the
	// run's identity is still in reconcile_queue: claiming moved nothing.
	require.Equal(t, []string{"line\tch1\ta"}, rows(t, st, `SELECT platform, channel_id, user_id FROM reconcile_queue`))

	// A pull page re-queues that identity, and queues a new one, without
	// waiting for the run (lock_timeout 200 ms).
	require.NoError(t, pullUpsert(t.Context(), st, "a", "A2"))
	require.NoError(t, pullUpsert(t.Context(), st, "c", "C"))
	close(p.resume)
	require.NoError(t, p.wait(t))
	require.Equal(t, 1, p.res.Queued)
	require.Equal(t, []string{"A1"}, rows(t, st, `SELECT name FROM contacts WHERE id = $1`, contactOf(t, st, "line/ch1/a")))

	// The run deleted only the row its claim saw: the re-queued row and the
	// new one wait for the next run, which takes the changes.
	require.Equal(t, []string{"line\tch1\ta", "line\tch1\tc"}, rows(t, st, `SELECT platform, channel_id, user_id FROM reconcile_queue ORDER BY 3`))
	c.now = t0.Add(2 * time.Hour)
	res := run(t, st, opts(c), false)
	require.Equal(t, 2, res.Queued)
	require.Equal(t, []string{"A2"}, rows(t, st, `SELECT name FROM contacts WHERE id = $1`, contactOf(t, st, "line/ch1/a")))
	require.Equal(t, []string{"C"}, rows(t, st, `SELECT name FROM contacts WHERE id = $1`, contactOf(t, st, "line/ch1/c")))
	require.Empty(t, rows(t, st, `SELECT * FROM reconcile_queue`))
}

// A pull whose transaction was still open when the run claimed the queue
// commits while the run works: its rows, new or re-queued, were not in the
// claim, so the run leaves them queued, although they were there, committed,
// when it deleted its own.
func TestRun_pullOpenAtTheClaimStaysQueued(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", Name: "A", Phone: "0811111111"})
	s.contact(rawContact{User: "b", Name: "B", Phone: "0822222222"})
	s.apply(t, st)
	c := &clock{t0}
	run(t, st, opts(c), false)
	s.contact(rawContact{User: "a", Name: "A1", Phone: "0811111111"})
	s.contact(rawContact{User: "b", Name: "B1", Phone: "0822222222"})
	s.apply(t, st)

	// The pull re-queues a (already waiting, committed before) and queues
	// d (new), and has not committed when the run claims.
	commit := beginPullUpsert(t, st, "a", "A2")
	commitD := beginPullUpsert(t, st, "d", "D")
	c.now = t0.Add(time.Hour)
	p := startPaused(t.Context(), st, opts(c), "queue taken")
	<-p.paused
	commit()
	commitD()
	close(p.resume)
	require.NoError(t, p.wait(t))
	// The run worked on a and b (its claim saw a's earlier queueing), but
	// deleted neither a, queued again by a transaction its claim did not
	// see, nor d.
	require.Equal(t, 2, p.res.Queued)

	require.Equal(t, []string{"line\tch1\ta", "line\tch1\td"}, rows(t, st, `SELECT platform, channel_id, user_id FROM reconcile_queue ORDER BY 3`))
	c.now = t0.Add(2 * time.Hour)
	res := run(t, st, opts(c), false)
	require.Equal(t, 2, res.Queued)
	require.Equal(t, []string{"A2"}, rows(t, st, `SELECT name FROM contacts WHERE id = $1`, contactOf(t, st, "line/ch1/a")))
	require.Equal(t, []string{"B1"}, rows(t, st, `SELECT name FROM contacts WHERE id = $1`, contactOf(t, st, "line/ch1/b")))
	require.Equal(t, []string{"D"}, rows(t, st, `SELECT name FROM contacts WHERE id = $1`, contactOf(t, st, "line/ch1/d")))
	require.Empty(t, rows(t, st, `SELECT * FROM reconcile_queue`))
}

func TestRun_cancelledRunLosesNothing(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", Name: "A", Phone: "0811111111"})
	s.contact(rawContact{User: "b", Name: "B", Phone: "0811111111"})
	s.message(rawMessage{ID: "1", User: "c", SentAt: t0.Add(-time.Hour)})
	s.apply(t, st)
	queued := rows(t, st, `SELECT platform, channel_id, user_id FROM reconcile_queue ORDER BY 1, 2, 3`)
	require.Len(t, queued, 3)

	c := &clock{t0}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := startPaused(ctx, st, opts(c), "links applied")
	<-p.paused
	cancel() // the run stops at its next statement, mid-transaction
	require.ErrorIs(t, p.wait(t), context.Canceled)

	// Nothing written, every queued identity still queued.
	require.Equal(t, queued, rows(t, st, `SELECT platform, channel_id, user_id FROM reconcile_queue ORDER BY 1, 2, 3`))
	require.Empty(t, rows(t, st, `SELECT * FROM contact_identities`))
	require.Empty(t, rows(t, st, `SELECT * FROM reconcile_state`))

	res := run(t, st, opts(c), false)
	require.Equal(t, 3, res.Queued)
	require.Equal(t, 3, res.NewIdentities)
	require.Equal(t, contactOf(t, st, "line/ch1/a"), contactOf(t, st, "line/ch1/b"))
	require.Empty(t, rows(t, st, `SELECT * FROM reconcile_queue`))
}

// A run's clock is read once it holds the lock: a run that waited behind
// another one never stamps its changes with a time from before that run
// committed (push.ChangeOverlap relies on it).
func TestRun_clockReadAfterTheLock(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", Name: "A"})
	s.apply(t, st)
	c := &clock{t0}
	first := startPaused(t.Context(), st, opts(c), "queue taken")
	<-first.paused

	var read atomic.Bool
	o := opts(c)
	o.NowFunc = func() time.Time { read.Store(true); return t0.Add(time.Hour) }
	second := make(chan error, 1)
	go func() { _, err := reconcile.Run(t.Context(), st, o, false); second <- err }()
	// Wait until the second run waits for the reconcile lock.
	for {
		var waiting bool
		require.NoError(t, st.SQL().QueryRowContext(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory')`).Scan(&waiting))
		if waiting {
			break
		}
		require.NoError(t, t.Context().Err())
	}
	require.False(t, read.Load(), "the waiting run read its clock before it held the lock")
	close(first.resume)
	require.NoError(t, first.wait(t))
	require.NoError(t, <-second)
	require.True(t, read.Load())
	require.Equal(t, []string{"2026-03-10 13:00"}, rows(t, st, `SELECT to_char(as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM reconcile_state`))
}
