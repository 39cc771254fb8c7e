-- Push: what each destination (Oho, Okeybot) last confirmed for each of its records, what it refused,
-- and which version of each master record the push stage last finished with.
--
-- A destination record is addressed by a target key, unique per destination:
--   oho      "platform/platform_id/user_id", e.g. line/U4af4980629…/U1234… (platform_id = LINE bot userId,
--            or the Omnichat channel id for facebook and instagram pages);
--   okeybot  "<okeybot channel name>/<crmsync contact id>".
-- State is per target, not per contact: when contacts merge or split, the target (an identity) keeps its
-- row and the next push re-points contact_id at the contact that now owns the identity.

-- +goose Up
CREATE TABLE push_state (
    destination     text        NOT NULL CHECK (destination IN ('oho', 'okeybot')),
    target_key      text        NOT NULL,
    contact_id      bigint      NOT NULL REFERENCES contacts (id),
    identity_id     bigint      REFERENCES contact_identities (id),
    remote_id       text,
    payload         jsonb       NOT NULL,
    payload_hash    text        NOT NULL,
    adjustments     jsonb       NOT NULL DEFAULT '[]'::jsonb,
    first_pushed_at timestamptz NOT NULL,
    pushed_at       timestamptz NOT NULL,
    run_id          bigint      REFERENCES sync_runs (id) ON DELETE SET NULL,
    PRIMARY KEY (destination, target_key)
);
CREATE INDEX push_state_contact_idx ON push_state (contact_id, destination);

COMMENT ON TABLE  push_state IS 'One row per destination record crmsync has written: the last payload the destination confirmed (2xx), so the next push sends nothing when the desired payload is unchanged and only the changed fields otherwise. Written only after the destination confirmed the request.';
COMMENT ON COLUMN push_state.destination     IS 'oho or okeybot.';
COMMENT ON COLUMN push_state.target_key      IS 'The destination''s key for the record: Oho "platform/platform_id/user_id"; Okeybot "<channel name>/<crmsync contact id>".';
COMMENT ON COLUMN push_state.contact_id      IS 'The master contact whose data was pushed. When contacts merge or split, the next push re-points it at the contact that owns the identity now; until then it may name a merged tombstone (contacts.merged_into).';
COMMENT ON COLUMN push_state.identity_id     IS 'For Oho, the identity (contact_identities.id) the record is keyed by; NULL for records not tied to one identity.';
COMMENT ON COLUMN push_state.remote_id       IS 'The destination''s own id of the record when it has one (Okeybot contact id); NULL for Oho, whose key is target_key.';
COMMENT ON COLUMN push_state.payload         IS 'The last payload the destination confirmed, as crmsync built it (Oho: the full contact body; Okeybot: custom fields and tags).';
COMMENT ON COLUMN push_state.payload_hash    IS 'SHA-256 (hex) of the canonical JSON of payload; equal to the desired payload''s hash means nothing to send.';
COMMENT ON COLUMN push_state.adjustments     IS 'What mapping changed to make the confirmed payload fit (JSON array of {field, kind, before, after, reason}; kind: truncated, dropped, normalised, defaulted). See v_push_adjustments.';
COMMENT ON COLUMN push_state.first_pushed_at IS 'When crmsync first wrote the record (create, or the first update of a record that already existed).';
COMMENT ON COLUMN push_state.pushed_at       IS 'When the destination last confirmed a write (or, for a change nothing could send, when the new payload was recorded).';
COMMENT ON COLUMN push_state.run_id          IS 'The sync_runs row of the push that last wrote the row; NULL for a one-off command.';

