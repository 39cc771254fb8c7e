package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sirupsen/logrus"

	"crmsync/config"
)

// Exit codes, as DESIGN.md's external contract defines them.
const (
	exitOK      = 0
	exitFailed  = 1 // a run finished with failures recorded, or could not run
	exitBadArgs = 2 // bad usage or configuration
)

// usageError is bad command-line usage: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// failedRunError means the command ran but recorded failures: exit 1, and
// the message has already been logged.
type failedRunError struct{ msg string }

func (e failedRunError) Error() string { return e.msg }

// env is everything a subcommand gets from the process: arguments aside.
type env struct {
	getenv     func(string) string
	stdout     io.Writer
	stderr     io.Writer
	log        *logrus.Logger
	configPath string
	global     globalFlags
}

// config loads jobs.yaml (or the file named by --config / CRMSYNC_CONFIG).
func (e *env) config(opts ...config.Option) (*config.Config, error) {
	return config.Load(e.configPath, e.getenv, opts...)
}

type globalFlags struct {
	config    string
	logFormat string
	logLevel  string
}

// command is one subcommand.
type command struct {
	name     string
	args     string // synopsis of positional arguments
	summary  string
	setFlags func(fs *flag.FlagSet) any
	run      func(ctx context.Context, e *env, fs *flag.FlagSet, opts any) error
}

func commands() []*command {
	return []*command{
		migrateCommand(),
		checkConfigCommand(),
		runCommand(),
		backfillCommand(),
		scheduleCommand(),
		pushCommand(),
		planCommand(),
		statusCommand(),
		demoCommand(),
		sandboxCommand(),
	}
}

func findCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// run is main without the process: it parses args, dispatches and returns
// the exit code. Every error is printed once, on one line, to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var g globalFlags
	fs := flag.NewFlagSet("crmsync", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, below
	fs.StringVar(&g.config, "config", "", "configuration file (default $CRMSYNC_CONFIG, else ./jobs.yaml)")
	fs.StringVar(&g.logFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text or json")
	fs.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {} // --help is answered on stdout below; errors get one line
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fs)
			return exitOK
		}
		fmt.Fprintf(stderr, "crmsync: %v (see crmsync --help)\n", err)
		return exitBadArgs
	}
	rest := fs.Args()
	if len(rest) == 0 {
		printUsage(stderr, fs)
		return exitBadArgs
	}
	if rest[0] == "help" {
		if len(rest) > 1 {
			rest = []string{rest[1], "--help"}
		} else {
			printUsage(stdout, fs)
			return exitOK
		}
	}
	cmd := findCommand(rest[0])
	if cmd == nil {
		fmt.Fprintf(stderr, "crmsync: unknown command %q (run crmsync --help for the list)\n", rest[0])
		return exitBadArgs
	}

	log, err := newLogger(g.logFormat, g.logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "crmsync: %v\n", err)
		return exitBadArgs
	}
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr, log: log, global: g, configPath: g.config}
	if e.configPath == "" {
		e.configPath = getenv("CRMSYNC_CONFIG")
	}
	if e.configPath == "" {
		e.configPath = "jobs.yaml"
	}

	cfs := flag.NewFlagSet("crmsync "+cmd.name, flag.ContinueOnError)
	cfs.SetOutput(io.Discard) // errors are printed once, below
	var opts any
	if cmd.setFlags != nil {
		opts = cmd.setFlags(cfs)
	}
	cfs.Usage = func() {} // --help is answered on stdout below; errors get one line
	if err := cfs.Parse(rest[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(stdout, cmd, cfs)
			return exitOK
		}
		fmt.Fprintf(stderr, "crmsync %s: %v (see crmsync %s --help)\n", cmd.name, err, cmd.name)
		return exitBadArgs
	}
	err = cmd.run(ctx, e, cfs, opts)
	return exitCode(err, stderr, cmd.name)
}

func exitCode(err error, stderr io.Writer, name string) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	var fe failedRunError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "crmsync %s: %v\n", name, oneLine(err))
		return exitBadArgs
	case errors.Is(err, config.ErrInvalid):
		fmt.Fprintf(stderr, "crmsync: %v\n", oneLine(err))
		return exitBadArgs
	case errors.As(err, &fe):
		fmt.Fprintf(stderr, "crmsync %s: %v\n", name, oneLine(err))
		return exitFailed
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "crmsync %s: interrupted\n", name)
		return exitFailed
	default:
		fmt.Fprintf(stderr, "crmsync %s: %v\n", name, oneLine(err))
		return exitFailed
	}
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `crmsync keeps contact data in step: it pulls contacts, tagging logs and chat
history from Omnichat into PostgreSQL, reconciles one master record per person,
and pushes attributes, tags and labels to Oho and Okeybot.

Usage: crmsync [global flags] <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nGlobal flags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Environment: DATABASE_URL, OMNICHAT_TOKEN, OHO_API_KEY, OMNICHAT_BASE_URL,
OHO_BASE_URL, OKEYBOT_BASE_URL, LINE_BASE_URL, CRMSYNC_CONFIG, and the
per-channel tokens jobs.yaml references as ${VAR}.
Exit codes: 0 success, 1 a run recorded failures or could not run, 2 bad usage or config.
Run 'crmsync <command> --help' for a command's flags.
`)
}

func printCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: crmsync [global flags] %s [flags]", c.name)
	if c.args != "" {
		fmt.Fprintf(w, " %s", c.args)
	}
	fmt.Fprintf(w, "\n\n%s.\n", c.summary)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}
