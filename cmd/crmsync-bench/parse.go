package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Result is one benchmark's line of `go test -bench` output.
type Result struct {
	// Name is the full benchmark name without the -GOMAXPROCS suffix
	// ("BenchmarkReconcile/Full").
	Name string
	// Procs is GOMAXPROCS as the name's suffix gave it (1 when absent).
	Procs int
	// N is the number of iterations.
	N int
	// Metrics maps each unit ("ns/op", "pull_rows/s") to its value.
	Metrics map[string]float64
	// Line is the result line, its fields separated by single spaces.
	Line string
	// Seq is the result's position in the output (0 for the first).
	Seq int
}

// Lines returns the result lines of rs in the order they were printed.
func (rs Results) Lines() []string {
	all := slices.SortedFunc(maps.Values(rs), func(a, b Result) int { return cmp.Compare(a.Seq, b.Seq) })
	lines := make([]string, len(all))
	for i, r := range all {
		lines[i] = r.Line
	}
	return lines
}

// Results maps benchmark names (without the -GOMAXPROCS suffix) to results.
type Results map[string]Result

// Metric returns the value of unit reported by benchmark name, or an error
// saying which of the two is missing.
func (rs Results) Metric(name, unit string) (float64, error) {
	r, ok := rs[name]
	if !ok {
		return 0, fmt.Errorf("benchmark %s did not report", name)
	}
	v, ok := r.Metrics[unit]
	if !ok {
		return 0, fmt.Errorf("benchmark %s reported no %q metric", name, unit)
	}
	return v, nil
}

// procsSuffix is the -GOMAXPROCS suffix the testing package appends.
var procsSuffix = regexp.MustCompile(`-(\d+)$`)

// Parse reads `go test -bench` output (plain, not -json) and returns every
// benchmark result line in it. A result whose name was printed on a line of
// its own, with its figures on a later line (something else wrote to stdout
// in between), is joined back together. Malformed result lines, a
// benchmark reported twice and non-finite values are errors: a figure built
// from them would be wrong.
func Parse(r io.Reader) (Results, error) {
	rs := Results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	pending := "" // a benchmark name still waiting for its figures
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
			continue
		case strings.HasPrefix(line, "Benchmark") && len(fields) >= 2 && strings.HasPrefix(fields[1], "---"):
			pending = "" // "BenchmarkX-2 --- FAIL: ..." or "--- SKIP": no figures
			continue
		case strings.HasPrefix(line, "Benchmark") && len(fields) == 1:
			pending = fields[0]
			continue
		case strings.HasPrefix(line, "Benchmark"):
			pending = ""
		case pending != "" && isCount(fields[0]) && len(fields) >= 3:
			fields = append([]string{pending}, fields...)
			pending = ""
		default:
			continue
		}
		res, err := parseResult(fields)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		if _, dup := rs[res.Name]; dup {
			return nil, fmt.Errorf("line %d: %s reported twice (run with -count=1)", lineNo, res.Name)
		}
		res.Seq = len(rs)
		rs[res.Name] = res
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	return rs, nil
}

// isCount reports whether s is an iteration count.
func isCount(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0
}

// parseResult parses "BenchmarkName-2 N value unit value unit ...".
func parseResult(fields []string) (Result, error) {
	name := fields[0]
	if len(fields) < 4 || len(fields)%2 != 0 {
		return Result{}, fmt.Errorf("malformed result line for %s: %q", name, strings.Join(fields, " "))
	}
	res := Result{Name: name, Procs: 1, Metrics: map[string]float64{}, Line: strings.Join(fields, " ")}
	if m := procsSuffix.FindStringSubmatch(name); m != nil {
		res.Name = strings.TrimSuffix(name, m[0])
		res.Procs, _ = strconv.Atoi(m[1])
	}
	n, err := strconv.Atoi(fields[1])
	if err != nil || n <= 0 {
		return Result{}, fmt.Errorf("%s: iteration count %q is not a positive number", res.Name, fields[1])
	}
	res.N = n
	for i := 2; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return Result{}, fmt.Errorf("%s: value %q of %s is not a finite number", res.Name, fields[i], fields[i+1])
		}
		unit := fields[i+1]
		if _, dup := res.Metrics[unit]; dup {
			return Result{}, fmt.Errorf("%s: metric %s reported twice", res.Name, unit)
		}
		res.Metrics[unit] = v
	}
	return res, nil
}

// failure returns the first failure go test printed ("--- FAIL: name" and
// the line after it, or a build failure), on one line, or "" when there is
// none.
func failure(output string) string {
	lines := strings.Split(output, "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch at := strings.Index(t, "--- FAIL:"); {
		case at >= 0:
			msg := strings.TrimSpace(t[at+len("--- FAIL:"):])
			for _, next := range lines[i+1:] {
				if n := strings.TrimSpace(next); n != "" && !strings.Contains(n, "--- FAIL:") {
					msg += ": " + n
					break
				}
			}
			return shorten(msg)
		case strings.HasSuffix(t, "[build failed]"), strings.HasSuffix(t, "[setup failed]"):
			return shorten(t)
		}
	}
	return ""
}

// shorten cuts s to one readable line.
func shorten(s string) string {
	const max = 240
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}
