package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// parseFile parses a captured go test output in testdata.
func parseFile(t *testing.T, name string) Results {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	rs, err := Parse(f)
	require.NoError(t, err)
	return rs
}

func TestParse_capturedOutput(t *testing.T) {
	t.Parallel()

	type metric struct {
		bench, unit string
		value       float64
	}
	tests := []struct {
		name      string
		give      string // file in testdata
		wantNames []string
		want      []metric
	}{
		{
			name:      "PullMessages",
			give:      "pull_messages.txt",
			wantNames: []string{"BenchmarkPull_Messages"},
			want: []metric{
				{"BenchmarkPull_Messages", "ns/op", 1833856223},
				{"BenchmarkPull_Messages", "pull_rows/s", 21938},
				{"BenchmarkPull_Messages", "copy_rows/s", 93993},
				{"BenchmarkPull_Messages", "pull/copy", 0.2334},
				{"BenchmarkPull_Messages", "pull_peak_rss_MiB", 37.22},
				{"BenchmarkPull_Messages", "pg_version_num", 150018},
			},
		},
		{
			name:      "ResultLineSplitByOtherOutput",
			give:      "pull_messages_split.txt",
			wantNames: []string{"BenchmarkPull_Messages"},
			want: []metric{
				{"BenchmarkPull_Messages", "pull_rows/s", 21938},
				{"BenchmarkPull_Messages", "requests", 120},
			},
		},
		{
			name:      "PullRateLimited",
			give:      "pull_ratelimited.txt",
			wantNames: []string{"BenchmarkPull_RateLimited/SharedQuota", "BenchmarkPull_RateLimited/NoHeadroom"},
			want: []metric{
				{"BenchmarkPull_RateLimited/SharedQuota", "requests/s", 38.96},
				{"BenchmarkPull_RateLimited/SharedQuota", "%_of_40/s", 97.39},
				{"BenchmarkPull_RateLimited/SharedQuota", "429s", 0},
				{"BenchmarkPull_RateLimited/NoHeadroom", "429s", 18},
			},
		},
		{
			name:      "ReconcileSubBenchmarks",
			give:      "reconcile.txt",
			wantNames: []string{"BenchmarkReconcile/Full", "BenchmarkReconcile/FullNoChange", "BenchmarkReconcile/Incremental1Percent"},
			want: []metric{
				{"BenchmarkReconcile/Full", "ns/op", 1409885350},
				{"BenchmarkReconcile/Full", "seed_s", 2.319},
				{"BenchmarkReconcile/FullNoChange", "updated", 0},
				{"BenchmarkReconcile/Incremental1Percent", "ns/op", 276622978},
				{"BenchmarkReconcile/Incremental1Percent", "peak-RSS-MB", 27.03},
				{"BenchmarkReconcile/Incremental1Percent", "pg_backend_peak_rss_MB", 61.07},
			},
		},
		{
			name: "PushNestedNames",
			give: "push.txt",
			wantNames: []string{"BenchmarkPushOho/Create", "BenchmarkPushOho/Update", "BenchmarkPushOho/UpdateAfterOhoEdits", "BenchmarkPushOho/Unchanged",
				"BenchmarkPushOkeybot/Alternating/Create", "BenchmarkPushOkeybot/Alternating/Update",
				"BenchmarkPushOkeybot/Grouped/Create", "BenchmarkPushOkeybot/Grouped/Update",
				"BenchmarkPushOkeybot/GroupedAcrossBatches/Create", "BenchmarkPushOkeybot/GroupedAcrossBatches/Update",
				"BenchmarkPushOkeybot/DetectConflicts/Update"},
			want: []metric{
				{"BenchmarkPushOho/Create", "oho_req/contact", 1},
				{"BenchmarkPushOho/Create", "line_req/contact", 0.5},
				{"BenchmarkPushOho/UpdateAfterOhoEdits", "oho_req/contact", 2},
				{"BenchmarkPushOho/Unchanged", "429/op", 0},
				{"BenchmarkPushOkeybot/GroupedAcrossBatches/Create", "elapsed_s/op", 9.354},
				{"BenchmarkPushOkeybot/GroupedAcrossBatches/Create", "ratio", 1.039},
				{"BenchmarkPushOkeybot/Grouped/Update", "429/op", 0},
				{"BenchmarkPushOkeybot/DetectConflicts/Update", "quota_s/op", 6},
			},
		},
		{
			name:      "FailedRunHasNoResult",
			give:      "reconcile_failed.txt",
			wantNames: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs := parseFile(t, tt.give)
			var names []string
			for _, line := range rs.Lines() {
				name, _, _ := strings.Cut(line, " ")
				names = append(names, name[:strings.LastIndex(name, "-")])
			}
			require.Equal(t, tt.wantNames, names)
			for _, m := range tt.want {
				got, err := rs.Metric(m.bench, m.unit)
				require.NoError(t, err)
				require.InDelta(t, m.value, got, 1e-9, "%s %s", m.bench, m.unit)
			}
			for _, r := range rs {
				require.Equal(t, 2, r.Procs, r.Name)
				require.Equal(t, 1, r.N, r.Name)
			}
		})
	}
}

