package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scale is the size of a run.
type Scale struct {
	Name       string // "full", "small" or "smoke"
	Messages   int    // messages of the pull backfill (CRMSYNC_BENCH_MESSAGES)
	Identities int    // identities reconciled (CRMSYNC_BENCH_IDENTITIES)
	RatePages  int    // pages of the rate-limited backfill (CRMSYNC_BENCH_RATE_REQUESTS: a multiple of 50, 800 is 20 s at 40/s)
	// OkeybotWindow is the fake's stand-in for Okeybot's minute
	// (BENCH_OKEYBOT_WINDOW; 3 s is 20 times faster).
	OkeybotWindow time.Duration
	// Smoke marks a run that only proves every benchmark still runs
	// (make bench/smoke, in CI): its figures are not figures of record.
	Smoke bool
}

// scales are the sizes -scale accepts: full is the issue's, small a quick
// development run, smoke every benchmark once at a tiny size.
var scales = map[string]Scale{
	"full":  {Name: "full", Messages: 1_000_000, Identities: 1_000_000, RatePages: 800, OkeybotWindow: 3 * time.Second},
	"small": {Name: "small", Messages: 100_000, Identities: 100_000, RatePages: 800, OkeybotWindow: 3 * time.Second},
	"smoke": {Name: "smoke", Messages: 2_000, Identities: 2_000, RatePages: 100, OkeybotWindow: 300 * time.Millisecond, Smoke: true},
}

// Fixed settings of the runs that do not depend on the scale, set
// explicitly so a variable left in the environment cannot change them.
const (
	rateLatencyMS = 20    // the fake's latency per request
	rateJitterMS  = 4     // the fake's random arrival jitter (a few ms, as a network adds)
	okeybotLimit  = 100.0 // Okeybot's calls per window and token
	// okeybotContacts is how many contacts one Okeybot iteration pushes
	// (benchOkeybotContacts in sync/push).
	okeybotContacts = 200
)

// BenchRun is one `go test -bench` invocation.
type BenchRun struct {
	Name    string        // short name: progress lines and the log file
	Pkg     string        // package path, relative to the module root
	Bench   string        // the -bench pattern
	Env     []string      // KEY=VALUE the benchmarks read
	Timeout time.Duration // go test -timeout
	// Race builds with the race detector: the smoke run's, so that it
	// reuses what `make test` (-race) compiled, and checks races too.
	Race bool
}

// Args returns go test's arguments for r.
func (r BenchRun) Args() []string {
	args := []string{"test", "-run=^$", "-bench=" + r.Bench, "-benchtime=1x", "-count=1", "-timeout=" + r.Timeout.String()}
	if r.Race {
		args = append(args, "-race")
	}
	return append(args, r.Pkg)
}

// Command returns r as a shell command line, for the report.
func (r BenchRun) Command() string {
	var b strings.Builder
	for _, e := range r.Env {
		b.WriteString(e + " ")
	}
	b.WriteString("go")
	for _, a := range r.Args() {
		b.WriteString(" ")
		if strings.ContainsAny(a, "^$|()*?") {
			k, v, _ := strings.Cut(a, "=")
			a = k + "='" + v + "'"
		}
		b.WriteString(a)
	}
	return b.String()
}

// benchEnvPrefixes are the environment variables the benchmarks read; every
// inherited one is dropped so that only the run's own settings apply.
var benchEnvPrefixes = []string{"CRMSYNC_BENCH_", "BENCH_OKEYBOT_"}

// Runs returns the go test invocations of a run at s, in order. Each
// package runs alone, one after the other, so the benchmarks do not compete
// for the cores.
func (s Scale) Runs() []BenchRun {
	runs := []BenchRun{
		{Name: "pull", Pkg: "./sync/pull/", Bench: "^BenchmarkPull_Messages$",
			Env: []string{"CRMSYNC_BENCH_MESSAGES=" + strconv.Itoa(s.Messages)}, Timeout: time.Hour},
		{Name: "pull-rate", Pkg: "./sync/pull/", Bench: "^BenchmarkPull_RateLimited$/^(SharedQuota|NoHeadroom)$",
			Env: s.rateEnv(), Timeout: 10 * time.Minute},
		{Name: "reconcile", Pkg: "./sync/reconcile/", Bench: "^BenchmarkReconcile$/^(Full|FullNoChange|Incremental1Percent)$",
			Env: []string{"CRMSYNC_BENCH_IDENTITIES=" + strconv.Itoa(s.Identities)}, Timeout: time.Hour},
		{Name: "push", Pkg: "./sync/push/", Bench: "^BenchmarkPush(Oho|Okeybot)$",
			Env: []string{"BENCH_OKEYBOT_WINDOW=" + s.OkeybotWindow.String()}, Timeout: 20 * time.Minute},
		selectionRun(s),
		analystsRun(s),
	}
	if s.Smoke {
		runs = append(runs, smokeOnlyRuns(s)...)
	}
	for i := range runs {
		runs[i].Race = s.Smoke
	}
	return runs
}

