package store_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

func systemUser(username, name, email string) store.SystemUserRow {
	one := int64(1)
	return store.SystemUserRow{
		Username: username, Name: name, Email: email, Team: "Omnichat", Status: &one,
		Shops: []byte(`[{"id":"s1","code":"A01","name":"Shop A01"}]`),
		Raw:   []byte(fmt.Sprintf(`{"username":%q,"name":%q,"email":%q}`, username, name, email)),
	}
}

func TestStore_WriteSystemUsersPage(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	page := []store.SystemUserRow{systemUser("u1", "Ann", "ann@shop.example"), systemUser("u2", "Bo", "bo@shop.example")}
	bad := []store.BadRecord{{Raw: []byte(`{"email":"x@y.z"}`), Reason: "missing username"}}

	res, err := s.WriteSystemUsersPage(ctx, 0, page, bad)
	require.NoError(t, err)
	require.Equal(t, store.PageResult{Inserted: 2, Bad: 1}, res)
	require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM omnichat_system_users
		WHERE username = 'u1' AND name = 'Ann' AND status = 1 AND role IS NULL AND available IS NULL
		  AND shops = '[{"id":"s1","code":"A01","name":"Shop A01"}]' AND missing_since IS NULL`))
	require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM pull_errors
		WHERE stream = 'system_users' AND scope = '' AND reason = 'missing username' AND window_id IS NULL AND times_seen = 1`))

	t.Run("TheSameListingChangesNothingButLastSeen", func(t *testing.T) {
		before := textRows(t, s, `SELECT username, last_changed_at, last_seen_at FROM omnichat_system_users ORDER BY 1`)
		res, err := s.WriteSystemUsersPage(ctx, 0, page, bad)
		require.NoError(t, err)
		require.Equal(t, store.PageResult{Bad: 1}, res)
		after := textRows(t, s, `SELECT username, last_changed_at, last_seen_at FROM omnichat_system_users ORDER BY 1`)
		require.Len(t, after, 2)
		for i := range after {
			b, a := strings.Split(before[i], "\t"), strings.Split(after[i], "\t")
			require.Equal(t, b[1], a[1], "last_changed_at kept")
			require.NotEqual(t, b[2], a[2], "last_seen_at moved")
		}
		require.Equal(t, 2, pullCount(t, s, `SELECT times_seen FROM pull_errors WHERE stream = 'system_users'`), "the bad record seen again")
	})
	t.Run("AChangedUserIsUpdated", func(t *testing.T) {
		renamed := systemUser("u2", "Bo Renamed", "bo@shop.example")
		res, err := s.WriteSystemUsersPage(ctx, 0, []store.SystemUserRow{renamed, {Username: "u3", Raw: []byte(`{"username":"u3","name":"\u0000"}`)}}, nil)
		require.NoError(t, err)
		require.Equal(t, store.PageResult{Updated: 1, Bad: 1}, res, "raw JSON PostgreSQL cannot store is a bad record")
		require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM omnichat_system_users WHERE username = 'u2' AND name = 'Bo Renamed'`))
		require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM pull_errors WHERE stream = 'system_users' AND reason LIKE '%\u0000%'`))
	})
}

func TestStore_MarkSystemUsersMissing(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	_, err := s.WriteSystemUsersPage(ctx, 0, []store.SystemUserRow{systemUser("u1", "A", ""), systemUser("u2", "B", ""), systemUser("u3", "C", "")}, nil)
	require.NoError(t, err)

	n, err := s.MarkSystemUsersMissing(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, n, "an empty listing marks no one")

	n, err = s.MarkSystemUsersMissing(ctx, []string{"u1", "u3"})
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM omnichat_system_users WHERE missing_since IS NOT NULL AND username = 'u2'`))

	n, err = s.MarkSystemUsersMissing(ctx, []string{"u1"})
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "u2 stays marked since it went missing; u3 is new")

	_, err = s.WriteSystemUsersPage(ctx, 0, []store.SystemUserRow{systemUser("u2", "B", "")}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, pullCount(t, s, `SELECT count(*) FROM omnichat_system_users WHERE missing_since IS NOT NULL`),
		"listed again: u2 is back")
}

// Agent messages link to system users by sender user id, else by email
// (case-insensitive); what matches neither stays unlinked.
func TestStore_systemUserLinks(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	_, err := s.WriteSystemUsersPage(ctx, 0, []store.SystemUserRow{
		systemUser("uuid-ann", "Ann", "Ann@Shop.example"),
		systemUser("uuid-bo", "Bo", "bo@shop.example"),
	}, nil)
	require.NoError(t, err)
	insertChat(t, s.SQL(), false,
		chatMsg{ID: "k1", Room: "r1", Customer: "c1", Sender: "customer", At: at(0)},
		chatMsg{ID: "k2", Room: "r1", Customer: "c1", Sender: "agent", SenderUser: "uuid-ann", Email: "other@x.example", At: at(60e9)},
		chatMsg{ID: "k3", Room: "r2", Customer: "c2", Sender: "customer", At: at(0)},
		chatMsg{ID: "k4", Room: "r2", Customer: "c2", Sender: "agent", SenderUser: "old-id", Email: " ann@shop.EXAMPLE ", At: at(120e9)},
		chatMsg{ID: "k5", Room: "r3", Customer: "c3", Sender: "customer", At: at(0)},
		chatMsg{ID: "k6", Room: "r3", Customer: "c3", Sender: "bot", SenderUser: "bot", At: at(1e9)},
		chatMsg{ID: "k7", Room: "r3", Customer: "c3", Sender: "agent", SenderUser: "gone", Email: "gone@shop.example", At: at(180e9)},
	)

	require.Equal(t, []string{
		"k2\tuuid-ann\tAnn\tuser_id",
		"k4\tuuid-ann\tAnn\temail",
		"k7\t\t\t",
	}, textRows(t, s, `SELECT message_id, COALESCE(system_username, ''), COALESCE(system_user_name, ''), COALESCE(linked_by, '')
		FROM v_agent_messages ORDER BY 1`))
	require.Equal(t, []string{
		"k1\treplied\tagent\tuuid-ann\tuuid-ann\tAnn\t60",
		"k3\treplied\tagent\tuuid-ann\tuuid-ann\tAnn\t120",
		"k5\treplied\tbot\t\t\tgone\t180",
	}, textRows(t, s, `SELECT opening_message_id, status, replied_by, COALESCE(first_reply_system_username, ''),
		COALESCE(agent_username, ''), agent_name, agent_response_seconds
		FROM v_conversations ORDER BY 1`))
}

// textRows runs q and returns each row's columns joined by tabs.
func textRows(t *testing.T, s *store.Store, q string) []string {
	t.Helper()
	rs, err := s.SQL().QueryContext(t.Context(), q)
	require.NoError(t, err)
	defer rs.Close()
	cols, err := rs.Columns()
	require.NoError(t, err)
	var out []string
	for rs.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rs.Scan(ptrs...))
		line := vals[0]
		for _, v := range vals[1:] {
			line += "\t" + v
		}
		out = append(out, line)
	}
	require.NoError(t, rs.Err())
	return out
}
