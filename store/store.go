// Package store is crmsync's only door to PostgreSQL: it owns the schema
// (SQL migrations under migrations/), the gorm models, and every query,
// including the set-based bulk statements the sync stages use.
//
// Domain types from package contact cross its boundary; gorm models never do.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/sirupsen/logrus"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("store: not found")

// Options configures Open. Zero values mean the documented default.
type Options struct {
	Log          logrus.FieldLogger // nil discards
	MaxOpenConns int                // default 10
	SlowQuery    time.Duration      // queries slower than this are logged at warn; default 2s
}

// Store is a handle on the crmsync database. It is safe for concurrent use.
type Store struct {
	db  *gorm.DB
	sql *sql.DB
	log logrus.FieldLogger
}

// Open connects to the database at dsn (a postgres:// URL or key=value DSN)
// and checks that it answers. The error names the host and database, never
// the password.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("no database configured: set DATABASE_URL (e.g. postgres://user@localhost:5432/crmsync)")
	}
	log := o.Log
	if log == nil {
		log = discardLogger()
	}
	if o.SlowQuery == 0 {
		o.SlowQuery = 2 * time.Second
	}
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{
		Logger:                 gormLogger{log: log, slow: o.SlowQuery},
		TranslateError:         true,
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		DisableAutomaticPing:   true, // Open pings itself, with a clear error
	})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), err)
	}
	if o.MaxOpenConns == 0 {
		o.MaxOpenConns = 10
	}
	sqlDB.SetMaxOpenConns(o.MaxOpenConns)
	sqlDB.SetMaxIdleConns(o.MaxOpenConns)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("connect to database %s: %w", Redact(dsn), err)
	}
	return &Store{db: db, sql: sqlDB, log: log}, nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	return s.sql.Close()
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.sql.PingContext(ctx)
}

// SQL returns the underlying *sql.DB, for tools that need a plain handle
// (the migration runner, the benchmarks' raw COPY reference).
func (s *Store) SQL() *sql.DB {
	return s.sql
}

// Redact returns dsn with any password replaced by "xxxxx", for messages.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "(unparseable DSN)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.Redacted()
}
