package push_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/lineapi/lineapitest"
	"crmsync/clients/oho/ohotest"
	"crmsync/contact"
	"crmsync/sync/push"
)

// benchContacts is how many contacts one benchmark iteration pushes.
const benchContacts = 400

// BenchmarkPushOho measures the Oho push against the fakes with no rate
// limit: contacts pushed per second, and Oho requests per contact for each
// kind of change, against the fewest the API allows: 1 for a create (POST),
// 2 for an update (the GET the three-way merge needs, and the PATCH), also
// when people edited the contacts in Oho (UpdateAfterOhoEdits: a tag added
// and a field edited on every contact, kept by the merge), 0 for unchanged.
// Half the contacts are on LINE (one profile GET each on create, counted
// apart), half on a Facebook page. 429/op counts the fake's 429s: Oho
// publishes no limit and the fake applies none, so any would be the
// client's fault (target 0).
//
//	go test -run='^$' -bench=BenchmarkPushOho -benchtime=5x ./sync/push/
func BenchmarkPushOho(b *testing.B) {
	bd := setup(b, setupOptions{})
	next := 0
	seed := func(n int) {
		cs := make([]seedContact, n)
		for i := range cs {
			next++
			c := seedContact{Name: fmt.Sprintf("Contact %d", next), Email: fmt.Sprintf("c%d@example.com", next),
				Tags: []string{"customer", fmt.Sprintf("cohort-%d", next%7)}, Attrs: map[string]string{"tier": "gold"}}
			if next%2 == 0 {
				c.Identities = []contact.Identity{lineID(next)}
				bd.line.AddProfile(lineToken, lineapitest.Profile{UserID: lineUser(next), DisplayName: c.Name, PictureURL: "https://profile.line-scdn.net/p"})
			} else {
				c.Identities = []contact.Identity{fbID(fmt.Sprintf("fb-%d", next))}
			}
			cs[i] = c
		}
		seedContacts(b, bd.st, cs...)
	}
	opts := func(o *push.Options) { o.Concurrency, o.BatchSize = 4, 200 }
	tick := 0

	type phase struct {
		name    string
		prepare func(i int)
		opts    func(*push.Options)
		perKind func(push.Result) int // targets of the kind measured
	}
	for _, ph := range []phase{
		{"Create", func(int) { seed(benchContacts) }, opts, func(r push.Result) int { return r.Created }},
		{"Update", func(int) {
			tick++
			exec(b, bd.st, `UPDATE contacts SET name = name || '.', updated_at = $1`, t0.Add(time.Duration(tick)*time.Minute))
		}, opts, func(r push.Result) int { return r.Updated }},
		{"UpdateAfterOhoEdits", func(int) {
			tick++
			for _, c := range bd.oho.Contacts() {
				bd.oho.Edit(c.Key(), func(c *ohotest.Contact) {
					c.Tags = append(c.Tags, fmt.Sprintf("agent %d", tick))
					c.LastName = fmt.Sprintf("edited %d", tick)
				})
			}
			exec(b, bd.st, `UPDATE contacts SET name = name || '.', updated_at = $1`, t0.Add(time.Duration(tick)*time.Minute))
		}, opts, func(r push.Result) int { return r.Updated }},
		{"Unchanged", func(int) {}, func(o *push.Options) { opts(o); o.Full = true }, func(r push.Result) int { return r.Unchanged }},
	} {
		b.Run(ph.name, func(b *testing.B) {
			if bd.oho.Len() == 0 {
				seed(benchContacts)
				_, err := push.Run(b.Context(), bd.dest, withOpts(bd.opts, opts))
				require.NoError(b, err)
			}
			var contacts, requests, line, kind, limited int
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				ph.prepare(i)
				limitedBefore := ohoRateLimited(bd.oho)
				b.StartTimer()
				res, err := push.Run(b.Context(), bd.dest, withOpts(bd.opts, ph.opts))
				b.StopTimer()
				limited += ohoRateLimited(bd.oho) - limitedBefore
				b.StartTimer()
				require.NoError(b, err)
				require.Zero(b, res.Failed+res.Rejected)
				contacts += res.Contacts
				requests += res.Requests
				line += res.HelperRequests
				kind += ph.perKind(res)
			}
			require.Equal(b, contacts, kind, "every contact examined is of the kind measured")
			b.ReportMetric(float64(contacts)/b.Elapsed().Seconds(), "contacts/s")
			b.ReportMetric(float64(requests)/float64(contacts), "oho_req/contact")
			b.ReportMetric(float64(line)/float64(contacts), "line_req/contact")
			b.ReportMetric(float64(limited)/float64(b.N), "429/op")
		})
	}
}

// ohoRateLimited returns how many requests the fake Oho answered 429.
func ohoRateLimited(srv *ohotest.Server) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Status == http.StatusTooManyRequests {
			n++
		}
	}
	return n
}

func withOpts(o push.Options, f func(*push.Options)) push.Options {
	f(&o)
	return o
}
