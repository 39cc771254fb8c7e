package pull_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/contact"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/pull"
)

// day0 is a Monday: a grid point of the 24-hour and 7-day window grids.
var day0 = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)

func day(n int) time.Time { return day0.AddDate(0, 0, n) }

// testBundle is what setup returns besides the Puller.
type testBundle struct {
	srv   *omnichattest.Server
	st    *store.Store
	c     *omnichat.Client
	clock *omnichattest.Clock
	sleep *sleepRecorder
	now   *atomic.Pointer[time.Time]
	opts  pull.Options
}

// setOpts adjusts the Puller's options.
type setOpts func(*pull.Options)

// setup starts a fake Omnichat (rate limit off unless srvOpts says
// otherwise, on a manual clock), a fresh database and a Puller whose
// clock reads day(60) and whose retry sleeps only advance the fake clock.
func setup(t *testing.T, srvOpts omnichattest.Options, set ...setOpts) (*pull.Puller, *testBundle) {
	t.Helper()
	clock := omnichattest.NewClock(day0)
	if srvOpts.NowFunc == nil {
		srvOpts.NowFunc = clock.Now
	}
	if srvOpts.RateLimit == 0 {
		srvOpts.RateLimit = omnichattest.RateLimitOff
	}
	srv := omnichattest.NewServer(t, srvOpts)
	sleep := &sleepRecorder{clock: clock}
	c, err := omnichat.New(omnichat.Config{
		BaseURL:   srv.URL,
		Token:     omnichattest.DefaultToken,
		Limiter:   rate.NewLimiter(rate.Inf, 0), // the fake's limit is the one under test
		SleepFunc: sleep.Sleep,
	})
	require.NoError(t, err)
	b := &testBundle{srv: srv, st: storetest.New(t), c: c, clock: clock, sleep: sleep, now: &atomic.Pointer[time.Time]{}}
	b.setNow(day(60))
	b.opts = pull.Options{
		Client: c, Store: b.st, Window: 24 * time.Hour, SafetyLag: 5 * time.Minute,
		// The platform of lineChannel; tests of other platforms set their own.
		Platforms:   []string{"line"},
		Concurrency: 1, NowFunc: func() time.Time { return *b.now.Load() },
	}
	for _, f := range set {
		f(&b.opts)
	}
	p, err := pull.New(b.opts)
	require.NoError(t, err)
	return p, b
}

func (b *testBundle) setNow(t time.Time) { b.now.Store(&t) }

// sleepRecorder records retry waits and advances the fake clock by them.
type sleepRecorder struct {
	clock *omnichattest.Clock
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return s.clock.Sleep(ctx, d)
}

func (s *sleepRecorder) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func count(t *testing.T, st *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, st.SQL().QueryRowContext(t.Context(), query, args...).Scan(&n))
	return n
}

// snapshot returns every raw-table and queue row as text.
func snapshot(t *testing.T, st *store.Store) string {
	t.Helper()
	var out string
	err := st.SQL().QueryRowContext(t.Context(), `SELECT concat_ws(E'\n',
		(SELECT string_agg(c::text, E'\n' ORDER BY platform, channel_id, user_id) FROM omnichat_contacts c),
		(SELECT string_agg(l::text, E'\n' ORDER BY id) FROM omnichat_tagging_logs l),
		(SELECT string_agg(m::text, E'\n' ORDER BY id) FROM omnichat_messages m),
		(SELECT string_agg(q::text, E'\n' ORDER BY platform, channel_id, user_id) FROM reconcile_queue q))`).Scan(&out)
	require.NoError(t, err)
	return out
}

// rawRows returns the raw-table rows without the columns that record when a
// pull wrote them, to compare two databases.
func rawRows(t *testing.T, st *store.Store) string {
	t.Helper()
	var out string
	err := st.SQL().QueryRowContext(t.Context(), `SELECT concat_ws(E'\n',
		(SELECT string_agg(concat_ws(',', platform, channel_id, user_id, name, updated_at, raw), E'\n' ORDER BY platform, channel_id, user_id) FROM omnichat_contacts),
		(SELECT string_agg(concat_ws(',', platform, channel_id, user_id, tag, tagged_at, message_id, raw), E'\n' ORDER BY platform, channel_id, user_id, tag, tagged_at, message_id) FROM omnichat_tagging_logs),
		(SELECT string_agg(concat_ws(',', id, platform, channel_id, customer_user_id, sent_at, message, raw), E'\n' ORDER BY id) FROM omnichat_messages))`).Scan(&out)
	require.NoError(t, err)
	return out
}

