package push_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/oho/ohotest"
	"crmsync/contact"
	"crmsync/mapping"
	"crmsync/store"
	"crmsync/sync/push"
)

// fbKey returns the fake's key of a Facebook user of the test page.
func fbKey(user string) ohotest.Key {
	return ohotest.Key{Platform: "facebook", PlatformID: fbPage, UserID: user}
}

// asAgent edits a contact in the fake as a person working in Oho would.
func asAgent(t *testing.T, b *bundle, k ohotest.Key, edit func(c *ohotest.Contact)) {
	t.Helper()
	require.True(t, b.oho.Edit(k, edit), "no contact %s in Oho", k)
}

// mergeOptions sends labels from "label:*" tags and the "tier" attribute,
// so every list Oho replaces whole is in play.
func mergeOptions(rule mapping.ConflictRule) mapping.Options {
	return mapping.Options{
		TagPriority: []string{"VIP*", "label:VIP"},
		Oho: mapping.OhoOptions{
			OnConflict: rule,
			Attributes: []mapping.AttributeRule{{From: "attr:tier", DisplayName: "tier"}},
			Tags:       mapping.TagRules{Exclude: []string{"label:*"}},
			Labels:     []mapping.LabelRule{{Pattern: "label:*"}},
		},
	}
}

// Items added in Oho (tags, labels, attributes) survive any number of
// pushes that change the same lists; items crmsync added and no longer
// wants are removed; each changed push costs a GET and a PATCH.
func TestRun_Oho_itemsAddedInOhoSurviveEveryPush(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{mapping: mergeOptions("")})
	ids := seedContacts(t, b.st, seedContact{Name: "Anan", Identities: []contact.Identity{fbID("u1")},
		Tags: []string{"a", "label:new"}, Attrs: map[string]string{"tier": "gold"}})
	_, err := b.run(t)
	require.NoError(t, err)

	asAgent(t, b, fbKey("u1"), func(c *ohotest.Contact) {
		c.Tags = append(c.Tags, "agent pick")
		c.Labels = append(c.Labels, "team a")
		c.Attributes = append(c.Attributes, ohotest.Attribute{DisplayName: "note", Value: ohotest.AttributeValue{Text: "call after 6pm"}})
	})

	steps := []struct {
		tags       []string
		tier       string
		wantTags   []string
		wantLabels []string
	}{
		{tags: []string{"a", "b", "label:new"}, tier: "gold", wantTags: []string{"a", "agent pick", "b"}, wantLabels: []string{"label:new", "team a"}},
		{tags: []string{"b"}, tier: "platinum", wantTags: []string{"agent pick", "b"}, wantLabels: []string{"team a"}},
		{tags: []string{"b", "c", "label:x"}, tier: "platinum", wantTags: []string{"agent pick", "b", "c"}, wantLabels: []string{"label:x", "team a"}},
		{tags: nil, tier: "", wantTags: []string{"agent pick"}, wantLabels: []string{"team a"}},
	}
	for i, st := range steps {
		at := t0.Add(time.Duration(i+1) * time.Minute)
		setTags(t, b.st, ids[0], at, st.tags...)
		exec(t, b.st, `DELETE FROM contact_attributes WHERE contact_id = $1`, int64(ids[0]))
		if st.tier != "" {
			exec(t, b.st, `INSERT INTO contact_attributes (contact_id, key, value, display_name) VALUES ($1, 'tier', $2, 'tier')`, int64(ids[0]), st.tier)
		}
		before := len(b.oho.Requests())
		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 1, res.Updated, "push %d", i+1)
		require.Equal(t, []string{"GET", "PATCH"}, methods(b.oho)[before:], "push %d: at most 2 requests", i+1)

		got, _ := b.oho.Contact(fbKey("u1"))
		require.Equal(t, st.wantTags, got.Tags, "push %d", i+1)
		require.Equal(t, st.wantLabels, got.Labels, "push %d", i+1)
		wantAttrs := []ohotest.Attribute{}
		if st.tier != "" {
			wantAttrs = append(wantAttrs, ohotest.Attribute{DisplayName: "tier", Value: ohotest.AttributeValue{Text: st.tier}})
		}
		wantAttrs = append(wantAttrs, ohotest.Attribute{DisplayName: "note", Value: ohotest.AttributeValue{Text: "call after 6pm"}})
		require.Equal(t, wantAttrs, got.Attributes, "push %d: the attribute added in Oho stays, crmsync's follows its value", i+1)
	}
	require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_conflicts`), "no field was edited on both sides")

	t.Run("UnchangedContactSendsNothingAtAll", func(t *testing.T) {
		before := len(b.oho.Requests())
		res, err := b.run(t, func(o *push.Options) { o.Full = true })
		require.NoError(t, err)
		require.Equal(t, 1, res.Unchanged)
		require.Len(t, b.oho.Requests(), before, "not even a GET")
	})
}

// On the 409 path (Oho holds the contact already) everything set in Oho is
// kept, then, and on every later push.
func TestRun_Oho_itemsSetInOhoSurviveThe409Path(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{mapping: mergeOptions("")})
	b.oho.Seed(ohotest.Contact{
		SocialProfile:     ohotest.SocialProfile{Platform: "facebook", ID: "u1", PlatformID: fbPage, PlatformName: fbPageName},
		ProfilePictureURL: "https://x.example/p.png", PlatformDisplayName: "Anan", DisplayName: "Anan", FirstName: "Anan",
		Gender: "not_say", Tags: []string{"agent pick"}, Labels: []string{"team a"},
		Attributes: []ohotest.Attribute{{DisplayName: "note", Value: ohotest.AttributeValue{Text: "call after 6pm"}}},
	})
	ids := seedContacts(t, b.st, seedContact{Name: "Anan", Identities: []contact.Identity{fbID("u1")}, Tags: []string{"a", "label:x"},
		Attrs: map[string]string{"tier": "gold"}})

	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Equal(t, []string{"POST", "GET", "PATCH"}, methods(b.oho))
	got, _ := b.oho.Contact(fbKey("u1"))
	require.Equal(t, []string{"a", "agent pick"}, got.Tags)
	require.Equal(t, []string{"label:x", "team a"}, got.Labels)
	require.Equal(t, []ohotest.Attribute{{DisplayName: "note", Value: ohotest.AttributeValue{Text: "call after 6pm"}},
		{DisplayName: "tier", Value: ohotest.AttributeValue{Text: "gold"}}}, got.Attributes)
	require.Zero(t, res.Conflicts, "Oho held the same names")

	setTags(t, b.st, ids[0], t0.Add(time.Minute), "b")
	_, err = b.run(t)
	require.NoError(t, err)
	got, _ = b.oho.Contact(fbKey("u1"))
	require.Equal(t, []string{"agent pick", "b"}, got.Tags, "crmsync's a is removed, the tag set in Oho stays")
	require.Equal(t, []string{"team a"}, got.Labels)
}

// Oho's caps apply to the merged list: items set in Oho come first, then
// crmsync's by tag_priority; every item left out is an adjustment.
func TestRun_Oho_capsHoldOnTheMergedList(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{mapping: mergeOptions("")})
	ids := seedContacts(t, b.st, seedContact{Name: "Anan", Identities: []contact.Identity{fbID("u1")}, Tags: []string{"a"}})
	_, err := b.run(t)
	require.NoError(t, err)
	var agentTags, agentLabels []string
	for i := range 18 {
		agentTags = append(agentTags, "agent "+string(rune('a'+i)))
	}
	for i := range 9 {
		agentLabels = append(agentLabels, "team "+string(rune('a'+i)))
	}
	asAgent(t, b, fbKey("u1"), func(c *ohotest.Contact) {
		c.Tags = append(c.Tags, agentTags...)
		c.Labels = append(c.Labels, agentLabels...)
	})

	setTags(t, b.st, ids[0], t0.Add(time.Minute), "a", "b", "c", "VIP gold", "label:1", "label:2", "label:VIP")
	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Updated)
	for _, r := range b.oho.Requests() {
		require.Less(t, r.Status, 300, "refused: %s", r.Reason)
	}
	got, _ := b.oho.Contact(fbKey("u1"))
	require.Len(t, got.Tags, 20)
	require.Subset(t, got.Tags, agentTags, "items set in Oho come first")
	require.Contains(t, got.Tags, "VIP gold", "then crmsync's by tag_priority")
	require.Len(t, got.Labels, 10)
	require.Subset(t, got.Labels, agentLabels)
	require.Contains(t, got.Labels, "label:VIP")

	var dropped []string
	rows, err := b.st.SQL().QueryContext(t.Context(), `SELECT field || ' ' || before FROM v_push_adjustments
		WHERE kind = 'dropped' AND reason LIKE 'Oho keeps at most % set in Oho come first;%' ORDER BY 1`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		dropped = append(dropped, s)
	}
	require.NoError(t, rows.Err())
	require.Len(t, dropped, 2+2, "two tags and two labels left out, each recorded: %v", dropped)

	t.Run("LeftOutItemIsSentOnceThereIsRoom", func(t *testing.T) {
		asAgent(t, b, fbKey("u1"), func(c *ohotest.Contact) {
			c.Tags = slices.DeleteFunc(c.Tags, func(s string) bool { return strings.HasPrefix(s, "agent") })
		})
		setTags(t, b.st, ids[0], t0.Add(2*time.Minute), "a", "b", "c", "VIP gold", "label:1", "label:2", "label:VIP", "d")
		_, err := b.run(t)
		require.NoError(t, err)
		got, _ := b.oho.Contact(fbKey("u1"))
		require.Equal(t, []string{"VIP gold", "a", "b", "c", "d"}, got.Tags, "a cap drop is not mistaken for a removal in Oho")
	})
}

// A field edited in Oho whose crmsync value changed too is decided by
// mapping.oho.on_conflict, and recorded either way.
func TestRun_Oho_onConflict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule           mapping.ConflictRule
		wantEmail      string
		wantResolution string
		wantRule       string
		wantMethods    []string
	}{
		{rule: "", wantEmail: "new@example.com", wantResolution: store.ConflictOverwroteDestination, wantRule: store.ConflictRuleSource,
			wantMethods: []string{"GET", "PATCH"}},
		{rule: mapping.ConflictSource, wantEmail: "new@example.com", wantResolution: store.ConflictOverwroteDestination,
			wantRule: store.ConflictRuleSource, wantMethods: []string{"GET", "PATCH"}},
		{rule: mapping.ConflictDestination, wantEmail: "agent@shop.example", wantResolution: store.ConflictKeptDestination,
			wantRule: store.ConflictRuleDestination, wantMethods: []string{"GET"}},
	}
	for _, tt := range tests {
		t.Run("Rule"+string(tt.rule), func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOptions{mapping: mergeOptions(tt.rule)})
			ids := seedContacts(t, b.st, seedContact{Name: "Anan", Email: "old@example.com", Identities: []contact.Identity{fbID("u1")}})
			_, err := b.run(t, func(o *push.Options) { o.RunID = 0 })
			require.NoError(t, err)
			asAgent(t, b, fbKey("u1"), func(c *ohotest.Contact) { c.Email = "agent@shop.example" })

			exec(t, b.st, `UPDATE contacts SET email = 'new@example.com', updated_at = $1 WHERE id = $2`, t0.Add(time.Minute), int64(ids[0]))
			before := len(b.oho.Requests())
			res, err := b.run(t)
			require.NoError(t, err)
			require.Equal(t, tt.wantMethods, methods(b.oho)[before:])
			require.Equal(t, 1, res.Conflicts)
			got, _ := b.oho.Contact(fbKey("u1"))
			require.Equal(t, tt.wantEmail, got.Email)

			var there, want, last, resolution, rule, name string
			require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `
				SELECT destination_value, crmsync_value, last_pushed_value, resolution, rule, name
				FROM v_push_conflicts WHERE destination = 'oho' AND contact_id = $1 AND field = 'email'`, int64(ids[0])).
				Scan(&there, &want, &last, &resolution, &rule, &name))
			require.Equal(t, []string{"agent@shop.example", "new@example.com", "old@example.com", tt.wantResolution, tt.wantRule, "Anan"},
				[]string{there, want, last, resolution, rule, name})

			// Nothing changed since: nothing is sent, and the conflict is not met again.
			res, err = b.run(t, func(o *push.Options) { o.Full = true })
			require.NoError(t, err)
			require.Equal(t, 1, res.Unchanged)
			require.Equal(t, 1, count(t, b.st, `SELECT times_seen FROM push_conflicts`))
		})
	}
}

// crmsync never overwrites an Oho edit of a field whose crmsync value did
// not change, whatever the rule.
func TestRun_Oho_ohoEditOfAnUnchangedFieldIsNeverOverwritten(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{mapping: mergeOptions(mapping.ConflictSource)})
	ids := seedContacts(t, b.st, seedContact{Name: "Anan", Email: "anan@example.com", Phone: "+66812345678",
		Identities: []contact.Identity{fbID("u1")}, Tags: []string{"a"}})
	_, err := b.run(t)
	require.NoError(t, err)
	asAgent(t, b, fbKey("u1"), func(c *ohotest.Contact) {
		c.DisplayName, c.FirstName, c.LastName, c.Email, c.Phone, c.Gender = "คุณอนันต์", "อนันต์", "Jaidee", "agent@shop.example", "0899999999", "male"
	})
	setTags(t, b.st, ids[0], t0.Add(time.Minute), "a", "b")

	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Updated)
	patches := b.sent.bodies("PATCH")
	require.Len(t, patches, 1)
	_, body, _ := strings.Cut(patches[0], " {")
	var sent map[string]any
	require.NoError(t, json.Unmarshal([]byte("{"+body), &sent))
	require.Equal(t, map[string]any{"tags": []any{"a", "b"}}, sent, "only what crmsync changed")
	got, _ := b.oho.Contact(fbKey("u1"))
	require.Equal(t, []string{"คุณอนันต์", "อนันต์", "Jaidee", "agent@shop.example", "0899999999", "male"},
		[]string{got.DisplayName, got.FirstName, got.LastName, got.Email, got.Phone, got.Gender})
	require.Zero(t, res.Conflicts)
	require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_conflicts`))
}

