package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The analyst examples benchmark (issue 14 point 1): every SQL block of
// docs/analysts.md timed on the reconcile benchmark's data.

const (
	benchAnalysts = "BenchmarkAnalystExamples"
	// analystsDoc is the page whose SQL blocks the benchmark runs, relative
	// to the repository root (where make bench runs).
	analystsDoc = "docs/analysts.md"
	// analystTargetMS is the target for every example.
	analystTargetMS = 1000.0
)

// analystsRun is the go test invocation of the analyst examples benchmark:
// the reconcile benchmark's size (CRMSYNC_BENCH_IDENTITIES; the benchmark
// takes any size from 100, e.g. for a smoke run).
func analystsRun(s Scale) BenchRun {
	return BenchRun{Name: "analysts", Pkg: "./sync/reconcile/", Bench: "^" + benchAnalysts + "$",
		Env: []string{"CRMSYNC_BENCH_IDENTITIES=" + strconv.Itoa(s.Identities)}, Timeout: 90 * time.Minute}
}

// AnalystRow is one example's line of the analyst table.
type AnalystRow struct {
	Example string  // its question (bold heading), or its first SQL line
	Rows    float64 // rows it returned
	MS      float64 // best of three, jit = off
	JitMS   float64 // one run with the server's jit setting
	Verdict string
}

var (
	sqlBlock      = regexp.MustCompile("(?s)```sql\n(.*?)```")
	exampleNumber = regexp.MustCompile(`\*\*(\d+\.[^*]*?)\*\*`)
)

// analystExamples names each ```sql block of doc, in order, as the
// benchmark numbers them: the last bold "**N. question**" between the
// previous block and this one, else the block's first line.
func analystExamples(doc string) []string {
	var names []string
	prev := 0
	for _, loc := range sqlBlock.FindAllStringSubmatchIndex(doc, -1) {
		before := doc[prev:loc[0]]
		name := ""
		if ms := exampleNumber.FindAllStringSubmatch(before, -1); len(ms) > 0 {
			name = strings.TrimSpace(ms[len(ms)-1][1])
		} else {
			first, _, _ := strings.Cut(strings.TrimSpace(doc[loc[2]:loc[3]]), "\n")
			name = "`" + strings.TrimSuffix(first, ";") + "`"
		}
		names = append(names, name)
		prev = loc[1]
	}
	return names
}

// analystRows builds the analyst table from the benchmark's metrics, one
// row per example of doc, failing when a figure is missing.
func analystRows(rs Results, doc string) ([]AnalystRow, error) {
	m := &metrics{rs: rs}
	var rows []AnalystRow
	for k, name := range analystExamples(doc) {
		ms := m.get(benchAnalysts, fmt.Sprintf("block%02d_ms", k+1))
		rows = append(rows, AnalystRow{
			Example: name,
			Rows:    m.get(benchAnalysts, fmt.Sprintf("block%02d_rows", k+1)),
			MS:      ms,
			JitMS:   m.get(benchAnalysts, fmt.Sprintf("block%02d_jit_ms", k+1)),
			Verdict: verdict(ms < analystTargetMS),
		})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s has no SQL block", analystsDoc)
	}
	if len(m.missing) > 0 {
		return nil, fmt.Errorf("figures missing from the benchmark output: %s", strings.Join(m.missing, "; "))
	}
	return rows, nil
}

// readAnalystRows reads docs/analysts.md and builds the analyst table.
func readAnalystRows(rs Results) ([]AnalystRow, error) {
	doc, err := os.ReadFile(analystsDoc)
	if err != nil {
		return nil, fmt.Errorf("analyst examples: %w", err)
	}
	return analystRows(rs, string(doc))
}

// analystsMarkdown renders the analyst section of the report.
func analystsMarkdown(rows []AnalystRow, identities int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Analyst examples at %s identities\n\n", thousands(float64(identities)))
	fmt.Fprintf(&b, "Every SQL block of docs/analysts.md, in order, after a full reconcile of the reconcile benchmark's data "+
		"(%s identities, %s messages, %s tagging logs, dated up to now; conversation_settings.time_zone Asia/Bangkok), "+
		"each in a transaction rolled back afterwards, rows read included. Time: best of three runs with `jit = off`, "+
		"as docs/analysts.md advises for analysts' sessions; beside it one run with the server's own jit setting. "+
		"The push tables are empty in this data set.\n\n",
		thousands(float64(identities)), thousands(10*float64(identities)), thousands(float64(identities)))
	b.WriteString("| example | rows | time | time with the server's jit | target | result |\n")
	b.WriteString("| --- | ---: | ---: | ---: | :---: | :---: |\n")
	for _, r := range rows {
		v := r.Verdict
		if v == verdictMissed {
			v = "**" + v + "**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | < 1 s | %s |\n", strings.ReplaceAll(r.Example, "|", `\|`), thousands(r.Rows),
			milliseconds(r.MS), milliseconds(r.JitMS), v)
	}
	return b.String()
}

func milliseconds(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	return fmt.Sprintf("%.0f ms", ms)
}
