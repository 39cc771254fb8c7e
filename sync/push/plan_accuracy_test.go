package push_test

import (
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/clients/lineapi"
	"crmsync/clients/lineapi/lineapitest"
	"crmsync/clients/oho"
	"crmsync/clients/oho/ohotest"
	"crmsync/contact"
	"crmsync/mapping"
	"crmsync/sync/push"
)

// planTolerance is how far the requests a credential made may be from the
// plan made just before (crmsync plan push): 5%.
const planTolerance = 0.05

// requireWithinPlan checks that every credential's requests are within
// planTolerance of its plan (exactly 0 when the plan says 0).
func requireWithinPlan(t *testing.T, phase string, planned, made map[string]int) {
	t.Helper()
	t.Logf("%s: planned %v, made %v", phase, planned, made)
	for cred, want := range planned {
		got := made[cred]
		if want == 0 {
			require.Zero(t, got, "%s: %s made %d requests, the plan said none", phase, cred, got)
			continue
		}
		off := math.Abs(float64(got-want)) / float64(want)
		require.LessOrEqual(t, off, planTolerance, "%s: %s made %d requests, the plan said %d", phase, cred, got, want)
	}
	for cred, got := range made {
		_, ok := planned[cred]
		require.True(t, ok || got == 0, "%s: %s made %d requests the plan does not name", phase, cred, got)
	}
}

// totals returns the requests of calls per credential.
func totals(calls push.Calls) map[string]int {
	out := map[string]int{}
	for _, c := range calls.Credentials() {
		out[c] = calls.Total(c)
	}
	return out
}

// freshOho returns an Oho destination with clients of its own on the
// bundle's fakes, as a new crmsync process builds them: LINE bot info is
// not cached yet.
func freshOho(t *testing.T, b *bundle) *push.Oho {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	oc, err := oho.New(oho.Config{BaseURL: b.oho.URL, APIKey: b.oho.APIKey(), Base: tr, SleepFunc: noSleep,
		Retry: apiclient.RetryPolicy{MaxAttempts: 2}})
	require.NoError(t, err)
	lc, err := lineapi.New(lineapi.Config{BaseURL: b.line.URL, Base: tr, SleepFunc: noSleep})
	require.NoError(t, err)
	mp, err := mapping.New(mapping.Options{Oho: mapping.OhoOptions{DefaultPictureURL: defaultPhoto}})
	require.NoError(t, err)
	d, err := push.NewOho(push.OhoConfig{Client: oc, Line: lc, LineTokens: map[string]string{lineChannel: lineToken},
		Mapper: mp, NowFunc: b.clock.Now})
	require.NoError(t, err)
	return d
}

// ohoMade counts the requests the fakes answered per credential since
// (oho, line) requests had been answered.
func ohoMade(b *bundle, ohoBefore, lineBefore int) map[string]int {
	made := map[string]int{"oho": len(b.oho.Requests()) - ohoBefore}
	for _, r := range b.line.Requests()[lineBefore:] {
		if r.Bot == botUserID {
			made["line/"+lineChannel]++
		}
	}
	return made
}

func TestRun_planMatchesPush_oho(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	var seeds []seedContact
	for i := range 40 {
		sc := seedContact{Name: fmt.Sprintf("Person %d", i), Email: fmt.Sprintf("p%d@example.com", i),
			Identities: []contact.Identity{lineID(i)}, Tags: []string{"a"}}
		if i%4 == 0 {
			sc.Identities = append(sc.Identities, fbID(fmt.Sprintf("fb%d", i)))
		}
		if i%2 == 0 {
			b.line.AddProfile(lineToken, lineapitest.Profile{UserID: lineUser(i), DisplayName: sc.Name})
		}
		seeds = append(seeds, sc)
	}
	ids := seedContacts(t, b.st, seeds...)

	tests := []struct {
		name   string
		change func(t *testing.T)
		// want are the actions the plan must find (by target).
		wantCreated, wantUpdated, wantUnchanged int
	}{
		{name: "Created", change: func(*testing.T) {}, wantCreated: 50},
		{name: "UpdatedCreatedAndUnchanged", change: func(t *testing.T) {
			for i, id := range ids[:20] {
				if i%2 == 0 {
					rename(t, b.st, id, fmt.Sprintf("Renamed %d", i), t0.Add(2*time.Hour))
				} else {
					exec(t, b.st, `INSERT INTO contact_tags (contact_id, tag) VALUES ($1, 'b')`, int64(id))
					exec(t, b.st, `UPDATE contacts SET updated_at = $1 WHERE id = $2`, t0.Add(2*time.Hour), int64(id))
				}
			}
			// Someone edits one in Oho: the merge keeps the edit, the PATCH is still sent.
			b.oho.Edit(ohoLineKey(lineUser(2)), func(c *ohotest.Contact) { c.Tags = append(c.Tags, "agent pick") })
			seedContacts(t, b.st, seedContact{Name: "Late", Identities: []contact.Identity{lineID(100)}})
		}, wantCreated: 1, wantUpdated: 25, wantUnchanged: 25},
		{name: "Unchanged", change: func(*testing.T) {}, wantUnchanged: 51},
	}
	for _, tt := range tests {
		tt.change(t)
		// The plan: a dry run of a process of its own.
		plan, err := push.Run(t.Context(), freshOho(t, b), push.Options{Store: b.st, NowFunc: b.clock.Now, DryRun: true, Full: true})
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.wantCreated, plan.Created, tt.name)
		require.Equal(t, tt.wantUpdated, plan.Updated+plan.Recorded, tt.name)
		require.Equal(t, tt.wantUnchanged, plan.Unchanged, tt.name)

		ohoBefore, lineBefore := len(b.oho.Requests()), len(b.line.Requests())
		res, err := push.Run(t.Context(), freshOho(t, b), push.Options{Store: b.st, NowFunc: b.clock.Now, Concurrency: 3, Full: true})
		require.NoError(t, err, tt.name)
		require.Equal(t, plan.Created, res.Created, tt.name)
		require.Equal(t, plan.Updated, res.Updated, tt.name)
		require.Equal(t, plan.Unchanged, res.Unchanged, tt.name)
		requireWithinPlan(t, tt.name, totals(plan.Calls), ohoMade(b, ohoBefore, lineBefore))
		// What the run counted itself is what the fakes answered.
		require.Equal(t, totals(res.Calls)["oho"], ohoMade(b, ohoBefore, lineBefore)["oho"], tt.name)
	}
}

