package push_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
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

func TestRun_Okeybot_createWith45FieldsSendsTwoRequests(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{})
	ids := seedContacts(t, b.st, seedContact{Name: "Somchai", Identities: []contact.Identity{lineID(1)}, Attrs: attrs(44)})

	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Equal(t, 2, res.Requests)
	require.Equal(t, []string{"POST /v1/contact 200", "PUT /v1/contact/{id} 200"}, okRequests(b.srv, okLineToken))
	require.Equal(t, []int{30, 15}, okBodyCounts(t, b.srv, okLineToken), "30 fields with the create, the other 15 in one PUT")

	got := okOnly(t, b.srv, okLineToken)
	require.Len(t, got.CustomFields, 45)
	require.Equal(t, "Somchai", got.CustomFields["name"])
	require.Equal(t, "v44", got.CustomFields["a44"])
	remote, payload := okState(t, b.st, okKey(okLine, ids[0]))
	require.Equal(t, got.ID, remote)
	require.Len(t, payload.CustomFields, 45)
	require.Empty(t, b.srv.Requests(okFBToken), "a LINE contact goes to the LINE channel only")
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM v_push_status WHERE destination = 'okeybot' AND state = 'pushed'`))
}

func TestRun_Okeybot_tagsAreAddedAndRemovedInRequestsOfTen(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{})
	ids := seedContacts(t, b.st, seedContact{Name: "Anan", Identities: []contact.Identity{fbID("u1")},
		Tags: tagNames("t", 23), Attrs: map[string]string{"tier": "gold"}})
	key := okKey(okFB, ids[0])
	touch := func(at time.Duration) {
		exec(t, b.st, `UPDATE contacts SET updated_at = $1 WHERE id = $2`, t0.Add(at), int64(ids[0]))
	}

	t.Run("TwentyThreeTagsInThreeRequests", func(t *testing.T) {
		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 1, res.Created)
		require.Equal(t, []string{"POST /v1/contact 200", "POST /v1/contact/{id}/tags 200",
			"POST /v1/contact/{id}/tags 200", "POST /v1/contact/{id}/tags 200"}, okRequests(b.srv, okFBToken))
		require.Equal(t, []int{2, 10, 10, 3}, okBodyCounts(t, b.srv, okFBToken))
		require.Equal(t, tagNames("t", 23), sortedTags(okOnly(t, b.srv, okFBToken)))
	})
	t.Run("RemovalsAgainstTheLastPushedTags", func(t *testing.T) {
		exec(t, b.st, `DELETE FROM contact_tags WHERE contact_id = $1 AND tag <= 't12'`, int64(ids[0]))
		exec(t, b.st, `INSERT INTO contact_tags (contact_id, tag) VALUES ($1, 'new')`, int64(ids[0]))
		touch(time.Minute)
		before := len(b.srv.Requests(okFBToken))

		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 1, res.Updated)
		require.Equal(t, []string{"DELETE /v1/contact/{id}/tags 200", "DELETE /v1/contact/{id}/tags 200",
			"POST /v1/contact/{id}/tags 200"}, okRequests(b.srv, okFBToken)[before:], "removals first, then additions")
		require.Equal(t, []int{10, 2, 1}, okBodyCounts(t, b.srv, okFBToken)[before:])
		want := append([]string{"new"}, tagNames("t", 23)[12:]...)
		require.Equal(t, want, sortedTags(okOnly(t, b.srv, okFBToken)))
		_, payload := okState(t, b.st, key)
		require.Equal(t, want, payload.Tags)
	})
	t.Run("FieldNoLongerDesiredIsCleared", func(t *testing.T) {
		exec(t, b.st, `DELETE FROM contact_attributes WHERE contact_id = $1`, int64(ids[0]))
		touch(2 * time.Minute)
		before := len(b.srv.Requests(okFBToken))

		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 1, res.Updated)
		reqs := b.srv.Requests(okFBToken)[before:]
		require.Len(t, reqs, 1)
		require.Equal(t, http.MethodPut, reqs[0].Method)
		require.JSONEq(t, `{"custom_fields":[{"name":"tier","value":""}]}`, reqs[0].Body)
		require.Empty(t, okOnly(t, b.srv, okFBToken).CustomFields["tier"])
	})
}

func TestRun_Okeybot_unchangedSendsNothing(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{})
	seedContacts(t, b.st,
		seedContact{Name: "One", Identities: []contact.Identity{lineID(1)}, Tags: []string{"a"}},
		seedContact{Name: "Two", Identities: []contact.Identity{fbID("u2")}, Attrs: attrs(40)},
	)
	_, err := b.run(t)
	require.NoError(t, err)
	calls := b.srv.Calls(okLineToken) + b.srv.Calls(okFBToken)

	tests := []struct {
		name string
		give func(*push.Options)
		want push.Result
	}{
		{"Incremental", func(*push.Options) {}, push.Result{}},
		{"Full", func(o *push.Options) { o.Full = true }, push.Result{Contacts: 2, Targets: 2, Unchanged: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := b.run(t, tt.give)
			require.NoError(t, err)
			require.Equal(t, tt.want.Contacts, res.Contacts)
			require.Equal(t, tt.want.Unchanged, res.Unchanged)
			require.Zero(t, res.Requests)
			require.Equal(t, calls, b.srv.Calls(okLineToken)+b.srv.Calls(okFBToken), "zero requests to Okeybot")
		})
	}
}

func TestRun_Okeybot_lookupByCustomField(t *testing.T) {
	t.Parallel()
	const phone = "+66812345678"
	tests := []struct {
		name         string
		give         []okeybottest.Contact // what the channel holds before
		wantRequests []string
		wantAction   func(push.Result) int
		check        func(t *testing.T, b *okBundle, id contact.ID)
	}{
		{
			name:         "NoMatchCreates",
			give:         []okeybottest.Contact{{ID: "500", CustomFields: map[string]string{"phone": "+66899999999"}}},
			wantRequests: []string{"GET /v1/contact/by_custom_field 200", "POST /v1/contact 200", "POST /v1/contact/{id}/tags 200"},
			wantAction:   func(r push.Result) int { return r.Created },
			check: func(t *testing.T, b *okBundle, id contact.ID) {
				require.Len(t, b.srv.Contacts(okLineToken), 2)
				remote, _ := okState(t, b.st, okKey(okLine, id))
				require.NotEqual(t, "500", remote)
			},
		},
		{
			name: "OneMatchIsLinkedAndOnlyTheDifferenceSent",
			give: []okeybottest.Contact{{ID: "777",
				CustomFields: map[string]string{"phone": phone, "name": "Mali (old)", "locale": "th_TH"},
				Tags:         []string{"vip", "Blog Updates"}}},
			wantRequests: []string{"GET /v1/contact/by_custom_field 200", "PUT /v1/contact/{id} 200", "POST /v1/contact/{id}/tags 200"},
			wantAction:   func(r push.Result) int { return r.Created },
			check: func(t *testing.T, b *okBundle, id contact.ID) {
				reqs := b.srv.Requests(okLineToken)
				require.JSONEq(t, `{"custom_fields":[{"name":"name","value":"Mali"}]}`, reqs[1].Body, "phone already matches: not sent")
				require.JSONEq(t, `{"tags":["new"]}`, reqs[2].Body, "vip is already there")
				got := okOnly(t, b.srv, okLineToken)
				require.Equal(t, map[string]string{"phone": phone, "name": "Mali", "locale": "th_TH"}, got.CustomFields,
					"a field crmsync does not manage is left alone")
				require.Equal(t, []string{"Blog Updates", "new", "vip"}, sortedTags(got), "a tag crmsync does not manage is left alone")
				remote, payload := okState(t, b.st, okKey(okLine, id))
				require.Equal(t, "777", remote)
				require.Equal(t, []string{"new"}, payload.Tags, "crmsync added new")
				require.Equal(t, []string{"vip"}, payload.TheirTags, "vip was there before crmsync: never crmsync's to remove")
				require.Equal(t, "name Mali (old) Mali overwrote_destination source", queryString(t, b,
					`SELECT concat_ws(' ', field, destination_value, crmsync_value, resolution, rule) FROM v_push_conflicts`),
					"the name found differs from crmsync's: a conflict, recorded, decided by on_conflict (default source)")
			},
		},
		{
			name: "TwoMatchesAreAConflict",
			give: []okeybottest.Contact{
				{ID: "801", CustomFields: map[string]string{"phone": phone}},
				{ID: "802", CustomFields: map[string]string{"phone": phone}},
			},
			wantRequests: []string{"GET /v1/contact/by_custom_field 200"},
			wantAction:   func(r push.Result) int { return r.Rejected },
			check: func(t *testing.T, b *okBundle, id contact.ID) {
				var field, value, reason string
				var status int
				require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `SELECT field, value, reason, http_status
					FROM push_rejections WHERE destination = 'okeybot' AND target_key = $1`, okKey(okLine, id)).Scan(&field, &value, &reason, &status))
				require.Equal(t, "custom_fields[phone]", field)
				require.Equal(t, phone, value)
				require.Equal(t, "conflict: 2 Okeybot contacts have this phone", reason)
				require.Equal(t, http.StatusConflict, status)
				require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_state`), "nothing guessed")
				require.Len(t, b.srv.Contacts(okLineToken), 2, "nothing created")

				res, err := b.run(t, func(o *push.Options) { o.Full = true })
				require.NoError(t, err)
				require.Equal(t, 1, res.Skipped, "the same payload is not looked up again")
				require.Len(t, b.srv.Requests(okLineToken), 1)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := okSetupBundle(t, okSetup{channels: []push.OkeybotChannel{
				{Name: okLine, Token: okLineToken, Sources: []string{"line"}, LookupField: "phone"}}})
			b.srv.Seed(okLineToken, tt.give...)
			ids := seedContacts(t, b.st, seedContact{Name: "Mali", Phone: phone, Identities: []contact.Identity{lineID(1)},
				Tags: []string{"new", "vip"}})

			res, err := b.run(t)
			require.NoError(t, err)
			require.Equal(t, 1, tt.wantAction(res))
			require.Equal(t, len(tt.wantRequests), res.Requests)
			require.Equal(t, tt.wantRequests, okRequests(b.srv, okLineToken))
			require.Equal(t, "name=phone&value=%2B66812345678", b.srv.Requests(okLineToken)[0].Query)
			tt.check(t, b, ids[0])
		})
	}
}

