package push_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/clients/okeybot/okeybottest"
	"crmsync/contact"
	"crmsync/sync/push"
)

// A contact deleted in Okeybot: its stored id answers 403 (the document's
// general error; it lists no 404) or 404. crmsync reads it to be sure,
// checks that the channel's token still works, finds the person again by
// lookup_field or creates them, records what happened, and never uses the
// dead id again, nor makes a duplicate.
func TestRun_Okeybot_contactDeletedInOkeybot(t *testing.T) {
	t.Parallel()
	const phone = "+66812345678"
	tests := []struct {
		name           string
		missing        int    // okeybottest.Options.MissingStatus (0: 403)
		lookup         string // the channel's lookup field
		reappeared     bool   // the person is in Okeybot again under another id, with the same phone
		wantRequests   []string
		wantResolution string
		wantStatus     int
	}{
		{
			name: "Answers403NoLookupCreated", wantStatus: 403, wantResolution: "created",
			wantRequests: []string{"PUT /v1/contact/{id} 403", "GET /v1/contact/{id} 403", "GET /v1/contact/by_custom_field 200",
				"POST /v1/contact 200", "POST /v1/contact/{id}/tags 200"},
		},
		{
			name: "Answers404NoLookupCreated", missing: http.StatusNotFound, wantStatus: 404, wantResolution: "created",
			wantRequests: []string{"PUT /v1/contact/{id} 404", "GET /v1/contact/{id} 404", "GET /v1/contact/by_custom_field 200",
				"POST /v1/contact 200", "POST /v1/contact/{id}/tags 200"},
		},
		{
			name: "LookupNoMatchCreated", lookup: "phone", wantStatus: 403, wantResolution: "created",
			wantRequests: []string{"PUT /v1/contact/{id} 403", "GET /v1/contact/{id} 403", "GET /v1/contact/by_custom_field 200",
				"POST /v1/contact 200", "POST /v1/contact/{id}/tags 200"},
		},
		{
			name: "LookupFindsThePersonAgainRelinked", lookup: "phone", reappeared: true, wantStatus: 403, wantResolution: "relinked",
			wantRequests: []string{"PUT /v1/contact/{id} 403", "GET /v1/contact/{id} 403", "GET /v1/contact/by_custom_field 200",
				"PUT /v1/contact/{id} 200", "POST /v1/contact/{id}/tags 200"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := okSetupBundle(t, okSetup{fake: okeybottest.Options{MissingStatus: tt.missing},
				channels: []push.OkeybotChannel{{Name: okLine, Token: okLineToken, Sources: []string{"line"}, LookupField: tt.lookup}}})
			ids := seedContacts(t, b.st, seedContact{Name: "Before", Phone: phone, Identities: []contact.Identity{lineID(1)}, Tags: []string{"vip"}})
			_, err := b.run(t)
			require.NoError(t, err)
			dead, _ := okState(t, b.st, okKey(okLine, ids[0]))
			require.True(t, b.srv.Delete(okLineToken, dead), "a person deletes it in Okeybot")
			if tt.reappeared {
				b.srv.Seed(okLineToken, okeybottest.Contact{ID: "424242", CustomFields: map[string]string{"phone": phone}})
			}

			rename(t, b.st, ids[0], "After", t0.Add(time.Minute))
			before := len(b.srv.Requests(okLineToken))
			res, err := b.run(t)
			require.NoError(t, err)
			require.Equal(t, 1, res.Created, "the record is new again")
			require.Equal(t, tt.wantRequests, okRequests(b.srv, okLineToken)[before:])

			remote, _ := okState(t, b.st, okKey(okLine, ids[0]))
			require.NotEqual(t, dead, remote)
			got := okOnly(t, b.srv, okLineToken) // one contact: no duplicate
			require.Equal(t, remote, got.ID)
			require.Equal(t, "After", got.CustomFields["name"])
			require.Equal(t, []string{"vip"}, got.Tags)
			if tt.reappeared {
				require.Equal(t, "424242", remote)
			}
			require.Equal(t, okKey(okLine, ids[0])+"|"+dead+"|"+tt.wantResolution+"|"+remote, queryString(t, b,
				`SELECT concat_ws('|', target_key, deleted_id, resolution, new_id) FROM okeybot_deleted_contacts`))
			require.Equal(t, tt.wantStatus, count(t, b.st, `SELECT http_status FROM okeybot_deleted_contacts`))
			require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_rejections`))

			// The next change goes to the new id only.
			rename(t, b.st, ids[0], "Later", t0.Add(2*time.Minute))
			before = len(b.srv.Requests(okLineToken))
			res, err = b.run(t)
			require.NoError(t, err)
			require.Equal(t, 1, res.Updated)
			reqs := b.srv.Requests(okLineToken)[before:]
			require.Len(t, reqs, 1)
			require.Equal(t, "/api/v1/contact/"+remote, reqs[0].Path)
		})
	}
}

// When creating the contact again fails (the token shown to work), the dead
// id is dropped all the same ("forgotten"): the next run finds or creates
// the contact and never sends to the dead id again. (Had the lookup itself
// failed, the token would not be shown to work: the id would be tried, and
// checked, again next run.)
func TestRun_Okeybot_deletedContactForgottenWhenFindingFails(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{channels: []push.OkeybotChannel{{Name: okLine, Token: okLineToken, Sources: []string{"line"}, LookupField: "phone"}}})
	ids := seedContacts(t, b.st, seedContact{Name: "Before", Phone: "+66812345678", Identities: []contact.Identity{lineID(1)}})
	_, err := b.run(t)
	require.NoError(t, err)
	dead, _ := okState(t, b.st, okKey(okLine, ids[0]))
	b.srv.Delete(okLineToken, dead)
	var once sync.Once
	b.hook.after = func(r *http.Request, _ *http.Response) {
		if strings.HasSuffix(r.URL.Path, "/by_custom_field") {
			once.Do(func() { b.srv.FailNext(http.StatusServiceUnavailable) }) // the create (not retried: it may have landed)
		}
	}

	rename(t, b.st, ids[0], "After", t0.Add(time.Minute))
	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Failed)
	require.Equal(t, "forgotten", queryString(t, b, `SELECT resolution FROM okeybot_deleted_contacts`))
	require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_state WHERE remote_id IS NOT NULL`), "the dead id is dropped")
	require.Zero(t, count(t, b.st, `SELECT count(*) FROM okeybot_deleted_contacts WHERE http_status <> 403 OR resolution IS NULL`))

	b.hook.after = nil
	before := len(b.srv.Requests(okLineToken))
	res, err = b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Equal(t, []string{"GET /v1/contact/by_custom_field 200", "POST /v1/contact 200"}, okRequests(b.srv, okLineToken)[before:],
		"no request to the dead id")
	require.Equal(t, "After", okOnly(t, b.srv, okLineToken).CustomFields["name"])
}

// Okeybot's 403 also refuses a token. A stored id answered 403 whose read
// and whose token's lookup answer 403 too is a refused token, not a deleted
// contact: the channel stops for the run, nothing is forgotten or rejected,
// and the contacts are pushed to the same ids once the token works again.
func TestRun_Okeybot_tokenRefusedWith403IsNotADeletedContact(t *testing.T) {
	t.Parallel()
	for _, lookup := range []string{"", "phone"} {
		t.Run("Lookup"+lookup, func(t *testing.T) {
			t.Parallel()
			b := okSetupBundle(t, okSetup{channels: []push.OkeybotChannel{
				{Name: okLine, Token: okLineToken, Sources: []string{"line"}, LookupField: lookup},
				{Name: okFB, Token: okFBToken, Sources: []string{"facebook/" + fbPage}},
			}})
			ids := seedContacts(t, b.st,
				seedContact{Name: "L1", Phone: "+66812345671", Identities: []contact.Identity{lineID(1)}},
				seedContact{Name: "F", Identities: []contact.Identity{fbID("u2")}},
			)
			_, err := b.run(t)
			require.NoError(t, err)
			lineID1, _ := okState(t, b.st, okKey(okLine, ids[0]))
			fresh := seedContacts(t, b.st, seedContact{Name: "L2", Phone: "+66812345672", Identities: []contact.Identity{lineID(3)}})
			b.srv.RefuseToken(okLineToken, http.StatusForbidden)
			rename(t, b.st, ids[0], "L1 renamed", t0.Add(time.Minute))
			rename(t, b.st, ids[1], "F renamed", t0.Add(time.Minute))
			before := len(b.srv.Requests(okLineToken))

			res, err := b.run(t, func(o *push.Options) { o.Concurrency = 1 })
			require.NoError(t, err, "one channel's token; the other channel goes on")
			require.Equal(t, 2, res.Failed, "both LINE contacts fail for this run")
			require.Equal(t, 1, res.Updated)
			require.Equal(t, "F renamed", okOnly(t, b.srv, okFBToken).CustomFields["name"])
			reqs := okRequests(b.srv, okLineToken)[before:]
			require.Len(t, reqs, 3, "update (or create) 403, then a read or lookup 403 proves the token; then the channel stops: %v", reqs)
			for _, r := range reqs {
				require.True(t, strings.HasSuffix(r, " 403"), r)
			}
			require.Zero(t, count(t, b.st, `SELECT count(*) FROM okeybot_deleted_contacts`), "not a deleted contact")
			require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_rejections`), "not a refused record")
			remote, _ := okState(t, b.st, okKey(okLine, ids[0]))
			require.Equal(t, lineID1, remote, "the id is kept")

			b.srv.RefuseToken(okLineToken, 0)
			res, err = b.run(t)
			require.NoError(t, err)
			require.Equal(t, 1, res.Updated)
			require.Equal(t, 1, res.Created)
			got, ok := b.srv.Contact(okLineToken, lineID1)
			require.True(t, ok)
			require.Equal(t, "L1 renamed", got.CustomFields["name"])
			require.Len(t, b.srv.Contacts(okLineToken), 2, "L1 kept its record; L2 created once")
			require.NotZero(t, fresh[0])
		})
	}
}

// A create answered 403 is checked the same way: with a refused token it
// is a failure of the channel (retried when the token works), not a refusal
// of the record recorded for good.
func TestRun_Okeybot_createAnswered403ByARefusedToken(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{retry: apiclient.RetryPolicy{MaxAttempts: 1}})
	seedContacts(t, b.st, seedContact{Name: "New", Identities: []contact.Identity{lineID(1)}})
	b.srv.RefuseToken(okLineToken, http.StatusForbidden)
	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Failed)
	require.Equal(t, []string{"POST /v1/contact 403", "GET /v1/contact/by_custom_field 403"}, okRequests(b.srv, okLineToken))
	require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_rejections`))

	b.srv.RefuseToken(okLineToken, 0)
	res, err = b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
}
