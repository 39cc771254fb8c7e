package push_test

import (
	"bytes"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/clients/okeybot"
	"crmsync/clients/okeybot/okeybottest"
	"crmsync/contact"
	"crmsync/mapping"
	"crmsync/sync/push"
)

// A tag a person sets in Okeybot is never removed by crmsync, whatever
// crmsync's own tags do: crmsync adds and removes tags one by one and only
// ever removes those it added.
func TestRun_Okeybot_tagSetInOkeybotIsNeverRemoved(t *testing.T) {
	t.Parallel()
	for _, detect := range []bool{false, true} {
		name := "Default"
		if detect {
			name = "DetectConflicts"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := okSetupBundle(t, okSetup{detect: detect})
			ids := seedContacts(t, b.st, seedContact{Name: "Tags", Identities: []contact.Identity{lineID(1)}, Tags: []string{"a", "b"}})
			_, err := b.run(t)
			require.NoError(t, err)
			id := okOnly(t, b.srv, okLineToken).ID
			require.True(t, b.srv.Edit(okLineToken, id, func(c *okeybottest.Contact) { c.Tags = append(c.Tags, "set by agent") }))

			for i, want := range [][]string{{"b", "c"}, {}, {"a"}, tagNames("t", 12), {"d"}} {
				setTags(t, b.st, ids[0], t0.Add(time.Duration(i+1)*time.Minute), want...)
				res, err := b.run(t)
				require.NoError(t, err)
				require.Equal(t, 1, res.Updated, "step %d", i)
				got := okOnly(t, b.srv, okLineToken).Tags
				require.Contains(t, got, "set by agent", "step %d: crmsync's tags %v", i, want)
				require.ElementsMatch(t, append(slices.Clone(want), "set by agent"), got, "step %d: crmsync's own tags follow it", i)
			}
			for _, r := range b.srv.Requests(okLineToken) {
				require.NotContains(t, r.Body, "set by agent", "never sent, not even to remove it")
			}
		})
	}

	// A tag of the same name as one crmsync wants, set in Okeybot first, is
	// the person's once crmsync has seen it there (by reading the contact:
	// its lookup match, or every changed contact with detect_conflicts).
	t.Run("SameNameSeenWhenReadIsThePersons", func(t *testing.T) {
		t.Parallel()
		b := okSetupBundle(t, okSetup{detect: true})
		ids := seedContacts(t, b.st, seedContact{Name: "Same", Identities: []contact.Identity{lineID(1)}, Tags: []string{"a"}})
		_, err := b.run(t)
		require.NoError(t, err)
		id := okOnly(t, b.srv, okLineToken).ID
		b.srv.Edit(okLineToken, id, func(c *okeybottest.Contact) { c.Tags = append(c.Tags, "vip") })

		setTags(t, b.st, ids[0], t0.Add(time.Minute), "a", "vip") // crmsync comes to want vip too
		_, err = b.run(t)
		require.NoError(t, err)
		_, payload := okState(t, b.st, okKey(okLine, ids[0]))
		require.Equal(t, []string{"a"}, payload.Tags)
		require.Equal(t, []string{"vip"}, payload.TheirTags, "vip was there when crmsync read the contact")

		setTags(t, b.st, ids[0], t0.Add(2*time.Minute)) // and then no tag at all
		_, err = b.run(t)
		require.NoError(t, err)
		require.Equal(t, []string{"vip"}, okOnly(t, b.srv, okLineToken).Tags, "a removed, the person's vip kept")
	})
	t.Run("SameNameFoundByLookupIsThePersons", func(t *testing.T) {
		t.Parallel()
		b := okSetupBundle(t, okSetup{channels: []push.OkeybotChannel{{Name: okLine, Token: okLineToken, Sources: []string{"line"}, LookupField: "email"}}})
		b.srv.Seed(okLineToken, okeybottest.Contact{ID: "900", CustomFields: map[string]string{"email": "p@x.example"}, Tags: []string{"vip"}})
		ids := seedContacts(t, b.st, seedContact{Name: "P", Email: "p@x.example", Identities: []contact.Identity{lineID(1)}, Tags: []string{"vip", "new"}})
		_, err := b.run(t)
		require.NoError(t, err)
		setTags(t, b.st, ids[0], t0.Add(time.Minute))
		_, err = b.run(t)
		require.NoError(t, err)
		require.Equal(t, []string{"vip"}, okOnly(t, b.srv, okLineToken).Tags)
	})
}

