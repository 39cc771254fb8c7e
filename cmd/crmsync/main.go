// Command crmsync keeps contact data in step between Omnichat, Oho and
// Okeybot: it pulls from Omnichat into PostgreSQL, reconciles one master
// record per person, and pushes attributes, tags and labels out.
//
// Run `crmsync --help` for the subcommands. Exit codes: 0 success, 1 a run
// finished with failures recorded (or could not run), 2 bad usage or config.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
