package reconcile_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/reconcile"
)

func opts(c *clock) reconcile.Options {
	return reconcile.Options{NowFunc: c.Now}
}

func TestRun_linksByEachKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		give     [2]rawContact
		linkKeys []string
		want     bool // linked into one contact
	}{
		{
			name: "MemberID",
			give: [2]rawContact{{User: "a", MemberID: "M-1"}, {User: "b", Platform: "facebook", Channel: "fb", MemberID: " M-1 "}},
			want: true,
		},
		{
			name: "PhoneNationalAndInternational",
			give: [2]rawContact{{User: "a", Phone: "0812345678"}, {User: "b", Phone: "66812345678"}},
			want: true,
		},
		{
			name: "PhoneWithPlusAndSpaces",
			give: [2]rawContact{{User: "a", Phone: "+66 81 234 5678"}, {User: "b", Phone: "081-234-5678"}},
			want: true,
		},
		{
			name: "EmailCaseAndSpaces",
			give: [2]rawContact{{User: "a", Email: " Somchai@Example.COM"}, {User: "b", Email: "somchai@example.com "}},
			want: true,
		},
		{
			name: "InvalidEmailDoesNotLink",
			give: [2]rawContact{{User: "a", Email: "not an email"}, {User: "b", Email: "not an email"}},
			want: false,
		},
		{
			name: "InvalidPhoneDoesNotLink",
			give: [2]rawContact{{User: "a", Phone: "12"}, {User: "b", Phone: "12"}},
			want: false,
		},
		{
			name: "EmptyMemberIDDoesNotLink",
			give: [2]rawContact{{User: "a", MemberID: " "}, {User: "b", MemberID: " "}},
			want: false,
		},
		{
			name: "DifferentKeys",
			give: [2]rawContact{{User: "a", Phone: "0812345678"}, {User: "b", Phone: "0812345679"}},
			want: false,
		},
		{
			name:     "DisabledKeyDoesNotLink",
			give:     [2]rawContact{{User: "a", Email: "x@example.com"}, {User: "b", Email: "x@example.com"}},
			linkKeys: []string{reconcile.KeyPhone, reconcile.KeyMemberID},
			want:     false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := storetest.New(t)
			var s seed
			for _, c := range tt.give {
				s.contact(c)
			}
			s.apply(t, st)
			c := &clock{t0}
			o := opts(c)
			o.LinkKeys = tt.linkKeys
			res := run(t, st, o, false)
			require.True(t, res.Full, "the first run rebuilds everything")
			require.Equal(t, 2, res.NewIdentities)

			a := contactOf(t, st, identOf(tt.give[0]))
			b := contactOf(t, st, identOf(tt.give[1]))
			if tt.want {
				require.Equal(t, a, b)
				require.Equal(t, 1, res.ContactsCreated)
			} else {
				require.NotEqual(t, a, b)
				require.Equal(t, 2, res.ContactsCreated)
			}
		})
	}
}

func identOf(c rawContact) string {
	p, ch := c.Platform, c.Channel
	if p == "" {
		p = "line"
	}
	if ch == "" {
		ch = "ch1"
	}
	return p + "/" + ch + "/" + c.User
}

func TestRun_linksChainsOfKeys(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", Phone: "0812345678"})
	s.contact(rawContact{User: "b", Phone: "66812345678", Email: "b@example.com"})
	s.contact(rawContact{User: "c", Platform: "facebook", Channel: "fb", Email: "B@example.com", MemberID: "M9"})
	s.contact(rawContact{User: "d", Platform: "instagram", Channel: "ig", MemberID: "M9"})
	s.contact(rawContact{User: "e", Email: "other@example.com"})
	s.apply(t, st)
	c := &clock{t0}
	res := run(t, st, opts(c), false)
	require.Equal(t, 2, res.ContactsCreated)

	a := contactOf(t, st, "line/ch1/a")
	for _, id := range []string{"line/ch1/b", "facebook/fb/c", "instagram/ig/d"} {
		require.Equal(t, a, contactOf(t, st, id), id)
	}
	require.NotEqual(t, a, contactOf(t, st, "line/ch1/e"))
	require.Equal(t, []string{"4"}, rows(t, st, `SELECT identities FROM contacts WHERE id = $1`, a))

	// The same chain arriving one link per run ends in the same single contact.
	st2 := storetest.New(t)
	for _, rc := range []rawContact{
		{User: "a", Phone: "0812345678"},
		{User: "b", Phone: "66812345678", Email: "b@example.com"},
		{User: "c", Platform: "facebook", Channel: "fb", Email: "B@example.com", MemberID: "M9"},
		{User: "d", Platform: "instagram", Channel: "ig", MemberID: "M9"},
	} {
		s.contact(rc)
		s.apply(t, st2)
		run(t, st2, opts(c), false)
	}
	a2 := contactOf(t, st2, "line/ch1/a")
	for _, id := range []string{"line/ch1/b", "facebook/fb/c", "instagram/ig/d"} {
		require.Equal(t, a2, contactOf(t, st2, id), id)
	}
}