// A custom field crmsync manages is written only when crmsync's own value
// changes: an edit in Okeybot of a field whose crmsync value did not change
// stays, however many pushes follow.
func TestRun_Okeybot_customFieldWrittenOnlyWhenCrmsyncValueChanges(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{})
	ids := seedContacts(t, b.st, seedContact{Name: "Mali", Email: "m@x.example", Identities: []contact.Identity{lineID(1)}})
	_, err := b.run(t)
	require.NoError(t, err)
	id := okOnly(t, b.srv, okLineToken).ID
	b.srv.Edit(okLineToken, id, func(c *okeybottest.Contact) {
		c.CustomFields["name"] = "Mali (agent)"
		c.CustomFields["note"] = "call after 5pm" // a field crmsync does not manage
	})

	for i, email := range []string{"m2@x.example", "m3@x.example"} {
		setEmail(t, b.st, ids[0], email, t0.Add(time.Duration(i+1)*time.Minute))
		before := len(b.srv.Requests(okLineToken))
		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 1, res.Updated)
		reqs := b.srv.Requests(okLineToken)[before:]
		require.Len(t, reqs, 1)
		require.JSONEq(t, `{"custom_fields":[{"name":"email","value":"`+email+`"}]}`, reqs[0].Body, "only the field crmsync changed")
	}
	res, err := b.run(t, func(o *push.Options) { o.Full = true })
	require.NoError(t, err)
	require.Equal(t, 1, res.Unchanged)
	require.Zero(t, res.Requests)
	got := okOnly(t, b.srv, okLineToken)
	require.Equal(t, "Mali (agent)", got.CustomFields["name"], "the edit of an unchanged field stays")
	require.Equal(t, "call after 5pm", got.CustomFields["note"])
}

