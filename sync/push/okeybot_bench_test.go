package push_test

import (
	"context"
	"fmt"
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
// minute: the fake allows 100 calls per window per token and the client
// paces at 100 per window (okeybot.QuotaLimiter), so a run has the shape of
// a real one, 20 times faster; Retry-After waits are scaled by the same
// factor. BENCH_OKEYBOT_WINDOW overrides it (e.g. 600ms: 100 times faster,
// which magnifies crmsync's own fixed costs, loading and mapping a batch,
// 100 times against the quota).
const defaultBenchOkeybotWindow = 3 * time.Second

// benchOkeybotContacts is how many changed contacts one iteration pushes,
// half to each of two channel tokens.
const benchOkeybotContacts = 200

// BenchmarkPushOkeybot measures how close the Okeybot push comes to the
// time the rate limit allows: a fake at 100 calls per window per token, two
// tokens (a LINE channel and a Facebook page), N changed contacts. The
// minimum is the busiest token's requests ÷ its rate (100 per window); the
// ratio is the measured time over that minimum (target ≤ 1.05).
//
// Phases: Create (new contacts, 3 custom fields and 2 tags: a POST and a
// tag POST each) and Update (every contact renamed: one PUT each). Layouts:
// Alternating (contact ids alternate between the channels), Grouped (the
// first half of the ids on one channel, the second half on the other: the
// order a pull by channel produces) in one batch of 200, and
// GroupedAcrossBatches (the same in two batches of 100, each all one
// channel: the case Run's lanes exist for, as a loop that finished a batch
// before loading the next would make the channels take turns). Concurrency
// is DefaultOkeybotConcurrency per lane;
// BENCH_OKEYBOT_CONCURRENCY caps it to compare.
//
//	go test -run='^$' -bench=BenchmarkPushOkeybot -benchtime=3x ./sync/push/
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
	for _, layout := range []struct {
		name  string
		onFB  func(i, n int) bool // whether the i-th of n contacts is on the Facebook page
		batch int                 // Options.BatchSize
	}{
		{"Alternating", func(i, _ int) bool { return i%2 == 1 }, push.DefaultBatchSize},
		{"Grouped", func(i, n int) bool { return i >= n/2 }, push.DefaultBatchSize},
		{"GroupedAcrossBatches", func(i, n int) bool { return i >= n/2 }, benchOkeybotContacts / 2},
	} {
		for _, phase := range []string{"Create", "Update"} {
			b.Run(layout.name+"/"+phase, func(b *testing.B) {
				bb := newOkeybotBench(b, window)
				seed := func() []contact.ID {
					cs := make([]seedContact, benchOkeybotContacts)
					for i := range cs {
						bb.next++
						c := seedContact{Name: fmt.Sprintf("Contact %d", bb.next), Email: fmt.Sprintf("c%d@example.com", bb.next),
							Tags: []string{"customer", fmt.Sprintf("cohort-%d", bb.next%7)}, Attrs: map[string]string{"tier": "gold"}}
						if layout.onFB(i, len(cs)) {
							c.Identities = []contact.Identity{fbID(fmt.Sprintf("fb-%d", bb.next))}
						} else {
							c.Identities = []contact.Identity{lineID(bb.next)}
						}
						cs[i] = c
					}
					return seedContacts(b, bb.st, cs...)
				}
				opts := push.Options{Store: bb.st, Concurrency: min(concurrency, layout.batch), BatchSize: layout.batch}
				tick := 0
				prepare := func() { seed() }
				if phase == "Update" {
					seed()
					_, err := push.Run(b.Context(), bb.dest, opts)
					require.NoError(b, err)
					prepare = func() {
						tick++
						exec(b, bb.st, `UPDATE contacts SET name = name || '.', updated_at = $1`, t0.Add(time.Duration(tick)*time.Minute))
					}
				}
				var elapsed, minimum time.Duration
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
					minimum += time.Duration(busiest) * window / okeybot.DefaultRatePerMinute
					requests += res.Requests
					limited += bb.srv.TotalRateLimited() - limitedBefore
					b.StartTimer()
				}
				b.ReportMetric(minimum.Seconds()/float64(b.N), "min_s/op")
				b.ReportMetric(elapsed.Seconds()/float64(b.N), "elapsed_s/op")
				b.ReportMetric(elapsed.Seconds()/minimum.Seconds(), "ratio")
				b.ReportMetric(float64(requests)/float64(b.N*benchOkeybotContacts), "req/contact")
				b.ReportMetric(float64(limited)/float64(b.N), "429/op")
			})
		}
	}
}

// okeybotBench is one benchmark's database, fake and destination.
type okeybotBench struct {
	st   *store.Store
	srv  *okeybottest.Server
	dest *push.Okeybot
	next int // contacts seeded so far
}

func newOkeybotBench(b *testing.B, window time.Duration) *okeybotBench {
	b.Helper()
	st := storetest.New(b)
	srv := okeybottest.NewServer(b, okeybottest.Options{
		Channels:   []okeybottest.Channel{{Token: okLineToken}, {Token: okFBToken}},
		RateLimit:  okeybot.DefaultRatePerMinute,
		RateWindow: window,
	})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	b.Cleanup(tr.CloseIdleConnections)
	scale := float64(window) / float64(time.Minute)
	oc, err := okeybot.New(okeybot.Config{
		BaseURL: srv.URL, Base: tr,
		LimiterFunc: func(string) *rate.Limiter {
			return apiclient.Pace(okeybot.DefaultRatePerMinute, window, apiclient.DefaultHeadroom)
		},
		SleepFunc: func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(time.Duration(float64(d) * scale))
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
	mp, err := mapping.New(mapping.Options{Okeybot: defaultOkeybotMapping()})
	require.NoError(b, err)
	dest, err := push.NewOkeybot(push.OkeybotConfig{Client: oc, Mapper: mp, NowFunc: func() time.Time { return t0.Add(time.Hour) },
		Channels: []push.OkeybotChannel{
			{Name: okLine, Token: okLineToken, Sources: []string{"line"}},
			{Name: okFB, Token: okFBToken, Sources: []string{"facebook/" + fbPage}},
		}})
	require.NoError(b, err)
	return &okeybotBench{st: st, srv: srv, dest: dest}
}

// accepted returns how many calls the fake accepted (not answered 429) of
// each token: the requests the push needed.
func (bb *okeybotBench) accepted() []int {
	return []int{bb.srv.Calls(okLineToken) - bb.srv.RateLimited(okLineToken), bb.srv.Calls(okFBToken) - bb.srv.RateLimited(okFBToken)}
}
