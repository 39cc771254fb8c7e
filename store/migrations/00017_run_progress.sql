-- Progress of a running push or backfill, per credential, for crmsync status.
--
-- A push step or a backfill stream keeps one row per credential whose quota it spends (Oho's key, a
-- LINE channel token, an Okeybot channel token or account, the Omnichat account): the requests made
-- so far, the requests still to make as estimated from the work done so far, and the time those take
-- at the credential's limit. Rows are replaced as the run goes on (every few seconds) and deleted when
-- the run that wrote them finishes, so only running runs have rows; a run that died leaves its rows
-- until its run row is marked failed, and status shows them only for runs still running.

-- +goose Up
CREATE TABLE run_progress (
    run_id            bigint           NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    step              text             NOT NULL,
    credential        text             NOT NULL,
    done_units        bigint           NOT NULL,
    total_units       bigint           NOT NULL,
    unit              text             NOT NULL,
    requests          bigint           NOT NULL,
    requests_left     bigint           NOT NULL,
    seconds_left      double precision NOT NULL,
    rate_per_second   double precision NOT NULL,
    updated_at        timestamptz      NOT NULL,
    PRIMARY KEY (run_id, step, credential)
);

COMMENT ON TABLE  run_progress IS 'Progress of a running push step or backfill stream, one row per credential whose quota it spends; replaced as the run goes on, deleted when the step ends. crmsync status shows the rows of running runs.';
COMMENT ON COLUMN run_progress.run_id          IS 'The sync_runs row of the run.';
COMMENT ON COLUMN run_progress.step            IS 'The step (push_oho, push_okeybot, pull_contacts, ...).';
COMMENT ON COLUMN run_progress.credential      IS 'The quota: oho, line/<channel id>, okeybot/<channel name>, omnichat. Never a secret.';
COMMENT ON COLUMN run_progress.done_units      IS 'Units of work finished so far: contacts examined (push) or windows ended (backfill), over the whole step.';
COMMENT ON COLUMN run_progress.total_units     IS 'Units of work the step chose: candidate contacts (push) or windows to read (backfill).';
COMMENT ON COLUMN run_progress.unit            IS 'contacts or windows.';
COMMENT ON COLUMN run_progress.requests        IS 'Requests made so far on the credential by the step.';
COMMENT ON COLUMN run_progress.requests_left   IS 'Requests still to make on the credential: its requests per unit so far times the units left (an estimate).';
COMMENT ON COLUMN run_progress.seconds_left    IS 'requests_left at the credential''s paced rate: the time its limit needs for them.';
COMMENT ON COLUMN run_progress.rate_per_second IS 'The paced rate of the credential (headroom included), requests per second.';
COMMENT ON COLUMN run_progress.updated_at      IS 'When the row was written.';

-- +goose Down
DROP TABLE run_progress;