// With okeybot.detect_conflicts a changed contact is read first (one GET,
// no more); a field edited in Okeybot whose crmsync value changed is a
// conflict, decided by mapping.okeybot.on_conflict and recorded.
func TestRun_Okeybot_detectConflicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule         string
		wantName     string
		wantPut      string
		wantResolved string
	}{
		{"source", "Mali Dee", `{"custom_fields":[{"name":"email","value":"new@x.example"},{"name":"name","value":"Mali Dee"}]}`, "overwrote_destination"},
		{"destination", "Agent's Mali", `{"custom_fields":[{"name":"email","value":"new@x.example"}]}`, "kept_destination"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			mo := defaultOkeybotMapping()
			mo.OnConflict = mapping.ConflictRule(tt.rule)
			b := okSetupBundle(t, okSetup{detect: true, mapping: &mo})
			ids := seedContacts(t, b.st,
				seedContact{Name: "Mali", Email: "m@x.example", Identities: []contact.Identity{lineID(1)}, Attrs: map[string]string{"tier": "gold"}},
				seedContact{Name: "Other", Identities: []contact.Identity{lineID(2)}},
			)
			res, err := b.run(t)
			require.NoError(t, err)
			require.Equal(t, 2, res.Created)
			require.Equal(t, 2, res.Requests, "a create needs no read: there is nothing to read yet")
			remote, _ := okState(t, b.st, okKey(okLine, ids[0]))
			b.srv.Edit(okLineToken, remote, func(c *okeybottest.Contact) {
				c.CustomFields["name"] = "Agent's Mali" // crmsync's name changes too: a conflict
				c.CustomFields["tier"] = "platinum"     // crmsync's tier does not change: left alone
			})

			exec(t, b.st, `UPDATE contacts SET name = 'Mali Dee', email = 'new@x.example', updated_at = $1 WHERE id = $2`, t0.Add(time.Minute), int64(ids[0]))
			before := len(b.srv.Requests(okLineToken))
			var out bytes.Buffer
			res, err = b.run(t, func(o *push.Options) {
				o.ReportFunc = func(r push.ContactReport) { require.NoError(t, push.WriteReport(&out, r)) }
			})
			require.NoError(t, err)
			require.Equal(t, 1, res.Updated)
			require.Equal(t, 2, res.Requests, "GET + PUT for the changed contact, nothing for the other")
			require.Equal(t, []string{"GET /v1/contact/{id} 200", "PUT /v1/contact/{id} 200"}, okRequests(b.srv, okLineToken)[before:])
			require.JSONEq(t, tt.wantPut, b.srv.Requests(okLineToken)[before+1].Body)
			got, _ := b.srv.Contact(okLineToken, remote)
			require.Equal(t, tt.wantName, got.CustomFields["name"])
			require.Equal(t, "platinum", got.CustomFields["tier"])
			require.Equal(t, "name|Agent's Mali|Mali Dee|Mali|"+tt.wantResolved+"|"+tt.rule+"|1", queryString(t, b,
				`SELECT concat_ws('|', field, destination_value, crmsync_value, last_pushed_value, resolution, rule, times_seen) FROM v_push_conflicts`))
			if tt.rule == "destination" {
				require.Contains(t, out.String(), `custom_fields[name]: "Agent's Mali" → "Mali Dee" (not sent: kept: edited in Okeybot (mapping.okeybot.on_conflict: destination))`)
			}

			// Nothing changed: nothing read, nothing sent, no second conflict.
			res, err = b.run(t, func(o *push.Options) { o.Full = true })
			require.NoError(t, err)
			require.Equal(t, 2, res.Unchanged)
			require.Zero(t, res.Requests)

			// Another change elsewhere: the kept edit is not a conflict again.
			setEmail(t, b.st, ids[0], "newer@x.example", t0.Add(2*time.Minute))
			_, err = b.run(t)
			require.NoError(t, err)
			got, _ = b.srv.Contact(okLineToken, remote)
			require.Equal(t, tt.wantName, got.CustomFields["name"])
			require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM push_conflicts WHERE times_seen = 1`))
		})
	}

	t.Run("WhatOkeybotHoldsAlreadyIsNotSent", func(t *testing.T) {
		t.Parallel()
		b := okSetupBundle(t, okSetup{detect: true})
		ids := seedContacts(t, b.st, seedContact{Name: "Mali", Email: "m@x.example", Identities: []contact.Identity{lineID(1)}, Tags: []string{"a"}})
		_, err := b.run(t)
		require.NoError(t, err)
		id := okOnly(t, b.srv, okLineToken).ID
		b.srv.Edit(okLineToken, id, func(c *okeybottest.Contact) {
			c.CustomFields["email"] = "new@x.example"
			c.Tags = []string{"b"} // a removed, b added by a person
		})
		exec(t, b.st, `UPDATE contacts SET email = 'new@x.example', updated_at = $1 WHERE id = $2`, t0.Add(time.Minute), int64(ids[0]))
		setTags(t, b.st, ids[0], t0.Add(time.Minute), "b")
		before := len(b.srv.Requests(okLineToken))
		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 1, res.Recorded, "everything crmsync wants is there already")
		require.Equal(t, []string{"GET /v1/contact/{id} 200"}, okRequests(b.srv, okLineToken)[before:])
		require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_conflicts`))
		_, payload := okState(t, b.st, okKey(okLine, ids[0]))
		require.Equal(t, mapping.OkeybotContact{CustomFields: []mapping.OkeybotField{{Name: "email", Value: "new@x.example"}, {Name: "name", Value: "Mali"}},
			TheirTags: []string{"b"}}, payload)
	})

	t.Run("DryRunSaysItWouldRead", func(t *testing.T) {
		t.Parallel()
		b := okSetupBundle(t, okSetup{detect: true})
		ids := seedContacts(t, b.st, seedContact{Name: "Mali", Identities: []contact.Identity{lineID(1)}})
		_, err := b.run(t)
		require.NoError(t, err)
		rename(t, b.st, ids[0], "Mali Dee", t0.Add(time.Minute))
		calls := b.srv.Calls(okLineToken)
		var out bytes.Buffer
		_, err = b.run(t, func(o *push.Options) {
			o.DryRun = true
			o.ReportFunc = func(r push.ContactReport) { require.NoError(t, push.WriteReport(&out, r)) }
		})
		require.NoError(t, err)
		require.Equal(t, calls, b.srv.Calls(okLineToken), "a dry run reads nothing either")
		require.Contains(t, out.String(), "(not sent: dry run: a real run first reads the contact (okeybot.detect_conflicts)")
	})
}