// A found contact that cannot be read sends nothing, is recorded, and does
// not repeat: no failure counted toward MaxFailures, no POST → 409 → GET
// loop on later runs.
func TestRun_Oho_unreadableFoundContactSendsNothingAndDoesNotLoop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		existing    bool // crmsync pushed it before (update path); else Oho holds it already (409 path)
		wantMethods []string
	}{
		{name: "UpdatePath", existing: true, wantMethods: []string{"GET"}},
		{name: "ConflictPath", wantMethods: []string{"POST", "GET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOptions{})
			var cs []seedContact
			for _, u := range []string{"u1", "u2", "u3"} {
				cs = append(cs, seedContact{Name: "Anan " + u, Identities: []contact.Identity{fbID(u)}, Tags: []string{"a"}})
			}
			ids := seedContacts(t, b.st, cs...)
			if tt.existing {
				_, err := b.run(t)
				require.NoError(t, err)
				for _, id := range ids {
					setTags(t, b.st, id, t0.Add(time.Minute), "a", "b")
				}
			} else {
				for _, u := range []string{"u1", "u2", "u3"} {
					b.oho.Seed(ohotest.Contact{SocialProfile: ohotest.SocialProfile{Platform: "facebook", ID: u, PlatformID: fbPage, PlatformName: fbPageName}})
				}
			}
			for _, u := range []string{"u1", "u2", "u3"} {
				b.oho.SetFound(fbKey(u), json.RawMessage(`{"social_profile": {"platform": "facebook"}, "tags": [{"id": 1, "colour": "red"}]}`))
			}
			stored := map[string]ohotest.Contact{}
			for _, u := range []string{"u1", "u2", "u3"} {
				stored[u], _ = b.oho.Contact(fbKey(u))
			}
			before := len(b.oho.Requests())

			res, err := b.run(t, func(o *push.Options) { o.MaxFailures, o.Concurrency = 1, 1 })
			require.NoError(t, err, "not a failure: the run goes on")
			require.Equal(t, 3, res.Rejected)
			require.Zero(t, res.Failed)
			var want []string
			for range 3 {
				want = append(want, tt.wantMethods...)
			}
			require.Equal(t, want, methods(b.oho)[before:], "nothing sent: no PATCH")
			for u, c := range stored {
				got, _ := b.oho.Contact(fbKey(u))
				require.Equal(t, c, got, "Oho's contact is untouched")
			}
			var field, reason string
			var status int
			require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `SELECT field, reason, http_status FROM push_rejections
				WHERE contact_id = $1`, int64(ids[0])).Scan(&field, &reason, &status))
			require.Equal(t, "(found contact).tags[0]", field)
			require.Contains(t, reason, "Oho's contact (GET) could not be read: neither a string nor an object with a name")
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, 3, count(t, b.st, `SELECT count(*) FROM v_push_status WHERE destination = 'oho' AND state = 'rejected'`))

			before = len(b.oho.Requests())
			res, err = b.run(t, func(o *push.Options) { o.Full = true })
			require.NoError(t, err)
			require.Equal(t, 3, res.Skipped, "the same payload is not tried again")
			require.Len(t, b.oho.Requests(), before, "no request at all")
		})
	}
}

