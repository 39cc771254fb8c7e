package store_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
)

// demoSeed writes two live contacts (one with two identities), one merged
// contact, three identities, two raw contacts and a shared key.
const demoSeed = `
INSERT INTO contacts (id, name, identities, created_at, updated_at) VALUES
  (1, 'ปักเป้า', 2, now(), now()), (2, '˚♡̴ 𝒇𝒂𝒏𝒈', 1, now(), now());
INSERT INTO contacts (id, name, identities, merged_into, created_at, updated_at) VALUES (3, '', 0, 1, now(), now());
INSERT INTO contact_identities (platform, channel_id, user_id, contact_id, first_seen_at, updated_at) VALUES
  ('line', '1656000001', 'U1', 1, now(), now()), ('facebook', '1045', 'F1', 1, now(), now()),
  ('line', '1656000001', 'U2', 2, now(), now());
INSERT INTO omnichat_contacts (platform, channel_id, user_id, updated_at, raw) VALUES
  ('line', '1656000001', 'U1', now(), '{}'), ('line', '1656000001', 'U2', now(), '{}');
INSERT INTO shared_keys (kind, value, identities, first_held_at, updated_at) VALUES ('phone', '+6621234567', 60, now(), now());
`

func TestStore_TableCounts(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()

	empty, err := s.TableCounts(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, empty)
	names := make([]string, 0, len(empty))
	for _, tc := range empty {
		require.Zero(t, tc.Rows, tc.Table)
		names = append(names, tc.Table)
	}
	require.IsIncreasing(t, names)
	require.Contains(t, names, "omnichat_messages")
	require.NotContains(t, names, store.MigrationTable)

	_, err = s.SQL().ExecContext(ctx, demoSeed)
	require.NoError(t, err)
	counts, err := s.TableCounts(ctx)
	require.NoError(t, err)
	got := map[string]int64{}
	for _, tc := range counts {
		got[tc.Table] = tc.Rows
	}
	require.Equal(t, int64(3), got["contacts"])
	require.Equal(t, int64(3), got["contact_identities"])
	require.Equal(t, int64(2), got["omnichat_contacts"])
	require.Equal(t, int64(0), got["omnichat_messages"])
}

func TestStore_CountPeople(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()

	pc, err := s.CountPeople(ctx)
	require.NoError(t, err)
	require.Equal(t, store.PeopleCount{}, pc)

	_, err = s.SQL().ExecContext(ctx, demoSeed)
	require.NoError(t, err)
	pc, err = s.CountPeople(ctx)
	require.NoError(t, err)
	require.Equal(t, store.PeopleCount{People: 2, Merged: 1, Identities: 3, Linked: 1, SharedKeys: 1}, pc)
}

func TestStore_Progress(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	_, err := s.SQL().ExecContext(ctx, demoSeed)
	require.NoError(t, err)

	p, err := s.Progress(ctx)
	require.NoError(t, err)
	require.Equal(t, store.DemoProgress{Contacts: 2, People: 2}, p)

	_, err = s.SQL().ExecContext(ctx, `DROP TABLE omnichat_messages CASCADE`)
	require.NoError(t, err)
	p, err = s.Progress(ctx)
	require.NoError(t, err, "a table that does not exist counts as empty")
	require.Equal(t, int64(2), p.Contacts)
}

func TestStore_PushOutcomes(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	got, err := s.PushOutcomes(ctx)
	require.NoError(t, err)
	require.Empty(t, got, "nothing pushed yet")

	_, err = s.SQL().ExecContext(ctx, demoSeed+`
		INSERT INTO push_contacts (destination, contact_id, contact_updated_at, config_hash, outcome, targets, checked_at) VALUES
		  ('oho', 1, now(), 'h', 'pushed', 2, now()), ('oho', 2, now(), 'h', 'rejected', 1, now()),
		  ('okeybot', 1, now(), 'h', 'unchanged', 1, now()), ('okeybot', 2, now(), 'h', 'no_target', 0, now());
		INSERT INTO push_state (destination, target_key, contact_id, payload, payload_hash, first_pushed_at, pushed_at) VALUES
		  ('oho', 'line/B/U1', 1, '{}', 'x', now(), now()), ('oho', 'facebook/1045/F1', 1, '{}', 'y', now(), now()),
		  ('okeybot', 'main/1', 1, '{}', 'z', now(), now());`)
	require.NoError(t, err)
	got, err = s.PushOutcomes(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.PushOutcome{
		{Destination: "oho", Pushed: 1, Rejected: 1, Records: 2},
		{Destination: "okeybot", Unchanged: 1, NoTarget: 1, Records: 1},
	}, got)
}

func TestStore_PushReasons(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	got, err := s.PushReasons(ctx)
	require.NoError(t, err)
	require.Empty(t, got)

	_, err = s.SQL().ExecContext(ctx, demoSeed+`
		INSERT INTO push_state (destination, target_key, contact_id, payload, payload_hash, adjustments, first_pushed_at, pushed_at) VALUES
		  ('oho', 'line/B/U1', 1, '{}', 'x', '[{"field":"tags","kind":"dropped","reason":"over 20 tags"},{"field":"first_name","kind":"truncated","reason":"over 100 characters"}]', now(), now()),
		  ('oho', 'line/B/U2', 2, '{}', 'y', '[{"field":"tags","kind":"dropped","reason":"over 20 tags"}]', now(), now());
		INSERT INTO push_rejections (destination, contact_id, target_key, reason, http_status, payload_hash) VALUES
		  ('okeybot', 2, 'main/2', 'Bad request', 400, 'h');`)
	require.NoError(t, err)
	got, err = s.PushReasons(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.PushReason{
		{Destination: "oho", What: "adjustment", Kind: "dropped", Reason: "over 20 tags", Contacts: 2, Occurrences: 2},
		{Destination: "oho", What: "adjustment", Kind: "truncated", Reason: "over 100 characters", Contacts: 1, Occurrences: 1},
		{Destination: "okeybot", What: "rejection", Kind: "refused_by_api", Reason: "Bad request", Contacts: 1, Occurrences: 1},
	}, got)
}

func TestEnsureDatabase(t *testing.T) {
	t.Parallel()
	admin := storetest.ServerURL(t)
	name := fmt.Sprintf("crmsync_demo_t_%d", os.Getpid())
	t.Cleanup(func() {
		s, err := store.Open(context.Background(), admin, store.Options{})
		require.NoError(t, err)
		defer s.Close()
		_, err = s.SQL().ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
		require.NoError(t, err)
	})

	created, err := store.EnsureDatabase(t.Context(), admin, name)
	require.NoError(t, err)
	require.True(t, created)
	created, err = store.EnsureDatabase(t.Context(), admin, name)
	require.NoError(t, err)
	require.False(t, created, "the second call finds it")

	u, err := url.Parse(admin)
	require.NoError(t, err)
	u.Path = "/" + name
	s, err := store.Open(t.Context(), u.String(), store.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}
