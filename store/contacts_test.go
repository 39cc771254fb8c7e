package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
	"crmsync/store"
	"crmsync/store/storetest"
)

// seedMaster writes master rows directly, as reconcile would leave them:
// contact 1 (two identities, attributes, tags, facts), contact 2 merged
// into 1, contact 3 excluded from push, contact 4 with no facts row.
func seedMaster(t *testing.T, s *store.Store, at time.Time) {
	t.Helper()
	for _, q := range []string{
		`INSERT INTO contacts (id, name, email, phone, member_id, identities, created_at, updated_at) VALUES
			(1, 'สมชาย 😀', 'somchai@example.com', '+66812345678', 'M1', 2, $1, $1),
			(2, 'Old', '', '', '', 0, $1, $1),
			(3, 'Excluded', '', '', '', 1, $1, $1),
			(4, 'Later', '', '', '', 1, $1, $1::timestamptz + interval '1 hour')`,
		`UPDATE contacts SET merged_into = 1 WHERE id = 2 AND $1::timestamptz IS NOT NULL`,
		`UPDATE contacts SET excluded_from_push = true WHERE id = 3 AND $1::timestamptz IS NOT NULL`,
		`INSERT INTO omnichat_contacts (platform, channel_id, user_id, name, email, phone, member_id, subscribed, updated_at, raw) VALUES
			('line', 'ch1', 'u1', 'สมชาย', '', '0812345678', 'M1', true, $1, '{}'),
			('facebook', 'fb', 'u2', 'Somchai 😀', 'SOMCHAI@example.com', '', '', false, $1::timestamptz + interval '1 minute', '{}')`,
		`INSERT INTO contact_identities (platform, channel_id, user_id, contact_id, has_profile, first_seen_at, updated_at) VALUES
			('line', 'ch1', 'u1', 1, true, $1, $1), ('facebook', 'fb', 'u2', 1, true, $1, $1),
			('line', 'ch1', 'u3', 3, false, $1, $1), ('line', 'ch1', 'u4', 4, false, $1, $1)`,
		`INSERT INTO contact_attributes (contact_id, key, value, type, display_name, updated_at) VALUES
			(1, 'tier', 'gold', 'text', 'Tier', $1), (1, 'points', '10', 'number', 'Points', $1)`,
		`INSERT INTO contact_tags (contact_id, tag, applied_at, source) VALUES
			(1, 'vip', $1, 'agent'), (1, 'ลูกค้าใหม่', NULL, '')`,
		`INSERT INTO contact_facts (contact_id, first_message_at, last_message_at, last_customer_message_at,
			messages_total, messages_7d, messages_30d, customer_messages_total, agent_messages_total, bot_messages_total, channels) VALUES
			(1, $1::timestamptz - interval '10 days', $1, $1, 5, 2, 4, 3, 1, 1, '{facebook/fb,line/ch1}'),
			(3, $1, $1, $1, 1, 1, 1, 1, 0, 0, '{line/ch1}')`,
		`INSERT INTO contact_merges (from_contact_id, into_contact_id, key_kind, key_value, merged_at) VALUES (2, 1, 'phone', '+66812345678', $1)`,
		`INSERT INTO reconcile_state (id, as_of, finished_at, link_keys, shared_key_ceiling, default_region)
			VALUES (1, $1::timestamptz + interval '1 hour', $1, '{phone}', 50, 'TH')`,
	} {
		_, err := s.SQL().ExecContext(t.Context(), q, at)
		require.NoError(t, err, q)
	}
}

func TestStore_ContactsForPush(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	seedMaster(t, s, at)

	cs, err := s.ContactsForPush(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Len(t, cs, 2, "merged and excluded contacts are left out")
	c := cs[0]
	require.Equal(t, contact.ID(1), c.ID)
	require.Equal(t, "สมชาย 😀", c.Name)
	require.Equal(t, "+66812345678", c.Phone)
	require.Equal(t, []contact.Attribute{
		{Key: "points", Value: "10", Type: contact.AttrNumber, DisplayName: "Points", UpdatedAt: at},
		{Key: "tier", Value: "gold", Type: contact.AttrText, DisplayName: "Tier", UpdatedAt: at},
	}, normaliseTimes(c).Attributes)
	require.Len(t, c.Tags, 2)
	require.Equal(t, "vip", c.Tags[0].Name)
	require.True(t, c.Tags[0].AppliedAt.Equal(at))
	require.Equal(t, "agent", c.Tags[0].Source)
	require.Equal(t, contact.Tag{Name: "ลูกค้าใหม่"}, c.Tags[1])
	require.Len(t, c.Identities, 2)
	require.Equal(t, contact.Identity{Platform: contact.Facebook, ChannelID: "fb", UserID: "u2"}, c.Identities[0].Identity)
	require.Equal(t, "SOMCHAI@example.com", c.Identities[0].Email, "a profile is what the source said")
	require.Equal(t, "0812345678", c.Identities[1].Phone)
	require.True(t, c.Identities[1].Subscribed)
	require.Equal(t, 5, c.Facts.MessagesTotal)
	require.Equal(t, 2, c.Facts.Messages7d)
	require.Equal(t, 4, c.Facts.Messages30d)
	require.Equal(t, 3, c.Facts.CustomerMessagesTotal)
	require.Equal(t, []string{"facebook/fb", "line/ch1"}, c.Facts.Channels)
	require.True(t, c.Facts.FirstMessageAt.Equal(at.Add(-240*time.Hour)))
	require.True(t, c.Facts.LastAgentMessageAt.IsZero())

	require.Equal(t, contact.ID(4), cs[1].ID)
	require.Equal(t, contact.Facts{}, cs[1].Facts, "no facts row means no facts")

	// Paging by id.
	cs, err = s.ContactsForPush(t.Context(), 1, 10)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, contact.ID(4), cs[0].ID)
	cs, err = s.ContactsForPush(t.Context(), 0, 1)
	require.NoError(t, err)
	require.Len(t, cs, 1)
}

func normaliseTimes(c contact.Contact) contact.Contact {
	for i := range c.Attributes {
		c.Attributes[i].UpdatedAt = c.Attributes[i].UpdatedAt.UTC()
	}
	return c
}

func TestStore_Contact_followsMerges(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	seedMaster(t, s, at)

	tests := []struct {
		give    contact.ID
		want    contact.ID
		wantErr error
	}{
		{give: 1, want: 1},
		{give: 2, want: 1},
		{give: 3, want: 3},
		{give: 99, wantErr: store.ErrNotFound},
	}
	for _, tt := range tests {
		c, err := s.Contact(t.Context(), tt.give)
		if tt.wantErr != nil {
			require.ErrorIs(t, err, tt.wantErr)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, c.ID)
	}

	ex, err := s.ExcludedContactIDs(t.Context())
	require.NoError(t, err)
	require.Equal(t, []contact.ID{3}, ex)
}