func TestRun_Okeybot_rateLimitBackOffUnderABurst(t *testing.T) {
	t.Parallel()
	// The client sends as fast as it can (no limiter); the fake allows 100
	// calls a minute and answers 429 with Retry-After, which the client waits
	// out by advancing the fake's clock.
	b := okSetupBundle(t, okSetup{retry: apiclient.RetryPolicy{MaxAttempts: 20, MaxWait: time.Hour}})
	const n = 300
	cs := make([]seedContact, n)
	for i := range cs {
		cs[i] = seedContact{Name: fmt.Sprintf("Burst %03d", i), Identities: []contact.Identity{lineID(i)}, Tags: []string{"burst"}}
	}
	seedContacts(t, b.st, cs...)

	res, err := b.run(t, func(o *push.Options) { o.Concurrency, o.BatchSize = 8, 100 })
	require.NoError(t, err)
	require.Equal(t, n, res.Created)
	require.Zero(t, res.Failed+res.Rejected)
	require.Equal(t, 2*n, res.Requests)

	require.Positive(t, b.srv.RateLimited(okLineToken), "the burst met the fake's limit")
	ok := 0
	for _, r := range b.srv.Requests(okLineToken) {
		require.Contains(t, []int{http.StatusOK, http.StatusTooManyRequests}, r.Status)
		if r.Status == http.StatusOK {
			ok++
		}
	}
	require.Equal(t, 2*n, ok, "every request accepted in the end, none twice")
	require.GreaterOrEqual(t, b.clock.Now().Sub(t0), 5*time.Minute, "600 calls at 100 a minute: the waits honoured Retry-After")
	got := b.srv.Contacts(okLineToken)
	require.Len(t, got, n)
	for _, c := range got {
		require.Equal(t, []string{"burst"}, c.Tags)
	}
	require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_rejections`))
	require.Equal(t, n, count(t, b.st, `SELECT count(*) FROM push_contacts WHERE outcome = 'pushed'`))
}

func TestRun_Okeybot_resumesAfterAnInterruption(t *testing.T) {
	t.Parallel()
	isCreate := func(r *http.Request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/v1/contact")
	}
	isPut := func(r *http.Request) bool { return r.Method == http.MethodPut }
	seed := func(t *testing.T, b *okBundle) contact.ID {
		return seedContacts(t, b.st, seedContact{Name: "Long", Identities: []contact.Identity{lineID(1)},
			Attrs: attrs(44), Tags: tagNames("t", 12)})[0]
	}
	// resume runs again and checks that only what was not confirmed is sent.
	resume := func(t *testing.T, b *okBundle, id contact.ID, opt ...func(*push.Options)) {
		t.Helper()
		remote, payload := okState(t, b.st, okKey(okLine, id))
		require.Equal(t, okOnly(t, b.srv, okLineToken).ID, remote, "the created id was recorded")
		require.Len(t, payload.CustomFields, 30, "the 30 fields of the create were recorded")
		before := len(b.srv.Requests(okLineToken))
		b.hook.before, b.hook.after = nil, nil

		res, err := b.run(t, opt...)
		require.NoError(t, err)
		require.Equal(t, 1, res.Updated)
		require.Equal(t, []string{"PUT /v1/contact/{id} 200", "POST /v1/contact/{id}/tags 200", "POST /v1/contact/{id}/tags 200"},
			okRequests(b.srv, okLineToken)[before:], "no second create, no field sent twice")
		require.Equal(t, []int{15, 10, 2}, okBodyCounts(t, b.srv, okLineToken)[before:])
		got := okOnly(t, b.srv, okLineToken)
		require.Len(t, got.CustomFields, 45)
		require.Len(t, got.Tags, 12)
	}

	t.Run("TransientFailure", func(t *testing.T) {
		t.Parallel()
		b := okSetupBundle(t, okSetup{})
		id := seed(t, b)
		var once sync.Once
		b.hook.after = func(r *http.Request, _ *http.Response) {
			if isCreate(r) {
				once.Do(func() { b.srv.FailNext(http.StatusServiceUnavailable, http.StatusServiceUnavailable) }) // both attempts of the PUT
			}
		}
		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 1, res.Failed)
		require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_contacts`), "the contact is retried by the next run")
		resume(t, b, id)
	})
	t.Run("RunKilledMidContact", func(t *testing.T) {
		t.Parallel()
		b := okSetupBundle(t, okSetup{})
		id := seed(t, b)
		// The run dies as the PUT goes out: Run itself cannot record anything
		// more (its context is gone), as after a kill.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		b.hook.before = func(r *http.Request) {
			if isPut(r) {
				cancel()
			}
		}
		_, err := push.Run(ctx, b.dest, b.opts)
		require.ErrorIs(t, err, context.Canceled)
		resume(t, b, id)
	})
	t.Run("LaterRequestRefused", func(t *testing.T) {
		t.Parallel()
		b := okSetupBundle(t, okSetup{})
		id := seed(t, b)
		var once sync.Once
		b.hook.after = func(r *http.Request, _ *http.Response) {
			if isCreate(r) {
				once.Do(func() { b.srv.FailNext(http.StatusForbidden) })
			}
		}
		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 1, res.Rejected, "a refusal is recorded as such, the contact created before it is kept")
		require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM push_rejections WHERE http_status = 403 AND field = 'custom_fields'`))
		rename(t, b.st, id, "Longer", t0.Add(time.Minute)) // the refused payload is not sent again unchanged
		resume(t, b, id)
		require.Equal(t, "Longer", okOnly(t, b.srv, okLineToken).CustomFields["name"])
	})
}

func TestRun_Okeybot_channelsFromSources(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{channels: []push.OkeybotChannel{
		{Name: okLine, Token: okLineToken, Sources: []string{"line"}},
		{Name: okFB, Token: okFBToken, Sources: []string{"facebook/" + fbPage}},
		{Name: "viber_th", Token: "okeybot-token-viber", Sources: []string{"Viber"}, Viber: true},
	}})
	viber := contact.Identity{Platform: contact.Viber, ChannelID: "vb1", UserID: "01234567890A+/bC=="}
	ids := seedContacts(t, b.st,
		seedContact{Name: "Both", Identities: []contact.Identity{lineID(1), fbID("u1")}},
		seedContact{Name: "Instagram only", Identities: []contact.Identity{{Platform: contact.Instagram, ChannelID: "ig1", UserID: "i1"}}},
		seedContact{Name: "Other page", Identities: []contact.Identity{{Platform: contact.Facebook, ChannelID: "999", UserID: "u9"}}},
		seedContact{Name: "Viber", Identities: []contact.Identity{viber}},
	)

	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 3, res.Created)
	require.Equal(t, []string{okKey(okFB, ids[0]), okKey(okLine, ids[0]), okKey("viber_th", ids[3])},
		strings.Fields(queryString(t, b, `SELECT string_agg(target_key, ' ' ORDER BY target_key) FROM push_state`)))
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM push_contacts WHERE destination = 'okeybot' AND outcome = 'no_target'`))

	t.Run("ViberIDsAreEncodedInPaths", func(t *testing.T) {
		rename(t, b.st, ids[3], "Viber renamed", t0.Add(time.Minute))
		res, err := b.run(t)
		require.NoError(t, err)
		require.Equal(t, 1, res.Updated)
		got := okOnly(t, b.srv, "okeybot-token-viber")
		require.Contains(t, got.ID, "/", "the fake's Viber ids need encoding")
		require.Equal(t, "Viber renamed", got.CustomFields["name"])
		reqs := b.srv.Requests("okeybot-token-viber")
		require.Equal(t, "/api/v1/contact/"+okeybot.PathID(got.ID, true), reqs[len(reqs)-1].Path)
	})
}

