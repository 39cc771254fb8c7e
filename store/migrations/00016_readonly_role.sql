-- A role for analysts that can read every table and view and write nothing: crmsync_readonly
-- (NOLOGIN). Give it to a login role with `GRANT crmsync_readonly TO <user>;` (docs/analysts.md).
--
-- Roles belong to the whole cluster, not to this database: the role is created only when it does not
-- exist yet (another database on the cluster, or an administrator, may have created it), and a
-- migrating role without CREATEROLE gets a clear error naming the one statement an administrator must
-- run first; the migration then applies as usual (docs/decisions.md, "A read-only role for analysts").
--
-- The grants are this database's: SELECT on every table and view of the schema crmsync migrates, and
-- default privileges so that every table and view the migrating role creates later (new migrations)
-- is readable too. Nothing else: no INSERT, UPDATE, DELETE, TRUNCATE, no CREATE on the schema.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmsync_readonly') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolcreaterole OR rolsuper)) THEN
            RAISE EXCEPTION 'role crmsync_readonly does not exist, and % may not create it (no CREATEROLE)', current_user
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Have an administrator run CREATE ROLE crmsync_readonly NOLOGIN; once (roles are cluster-wide), then run crmsync migrate again.';
        END IF;
        BEGIN
            CREATE ROLE crmsync_readonly NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- another database's migration created it at the same moment
        END;
        COMMENT ON ROLE crmsync_readonly IS 'crmsync: read-only access for analysts (SELECT on every table and view; GRANT crmsync_readonly TO <user>).';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO crmsync_readonly', current_schema());
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO crmsync_readonly', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO crmsync_readonly', current_schema());
END
$$;
-- +goose StatementEnd

-- +goose Down
-- The role stays: it is the cluster's, other databases may grant it, and users are its members.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmsync_readonly') THEN
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE SELECT ON TABLES FROM crmsync_readonly', current_schema());
        EXECUTE format('REVOKE SELECT ON ALL TABLES IN SCHEMA %I FROM crmsync_readonly', current_schema());
        EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM crmsync_readonly', current_schema());
    END IF;
END
$$;
-- +goose StatementEnd
