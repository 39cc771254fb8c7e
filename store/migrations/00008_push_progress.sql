-- Push selection proportional to change, and the outcome of every step of a run.
--
-- A push run chooses its contacts from what changed since the last complete pass (contacts.updated_at
-- after push_progress.changed_until, read through contacts_updated_idx), what is due for a recheck
-- (push_contacts.checked_at, indexed below) and what waits for a retry (push_retries), instead of
-- comparing every live contact with its push_contacts row on every batch. A pass under settings it has
-- not completed (push_progress.config_hash differs, or no row) still examines every contact once.
--
-- sync_runs: every step of a job is attempted even after an earlier one failed, each step's outcome is
-- the "status" key of its entry in counts, and a run that skipped a step another process was running is
-- recorded skipped rather than ok.

-- +goose Up
CREATE TABLE push_progress (
    destination   text        PRIMARY KEY CHECK (destination IN ('oho', 'okeybot')),
    config_hash   text        NOT NULL,
    changed_until timestamptz NOT NULL,
    run_id        bigint      REFERENCES sync_runs (id) ON DELETE SET NULL,
    updated_at    timestamptz NOT NULL
);

COMMENT ON TABLE  push_progress IS 'One row per destination: the last push run that examined every candidate it chose (not stopped, not cut short by --limit, not ended by an error). The next run examines only contacts changed after changed_until (less a safety overlap of one hour), due for a recheck, or waiting for a retry (push_retries); with other settings (config_hash) it examines every contact once again.';
COMMENT ON COLUMN push_progress.destination   IS 'oho or okeybot.';
COMMENT ON COLUMN push_progress.config_hash   IS 'Fingerprint of the settings that shaped the payloads of that run (push_contacts.config_hash); a run under another fingerprint makes a full pass.';
COMMENT ON COLUMN push_progress.changed_until IS 'The newest contacts.updated_at of a live contact when that run chose its candidates: every contact changed up to then was examined (or waits in push_retries).';
COMMENT ON COLUMN push_progress.run_id        IS 'The sync_runs row of that run; NULL for a one-off command.';
COMMENT ON COLUMN push_progress.updated_at    IS 'When that run finished.';

CREATE TABLE push_retries (
    destination     text        NOT NULL CHECK (destination IN ('oho', 'okeybot')),
    contact_id      bigint      NOT NULL REFERENCES contacts (id),
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL,
    failures        integer     NOT NULL DEFAULT 1,
    last_error      text        NOT NULL,
    run_id          bigint      REFERENCES sync_runs (id) ON DELETE SET NULL,
    PRIMARY KEY (destination, contact_id)
);

COMMENT ON TABLE  push_retries IS 'Contacts a push could not finish for a transient reason (5xx, timeout, a 429 that outlasted the retries, a helper API down): the next push of the destination examines them again, whatever changed. The row is deleted once the push finishes with the contact (push_contacts).';
COMMENT ON COLUMN push_retries.destination     IS 'oho or okeybot.';
COMMENT ON COLUMN push_retries.contact_id      IS 'The master contact.';
COMMENT ON COLUMN push_retries.first_failed_at IS 'When the first failure of this series happened.';
COMMENT ON COLUMN push_retries.last_failed_at  IS 'When the last one happened.';
COMMENT ON COLUMN push_retries.failures        IS 'Runs in a row that failed the contact.';
COMMENT ON COLUMN push_retries.last_error      IS 'The last failure, as logged (no secrets, no query strings, no bodies).';
COMMENT ON COLUMN push_retries.run_id          IS 'The sync_runs row of the push that last failed it; NULL for a one-off command.';

-- The recheck of time-based facts reads the contacts examined longest ago.
CREATE INDEX push_contacts_checked_idx ON push_contacts (destination, checked_at);

COMMENT ON COLUMN sync_runs.status IS 'running while in progress; then ok (every step ran and succeeded), failed (at least one step failed, the job timed out, or the process died: found by the next run of the job; error set), skipped (the run did not happen because another process held the job lock or had already run this tick, or it ran but skipped a step another process was running; error says which) or interrupted (stopped by a signal; units in hand were committed).';
COMMENT ON COLUMN sync_runs.counts IS 'One entry per step of the job, e.g. {"pull_messages": {"status": "ok", "pages": 12, "rows": 1180, "requests": 12, "rate_limited": 0, "rejections": 0, "duration_ms": 5321}}. status is ok, failed, skipped (another process was running the step), interrupted (stopped by a signal or the job timeout) or not_started (the run was stopped before the step, or the database became unreachable); a step that ran also has pages, rows, requests, rate_limited, rejections and duration_ms, and may add its own keys. Updated after each step. Runs recorded before migration 00008 have no status key (their steps stopped at the first failure).';
COMMENT ON COLUMN sync_runs.error IS 'Why the run failed, was interrupted or skipped: each failed or skipped step''s error as "step NAME: …", joined by "; ".';

-- +goose Down
COMMENT ON COLUMN sync_runs.error IS 'The error that ended the run, when status is failed or interrupted.';
COMMENT ON COLUMN sync_runs.counts IS 'Counters per step that ran, e.g. {"pull_messages": {"pages": 12, "rows": 1180, "requests": 12, "rate_limited": 0, "rejections": 0, "duration_ms": 5321}}; pages, rows, requests, rate_limited, rejections and duration_ms are always present, steps may add their own keys. Updated after each step.';
COMMENT ON COLUMN sync_runs.status IS 'running while in progress; then ok, failed (error set; also a run whose process died, found by the next run of the job), skipped (another process held the job lock, or had already run this tick) or interrupted (stopped by a signal; units in hand were committed).';
DROP INDEX push_contacts_checked_idx;
DROP TABLE push_retries;
DROP TABLE push_progress;