CREATE TABLE push_rejections (
    id           bigserial   PRIMARY KEY,
    destination  text        NOT NULL CHECK (destination IN ('oho', 'okeybot')),
    contact_id   bigint      NOT NULL REFERENCES contacts (id),
    target_key   text        NOT NULL,
    field        text,
    value        text,
    reason       text        NOT NULL,
    http_status  integer,
    payload_hash text        NOT NULL,
    run_id       bigint      REFERENCES sync_runs (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    times_seen   integer     NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX push_rejections_key ON push_rejections (destination, target_key, payload_hash, COALESCE(field, ''), reason);
CREATE INDEX push_rejections_contact_idx ON push_rejections (contact_id, destination, created_at DESC);
CREATE INDEX push_rejections_created_idx ON push_rejections (created_at);

COMMENT ON TABLE  push_rejections IS 'Records crmsync could not push, with why: refused by the destination (http_status set, reason = the API''s message), refused by mapping (a value that cannot be made valid), or impossible to address (e.g. no LINE token for the channel). The run went on. A refused payload is not sent again until its payload_hash changes; the same refusal met again updates last_seen_at instead of adding a row.';
COMMENT ON COLUMN push_rejections.id           IS 'Surrogate key.';
COMMENT ON COLUMN push_rejections.destination  IS 'oho or okeybot.';
COMMENT ON COLUMN push_rejections.contact_id   IS 'The master contact.';
COMMENT ON COLUMN push_rejections.target_key   IS 'The destination record (see push_state.target_key); when the destination key cannot be known (no LINE token), the identity as "platform/omnichat channel id/user id".';
COMMENT ON COLUMN push_rejections.field        IS 'The destination field at fault, as the vendor spells it (e.g. first_name, attributes[Tier].value.text); NULL when the whole record was refused without naming one.';
COMMENT ON COLUMN push_rejections.value        IS 'The offending value, cut to 500 characters; NULL when there is none.';
COMMENT ON COLUMN push_rejections.reason       IS 'Why: the destination''s error message (e.g. "Bad request"), mapping''s reason, or a setup problem (e.g. "no LINE token for channel 1656…").';
COMMENT ON COLUMN push_rejections.http_status  IS 'HTTP status of the refusal (400, 404, 409, …); NULL when no request was sent.';
COMMENT ON COLUMN push_rejections.payload_hash IS 'SHA-256 of the refused payload''s canonical JSON; for a refusal before any request, of mapping''s input (contact, identity and target). The payload is not retried until this changes.';
COMMENT ON COLUMN push_rejections.run_id       IS 'The sync_runs row of the push that first met the refusal; NULL for a one-off command.';
COMMENT ON COLUMN push_rejections.created_at   IS 'When the refusal was first recorded.';
COMMENT ON COLUMN push_rejections.last_seen_at IS 'When the same refusal was last met.';
COMMENT ON COLUMN push_rejections.times_seen   IS 'How many pushes met the same refusal (same target, payload, field and reason).';

CREATE TABLE push_contacts (
    destination        text        NOT NULL CHECK (destination IN ('oho', 'okeybot')),
    contact_id         bigint      NOT NULL REFERENCES contacts (id),
    contact_updated_at timestamptz NOT NULL,
    config_hash        text        NOT NULL,
    outcome            text        NOT NULL CHECK (outcome IN ('pushed', 'unchanged', 'rejected', 'no_target')),
    targets            integer     NOT NULL DEFAULT 0,
    checked_at         timestamptz NOT NULL,
    run_id             bigint      REFERENCES sync_runs (id) ON DELETE SET NULL,
    PRIMARY KEY (destination, contact_id)
);

COMMENT ON TABLE  push_contacts IS 'Incremental push progress: one row per contact and destination, naming the version of the master record (contacts.updated_at) the push stage last finished with. A contact is pushed again when its master record changed since, when the settings that shape payloads changed (config_hash), or when its check is older than the recheck period (time-based facts). A contact with a target that failed for a transient reason (5xx, timeout) keeps its old row, so the next run retries it.';
COMMENT ON COLUMN push_contacts.destination        IS 'oho or okeybot.';
COMMENT ON COLUMN push_contacts.contact_id         IS 'The master contact (merged tombstones keep their last row).';
COMMENT ON COLUMN push_contacts.contact_updated_at IS 'contacts.updated_at of the version the push finished with.';
COMMENT ON COLUMN push_contacts.config_hash        IS 'Fingerprint of the settings that shape the payloads (mapping rules, configured channels); a different value makes every contact be examined again.';
COMMENT ON COLUMN push_contacts.outcome            IS 'pushed (at least one write confirmed), unchanged (nothing to send), rejected (at least one target refused, see push_rejections) or no_target (no identity the destination serves).';
COMMENT ON COLUMN push_contacts.targets            IS 'Number of destination records the contact maps to.';
COMMENT ON COLUMN push_contacts.checked_at         IS 'When the push finished with the contact.';
COMMENT ON COLUMN push_contacts.run_id             IS 'The sync_runs row of that push; NULL for a one-off command.';

CREATE VIEW v_push_status AS
SELECT c.id AS contact_id,
       d.destination,
       CASE
           WHEN c.excluded_from_push THEN 'excluded'
           WHEN pc.contact_id IS NULL THEN 'never_checked'
           WHEN pc.contact_updated_at < c.updated_at THEN 'pending'
           ELSE pc.outcome
       END AS state,
       COALESCE(ps.targets, 0) AS pushed_targets,
       ps.first_pushed_at,
       ps.last_pushed_at,
       pc.checked_at,
       r.created_at AS last_rejected_at,
       r.field AS last_rejection_field,
       r.reason AS last_rejection_reason,
       r.http_status AS last_rejection_status
FROM contacts c
CROSS JOIN (VALUES ('oho'), ('okeybot')) AS d (destination)
LEFT JOIN push_contacts pc ON pc.destination = d.destination AND pc.contact_id = c.id
LEFT JOIN LATERAL (
    SELECT count(*) AS targets, min(s.first_pushed_at) AS first_pushed_at, max(s.pushed_at) AS last_pushed_at
    FROM push_state s
    WHERE s.destination = d.destination AND s.contact_id = c.id
) ps ON true
LEFT JOIN LATERAL (
    SELECT x.created_at, x.field, x.reason, x.http_status
    FROM push_rejections x
    WHERE x.destination = d.destination AND x.contact_id = c.id
    ORDER BY x.last_seen_at DESC, x.id DESC
    LIMIT 1
) r ON true
WHERE c.merged_into IS NULL;

COMMENT ON VIEW   v_push_status IS 'Push status per live contact and destination: whether it is up to date, what was pushed and when, and the last refusal. Filter by destination; contacts never examined for a destination that is not configured show never_checked.';
COMMENT ON COLUMN v_push_status.contact_id            IS 'The master contact (contacts.id).';
COMMENT ON COLUMN v_push_status.destination           IS 'oho or okeybot.';
COMMENT ON COLUMN v_push_status.state                 IS 'excluded (contact_overrides exclude_from_push), never_checked, pending (changed since the last push), or the outcome of the last push: pushed, unchanged, rejected, no_target.';
COMMENT ON COLUMN v_push_status.pushed_targets        IS 'Destination records holding the contact''s data (push_state rows).';
COMMENT ON COLUMN v_push_status.first_pushed_at       IS 'When the first of them was first written.';
COMMENT ON COLUMN v_push_status.last_pushed_at        IS 'When the destination last confirmed a write for the contact.';
COMMENT ON COLUMN v_push_status.checked_at            IS 'When the push stage last finished with the contact.';
COMMENT ON COLUMN v_push_status.last_rejected_at      IS 'When the contact''s most recently met refusal was first recorded; NULL when none.';
COMMENT ON COLUMN v_push_status.last_rejection_field  IS 'Field of that refusal.';
COMMENT ON COLUMN v_push_status.last_rejection_reason IS 'Reason of that refusal.';
COMMENT ON COLUMN v_push_status.last_rejection_status IS 'HTTP status of that refusal; NULL when no request was sent.';

CREATE VIEW v_push_adjustments AS
SELECT s.destination,
       s.target_key,
       s.contact_id,
       a.value ->> 'field'  AS field,
       a.value ->> 'kind'   AS kind,
       a.value ->> 'before' AS before,
       a.value ->> 'after'  AS after,
       a.value ->> 'reason' AS reason,
       s.pushed_at
FROM push_state s
CROSS JOIN LATERAL jsonb_array_elements(s.adjustments) AS a (value);

COMMENT ON VIEW   v_push_adjustments IS 'One row per change mapping made to a value of a payload now held by a destination (push_state.adjustments): cuts, drops, rewrites and defaults, with why.';
COMMENT ON COLUMN v_push_adjustments.destination IS 'oho or okeybot.';
COMMENT ON COLUMN v_push_adjustments.target_key  IS 'The destination record (push_state.target_key).';
COMMENT ON COLUMN v_push_adjustments.contact_id  IS 'The master contact.';
COMMENT ON COLUMN v_push_adjustments.field       IS 'Destination field, e.g. first_name, tags[VIP], attributes[Tier].value.text.';
COMMENT ON COLUMN v_push_adjustments.kind        IS 'truncated, dropped, normalised or defaulted.';
COMMENT ON COLUMN v_push_adjustments.before      IS 'The value before mapping changed it.';
COMMENT ON COLUMN v_push_adjustments.after       IS 'The value sent ("" when dropped).';
COMMENT ON COLUMN v_push_adjustments.reason      IS 'Why, in a short sentence.';
COMMENT ON COLUMN v_push_adjustments.pushed_at   IS 'When the payload holding the change was confirmed.';

CREATE VIEW v_push_reasons AS
SELECT destination, 'adjustment' AS what, kind, reason, count(DISTINCT contact_id) AS contacts, count(*) AS occurrences
FROM v_push_adjustments
GROUP BY destination, kind, reason
UNION ALL
SELECT destination, 'rejection', CASE WHEN http_status IS NULL THEN 'rejected' ELSE 'refused_by_api' END,
       reason, count(DISTINCT contact_id), count(*)
FROM push_rejections
GROUP BY destination, 2, 3, reason;

COMMENT ON VIEW   v_push_reasons IS 'Adjustments (in payloads now held by destinations) and rejections (all recorded), counted by reason: the push summary.';
COMMENT ON COLUMN v_push_reasons.destination IS 'oho or okeybot.';
COMMENT ON COLUMN v_push_reasons.what        IS 'adjustment or rejection.';
COMMENT ON COLUMN v_push_reasons.kind        IS 'For adjustments the change kind (truncated, dropped, normalised, defaulted); for rejections rejected (by crmsync, no request sent) or refused_by_api.';
COMMENT ON COLUMN v_push_reasons.reason      IS 'The reason text.';
COMMENT ON COLUMN v_push_reasons.contacts    IS 'Distinct contacts concerned.';
COMMENT ON COLUMN v_push_reasons.occurrences IS 'Adjustments, or distinct rejections recorded.';

-- +goose Down
DROP VIEW v_push_reasons;
DROP VIEW v_push_adjustments;
DROP VIEW v_push_status;
DROP TABLE push_contacts;
DROP TABLE push_rejections;
DROP TABLE push_state;
