package main

import (
	"context"
	"flag"

	"crmsync/metrics"
	"crmsync/sync/schedule"
)

// scheduleFlags are the flags of crmsync schedule.
type scheduleFlags struct {
	metricsAddr string
	noCatchUp   bool
}

func scheduleCommand() *command {
	return &command{
		name: "schedule", summary: "Run the jobs of jobs.yaml on their cron schedules until stopped (SIGINT/SIGTERM stop gracefully)",
		setFlags: func(fs *flag.FlagSet) any {
			f := &scheduleFlags{}
			fs.StringVar(&f.metricsAddr, "metrics-addr", "", `address of /healthz, /readyz and /metrics (default schedule.metrics_addr of jobs.yaml; "off" disables)`)
			fs.BoolVar(&f.noCatchUp, "no-catch-up", false, "do not run, at start, the jobs that missed a tick since their last success")
			return f
		},
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, opts any) error {
			f := opts.(*scheduleFlags)
			if fs.NArg() > 0 {
				return usagef("unexpected argument %q", fs.Arg(0))
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			if len(cfg.Jobs) == 0 {
				return usagef("%s defines no jobs: nothing to schedule", cfg.Path)
			}
			st, err := e.openMigratedStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			m := metrics.New()
			runner, err := newRunner(ctx, e, cfg, st, m, stepOptions{})
			if err != nil {
				return err
			}
			addr := cfg.Schedule.MetricsAddr
			if f.metricsAddr != "" {
				addr = f.metricsAddr
			}
			s, err := schedule.NewScheduler(schedule.Options{
				Runner:     runner,
				Jobs:       cfg.Jobs,
				Location:   cfg.Location(),
				CatchUp:    *cfg.Schedule.CatchUp && !f.noCatchUp,
				HTTPAddr:   addr,
				ConfigPath: cfg.Path,
				Log:        e.log,
			})
			if err != nil {
				return err
			}
			return s.Run(ctx)
		},
	}
}
