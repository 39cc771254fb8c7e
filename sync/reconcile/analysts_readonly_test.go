package reconcile_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

// writes matches an example that changes data (the overrides examples):
// crmsync_readonly is refused those.
var writes = regexp.MustCompile(`(?im)^\s*(INSERT|UPDATE|DELETE)\s`)

// An analyst logged in with crmsync_readonly (docs/analysts.md, "A
// read-only role") runs every example that reads and finds rows, and is
// refused every write and every change to the schema, by SQLSTATE 42501
// (insufficient_privilege).
func TestAnalystsDoc_readonlyRole(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(analystsDoc)
	require.NoError(t, err)
	blocks := sqlBlock.FindAllStringSubmatch(string(doc), -1)
	require.GreaterOrEqual(t, len(blocks), 10)

	st := seedAnalystsDB(t)
	loginURL := storetest.NewLoginURL(t, databaseURL(t, st), "crmsync_readonly")
	analyst, err := sql.Open("pgx", loginURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = analyst.Close() })
	var who string
	require.NoError(t, analyst.QueryRowContext(t.Context(), `SELECT current_user`).Scan(&who))
	require.Contains(t, loginURL, "//"+who+":", "the test must run as the login role, not the owner")

	t.Run("RunsEveryExample", func(t *testing.T) {
		var reads, refused int
		for i, b := range blocks {
			if writes.MatchString(b[1]) {
				_, err := tryBlock(t.Context(), analyst, b[1])
				requireSQLState(t, err, "42501", "example %d:\n%s", i+1, b[1])
				refused++
				// As the owner, so the examples after it find what it wrote.
				runBlock(t.Context(), t, st.SQL(), b[1])
				continue
			}
			n, err := tryBlock(t.Context(), analyst, b[1])
			require.NoError(t, err, "example %d:\n%s", i+1, b[1])
			require.Positive(t, n, "example %d returned no rows:\n%s", i+1, b[1])
			reads++
		}
		t.Logf("%d examples read, %d refused", reads, refused)
		require.Positive(t, reads)
		require.Positive(t, refused, "the overrides examples write: the role must be refused them")
	})

	t.Run("RefusedWritesAndDDL", func(t *testing.T) {
		tests := []struct{ give string }{
			{`INSERT INTO contact_overrides (contact_id, kind, note) SELECT id, 'exclude_from_push', 'x' FROM contacts LIMIT 1`},
			{`INSERT INTO sync_runs (job, trigger) VALUES ('analyst', 'manual')`},
			{`UPDATE contacts SET name = 'x'`},
			{`UPDATE push_state SET payload_hash = ''`},
			{`DELETE FROM contact_identities`},
			{`DELETE FROM ` + store.MigrationTable},
			{`TRUNCATE omnichat_messages`},
			{`TRUNCATE contacts CASCADE`},
			{`CREATE TABLE analyst_scratch (id int)`},
			{`CREATE TABLE public.analyst_scratch AS SELECT id FROM contacts`},
			{`CREATE VIEW v_analyst AS SELECT id FROM contacts`},
			{`CREATE INDEX ON contacts (name)`},
			{`ALTER TABLE contacts ADD COLUMN note text`},
			{`COMMENT ON TABLE contacts IS 'mine'`},
			{`DROP VIEW v_contact_360`},
			{`DROP TABLE contact_overrides`},
		}
		for _, tt := range tests {
			_, err := analyst.ExecContext(t.Context(), tt.give)
			requireSQLState(t, err, "42501", tt.give)
		}
		var n int
		require.NoError(t, st.SQL().QueryRowContext(t.Context(), `SELECT count(*) FROM sync_runs WHERE job = 'analyst'`).Scan(&n))
		require.Zero(t, n)
	})

	// The documented way to let one analyst write overrides too.
	t.Run("OverridesWithTheirOwnGrant", func(t *testing.T) {
		u, err := url.Parse(loginURL)
		require.NoError(t, err)
		_, err = st.SQL().ExecContext(t.Context(), `GRANT INSERT, DELETE ON contact_overrides TO `+u.User.Username()+`;
			GRANT USAGE ON SEQUENCE contact_overrides_id_seq TO `+u.User.Username())
		require.NoError(t, err)
		ran := 0
		for i, b := range blocks {
			if !writes.MatchString(b[1]) {
				continue
			}
			n, err := tryBlock(t.Context(), analyst, b[1])
			require.NoError(t, err, "example %d:\n%s", i+1, b[1])
			require.Positive(t, n, "example %d", i+1)
			ran++
		}
		require.Positive(t, ran)
		_, err = analyst.ExecContext(t.Context(), `UPDATE contact_overrides SET note = 'x'`)
		requireSQLState(t, err, "42501", "only INSERT and DELETE were granted")
	})
}

// tryBlock runs the statements of one example on one connection (so SET
// applies to what follows) and returns how many rows they returned, or the
// first error, naming its statement.
func tryBlock(ctx context.Context, db *sql.DB, block string) (int, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	total := 0
	for _, q := range strings.Split(block, ";\n") {
		if strings.TrimSpace(q) == "" {
			continue
		}
		n, err := countRows(ctx, conn, q)
		total += n
		if err != nil {
			return total, fmt.Errorf("%s: %w", q, err)
		}
	}
	return total, nil
}

// countRows runs one statement and counts the rows it returns.
func countRows(ctx context.Context, conn *sql.Conn, q string) (int, error) {
	rs, err := conn.QueryContext(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	n := 0
	for rs.Next() {
		n++
	}
	if err := rs.Err(); err != nil {
		return n, err
	}
	return n, rs.Close()
}

// databaseURL returns the admin URL of st's database.
func databaseURL(t *testing.T, st *store.Store) string {
	t.Helper()
	var name string
	require.NoError(t, st.SQL().QueryRowContext(t.Context(), `SELECT current_database()`).Scan(&name))
	u, err := url.Parse(storetest.ServerURL(t))
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// requireSQLState requires err to be a PostgreSQL error with that SQLSTATE.
func requireSQLState(t *testing.T, err error, state string, msgAndArgs ...any) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "want SQLSTATE %s, got %v: %v", state, err, msgAndArgs)
	require.Equal(t, state, pgErr.Code, msgAndArgs...)
}
