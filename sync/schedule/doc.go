// Package schedule runs crmsync's jobs: once on demand (Runner, used by
// `crmsync run` and `crmsync backfill`) and on their cron schedules
// (Scheduler, used by `crmsync schedule`).
//
// A job is a named list of steps (config.Job). Every run, whatever started
// it, goes through Runner.Start:
//
//   - it takes the job's PostgreSQL advisory lock for the whole run, so two
//     processes never run the same job at once; the loser records a skipped
//     run naming the holder;
//   - it writes one sync_runs row (trigger, start, end, status, counts per
//     step, error), updating the counts after each step;
//   - it runs the steps in order; a step's panic is recovered, logged with
//     its stack and recorded as a failed run;
//   - a stop request (ctx ending: SIGINT/SIGTERM, scheduler stop) or the job
//     timeout sets run.Stopping(): steps finish the page or batch in hand,
//     commit and return ErrInterrupted; their ctx is cancelled only after the
//     grace period. The run is recorded as interrupted (failed for a timeout).
//
// The Scheduler wraps each job in cron's Recover and SkipIfStillRunning,
// records the tick a run is for (sync_runs.scheduled_for, unique per job
// among runs not skipped), so replicas run each tick once, runs at start
// each job that missed a tick since its last success (once, not once per
// missed tick), and serves /healthz, /readyz and /metrics.
//
// Schedules are parsed by config.ParseSchedule, the one schedule parser:
// 5-field cron expressions, descriptors (@hourly, @every 15m) and a
// CRON_TZ= prefix. @every ticks are aligned to multiples of the interval,
// so every replica ticks at the same instants.
package schedule