var (
	lineChannel    = omnichat.Channel{Platform: contact.LINE, ChannelID: "1657703186", ChannelName: "LINE shop"}
	webchatChannel = omnichat.Channel{Platform: contact.Webchat, ChannelID: "webchat", ChannelName: "Team"}
)

func textPtr(s string) *string { return &s }

// messages returns n messages on ch spread over [from, from+span).
func messages(ch omnichat.Channel, prefix string, n int, from time.Time, span time.Duration) []omnichat.Message {
	out := make([]omnichat.Message, n)
	for i := range out {
		user := fmt.Sprintf("%s-user-%d", prefix, i%7)
		out[i] = omnichat.Message{
			Platform: ch.Platform, ChannelID: ch.ChannelID, ID: fmt.Sprintf("%s-%04d", prefix, i),
			Time: from.Add(span * time.Duration(i) / time.Duration(n)), RoomID: "room-" + user, CustomerUserID: user,
			SenderType: "customer", SenderName: "Customer", SenderUserID: user, MessageType: "text", MessageStatus: "read",
			Message: textPtr(fmt.Sprintf("message %d", i)),
		}
	}
	return out
}

func contactAt(ch omnichat.Channel, id, name string, updated time.Time) omnichat.Contact {
	return omnichat.Contact{
		Platform: ch.Platform, ChannelID: ch.ChannelID, ID: id, Name: name, UpdatedAt: updated, Status: true,
		Tags: []string{"VIP"}, Phone: "66812345678", Email: id + "@example.com",
		CustomAttributes: []omnichat.CustomAttribute{{Key: "TIER", Value: "GOLD", Type: contact.AttrText, DisplayName: "Tier"}},
	}
}

func taggingLog(ch omnichat.Channel, user, tag string, at time.Time) omnichat.TaggingLog {
	return omnichat.TaggingLog{Time: at, Platform: ch.Platform, ChannelID: ch.ChannelID, UserID: user, Tag: tag, Source: "Bot"}
}

// bothChannels pulls the platforms of lineChannel and webchatChannel.
func bothChannels(o *pull.Options) { o.Platforms = []string{"line", "webchat"} }

// seedAll seeds every stream on two channels over days 0..9.
func seedAll(b *testBundle) {
	b.srv.SeedChannels(lineChannel, webchatChannel)
	b.srv.SeedMessages(messages(lineChannel, "line", 250, day(0), 10*24*time.Hour)...)
	b.srv.SeedMessages(messages(webchatChannel, "web", 30, day(2), 24*time.Hour)...)
	for i := range 120 {
		b.srv.SeedContacts(contactAt(lineChannel, fmt.Sprintf("U%03d", i), fmt.Sprintf("Customer %d", i), day(i%10).Add(time.Hour)))
	}
	b.srv.SeedContacts(contactAt(webchatChannel, "w1", "Web visitor", day(3)))
	for i := range 40 {
		b.srv.SeedTaggingLogs(taggingLog(lineChannel, fmt.Sprintf("U%03d", i), "VIP", day(i%10).Add(2*time.Hour)))
	}
}

func backfillAll(t *testing.T, p *pull.Puller, from, to time.Time, ro pull.RunOptions) pull.Counts {
	t.Helper()
	var total pull.Counts
	for _, s := range pull.Streams {
		c, err := p.Backfill(t.Context(), s, from, to, ro)
		require.NoError(t, err, "stream %s", s)
		total.Add(c)
	}
	return total
}

