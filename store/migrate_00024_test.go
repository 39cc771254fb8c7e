package store_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/store/storetest"
)

// Migration 00024 takes one redundant condition out of conversations_refresh
// and changes nothing else in it; its Down puts the condition back.
func TestMigrate_00024_onlyTheRedundantConditionGoes(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	source := func() string {
		t.Helper()
		var src, config string
		require.NoError(t, s.SQL().QueryRowContext(ctx,
			`SELECT prosrc, array_to_string(proconfig, ',') FROM pg_proc
			 WHERE oid = 'conversations_refresh(text[], text[], text[], timestamptz[])'::regprocedure`).Scan(&src, &config))
		require.Equal(t, "work_mem=256MB,enable_seqscan=off", config, "the function's settings stay")
		return src
	}
	after := source()
	require.NoError(t, s.MigrateDownTo(ctx, 23))
	before := source()
	const cond = "v.opening_message_id = ANY (r_h_id) AND "
	require.Equal(t, 1, strings.Count(before, cond), "00019's function holds the condition once")
	require.Equal(t, strings.Replace(before, cond, "", 1), after, "00024 removes the condition and nothing else")

	_, err := s.Migrate(ctx)
	require.NoError(t, err)
	require.Equal(t, after, source(), "up again: the same function")
}
