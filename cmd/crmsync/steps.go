package main

import (
	"context"
	"errors"
	"fmt"

	"crmsync/config"
	"crmsync/metrics"
	"crmsync/store"
	"crmsync/sync/schedule"
)

// errStepNotBuilt is what a step whose stage has not landed yet returns.
var errStepNotBuilt = errors.New("not built yet")

// buildSteps returns the implementation of every step jobs.yaml can name,
// wired to the configuration, the store and the metrics.
//
// For now every step reports "step X: not built yet" (the Runner adds the
// "step X: " prefix); the pull, reconcile and push steps replace these as
// their stages land.
func buildSteps(_ context.Context, _ *env, _ *config.Config, _ *store.Store, _ *metrics.Registry) (map[string]schedule.StepFunc, error) {
	steps := make(map[string]schedule.StepFunc, len(config.Steps))
	for _, name := range config.Steps {
		steps[name] = notBuiltStep
	}
	return steps, nil
}

func notBuiltStep(context.Context, *schedule.Run) (schedule.Counts, error) {
	return nil, errStepNotBuilt
}

// newRunner returns the Runner that run, schedule (and backfill) share.
func newRunner(ctx context.Context, e *env, cfg *config.Config, st *store.Store, m *metrics.Registry) (*schedule.Runner, error) {
	steps, err := buildSteps(ctx, e, cfg, st, m)
	if err != nil {
		return nil, err
	}
	return &schedule.Runner{
		Store:       st,
		Steps:       steps,
		Log:         e.log,
		Metrics:     m,
		GracePeriod: cfg.Schedule.GracePeriod,
	}, nil
}

// requireSchema refuses to run on a database whose schema is behind this
// binary, with one line saying what to do.
func requireSchema(ctx context.Context, st *store.Store) error {
	ms, err := st.Migrations(ctx)
	if err != nil {
		return err
	}
	pending := 0
	for _, m := range ms {
		if !m.Applied {
			pending++
		}
	}
	if pending > 0 {
		return fmt.Errorf("the database schema is %d migration(s) behind this crmsync: run crmsync migrate", pending)
	}
	return nil
}