func TestRun_sharedKeyCeiling(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	// The shop's own phone, typed into four contacts.
	for _, u := range []string{"a", "b", "c", "d"} {
		s.contact(rawContact{User: u, Phone: "021234567"})
	}
	s.contact(rawContact{User: "a", Phone: "021234567", Email: "a@example.com"})
	s.contact(rawContact{User: "e", Email: "a@example.com"})
	s.apply(t, st)
	c := &clock{t0}
	o := opts(c)
	o.SharedKeyCeiling = 3
	res := run(t, st, o, false)
	require.Equal(t, 1, res.SharedKeysHeldBack)
	require.Equal(t, []string{"phone\t+6621234567\t4"}, rows(t, st, `SELECT kind, value, identities FROM shared_keys`))
	ids := map[int64]bool{}
	for _, u := range []string{"a", "b", "c", "d"} {
		ids[contactOf(t, st, "line/ch1/"+u)] = true
	}
	require.Len(t, ids, 4, "a held-back key links nothing")
	require.Equal(t, contactOf(t, st, "line/ch1/a"), contactOf(t, st, "line/ch1/e"), "other keys still link")

	// One contact fixes its phone: the key falls to the ceiling and links again.
	s.contact(rawContact{User: "d", Phone: "0899999999", UpdatedAt: t0})
	s.apply(t, st)
	c.now = t0.Add(time.Hour)
	res = run(t, st, o, false)
	require.False(t, res.Full)
	require.Equal(t, 0, res.SharedKeysHeldBack)
	require.Empty(t, rows(t, st, `SELECT * FROM shared_keys`))
	a := contactOf(t, st, "line/ch1/a")
	for _, u := range []string{"b", "c", "e"} {
		require.Equal(t, a, contactOf(t, st, "line/ch1/"+u), u)
	}
	require.NotEqual(t, a, contactOf(t, st, "line/ch1/d"))
}

