package main

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// capturedResults are the results of every captured run in testdata, as
// one make bench would gather them.
func capturedResults(t *testing.T) Results {
	t.Helper()
	all := Results{}
	for _, f := range []string{"pull_messages.txt", "pull_ratelimited.txt", "reconcile.txt", "push.txt", "push_selection.txt"} {
		maps.Copy(all, parseFile(t, f))
	}
	return all
}

func TestRows_capturedOutput(t *testing.T) {
	t.Parallel()

	rows, err := Rows(capturedResults(t), scales["small"])
	require.NoError(t, err)
	byFigure := map[string]Row{}
	for _, r := range rows {
		byFigure[r.Figure] = r
	}
	require.Len(t, byFigure, len(rows), "figures are unique")

	tests := []struct {
		name string
		give string // figure
		want Row
	}{
		{
			name: "PullAgainstCopy",
			give: "Pull: rows/s of a 100,000-message backfill",
			want: Row{Value: "21,938 rows/s", Reference: "93,993 rows/s: raw COPY of the same rows into the same table",
				Ratio: "0.233", Target: "≥ 0.5", Verdict: "NOT MET"},
		},
		{
			name: "PullPeakRSS",
			give: "Pull: peak RSS (VmHWM) during the 100,000-message backfill",
			want: Row{Value: "37.2 MiB", Reference: "29.7 MiB: the COPY phase, same process", Ratio: "1.253", Target: "—", Verdict: "—"},
		},
		{
			name: "RateLimitUtilisation",
			give: "Pull at Omnichat's limit: requests/s (800 pages; shared quota at 39/s, 2.5% headroom; fake counting any second by arrival, 4 ms jitter)",
			want: Row{Value: "38.96 req/s", Reference: "40 req/s: Omnichat's documented limit per team (vendor's, fixed)", Ratio: "0.974", Target: "≥ 0.95", Verdict: "met"},
		},
		{
			name: "RateLimit429s",
			give: "Pull at Omnichat's limit: 429 responses provoked (same run)",
			want: Row{Value: "0", Reference: "—", Ratio: "—", Target: "0", Verdict: "met"},
		},
		{
			name: "RateLimitWithoutHeadroom",
			give: "Pull paced at exactly 40/s (no headroom), for comparison: 429 responses provoked",
			want: Row{Value: "18", Reference: "39.68 req/s sent", Ratio: "—", Target: "—", Verdict: "—"},
		},
		{
			name: "ReconcileFullAgainstSeed",
			give: "Reconcile: first full build, 100,000 identities (1,000,000 messages)",
			want: Row{Value: "1.41 s", Reference: "2.32 s: writing the same raw data in SQL", Ratio: "0.608", Target: "—", Verdict: "—"},
		},
		{
			name: "ReconcileIncrementalAgainstFull",
			give: "Reconcile: incremental run after 1% of the contacts changed",
			want: Row{Value: "0.28 s", Reference: "1.41 s: the first full build", Ratio: "0.196", Target: "—", Verdict: "—"},
		},
		{
			name: "ReconcileBackendPeakRSS",
			give: "Reconcile: peak RSS (VmHWM) of the PostgreSQL backend of the three runs (shared buffers it touched included)",
			want: Row{Value: "61.1 MiB", Reference: "—", Ratio: "—", Target: "—", Verdict: "—"},
		},
		{
			name: "OhoCreate",
			give: "Push to Oho: requests per created contact",
			want: Row{Value: "1.000", Reference: "1: one POST /contact (API minimum)", Ratio: "1.000", Target: "≤ 2", Verdict: "met"},
		},
		{
			name: "OhoUpdateIsAGETAndAPATCH",
			give: "Push to Oho: requests per updated contact",
			want: Row{Value: "2.000", Reference: "2: the GET the three-way merge needs and one PATCH (API minimum)", Ratio: "1.000", Target: "≤ 2", Verdict: "met"},
		},
		{
			name: "OhoUpdateAfterOhoEdits",
			give: "Push to Oho: requests per updated (edited in Oho too) contact",
			want: Row{Value: "2.000", Reference: "2: the GET the three-way merge needs and one PATCH (API minimum)", Ratio: "1.000", Target: "≤ 2", Verdict: "met"},
		},
		{
			name: "OhoUnchangedHasNoRatio",
			give: "Push to Oho: requests per unchanged contact",
			want: Row{Value: "0.000", Reference: "0: nothing to send (API minimum)", Ratio: "—", Target: "= 0", Verdict: "met"},
		},
		{
			name: "OkeybotCreateRequestsCountTheLookup",
			give: "Push to Okeybot: requests per created contact (highest of the three layouts; lookup_field phone, as jobs.yaml ships)",
			want: Row{Value: "3.000", Reference: "3: the lookup GET by_custom_field, POST /v1/contact and one tag POST (API minimum)",
				Ratio: "1.000", Target: "= 3", Verdict: "met"},
		},
		{
			name: "OkeybotDetectConflictsRequests",
			give: "Push to Okeybot: requests per updated contact with okeybot.detect_conflicts",
			want: Row{Value: "2.000", Reference: "2: the GET that reads the contact first, and one PUT (API minimum)", Ratio: "1.000", Target: "= 2", Verdict: "met"},
		},
		{
			name: "OkeybotUpdateAgainstTheLimitsMinimum",
			give: "Push to Okeybot: time for 200 changed contacts, Grouped, update",
			want: Row{Value: "3.10 s", Reference: "0.00 s: the limit's minimum (the busiest token's 100 requests, 100 at once per 3s window: ⌈100/100⌉ − 1 windows)",
				Ratio: "—", Target: "—", Verdict: "—"},
		},
		{
			name: "OkeybotCreateAgainstTheLimitsMinimum",
			give: "Push to Okeybot: time for 200 changed contacts, Alternating, create",
			want: Row{Value: "9.30 s", Reference: "6.00 s: the limit's minimum (the busiest token's 300 requests, 100 at once per 3s window: ⌈300/100⌉ − 1 windows)",
				Ratio: "1.551", Target: "—", Verdict: "—"},
		},
		{
			name: "OkeybotCreateAgainstEvenPacing",
			give: "Push to Okeybot: time against crmsync's even pacing, Alternating, create",
			want: Row{Value: "9.30 s", Reference: "9.00 s: crmsync's even pacing (the busiest token's 300 requests ÷ 100 per 3s window)",
				Ratio: "1.034", Target: "≤ 1.05", Verdict: "met"},
		},
		{
			name: "PushSelectionAgainstFullScan",
			give: "Push: choosing the contacts to push, 30 changed of 100,000 (database time of one run's choice)",
			want: Row{Value: "5.1 ms", Reference: "199.6 ms: one full-scan choice of the same table (what every batch cost before)",
				Ratio: "0.025", Target: "< 1 s", Verdict: "met"},
		},
		{
			name: "OkeybotDetectConflictsAgainstEvenPacing",
			give: "Push to Okeybot: time against crmsync's even pacing, Alternating, update with detect_conflicts",
			want: Row{Value: "6.29 s", Reference: "6.00 s: crmsync's even pacing (the busiest token's 200 requests ÷ 100 per 3s window)",
				Ratio: "1.048", Target: "≤ 1.05", Verdict: "met"},
		},
		{
			name: "Okeybot429sPerLayout",
			give: "Push to Okeybot: 429 responses, GroupedAcrossBatches (create and update runs; fake counting any window by arrival time, arrivals jittered)",
			want: Row{Value: "0", Reference: "—", Ratio: "—", Target: "0", Verdict: "met"},
		},
		{
			name: "Okeybot429sOfDetectConflicts",
			give: "Push to Okeybot: 429 responses, DetectConflicts (the update run with detect_conflicts; fake counting any window by arrival time, arrivals jittered)",
			want: Row{Value: "0", Reference: "—", Ratio: "—", Target: "0", Verdict: "met"},
		},
		{
			name: "Oho429sReportedNotJudged",
			give: "Push to Oho: 429 responses (all 4 runs)",
			want: Row{Value: "0", Reference: "—: Oho publishes no limit, so its fake applies none; crmsync paces Oho at oho.rate_per_second",
				Ratio: "—", Target: "—", Verdict: "—"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := byFigure[tt.give]
			require.True(t, ok, "no row %q", tt.give)
			tt.want.Figure = tt.give
			require.Equal(t, tt.want, got)
		})
	}

	missed := Missed(rows)
	require.Len(t, missed, 1)
	require.Equal(t, "Pull: rows/s of a 100,000-message backfill", missed[0].Figure)
}

