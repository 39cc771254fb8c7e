// Command crmsync-bench runs the benchmarks the issues asked for in one run
// and reports them as one table: figure, value, the reference measured in
// the same run (or the vendor's fixed limit), their ratio and the target.
// It prints the table and writes it, with a description of the machine,
// into docs/benchmarks.md below the file's hand-written introduction.
//
// It is a second binary used only by `make bench` (never shipped): it runs
// `go test -run='^$' -bench=… -benchtime=1x` on sync/pull, sync/reconcile
// and sync/push one package at a time, at the sizes (-scale=full:
// 1,000,000 messages, 1,000,000 identities) or a quick development size
// (-scale=small: 100,000 of each, written to bin/bench/ rather than docs/),
// or once each at a tiny size (-scale=smoke, make bench/smoke, run by CI so
// that a broken benchmark fails CI; bin/bench/ too). Each go test's output
// is kept in bin/bench/<name>.log.
//
// Figures of record describe a commit: a run on a tree with changes no
// commit holds (git status --porcelain not empty) is refused, unless
// -unofficial (make bench BENCH_UNOFFICIAL=1) marks its report unofficial in
// its header and writes it to bin/bench/, never to docs/. The smoke run
// never checks the tree. The commit is printed at the start and written in
// the report.
//
// A failing benchmark or a figure missing from the output ends the run with
// one line on stderr and exit status 1, before anything is written: the
// report never holds a number this run did not measure.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks a bad command line (exit status 2).
var errUsage = errors.New("usage")

// run is main with its dependencies passed in; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := bench(ctx, args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "crmsync-bench:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "crmsync-bench:", err)
		return 1
	}
}

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("crmsync-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scaleName := fs.String("scale", "full", "run size: full (the issue's: 1,000,000 messages and identities), small (100,000) or smoke (each benchmark once, tiny)")
	out := fs.String("out", "", "report file (default docs/benchmarks.md for an official -scale=full run, bin/bench/benchmarks-<scale>.md otherwise)")
	logDir := fs.String("logdir", filepath.Join("bin", "bench"), "folder for each go test's full output")
	goBin := fs.String("go", "go", "the go command")
	unofficial := fs.Bool("unofficial", false, "run on a tree with uncommitted changes too, and mark the report unofficial (make bench BENCH_UNOFFICIAL=1)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	scale, ok := scales[*scaleName]
	if !ok {
		return fmt.Errorf("%w: -scale=%q: want full, small or smoke", errUsage, *scaleName)
	}
	// Figures of record describe a commit. A smoke run only proves the
	// benchmarks run (CI, before a commit too): it never checks the tree.
	official := false
	if !scale.Smoke {
		var err error
		if official, err = checkTree(ctx, ".", *unofficial); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*logDir, 0o755); err != nil {
		return fmt.Errorf("log folder: %w", err)
	}

	started := time.Now()
	rep := Report{Scale: scale, Started: started, Machine: describeMachine(ctx, *goBin), Server: postgresServer(), Unofficial: !official && !scale.Smoke}
	if *out == "" {
		*out = filepath.Join("docs", "benchmarks.md")
		if scale.Name != "full" || !official {
			*out = filepath.Join(*logDir, "benchmarks-"+scale.Name+".md")
		}
	}
	if (scale.Smoke || !official) && isUnder(*out, "docs") {
		return fmt.Errorf("%w: -out=%s: a smoke or unofficial run is not written into docs/", errUsage, *out)
	}
	kind := "official"
	switch {
	case scale.Smoke:
		kind = "smoke"
	case !official:
		kind = "UNOFFICIAL (uncommitted changes)"
	}
	fmt.Fprintf(stderr, "crmsync-bench: commit %s, %s run, scale %s\n", rep.Machine.Commit, kind, scale.Name)
	all := Results{}
	runs := scale.Runs()
	for i, r := range runs {
		fmt.Fprintf(stderr, "crmsync-bench: [%d/%d] %s: %s\n", i+1, len(runs), r.Name, r.Command())
		rs, raw, took, err := runOne(ctx, *goBin, *logDir, r)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "crmsync-bench: [%d/%d] %s done in %s\n", i+1, len(runs), r.Name, roundDuration(took))
		for name, res := range rs {
			if _, dup := all[name]; dup {
				return fmt.Errorf("%s reported by two runs", name)
			}
			all[name] = res
		}
		rep.RunTimes = append(rep.RunTimes, RunTime{Run: r, Took: took})
		rep.Raw = append(rep.Raw, raw...)
	}
	rep.Took = time.Since(started)
	rep.Machine.LoadAfter = loadAverage()

	rows, err := Rows(all, scale)
	if err != nil {
		return err
	}
	rep.Rows = rows
	if rep.Analysts, err = readAnalystRows(all); err != nil {
		return err
	}
	if rep.Postgres, err = postgresVersions(all); err != nil {
		return fmt.Errorf("PostgreSQL version: %w", err)
	}
	fmt.Fprint(stdout, Table(rows))
	if err := writeReport(*out, rep.Markdown()); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "crmsync-bench: the run took %s; wrote %s\n", roundDuration(rep.Took), *out)
	return nil
}

// isUnder reports whether path lies in the folder dir (relative paths are
// taken from the working directory).
func isUnder(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// runOne runs one go test invocation, its output teed to logDir/<name>.log,
// and returns its results, its benchmark result lines and how long it took.
// A non-zero exit or output that does not parse is an error naming the
// first failure and the log file.
func runOne(ctx context.Context, goBin, logDir string, r BenchRun) (Results, []string, time.Duration, error) {
	logPath := filepath.Join(logDir, r.Name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("log file: %w", err)
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "$ %s\n", r.Command())

	var stdout, both bytes.Buffer
	combined := &lockedWriter{w: io.MultiWriter(&both, logFile)} // stdout and stderr, as they came
	cmd := exec.CommandContext(ctx, goBin, r.Args()...)
	cmd.Env = append(benchEnv(os.Environ()), r.Env...)
	cmd.Stdout = io.MultiWriter(&stdout, combined)
	cmd.Stderr = combined
	// Interrupted: let go test and the test binary stop their databases.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if err != nil {
		reason := failure(both.String())
		if reason == "" {
			reason = err.Error()
		}
		return nil, nil, took, fmt.Errorf("go test %s -bench=%s failed after %s: %s (full output: %s)", r.Pkg, r.Bench, roundDuration(took), reason, logPath)
	}
	rs, err := Parse(bytes.NewReader(stdout.Bytes()))
	if err != nil {
		return nil, nil, took, fmt.Errorf("go test %s output: %w (full output: %s)", r.Pkg, err, logPath)
	}
	if len(rs) == 0 {
		return nil, nil, took, fmt.Errorf("go test %s -bench=%s ran no benchmark (full output: %s)", r.Pkg, r.Bench, logPath)
	}
	return rs, rs.Lines(), took, nil
}

// lockedWriter serialises writes from the command's two output streams.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// benchEnv returns env without the variables the benchmarks read, so that
// only a run's own settings reach them.
func benchEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		for _, p := range benchEnvPrefixes {
			if strings.HasPrefix(kv, p) {
				return true
			}
		}
		return false
	})
}
