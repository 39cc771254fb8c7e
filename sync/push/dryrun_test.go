package push_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/lineapi/lineapitest"
	"crmsync/contact"
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

	require.Len(t, b.oho.Requests(), ohoBefore, "a dry run sends Oho nothing")
	require.Equal(t, tablesBefore, pushTables(t, b.st), "a dry run writes nothing")
	require.Equal(t, 0, res.Requests)
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