func TestPuller_Backfill_everyStreamEndToEnd(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, bothChannels)
	seedAll(b)

	c := backfillAll(t, p, day(0), day(10), pull.RunOptions{})

	require.Equal(t, 250+30, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
	require.Equal(t, 121, count(t, b.st, `SELECT count(*) FROM omnichat_contacts`))
	require.Equal(t, 40, count(t, b.st, `SELECT count(*) FROM omnichat_tagging_logs`))
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM omnichat_channels`))
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM omnichat_tagging_logs WHERE source = 'bot' AND user_id IN ('U000', 'U010') AND tag = 'VIP'`))
	require.Equal(t, int64(250+30+121+40), c.Inserted)
	require.Zero(t, c.Bad)
	require.Zero(t, c.WindowsFailed)

	// 10 one-day windows per scope: contacts and messages on 2 channels, tagging logs on 1.
	require.Equal(t, 50, c.WindowsDone)
	require.Equal(t, 50, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'done'`))
	require.Equal(t, 10, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE stream = 'messages' AND scope = 'line/1657703186'`))
	require.Equal(t, 10, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE stream = 'tagging_logs' AND scope = ''`))
	require.Equal(t, 0, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE window_end - window_start > interval '1 day'`))

	// Every identity the pull saw is queued for reconcile: 7 line customers and
	// 120 line contacts overlap on none; 7 webchat customers plus 1 webchat contact.
	require.Equal(t, 7+120+7+1, count(t, b.st, `SELECT count(*) FROM reconcile_queue`))
	require.Equal(t, int64(7+120+7+1), c.Queued)

	var phone, tier, tags string
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `
		SELECT phone, custom_attributes->0->>'value', array_to_string(tags, ',') FROM omnichat_contacts WHERE user_id = 'U007'`).
		Scan(&phone, &tier, &tags))
	require.Equal(t, "66812345678", phone)
	require.Equal(t, "GOLD", tier)
	require.Equal(t, "VIP", tags)

	for _, req := range b.srv.Requests() {
		if strings.Contains(req, "/v1/messages") || strings.Contains(req, "/v1/contacts") {
			require.Contains(t, req, "platform=", "per-channel streams always send the platform")
			require.Contains(t, req, "channelId=")
		}
		require.Contains(t, req+"pageSize=100", "pageSize=100")
	}
}

func TestPuller_Backfill_secondRunChangesNothing(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, bothChannels, func(o *pull.Options) { o.Concurrency = 3 })
	seedAll(b)
	first := backfillAll(t, p, day(0), day(10), pull.RunOptions{})
	before := snapshot(t, b.st)
	requests := b.srv.RequestCount()

	t.Run("DoneWindowsAreKept", func(t *testing.T) {
		c := backfillAll(t, p, day(0), day(10), pull.RunOptions{})
		require.Equal(t, first.WindowsDone, c.WindowsKept)
		require.Zero(t, c.Windows)
		require.Equal(t, requests+2, b.srv.RequestCount(), "only the channel list is asked again (contacts, messages)")
		require.Equal(t, before, snapshot(t, b.st))
	})

	t.Run("ReReadingEveryWindowWritesNothing", func(t *testing.T) {
		_, err := b.st.SQL().ExecContext(t.Context(), `UPDATE sync_windows SET status = 'pending', next_page = 1`)
		require.NoError(t, err)
		c := backfillAll(t, p, day(0), day(10), pull.RunOptions{})
		require.Equal(t, first.WindowsDone, c.WindowsDone)
		require.Equal(t, first.Rows, c.Rows)
		require.Zero(t, c.Inserted)
		require.Zero(t, c.Updated)
		require.Zero(t, c.Queued)
		require.Equal(t, before, snapshot(t, b.st), "a re-read must change no row, not even last_changed_at")
	})
}

func TestPuller_Backfill_resumesAfterCrashBetweenPages(t *testing.T) {
	t.Parallel()
	seed := func(b *testBundle) {
		b.srv.SeedChannels(lineChannel)
		b.srv.SeedMessages(messages(lineChannel, "m", 450, day(0), 48*time.Hour)...) // 225 per day: 3 pages each
	}
	// The reference: the same data pulled without interruption.
	ref, rb := setup(t, omnichattest.Options{})
	seed(rb)
	_, err := ref.Backfill(t.Context(), pull.Messages, day(0), day(2), pull.RunOptions{})
	require.NoError(t, err)

	p, b := setup(t, omnichattest.Options{})
	seed(b)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pages := 0
	_, err = p.Backfill(ctx, pull.Messages, day(0), day(2), pull.RunOptions{ProgressFunc: func(pr pull.Progress) {
		if !pr.WindowEnded {
			pages++
			if pages == 5 { // window 2, page 2 committed: the process dies here
				cancel()
			}
		}
	}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'done'`))
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status <> 'done' AND next_page = 3 AND pages = 2`))
	require.Equal(t, 225+200, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))

	requestsBefore := b.srv.RequestCount()
	c, err := p.Backfill(t.Context(), pull.Messages, day(0), day(2), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, c.WindowsKept)
	require.Equal(t, 1, c.WindowsDone)
	resumed := b.srv.Requests()[requestsBefore:]
	require.Len(t, resumed, 2, "the channel list, then page 3 only")
	require.Contains(t, resumed[1], "page=3")
	require.Equal(t, rawRows(t, rb.st), rawRows(t, b.st), "same final rows as an uninterrupted pull")
	require.Equal(t, 450, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
}