func TestRun_stableIDsThroughMerge(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", Name: "Anna", Email: "anna@example.com"})
	s.contact(rawContact{User: "b", Channel: "ch2", Name: "Anna B", Phone: "0811111111"})
	s.apply(t, st)
	c := &clock{t0}
	run(t, st, opts(c), false)
	a, b := contactOf(t, st, "line/ch1/a"), contactOf(t, st, "line/ch2/b")
	require.Less(t, a, b)

	// An operator excludes b from pushing; then b turns out to be a.
	s.override(b, "exclude_from_push", "", "")
	s.apply(t, st)
	c.now = t0.Add(time.Hour)
	run(t, st, opts(c), false)
	require.Equal(t, []string{"true"}, rows(t, st, `SELECT excluded_from_push FROM contacts WHERE id = $1`, b))

	s.contact(rawContact{User: "b", Channel: "ch2", Name: "Anna B", Phone: "0811111111",
		Email: "ANNA@example.com", UpdatedAt: t0.Add(90 * time.Minute)})
	s.apply(t, st)
	c.now = t0.Add(2 * time.Hour)
	res := run(t, st, opts(c), false)
	require.False(t, res.Full)
	require.Equal(t, 1, res.ContactsMerged)
	require.Equal(t, 0, res.ContactsCreated)

	require.Equal(t, a, contactOf(t, st, "line/ch1/a"), "the older id survives")
	require.Equal(t, a, contactOf(t, st, "line/ch2/b"))
	require.Equal(t, []string{formatInt(b) + "\t" + formatInt(a) + "\temail\tanna@example.com"},
		rows(t, st, `SELECT from_contact_id, into_contact_id, key_kind, key_value FROM contact_merges`))
	require.Equal(t, []string{formatInt(a) + "\t0"}, rows(t, st, `SELECT merged_into, identities FROM contacts WHERE id = $1`, b))
	require.Equal(t, []string{formatInt(a) + "\texclude_from_push"}, rows(t, st, `SELECT contact_id, kind FROM contact_overrides`),
		"the override follows the merge")
	require.Equal(t, []string{"Anna B\tanna@example.com\t+66811111111\ttrue\t2"},
		rows(t, st, `SELECT name, email, phone, excluded_from_push, identities FROM contacts WHERE id = $1`, a))
	require.Empty(t, rows(t, st, `SELECT * FROM contact_facts WHERE contact_id = $1`, b), "a tombstone has no facts")

	// A later merge into a re-points the older tombstone as well.
	s.contact(rawContact{User: "c", Platform: "instagram", Channel: "ig", Phone: "0822222222"})
	s.apply(t, st)
	c.now = t0.Add(3 * time.Hour)
	run(t, st, opts(c), false)
	cc := contactOf(t, st, "instagram/ig/c")
	s.contact(rawContact{User: "c", Platform: "instagram", Channel: "ig", Phone: "0811111111", UpdatedAt: t0.Add(3 * time.Hour)})
	s.apply(t, st)
	c.now = t0.Add(4 * time.Hour)
	run(t, st, opts(c), false)
	require.Equal(t, a, contactOf(t, st, "instagram/ig/c"))
	require.Equal(t, []string{formatInt(a)}, rows(t, st, `SELECT merged_into FROM contacts WHERE id = $1`, cc))
}

func TestRun_splitKeepsIDWithOldestIdentity(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", Phone: "0811111111"})
	s.contact(rawContact{User: "b", Phone: "0811111111"})
	s.contact(rawContact{User: "c", Phone: "0811111111"})
	s.apply(t, st)
	c := &clock{t0}
	run(t, st, opts(c), false)
	a := contactOf(t, st, "line/ch1/a")

	// a changes phone: the part with the oldest identity is a alone, so a
	// keeps the id and b+c move to a new contact.
	s.contact(rawContact{User: "a", Phone: "0899999999", UpdatedAt: t0})
	s.apply(t, st)
	c.now = t0.Add(time.Hour)
	res := run(t, st, opts(c), false)
	require.Equal(t, 1, res.ContactsCreated)
	require.Equal(t, 1, res.ContactsSplit)
	require.Equal(t, a, contactOf(t, st, "line/ch1/a"))
	bc := contactOf(t, st, "line/ch1/b")
	require.Equal(t, bc, contactOf(t, st, "line/ch1/c"))
	require.NotEqual(t, a, bc)
	require.Equal(t, []string{formatInt(a) + "\t" + formatInt(bc) + "\t2"},
		rows(t, st, `SELECT from_contact_id, to_contact_id, identities FROM contact_splits`))
}

func TestRun_identitiesFromMessagesAndTaggingLogsOnly(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.message(rawMessage{ID: "m1", User: "ghost", SentAt: t0.Add(-time.Hour)})
	s.tagLog(rawTagLog{User: "tagged", Tag: "vip", Source: "agent", At: t0.Add(-2 * time.Hour)})
	s.apply(t, st)
	c := &clock{t0}
	res := run(t, st, opts(c), false)
	require.Equal(t, 2, res.NewIdentities)
	require.Equal(t, 2, res.ContactsCreated)
	ghost := contactOf(t, st, "line/ch1/ghost")
	require.Equal(t, []string{"1\tline/ch1"}, rows(t, st,
		`SELECT messages_total, array_to_string(channels, ',') FROM contact_facts WHERE contact_id = $1`, ghost))
	tagged := contactOf(t, st, "line/ch1/tagged")
	require.Equal(t, []string{"vip\tagent"}, rows(t, st, `SELECT tag, source FROM contact_tags WHERE contact_id = $1`, tagged))
	require.Equal(t, []string{"false"}, rows(t, st,
		`SELECT has_profile FROM contact_identities WHERE user_id = 'ghost'`))
}