// queryString returns the single text q selects.
func queryString(t *testing.T, b *okBundle, q string) string {
	t.Helper()
	var s string
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), q).Scan(&s))
	return s
}

func TestRun_Okeybot_refusalIsRecordedAndNotSentAgain(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{})
	ids := seedContacts(t, b.st, seedContact{Name: "Refused", Identities: []contact.Identity{lineID(1)}})
	b.srv.FailNext(http.StatusForbidden)

	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Rejected)
	require.Equal(t, map[string]int{"Message String": 1}, res.Rejections, "Okeybot's own message")
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM push_rejections WHERE destination = 'okeybot'
		AND http_status = 403 AND field = 'custom_fields' AND target_key = $1`, okKey(okLine, ids[0])))

	require.Equal(t, []string{"POST /v1/contact 403", "GET /v1/contact/by_custom_field 200"}, okRequests(b.srv, okLineToken),
		"a 403 on a create is checked: the token still answers a lookup, so the record was refused")

	res, err = b.run(t, func(o *push.Options) { o.Full = true })
	require.NoError(t, err)
	require.Equal(t, 1, res.Skipped)
	require.Len(t, b.srv.Requests(okLineToken), 2, "the refused payload is not sent again")

	rename(t, b.st, ids[0], "Accepted", t0.Add(time.Minute))
	res, err = b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Equal(t, "Accepted", okOnly(t, b.srv, okLineToken).CustomFields["name"])
}

func TestRun_Okeybot_refusedToken(t *testing.T) {
	t.Parallel()
	seed := func(t *testing.T, b *okBundle) {
		seedContacts(t, b.st,
			seedContact{Name: "A", Identities: []contact.Identity{lineID(1)}},
			seedContact{Name: "B", Identities: []contact.Identity{lineID(2)}},
			seedContact{Name: "C", Identities: []contact.Identity{fbID("u3")}},
		)
	}
	t.Run("FailsItsChannelOnly", func(t *testing.T) {
		t.Parallel()
		b := okSetupBundle(t, okSetup{fake: okeybottest.Options{Channels: []okeybottest.Channel{{Token: okFBToken}}}})
		seed(t, b)
		res, err := b.run(t, func(o *push.Options) { o.Concurrency, o.MaxFailures = 1, 1 })
		require.NoError(t, err, "the page's channel is pushed; a revoked LINE channel token does not end the run")
		require.Equal(t, 2, res.Failed)
		require.Equal(t, 1, res.Created)
		require.Equal(t, 1, b.srv.Unauthorized(), "the refusal is remembered for the run: one request")
		require.Len(t, b.srv.Contacts(okFBToken), 1)
		require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM push_contacts`), "the LINE contacts are retried by the next run")
	})
	t.Run("EveryChannelRefusedEndsTheRun", func(t *testing.T) {
		t.Parallel()
		b := okSetupBundle(t, okSetup{fake: okeybottest.Options{Channels: []okeybottest.Channel{{Token: "another"}}}})
		seed(t, b)
		_, err := b.run(t, func(o *push.Options) { o.Concurrency = 1 })
		require.ErrorIs(t, err, apiclient.ErrUnauthorized)
		require.Equal(t, 2, b.srv.Unauthorized(), "one request per channel, none after")
		require.Zero(t, count(t, b.st, `SELECT count(*) FROM push_contacts`))
	})
}