// rateEnv is the environment of the rate-limited pull benchmark at s: its
// number of pages, and the fake's latency and arrival jitter.
func (s Scale) rateEnv() []string {
	return []string{"CRMSYNC_BENCH_RATE_REQUESTS=" + strconv.Itoa(s.RatePages), "CRMSYNC_BENCH_LATENCY_MS=" + strconv.Itoa(rateLatencyMS),
		"CRMSYNC_BENCH_JITTER_MS=" + strconv.Itoa(rateJitterMS)}
}

// smokeOnlyRuns are the benchmarks no table of docs/benchmarks.md reads
// (development measurements, named in the docs beside their figures): the
// smoke run runs them too, once each at its size, so that every benchmark
// of the repository fails CI when it breaks (TestRuns_smokeCoversEveryBenchmark).
func smokeOnlyRuns(s Scale) []BenchRun {
	ids := "CRMSYNC_BENCH_IDENTITIES=" + strconv.Itoa(s.Identities)
	return []BenchRun{
		{Name: "pull-rate-headroom", Pkg: "./sync/pull/", Bench: "^BenchmarkPull_RateLimited$/^Headroom$",
			Env: s.rateEnv(), Timeout: 10 * time.Minute},
		{Name: "reconcile-label-propagation", Pkg: "./sync/reconcile/", Bench: "^BenchmarkReconcile$/^LabelPropagationSQL$",
			Env: []string{ids}, Timeout: 10 * time.Minute},
		{Name: "conversations", Pkg: "./sync/reconcile/", Bench: "^BenchmarkConversations$", Env: []string{ids}, Timeout: 10 * time.Minute},
		{Name: "store-write", Pkg: "./store/", Bench: "^BenchmarkWriteMessagesPage$", Timeout: 10 * time.Minute},
		{Name: "mapping", Pkg: "./mapping/", Bench: "^Benchmark", Timeout: 10 * time.Minute},
		{Name: "backfill-429s", Pkg: "./cmd/crmsync/", Bench: "^BenchmarkBackfill_thirtyPercent429s$", Timeout: 10 * time.Minute},
	}
}

// Row is one line of the report's table.
type Row struct {
	Figure    string
	Value     string
	Reference string // what the value is compared with, and where it comes from
	Ratio     string // value ÷ reference, "—" when there is none
	Target    string // "—" when the issue and the stage's document set none
	Verdict   string // "met", "NOT MET", or "—" without a target
}

// Benchmark names the rows are built from.
const (
	benchPull      = "BenchmarkPull_Messages"
	benchRate      = "BenchmarkPull_RateLimited/SharedQuota"
	benchRateExact = "BenchmarkPull_RateLimited/NoHeadroom"
	benchRecFull   = "BenchmarkReconcile/Full"
	benchRecSame   = "BenchmarkReconcile/FullNoChange"
	benchRecIncr   = "BenchmarkReconcile/Incremental1Percent"
	benchOho       = "BenchmarkPushOho/"
	benchOkeybot   = "BenchmarkPushOkeybot/"
	omnichatLimit  = 40.0 // Omnichat's requests per second per team
	noReference    = "—"
	noTarget       = "—"
	verdictMet     = "met"
	verdictMissed  = "NOT MET"
	verdictNoJudge = "—"
)

// ohoPhases are BenchmarkPushOho's runs, in its order.
var ohoPhases = []string{"Create", "Update", "UpdateAfterOhoEdits", "Unchanged"}

// okeybotLayouts are BenchmarkPushOkeybot's id layouts, in its order.
var okeybotLayouts = []string{"Alternating", "Grouped", "GroupedAcrossBatches"}

// okeybotDetect is BenchmarkPushOkeybot's run with okeybot.detect_conflicts.
const okeybotDetect = "DetectConflicts/Update"