// Oho documents only national digits: a foreign number is left out by
// default, dialled from the region on request, and the fake refuses any
// other form.
func TestRun_Oho_phoneFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		foreign      string
		prefix       string
		give         string
		wantPhone    string
		wantRejected bool
	}{
		{name: "RegionNumberNationalDigits", give: "+66812345678", wantPhone: "0812345678"},
		{name: "ForeignDroppedByDefault", give: "+886966633355", wantPhone: ""},
		{name: "ForeignDialledFromTheRegion", foreign: "dial", prefix: "001", give: "+886966633355", wantPhone: "001886966633355"},
		{name: "ForeignE164IsRefusedByADocumentedOho", foreign: "e164", give: "+886966633355", wantRejected: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOptions{mapping: mapping.Options{Oho: mapping.OhoOptions{ForeignPhone: tt.foreign, DialPrefix: tt.prefix}}})
			seedContacts(t, b.st, seedContact{Name: "Mei", Phone: tt.give, Identities: []contact.Identity{fbID("u1")}})
			res, err := b.run(t)
			require.NoError(t, err)
			if tt.wantRejected {
				require.Equal(t, 1, res.Rejected)
				require.Equal(t, http.StatusBadRequest, b.oho.Requests()[0].Status)
				require.Contains(t, b.oho.Requests()[0].Reason, "phone must be written as")
				return
			}
			require.Equal(t, 1, res.Created)
			got, _ := b.oho.Contact(fbKey("u1"))
			require.Equal(t, tt.wantPhone, got.Phone)
			if tt.wantPhone == "" {
				require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM v_push_adjustments WHERE field = 'phone' AND kind = 'dropped'
					AND before = $1`, tt.give), "the drop is recorded")
			}
		})
	}
}

// The fake counts UTF-16 units; mapping holds the stricter count, so a name
// of astral letters (each one code point, two units) is cut to fit and
// accepted.
func TestRun_Oho_astralNameFitsBothCounts(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	seedContacts(t, b.st, seedContact{Name: strings.Repeat("𝒇", 60), Identities: []contact.Identity{fbID("u1")}})
	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created, "refused: %+v", b.oho.Requests())
	got, _ := b.oho.Contact(fbKey("u1"))
	require.Equal(t, strings.Repeat("𝒇", 50), got.FirstName, "60 code points fit 100, 120 UTF-16 units do not")
	require.Equal(t, strings.Repeat("𝒇", 60), got.DisplayName, "120 units fit 255")
}
