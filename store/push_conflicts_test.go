package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
	"crmsync/store"
	"crmsync/store/storetest"
)

func TestStore_RecordPushConflicts(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	a := seedPushContact(t, s, t0, contact.Identity{Platform: contact.LINE, ChannelID: "c1", UserID: "u1"})
	long := strings.Repeat("ก", 700)
	edited := store.PushConflict{
		Destination: store.DestinationOho, ContactID: a, TargetKey: "line/b/u1", Field: "email",
		DestinationValue: "agent@shop.example", CrmsyncValue: "new@example.com", LastPushedValue: "old@example.com",
		Resolution: store.ConflictOverwroteDestination, Rule: store.ConflictRuleSource, At: t0,
	}
	again := edited
	again.At, again.Resolution, again.Rule = t0.Add(time.Hour), store.ConflictKeptDestination, store.ConflictRuleDestination
	name := store.PushConflict{
		Destination: store.DestinationOho, ContactID: a, TargetKey: "line/b/u1", Field: "first_name",
		DestinationValue: long, CrmsyncValue: "", Resolution: store.ConflictKeptDestination, Rule: store.ConflictRuleDestination, At: t0,
	}
	require.NoError(t, s.RecordPushConflicts(ctx, edited, name))
	require.NoError(t, s.RecordPushConflicts(ctx, again, again)) // met twice more: counted, not added

	type row struct {
		Field, Resolution, Rule string
		There, Want, Last       *string
		Seen                    int
		Detected, LastSeen      time.Time
	}
	rows, err := s.SQL().QueryContext(ctx, `
		SELECT field, resolution, rule, destination_value, crmsync_value, last_pushed_value, times_seen, detected_at, last_seen_at
		FROM v_push_conflicts ORDER BY field`)
	require.NoError(t, err)
	defer rows.Close()
	var got []row
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.Field, &r.Resolution, &r.Rule, &r.There, &r.Want, &r.Last, &r.Seen, &r.Detected, &r.LastSeen))
		r.Detected, r.LastSeen = r.Detected.UTC(), r.LastSeen.UTC()
		got = append(got, r)
	}
	require.NoError(t, rows.Err())
	require.Len(t, got, 2)

	require.Equal(t, "email", got[0].Field)
	require.Equal(t, 3, got[0].Seen)
	require.Equal(t, store.ConflictKeptDestination, got[0].Resolution, "the latest meeting's outcome")
	require.Equal(t, store.ConflictRuleDestination, got[0].Rule)
	require.Equal(t, t0, got[0].Detected)
	require.Equal(t, t0.Add(time.Hour), got[0].LastSeen)
	require.Equal(t, "old@example.com", *got[0].Last)

	require.Equal(t, "first_name", got[1].Field)
	require.Nil(t, got[1].Want, "an empty value is NULL")
	require.Nil(t, got[1].Last)
	require.Equal(t, store.MaxRejectionValue, len([]rune(*got[1].There)))
}
