package main

import (
	"fmt"
	"strconv"
	"time"
)

// The push selection benchmark (issue 13 point 5): choosing which contacts
// to push when 30 of many changed.

// selectionContacts is the size of the table BenchmarkPushSelection seeds,
// per scale (CRMSYNC_BENCH_CONTACTS).
var selectionContacts = map[string]int{"full": 1_000_000, "small": 100_000, "smoke": 2_000}

const (
	benchSelection = "BenchmarkPushSelection"
	// selectionTargetMS is the target: under 1 s of database time in
	// all for the choice of one push.
	selectionTargetMS = 1000.0
)

// selectionRun is the go test invocation of the push selection benchmark.
func selectionRun(s Scale) BenchRun {
	return BenchRun{Name: "push-selection", Pkg: "./sync/push/", Bench: "^" + benchSelection + "$",
		Env: []string{"CRMSYNC_BENCH_CONTACTS=" + strconv.Itoa(selectionContacts[s.Name])}, Timeout: 30 * time.Minute}
}

// selectionRows is the report's row of the push selection: the database
// time of one push's choice against the full scan of the same table, which
// is what every batch cost before the choice followed the changes.
func selectionRows(m *metrics) []Row {
	sel, full := m.get(benchSelection, "selection_ms"), m.get(benchSelection, "full_scan_ms")
	contacts, chosen := m.get(benchSelection, "contacts"), m.get(benchSelection, "candidates")
	return []Row{{
		Figure:    fmt.Sprintf("Push: choosing the contacts to push, %s changed of %s (database time of one run's choice)", thousands(chosen), thousands(contacts)),
		Value:     fmt.Sprintf("%.1f ms", sel),
		Reference: fmt.Sprintf("%.1f ms: one full-scan choice of the same table (what every batch cost before)", full),
		Ratio:     ratio(sel / full),
		Target:    "< 1 s",
		Verdict:   verdict(sel < selectionTargetMS),
	}}
}