// okeybotRows are the Okeybot push's rows: requests per changed contact
// against the API's minimum, each run's time against the limit's minimum
// and against crmsync's even pacing, and the 429s of each layout.
func okeybotRows(m *metrics, s Scale) []Row {
	var rows []Row
	for _, r := range []struct {
		runs      []string // benchmark names under benchOkeybot; the highest figure counts
		what      string
		minimum   float64
		reference string
	}{
		{layoutRuns("Create"), "created contact (highest of the three layouts; lookup_field phone, as jobs.yaml ships)", 3,
			"3: the lookup GET by_custom_field, POST /v1/contact and one tag POST"},
		{layoutRuns("Update"), "updated contact (highest of the three layouts)", 1, "1: one PUT"},
		{[]string{okeybotDetect}, "updated contact with okeybot.detect_conflicts", 2, "2: the GET that reads the contact first, and one PUT"},
	} {
		worst := 0.0
		for _, name := range r.runs {
			worst = max(worst, m.get(benchOkeybot+name, "req/contact"))
		}
		rows = append(rows, Row{
			Figure:    "Push to Okeybot: requests per " + r.what,
			Value:     fmt.Sprintf("%.3f", worst),
			Reference: r.reference + " (API minimum)",
			Ratio:     ratioOf(worst, r.minimum),
			Target:    fmt.Sprintf("= %g", r.minimum),
			Verdict:   verdict(worst == r.minimum),
		})
	}

	// Time, each run twice: against the limit's minimum, the least time
	// Okeybot's limit itself allows (a server counting any window accepts
	// 100 calls at once, so the busiest token's R calls need ⌈R/100⌉ − 1
	// windows), reported, not judged; and against crmsync's even pacing
	// (R ÷ 100 windows), which the client's headroom prices at 1.026.
	window := s.OkeybotWindow
	var paced []Row
	limited := map[string]float64{} // 429s per layout
	var layouts []string
	for _, name := range append(layoutRuns("Create", "Update"), okeybotDetect) {
		full := benchOkeybot + name
		elapsed, quota, least := m.get(full, "elapsed_s/op"), m.get(full, "quota_s/op"), m.get(full, "limit_min_s/op")
		busiest := math.Round(quota / window.Seconds() * okeybotLimit)
		layout, phase, _ := strings.Cut(name, "/")
		if _, seen := limited[layout]; !seen {
			layouts = append(layouts, layout)
		}
		limited[layout] += m.get(full, "429/op")
		run := fmt.Sprintf("%s, %s", layout, strings.ToLower(phase))
		if name == okeybotDetect {
			run = "Alternating, update with detect_conflicts"
		}
		rows = append(rows, Row{
			Figure: fmt.Sprintf("Push to Okeybot: time for %d changed contacts, %s", okeybotContacts, run),
			Value:  seconds(elapsed),
			Reference: fmt.Sprintf("%s: the limit's minimum (the busiest token's %s requests, 100 at once per %s window: ⌈%s/100⌉ − 1 windows)",
				seconds(least), thousands(busiest), window, thousands(busiest)),
			Ratio:   ratioOf(elapsed, least),
			Target:  noTarget,
			Verdict: verdictNoJudge,
		})
		paced = append(paced, Row{
			Figure:    fmt.Sprintf("Push to Okeybot: time against crmsync's even pacing, %s", run),
			Value:     seconds(elapsed),
			Reference: fmt.Sprintf("%s: crmsync's even pacing (the busiest token's %s requests ÷ 100 per %s window)", seconds(quota), thousands(busiest), window),
			Ratio:     ratio(elapsed / quota),
			Target:    "≤ 1.05",
			Verdict:   verdict(elapsed/quota <= 1.05),
		})
	}
	rows = append(rows, paced...)
	for _, layout := range layouts {
		runs := "create and update runs"
		if layout+"/Update" == okeybotDetect {
			runs = "the update run with detect_conflicts"
		}
		rows = append(rows, Row{
			Figure:    fmt.Sprintf("Push to Okeybot: 429 responses, %s (%s; fake counting any window by arrival time, arrivals jittered)", layout, runs),
			Value:     strconv.FormatFloat(limited[layout], 'f', -1, 64),
			Reference: noReference,
			Ratio:     noReference,
			Target:    "0",
			Verdict:   verdict(limited[layout] == 0),
		})
	}
	return rows
}

// layoutRuns returns the benchmark names of every layout for the phases.
func layoutRuns(phases ...string) []string {
	var out []string
	for _, layout := range okeybotLayouts {
		for _, p := range phases {
			out = append(out, layout+"/"+p)
		}
	}
	return out
}

// metrics collects the lookups of one report, remembering every missing
// metric so that they are all named at once.
type metrics struct {
	rs      Results
	missing []string
}

