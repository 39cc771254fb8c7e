-- conversations_refresh() (00019) joins the conversation it carries forward by key only.
--
-- Its UPDATE of the conversations holding each room's touched time matched them with
-- `v.opening_message_id = ANY (r_h_id) AND v.opening_message_id = h.h_id`. The planner put both
-- conditions in the index scan that runs once per touched room, and PostgreSQL 15 sorts and
-- de-duplicates the array of every touched room's key on each of those scans: one statement
-- writing messages to n rooms cost n sorts of n keys. At 1,000,000 identities, 10,000 messages
-- written to 10,000 rooms in one INSERT spent 77 s in that UPDATE (auto_explain); a pull page
-- (at most 100 messages) paid little, but a backfill or a bulk load in SQL paid the square. The
-- equality alone gives the same rows: h holds one row per room, r_h_id is its h_id column.
--
-- Only that condition changes, so the function is rewritten from its stored definition
-- (pg_get_functiondef) with the condition taken out, rather than copied here whole; the migration
-- fails if the definition no longer holds the condition exactly once. Down puts it back.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    def  text := pg_get_functiondef('conversations_refresh(text[], text[], text[], timestamptz[])'::regprocedure);
    cond text := 'AND v.opening_message_id = ANY (r_h_id) AND v.opening_message_id = h.h_id';
BEGIN
    IF (length(def) - length(replace(def, cond, ''))) / length(cond) <> 1 THEN
        RAISE EXCEPTION 'conversations_refresh: expected the condition % once, as migration 00019 wrote it', cond;
    END IF;
    EXECUTE replace(def, cond, 'AND v.opening_message_id = h.h_id');
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    def  text := pg_get_functiondef('conversations_refresh(text[], text[], text[], timestamptz[])'::regprocedure);
    cond text := 'AND v.opening_message_id = h.h_id';
BEGIN
    IF (length(def) - length(replace(def, cond, ''))) / length(cond) <> 1 THEN
        RAISE EXCEPTION 'conversations_refresh: expected the condition % once, as migration 00024 left it', cond;
    END IF;
    EXECUTE replace(def, cond, 'AND v.opening_message_id = ANY (r_h_id) AND v.opening_message_id = h.h_id');
END
$$;
-- +goose StatementEnd