// Okeybot's 429s are summed per layout, each layout judged on its own.
func TestRows_okeybot429sPerLayout(t *testing.T) {
	t.Parallel()

	rs := capturedResults(t)
	rs["BenchmarkPushOkeybot/Grouped/Create"].Metrics["429/op"] = 2
	rs["BenchmarkPushOkeybot/Grouped/Update"].Metrics["429/op"] = 1
	rows, err := Rows(rs, scales["small"])
	require.NoError(t, err)
	got := map[string]string{}
	for _, r := range rows {
		if layout, ok := strings.CutPrefix(r.Figure, "Push to Okeybot: 429 responses, "); ok {
			layout, _, _ = strings.Cut(layout, " ")
			got[layout] = r.Value + " " + r.Verdict
		}
	}
	require.Equal(t, map[string]string{
		"Alternating": "0 met", "Grouped": "3 NOT MET", "GroupedAcrossBatches": "0 met", "DetectConflicts": "0 met",
	}, got)
}

func TestRows_missingFigure(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		give func(Results)
		want string
	}{
		{
			name: "MetricMissing",
			give: func(rs Results) { delete(rs["BenchmarkPull_Messages"].Metrics, "copy_rows/s") },
			want: `figures missing from the benchmark output: benchmark BenchmarkPull_Messages reported no "copy_rows/s" metric`,
		},
		{
			name: "BenchmarkMissingNamedOnce",
			give: func(rs Results) { delete(rs, "BenchmarkReconcile/Incremental1Percent") },
			want: "figures missing from the benchmark output: benchmark BenchmarkReconcile/Incremental1Percent did not report",
		},
		{
			name: "EveryMissingFigureNamed",
			give: func(rs Results) {
				delete(rs, "BenchmarkPushOkeybot/Grouped/Update")
				delete(rs["BenchmarkPull_RateLimited/SharedQuota"].Metrics, "429s")
			},
			want: `figures missing from the benchmark output: benchmark BenchmarkPull_RateLimited/SharedQuota reported no "429s" metric; ` +
				"benchmark BenchmarkPushOkeybot/Grouped/Update did not report",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs := capturedResults(t)
			tt.give(rs)
			rows, err := Rows(rs, scales["full"])
			require.EqualError(t, err, tt.want)
			require.Nil(t, rows)
			require.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestTable(t *testing.T) {
	t.Parallel()

	got := Table([]Row{
		{Figure: "a", Value: "1 s", Reference: "2 s: b", Ratio: "0.500", Target: "≤ 1", Verdict: "met"},
		{Figure: "c", Value: "3 s", Reference: "—", Ratio: "—", Target: "≤ 1", Verdict: "NOT MET"},
	})
	require.Equal(t, "| figure | value | reference (same run unless marked) | ratio | target | result |\n"+
		"| --- | ---: | --- | ---: | :---: | :---: |\n"+
		"| a | 1 s | 2 s: b | 0.500 | ≤ 1 | met |\n"+
		"| c | 3 s | — | — | ≤ 1 | **NOT MET** |\n", got)
}

func TestReport_Markdown(t *testing.T) {
	t.Parallel()

	rs := capturedResults(t)
	rows, err := Rows(rs, scales["small"])
	require.NoError(t, err)
	pg, err := postgresVersions(rs)
	require.NoError(t, err)
	require.Equal(t, "15.18", pg)
	runs := scales["small"].Runs()
	rep := Report{
		Scale: scales["small"], Started: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), Took: 754 * time.Second,
		RunTimes: []RunTime{{runs[0], 95 * time.Second}, {runs[1], 25 * time.Second}, {runs[2], 9 * time.Minute}, {runs[3], 74 * time.Second}},
		Machine: Machine{CPU: "AMD EPYC", Cores: 2, MemoryKiB: 24684084, OS: "Debian GNU/Linux 12 (bookworm)", GoVersion: "go1.26.8 linux/amd64",
			Commit: "607c441-dirty", LoadBefore: "1.06 1.96 3.13", LoadAfter: "2.50 2.40 2.90"},
		Postgres: pg, Server: "a throwaway cluster", Rows: rows, Raw: rs.Lines(),
	}
	md := rep.Markdown()
	for _, want := range []string{
		"Run of 2026-03-10 12:00 UTC, scale **small** (100,000 messages pulled, 100,000 identities reconciled). " +
			"The whole run took **12m34s** (pull 1m35s, pull-rate 25s, reconcile 9m0s, push 1m14s, builds included).",
		"| Pull: rows/s of a 100,000-message backfill | 21,938 rows/s |",
		"- Pull: rows/s of a 100,000-message backfill: 21,938 rows/s, ratio 0.233 (target ≥ 0.5) to 93,993 rows/s: raw COPY",
		"- CPU: AMD EPYC, 2 logical cores (nproc)",
		"- Memory: 23.5 GiB (MemTotal)",
		"- PostgreSQL: 15.18, as reported by the server the benchmarks used: a throwaway cluster\n",
		"CRMSYNC_BENCH_MESSAGES=100000 go test -run='^$' -bench='^BenchmarkPull_Messages$' -benchtime=1x -count=1 -timeout=1h0m0s ./sync/pull/\n",
		"BenchmarkPushOkeybot/GroupedAcrossBatches/Update-2 1 3136663373 ns/op 0 429/op 3.137 elapsed_s/op 0 limit_min_s/op 3.000 quota_s/op 1.046 ratio 1.000 req/contact\n",
	} {
		require.Contains(t, md, want)
	}
}

// Only an official run's report carries no mark; the others say why their
// figures are not figures of record, first.
func TestReport_Markdown_marksRunsThatAreNotOfRecord(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		give Report
		want string // "" for no mark
	}{
		{"Official", Report{Scale: scales["full"]}, ""},
		{"Unofficial", Report{Scale: scales["small"], Unofficial: true, Machine: Machine{Commit: "6ef652f-dirty"}},
			"**Unofficial run (BENCH_UNOFFICIAL=1), not figures of record:** the tree had changes no commit holds (commit 6ef652f-dirty)."},
		{"Smoke", Report{Scale: scales["smoke"]},
			"**Smoke run (`make bench/smoke`), not figures of record:** every benchmark once at a tiny size, to prove each still runs."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			md := tt.give.Markdown()
			_, rest, ok := strings.Cut(md, "## Results\n\n")
			require.True(t, ok)
			if tt.want == "" {
				require.True(t, strings.HasPrefix(rest, "Run of "), rest[:40])
				require.NotContains(t, md, "not figures of record")
				return
			}
			require.True(t, strings.HasPrefix(rest, tt.want+"\n\nRun of "), rest[:200])
		})
	}
}

