package push_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
	"crmsync/clients/okeybot"
	"crmsync/clients/okeybot/okeybottest"
	"crmsync/contact"
	"crmsync/mapping"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/push"
)

// defaultBenchOkeybotWindow is the benchmark's stand-in for Okeybot's
// minute: the fake allows 100 calls in any window per token (counted by
// arrival time, faketest.SlidingWindow) and the client paces at 100 per
// window less its headroom (apiclient.Pace, as okeybot.New does), so a run
// has the shape of a real one, 20 times faster; the client's waits after a
// 429 are scaled by the same factor. BENCH_OKEYBOT_WINDOW overrides it.
const defaultBenchOkeybotWindow = 3 * time.Second

// benchOkeybotContacts is how many changed contacts one iteration pushes,
// half to each of two channel tokens.
const benchOkeybotContacts = 200

// benchOkeybotLimit is Okeybot's limit per window and token.
const benchOkeybotLimit = okeybot.DefaultRatePerMinute

// BenchmarkPushOkeybot measures how close the Okeybot push comes to what
// Okeybot's limit allows: a fake at 100 calls per window per token counted
// over any window by arrival time, with arrival jitter (a third of a percent
// of the window by default, BENCH_OKEYBOT_JITTER), two tokens (a LINE channel and a Facebook
// page), N changed contacts, the channels set up as jobs.yaml ships them
// (lookup_field phone; custom fields name, phone, email, member_id), so a
// create costs its lookup too. Three references, per iteration, for the
// busiest token's R accepted requests at L = 100 per window W:
//
//   - quota_s: R ÷ L × W, the time the quota takes at its sustained rate;
//     ratio is the measured time over it (target ≤ 1.05: the client's 2.5%
//     headroom costs 1.026 of it);
//   - limit_min_s: ⌊(R−1) ÷ L⌋ × W, the least time the limit itself allows:
//     a server counting any window accepts L calls at once, then L more a
//     window later (0 for R ≤ L);
//   - 429/op: 429s met (target 0).
//
// Phases: Create (new contacts, 4 custom fields and 2 tags: a lookup GET, a
// POST and a tag POST each) and Update (every contact renamed: one PUT
// each). Layouts: Alternating (contact ids alternate between the channels),
// Grouped (the first half of the ids on one channel, the second half on the
// other) in one batch of 200, and GroupedAcrossBatches (the same in two
// batches of 100, each all one channel: the case Run's lanes exist for).
// DetectConflicts/Update is Alternating/Update with okeybot.detect_conflicts
// (a GET before each PUT). Concurrency is DefaultOkeybotConcurrency per
// lane; BENCH_OKEYBOT_CONCURRENCY caps it to compare.
//
//	go test -run='^$' -bench=BenchmarkPushOkeybot -benchtime=1x ./sync/push/
func BenchmarkPushOkeybot(b *testing.B) {
	concurrency := push.DefaultOkeybotConcurrency
	if s := os.Getenv("BENCH_OKEYBOT_CONCURRENCY"); s != "" { // to compare settings
		n, err := strconv.Atoi(s)
		require.NoError(b, err)
		concurrency = n
	}
	window := defaultBenchOkeybotWindow
	if s := os.Getenv("BENCH_OKEYBOT_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		require.NoError(b, err)
		window = d
	}
	// Arrival jitter does not shrink with the window: 10 ms here stands for
	// 200 ms at Okeybot's minute, on top of this machine's own scheduling
	// delays, which weigh 20 times more against a 3 s window too.
	jitter := window / 300
	if s := os.Getenv("BENCH_OKEYBOT_JITTER"); s != "" {
		d, err := time.ParseDuration(s)
		require.NoError(b, err)
		jitter = d
	}
	type layout struct {
		name  string
		onFB  func(i, n int) bool // whether the i-th of n contacts is on the Facebook page
		batch int                 // Options.BatchSize
	}
	alternating := layout{"Alternating", func(i, _ int) bool { return i%2 == 1 }, push.DefaultBatchSize}
	runs := []struct {
		layout layout
		phase  string
		detect bool
		name   string
	}{}
	for _, l := range []layout{
		alternating,
		{"Grouped", func(i, n int) bool { return i >= n/2 }, push.DefaultBatchSize},
		{"GroupedAcrossBatches", func(i, n int) bool { return i >= n/2 }, benchOkeybotContacts / 2},
	} {
		for _, phase := range []string{"Create", "Update"} {
			runs = append(runs, struct {
				layout layout
				phase  string
				detect bool
				name   string
			}{l, phase, false, l.name + "/" + phase})
		}
	}
	runs = append(runs, struct {
		layout layout
		phase  string
		detect bool
		name   string
	}{alternating, "Update", true, "DetectConflicts/Update"})

	for _, r := range runs {
		b.Run(r.name, func(b *testing.B) {
			bb := newOkeybotBench(b, window, jitter, r.detect)
			seed := func() []contact.ID {
				cs := make([]seedContact, benchOkeybotContacts)
				for i := range cs {
					bb.next++
					c := seedContact{Name: fmt.Sprintf("Contact %d", bb.next), Email: fmt.Sprintf("c%d@example.com", bb.next),
						Phone: fmt.Sprintf("+6681%07d", bb.next),
						Tags:  []string{"customer", fmt.Sprintf("cohort-%d", bb.next%7)}, Attrs: map[string]string{"tier": "gold"}}
					if r.layout.onFB(i, len(cs)) {
						c.Identities = []contact.Identity{fbID(fmt.Sprintf("fb-%d", bb.next))}
					} else {
						c.Identities = []contact.Identity{lineID(bb.next)}
					}
					cs[i] = c
				}
				return seedContacts(b, bb.st, cs...)
			}
			opts := push.Options{Store: bb.st, Concurrency: min(concurrency, r.layout.batch), BatchSize: r.layout.batch}
			tick := 0
			prepare := func() { seed() }
			if r.phase == "Update" {
				seed()
				_, err := push.Run(b.Context(), bb.dest, opts)
				require.NoError(b, err)
				prepare = func() {
					tick++
					exec(b, bb.st, `UPDATE contacts SET name = name || '.', updated_at = $1`, t0.Add(time.Duration(tick)*time.Minute))
				}
			}
			var elapsed, quota, limitMin time.Duration
			var requests, limited int
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				prepare()
				accepted := bb.accepted()
				limitedBefore := bb.srv.TotalRateLimited()
				b.StartTimer()
				start := time.Now()
				res, err := push.Run(b.Context(), bb.dest, opts)
				took := time.Since(start)
				b.StopTimer()
				require.NoError(b, err)
				require.Zero(b, res.Failed+res.Rejected)
				require.Equal(b, benchOkeybotContacts, res.Created+res.Updated)
				busiest := 0
				for i, n := range bb.accepted() {
					busiest = max(busiest, n-accepted[i])
				}
				elapsed += took
				quota += time.Duration(busiest) * window / benchOkeybotLimit
				limitMin += time.Duration((busiest-1)/benchOkeybotLimit) * window
				requests += res.Requests
				limited += bb.srv.TotalRateLimited() - limitedBefore
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(elapsed.Seconds()/n, "elapsed_s/op")
			b.ReportMetric(quota.Seconds()/n, "quota_s/op")
			b.ReportMetric(limitMin.Seconds()/n, "limit_min_s/op")
			b.ReportMetric(elapsed.Seconds()/quota.Seconds(), "ratio")
			b.ReportMetric(float64(requests)/(n*benchOkeybotContacts), "req/contact")
			b.ReportMetric(float64(limited)/n, "429/op")
		})
	}
}

