package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"crmsync/config"
	"crmsync/metrics"
	"crmsync/sync/schedule"
)

// runFlags are the flags of crmsync run.
type runFlags struct {
	metricsAddr string
	full        bool
}

func runCommand() *command {
	return &command{
		name: "run", args: "JOB|STEP...", summary: "Run the named jobs of jobs.yaml (or single steps, e.g. reconcile) once, now, one after the other",
		setFlags: func(fs *flag.FlagSet) any {
			f := &runFlags{}
			fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve /healthz, /readyz and /metrics on this address while the jobs run (default off)")
			fs.BoolVar(&f.full, "full", false, "reconcile rebuilds every master record, push examines every contact (default: only what changed)")
			return f
		},
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, opts any) error {
			f := opts.(*runFlags)
			if fs.NArg() == 0 {
				return usagef("name at least one job (crmsync check-config lists them)")
			}
			cfg, err := e.config(config.ForRun(fs.Args()...)) // only the secrets of the services these jobs or steps call
			if err != nil {
				return err
			}
			jobs := make([]config.Job, 0, fs.NArg())
			var extra []string
			for _, name := range fs.Args() {
				j, err := cfg.Job(name)
				if err != nil && slices.Contains(config.Steps, name) {
					// A step name runs that step alone, as a job of its own name.
					j, err = config.Job{Name: name, Steps: []string{name}, Timeout: 30 * time.Minute}, nil
					extra = append(extra, name)
				}
				if err != nil {
					names := make([]string, 0, len(cfg.Jobs))
					for _, j := range cfg.Jobs {
						names = append(names, j.Name)
					}
					return usagef("unknown job or step %q (%s defines jobs: %s; steps: %s)",
						name, cfg.Path, strings.Join(names, ", "), strings.Join(config.Steps, ", "))
				}
				jobs = append(jobs, j)
			}
			st, err := e.openMigratedStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			m := metrics.New()
			only := []string{}
			for _, j := range jobs {
				only = append(only, j.Steps...)
			}
			runner, err := newRunner(ctx, e, cfg, st, m, stepOptions{full: f.full, extra: extra, only: only})
			if err != nil {
				return err
			}
			if f.metricsAddr != "" && f.metricsAddr != "off" {
				srv, err := schedule.ListenHTTP(f.metricsAddr, schedule.NewHTTPHandler(st, m, nil), e.log)
				if err != nil {
					return err
				}
				defer func() {
					sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
					defer cancel()
					_ = srv.Shutdown(sctx)
				}()
			}
			return runJobs(ctx, runner, jobs)
		},
	}
}

// runJobs runs each job in turn through the same Runner the scheduler uses
// (trigger manual). The Runner logs one line per run; a stop request (ctx)
// interrupts the running job and starts no other.
func runJobs(ctx context.Context, runner *schedule.Runner, jobs []config.Job) error {
	var failed []string
	for _, j := range jobs {
		if ctx.Err() != nil {
			return fmt.Errorf("before %s: %w", j.Name, context.Cause(ctx))
		}
		res, err := runner.RunJob(ctx, j, schedule.TriggerManual)
		if err != nil {
			return err
		}
		switch res.Status {
		case schedule.StatusFailed:
			failed = append(failed, fmt.Sprintf("%s (run %d)", j.Name, res.RunID))
		case schedule.StatusInterrupted:
			return fmt.Errorf("run %d of %s: %w", res.RunID, j.Name, context.Canceled)
		}
	}
	if len(failed) > 0 {
		return failedRunError{fmt.Sprintf("%d of %d runs failed: %s", len(failed), len(jobs), strings.Join(failed, ", "))}
	}
	return nil
}
