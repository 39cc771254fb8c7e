package storetest_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Run(m)) }

func TestNew_givesIsolatedMigratedDatabases(t *testing.T) {
	t.Parallel()
	a := storetest.New(t)
	b := storetest.New(t)

	ms, err := a.Migrations(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	for _, m := range ms {
		require.True(t, m.Applied, "migration %s not applied", m.Name)
	}

	_, err = a.SQL().ExecContext(t.Context(), `INSERT INTO sync_runs (job, trigger) VALUES ('isolation_check', 'manual')`)
	require.NoError(t, err)
	var na, nb int
	require.NoError(t, a.SQL().QueryRowContext(t.Context(), `SELECT count(*) FROM sync_runs`).Scan(&na))
	require.NoError(t, b.SQL().QueryRowContext(t.Context(), `SELECT count(*) FROM sync_runs`).Scan(&nb))
	require.Equal(t, 1, na)
	require.Equal(t, 0, nb, "a row written in one test database must not be visible in another")
}
