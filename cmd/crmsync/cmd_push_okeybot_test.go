package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/clients/okeybot/okeybottest"
	"crmsync/store/storetest"
)

// jobs.yaml's okeybot.detect_conflicts, rate_scope and rate_headroom and
// mapping.okeybot.on_conflict reach the push: against a fake counting the
// whole account, a conflicting edit made in Okeybot is kept and recorded.
func TestPushCommand_okeybotConflictsAndRate(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewURL(t)
	srv := okeybottest.NewServer(t, okeybottest.Options{RateScope: okeybottest.PerAccount,
		Channels: []okeybottest.Channel{{Token: "tok-a"}, {Token: "tok-b"}}})
	st := storetest.Open(t, dbURL)
	_, err := st.SQL().ExecContext(t.Context(), `
		WITH c AS (INSERT INTO contacts (name, email, identities, created_at, updated_at)
		           VALUES ('Mali', 'm@x.example', 1, now() - interval '1 hour', now() - interval '1 hour') RETURNING id)
		INSERT INTO contact_identities (platform, channel_id, user_id, contact_id, first_seen_at, updated_at)
		SELECT 'line', '1656', 'U1', id, now(), now() FROM c`)
	require.NoError(t, err)

	cfg := writeConfig(t, `
okeybot:
  rate_scope: account
  rate_headroom: 0.05
  detect_conflicts: true
  channels:
    - {name: shop_a, token: "${TOK_A}", sources: [line]}
    - {name: shop_b, token: "${TOK_B}", sources: [facebook]}
mapping:
  okeybot:
    on_conflict: destination
    custom_fields: [{from: name, name: name}, {from: email, name: email}]
jobs: []
`)
	env := map[string]string{"DATABASE_URL": dbURL, "OKEYBOT_BASE_URL": srv.URL, "TOK_A": "tok-a", "TOK_B": "tok-b"}
	push := func() result {
		t.Helper()
		r := runCLI(t, env, "--config", cfg, "--log-level", "error", "push", "--destination", "okeybot")
		require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
		return r
	}

	require.Contains(t, push().stdout, "okeybot push: 1 contacts, 1 targets: 1 create, 0 update")
	id := srv.Contacts("tok-a")[0].ID
	srv.Edit("tok-a", id, func(c *okeybottest.Contact) { c.CustomFields["name"] = "Mali (agent)" })
	_, err = st.SQL().ExecContext(t.Context(), `UPDATE contacts SET name = 'Mali Dee', email = 'new@x.example', updated_at = now()`)
	require.NoError(t, err)

	require.Contains(t, push().stdout, "okeybot push: 1 contacts, 1 targets: 0 create, 1 update")
	got, _ := srv.Contact("tok-a", id)
	require.Equal(t, map[string]string{"name": "Mali (agent)", "email": "new@x.example"}, got.CustomFields)
	var field, resolution, rule string
	require.NoError(t, st.SQL().QueryRowContext(t.Context(), `SELECT field, resolution, rule FROM v_push_conflicts`).Scan(&field, &resolution, &rule))
	require.Equal(t, []string{"name", "kept_destination", "destination"}, []string{field, resolution, rule})
	var methods []string
	for _, r := range srv.Requests("tok-a") {
		methods = append(methods, r.Method)
	}
	require.Equal(t, []string{"POST", "GET", "PUT"}, methods, "create; then read first, and send only the email")
	require.Zero(t, srv.TotalRateLimited())
}