func TestPuller_Backfill_rateLimitObeysRetryAfter(t *testing.T) {
	t.Parallel()
	// The fake allows 1 request in any second (of its manual clock); the
	// client must wait each Retry-After it is given before trying again.
	p, b := setup(t, omnichattest.Options{RateLimit: 1})
	b.srv.SeedChannels(lineChannel)
	b.srv.SeedMessages(messages(lineChannel, "m", 30, day(0), 72*time.Hour)...)

	c, err := p.Backfill(t.Context(), pull.Messages, day(0), day(3), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 3, c.WindowsDone)
	require.Equal(t, 30, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
	require.Equal(t, 3, b.srv.RateLimited(), "every request after the first met a 429")
	require.Equal(t, []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}, b.sleep.Waits(), "a closed second still holds the last request at +1 s")
}

func TestPuller_Backfill_serverErrorsFailTheWindowAndKeepTheOthers(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{})
	b.srv.SeedChannels(lineChannel)
	b.srv.SeedMessages(messages(lineChannel, "m", 60, day(0), 72*time.Hour)...)

	// Once the first window is done, the next request and all its retries fail.
	ro := pull.RunOptions{ProgressFunc: func(pr pull.Progress) {
		if pr.WindowEnded && pr.Window.Start.Equal(day(0)) {
			b.srv.FailNext(apiclient.DefaultMaxAttempts, http.StatusServiceUnavailable)
		}
	}}
	c, err := p.Backfill(t.Context(), pull.Messages, day(0), day(3), ro)
	require.ErrorIs(t, err, apiclient.ErrUnavailable)
	require.ErrorContains(t, err, "1 of 3 windows failed")
	require.Equal(t, 2, c.WindowsDone)
	require.Equal(t, 1, c.WindowsFailed)
	require.Len(t, b.sleep.Waits(), apiclient.DefaultMaxAttempts-1, "the client retried before giving up")

	var status, lastErr string
	var attempts int
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `
		SELECT status, last_error, attempts FROM sync_windows WHERE window_start = $1`, day(1)).Scan(&status, &lastErr, &attempts))
	require.Equal(t, "failed", status)
	require.Contains(t, lastErr, "503")
	require.Equal(t, 1, attempts)
	require.Equal(t, 40, count(t, b.st, `SELECT count(*) FROM omnichat_messages`), "the other windows' rows are kept")

	c, err = p.Backfill(t.Context(), pull.Messages, day(0), day(3), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 2, c.WindowsKept)
	require.Equal(t, 1, c.WindowsDone, "the next run retries the failed window")
	require.Equal(t, 60, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
	require.Equal(t, 2, count(t, b.st, `SELECT attempts FROM sync_windows WHERE window_start = $1`, day(1)))
}

func TestPuller_Backfill_outageStopsTheScope(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.MaxConsecutiveFailures = 2 })
	b.srv.SeedChannels(lineChannel)
	b.srv.SeedMessages(messages(lineChannel, "m", 50, day(0), 5*24*time.Hour)...)
	ro := pull.RunOptions{ProgressFunc: func(pr pull.Progress) {
		if pr.WindowEnded && pr.Window.Start.Equal(day(0)) {
			b.srv.FailNext(1000, http.StatusBadGateway)
		}
	}}

	c, err := p.Backfill(t.Context(), pull.Messages, day(0), day(5), ro)
	require.ErrorIs(t, err, apiclient.ErrUnavailable)
	require.ErrorContains(t, err, "2 of 5 windows failed, 2 left for the next run (their scope kept failing)")
	require.Equal(t, 1, c.WindowsDone)
	require.Equal(t, 2, c.WindowsFailed)
	require.Equal(t, 2, c.WindowsSkipped)
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'pending'`), "the rest waits for the next run")
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'done'`))
}

