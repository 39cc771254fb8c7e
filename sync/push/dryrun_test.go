package push_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/lineapi/lineapitest"
	"crmsync/clients/oho/ohotest"
	"crmsync/contact"
	"crmsync/mapping"
	"crmsync/store"
	"crmsync/sync/push"
)

// pushTables returns a fingerprint of every push table's content.
func pushTables(t *testing.T, st *store.Store) string {
	t.Helper()
	var s string
	require.NoError(t, st.SQL().QueryRowContext(t.Context(), `
		SELECT concat_ws('|',
		  (SELECT string_agg(target_key || payload_hash || pushed_at::text || contact_id::text, ',' ORDER BY target_key) FROM push_state),
		  (SELECT string_agg(id::text || times_seen::text || last_seen_at::text, ',' ORDER BY id) FROM push_rejections),
		  (SELECT string_agg(contact_id::text || checked_at::text || contact_updated_at::text, ',' ORDER BY contact_id) FROM push_contacts))`).Scan(&s))
	return s
}

func TestRun_Oho_dryRunSendsNothingAndWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	b.line.AddProfile(lineToken, lineapitest.Profile{UserID: lineUser(5), DisplayName: "Mali", PictureURL: "https://profile.line-scdn.net/m"})
	ids := seedContacts(t, b.st, seedContact{Name: "Old Name", Identities: []contact.Identity{fbID("u1")}, Tags: []string{"a"}})
	_, err := b.run(t)
	require.NoError(t, err)

	rename(t, b.st, ids[0], "New Name", t0.Add(time.Minute))
	seedContacts(t, b.st,
		seedContact{Name: "Mali", Identities: []contact.Identity{lineID(5)}},
		seedContact{Name: strings.Repeat("x", 300), Identities: []contact.Identity{fbID("u3")}},
		seedContact{Name: "No token", Identities: []contact.Identity{{Platform: contact.LINE, ChannelID: "42", UserID: lineUser(6)}}},
	)
	ohoBefore := len(b.oho.Requests())
	tablesBefore := pushTables(t, b.st)

	var out bytes.Buffer
	var reports []push.ContactReport
	res, err := b.run(t, func(o *push.Options) {
		o.DryRun = true
		o.ReportFunc = func(r push.ContactReport) {
			reports = append(reports, r)
			require.NoError(t, push.WriteReport(&out, r))
		}
	})
	require.NoError(t, err)
	require.NoError(t, push.WriteSummary(&out, res, true))

	require.Equal(t, []string{"GET"}, methods(b.oho)[ohoBefore:], "a dry run only reads Oho: the GET the update is merged with")
	require.Equal(t, tablesBefore, pushTables(t, b.st), "a dry run writes nothing")
	require.Equal(t, 1, res.Requests)
	require.Equal(t, 4, res.Contacts)
	require.Equal(t, 1, res.Updated)
	require.Equal(t, 2, res.Created)
	require.Equal(t, 1, res.Rejected)
	require.Len(t, reports, 4)
	for i := 1; i < len(reports); i++ {
		require.Less(t, reports[i-1].ContactID, reports[i].ContactID, "reports come in id order")
	}

	text := out.String()
	for _, want := range []string{
		"contact " + itoa(int64(ids[0])) + "\n  facebook/" + fbPage + "/u1 update\n",
		`    display_name: "Old Name" → "New Name"`,
		"  line/" + botUserID + "/" + lineUser(5) + " create\n",
		`    profile_picture_url: "" → "https://profile.line-scdn.net/m"`,
		`    adjusted display_name (truncated): "xxx`,
		`…" (300 characters) → "xxx`,
		"  line/42/" + lineUser(6) + " rejected\n    rejected social_profile.platform_id: no LINE token for channel 42",
		"oho dry run (nothing sent, nothing written): 4 contacts, 4 targets: 2 create, 1 update",
		"adjustments by reason:",
		"rejections by reason:\n       1  no LINE token for channel 42",
	} {
		require.Contains(t, text, want)
	}

	t.Run("LimitCapsTheContacts", func(t *testing.T) {
		res, err := b.run(t, func(o *push.Options) { o.DryRun, o.Limit = true, 2 })
		require.NoError(t, err)
		require.Equal(t, 2, res.Contacts)
	})
	t.Run("ThenTheRealRunDoesIt", func(t *testing.T) {
		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 1, res.Updated)
		require.Equal(t, 2, res.Created)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// What push --dry-run shows for a contact with a tag set in Oho and a field
// edited there that crmsync changed too: the fields the PATCH would write
// (old is what Oho holds), the conflict and what on_conflict does, and what
// Oho holds that stays. It reads Oho (one GET) and writes nothing.
func TestRun_Oho_dryRunShowsTheMergeWithWhatOhoHolds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule mapping.ConflictRule
		want string
	}{
		{rule: mapping.ConflictSource, want: `  facebook/105000000000001/u1 update
    email: "agent@shop.example" → "somchai.j@example.com"
    tags: "[agent pick, vip]" → "[agent pick, gold, vip]"
    conflict email: Oho has "agent@shop.example" (edited there; crmsync last pushed "somchai@example.com"), crmsync now "somchai.j@example.com": crmsync's value sent (on_conflict: source)
    kept last_name "Jaidee": edited in Oho; crmsync's value did not change
    kept tags "agent pick": added in Oho
`},
		{rule: mapping.ConflictDestination, want: `  facebook/105000000000001/u1 update
    tags: "[agent pick, vip]" → "[agent pick, gold, vip]"
    conflict email: Oho has "agent@shop.example" (edited there; crmsync last pushed "somchai@example.com"), crmsync now "somchai.j@example.com": Oho's value kept (on_conflict: destination)
    kept last_name "Jaidee": edited in Oho; crmsync's value did not change
    kept tags "agent pick": added in Oho
`},
	}
	for _, tt := range tests {
		t.Run(string(tt.rule), func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOptions{mapping: mapping.Options{Oho: mapping.OhoOptions{OnConflict: tt.rule,
				Fields: mapping.OhoFields{LastName: "attr:last_name"}}}})
			ids := seedContacts(t, b.st, seedContact{Name: "Somchai", Email: "somchai@example.com", Identities: []contact.Identity{fbID("u1")},
				Tags: []string{"vip"}})
			_, err := b.run(t)
			require.NoError(t, err)
			require.True(t, b.oho.Edit(ohotest.Key{Platform: "facebook", PlatformID: fbPage, UserID: "u1"}, func(c *ohotest.Contact) {
				c.Tags = append(c.Tags, "agent pick")
				c.Email, c.LastName = "agent@shop.example", "Jaidee"
			}))
			exec(t, b.st, `UPDATE contacts SET email = 'somchai.j@example.com', updated_at = $1 WHERE id = $2`, t0.Add(time.Minute), int64(ids[0]))
			exec(t, b.st, `INSERT INTO contact_tags (contact_id, tag) VALUES ($1, 'gold')`, int64(ids[0]))
			before, tables := len(b.oho.Requests()), pushTables(t, b.st)

			var out bytes.Buffer
			res, err := b.run(t, func(o *push.Options) {
				o.DryRun = true
				o.ReportFunc = func(r push.ContactReport) { require.NoError(t, push.WriteReport(&out, r)) }
			})
			require.NoError(t, err)
			require.NoError(t, push.WriteSummary(&out, res, true))
			t.Logf("crmsync push --dry-run (on_conflict: %s):\n%s", tt.rule, out.String())

			require.Contains(t, out.String(), "contact "+itoa(int64(ids[0]))+"\n"+tt.want)
			require.Contains(t, out.String(), "1 update, 0 unchanged, 0 record, 0 rejected, 0 skipped (refused before), 0 failed; 1 conflicts; 1 oho requests")
			require.Equal(t, []string{"GET"}, methods(b.oho)[before:], "a dry run reads, never writes")
			require.Equal(t, tables, pushTables(t, b.st))
			require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_conflicts`), "a dry run records no conflict")
		})
	}
}

// Without an API key a dry run reads nothing from Oho: changes are shown
// against the last push, and it says so.
func TestRun_Oho_offlineDryRunReadsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	ids := seedContacts(t, b.st, seedContact{Name: "Old Name", Identities: []contact.Identity{fbID("u1")}})
	_, err := b.run(t)
	require.NoError(t, err)
	rename(t, b.st, ids[0], "New Name", t0.Add(time.Minute))
	mp, err := mapping.New(mapping.Options{Oho: mapping.OhoOptions{DefaultPictureURL: defaultPhoto}})
	require.NoError(t, err)
	offline, err := push.NewOho(push.OhoConfig{Client: b.client, Mapper: mp, NowFunc: b.clock.Now, Offline: true})
	require.NoError(t, err)
	before := len(b.oho.Requests())

	var out bytes.Buffer
	o := b.opts
	o.DryRun = true
	o.ReportFunc = func(r push.ContactReport) { require.NoError(t, push.WriteReport(&out, r)) }
	res, err := push.Run(t.Context(), offline, o)
	require.NoError(t, err)
	require.Equal(t, 1, res.Updated)
	require.Len(t, b.oho.Requests(), before, "no request at all")
	require.Contains(t, out.String(), `    display_name: "Old Name" → "New Name"`)
	require.Contains(t, out.String(), "    kept (all): Oho not read (no API key): changes shown against the last push, not merged with what Oho holds")

	t.Run("ARealPushRefusesToRunOffline", func(t *testing.T) {
		o := b.opts
		res, err := push.Run(t.Context(), offline, o)
		require.NoError(t, err)
		require.Equal(t, 1, res.Failed)
		require.Len(t, b.oho.Requests(), before)
	})
}