// Being rate-limited never fails the contact as a destination failure: a
// 429 that comes back (here: the client's wait capped) fails the contact for
// this run only, without ending the run over MaxFailures.
func TestRun_Okeybot_rateLimitedIsNoFailureStreak(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{retry: rateLimitedCap()})
	seedContacts(t, b.st,
		seedContact{Name: "A", Identities: []contact.Identity{lineID(1)}},
		seedContact{Name: "B", Identities: []contact.Identity{lineID(2)}},
		seedContact{Name: "C", Identities: []contact.Identity{lineID(3)}},
	)
	fails := make([]int, 6) // two 429s per create: the second is past the cap
	for i := range fails {
		fails[i] = http.StatusTooManyRequests
	}
	b.srv.FailNext(fails...)
	res, err := b.run(t, func(o *push.Options) { o.Concurrency, o.MaxFailures = 1, 1 })
	require.NoError(t, err, "three 429s in a row are not three failures of Okeybot")
	require.Equal(t, 3, res.Failed)
	require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_rejections`))
	require.GreaterOrEqual(t, b.clock.Now().Sub(t0), 3*time.Minute, "each 429 was waited a minute first")

	res, err = b.run(t)
	require.NoError(t, err)
	require.Equal(t, 3, res.Created, "the next run pushes them")
}

func TestOkeybot_Lane_rateScope(t *testing.T) {
	t.Parallel()
	mp, err := mapping.New(mapping.Options{Okeybot: defaultOkeybotMapping()})
	require.NoError(t, err)
	chans := []push.OkeybotChannel{
		{Name: "a", Token: "tok-a", Sources: []string{"line"}},
		{Name: "a2", Token: "tok-a", Sources: []string{"whatsapp"}},
		{Name: "b", Token: "tok-b", Sources: []string{"facebook"}},
	}
	c := contact.Contact{ID: 1, Identities: []contact.Profile{
		{Identity: contact.Identity{Platform: contact.LINE, ChannelID: "1", UserID: "u"}},
		{Identity: contact.Identity{Platform: contact.WhatsApp, ChannelID: "2", UserID: "u"}},
		{Identity: contact.Identity{Platform: contact.Facebook, ChannelID: "3", UserID: "u"}},
	}}
	lanes := func(scope okeybot.RateScope) []string {
		client, err := okeybot.New(okeybot.Config{RateScope: scope})
		require.NoError(t, err)
		d, err := push.NewOkeybot(push.OkeybotConfig{Client: client, Mapper: mp, Channels: chans})
		require.NoError(t, err)
		ts, err := d.Targets(t.Context(), c)
		require.NoError(t, err)
		var out []string
		for _, tg := range ts {
			out = append(out, d.Lane(tg))
		}
		return out
	}
	require.Equal(t, []string{"a", "a", "b"}, lanes(okeybot.ScopeToken), "a lane per token")
	require.Equal(t, []string{"a", "a", "a"}, lanes(okeybot.ScopeAccount), "one lane: one limiter for the account")
}

// rateLimitedCap is a retry policy under which a second 429 in a row comes
// back to the caller (MaxRateLimitedWait leaves room for one wait).
func rateLimitedCap() apiclient.RetryPolicy {
	return apiclient.RetryPolicy{MaxAttempts: 1, MaxRateLimitedWait: 66 * time.Second}
}
