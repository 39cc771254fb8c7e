-- Okeybot contacts deleted in Okeybot: the id crmsync stored for a record answered 403 or 404 (the
-- document lists no 404: a missing contact may answer its general 403) while the channel's token still
-- worked, so the contact was found again through the channel's lookup_field, or created, or left for the
-- next run, and the dead id was never used again.

-- +goose Up
CREATE TABLE okeybot_deleted_contacts (
    id          bigserial   PRIMARY KEY,
    contact_id  bigint      NOT NULL REFERENCES contacts (id),
    target_key  text        NOT NULL,
    deleted_id  text        NOT NULL,
    http_status integer     NOT NULL,
    resolution  text        NOT NULL CHECK (resolution IN ('relinked', 'created', 'forgotten')),
    new_id      text,
    detected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX okeybot_deleted_contacts_contact_idx ON okeybot_deleted_contacts (contact_id);
CREATE INDEX okeybot_deleted_contacts_detected_idx ON okeybot_deleted_contacts (detected_at);

COMMENT ON TABLE  okeybot_deleted_contacts IS 'One row per Okeybot contact found deleted in Okeybot: the Okeybot id crmsync stored for the record answered 403 or 404 (reading it too) while the channel token still answered a lookup. crmsync then found the person again by the channel''s lookup_field (relinked), created a new contact (created), or, when that failed, dropped the dead id so the next run finds or creates the contact (forgotten). The dead id is never used again.';
COMMENT ON COLUMN okeybot_deleted_contacts.id          IS 'Surrogate key.';
COMMENT ON COLUMN okeybot_deleted_contacts.contact_id  IS 'The master contact being pushed.';
COMMENT ON COLUMN okeybot_deleted_contacts.target_key  IS 'The Okeybot record whose id was dead ("<channel>/<contact id>", see push_state.target_key; the merged contact''s own record when a survivor took it over).';
COMMENT ON COLUMN okeybot_deleted_contacts.deleted_id  IS 'The Okeybot contact id that no longer exists.';
COMMENT ON COLUMN okeybot_deleted_contacts.http_status IS 'What Okeybot answered for it: 404, or 403 (its general error, which it may use for a missing contact).';
COMMENT ON COLUMN okeybot_deleted_contacts.resolution  IS 'relinked (found again by lookup_field: new_id), created (no match: a new contact, new_id), or forgotten (finding or creating failed this time; the next run does it).';
COMMENT ON COLUMN okeybot_deleted_contacts.new_id      IS 'The Okeybot id the record holds now; NULL when forgotten.';
COMMENT ON COLUMN okeybot_deleted_contacts.detected_at IS 'When the push found the id dead.';

-- +goose Down
DROP TABLE okeybot_deleted_contacts;