func TestRun_masterFields(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	thai := "สมชาย ใจดี 😀"
	emoji := "˚♡̴ 𝒇𝒂𝒏𝒈 👩‍👩‍👧"
	s.contact(rawContact{User: "a", Name: thai, Email: "old@example.com", MemberID: "M1", Phone: "0811111111",
		Tags: []string{"vip", "ลูกค้าใหม่"},
		Attrs: []attr{
			{Key: "tier", Value: "gold", Type: "text", DisplayName: "Tier"},
			{Key: "points", Value: 10, Type: "number", DisplayName: "Points"},
		},
		UpdatedAt: t0.Add(-3 * time.Hour)})
	s.contact(rawContact{User: "b", Platform: "facebook", Channel: "fb", Name: emoji, MemberID: "M1",
		Tags: []string{"vip", "🔥hot"},
		Attrs: []attr{
			{Key: "points", Value: "2026-01-01", Type: "date", DisplayName: "Points date"},
		},
		UpdatedAt: t0.Add(-time.Hour)})
	s.tagLog(rawTagLog{User: "a", Tag: "vip", Source: "bot", At: t0.Add(-48 * time.Hour)})
	s.tagLog(rawTagLog{User: "a", Tag: "vip", Source: "agent", At: t0.Add(-24 * time.Hour)})
	s.tagLog(rawTagLog{Platform: "facebook", Channel: "fb", User: "b", Tag: "vip", Source: "broadcast", At: t0.Add(-30 * time.Hour)})
	s.tagLog(rawTagLog{User: "a", Tag: "removed-later", Source: "bot", At: t0.Add(-72 * time.Hour)})
	s.apply(t, st)
	c := &clock{t0}
	run(t, st, opts(c), false)
	id := contactOf(t, st, "line/ch1/a")
	require.Equal(t, id, contactOf(t, st, "facebook/fb/b"))

	// Each field from the most recently updated identity that has it.
	require.Equal(t, []string{emoji + "\told@example.com\t+66811111111\tM1"},
		rows(t, st, `SELECT name, email, phone, member_id FROM contacts WHERE id = $1`, id))
	// Attributes merged per key, latest wins with its type.
	require.Equal(t, []string{
		"points\t2026-01-01\tdate\tPoints date",
		"tier\tgold\ttext\tTier",
	}, rows(t, st, `SELECT key, value, type, display_name FROM contact_attributes WHERE contact_id = $1 ORDER BY key`, id))
	// Tags: union of the identities' current tags; applied_at from the most
	// recent tagging log, with its source; a logged tag no longer on the
	// contact is not current.
	require.Equal(t, []string{
		"vip\t" + t0.Add(-24*time.Hour).Format(time.RFC3339) + "\tagent",
		"ลูกค้าใหม่\t\t",
		"🔥hot\t\t",
	}, rows(t, st, `SELECT tag, COALESCE(to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''), source
		FROM contact_tags WHERE contact_id = $1 ORDER BY tag COLLATE "C"`, id))

	cs, err := st.ContactsForPush(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, emoji, cs[0].Name)
	require.Equal(t, thai, cs[0].Identities[1].Name, "identities sorted by platform: facebook, line")
	require.Equal(t, "🔥hot", cs[0].Tags[2].Name)
}

