// Package storetest gives tests a real, isolated, migrated PostgreSQL
// database. It never skips: with TEST_DATABASE_URL (or DATABASE_URL) set it
// creates databases on that server; otherwise it starts a throwaway cluster
// from the local PostgreSQL binaries (package pglocal) once per test binary.
//
// Each test gets its own database, cloned from a template that is migrated
// once per schema version, so tests can run in parallel and commit freely.
//
// Packages that use it must run their tests through Run, so a cluster this
// process started is stopped at the end:
//
//	func TestMain(m *testing.M) { os.Exit(storetest.Run(m)) }
package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"go.uber.org/goleak"

	"crmsync/store"
	"crmsync/store/pglocal"
)

var (
	mu       sync.Mutex
	admin    string // URL of a database we can CREATE DATABASE from
	cluster  *pglocal.Cluster
	template string
	started  atomic.Bool // Run was called
	counter  atomic.Int64
)

// Run runs the package's tests and stops the throwaway cluster, if this
// process started one. Use it from TestMain.
func Run(m *testing.M) int {
	started.Store(true)
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "storetest:", err)
		}
		cluster = nil
	}
	return code
}

// RunCheckingLeaks is Run, then a check that no goroutine outlived the
// tests (go.uber.org/goleak): a leak fails the package. The sync packages
// use it, as their stages start workers and timers.
func RunCheckingLeaks(m *testing.M) int {
	code := Run(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}

// ServerURL returns an admin URL of the test server, starting a throwaway
// cluster when no TEST_DATABASE_URL or DATABASE_URL is set.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	if !started.Load() {
		tb.Fatal("storetest: this package must call storetest.Run from TestMain: func TestMain(m *testing.M) { os.Exit(storetest.Run(m)) }")
	}
	mu.Lock()
	defer mu.Unlock()
	if admin != "" {
		return admin
	}
	for _, env := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(env); v != "" {
			admin = v
			return admin
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pglocal.Start(ctx, pglocal.Options{})
	if err != nil {
		tb.Fatalf("storetest: no TEST_DATABASE_URL and cannot start a local PostgreSQL: %v", err)
	}
	cluster = c
	admin = c.URL("postgres")
	return admin
}

// NewURL creates a fresh migrated database for tb, dropped when tb ends, and
// returns its URL.
func NewURL(tb testing.TB) string {
	tb.Helper()
	base := ServerURL(tb)
	tmpl := ensureTemplate(tb, base)
	name := fmt.Sprintf("crmsync_t_%d_%d", os.Getpid(), counter.Add(1))
	db := openRaw(tb, base)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tmpl)); err != nil {
		tb.Fatalf("storetest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		db := openRaw(tb, base)
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := db.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			tb.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(tb, base, name)
}

// New returns a Store on a fresh migrated database, closed and dropped when
// tb ends.
func New(tb testing.TB) *store.Store {
	tb.Helper()
	return Open(tb, NewURL(tb))
}

// Open returns a Store on the database at dbURL (one from NewURL, whose URL
// the test also hands to a command), closed when tb ends.
func Open(tb testing.TB, dbURL string) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// ensureTemplate creates (once per schema version and server) a database
// with every migration applied, to be cloned by NewURL.
func ensureTemplate(tb testing.TB, base string) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if template != "" {
		return template
	}
	name := "crmsync_tmpl_" + store.MigrationsChecksum()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := openRaw(tb, base)
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		tb.Fatalf("storetest: connect: %v", err)
	}
	defer conn.Close()
	// Test binaries of several packages may race to build the same template.
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7370001)`); err != nil {
		tb.Fatalf("storetest: lock: %v", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(7370001)`) //nolint:errcheck // released with the session anyway
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name).Scan(&exists); err != nil {
		tb.Fatalf("storetest: look up template: %v", err)
	}
	if !exists {
		building := name + "_build"
		_, _ = conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building))
		if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
			tb.Fatalf("storetest: create template: %v", err)
		}
		s, err := store.Open(ctx, withDatabase(tb, base, building), store.Options{})
		if err != nil {
			tb.Fatalf("storetest: %v", err)
		}
		if _, err := s.Migrate(ctx); err != nil {
			_ = s.Close()
			tb.Fatalf("storetest: migrate template: %v", err)
		}
		_ = s.Close()
		for _, q := range []string{
			fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name),
			fmt.Sprintf(`ALTER DATABASE %s WITH IS_TEMPLATE true`, name),
		} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				tb.Fatalf("storetest: finish template: %v", err)
			}
		}
	}
	template = name
	return template
}

func openRaw(tb testing.TB, u string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("pgx", u)
	if err != nil {
		tb.Fatalf("storetest: open %s: %v", store.Redact(u), err)
	}
	return db
}

// withDatabase returns base with its database name replaced by name.
func withDatabase(tb testing.TB, base, name string) string {
	tb.Helper()
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		tb.Fatalf("storetest: TEST_DATABASE_URL must be a postgres:// URL, got %q", store.Redact(base))
	}
	u.Path = "/" + strings.TrimPrefix(name, "/")
	return u.String()
}
