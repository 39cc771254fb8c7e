-- Push conflicts: a field of a destination record that a person edited there (its value differs from
-- what crmsync last pushed) while crmsync's own value changed too. mapping.<destination>.on_conflict
-- decides who wins; every such meeting is recorded here, whoever won.

-- +goose Up
CREATE TABLE push_conflicts (
    id                bigserial   PRIMARY KEY,
    destination       text        NOT NULL CHECK (destination IN ('oho', 'okeybot')),
    contact_id        bigint      NOT NULL REFERENCES contacts (id),
    target_key        text        NOT NULL,
    field             text        NOT NULL,
    destination_value text,
    crmsync_value     text,
    last_pushed_value text,
    resolution        text        NOT NULL CHECK (resolution IN ('kept_destination', 'overwrote_destination')),
    rule              text        NOT NULL CHECK (rule IN ('source', 'destination')),
    run_id            bigint      REFERENCES sync_runs (id) ON DELETE SET NULL,
    detected_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at      timestamptz NOT NULL DEFAULT now(),
    times_seen        integer     NOT NULL DEFAULT 1
);
-- The same conflict met again (same record, field and both values) counts instead of adding a row.
CREATE UNIQUE INDEX push_conflicts_key ON push_conflicts
    (destination, target_key, field, md5(COALESCE(destination_value, '')), md5(COALESCE(crmsync_value, '')));
CREATE INDEX push_conflicts_contact_idx ON push_conflicts (contact_id, destination);
CREATE INDEX push_conflicts_detected_idx ON push_conflicts (detected_at);

COMMENT ON TABLE  push_conflicts IS 'One row per conflict met while pushing: a field of a destination record edited there by a person (its value differs from what crmsync last pushed) while crmsync''s own value for it changed too. The configured rule (mapping.oho.on_conflict, used for Okeybot too) decided who won. A field edited at the destination whose crmsync value did not change is never overwritten and is not a conflict.';
COMMENT ON COLUMN push_conflicts.id                IS 'Surrogate key.';
COMMENT ON COLUMN push_conflicts.destination       IS 'oho or okeybot.';
COMMENT ON COLUMN push_conflicts.contact_id        IS 'The master contact.';
COMMENT ON COLUMN push_conflicts.target_key        IS 'The destination record (see push_state.target_key).';
COMMENT ON COLUMN push_conflicts.field             IS 'The destination field, as the vendor spells it (e.g. first_name, email; Okeybot: the custom field name).';
COMMENT ON COLUMN push_conflicts.destination_value IS 'The value found at the destination (what a person set there), cut to 500 characters; NULL when empty.';
COMMENT ON COLUMN push_conflicts.crmsync_value     IS 'The value crmsync wanted to send, cut to 500 characters; NULL when empty.';
COMMENT ON COLUMN push_conflicts.last_pushed_value IS 'The value crmsync last pushed for the field, cut to 500 characters; NULL when empty or never pushed.';
COMMENT ON COLUMN push_conflicts.resolution        IS 'What was done: kept_destination (the person''s edit stays) or overwrote_destination (crmsync''s value was sent).';
COMMENT ON COLUMN push_conflicts.rule              IS 'The on_conflict setting that decided: source (crmsync wins) or destination (the destination''s edit wins).';
COMMENT ON COLUMN push_conflicts.run_id            IS 'The sync_runs row of the push that first met the conflict; NULL for a one-off command.';
COMMENT ON COLUMN push_conflicts.detected_at       IS 'When the conflict was first met.';
COMMENT ON COLUMN push_conflicts.last_seen_at      IS 'When the same conflict (same record, field and values) was last met.';
COMMENT ON COLUMN push_conflicts.times_seen        IS 'How many pushes met the same conflict.';

CREATE VIEW v_push_conflicts AS
SELECT x.id,
       x.destination,
       x.contact_id,
       c.name,
       x.target_key,
       x.field,
       x.destination_value,
       x.crmsync_value,
       x.last_pushed_value,
       x.resolution,
       x.rule,
       x.detected_at,
       x.last_seen_at,
       x.times_seen
FROM push_conflicts x
JOIN contacts c ON c.id = x.contact_id;

COMMENT ON VIEW   v_push_conflicts IS 'Conflicts met while pushing (push_conflicts) with the contact''s name: who edited what at the destination, what crmsync wanted, and who won.';
COMMENT ON COLUMN v_push_conflicts.id                IS 'push_conflicts.id.';
COMMENT ON COLUMN v_push_conflicts.destination       IS 'oho or okeybot.';
COMMENT ON COLUMN v_push_conflicts.contact_id        IS 'The master contact.';
COMMENT ON COLUMN v_push_conflicts.name              IS 'The contact''s name (contacts.name).';
COMMENT ON COLUMN v_push_conflicts.target_key        IS 'The destination record.';
COMMENT ON COLUMN v_push_conflicts.field             IS 'The destination field.';
COMMENT ON COLUMN v_push_conflicts.destination_value IS 'The value found at the destination.';
COMMENT ON COLUMN v_push_conflicts.crmsync_value     IS 'The value crmsync wanted to send.';
COMMENT ON COLUMN v_push_conflicts.last_pushed_value IS 'The value crmsync last pushed.';
COMMENT ON COLUMN v_push_conflicts.resolution        IS 'kept_destination or overwrote_destination.';
COMMENT ON COLUMN v_push_conflicts.rule              IS 'source or destination (the on_conflict setting).';
COMMENT ON COLUMN v_push_conflicts.detected_at       IS 'When first met.';
COMMENT ON COLUMN v_push_conflicts.last_seen_at      IS 'When last met.';
COMMENT ON COLUMN v_push_conflicts.times_seen        IS 'How many pushes met it.';

-- +goose Down
DROP VIEW v_push_conflicts;
DROP TABLE push_conflicts;