func TestPuller_Backfill_unauthorizedAbortsTheRun(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{Token: "another-token"})
	c, err := p.Backfill(t.Context(), pull.TaggingLogs, day(0), day(3), pull.RunOptions{})
	require.ErrorIs(t, err, apiclient.ErrUnauthorized)
	require.Equal(t, 1, b.srv.RequestCount(), "no other window is tried")
	require.Equal(t, 1, c.Windows)
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'pending'`))
}

func TestPuller_Backfill_driftRecoveredByCountCheck(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{})
	b.srv.SeedChannels(lineChannel)
	b.srv.SeedMessages(messages(lineChannel, "m", 250, day(0), 24*time.Hour)...)
	// After page 1 five rows appear at the start of the window: pages 2 and
	// 3 shift, repeat five rows and never show the new ones.
	b.srv.Drift(omnichattest.StreamMessages, 1, 5)

	c, err := p.Backfill(t.Context(), pull.Messages, day(0), day(1), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, c.Rereads)
	require.Zero(t, c.DataGaps)
	require.Equal(t, 255, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
	require.Equal(t, 5, count(t, b.st, `SELECT count(*) FROM omnichat_messages WHERE id LIKE 'drift-%'`))
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'done' AND attempts = 2 AND total_elements = 255 AND last_error IS NULL`))
}

func TestPuller_Backfill_shortCountAfterRereadsIsADataGap(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.MaxRereads = 1 })
	b.srv.SeedChannels(lineChannel)
	b.srv.SeedMessages(messages(lineChannel, "m", 150, day(0), 24*time.Hour)...)
	b.srv.Drift(omnichattest.StreamMessages, 1, 3) // first read
	b.srv.Drift(omnichattest.StreamMessages, 1, 3) // the re-read drifts again

	c, err := p.Backfill(t.Context(), pull.Messages, day(0), day(1), pull.RunOptions{})
	require.NoError(t, err, "a data gap is recorded, not a failure")
	require.Equal(t, 1, c.Rereads)
	require.Equal(t, 1, c.DataGaps)
	require.Equal(t, int64(3), c.MissingRows)
	require.Equal(t, int64(3), c.Map()["missing_rows"])
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'done' AND missing_rows = 3`))
	var gaps, missing int
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `SELECT data_gaps, missing_rows FROM v_sync_health WHERE kind = 'stream' AND name = 'messages line/1657703186'`).Scan(&gaps, &missing))
	require.Equal(t, 1, gaps, "v_sync_health shows the data gap")
	require.Equal(t, 3, missing)
	var lastErr string
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `SELECT last_error FROM sync_windows WHERE status = 'done'`).Scan(&lastErr))
	require.Equal(t, "short count: 153 distinct rows of totalElements 156 after 2 reads", lastErr)
}

func TestPuller_Backfill_splitsWindowsTooLargeToPage(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.PageSize, o.MaxWindowRows = 50, 100 })
	b.srv.SeedChannels(lineChannel)
	b.srv.SeedMessages(messages(lineChannel, "m", 300, day(0), 24*time.Hour)...)

	c, err := p.Backfill(t.Context(), pull.Messages, day(0), day(1), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 300, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
	// 300 rows in a day: halves of 150 split again into quarters of 75.
	require.Equal(t, 3, c.WindowsSplit)
	require.Equal(t, 4, c.WindowsDone)
	require.Equal(t, 3, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'split'`))
	require.Equal(t, 4, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'done' AND total_elements <= 100`))
	require.Equal(t, 0, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'done' AND window_end - window_start <> interval '6 hours'`))

	// A second backfill reuses the halves and reads nothing.
	c, err = p.Backfill(t.Context(), pull.Messages, day(0), day(1), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 4, c.WindowsKept)
	require.Zero(t, c.Windows)
}

