package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Machine describes where a run happened.
type Machine struct {
	CPU        string // model name from /proc/cpuinfo
	Cores      int    // logical CPUs this process may use (what nproc prints)
	MemoryKiB  int    // MemTotal from /proc/meminfo
	OS         string // PRETTY_NAME from /etc/os-release, and the kernel release
	GoVersion  string // `go env GOVERSION` of the go that ran the benchmarks
	Commit     string // `git describe --always --dirty`
	LoadBefore string // /proc/loadavg's 1-, 5- and 15-minute averages at the start
	LoadAfter  string // and at the end
}

// describeMachine reads what it can of the machine. A value it cannot read
// is "unknown", never guessed.
func describeMachine(ctx context.Context, goBin string) Machine {
	m := Machine{Cores: runtime.NumCPU(), CPU: "unknown", OS: "unknown", GoVersion: "unknown", Commit: "unknown"}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = cpuModel(string(raw))
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryKiB = memTotalKiB(string(raw))
	}
	var osParts []string
	if raw, err := os.ReadFile("/etc/os-release"); err == nil {
		if name := osReleaseName(string(raw)); name != "" {
			osParts = append(osParts, name)
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		osParts = append(osParts, "kernel "+strings.TrimSpace(string(raw)))
	}
	if len(osParts) > 0 {
		m.OS = strings.Join(osParts, ", ")
	}
	if out, err := exec.CommandContext(ctx, goBin, "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out)) + " " + runtime.GOOS + "/" + runtime.GOARCH
	}
	if out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	m.LoadBefore = loadAverage()
	return m
}

// loadAverage returns /proc/loadavg's three averages, or "unknown".
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(raw)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// cpuModel returns the CPU's model name from /proc/cpuinfo's text.
func cpuModel(cpuinfo string) string {
	for line := range strings.SplitSeq(cpuinfo, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// memTotalKiB returns MemTotal from /proc/meminfo's text, 0 if absent.
func memTotalKiB(meminfo string) int {
	for line := range strings.SplitSeq(meminfo, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// osReleaseName returns PRETTY_NAME from /etc/os-release's text.
func osReleaseName(osRelease string) string {
	for line := range strings.SplitSeq(osRelease, "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// Memory formats MemoryKiB.
func (m Machine) Memory() string {
	if m.MemoryKiB == 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", float64(m.MemoryKiB)/(1<<20))
}

// postgresVersions returns the PostgreSQL versions the benchmarks reported
// (metric pg_version_num, from the server each one used), e.g. "15.18";
// an error when none did.
func postgresVersions(rs Results) (string, error) {
	var versions []string
	for _, name := range []string{benchPull, benchRecFull} {
		n, err := rs.Metric(name, "pg_version_num")
		if err != nil {
			return "", err
		}
		v := int(n)
		s := fmt.Sprintf("%d.%d", v/10000, v%10000)
		if !slices.Contains(versions, s) {
			versions = append(versions, s)
		}
	}
	return strings.Join(versions, " and "), nil
}

// postgresServer says which server the benchmarks used: storetest's rule.
func postgresServer() string {
	for _, env := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if os.Getenv(env) != "" {
			return "the server at $" + env + " (storetest creates a database per benchmark on it)"
		}
	}
	return "a throwaway cluster storetest starts from the local binaries (store/pglocal: fsync and synchronous_commit off, shared_buffers 256MB)"
}
