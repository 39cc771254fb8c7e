package pull_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"crmsync/clients/apiclient"
	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/pull"
)

// Benchmarks: see docs/benchmarks-pull.md for the figures and commands.
//
//	CRMSYNC_BENCH_MESSAGES=1000000 go test -run '^$' -bench 'Pull_Messages$' -benchtime 1x -timeout 60m ./sync/pull/
//	go test -run '^$' -bench 'Pull_RateLimited' -benchtime 1x ./sync/pull/

// envInt reads a positive integer from the environment, else def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// peakRSS returns the process's peak resident set size (VmHWM) in MiB.
func peakRSS(b *testing.B) float64 {
	b.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	require.NoError(b, err)
	for line := range strings.SplitSeq(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			require.NoError(b, err)
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// resetPeakRSS starts a new VmHWM measurement (Linux: clear_refs 5).
func resetPeakRSS(b *testing.B) {
	b.Helper()
	require.NoError(b, os.WriteFile("/proc/self/clear_refs", []byte("5"), 0))
}

// benchSource is the generated message source both halves of the
// benchmark read: the fake serves it, the COPY reference rebuilds it.
func benchSource(n int) omnichattest.MessageSource {
	// 120 days keeps every 24-hour window under MaxWindowRows up to 1.2M rows.
	return omnichattest.MessageSource{N: n, From: day0, To: day0.AddDate(0, 0, 120), Platform: lineChannel.Platform, ChannelID: lineChannel.ChannelID}
}

// generated returns message i of src exactly as the fake serves it.
func generated(src omnichattest.MessageSource, i int) (omnichat.Message, []byte, error) {
	m := omnichattest.DefaultMessage(i)
	from, span, n, k := src.From.UnixMilli(), src.To.UnixMilli()-src.From.UnixMilli(), int64(src.N), int64(i)
	m.Time = time.UnixMilli(from + span/n*k + span%n*k/n).UTC()
	m.Platform, m.ChannelID, m.ID = src.Platform, src.ChannelID, fmt.Sprintf("gen-%s-%d", src.ChannelID, i)
	raw, err := json.Marshal(m)
	return m, raw, err
}

// copyMessages COPYs every message of src into omnichat_messages, rows
// generated on the fly, and returns how long it took.
func copyMessages(ctx context.Context, b *testing.B, st *store.Store, src omnichattest.MessageSource) time.Duration {
	b.Helper()
	conn, err := st.SQL().Conn(ctx)
	require.NoError(b, err)
	defer conn.Close()
	start := time.Now()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		i := 0
		cols := []string{"id", "platform", "channel_id", "room_id", "customer_user_id", "sender_type", "sender_name",
			"sender_user_id", "sent_at", "message_type", "message_status", "message", "media_url", "raw"}
		n, err := pc.CopyFrom(ctx, pgx.Identifier{"omnichat_messages"}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			if i == src.N {
				return nil, nil
			}
			m, raw, err := generated(src, i)
			i++
			return []any{m.ID, string(m.Platform), m.ChannelID, m.RoomID, m.CustomerUserID, m.SenderType, m.SenderName,
				m.SenderUserID, m.Time, m.MessageType, m.MessageStatus, m.Message, m.MediaURL, raw}, err
		}))
		if err == nil && n != int64(src.N) {
			err = fmt.Errorf("copied %d rows, want %d", n, src.N)
		}
		return err
	})
	require.NoError(b, err)
	return time.Since(start)
}

// BenchmarkPull_Messages pulls CRMSYNC_BENCH_MESSAGES (default 100,000)
// generated messages from the fake (rate limit off) into PostgreSQL, and
// beside it, in the same run and database, COPYs the same rows straight
// into the same table: rows/s of both, their ratio, and the peak RSS of
// each phase.
func BenchmarkPull_Messages(b *testing.B) {
	n := envInt("CRMSYNC_BENCH_MESSAGES", 100_000)
	src := benchSource(n)
	ctx := context.Background()
	for range b.N {
		st := storetest.New(b)
		srv := omnichattest.NewServer(b, omnichattest.Options{RateLimit: omnichattest.RateLimitOff, MaxRequestLog: 1})
		srv.SeedChannels(lineChannel)
		require.NoError(b, srv.SeedMessageSource(src))

		resetPeakRSS(b)
		copyTook := copyMessages(ctx, b, st, src)
		copyRSS := peakRSS(b)
		_, err := st.SQL().ExecContext(ctx, `TRUNCATE omnichat_messages, reconcile_queue`)
		require.NoError(b, err)
		_, err = st.SQL().ExecContext(ctx, `VACUUM ANALYZE omnichat_messages`)
		require.NoError(b, err)

		c, err := omnichat.New(omnichat.Config{BaseURL: srv.URL, Token: omnichattest.DefaultToken, Limiter: rate.NewLimiter(rate.Inf, 0)})
		require.NoError(b, err)
		p, err := pull.New(pull.Options{Client: c, Store: st, Concurrency: envInt("CRMSYNC_BENCH_CONCURRENCY", 0), Platforms: []string{"line"},
			NowFunc: func() time.Time { return src.To.AddDate(0, 0, 1) }})
		require.NoError(b, err)
		resetPeakRSS(b)
		start := time.Now()
		counts, err := p.Backfill(ctx, pull.Messages, src.From, src.To, pull.RunOptions{})
		pullTook := time.Since(start)
		require.NoError(b, err)
		require.Equal(b, int64(n), counts.Inserted)

		copyRate, pullRate := float64(n)/copyTook.Seconds(), float64(n)/pullTook.Seconds()
		b.ReportMetric(pullRate, "pull_rows/s")
		b.ReportMetric(copyRate, "copy_rows/s")
		b.ReportMetric(pullRate/copyRate, "pull/copy")
		b.ReportMetric(peakRSS(b), "pull_peak_rss_MiB")
		b.ReportMetric(copyRSS, "copy_peak_rss_MiB")
		b.ReportMetric(float64(counts.Requests), "requests")
		var pgVersion int
		require.NoError(b, st.SQL().QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&pgVersion))
		b.ReportMetric(float64(pgVersion), "pg_version_num")
		b.Logf("messages=%d copy=%s (%.0f rows/s) pull=%s (%.0f rows/s, %d windows, %d requests) ratio=%.2f",
			n, copyTook.Round(time.Millisecond), copyRate, pullTook.Round(time.Millisecond), pullRate, counts.WindowsDone, counts.Requests, pullRate/copyRate)
	}
}