func TestRun_Okeybot_dryRunSendsNothingAndWritesNothing(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{channels: []push.OkeybotChannel{
		{Name: okLine, Token: okLineToken, Sources: []string{"line"}, LookupField: "email"}}})
	ids := seedContacts(t, b.st, seedContact{Name: "Old", Identities: []contact.Identity{lineID(1)}, Tags: []string{"a"}})
	_, err := b.run(t)
	require.NoError(t, err)
	rename(t, b.st, ids[0], "New", t0.Add(time.Minute))
	exec(t, b.st, `INSERT INTO contact_tags (contact_id, tag) VALUES ($1, 'b')`, int64(ids[0]))
	fresh := seedContacts(t, b.st, seedContact{Name: "Fresh", Email: "fresh@example.com", Identities: []contact.Identity{lineID(2)}})
	calls := b.srv.Calls(okLineToken)
	tables := pushTables(t, b.st)

	var out bytes.Buffer
	res, err := b.run(t, func(o *push.Options) {
		o.DryRun = true
		o.ReportFunc = func(r push.ContactReport) { require.NoError(t, push.WriteReport(&out, r)) }
	})
	require.NoError(t, err)
	require.NoError(t, push.WriteSummary(&out, res, true))
	require.Equal(t, calls, b.srv.Calls(okLineToken), "a dry run sends Okeybot nothing, not even a lookup")
	require.Equal(t, tables, pushTables(t, b.st), "a dry run writes nothing")
	require.Equal(t, 1, res.Updated)
	require.Equal(t, 1, res.Created)
	require.Zero(t, res.Requests)
	text := out.String()
	for _, want := range []string{
		"  " + okKey(okLine, ids[0]) + " update\n" + `    custom_fields[name]: "Old" → "New"` + "\n" + `    tags: "[a]" → "[a, b]"` + "\n",
		"  " + okKey(okLine, fresh[0]) + " create\n" + `    lookup email: "" → "fresh@example.com" (not sent: dry run:`,
		`    custom_fields[email]: "" → "fresh@example.com"`,
		"okeybot dry run (nothing sent, nothing written): 2 contacts, 2 targets: 1 create, 1 update",
	} {
		require.Contains(t, text, want)
	}
}