func TestPuller_Backfill_malformedRowsAreRecorded(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{})
	b.srv.SeedChannels(lineChannel)
	at := day(0).Add(time.Hour)
	require.NoError(t, b.srv.SeedRaw(omnichattest.StreamMessages,
		omnichattest.RawRow{JSON: []byte(`{"channel":{"platform":"line","channelId":"1657703186"},"id":"ok-1","time":` + fmt.Sprint(at.UnixMilli()) + `,"customerUserId":"u1","senderType":"customer","messageType":"text","message":"fine"}`),
			At: at, Platform: "line", ChannelID: "1657703186", ID: "ok-1"},
		omnichattest.RawRow{JSON: []byte(`{"channel":{"platform":"line","channelId":"1657703186"},"id":"bad-time","time":-5}`),
			At: at, Platform: "line", ChannelID: "1657703186", ID: "bad-time"},
		omnichattest.RawRow{JSON: []byte(`{"channel":{"platform":"line","channelId":"1657703186"},"time":` + fmt.Sprint(at.UnixMilli()) + `}`),
			At: at, Platform: "line", ChannelID: "1657703186", ID: "no-id"},
		omnichattest.RawRow{JSON: []byte(`"not an object"`), At: at, Platform: "line", ChannelID: "1657703186", ID: "scalar"},
		omnichattest.RawRow{JSON: []byte(`{"channel":{"platform":"line","channelId":"1657703186"},"id":"nul","time":` + fmt.Sprint(at.UnixMilli()) + `,"message":"a\u0000b"}`),
			At: at, Platform: "line", ChannelID: "1657703186", ID: "nul"},
	))
	require.NoError(t, b.srv.SeedRaw(omnichattest.StreamContacts,
		omnichattest.RawRow{JSON: []byte(`{"channel":{"platform":"line","channelId":"1657703186"},"id":"U1","updatedAt":0}`),
			At: at, Platform: "line", ChannelID: "1657703186", ID: "c0"},
	))
	require.NoError(t, b.srv.SeedRaw(omnichattest.StreamTaggingLogs,
		omnichattest.RawRow{JSON: []byte(`{"time":"yesterday","platform":"line","channelId":"1","userId":"U1","tag":"VIP"}`), At: at},
	))

	c := backfillAll(t, p, day(0), day(1), pull.RunOptions{})
	require.Equal(t, int64(6), c.Bad)
	require.Equal(t, int64(7), c.Rows)
	require.Zero(t, c.WindowsFailed, "bad data never fails a window")
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
	require.Equal(t, 4, count(t, b.st, `SELECT count(*) FROM pull_errors WHERE stream = 'messages' AND scope = 'line/1657703186' AND window_id IS NOT NULL`))
	for _, want := range []string{"time: out of range (epoch milliseconds from 1970 to 9999), got a number -5", "id: missing (absent)", `row: want a JSON object, got a string "not an object"`, `\u0000 in JSON`} {
		require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM pull_errors WHERE stream = 'messages' AND strpos(reason, $1) > 0`, want), want)
	}
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM pull_errors WHERE stream = 'contacts' AND reason = 'updatedAt: out of range (epoch milliseconds from 1970 to 9999), got a number 0'`))
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM pull_errors WHERE stream = 'tagging_logs' AND raw LIKE '%yesterday%'`))

	// Met again, a bad record is counted, not duplicated.
	_, err := b.st.SQL().ExecContext(t.Context(), `UPDATE sync_windows SET status = 'pending', next_page = 1`)
	require.NoError(t, err)
	backfillAll(t, p, day(0), day(1), pull.RunOptions{})
	require.Equal(t, 6, count(t, b.st, `SELECT count(*) FROM pull_errors`))
	require.Equal(t, 6, count(t, b.st, `SELECT count(*) FROM pull_errors WHERE times_seen = 2`))
}

func TestPuller_Backfill_sixtyDaysAreNineWindows(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.Window = pull.MaxWindow })
	b.setNow(day(90))
	c, err := p.Backfill(t.Context(), pull.TaggingLogs, day(0), day(60), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 9, c.WindowsDone)
	require.Equal(t, 9, count(t, b.st, `SELECT count(*) FROM sync_windows`))
	require.Equal(t, 0, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE window_end - window_start > interval '7 days'`))
	require.Equal(t, 9, b.srv.RequestCount())
}

func TestPuller_Backfill_heldBackBySafetyLag(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{})
	b.setNow(day(2).Add(30 * time.Minute))
	_, err := p.Backfill(t.Context(), pull.TaggingLogs, day(0), day(5), pull.RunOptions{})
	require.NoError(t, err)
	var last time.Time
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `SELECT max(window_end) FROM sync_windows`).Scan(&last))
	require.Equal(t, day(2).Add(25*time.Minute), last.UTC())
}

