package store_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Run(m)) }

func TestStore_Migrate_twiceIsNoOp(t *testing.T) {
	t.Parallel()
	u := storetest.NewURL(t) // already migrated from the template
	s, err := store.Open(t.Context(), u, store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	applied, err := s.Migrate(t.Context())
	require.NoError(t, err)
	require.Empty(t, applied, "a migrated database must need no migration")

	applied, err = s.Migrate(t.Context())
	require.NoError(t, err)
	require.Empty(t, applied)

	ms, err := s.Migrations(t.Context())
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ms), 2)
}

func TestStore_Migrate_fromEmptyDatabase(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	// Roll the fresh database back to nothing by recreating its public schema,
	// then migrate: every migration must apply from scratch.
	_, err := s.SQL().ExecContext(t.Context(), `DROP SCHEMA public CASCADE; CREATE SCHEMA public`)
	require.NoError(t, err)
	applied, err := s.Migrate(t.Context())
	require.NoError(t, err)
	ms, err := s.Migrations(t.Context())
	require.NoError(t, err)
	require.Len(t, applied, len(ms))
}

// Analysts read every table and view: each one, and each of their columns,
// must say what it holds.
func TestStore_Migrate_everyTableAndColumnIsCommented(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	rows, err := s.SQL().QueryContext(t.Context(), `
		SELECT c.relname, COALESCE(a.attname, '')
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
		LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relkind IN ('r', 'v', 'm')
		  AND c.relname <> $1
		  AND ((a.attname IS NULL AND obj_description(c.oid, 'pg_class') IS NULL)
		    OR (a.attname IS NOT NULL AND col_description(c.oid, a.attnum) IS NULL)
		    OR obj_description(c.oid, 'pg_class') IS NULL)
		ORDER BY 1, 2`, store.MigrationTable)
	require.NoError(t, err)
	defer rows.Close()
	var missing []string
	for rows.Next() {
		var table, column string
		require.NoError(t, rows.Scan(&table, &column))
		missing = append(missing, table+"."+column)
	}
	require.NoError(t, rows.Err())
	require.Empty(t, missing, "add COMMENT ON for these (table. = the table itself)")
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ give, want string }{
		{"postgres://u:secret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"host=h password=secret", "(unparseable DSN)"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, store.Redact(tt.give))
	}
}