func TestRun_Okeybot_noCustomFieldToCreateWithIsRejected(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{mapping: &mapping.OkeybotOptions{}})
	seedContacts(t, b.st, seedContact{Name: "Tags only", Identities: []contact.Identity{lineID(1)}, Tags: []string{"a"}})
	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Rejected)
	require.Empty(t, b.srv.Requests(okLineToken))
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM push_rejections WHERE field = 'custom_fields' AND http_status IS NULL
		AND reason LIKE 'no custom field to create the Okeybot contact with%'`))
}

func TestNewOkeybot_validatesConfig(t *testing.T) {
	t.Parallel()
	client, err := okeybot.New(okeybot.Config{})
	require.NoError(t, err)
	mp, err := mapping.New(mapping.Options{Okeybot: mapping.OkeybotOptions{CustomFields: []mapping.FieldRule{{From: "phone", Name: "phone"}}}})
	require.NoError(t, err)
	ch := push.OkeybotChannel{Name: "shop", Token: "tok", Sources: []string{"line"}}
	with := func(f func(*push.OkeybotConfig)) push.OkeybotConfig {
		c := push.OkeybotConfig{Client: client, Mapper: mp, Channels: []push.OkeybotChannel{ch}}
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		give    push.OkeybotConfig
		wantErr string
	}{
		{"NoClient", with(func(c *push.OkeybotConfig) { c.Client = nil }), "no Okeybot client"},
		{"NoMapper", with(func(c *push.OkeybotConfig) { c.Mapper = nil }), "no mapper"},
		{"NoChannel", with(func(c *push.OkeybotConfig) { c.Channels = nil }), "no channel"},
		{"DuplicateName", with(func(c *push.OkeybotConfig) { c.Channels = append(c.Channels, ch) }), `channel "shop" defined twice`},
		{"NameWithSlash", with(func(c *push.OkeybotConfig) { c.Channels[0].Name = "a/b" }), `name "a/b" is empty or holds a /`},
		{"NoSource", with(func(c *push.OkeybotConfig) { c.Channels[0].Sources = nil }), `channel "shop" has no source`},
		{"UnknownPlatform", with(func(c *push.OkeybotConfig) { c.Channels[0].Sources = []string{"telegram/1"} }), `source "telegram/1" does not start with a known platform`},
		{"LookupFieldNotMapped", with(func(c *push.OkeybotConfig) { c.Channels[0].LookupField = "email" }),
			`lookup field "email" is not one of the custom fields mapping fills in (phone)`},
		{"NoToken", with(func(c *push.OkeybotConfig) { c.Channels[0].Token = " " }), "empty token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := push.NewOkeybot(tt.give)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
	_, err = push.NewOkeybot(with(func(c *push.OkeybotConfig) { c.Channels[0].LookupField = "phone" }))
	require.NoError(t, err)
}

func TestRun_Okeybot_mergedContactTakesOverItsOkeybotRecord(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{})
	ids := seedContacts(t, b.st,
		seedContact{Name: "Survivor", Identities: []contact.Identity{lineID(1)}, Tags: []string{"a"}},
		seedContact{Name: "Merged", Identities: []contact.Identity{fbID("u2")}, Tags: []string{"a", "b"}},
	)
	_, err := b.run(t)
	require.NoError(t, err)
	merged, _ := okState(t, b.st, okKey(okFB, ids[1]))

	// Reconcile merges ids[1] into ids[0]: the survivor now reaches the page's channel too.
	at := t0.Add(time.Hour)
	exec(t, b.st, `UPDATE contact_identities SET contact_id = $1 WHERE contact_id = $2`, int64(ids[0]), int64(ids[1]))
	exec(t, b.st, `UPDATE contacts SET merged_into = $1, identities = 0, updated_at = $2 WHERE id = $3`, int64(ids[0]), at, int64(ids[1]))
	exec(t, b.st, `UPDATE contacts SET identities = 2, updated_at = $1 WHERE id = $2`, at, int64(ids[0]))
	before := len(b.srv.Requests(okFBToken))

	res, err := b.run(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Contacts)
	require.Equal(t, 1, res.Created, "the page's record is new to the survivor's target")
	require.Equal(t, 1, res.Unchanged, "the LINE record is as it was")
	require.Equal(t, []string{"PUT /v1/contact/{id} 200", "DELETE /v1/contact/{id}/tags 200"}, okRequests(b.srv, okFBToken)[before:],
		"no create: only what differs from the merged contact's record")
	require.Len(t, b.srv.Contacts(okFBToken), 1)
	got := okOnly(t, b.srv, okFBToken)
	require.Equal(t, merged, got.ID)
	require.Equal(t, "Survivor", got.CustomFields["name"])
	require.Equal(t, []string{"a"}, got.Tags)
	remote, _ := okState(t, b.st, okKey(okFB, ids[0]))
	require.Equal(t, merged, remote)
}

func TestOkeybot_Start_fingerprint(t *testing.T) {
	t.Parallel()
	b := okSetupBundle(t, okSetup{})
	client, err := okeybot.New(okeybot.Config{})
	require.NoError(t, err)
	bangkok, err := time.LoadLocation("Asia/Bangkok")
	require.NoError(t, err)
	base := mapping.Options{Okeybot: defaultOkeybotMapping()}
	chans := []push.OkeybotChannel{{Name: "shop", Token: "tok", Sources: []string{"line"}}}
	fingerprint := func(mo mapping.Options, chans []push.OkeybotChannel) string {
		t.Helper()
		mp, err := mapping.New(mo)
		require.NoError(t, err)
		d, err := push.NewOkeybot(push.OkeybotConfig{Client: client, Mapper: mp, Channels: chans})
		require.NoError(t, err)
		fp, err := d.Start(t.Context(), b.st)
		require.NoError(t, err)
		return fp
	}
	want := fingerprint(base, chans)

	tests := []struct {
		name     string
		give     func(*mapping.Options, []push.OkeybotChannel)
		wantSame bool
	}{
		{"OhoRulesDoNotMatter", func(mo *mapping.Options, _ []push.OkeybotChannel) { mo.Oho.Tags.Exclude = []string{"x"} }, true},
		{"TokenDoesNotMatter", func(_ *mapping.Options, cs []push.OkeybotChannel) { cs[0].Token = "other" }, true},
		{"OkeybotFields", func(mo *mapping.Options, _ []push.OkeybotChannel) {
			mo.Okeybot.CustomFields = mo.Okeybot.CustomFields[:1]
		}, false},
		{"TimeZone", func(mo *mapping.Options, _ []push.OkeybotChannel) { mo.Location = bangkok }, false},
		{"Sources", func(_ *mapping.Options, cs []push.OkeybotChannel) { cs[0].Sources = []string{"line/1656"} }, false},
		{"LookupField", func(_ *mapping.Options, cs []push.OkeybotChannel) { cs[0].LookupField = "phone" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mo := base
			mo.Okeybot.CustomFields = slices.Clone(base.Okeybot.CustomFields)
			cs := slices.Clone(chans)
			tt.give(&mo, cs)
			require.Equal(t, tt.wantSame, fingerprint(mo, cs) == want)
		})
	}
}