func TestRun_derivedFacts(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", MemberID: "M1"})
	s.contact(rawContact{User: "b", Platform: "facebook", Channel: "fb", MemberID: "M1"})
	h := time.Hour
	d := 24 * h
	for i, m := range []rawMessage{
		{User: "a", SenderType: "customer", SentAt: t0.Add(-h)},                                          // 7d 30d
		{User: "a", SenderType: "customer", SentAt: t0.Add(-3 * d)},                                      // 7d 30d
		{User: "a", SenderType: "customer", SentAt: t0.Add(-10 * d)},                                     // 30d
		{User: "a", SenderType: "customer", SentAt: t0.Add(-40 * d)},                                     // -
		{User: "a", SenderType: "agent", SentAt: t0.Add(-2 * h)},                                         // 7d 30d
		{User: "a", SenderType: "agent", SentAt: t0.Add(-20 * d)},                                        // 30d
		{User: "a", SenderType: "bot", SentAt: t0.Add(-5 * d)},                                           // 7d 30d
		{User: "a", SenderType: "ai-chat", SentAt: t0.Add(-35 * d)},                                      // -
		{User: "a", SenderType: "customer", SentAt: t0.Add(-7 * d)},                                      // 30d only: the 7-day window is (now-7d, now]
		{Platform: "facebook", Channel: "fb", User: "b", SenderType: "customer", SentAt: t0.Add(-6 * d)}, // 7d 30d
		{Platform: "facebook", Channel: "fb", User: "b", SenderType: "agent", SentAt: t0.Add(-50 * d)},   // -
		{User: "someone-else", SenderType: "customer", SentAt: t0.Add(-h)},
	} {
		m.ID = formatInt(int64(i))
		s.message(m)
	}
	s.apply(t, st)
	c := &clock{t0}
	run(t, st, opts(c), false)
	id := contactOf(t, st, "line/ch1/a")
	q := `SELECT first_message_at = $2, last_message_at = $3, last_customer_message_at = $4, last_agent_message_at = $5,
		messages_total, messages_7d, messages_30d,
		customer_messages_total, customer_messages_7d, customer_messages_30d,
		agent_messages_total, agent_messages_7d, agent_messages_30d,
		bot_messages_total, bot_messages_7d, bot_messages_30d, array_to_string(channels, ',')
		FROM contact_facts WHERE contact_id = $1`
	want := []string{"true\ttrue\ttrue\ttrue\t11\t5\t8\t6\t3\t5\t3\t1\t2\t2\t1\t1\tfacebook/fb,line/ch1"}
	require.Equal(t, want, rows(t, st, q, id, t0.Add(-50*d), t0.Add(-h), t0.Add(-h), t0.Add(-2*h)))
	// A full rebuild computes the facts another way (the whole message table
	// aggregated per identity first) and must reach the same row.
	run(t, st, opts(c), true)
	require.Equal(t, want, rows(t, st, q, id, t0.Add(-50*d), t0.Add(-h), t0.Add(-h), t0.Add(-2*h)), "full rebuild")

	// Eight days later, with nothing new: the windows moved, the run refreshes them.
	c.now = t0.Add(8 * d)
	res := run(t, st, opts(c), false)
	require.Equal(t, 0, res.IdentitiesTouched)
	require.Equal(t, 2, res.ContactsUpdated, "both contacts had messages leave the windows")
	require.Equal(t, []string{"0\t8\t0\t5"}, rows(t, st,
		`SELECT messages_7d, messages_30d, customer_messages_7d, customer_messages_30d FROM contact_facts WHERE contact_id = $1`, id))
	cs, err := st.ContactsForPush(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Equal(t, 11, cs[0].Facts.MessagesTotal)
	require.Equal(t, 8, cs[0].Facts.Messages30d)
	require.Equal(t, 6, cs[0].Facts.CustomerMessagesTotal)
	require.Equal(t, 3, cs[0].Facts.AgentMessagesTotal)
	require.Equal(t, 2, cs[0].Facts.BotMessagesTotal)
	require.Equal(t, []string{"facebook/fb", "line/ch1"}, cs[0].Facts.Channels)
	require.True(t, cs[0].Facts.LastAgentMessageAt.Equal(t0.Add(-2*h)))
}

// A contact whose only change is that messages left (or entered) the 7- and
// 30-day windows gets its facts recomputed alone and its content hash from
// its stored record: the attributes and tags it has stay as they are, and a
// full rebuild afterwards finds nothing to change (the same hash). A record
// written before migration 00025 (no identities_hash) is recomputed whole.
func TestRun_windowOnlyContactsKeepTheirHash(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	d := 24 * time.Hour
	var s seed
	s.contact(rawContact{User: "a", Name: "สมชาย", MemberID: "M1", Tags: []string{"vip", "ลูกค้าใหม่"},
		Attrs:     []attr{{Key: "tier", Value: "gold", Type: "text", DisplayName: "Tier"}, {Key: "points", Value: 10, Type: "number"}},
		UpdatedAt: t0.Add(-3 * time.Hour)})
	s.contact(rawContact{User: "b", Platform: "facebook", Channel: "fb", Name: "Anna", MemberID: "M1", Tags: []string{"🔥hot"},
		Attrs: []attr{{Key: "points", Value: "2026-01-01", Type: "date", DisplayName: "Points date"}}, UpdatedAt: t0.Add(-time.Hour)})
	s.contact(rawContact{User: "c", Name: "Nok", Attrs: []attr{{Key: "tier", Value: "silver", Type: "text"}}})
	s.contact(rawContact{User: "quiet", Name: "No messages"})
	s.tagLog(rawTagLog{User: "a", Tag: "vip", Source: "agent", At: t0.Add(-24 * time.Hour)})
	for i, m := range []rawMessage{
		{User: "a", SenderType: "customer", SentAt: t0.Add(-2 * d)},
		{User: "a", SenderType: "agent", SentAt: t0.Add(-20 * d)},
		{Platform: "facebook", Channel: "fb", User: "b", SenderType: "bot", SentAt: t0.Add(-6 * d)},
		{User: "c", SenderType: "customer", SentAt: t0.Add(-5 * d)},
	} {
		m.ID = formatInt(int64(i))
		s.message(m)
	}
	s.apply(t, st)
	c := &clock{t0}
	run(t, st, opts(c), false)
	a, cc := contactOf(t, st, "line/ch1/a"), contactOf(t, st, "line/ch1/c")
	profile := func() []string {
		return append(append(rows(t, st, `SELECT * FROM contact_attributes ORDER BY contact_id, key`),
			rows(t, st, `SELECT * FROM contact_tags ORDER BY contact_id, tag`)...),
			rows(t, st, `SELECT id, name, email, phone, member_id, identities, identities_hash FROM contacts ORDER BY id`)...)
	}
	before := profile()
	require.Equal(t, []string{"3\t0"}, rows(t, st, `SELECT count(*), count(*) FILTER (WHERE identities_hash IS NULL) FROM contacts`),
		"every record written has its identities_hash")

	// Eight days on, nothing queued: a's and b's contact and c's had messages
	// leave the 7-day window.
	c.now = t0.Add(8 * d)
	res := run(t, st, opts(c), false)
	require.Equal(t, 0, res.IdentitiesTouched)
	require.Equal(t, 2, res.ContactsFactsOnly)
	require.Equal(t, 2, res.ContactsRecomputed)
	require.Equal(t, 2, res.ContactsUpdated)
	require.Equal(t, []string{"0\t3", "0\t1"}, rows(t, st,
		`SELECT messages_7d, messages_30d FROM contact_facts WHERE contact_id IN ($1, $2) ORDER BY contact_id`, a, cc))
	require.Equal(t, before, profile(), "fields, attributes and tags stay")
	kept := snapshot(t, st)
	full := run(t, st, opts(c), true)
	require.Equal(t, 0, full.ContactsUpdated, "a full rebuild computes the same hashes")
	require.Equal(t, kept, snapshot(t, st))

	// A record from before migration 00025 is recomputed whole, once.
	_, err := st.SQL().ExecContext(t.Context(), `UPDATE contacts SET identities_hash = NULL WHERE id = $1`, cc)
	require.NoError(t, err)
	c.now = t0.Add(40 * d)
	res = run(t, st, opts(c), false)
	require.Equal(t, 1, res.ContactsFactsOnly, "a's contact")
	require.Equal(t, 2, res.ContactsRecomputed)
	require.Equal(t, 2, res.ContactsUpdated)
	require.Equal(t, []string{"0\t0", "0\t0"}, rows(t, st,
		`SELECT messages_7d, messages_30d FROM contact_facts WHERE contact_id IN ($1, $2) ORDER BY contact_id`, a, cc))
	require.Equal(t, []string{"true"}, rows(t, st, `SELECT identities_hash IS NOT NULL FROM contacts WHERE id = $1`, cc))
	kept = snapshot(t, st)
	full = run(t, st, opts(c), true)
	require.Equal(t, 0, full.ContactsUpdated)
	require.Equal(t, kept, snapshot(t, st))
}

func TestRun_overrides(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", Name: "Somchai", Email: "s@example.com",
		Attrs: []attr{{Key: "tier", Value: "gold", Type: "text", DisplayName: "Tier"}}})
	s.contact(rawContact{User: "b", Name: "Bee"})
	s.apply(t, st)
	c := &clock{t0}
	run(t, st, opts(c), false)
	a, b := contactOf(t, st, "line/ch1/a"), contactOf(t, st, "line/ch1/b")

	s.override(a, "pin", "name", "Somchai J.")
	s.override(a, "pin", "name", "Somchai Jaidee") // the latest pin wins
	s.override(a, "pin", "attribute:tier", "platinum")
	s.override(a, "pin", "attribute:segment", "b2b")
	s.override(b, "exclude_from_push", "", "")
	s.apply(t, st)
	c.now = t0.Add(time.Hour)
	res := run(t, st, opts(c), false)
	require.Equal(t, 2, res.ContactsUpdated)
	require.Equal(t, []string{"Somchai Jaidee\ts@example.com\t{attribute:segment,attribute:tier,name}\tfalse"},
		rows(t, st, `SELECT name, email, pinned_fields, excluded_from_push FROM contacts WHERE id = $1`, a))
	require.Equal(t, []string{"segment\tb2b\ttext", "tier\tplatinum\ttext"},
		rows(t, st, `SELECT key, value, type FROM contact_attributes WHERE contact_id = $1 ORDER BY key`, a))

	cs, err := st.ContactsForPush(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Len(t, cs, 1, "excluded contacts are not pushed")
	require.Equal(t, a, int64(cs[0].ID))
	ex, err := st.ExcludedContactIDs(t.Context())
	require.NoError(t, err)
	require.Len(t, ex, 1)
	require.Equal(t, b, int64(ex[0]))

	// Deleting the overrides undoes them on the next run.
	_, err = st.SQL().ExecContext(t.Context(), `DELETE FROM contact_overrides`)
	require.NoError(t, err)
	c.now = t0.Add(2 * time.Hour)
	run(t, st, opts(c), false)
	require.Equal(t, []string{"Somchai\t{}\tfalse"}, rows(t, st, `SELECT name, pinned_fields, excluded_from_push FROM contacts WHERE id = $1`, a))
	require.Equal(t, []string{"false"}, rows(t, st, `SELECT excluded_from_push FROM contacts WHERE id = $1`, b))
	require.Equal(t, []string{"tier\tgold"}, rows(t, st, `SELECT key, value FROM contact_attributes WHERE contact_id = $1`, a))
}

