package main

import (
	"context"
	"flag"
	"fmt"

	"crmsync/store"
)

func migrateCommand() *command {
	return &command{
		name:    "migrate",
		summary: "Create or update the database schema in $DATABASE_URL (running it twice changes nothing)",
		setFlags: func(fs *flag.FlagSet) any {
			return fs.Bool("status", false, "list migrations and whether each is applied, and change nothing")
		},
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, opts any) error {
			if fs.NArg() > 0 {
				return usagef("unexpected argument %q", fs.Arg(0))
			}
			st, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			if *opts.(*bool) {
				ms, err := st.Migrations(ctx)
				if err != nil {
					return err
				}
				for _, m := range ms {
					state := "pending"
					if m.Applied {
						state = "applied"
					}
					fmt.Fprintf(e.stdout, "%05d  %-8s %s\n", m.Version, state, m.Name)
				}
				return nil
			}
			applied, err := st.Migrate(ctx)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(e.stdout, "schema is up to date")
				return nil
			}
			for _, m := range applied {
				fmt.Fprintf(e.stdout, "applied %05d %s\n", m.Version, m.Name)
			}
			return nil
		},
	}
}

// openStore connects to $DATABASE_URL.
func (e *env) openStore(ctx context.Context) (*store.Store, error) {
	return store.Open(ctx, e.getenv("DATABASE_URL"), store.Options{Log: e.log})
}

// openMigratedStore opens the database and refuses one whose schema is
// behind this binary's migrations (requireSchema), closing it then.
func (e *env) openMigratedStore(ctx context.Context) (*store.Store, error) {
	st, err := e.openStore(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireSchema(ctx, st); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}
