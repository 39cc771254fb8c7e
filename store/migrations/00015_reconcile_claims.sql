-- Reconcile claims its queue in a short transaction: the identities it takes move from reconcile_queue to
-- reconcile_claims, stamped with the run's claim id, and that move commits at once. The run's long
-- transaction then deletes only its own claims when it commits, so a pull that queues one of those
-- identities again meanwhile never waits (the queue row is gone, and a new one is simply inserted), and
-- a run that crashes leaves its claims here for the next run to take over: nothing queued is lost.

-- +goose Up
CREATE SEQUENCE reconcile_claim_id_seq;

CREATE TABLE reconcile_claims (
    platform   text        NOT NULL,
    channel_id text        NOT NULL,
    user_id    text        NOT NULL,
    queued_at  timestamptz NOT NULL,
    claim_id   bigint      NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, channel_id, user_id)
);
CREATE INDEX reconcile_claims_claim_idx ON reconcile_claims (claim_id);

COMMENT ON TABLE  reconcile_claims IS 'Identities a reconcile run took from reconcile_queue and has not committed yet (internal work list; empty between runs unless a run crashed, in which case the next run takes its claims over).';
COMMENT ON COLUMN reconcile_claims.platform   IS 'Platform of the claimed identity.';
COMMENT ON COLUMN reconcile_claims.channel_id IS 'Channel of the claimed identity.';
COMMENT ON COLUMN reconcile_claims.user_id    IS 'User id of the claimed identity.';
COMMENT ON COLUMN reconcile_claims.queued_at  IS 'When the identity was first queued (reconcile_queue.queued_at).';
COMMENT ON COLUMN reconcile_claims.claim_id   IS 'The claim of the run working on it (reconcile_claim_id_seq); a claim older than the running one was left by a run that did not finish.';
COMMENT ON COLUMN reconcile_claims.claimed_at IS 'When the current claim was taken.';

-- +goose Down
DROP TABLE reconcile_claims;
DROP SEQUENCE reconcile_claim_id_seq;
