package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
	"crmsync/store/storetest"
)

// Migration 00026 adds v_push_status.last_outcome and changes nothing else:
// the other columns give the same rows, the comments and the analysts'
// grant stay, and Down brings back the view as it was, grant and comments
// included.
func TestMigrate_00026_pushStatusGainsLastOutcome(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	pushed := seedPushContact(t, s, t0, contact.Identity{Platform: contact.LINE, ChannelID: "1656", UserID: "U1"})
	pending := seedPushContact(t, s, t0, contact.Identity{Platform: contact.LINE, ChannelID: "1656", UserID: "U2"})
	excluded := seedPushContact(t, s, t0, contact.Identity{Platform: contact.LINE, ChannelID: "1656", UserID: "U3"})
	never := seedPushContact(t, s, t0, contact.Identity{Platform: contact.LINE, ChannelID: "1656", UserID: "U4"})
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO push_contacts (destination, contact_id, contact_updated_at, config_hash, outcome, checked_at)
		  VALUES ('okeybot', $1, $4, 'h', 'pushed', $4), ('okeybot', $2, $4, 'h', 'rejected', $4), ('okeybot', $3, $4, 'h', 'no_target', $4)`,
			[]any{int64(pushed), int64(pending), int64(excluded), t0}},
		{`UPDATE contacts SET updated_at = $2 WHERE id = $1`, []any{int64(pending), t0.Add(time.Hour)}},
		{`UPDATE contacts SET excluded_from_push = true WHERE id = $1`, []any{int64(excluded)}},
	} {
		_, err := s.SQL().ExecContext(ctx, q.sql, q.args...)
		require.NoError(t, err)
	}

	const old = `SELECT ROW(contact_id, destination, state, pushed_targets, first_pushed_at, last_pushed_at, checked_at,
	                        last_rejected_at, last_rejection_field, last_rejection_reason, last_rejection_status)::text
	             FROM v_push_status ORDER BY contact_id, destination`
	described := func() string {
		t.Helper()
		return strings.Join(queryStrings(t, s.SQL(), `
			SELECT a.attname || ': ' || COALESCE(col_description('v_push_status'::regclass, a.attnum), '')
			FROM pg_attribute a WHERE a.attrelid = 'v_push_status'::regclass AND a.attnum > 0 ORDER BY a.attnum`), "\n")
	}
	readable := func() bool {
		t.Helper()
		var ok bool
		require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT has_table_privilege('crmsync_readonly', 'v_push_status', 'SELECT')`).Scan(&ok))
		return ok
	}

	// The contacts in id order: pushed, pending, excluded, never.
	require.IsIncreasing(t, []contact.ID{pushed, pending, excluded, never})
	require.Equal(t, []string{"pushed", "rejected", "no_target", ""},
		queryStrings(t, s.SQL(), `SELECT COALESCE(last_outcome, '') FROM v_push_status WHERE destination = 'okeybot' ORDER BY contact_id`),
		"last_outcome is push_contacts.outcome, whatever the state")
	require.Equal(t, []string{"pushed", "pending", "excluded", "never_checked"},
		queryStrings(t, s.SQL(), `SELECT state FROM v_push_status WHERE destination = 'okeybot' ORDER BY contact_id`))
	after, afterDesc := queryStrings(t, s.SQL(), old), described()
	require.Contains(t, afterDesc, "last_outcome: Outcome of the last push")
	require.True(t, readable(), "analysts read the view")

	require.NoError(t, s.MigrateDownTo(ctx, 25))
	require.Equal(t, after, queryStrings(t, s.SQL(), old), "the other columns give the same rows")
	before := described()
	require.NotContains(t, before, "last_outcome")
	require.Equal(t, before+"\n"+afterDesc[strings.LastIndex(afterDesc, "\n")+1:], afterDesc,
		"the columns and their comments are those of before, last_outcome appended")
	require.True(t, readable(), "Down keeps the analysts' grant")
	var comment string
	require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT obj_description('v_push_status'::regclass)`).Scan(&comment))
	require.Contains(t, comment, "Push status per live contact and destination")

	_, err := s.Migrate(ctx)
	require.NoError(t, err)
	require.Equal(t, afterDesc, described(), "up again: the same view")
}
