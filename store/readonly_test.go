package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

// readonlyRole is the role migration 00016 creates for analysts.
const readonlyRole = "crmsync_readonly"

func openSQL(t *testing.T, u string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", u)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// requireSQLState requires err to be a PostgreSQL error with that SQLSTATE.
func requireSQLState(t *testing.T, err error, state string, msgAndArgs ...any) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "want SQLSTATE %s, got %v (%v)", state, err, msgAndArgs)
	require.Equal(t, state, pgErr.Code, msgAndArgs...)
}

func TestStore_Migrate_readonlyRole(t *testing.T) {
	t.Parallel()
	u := storetest.NewURL(t)
	owner := openSQL(t, u)
	analyst := openSQL(t, storetest.NewLoginURL(t, u, readonlyRole))

	t.Run("IsNoLogin", func(t *testing.T) {
		var canLogin bool
		require.NoError(t, owner.QueryRowContext(t.Context(), `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, readonlyRole).Scan(&canLogin))
		require.False(t, canLogin)
	})

	t.Run("ReadsEveryTableAndView", func(t *testing.T) {
		rels := queryStrings(t, owner, `
			SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
			WHERE c.relkind IN ('r', 'v', 'm', 'p') ORDER BY 1`)
		require.Contains(t, rels, "contacts")
		require.Contains(t, rels, "v_contact_360")
		for _, rel := range rels {
			rs, err := analyst.QueryContext(t.Context(), `SELECT * FROM `+pgx.Identifier{rel}.Sanitize()+` LIMIT 1`)
			require.NoError(t, err, rel)
			require.NoError(t, rs.Close())
		}
	})

	// Default privileges: a table and a view the migrating role creates
	// after the migration (as a later migration would) are readable at once.
	t.Run("ReadsTablesAddedLater", func(t *testing.T) {
		for _, q := range []string{
			`CREATE TABLE added_later (id int PRIMARY KEY, note text)`,
			`INSERT INTO added_later VALUES (1, 'one'), (2, 'two')`,
			`CREATE VIEW v_added_later AS SELECT id, note FROM added_later WHERE id > 1`,
		} {
			_, err := owner.ExecContext(t.Context(), q)
			require.NoError(t, err, q)
		}
		tests := []struct {
			give string
			want int
		}{
			{`SELECT count(*) FROM added_later`, 2},
			{`SELECT count(*) FROM v_added_later`, 1},
		}
		for _, tt := range tests {
			var n int
			require.NoError(t, analyst.QueryRowContext(t.Context(), tt.give).Scan(&n), tt.give)
			require.Equal(t, tt.want, n, tt.give)
		}
		for _, q := range []string{
			`INSERT INTO added_later VALUES (3, 'three')`,
			`UPDATE added_later SET note = 'x'`,
			`DELETE FROM added_later`,
			`TRUNCATE added_later`,
		} {
			_, err := analyst.ExecContext(t.Context(), q)
			requireSQLState(t, err, "42501", q)
		}
	})
}

// A migrating role without CREATEROLE: it migrates once the role exists
// (an administrator created it, or another database's migration did), and
// gets a clear error when it does not.
func TestStore_Migrate_readonlyRoleWithoutCreateRole(t *testing.T) {
	t.Parallel()
	storetest.NewURL(t) // the template's migration created the role, if no database had yet
	admin := storetest.ServerURL(t)
	adminDB := openSQL(t, admin)

	t.Run("RoleExists", func(t *testing.T) {
		user := storetest.NewLoginURL(t, admin) // LOGIN, no CREATEROLE, no superuser
		uu, err := url.Parse(user)
		require.NoError(t, err)
		name := fmt.Sprintf("crmsync_t_nocreaterole_%d", os.Getpid())
		_, err = adminDB.ExecContext(t.Context(), fmt.Sprintf(`CREATE DATABASE %s OWNER %s TEMPLATE template0`, name, uu.User.Username()))
		require.NoError(t, err)
		t.Cleanup(func() { // before the user's own cleanup drops it
			_, err := adminDB.ExecContext(context.Background(), fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
			require.NoError(t, err)
		})
		uu.Path = "/" + name

		s, err := store.Open(t.Context(), uu.String(), store.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		var createRole bool
		require.NoError(t, s.SQL().QueryRowContext(t.Context(), `SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&createRole))
		require.False(t, createRole)
		_, err = s.Migrate(t.Context())
		require.NoError(t, err)
		var readable bool
		require.NoError(t, s.SQL().QueryRowContext(t.Context(), `SELECT has_table_privilege($1, 'v_contact_360', 'SELECT')`, readonlyRole).Scan(&readable))
		require.True(t, readable)
	})

	t.Run("RoleMissing", func(t *testing.T) {
		// The migration's own text, for a role name no one has created, run
		// by a role without CREATEROLE; everything is rolled back.
		up := migrationUp(t, "00016_readonly_role.sql")
		missing := fmt.Sprintf("crmsync_t_missing_%d", os.Getpid())
		up = strings.ReplaceAll(up, readonlyRole, missing)
		tx, err := openSQL(t, storetest.NewURL(t)).BeginTx(t.Context(), nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx.Rollback() })
		for _, q := range []string{
			fmt.Sprintf(`CREATE ROLE %s_migrator NOLOGIN`, missing),
			fmt.Sprintf(`SET LOCAL ROLE %s_migrator`, missing),
		} {
			_, err := tx.ExecContext(t.Context(), q)
			require.NoError(t, err, q)
		}
		_, err = tx.ExecContext(t.Context(), up)
		requireSQLState(t, err, "42501")
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr))
		require.Equal(t, fmt.Sprintf("role %s does not exist, and %s_migrator may not create it (no CREATEROLE)", missing, missing), pgErr.Message)
		require.Contains(t, pgErr.Hint, "CREATE ROLE "+missing+" NOLOGIN")
	})
}

// migrationUp returns the Up part of a migration file.
func migrationUp(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile("migrations/" + file)
	require.NoError(t, err)
	_, up, ok := strings.Cut(string(b), "-- +goose Up")
	require.True(t, ok)
	up, _, ok = strings.Cut(up, "-- +goose Down")
	require.True(t, ok)
	return up
}

// queryStrings runs a query of one text column (on a *sql.DB or a *sql.Tx)
// and returns its rows.
func queryStrings(t *testing.T, db queryer, q string, args ...any) []string {
	t.Helper()
	rs, err := db.QueryContext(t.Context(), q, args...)
	require.NoError(t, err)
	defer rs.Close()
	var out []string
	for rs.Next() {
		var s string
		require.NoError(t, rs.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rs.Err())
	return out
}