func TestParse_badOutput(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		give string
		want string // in the error
	}{
		{
			name: "ReportedTwice",
			give: "BenchmarkA-2 1 100 ns/op\nBenchmarkA-2 1 120 ns/op\n",
			want: "BenchmarkA reported twice",
		},
		{
			name: "ValueWithoutUnit",
			give: "BenchmarkA-2 1 100 ns/op 7\n",
			want: "malformed result line",
		},
		{
			name: "NotANumber",
			give: "BenchmarkA-2 1 100 ns/op NaN pull_rows/s\n",
			want: `value "NaN" of pull_rows/s is not a finite number`,
		},
		{
			name: "UnitTwice",
			give: "BenchmarkA-2 1 100 ns/op 3 x 4 x\n",
			want: "metric x reported twice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(strings.NewReader(tt.give))
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestParse_skipsFailedAndSkippedBenchmarks(t *testing.T) {
	t.Parallel()

	give := "BenchmarkA-2   \t--- FAIL: BenchmarkA-2\n    a_test.go:9: boom\n" +
		"BenchmarkB-2   \t--- SKIP: BenchmarkB-2\n" +
		"BenchmarkC \t       3\t  42.5 ns/op\t 7.000 widgets\n"
	rs, err := Parse(strings.NewReader(give))
	require.NoError(t, err)
	require.Equal(t, []string{"BenchmarkC 3 42.5 ns/op 7.000 widgets"}, rs.Lines())
	require.Equal(t, 1, rs["BenchmarkC"].Procs)
	_, err = rs.Metric("BenchmarkA", "ns/op")
	require.EqualError(t, err, "benchmark BenchmarkA did not report")
	_, err = rs.Metric("BenchmarkC", "gadgets")
	require.EqualError(t, err, `benchmark BenchmarkC reported no "gadgets" metric`)
}

func TestFailure(t *testing.T) {
	t.Parallel()

	captured, err := os.ReadFile(filepath.Join("testdata", "reconcile_failed.txt"))
	require.NoError(t, err)
	tests := []struct {
		name string
		give string
		want string
	}{
		{
			name: "CapturedBenchmarkFailure",
			give: string(captured),
			want: `BenchmarkReconcile: bench_test.go:107: CRMSYNC_BENCH_IDENTITIES="5": want a number ≥ 100`,
		},
		{
			name: "FailOnTheResultLine",
			give: "BenchmarkA-2   \t--- FAIL: BenchmarkA-2\n    a_test.go:9: boom\nFAIL\n",
			want: "BenchmarkA-2: a_test.go:9: boom",
		},
		{
			name: "BuildFailure",
			give: "# crmsync/sync/pull\nsync/pull/x.go:3:1: syntax error\nFAIL\tcrmsync/sync/pull [build failed]\n",
			want: "FAIL crmsync/sync/pull [build failed]",
		},
		{
			name: "Passed",
			give: "BenchmarkA-2 1 100 ns/op\nPASS\nok  \tcrmsync/x\t0.1s\n",
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, failure(tt.give))
		})
	}
}