func (m *metrics) get(name, unit string) float64 {
	v, err := m.rs.Metric(name, unit)
	if err != nil && !slices.Contains(m.missing, err.Error()) {
		m.missing = append(m.missing, err.Error())
	}
	return v
}

// Rows builds the report's table from the run's results. It fails, naming
// every one, when a benchmark or a metric a row needs is missing: a row is
// never built from a default.
func Rows(rs Results, s Scale) ([]Row, error) {
	m := &metrics{rs: rs}
	var rows []Row

	// Pull: rows/s against raw COPY, and peak memory.
	pullRate, copyRate := m.get(benchPull, "pull_rows/s"), m.get(benchPull, "copy_rows/s")
	pullRatio := m.get(benchPull, "pull/copy")
	rows = append(rows, Row{
		Figure:    fmt.Sprintf("Pull: rows/s of a %s-message backfill", thousands(float64(s.Messages))),
		Value:     thousands(pullRate) + " rows/s",
		Reference: thousands(copyRate) + " rows/s: raw COPY of the same rows into the same table",
		Ratio:     ratio(pullRatio),
		Target:    "≥ 0.5",
		Verdict:   verdict(pullRatio >= 0.5),
	})
	pullRSS, copyRSS := m.get(benchPull, "pull_peak_rss_MiB"), m.get(benchPull, "copy_peak_rss_MiB")
	rows = append(rows, Row{
		Figure:    fmt.Sprintf("Pull: peak RSS (VmHWM) during the %s-message backfill", thousands(float64(s.Messages))),
		Value:     mib(pullRSS),
		Reference: mib(copyRSS) + ": the COPY phase, same process",
		Ratio:     ratio(pullRSS / copyRSS),
		Target:    noTarget,
		Verdict:   verdictNoJudge,
	})

	// Pull at the rate limit: against the fake counting any second by
	// arrival time, with a few ms of arrival jitter, paced as crmsync paces
	// (the account's quota shared through PostgreSQL, 2.5% headroom), and
	// at exactly 40/s for comparison.
	rps, share, limited := m.get(benchRate, "requests/s"), m.get(benchRate, "%_of_40/s"), m.get(benchRate, "429s")
	jitter := m.get(benchRate, "jitter_ms")
	rows = append(rows, Row{
		Figure: fmt.Sprintf("Pull at Omnichat's limit: requests/s (%d pages; shared quota at 39/s, 2.5%% headroom; fake counting any second by arrival, %g ms jitter)",
			s.RatePages, jitter),
		Value:     fmt.Sprintf("%.2f req/s", rps),
		Reference: "40 req/s: Omnichat's documented limit per team (vendor's, fixed)",
		Ratio:     ratio(share / 100),
		Target:    "≥ 0.95",
		Verdict:   verdict(share/100 >= 0.95),
	}, Row{
		Figure:    "Pull at Omnichat's limit: 429 responses provoked (same run)",
		Value:     strconv.FormatFloat(limited, 'f', -1, 64),
		Reference: noReference,
		Ratio:     noReference,
		Target:    "0",
		Verdict:   verdict(limited == 0),
	}, Row{
		Figure:    "Pull paced at exactly 40/s (no headroom), for comparison: 429 responses provoked",
		Value:     strconv.FormatFloat(m.get(benchRateExact, "429s"), 'f', -1, 64),
		Reference: fmt.Sprintf("%.2f req/s sent", m.get(benchRateExact, "requests/s")),
		Ratio:     noReference,
		Target:    noTarget,
		Verdict:   verdictNoJudge,
	})

	// Reconcile.
	full, seed := m.get(benchRecFull, "ns/op")/1e9, m.get(benchRecFull, "seed_s")
	same, incr := m.get(benchRecSame, "ns/op")/1e9, m.get(benchRecIncr, "ns/op")/1e9
	rows = append(rows, Row{
		Figure:    fmt.Sprintf("Reconcile: first full build, %s identities (%s messages)", thousands(float64(s.Identities)), thousands(10*float64(s.Identities))),
		Value:     seconds(full),
		Reference: seconds(seed) + ": writing the same raw data in SQL",
		Ratio:     ratio(full / seed),
		Target:    noTarget,
		Verdict:   verdictNoJudge,
	}, Row{
		Figure:    "Reconcile: --full rebuild, nothing changed",
		Value:     seconds(same),
		Reference: seconds(full) + ": the first full build",
		Ratio:     ratio(same / full),
		Target:    noTarget,
		Verdict:   verdictNoJudge,
	}, Row{
		Figure:    "Reconcile: incremental run after 1% of the contacts changed",
		Value:     seconds(incr),
		Reference: seconds(full) + ": the first full build",
		Ratio:     ratio(incr / full),
		Target:    noTarget,
		Verdict:   verdictNoJudge,
	}, Row{
		Figure:    "Reconcile: peak RSS (VmHWM) of the three runs",
		Value:     mib(m.get(benchRecIncr, "peak-RSS-MB")),
		Reference: noReference,
		Ratio:     noReference,
		Target:    noTarget,
		Verdict:   verdictNoJudge,
	}, Row{
		Figure:    "Reconcile: peak RSS (VmHWM) of the PostgreSQL backend of the three runs (shared buffers it touched included)",
		Value:     mib(m.get(benchRecIncr, "pg_backend_peak_rss_MB")),
		Reference: noReference,
		Ratio:     noReference,
		Target:    noTarget,
		Verdict:   verdictNoJudge,
	})

	// Requests per changed contact, each destination, against the minimum.
	for _, r := range []struct {
		phase, what string
		minimum     float64
		reference   string
		target      string
		ok          func(v float64) bool
	}{
		{"Create", "created", 1, "1: one POST /contact", "≤ 2", func(v float64) bool { return v <= 2 }},
		{"Update", "updated", 2, "2: the GET the three-way merge needs and one PATCH", "≤ 2", func(v float64) bool { return v <= 2 }},
		{"UpdateAfterOhoEdits", "updated (edited in Oho too)", 2, "2: the GET the three-way merge needs and one PATCH", "≤ 2", func(v float64) bool { return v <= 2 }},
		{"Unchanged", "unchanged", 0, "0: nothing to send", "= 0", func(v float64) bool { return v == 0 }},
	} {
		v := m.get(benchOho+r.phase, "oho_req/contact")
		rows = append(rows, Row{
			Figure:    "Push to Oho: requests per " + r.what + " contact",
			Value:     fmt.Sprintf("%.3f", v),
			Reference: r.reference + " (API minimum)",
			Ratio:     ratioOf(v, r.minimum),
			Target:    r.target,
			Verdict:   verdict(r.ok(v)),
		})
	}
	ohoLimited := 0.0
	for _, phase := range ohoPhases {
		ohoLimited += m.get(benchOho+phase, "429/op")
	}
	rows = append(rows, Row{
		Figure:    fmt.Sprintf("Push to Oho: 429 responses (all %d runs)", len(ohoPhases)),
		Value:     strconv.FormatFloat(ohoLimited, 'f', -1, 64),
		Reference: "—: Oho publishes no limit, so its fake applies none; crmsync paces Oho at oho.rate_per_second",
		Ratio:     noReference,
		Target:    noTarget,
		Verdict:   verdictNoJudge,
	})
	rows = append(rows, okeybotRows(m, s)...)

	rows = append(rows, selectionRows(m)...)

	if len(m.missing) > 0 {
		return nil, fmt.Errorf("figures missing from the benchmark output: %s", strings.Join(m.missing, "; "))
	}
	return rows, nil
}

