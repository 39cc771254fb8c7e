package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
	"crmsync/store"
	"crmsync/store/storetest"
)

func TestStore_RecordOkeybotDeleted(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	a := seedPushContact(t, s, t0, contact.Identity{Platform: contact.LINE, ChannelID: "c1", UserID: "u1"})
	save := func(key, remote string) {
		require.NoError(t, s.SavePushState(ctx, store.PushState{Destination: store.DestinationOkeybot, TargetKey: key, ContactID: a,
			RemoteID: remote, Payload: json.RawMessage(`{"tags":["a"]}`), PayloadHash: "h", PushedAt: t0}))
	}
	state := func(key string) (remote *string, hash string) {
		require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT remote_id, payload_hash FROM push_state WHERE target_key = $1`, key).Scan(&remote, &hash))
		return remote, hash
	}
	save("shop/1", "dead-1")
	save("shop/2", "dead-2")
	save("shop/3", "new-3") // its dead id was replaced already

	require.NoError(t, s.RecordOkeybotDeleted(ctx, store.OkeybotDeleted{ContactID: a, TargetKey: "shop/1", DeletedID: "dead-1",
		HTTPStatus: 403, Resolution: store.OkeybotForgotten, At: t0}))
	require.NoError(t, s.RecordOkeybotDeleted(ctx, store.OkeybotDeleted{ContactID: a, TargetKey: "shop/2", DeletedID: "dead-2",
		HTTPStatus: 404, Resolution: store.OkeybotRelinked, NewID: "found-2", At: t0}))
	require.NoError(t, s.RecordOkeybotDeleted(ctx, store.OkeybotDeleted{ContactID: a, TargetKey: "shop/3", DeletedID: "dead-3",
		HTTPStatus: 403, Resolution: store.OkeybotForgotten, At: t0}))

	remote, hash := state("shop/1")
	require.Nil(t, remote, "a forgotten id is dropped")
	require.Empty(t, hash, "and the record is pushed again")
	remote, hash = state("shop/2")
	require.Equal(t, "dead-2", *remote, "relinked: the push's own state write replaces it")
	require.Equal(t, "h", hash)
	remote, _ = state("shop/3")
	require.Equal(t, "new-3", *remote, "an id that changed since is left alone")

	var n, forgotten int
	var newID *string
	require.NoError(t, s.SQL().QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE resolution = 'forgotten'),
		max(new_id) FROM okeybot_deleted_contacts`).Scan(&n, &forgotten, &newID))
	require.Equal(t, 3, n)
	require.Equal(t, 2, forgotten)
	require.Equal(t, "found-2", *newID)
}
