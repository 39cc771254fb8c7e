package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/contact"
	"crmsync/store"
	"crmsync/store/storetest"
)

// BenchmarkBackfill_thirtyPercent429s runs `crmsync backfill` of every
// stream over CRMSYNC_BENCH_429_DAYS days (default 60) against the fake
// answering 30% of the requests 429 at random (Retry-After: 1, waited for
// real), on the real clock, with the fake's other limits on (40 in any
// second, tagging-log pages of 20). Per day: 300 messages, 100 contacts and
// 100 tagging logs on one LINE channel. It reports the time, the requests
// made, the 429s absorbed, the rows stored and the exit code (issue 12,
// point 3: 0, every window done, every row present).
//
//	go test -run '^$' -bench 'Backfill_thirtyPercent429s' -benchtime 1x ./cmd/crmsync/
func BenchmarkBackfill_thirtyPercent429s(b *testing.B) {
	days := 60
	if v, err := strconv.Atoi(os.Getenv("CRMSYNC_BENCH_429_DAYS")); err == nil && v > 0 {
		days = v
	}
	for range b.N {
		dbURL := storetest.NewURL(b)
		srv := omnichattest.NewServer(b, omnichattest.Options{RateLimitedShare: 0.3, Seed: 12, MaxRequestLog: 1})
		ch := omnichat.Channel{Platform: contact.LINE, ChannelID: "1657703186", ChannelName: "Shop"}
		srv.SeedChannels(ch)
		first := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		last := first.AddDate(0, 0, days) // exclusive
		require.NoError(b, srv.SeedMessageSource(omnichattest.MessageSource{N: days * 300, From: first, To: last, Platform: ch.Platform, ChannelID: ch.ChannelID}))
		for i := range days * 100 {
			at := first.Add(time.Duration(i) * 24 * time.Hour / 100)
			user := fmt.Sprintf("U%06d", i)
			srv.SeedContacts(omnichat.Contact{Platform: ch.Platform, ChannelID: ch.ChannelID, ID: user, Name: "Customer", UpdatedAt: at})
			srv.SeedTaggingLogs(omnichat.TaggingLog{Time: at, Platform: ch.Platform, ChannelID: ch.ChannelID, UserID: user, Tag: "VIP", Source: "bot"})
		}
		dir := b.TempDir()
		cfg := dir + "/jobs.yaml"
		require.NoError(b, os.WriteFile(cfg, []byte("timezone: UTC\nomnichat:\n  token: ${OMNICHAT_TOKEN}\n  platforms: [line]\njobs: []\n"), 0o600))
		env := map[string]string{"DATABASE_URL": dbURL, "OMNICHAT_BASE_URL": srv.URL, "OMNICHAT_TOKEN": omnichattest.DefaultToken}
		args := []string{"--config", cfg, "--log-level", "error", "backfill",
			"--from", first.Format(time.DateOnly), "--to", last.AddDate(0, 0, -1).Format(time.DateOnly)}

		var out, errb bytes.Buffer
		start := time.Now()
		code := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
		took := time.Since(start)
		require.Equal(b, 0, code, "stderr: %s", errb.String())

		st, err := store.Open(context.Background(), dbURL, store.Options{})
		require.NoError(b, err)
		var rows, notDone, attempts, limited int
		require.NoError(b, st.SQL().QueryRow(`SELECT (SELECT count(*) FROM omnichat_messages) + (SELECT count(*) FROM omnichat_contacts)
			+ (SELECT count(*) FROM omnichat_tagging_logs), (SELECT count(*) FROM sync_windows WHERE status <> 'done'),
			(SELECT sum((c.value->>'api_attempts')::int) FROM sync_runs r, jsonb_each(r.counts) c WHERE r.job = 'backfill' AND r.status = 'ok'),
			(SELECT sum((c.value->>'rate_limited')::int) FROM sync_runs r, jsonb_each(r.counts) c WHERE r.job = 'backfill' AND r.status = 'ok')`).
			Scan(&rows, &notDone, &attempts, &limited))
		require.NoError(b, st.Close())
		require.Equal(b, days*500, rows, "every row present")
		require.Zero(b, notDone, "every window done")
		require.Equal(b, srv.RateLimited(), limited, "every 429 counted in sync_runs.counts")

		b.ReportMetric(took.Seconds(), "seconds")
		b.ReportMetric(float64(attempts), "requests")
		b.ReportMetric(float64(limited), "429s_absorbed")
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(float64(code), "exit_code")
		b.Logf("%d days: exit %d in %s, %d requests (%d of them answered 429, %.1f%%), %d rows, every window done",
			days, code, took.Round(time.Millisecond), attempts, limited, 100*float64(limited)/float64(attempts), rows)
		b.Logf("summary:\n%s", out.String())
	}
}