func TestPuller_Backfill_noChannelsFallsBackToPlatforms(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.Platforms = []string{"line", "website"} })
	// No channel is seeded: /v1/channels answers [].
	b.srv.SeedContacts(contactAt(lineChannel, "U1", "Line user", day(0).Add(time.Hour)))
	b.srv.SeedContacts(contactAt(webchatChannel, "W1", "Web user", day(0).Add(time.Hour)))

	_, err := p.Backfill(t.Context(), pull.Contacts, day(0), day(1), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM omnichat_contacts`))
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE scope = 'line'`))
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE scope = 'webchat'`))
	require.Equal(t, 2, count(t, b.st, `SELECT count(*) FROM omnichat_channels WHERE NOT listed AND channel_name = ''`),
		"the channels the rows name are recorded, their names unknown")
	for _, req := range b.srv.Requests()[1:] {
		require.NotContains(t, req, "channelId=")
	}
}

func TestPuller_Backfill_contactsLatestUpdatedAtWins(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{})
	b.srv.SeedChannels(lineChannel)
	b.srv.SeedContacts(contactAt(lineChannel, "U1", "New name", day(5)))
	_, err := p.Backfill(t.Context(), pull.Contacts, day(5), day(6), pull.RunOptions{})
	require.NoError(t, err)

	// An older version arrives later (a backfill of an earlier range while
	// Omnichat's answer lags behind): it must not overwrite the newer one.
	b.srv.SeedContacts(contactAt(lineChannel, "U1", "Old name", day(1)))
	c, err := p.Backfill(t.Context(), pull.Contacts, day(0), day(5), pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(1), c.Rows)
	require.Zero(t, c.Updated)
	var name string
	var updated time.Time
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `SELECT name, updated_at FROM omnichat_contacts`).Scan(&name, &updated))
	require.Equal(t, "New name", name)
	require.Equal(t, day(5), updated.UTC())
}

func TestPuller_Incremental_queuesOnlyChangedIdentities(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.InitialLookback = 10 * 24 * time.Hour })
	b.srv.SeedChannels(lineChannel)
	for i := range 5 {
		b.srv.SeedContacts(contactAt(lineChannel, fmt.Sprintf("U%d", i), "Name", day(52+i)))
	}
	b.setNow(day(58))
	c, err := p.Incremental(t.Context(), pull.Contacts, pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(5), c.Inserted)
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE window_start = $1`, day(48).Add(-5*time.Minute)))
	_, err = b.st.SQL().ExecContext(t.Context(), `DELETE FROM reconcile_queue`)
	require.NoError(t, err)

	// U2 changes; the next run reads only from where the last one ended.
	b.srv.SeedContacts(contactAt(lineChannel, "U2", "Renamed", day(58).Add(time.Hour)))
	b.setNow(day(59))
	c, err = p.Incremental(t.Context(), pull.Contacts, pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(1), c.Updated)
	require.Equal(t, 2, c.WindowsDone, "from the last window's end to the new horizon, cut at midnight")
	var queued string
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `SELECT string_agg(user_id, ',') FROM reconcile_queue`).Scan(&queued))
	require.Equal(t, "U2", queued)
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM omnichat_contacts WHERE name = 'Renamed'`))
}

func TestPuller_Incremental_retriesOlderFailedWindows(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{})
	b.srv.SeedChannels(lineChannel)
	b.srv.SeedMessages(messages(lineChannel, "m", 30, day(10), 72*time.Hour)...)
	b.setNow(day(20))
	ro := pull.RunOptions{ProgressFunc: func(pr pull.Progress) {
		if pr.WindowEnded && pr.Window.Start.Equal(day(10)) {
			b.srv.FailNext(apiclient.DefaultMaxAttempts, http.StatusInternalServerError)
		}
	}}
	_, err := p.Backfill(t.Context(), pull.Messages, day(10), day(13), ro)
	require.ErrorIs(t, err, apiclient.ErrUnavailable)
	require.Equal(t, 20, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))

	c, err := p.Incremental(t.Context(), pull.Messages, pull.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 30, count(t, b.st, `SELECT count(*) FROM omnichat_messages`))
	require.Equal(t, 1+7, c.WindowsDone, "the failed window, then day 13 to the horizon (6 full days and a partial one)")
}

func TestPuller_Backfill_stopsBetweenPages(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{})
	b.srv.SeedChannels(lineChannel)
	b.srv.SeedMessages(messages(lineChannel, "m", 250, day(0), 24*time.Hour)...)
	var stop atomic.Bool
	ro := pull.RunOptions{
		StoppingFunc: stop.Load,
		ProgressFunc: func(pr pull.Progress) {
			if pr.Page == 1 {
				stop.Store(true)
			}
		},
	}
	c, err := p.Backfill(t.Context(), pull.Messages, day(0), day(1), ro)
	require.ErrorIs(t, err, pull.ErrStopped)
	require.Equal(t, 1, c.Pages)
	require.Equal(t, 100, count(t, b.st, `SELECT count(*) FROM omnichat_messages`), "the page in hand is committed")
	require.Equal(t, 1, count(t, b.st, `SELECT count(*) FROM sync_windows WHERE status = 'pending' AND next_page = 2`))
}

func TestPuller_Backfill_keepsThaiAndEmoji(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{})
	b.srv.SeedChannels(lineChannel)
	name := "˚♡̴ 𝒇𝒂𝒏𝒈 สมชาย ใจดี 🙏🏽"
	text := "สวัสดีค่ะ ขอบคุณมากนะคะ 😊👨‍👩‍👧"
	b.srv.SeedContacts(contactAt(lineChannel, "U1", name, day(0).Add(time.Hour)))
	m := messages(lineChannel, "m", 1, day(0), time.Hour)[0]
	m.Message = &text
	m.SenderName = name
	b.srv.SeedMessages(m)

	backfillAll(t, p, day(0), day(1), pull.RunOptions{})
	var gotName, gotRawName, gotText, gotSender string
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `SELECT name, raw->>'name' FROM omnichat_contacts`).Scan(&gotName, &gotRawName))
	require.NoError(t, b.st.SQL().QueryRowContext(t.Context(), `SELECT message, sender_name FROM omnichat_messages`).Scan(&gotText, &gotSender))
	require.Equal(t, name, gotName)
	require.Equal(t, name, gotRawName)
	require.Equal(t, text, gotText)
	require.Equal(t, name, gotSender)
}

func TestPuller_Backfill_progressReportsEveryPageAndWindow(t *testing.T) {
	t.Parallel()
	p, b := setup(t, omnichattest.Options{}, func(o *pull.Options) { o.Concurrency = 2 })
	b.srv.SeedChannels(lineChannel)
	b.srv.SeedMessages(messages(lineChannel, "m", 300, day(0), 48*time.Hour)...)
	var pages, ended int
	var last pull.Progress
	_, err := p.Backfill(t.Context(), pull.Messages, day(0), day(2), pull.RunOptions{ProgressFunc: func(pr pull.Progress) {
		if pr.WindowEnded {
			ended++
		} else {
			pages++
		}
		last = pr
	}})
	require.NoError(t, err)
	require.Equal(t, 4, pages)
	require.Equal(t, 2, ended)
	require.Equal(t, 2, last.Planned)
	require.Equal(t, int64(300), last.Counts.Rows)
	require.Equal(t, pull.Messages, last.Stream)
}

func TestNew_validatesOptions(t *testing.T) {
	t.Parallel()
	_, b := setup(t, omnichattest.Options{})
	tests := []struct {
		name    string
		give    func(*pull.Options)
		wantErr string
	}{
		{"NoClient", func(o *pull.Options) { o.Client = nil }, "Client and Store are required"},
		{"PageTooLarge", func(o *pull.Options) { o.PageSize = 101 }, "page size 101"},
		{"WindowTooLong", func(o *pull.Options) { o.Window = 8 * 24 * time.Hour }, "window 192h0m0s"},
		{"CeilingBelowPage", func(o *pull.Options) { o.MaxWindowRows = 10 }, "max window rows 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := b.opts
			tt.give(&o)
			_, err := pull.New(o)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestParseStream(t *testing.T) {
	t.Parallel()
	s, err := pull.ParseStream(" messages")
	require.NoError(t, err)
	require.Equal(t, pull.Messages, s)
	_, err = pull.ParseStream("chats")
	require.EqualError(t, err, `unknown stream "chats" (one of contacts, tagging_logs, messages)`)
}