func TestRun_secondRunChangesNothing(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", Name: "A", Phone: "0811111111", Tags: []string{"x"}})
	s.contact(rawContact{User: "b", Name: "B", Phone: "0811111111"})
	s.message(rawMessage{ID: "1", User: "a", SentAt: t0.Add(-time.Hour)})
	s.apply(t, st)
	c := &clock{t0}
	run(t, st, opts(c), false)
	before := snapshot(t, st)

	c.now = t0.Add(time.Minute)
	res := run(t, st, opts(c), false)
	require.Equal(t, 0, res.ContactsUpdated)
	res = run(t, st, opts(c), true)
	require.True(t, res.Full)
	require.Equal(t, 0, res.ContactsUpdated)
	require.Equal(t, before, snapshot(t, st))

	// A re-pulled row that did not change queues the identity but changes nothing.
	s.contact(rawContact{User: "a", Name: "A", Phone: "0811111111", Tags: []string{"x"}})
	s.apply(t, st)
	res = run(t, st, opts(c), false)
	require.Equal(t, 2, res.IdentitiesTouched)
	require.Equal(t, 0, res.ContactsUpdated)
	require.Equal(t, before, snapshot(t, st))
}

func TestRun_settingsChangeForcesFull(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", Email: "x@example.com"})
	s.contact(rawContact{User: "b", Email: "x@example.com"})
	s.apply(t, st)
	c := &clock{t0}
	run(t, st, opts(c), false)
	a := contactOf(t, st, "line/ch1/a")
	require.Equal(t, a, contactOf(t, st, "line/ch1/b"))

	o := opts(c)
	o.LinkKeys = []string{reconcile.KeyPhone}
	res := run(t, st, o, false)
	require.True(t, res.Full)
	require.Equal(t, a, contactOf(t, st, "line/ch1/a"))
	require.NotEqual(t, a, contactOf(t, st, "line/ch1/b"))
}