// BenchmarkPull_RateLimited runs a backfill of CRMSYNC_BENCH_RATE_REQUESTS
// pages (default 800, about 20 s) against the fake enforcing the vendor's 40
// requests a second in its strictest reading (any closed second, by arrival
// time: faketest.SlidingWindow) with CRMSYNC_BENCH_JITTER_MS of random
// arrival jitter (default 4) and CRMSYNC_BENCH_LATENCY_MS of latency per
// request (default 20), 4 windows at once, with each limiter:
//
//   - SharedQuota: what crmsync builds, store.QuotaLimiter (every process of
//     the account shares it through PostgreSQL) at apiclient.Pace's spacing
//     with the default headroom (39/s);
//   - Headroom: apiclient.Pace alone, default headroom;
//   - NoHeadroom: apiclient.Pace at exactly 40/s, for comparison.
//
// It reports the sustained request rate, its share of the vendor's 40/s
// (the reference: Omnichat's documented limit, fixed), and the 429s the fake
// sent (all provoked: the fake sends no others here).
func BenchmarkPull_RateLimited(b *testing.B) {
	pages := envInt("CRMSYNC_BENCH_RATE_REQUESTS", 800)
	latency := time.Duration(envInt("CRMSYNC_BENCH_LATENCY_MS", 20)) * time.Millisecond
	jitter := time.Duration(envInt("CRMSYNC_BENCH_JITTER_MS", 4)) * time.Millisecond
	limiters := []struct {
		name string
		lim  func(st *store.Store) apiclient.Limiter
	}{
		{"SharedQuota", func(st *store.Store) apiclient.Limiter {
			pace := apiclient.Pace(omnichattest.DefaultRateLimit, time.Second, apiclient.DefaultHeadroom)
			return st.QuotaLimiter(store.AccountKey("omnichat", "bench", "bench"), time.Duration(float64(time.Second)/float64(pace.Limit())))
		}},
		{"Headroom", func(*store.Store) apiclient.Limiter {
			return apiclient.Pace(omnichattest.DefaultRateLimit, time.Second, apiclient.DefaultHeadroom)
		}},
		{"NoHeadroom", func(*store.Store) apiclient.Limiter {
			return apiclient.Pace(omnichattest.DefaultRateLimit, time.Second, 0)
		}},
	}
	for _, l := range limiters {
		b.Run(l.name, func(b *testing.B) {
			ctx := context.Background()
			for range b.N {
				st := storetest.New(b)
				srv := omnichattest.NewServer(b, omnichattest.Options{Latency: latency, ArrivalJitter: jitter, MaxRequestLog: 1})
				srv.SeedChannels(lineChannel)
				// 100 rows per page, 5,000 rows per day: 50 pages per window.
				src := omnichattest.MessageSource{N: pages * 100, From: day0, To: day0.Add(time.Duration(pages/50) * 24 * time.Hour),
					Platform: lineChannel.Platform, ChannelID: lineChannel.ChannelID}
				require.NoError(b, srv.SeedMessageSource(src))
				c, err := omnichat.New(omnichat.Config{BaseURL: srv.URL, Token: omnichattest.DefaultToken, Limiter: l.lim(st)})
				require.NoError(b, err)
				p, err := pull.New(pull.Options{Client: c, Store: st, Platforms: []string{"line"},
					NowFunc: func() time.Time { return src.To.AddDate(0, 0, 1) }})
				require.NoError(b, err)

				start := time.Now()
				counts, err := p.Backfill(ctx, pull.Messages, src.From, src.To, pull.RunOptions{})
				took := time.Since(start)
				require.NoError(b, err)
				require.Equal(b, int64(src.N), counts.Inserted)
				rps := float64(srv.RequestCount()) / took.Seconds()
				b.ReportMetric(rps, "requests/s")
				b.ReportMetric(100*rps/omnichattest.DefaultRateLimit, "%_of_40/s")
				b.ReportMetric(float64(srv.RateLimited()), "429s")
				b.ReportMetric(float64(jitter.Milliseconds()), "jitter_ms")
				b.Logf("limiter=%s jitter=%s requests=%d in %s: %.2f/s (%.1f%% of 40/s), 429s=%d",
					l.name, jitter, srv.RequestCount(), took.Round(time.Millisecond), rps, 100*rps/omnichattest.DefaultRateLimit, srv.RateLimited())
			}
		})
	}
}
