package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/store/storetest"
)

// Migration 00022 drops reconcile_claims: the claims a run left there (it
// crashed before the upgrade) go back to reconcile_queue, an identity in
// both keeping its earliest queued_at, and the next run takes them.
func TestMigrate_00022_claimsGoBackToTheQueue(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	require.NoError(t, s.MigrateDownTo(ctx, 21))
	for _, q := range []string{
		`INSERT INTO reconcile_queue (platform, channel_id, user_id, queued_at) VALUES
			('line', 'c1', 'both', '2026-03-02 10:00+00'), ('line', 'c1', 'queued', '2026-03-02 11:00+00')`,
		`INSERT INTO reconcile_claims (platform, channel_id, user_id, queued_at, claim_id) VALUES
			('line', 'c1', 'both', '2026-03-01 09:00+00', 7), ('line', 'c1', 'claimed', '2026-03-01 12:00+00', 7)`,
	} {
		_, err := s.SQL().ExecContext(ctx, q)
		require.NoError(t, err)
	}
	_, err := s.Migrate(ctx)
	require.NoError(t, err)

	var got []string
	r, err := s.SQL().QueryContext(ctx, `SELECT user_id || ' ' || to_char(queued_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI')
		FROM reconcile_queue ORDER BY user_id`)
	require.NoError(t, err)
	defer r.Close()
	for r.Next() {
		var line string
		require.NoError(t, r.Scan(&line))
		got = append(got, line)
	}
	require.NoError(t, r.Err())
	require.Equal(t, []string{"both 03-01 09:00", "claimed 03-01 12:00", "queued 03-02 11:00"}, got)
	var claims bool
	require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT to_regclass('reconcile_claims') IS NOT NULL`).Scan(&claims))
	require.False(t, claims, "reconcile_claims is gone")
}
