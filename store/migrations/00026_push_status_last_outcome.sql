-- v_push_status gains last_outcome: the outcome of the contact's last push (push_contacts.outcome),
-- which state hides while the contact is pending or excluded. The view already joins push_contacts
-- for state; an analyst asking "why was this person never pushed" used to join it a second time
-- (docs/analysts.md, example 21), a second hash join over every live contact. The other columns
-- and their meaning are unchanged; CREATE OR REPLACE keeps the view's grants and comments.

-- +goose Up
CREATE OR REPLACE VIEW v_push_status AS
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
       r.http_status AS last_rejection_status,
       pc.outcome AS last_outcome
FROM contacts c
CROSS JOIN (VALUES ('oho'), ('okeybot')) AS d (destination)
LEFT JOIN push_contacts pc ON pc.destination = d.destination AND pc.contact_id = c.id
LEFT JOIN (SELECT s.destination, s.contact_id, count(*) AS targets, min(s.first_pushed_at) AS first_pushed_at, max(s.pushed_at) AS last_pushed_at
           FROM push_state s GROUP BY s.destination, s.contact_id) ps ON ps.destination = d.destination AND ps.contact_id = c.id
LEFT JOIN (SELECT DISTINCT ON (x.destination, x.contact_id) x.destination, x.contact_id, x.created_at, x.field, x.reason, x.http_status
           FROM push_rejections x ORDER BY x.destination, x.contact_id, x.last_seen_at DESC, x.id DESC) r
       ON r.destination = d.destination AND r.contact_id = c.id
WHERE c.merged_into IS NULL;
COMMENT ON COLUMN v_push_status.last_outcome IS 'Outcome of the last push that finished with the contact (push_contacts.outcome: pushed, unchanged, rejected, no_target), whatever state says now; NULL when never checked.';

-- +goose Down
-- A view cannot lose a column in place: drop it and put back the definition of 00014, its
-- comments (00004) and the analysts' grant (00016).
DROP VIEW v_push_status;
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
LEFT JOIN (SELECT s.destination, s.contact_id, count(*) AS targets, min(s.first_pushed_at) AS first_pushed_at, max(s.pushed_at) AS last_pushed_at
           FROM push_state s GROUP BY s.destination, s.contact_id) ps ON ps.destination = d.destination AND ps.contact_id = c.id
LEFT JOIN (SELECT DISTINCT ON (x.destination, x.contact_id) x.destination, x.contact_id, x.created_at, x.field, x.reason, x.http_status
           FROM push_rejections x ORDER BY x.destination, x.contact_id, x.last_seen_at DESC, x.id DESC) r
       ON r.destination = d.destination AND r.contact_id = c.id
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

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmsync_readonly') THEN
        GRANT SELECT ON v_push_status TO crmsync_readonly;
    END IF;
END
$$;
-- +goose StatementEnd
