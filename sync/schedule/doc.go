// Package schedule runs crmsync's jobs: once on demand (Runner, used by
// `crmsync run` and `crmsync backfill`) and on their cron schedules
// (Scheduler, used by `crmsync schedule`).
//
// A job is a named list of steps (config.Job). Every run, whatever started
// it, goes through Runner.Start:
//
//   - it takes the job's PostgreSQL advisory lock for the whole run, so two
//     processes never run the same job at once; the loser records a skipped
//     run naming the holder. A lock lost mid-run (its connection reset) stops
//     the run as a stop request does, and the run is failed;
//   - it writes one sync_runs row (trigger, start, end, status, counts and
//     status per step, error), updating them around each step;
//   - it runs the steps in order, each one even after an earlier one failed
//     (a step's panic is recovered, logged with its stack, and fails that
//     step); the run is failed if any step failed, skipped if a step
//     returned ErrSkipped (another process is doing its work) and none
//     failed. A stop, the lost job lock, or a database that no longer answers
//     after a failure leave the steps after not_started;
//   - a stop request (ctx ending: SIGINT/SIGTERM, scheduler stop) or the job
//     timeout sets run.Stopping(): steps finish the page or batch in hand,
//     commit and return ErrInterrupted; their ctx is cancelled only after the
//     grace period (DefaultGracePeriod, 15s), and the bookkeeping after that
//     is bounded (FinishTimeout, 5s). The run is recorded as interrupted
//     (failed for a timeout). Run.StopOn lets a step stop the same way on
//     something of its own it loses (cmd's step locks).
//
// The Scheduler wraps each job in cron's Recover and SkipIfStillRunning,
// records the tick a run is for (sync_runs.scheduled_for, unique per job
// among runs not skipped), so replicas run each tick once, runs at start
// each job that missed a tick since its last success (once, not once per
// missed tick), and serves /healthz, /readyz and /metrics. Its Stop ends
// within StopTimeout (24 s with the defaults), inside Kubernetes' default 30
// s between SIGTERM and SIGKILL.
//
// Schedules are parsed by config.ParseSchedule, the one schedule parser:
// 5-field cron expressions, descriptors (@hourly, @every 15m) and a
// CRON_TZ= prefix. @every ticks are aligned to multiples of the interval,
// so every replica ticks at the same instants.
package schedule
