package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"crmsync/config"
)

func checkConfigCommand() *command {
	return &command{
		name:    "check-config",
		summary: "Load and validate the configuration, listing every problem, without touching anything",
		run: func(_ context.Context, e *env, fs *flag.FlagSet, _ any) error {
			if fs.NArg() > 0 {
				return usagef("unexpected argument %q", fs.Arg(0))
			}
			cfg, err := e.config()
			var ce *config.Error
			if errors.As(err, &ce) && len(ce.Problems) > 1 {
				for _, p := range ce.Problems {
					fmt.Fprintln(e.stderr, "crmsync:", p.String())
				}
				return fmt.Errorf("%s: %d problems: %w", e.configPath, len(ce.Problems), config.ErrInvalid)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: ok (%d jobs)\n", cfg.Path, len(cfg.Jobs))
			for _, j := range cfg.Jobs {
				fmt.Fprintf(e.stdout, "  %-32s %-22s %v\n", j.Name, j.Schedule, j.Steps)
			}
			return nil
		},
	}
}