func TestWriteReport(t *testing.T) {
	t.Parallel()

	const intro = "# Benchmarks\n\nHand-written paragraph,\nkept as it is.\n\n"
	tests := []struct {
		name    string
		give    *string // the file before, nil for none
		want    string
		wantErr string
	}{
		{
			name: "NewFileGetsTheDefaultIntro",
			give: nil,
			want: defaultIntro + "\n" + generatedMarker + "\n\nNEW\n",
		},
		{
			name: "IntroKeptOldFiguresReplaced",
			give: ptr(intro + generatedMarker + "\n\nOLD\n"),
			want: intro + generatedMarker + "\n\nNEW\n",
		},
		{
			name:    "FileWithoutMarkerNotOverwritten",
			give:    ptr("# Somebody's notes\n"),
			want:    "# Somebody's notes\n",
			wantErr: "has no line",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "docs", "benchmarks.md")
			if tt.give != nil {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(*tt.give), 0o644))
			}
			err := writeReport(path, "NEW\n")
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
			entries, err := os.ReadDir(filepath.Dir(path))
			require.NoError(t, err)
			require.Len(t, entries, 1, "no temporary file left behind")
		})
	}
}

func ptr(s string) *string { return &s }

func TestScale_Runs(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		give Scale
		want []string
	}{
		{
			name: "Full",
			give: scales["full"],
			want: []string{
				"CRMSYNC_BENCH_MESSAGES=1000000 go test -run='^$' -bench='^BenchmarkPull_Messages$' -benchtime=1x -count=1 -timeout=1h0m0s ./sync/pull/",
				"CRMSYNC_BENCH_RATE_REQUESTS=800 CRMSYNC_BENCH_LATENCY_MS=20 CRMSYNC_BENCH_JITTER_MS=4 go test -run='^$' -bench='^BenchmarkPull_RateLimited$/^(SharedQuota|NoHeadroom)$' -benchtime=1x -count=1 -timeout=10m0s ./sync/pull/",
				"CRMSYNC_BENCH_IDENTITIES=1000000 go test -run='^$' -bench='^BenchmarkReconcile$/^(Full|FullNoChange|Incremental1Percent)$' -benchtime=1x -count=1 -timeout=1h0m0s ./sync/reconcile/",
				"BENCH_OKEYBOT_WINDOW=3s go test -run='^$' -bench='^BenchmarkPush(Oho|Okeybot)$' -benchtime=1x -count=1 -timeout=20m0s ./sync/push/",
				"CRMSYNC_BENCH_CONTACTS=1000000 go test -run='^$' -bench='^BenchmarkPushSelection$' -benchtime=1x -count=1 -timeout=30m0s ./sync/push/",
				"CRMSYNC_BENCH_IDENTITIES=1000000 go test -run='^$' -bench='^BenchmarkAnalystExamples$' -benchtime=1x -count=1 -timeout=1h30m0s ./sync/reconcile/",
			},
		},
		{
			name: "Small",
			give: scales["small"],
			want: []string{
				"CRMSYNC_BENCH_MESSAGES=100000 go test -run='^$' -bench='^BenchmarkPull_Messages$' -benchtime=1x -count=1 -timeout=1h0m0s ./sync/pull/",
				"CRMSYNC_BENCH_RATE_REQUESTS=800 CRMSYNC_BENCH_LATENCY_MS=20 CRMSYNC_BENCH_JITTER_MS=4 go test -run='^$' -bench='^BenchmarkPull_RateLimited$/^(SharedQuota|NoHeadroom)$' -benchtime=1x -count=1 -timeout=10m0s ./sync/pull/",
				"CRMSYNC_BENCH_IDENTITIES=100000 go test -run='^$' -bench='^BenchmarkReconcile$/^(Full|FullNoChange|Incremental1Percent)$' -benchtime=1x -count=1 -timeout=1h0m0s ./sync/reconcile/",
				"BENCH_OKEYBOT_WINDOW=3s go test -run='^$' -bench='^BenchmarkPush(Oho|Okeybot)$' -benchtime=1x -count=1 -timeout=20m0s ./sync/push/",
				"CRMSYNC_BENCH_CONTACTS=100000 go test -run='^$' -bench='^BenchmarkPushSelection$' -benchtime=1x -count=1 -timeout=30m0s ./sync/push/",
				"CRMSYNC_BENCH_IDENTITIES=100000 go test -run='^$' -bench='^BenchmarkAnalystExamples$' -benchtime=1x -count=1 -timeout=1h30m0s ./sync/reconcile/",
			},
		},
		{
			name: "SmokeRunsEveryBenchmarkTinyWithTheRaceDetector",
			give: scales["smoke"],
			want: []string{
				"CRMSYNC_BENCH_MESSAGES=2000 go test -run='^$' -bench='^BenchmarkPull_Messages$' -benchtime=1x -count=1 -timeout=1h0m0s -race ./sync/pull/",
				"CRMSYNC_BENCH_RATE_REQUESTS=100 CRMSYNC_BENCH_LATENCY_MS=20 CRMSYNC_BENCH_JITTER_MS=4 go test -run='^$' -bench='^BenchmarkPull_RateLimited$/^(SharedQuota|NoHeadroom)$' -benchtime=1x -count=1 -timeout=10m0s -race ./sync/pull/",
				"CRMSYNC_BENCH_IDENTITIES=2000 go test -run='^$' -bench='^BenchmarkReconcile$/^(Full|FullNoChange|Incremental1Percent)$' -benchtime=1x -count=1 -timeout=1h0m0s -race ./sync/reconcile/",
				"BENCH_OKEYBOT_WINDOW=300ms go test -run='^$' -bench='^BenchmarkPush(Oho|Okeybot)$' -benchtime=1x -count=1 -timeout=20m0s -race ./sync/push/",
				"CRMSYNC_BENCH_CONTACTS=2000 go test -run='^$' -bench='^BenchmarkPushSelection$' -benchtime=1x -count=1 -timeout=30m0s -race ./sync/push/",
				"CRMSYNC_BENCH_IDENTITIES=2000 go test -run='^$' -bench='^BenchmarkAnalystExamples$' -benchtime=1x -count=1 -timeout=1h30m0s -race ./sync/reconcile/",
				"CRMSYNC_BENCH_RATE_REQUESTS=100 CRMSYNC_BENCH_LATENCY_MS=20 CRMSYNC_BENCH_JITTER_MS=4 go test -run='^$' -bench='^BenchmarkPull_RateLimited$/^Headroom$' -benchtime=1x -count=1 -timeout=10m0s -race ./sync/pull/",
				"CRMSYNC_BENCH_IDENTITIES=2000 go test -run='^$' -bench='^BenchmarkReconcile$/^LabelPropagationSQL$' -benchtime=1x -count=1 -timeout=10m0s -race ./sync/reconcile/",
				"CRMSYNC_BENCH_IDENTITIES=2000 go test -run='^$' -bench='^BenchmarkConversations$' -benchtime=1x -count=1 -timeout=10m0s -race ./sync/reconcile/",
				"go test -run='^$' -bench='^BenchmarkWriteMessagesPage$' -benchtime=1x -count=1 -timeout=10m0s -race ./store/",
				"go test -run='^$' -bench='^Benchmark' -benchtime=1x -count=1 -timeout=10m0s -race ./mapping/",
				"go test -run='^$' -bench='^BenchmarkBackfill_thirtyPercent429s$' -benchtime=1x -count=1 -timeout=10m0s -race ./cmd/crmsync/",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, r := range tt.give.Runs() {
				got = append(got, r.Command())
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// TestRuns_smokeCoversEveryBenchmark finds every benchmark function of the
// repository and requires a smoke run of its package whose -bench pattern
// selects it, so that a benchmark added later without one fails here, not
// in the next make bench.
func TestRuns_smokeCoversEveryBenchmark(t *testing.T) {
	t.Parallel()

	root := filepath.Join("..", "..")
	decl := regexp.MustCompile(`(?m)^func (Benchmark\w*)\(b \*testing\.B\)`)
	found := map[string][]string{} // package directory ("./sync/pull/") → benchmarks
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := "./" + filepath.ToSlash(rel) + "/"
		for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
			found[pkg] = append(found[pkg], m[1])
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, found, "./sync/reconcile/", "the walk found no benchmark where BenchmarkReconcile lives")

	selects := map[string][]*regexp.Regexp{} // package directory → its smoke runs' top-level -bench patterns
	for _, r := range scales["smoke"].Runs() {
		top, _, _ := strings.Cut(r.Bench, "/")
		selects[r.Pkg] = append(selects[r.Pkg], regexp.MustCompile(top))
	}
	for pkg, names := range found {
		for _, name := range names {
			covered := slices.ContainsFunc(selects[pkg], func(re *regexp.Regexp) bool { return re.MatchString(name) })
			require.True(t, covered, "%s in %s: no smoke run selects it (add one to Scale.Runs or smokeOnlyRuns)", name, pkg)
		}
	}
}

func TestBenchEnv(t *testing.T) {
	t.Parallel()

	got := benchEnv([]string{"HOME=/root", "CRMSYNC_BENCH_CONCURRENCY=16", "BENCH_OKEYBOT_WINDOW=600ms", "TEST_DATABASE_URL=postgres://x", "PATH=/bin"})
	require.Equal(t, []string{"HOME=/root", "TEST_DATABASE_URL=postgres://x", "PATH=/bin"}, got)
}

func TestThousands(t *testing.T) {
	t.Parallel()

	tests := []struct {
		give float64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {16790.4, "16,790"}, {1_000_000, "1,000,000"}, {-12345, "-12,345"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, thousands(tt.give), "%v", tt.give)
	}
}

func TestMachine_parsers(t *testing.T) {
	t.Parallel()

	require.Equal(t, "AMD EPYC 7B13 64-Core Processor", cpuModel("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13 64-Core Processor\nmodel name\t: other\n"))
	require.Equal(t, "unknown", cpuModel("processor\t: 0\n"))
	require.Equal(t, 24684084, memTotalKiB("MemTotal:       24684084 kB\nMemFree:         1000 kB\n"))
	require.Zero(t, memTotalKiB("MemFree: 1 kB\n"))
	require.Equal(t, "Debian GNU/Linux 12 (bookworm)", osReleaseName("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"))
	require.Equal(t, "unknown", Machine{}.Memory())
	require.True(t, strings.HasSuffix(Machine{MemoryKiB: 2 << 20}.Memory(), "2.0 GiB"))
}