func TestRun_concurrentRunsTakeTurns(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	for i := range 50 {
		s.contact(rawContact{User: formatInt(int64(i)), Phone: "08111111" + twoDigits(i%10)})
	}
	s.apply(t, st)
	c := &clock{t0}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = reconcile.Run(t.Context(), st, opts(c), i%2 == 0)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, []string{"10\t50"}, rows(t, st,
		`SELECT count(DISTINCT contact_id), count(*) FROM contact_identities`))
	require.Equal(t, []string{"10"}, rows(t, st, `SELECT count(*) FROM contacts`))
}

func TestRun_rejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		give    reconcile.Options
		wantErr string
	}{
		{"UnknownKey", reconcile.Options{LinkKeys: []string{"fax"}}, `unknown link key "fax"`},
		{"LowCeiling", reconcile.Options{SharedKeyCeiling: 1}, "at least 2"},
		{"UnknownRegion", reconcile.Options{DefaultRegion: "XX"}, `unknown phone region "XX"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := reconcile.Run(t.Context(), (*store.Store)(nil), tt.give, false)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func formatInt(i int64) string { return strconv.FormatInt(i, 10) }

func twoDigits(i int) string {
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}

func TestRun_failureLeavesStateAndQueue(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	var s seed
	s.contact(rawContact{User: "a", Name: "A", Phone: "0811111111"})
	s.apply(t, st)
	c := &clock{t0}
	run(t, st, opts(c), false)
	before := snapshot(t, st)

	// A run that fails after writing identities and links, just before the
	// end (the facts insert), must leave no trace, and its queue in place.
	s.contact(rawContact{User: "b", Name: "B", Phone: "0811111111"})
	s.apply(t, st)
	_, err := st.SQL().ExecContext(t.Context(), `
		CREATE FUNCTION fail_facts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$;
		CREATE TRIGGER fail_facts BEFORE INSERT OR UPDATE ON contact_facts FOR EACH ROW EXECUTE FUNCTION fail_facts()`)
	require.NoError(t, err)
	c.now = t0.Add(time.Hour)
	_, err = reconcile.Run(t.Context(), st, opts(c), false)
	require.ErrorContains(t, err, "disk on fire")
	after := snapshot(t, st)
	require.Equal(t, []string{"line\tch1\tb"}, after["reconcile_queue"])
	after["reconcile_queue"] = before["reconcile_queue"]
	require.Equal(t, before, after)

	_, err = st.SQL().ExecContext(t.Context(), `DROP TRIGGER fail_facts ON contact_facts`)
	require.NoError(t, err)
	res := run(t, st, opts(c), false)
	require.Equal(t, 1, res.NewIdentities)
	require.Equal(t, contactOf(t, st, "line/ch1/a"), contactOf(t, st, "line/ch1/b"))
	require.Empty(t, rows(t, st, `SELECT * FROM reconcile_queue`))
}

func TestRun_expansionLimitFallsBackToEverything(t *testing.T) {
	t.Parallel()
	var s seed
	// A chain a–b–c–d–e, one key per link.
	s.contact(rawContact{User: "a", Phone: "0811111111"})
	s.contact(rawContact{User: "b", Phone: "0811111111", Email: "b@example.com"})
	s.contact(rawContact{User: "c", Email: "b@example.com", MemberID: "M1"})
	s.contact(rawContact{User: "d", MemberID: "M1", Phone: "0822222222"})
	s.contact(rawContact{User: "e", Phone: "0822222222"})
	s.contact(rawContact{User: "f", Email: "f@example.com"})
	s.contact(rawContact{User: "g", Email: "g@example.com"})
	limited, unlimited := storetest.New(t), storetest.New(t)
	s.apply(t, limited, unlimited)
	c := &clock{t0}
	lo := opts(c)
	lo.MaxExpandRounds = 1
	run(t, limited, lo, false)
	run(t, unlimited, opts(c), false)

	// f joins the far end of the chain; the limited run cannot see the whole
	// contact in one round and relinks everything instead.
	s.contact(rawContact{User: "f", Email: "f@example.com", Phone: "0822222222", UpdatedAt: t0})
	s.apply(t, limited, unlimited)
	c.now = t0.Add(time.Hour)
	res := run(t, limited, lo, false)
	require.Equal(t, 7, res.IdentitiesTouched, "fell back to every identity")
	res = run(t, unlimited, opts(c), false)
	require.Equal(t, 6, res.IdentitiesTouched, "the whole chain, not g")
	require.Equal(t, snapshot(t, unlimited), snapshot(t, limited))
	require.Equal(t, contactOf(t, limited, "line/ch1/a"), contactOf(t, limited, "line/ch1/f"))
}
