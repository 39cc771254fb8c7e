-- Operations: one row per job run, one row per pull window, and bad records from the APIs.

-- +goose Up
CREATE TABLE sync_runs (
    id          bigserial   PRIMARY KEY,
    job         text        NOT NULL,
    trigger     text        NOT NULL CHECK (trigger IN ('schedule', 'manual', 'backfill', 'catch-up', 'demo')),
    scheduled_for timestamptz,
    status      text        NOT NULL DEFAULT 'running'
                            CHECK (status IN ('running', 'ok', 'failed', 'skipped', 'interrupted')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    counts      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error       text,
    host        text        NOT NULL DEFAULT '',
    pid         integer     NOT NULL DEFAULT 0
);
CREATE INDEX sync_runs_job_started_idx ON sync_runs (job, started_at DESC);
-- One run per job and schedule tick across every process: a second replica
-- that reaches the same tick records a skipped run instead.
CREATE UNIQUE INDEX sync_runs_tick_key ON sync_runs (job, scheduled_for)
    WHERE scheduled_for IS NOT NULL AND status <> 'skipped';

COMMENT ON TABLE  sync_runs IS 'One row per job run (scheduled, manual, backfill, catch-up or demo), written when the run starts and finished when it ends.';
COMMENT ON COLUMN sync_runs.id          IS 'Run id; log lines carry it as run_id.';
COMMENT ON COLUMN sync_runs.job         IS 'Job name from jobs.yaml (e.g. omnichat_to_oho_contacts), or the step name for a one-off command.';
COMMENT ON COLUMN sync_runs.trigger     IS 'What started the run: schedule, manual (crmsync run), backfill, catch-up (missed while down) or demo.';
COMMENT ON COLUMN sync_runs.scheduled_for IS 'The schedule tick the run is for (trigger schedule or catch-up); NULL for manual and backfill runs. At most one run per job and tick is not skipped.';
COMMENT ON COLUMN sync_runs.status      IS 'running while in progress; then ok, failed (error set; also a run whose process died, found by the next run of the job), skipped (another process held the job lock, or had already run this tick) or interrupted (stopped by a signal; units in hand were committed).';
COMMENT ON COLUMN sync_runs.started_at  IS 'When the run started.';
COMMENT ON COLUMN sync_runs.finished_at IS 'When the run ended; NULL while running or if the process died.';
COMMENT ON COLUMN sync_runs.counts      IS 'Counters per step that ran, e.g. {"pull_messages": {"pages": 12, "rows": 1180, "requests": 12, "rate_limited": 0, "rejections": 0, "duration_ms": 5321}}; pages, rows, requests, rate_limited, rejections and duration_ms are always present, steps may add their own keys. Updated after each step.';
COMMENT ON COLUMN sync_runs.error       IS 'The error that ended the run, when status is failed or interrupted.';
COMMENT ON COLUMN sync_runs.host        IS 'Host name of the process that ran it.';
COMMENT ON COLUMN sync_runs.pid         IS 'Process id of the process that ran it.';

CREATE TABLE sync_windows (
    id             bigserial   PRIMARY KEY,
    stream         text        NOT NULL CHECK (stream IN ('contacts', 'tagging_logs', 'messages')),
    scope          text        NOT NULL DEFAULT '',
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    status         text        NOT NULL DEFAULT 'pending'
                               CHECK (status IN ('pending', 'running', 'done', 'failed', 'split')),
    pages          integer     NOT NULL DEFAULT 0,
    rows           bigint      NOT NULL DEFAULT 0,
    total_elements bigint,
    next_page      integer     NOT NULL DEFAULT 1,
    attempts       integer     NOT NULL DEFAULT 0,
    last_error     text,
    run_id         bigint      REFERENCES sync_runs (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    CONSTRAINT sync_windows_range_chk CHECK (window_end > window_start AND window_end - window_start <= interval '7 days'),
    CONSTRAINT sync_windows_key UNIQUE (stream, scope, window_start, window_end)
);
CREATE INDEX sync_windows_pending_idx ON sync_windows (stream, scope, window_start) WHERE status <> 'done';

COMMENT ON TABLE  sync_windows IS 'One row per pull window: a stream, a scope and a time range [window_start, window_end) of at most 7 days. A window is done only after all its pages committed.';
COMMENT ON COLUMN sync_windows.id             IS 'Window id.';
COMMENT ON COLUMN sync_windows.stream         IS 'Omnichat stream: contacts, tagging_logs or messages.';
COMMENT ON COLUMN sync_windows.scope          IS 'platform/channelId for per-channel streams (contacts, messages), or the platform alone when no channel list exists; empty for tagging_logs.';
COMMENT ON COLUMN sync_windows.window_start   IS 'Inclusive start of the window.';
COMMENT ON COLUMN sync_windows.window_end     IS 'Exclusive end of the window.';
COMMENT ON COLUMN sync_windows.status         IS 'pending, running, done, failed (last_error set; retried by the next run) or split (too large to page safely; replaced by two halves).';
COMMENT ON COLUMN sync_windows.pages          IS 'Pages committed for this window in its last read.';
COMMENT ON COLUMN sync_windows.rows           IS 'Rows received (good and bad) in its last read.';
COMMENT ON COLUMN sync_windows.total_elements IS 'totalElements as Omnichat reported it on the first page of the last read.';
COMMENT ON COLUMN sync_windows.next_page      IS 'The page a resumed read starts from.';
COMMENT ON COLUMN sync_windows.attempts       IS 'How many times the window was read (re-reads after a short count or a failure included).';
COMMENT ON COLUMN sync_windows.last_error     IS 'The error of the last failed attempt.';
COMMENT ON COLUMN sync_windows.run_id         IS 'The sync_runs row that last worked on the window.';
COMMENT ON COLUMN sync_windows.created_at     IS 'When the window was first planned.';
COMMENT ON COLUMN sync_windows.updated_at     IS 'When the window row last changed.';
COMMENT ON COLUMN sync_windows.finished_at    IS 'When the window was marked done.';

CREATE TABLE pull_errors (
    id          bigserial   PRIMARY KEY,
    stream      text        NOT NULL,
    scope       text        NOT NULL DEFAULT '',
    raw         text        NOT NULL,
    raw_hash    text        NOT NULL,
    reason      text        NOT NULL,
    window_id   bigint      REFERENCES sync_windows (id) ON DELETE SET NULL,
    run_id      bigint      REFERENCES sync_runs (id) ON DELETE SET NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    times_seen  integer     NOT NULL DEFAULT 1,
    CONSTRAINT pull_errors_key UNIQUE (stream, raw_hash)
);

COMMENT ON TABLE  pull_errors IS 'Records from the Omnichat API that could not be stored (unparseable, missing keys, timestamps out of range), with the raw JSON and the reason. The run that met them went on.';
COMMENT ON COLUMN pull_errors.id            IS 'Surrogate key.';
COMMENT ON COLUMN pull_errors.stream        IS 'Stream the record came from: channels, contacts, tagging_logs or messages.';
COMMENT ON COLUMN pull_errors.scope         IS 'Scope of the window the record came in (see sync_windows.scope).';
COMMENT ON COLUMN pull_errors.raw           IS 'The record exactly as received (JSON text; kept as text because it may not be valid JSON).';
COMMENT ON COLUMN pull_errors.raw_hash      IS 'md5 of raw; the same bad record seen again updates last_seen_at instead of adding a row.';
COMMENT ON COLUMN pull_errors.reason        IS 'Why the record was refused, e.g. "updatedAt 0 out of range".';
COMMENT ON COLUMN pull_errors.window_id     IS 'The window being read when the record was first met.';
COMMENT ON COLUMN pull_errors.run_id        IS 'The run that first met the record.';
COMMENT ON COLUMN pull_errors.first_seen_at IS 'When the record was first met.';
COMMENT ON COLUMN pull_errors.last_seen_at  IS 'When the record was last met.';
COMMENT ON COLUMN pull_errors.times_seen    IS 'How many reads met the record.';

-- +goose Down
DROP TABLE pull_errors;
DROP TABLE sync_windows;
DROP TABLE sync_runs;
