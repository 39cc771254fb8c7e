package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// JobLock is a job's (or a step's) PostgreSQL advisory lock, held on one
// dedicated connection until Release. Every process sharing the database
// sees it.
//
// A session lock lives as long as its connection: when the connection is
// reset (the backend terminated, the server restarted, the network cut), the
// server releases the lock and another process may take it. So while it is
// held a goroutine watches the connection: it waits on the socket, which
// wakes it at once when the server ends the session, and checks the
// connection every LockCheckEvery, which catches a connection that died
// without a word. Lost is closed as soon as the loss is known; the holder
// must then stop before its next unit of work.
type JobLock struct {
	job  string
	key  int32
	conn *sql.Conn

	lost      chan struct{} // closed once the lock is known lost
	stopWatch context.CancelFunc
	watched   chan struct{} // closed when the watcher has returned

	mu      sync.Mutex
	lostErr error
	closed  bool
}

// LockCheckEvery is how often a held JobLock checks its connection with a
// query, besides waking at once when the server ends the session; a check
// gives up after LockCheckTimeout. The queries also keep the session from
// being idle (idle_session_timeout) while the lock is held.
const (
	LockCheckEvery   = 10 * time.Second
	LockCheckTimeout = 5 * time.Second
)

// jobLockClass is the first key of every job lock ("crms"), so job locks
// never collide with other advisory locks (goose's and storetest's use the
// one-bigint form, which PostgreSQL keeps apart from the two-int4 form).
const jobLockClass int32 = 0x63726d73

func jobLockKey(job string) int32 {
	h := fnv.New32a()
	h.Write([]byte(job))
	return int32(h.Sum32())
}

// TryLockJob takes the advisory lock of job without waiting. It returns
// ok=false, and no lock, when another session holds it.
func (s *Store) TryLockJob(ctx context.Context, job string) (lock *JobLock, ok bool, err error) {
	conn, err := s.sql.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock job %s: %w", job, err)
	}
	key := jobLockKey(job)
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, $2)`, jobLockClass, key).Scan(&ok); err != nil {
		discard(conn)
		return nil, false, fmt.Errorf("lock job %s: %w", job, err)
	}
	if !ok {
		_ = conn.Close()
		return nil, false, nil
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l := &JobLock{job: job, key: key, conn: conn, lost: make(chan struct{}), stopWatch: stop, watched: make(chan struct{})}
	go l.watch(wctx)
	return l, true, nil
}

// watch waits on the lock's connection until ctx ends (Release) or the
// connection fails, and then records the loss.
func (l *JobLock) watch(ctx context.Context) {
	defer close(l.watched)
	err := l.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("driver connection is %T, not pgx", dc)
		}
		pc := c.Conn()
		for {
			// Nothing is ever sent to this session: the wait returns when the
			// server ends it (a FATAL message, then EOF), or at the deadline.
			wctx, cancel := context.WithTimeout(ctx, LockCheckEvery)
			err := pc.PgConn().WaitForNotification(wctx)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, LockCheckTimeout)
			err = pc.Ping(cctx)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	if err != nil {
		l.mu.Lock()
		l.lostErr = fmt.Errorf("lock %s lost: its database connection failed: %w", l.job, err)
		l.mu.Unlock()
		close(l.lost)
	}
}

// Lost returns a channel closed once the lock is known to be lost (its
// connection failed, so the server released it); never closed while it
// holds. Err says why.
func (l *JobLock) Lost() <-chan struct{} {
	return l.lost
}

// Err returns why the lock was lost, or nil while it holds.
func (l *JobLock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostErr
}

// Release unlocks the job and returns the connection. It reports an error
// when the lock had been lost (the connection was reset during the run); the
// connection is then discarded, never returned to the pool holding a lock.
// It waits at most 2 seconds for the database (closing the connection then,
// which ends the session and so the lock). Release is safe to call twice.
func (l *JobLock) Release() error {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	return l.ReleaseContext(ctx)
}

// ReleaseContext is Release waiting for the database no longer than ctx.
func (l *JobLock) ReleaseContext(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.stopWatch()
	<-l.watched
	if err := l.Err(); err != nil {
		discard(l.conn)
		return err
	}
	var held bool
	if err := l.conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1, $2)`, jobLockClass, l.key).Scan(&held); err != nil {
		discard(l.conn)
		return fmt.Errorf("unlock job %s: %w", l.job, err)
	}
	if !held {
		discard(l.conn)
		return fmt.Errorf("unlock job %s: the lock was lost during the run (database connection reset)", l.job)
	}
	return l.conn.Close()
}

// releaseTimeout bounds Release's unlock: a stop's bookkeeping must end in
// time (see schedule.Runner.FinishTimeout). A healthy database answers in
// milliseconds; past that the connection is closed, which ends the session
// and releases the lock on the server's side.
const releaseTimeout = 2 * time.Second

// discard closes conn's underlying connection instead of returning it to
// the pool, so no session-level lock can outlive its holder.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