// okAdmitted returns the requests the fake admitted per credential (its
// answers less its 429s: a 429 is a request the limit refused, sent again
// after the wait, which pacing at the limit avoids).
func okAdmitted(b *okBundle) map[string]int {
	return map[string]int{
		"okeybot/" + okLine: b.srv.Calls(okLineToken) - b.srv.RateLimited(okLineToken),
		"okeybot/" + okFB:   b.srv.Calls(okFBToken) - b.srv.RateLimited(okFBToken),
	}
}

func TestRun_planMatchesPush_okeybot(t *testing.T) {
	t.Parallel()
	for _, detect := range []bool{false, true} {
		t.Run(fmt.Sprintf("DetectConflicts%v", detect), func(t *testing.T) {
			t.Parallel()
			b := okSetupBundle(t, okSetup{detect: detect, channels: []push.OkeybotChannel{
				{Name: okLine, Token: okLineToken, Sources: []string{"line"}, LookupField: "email"},
				{Name: okFB, Token: okFBToken, Sources: []string{"facebook/" + fbPage}},
			}})
			var seeds []seedContact
			for i := range 36 {
				sc := seedContact{Name: fmt.Sprintf("Person %d", i), Identities: []contact.Identity{lineID(i)}, Tags: []string{"a", "b"}}
				switch {
				case i%3 == 0:
					sc.Identities = append(sc.Identities, fbID(fmt.Sprintf("fb%d", i)))
				case i%3 == 1:
					sc.Identities = []contact.Identity{fbID(fmt.Sprintf("fb%d", i))}
				}
				if i%2 == 0 {
					sc.Email = fmt.Sprintf("p%d@example.com", i) // looked up before a create
				}
				if i%5 == 0 { // more than 30 fields and 10 tags: several requests each
					sc.Attrs = map[string]string{}
					for k := range 32 {
						sc.Attrs[fmt.Sprintf("attr%02d", k)] = fmt.Sprint(k)
					}
					for k := range 12 {
						sc.Tags = append(sc.Tags, fmt.Sprintf("t%02d", k))
					}
				}
				seeds = append(seeds, sc)
			}
			ids := seedContacts(t, b.st, seeds...)
			tests := []struct {
				name   string
				change func(t *testing.T)
			}{
				{name: "Created", change: func(*testing.T) {}},
				{name: "UpdatedCreatedAndUnchanged", change: func(t *testing.T) {
					for i, id := range ids[:18] {
						switch i % 3 {
						case 0:
							rename(t, b.st, id, fmt.Sprintf("Renamed %d", i), t0.Add(2*time.Hour))
						case 1:
							exec(t, b.st, `DELETE FROM contact_tags WHERE contact_id = $1 AND tag = 'a'`, int64(id))
							exec(t, b.st, `INSERT INTO contact_tags (contact_id, tag) VALUES ($1, 'c'), ($1, 'd')`, int64(id))
							exec(t, b.st, `UPDATE contacts SET updated_at = $1 WHERE id = $2`, t0.Add(2*time.Hour), int64(id))
						}
					}
					seedContacts(t, b.st, seedContact{Name: "Late", Email: "late@example.com", Identities: []contact.Identity{lineID(100)}})
				}},
				{name: "Unchanged", change: func(*testing.T) {}},
			}
			for _, tt := range tests {
				tt.change(t)
				plan, err := b.run(t, func(o *push.Options) { o.DryRun, o.Full = true, true })
				require.NoError(t, err, tt.name)
				before := okAdmitted(b)
				res, err := b.run(t, func(o *push.Options) { o.Full, o.Concurrency = true, 4 })
				require.NoError(t, err, tt.name)
				require.Equal(t, plan.Created, res.Created, tt.name)
				require.Equal(t, plan.Updated, res.Updated, tt.name)
				require.Equal(t, plan.Unchanged, res.Unchanged, tt.name)
				switch tt.name {
				case "Created":
					require.Equal(t, plan.Targets, plan.Created)
				case "UpdatedCreatedAndUnchanged":
					require.Equal(t, 1, plan.Created)
					require.Positive(t, plan.Updated)
					require.Positive(t, plan.Unchanged)
				case "Unchanged":
					require.Equal(t, plan.Targets, plan.Unchanged)
				}
				made := okAdmitted(b)
				for k := range made {
					made[k] -= before[k]
				}
				planned := totals(plan.Calls)
				for _, c := range b.dest.Credentials() {
					if _, ok := planned[c.Credential]; !ok {
						planned[c.Credential] = 0
					}
				}
				requireWithinPlan(t, tt.name, planned, made)
			}
		})
	}
}