// okeybotBench is one benchmark's database, fake and destination.
type okeybotBench struct {
	st   *store.Store
	srv  *okeybottest.Server
	dest *push.Okeybot
	next int // contacts seeded so far
}

func newOkeybotBench(b *testing.B, window, jitter time.Duration, detect bool) *okeybotBench {
	b.Helper()
	st := storetest.New(b)
	srv := okeybottest.NewServer(b, okeybottest.Options{
		Channels:      []okeybottest.Channel{{Token: okLineToken}, {Token: okFBToken}},
		RateLimit:     benchOkeybotLimit,
		RateWindow:    window,
		ArrivalJitter: jitter,
		JitterSeed:    1,
	})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	b.Cleanup(tr.CloseIdleConnections)
	scale := float64(window) / float64(okeybot.RatePeriod)
	oc, err := okeybot.New(okeybot.Config{
		BaseURL: srv.URL, Base: tr,
		LimiterFunc: func(string) *rate.Limiter {
			return apiclient.Pace(benchOkeybotLimit, window, apiclient.DefaultHeadroom) // okeybot.New's own, on the shortened window
		},
		SleepFunc: func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(time.Duration(math.Round(float64(d) * scale)))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		},
		Retry: apiclient.RetryPolicy{MaxAttempts: 10},
	})
	require.NoError(b, err)
	// The mapping and lookup field jobs.yaml ships.
	mp, err := mapping.New(mapping.Options{Okeybot: mapping.OkeybotOptions{
		CustomFields: []mapping.FieldRule{{From: "name", Name: "name"}, {From: "phone_local", Name: "phone"}, {From: "email", Name: "email"}, {From: "member_id", Name: "member_id"}},
		Tags:         mapping.TagRules{Facts: []mapping.FactTag{{Fact: "inactive_30d", Tag: "inactive 30d"}}},
	}})
	require.NoError(b, err)
	dest, err := push.NewOkeybot(push.OkeybotConfig{Client: oc, Mapper: mp, NowFunc: func() time.Time { return t0.Add(time.Hour) },
		DetectConflicts: detect,
		Channels: []push.OkeybotChannel{
			{Name: okLine, Token: okLineToken, Sources: []string{"line"}, LookupField: "phone"},
			{Name: okFB, Token: okFBToken, Sources: []string{"facebook/" + fbPage}, LookupField: "phone"},
		}})
	require.NoError(b, err)
	return &okeybotBench{st: st, srv: srv, dest: dest}
}

// accepted returns how many calls the fake accepted (not answered 429) of
// each token: the requests the push needed.
func (bb *okeybotBench) accepted() []int {
	return []int{bb.srv.Calls(okLineToken) - bb.srv.RateLimited(okLineToken), bb.srv.Calls(okFBToken) - bb.srv.RateLimited(okFBToken)}
}
