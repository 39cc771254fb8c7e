package pull_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat/omnichattest"
	"crmsync/sync/pull"
)

// planTolerance is how far a backfill's requests may be from the plan made
// just before it (crmsync plan backfill): 5%.
const planTolerance = 0.05

// requireNear checks got within planTolerance of want (exact when want is 0).
func requireNear(t *testing.T, want, got int, msg string) {
	t.Helper()
	t.Logf("%s: planned %d, made %d", msg, want, got)
	if want == 0 {
		require.Zero(t, got, msg)
		return
	}
	require.LessOrEqual(t, math.Abs(float64(got-want))/float64(want), planTolerance, "%s: planned %d, made %d", msg, want, got)
}

func TestPuller_Estimate_matchesTheBackfill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		seed  func(b *testBundle)
		set   []setOpts
		from  int
		to    int
		check func(t *testing.T, ests map[pull.Stream]pull.Estimate)
	}{
		{name: "EveryStreamTwoChannels", seed: func(b *testBundle) {
			seedAll(b)
			b.srv.SeedMessages(messages(lineChannel, "more", 2000, day(0), 10*24*time.Hour)...)
		}, set: []setOpts{bothChannels}, from: 0, to: 10, check: func(t *testing.T, ests map[pull.Stream]pull.Estimate) {
			require.Equal(t, 20, ests[pull.Messages].ToRead, "10 one-day windows on 2 channels")
			require.Equal(t, int64(2280), ests[pull.Messages].Rows)
			require.Equal(t, 1+20, ests[pull.Messages].ProbeRequests, "the channel list, then page 1 of each window")
		}},
		{name: "ServerServesTwentyRowsAPage", seed: func(b *testBundle) { seedTaggingLogs(b, 0, 250) }, from: 0, to: 1,
			check: func(t *testing.T, ests map[pull.Stream]pull.Estimate) {
				require.Equal(t, 13, ests[pull.TaggingLogs].Requests, "1 page at 100 serving 20, then 12 at 20")
			}},
		{name: "WindowTooLargeIsSplit", seed: func(b *testBundle) { seedTaggingLogs(b, 0, 250) }, from: 0, to: 1,
			set: []setOpts{func(o *pull.Options) { o.MaxWindowRows, o.PageSize = 100, 20 }},
			check: func(t *testing.T, ests map[pull.Stream]pull.Estimate) {
				// 250 → two of 125 → four of 62 or 63: 1 + 2 + 4×4 page-1 reads and pages.
				require.Equal(t, 19, ests[pull.TaggingLogs].Requests)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, b := setup(t, omnichattest.Options{}, tt.set...)
			tt.seed(b)
			ests := map[pull.Stream]pull.Estimate{}
			for _, s := range pull.Streams {
				est, err := p.Estimate(t.Context(), s, day(tt.from), day(tt.to), pull.EstimateOptions{Probe: true})
				require.NoError(t, err)
				ests[s] = est
			}
			// The plan wrote nothing: no window, no channel.
			require.Zero(t, count(t, b.st, `SELECT count(*) FROM sync_windows`))
			require.Zero(t, count(t, b.st, `SELECT count(*) FROM omnichat_channels`))
			tt.check(t, ests)

			for _, s := range pull.Streams {
				before := len(b.srv.Requests())
				_, err := p.Backfill(t.Context(), s, day(tt.from), day(tt.to), pull.RunOptions{})
				require.NoError(t, err)
				requireNear(t, ests[s].Requests, len(b.srv.Requests())-before, string(s))
			}

			// Planned again, everything is done: free, but for the channel list.
			for _, s := range pull.Streams {
				est, err := p.Estimate(t.Context(), s, day(tt.from), day(tt.to), pull.EstimateOptions{Probe: true})
				require.NoError(t, err)
				require.Zero(t, est.ToRead, s)
				require.Equal(t, est.Windows, est.Done, s)
				before := len(b.srv.Requests())
				_, err = p.Backfill(t.Context(), s, day(tt.from), day(tt.to), pull.RunOptions{})
				require.NoError(t, err)
				requireNear(t, est.Requests, len(b.srv.Requests())-before, string(s)+" again")
			}
		})
	}
}

func TestPuller_Estimate_noProbeSendsNothing(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, bothChannels)
	seedAll(b)
	_, err := p.Backfill(t.Context(), pull.Messages, day(0), day(5), pull.RunOptions{})
	require.NoError(t, err)
	before := len(b.srv.Requests())

	est, err := p.Estimate(t.Context(), pull.Messages, day(0), day(10), pull.EstimateOptions{})
	require.NoError(t, err)
	require.Equal(t, before, len(b.srv.Requests()), "--no-probe sends Omnichat nothing")
	require.Zero(t, est.ProbeRequests)
	require.Equal(t, 20, est.Windows)
	require.Equal(t, 10, est.Done)
	require.Equal(t, 10, est.ToRead)
	require.Zero(t, est.Unknown)
	// Days 0–4 held 125 line and 30 webchat messages: the next five days are
	// estimated at the same density per channel.
	require.Equal(t, int64(125+30), est.Rows)
	require.Equal(t, 1+10, est.Requests, "the channel list and one page per window")

	// A stream with no done window at all: each window counts one page.
	est, err = p.Estimate(t.Context(), pull.Contacts, day(0), day(2), pull.EstimateOptions{})
	require.NoError(t, err)
	require.Equal(t, 4, est.Unknown)
	require.Equal(t, 1+4, est.Requests)
}
