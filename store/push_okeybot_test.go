package store_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
	"crmsync/store"
	"crmsync/store/storetest"
)

func TestStore_OkeybotMergedState(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	line := func(u string) contact.Identity {
		return contact.Identity{Platform: contact.LINE, ChannelID: "1656", UserID: u}
	}
	survivor := seedPushContact(t, s, t0, line("U1"))
	early := seedPushContact(t, s, t0, line("U2"))
	late := seedPushContact(t, s, t0, line("U3"))
	other := seedPushContact(t, s, t0, line("U4")) // live: not merged
	for _, id := range []contact.ID{early, late} {
		_, err := s.SQL().ExecContext(ctx, `UPDATE contacts SET merged_into = $1 WHERE id = $2`, int64(survivor), int64(id))
		require.NoError(t, err)
	}
	save := func(channel string, id contact.ID, remote string, at time.Time) {
		t.Helper()
		require.NoError(t, s.SavePushState(ctx, store.PushState{
			Destination: store.DestinationOkeybot, TargetKey: fmt.Sprintf("%s/%d", channel, id), ContactID: id, RemoteID: remote,
			Payload: json.RawMessage(`{"tags":["` + remote + `"]}`), PayloadHash: "h-" + remote, PushedAt: at,
		}))
	}
	save("shop", late, "r-late", t0.Add(2*time.Hour))
	save("shop", early, "r-early", t0.Add(time.Hour))
	save("shop", other, "r-other", t0)
	save("shop_two", late, "r-two", t0)

	tests := []struct {
		name       string
		give       string // channel
		giveID     contact.ID
		wantOK     bool
		wantRemote string
		wantKey    string
	}{
		{"FirstPushedOfTheMergedWins", "shop", survivor, true, "r-early", fmt.Sprintf("shop/%d", early)},
		{"OnlyOnTheNamedChannel", "shop_two", survivor, true, "r-two", fmt.Sprintf("shop_two/%d", late)},
		{"NoneOnThatChannel", "shop_three", survivor, false, "", ""},
		{"NothingMergedIntoIt", "shop", other, false, "", ""},
		{"ChannelIsNotAPrefixMatch", "sho", survivor, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok, err := s.OkeybotMergedState(t.Context(), tt.give, tt.giveID)
			require.NoError(t, err)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.wantRemote, got.RemoteID)
			require.Equal(t, tt.wantKey, got.TargetKey)
			if ok {
				require.Equal(t, store.DestinationOkeybot, got.Destination)
				require.JSONEq(t, `{"tags":["`+tt.wantRemote+`"]}`, string(got.Payload))
				require.Equal(t, "h-"+tt.wantRemote, got.PayloadHash)
				require.False(t, got.FirstPushedAt.IsZero())
			}
		})
	}
}
