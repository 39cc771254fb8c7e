-- A contact whose only change since the last run is that messages crossed a 7- or 30-day boundary
-- (the run's clock moved; nothing of the contact was queued) has the same fields, attributes and
-- tags as stored: only its chat-history facts move. An incremental reconcile recomputes those
-- contacts' facts alone and their content_hash from the stored record, which needs the one part of
-- the hash the stored record did not keep: the md5 of the identities' raw profiles. Kept here, it is
-- written with every record written from now on; rows written before this migration keep NULL and
-- take the whole recomputation once, the next time they change (docs/benchmarks-reconcile.md,
-- "Sixth round"). Adding a nullable column rewrites nothing.

-- +goose Up
ALTER TABLE contacts ADD COLUMN identities_hash text;
COMMENT ON COLUMN contacts.identities_hash IS 'md5 of the identities'' raw profiles (part of content_hash), so that a run in which only the 7- and 30-day message counts moved recomputes the facts alone. NULL for a record not written since migration 00025 and for tombstones.';

-- +goose Down
ALTER TABLE contacts DROP COLUMN identities_hash;