// Table renders rows as a Markdown table.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| figure | value | reference (same run unless marked) | ratio | target | result |\n")
	b.WriteString("| --- | ---: | --- | ---: | :---: | :---: |\n")
	for _, r := range rows {
		verdict := r.Verdict
		if verdict == verdictMissed {
			verdict = "**" + verdict + "**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Figure, r.Value, r.Reference, r.Ratio, r.Target, verdict)
	}
	return b.String()
}

// Missed returns the rows whose target was not met.
func Missed(rows []Row) []Row {
	var out []Row
	for _, r := range rows {
		if r.Verdict == verdictMissed {
			out = append(out, r)
		}
	}
	return out
}

func verdict(ok bool) string {
	if ok {
		return verdictMet
	}
	return verdictMissed
}

// ratio formats a ratio with three decimals.
func ratio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return noReference
	}
	return fmt.Sprintf("%.3f", r)
}

// ratioOf formats v ÷ minimum, "—" when the minimum is zero.
func ratioOf(v, minimum float64) string {
	if minimum == 0 {
		return noReference
	}
	return ratio(v / minimum)
}

func seconds(s float64) string {
	if s >= 100 {
		return fmt.Sprintf("%.1f s", s)
	}
	return fmt.Sprintf("%.2f s", s)
}

func mib(v float64) string { return fmt.Sprintf("%.1f MiB", v) }

// thousands formats v rounded to an integer with thousands separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
