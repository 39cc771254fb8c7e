-- A full reconcile build defers the rollups kept by triggers on master tables (issue 14 point 3).
--
-- The statement triggers of 00014 on contact_identities, contact_tags and contacts keep
-- tag_event_contact_weeks (→ tag_event_weeks) and contact_platforms (→ contact_platform_counts)
-- exact after every statement. A full build rewrites most of those tables, and those triggers about
-- doubled its cost. A transaction that sets crmsync.defer_rollups = on (SET LOCAL: reconcile's full
-- build does) makes them return at once: they still take the rollup's lock, as before, and remember
-- in crmsync.rollups_pending_tags / crmsync.rollups_pending_platforms (transaction-local settings)
-- that a statement changed rows. Before it commits, the transaction calls rollups_catch_up(), which
-- recomputes each rollup left pending from the master tables, set-based, and writes only the
-- differences (so a build that changed nothing writes nothing, and the triggers on the rollups
-- themselves, tag_event_weeks and contact_platform_counts, follow from those differences). The
-- triggers on raw tables (messages, tagging logs) are never deferred.

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION rollups_deferred() RETURNS boolean LANGUAGE sql STABLE
    RETURN COALESCE(current_setting('crmsync.defer_rollups', true), '') = 'on';
-- +goose StatementEnd
COMMENT ON FUNCTION rollups_deferred() IS 'True when this transaction defers the rollups on master tables (SET LOCAL crmsync.defer_rollups = on, as reconcile''s full build does); it must then call rollups_catch_up() before it commits.';

-- +goose StatementBegin
CREATE FUNCTION contact_platforms_catch_up() RETURNS bigint LANGUAGE plpgsql SET work_mem = '256MB' AS $$
DECLARE
    n bigint;
    m bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1668247158, -15);
    DELETE FROM contact_platforms p WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = p.contact_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO contact_platforms AS t (contact_id, platforms, identity_keys)
    SELECT f.contact_id, f.platforms, f.identity_keys
    FROM (SELECT c.id AS contact_id,
                 COALESCE(array_agg(DISTINCT i.platform ORDER BY i.platform) FILTER (WHERE i.platform IS NOT NULL), '{}') AS platforms,
                 COALESCE(array_agg(i.platform || '/' || i.channel_id || '/' || i.user_id ORDER BY i.platform || '/' || i.channel_id || '/' || i.user_id)
                          FILTER (WHERE i.platform IS NOT NULL), '{}') AS identity_keys
          FROM contacts c
          LEFT JOIN contact_identities i ON i.contact_id = c.id
          GROUP BY c.id) f
    LEFT JOIN contact_platforms p ON p.contact_id = f.contact_id
    WHERE (p.platforms, p.identity_keys) IS DISTINCT FROM (f.platforms, f.identity_keys)
    ON CONFLICT (contact_id) DO UPDATE SET platforms = excluded.platforms, identity_keys = excluded.identity_keys;
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION contact_platforms_catch_up() IS 'Recomputes contact_platforms from contacts and contact_identities and writes only the rows that differ (contact_platform_counts follows by its triggers); returns the rows written. Called by rollups_catch_up().';

-- +goose StatementBegin
CREATE FUNCTION tag_event_contact_weeks_catch_up() RETURNS bigint LANGUAGE plpgsql SET work_mem = '256MB' AS $$
DECLARE
    n bigint;
    m bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1668247158, -14);
    -- The differences between the counts as they should be and as stored, as signed deltas
    -- (contact_id 0 stands for NULL in the join: contact ids start at 1).
    DROP TABLE IF EXISTS pg_temp.tag_event_contact_weeks_diff;
    EXECUTE format($q$
        CREATE TEMP TABLE tag_event_contact_weeks_diff ON COMMIT DROP AS
        SELECT COALESCE(f.week, s.week) AS week, COALESCE(f.source, s.source) AS source,
               NULLIF(COALESCE(f.contact_key, s.contact_key), 0) AS contact_id,
               COALESCE(f.events, 0) - COALESCE(s.events, 0) AS events,
               COALESCE(f.current_events, 0) - COALESCE(s.current_events, 0) AS current_events,
               s.week IS NOT NULL AS stored
        FROM (SELECT (date_trunc('week', l.tagged_at AT TIME ZONE %L))::date AS week, l.source,
                     COALESCE(i.contact_id, 0) AS contact_key, count(*)::int AS events, count(ct.contact_id)::int AS current_events
              FROM omnichat_tagging_logs l
              LEFT JOIN contact_identities i ON i.platform = l.platform AND i.channel_id = l.channel_id AND i.user_id = l.user_id
              LEFT JOIN contact_tags ct ON ct.contact_id = i.contact_id AND ct.tag = l.tag
              GROUP BY 1, 2, 3) f
        FULL JOIN (SELECT week, source, COALESCE(contact_id, 0) AS contact_key, events, current_events
                   FROM tag_event_contact_weeks) s
               ON s.week = f.week AND s.source = f.source AND s.contact_key = f.contact_key
        WHERE (f.events, f.current_events) IS DISTINCT FROM (s.events, s.current_events)$q$,
        analytics_time_zone());
    -- New keys with a plain INSERT (cheaper than a speculative one); stored keys take their delta.
    INSERT INTO tag_event_contact_weeks (week, source, contact_id, events, current_events)
    SELECT week, source, contact_id, events, current_events FROM tag_event_contact_weeks_diff WHERE NOT stored;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO tag_event_contact_weeks AS t (week, source, contact_id, events, current_events)
    SELECT week, source, contact_id, events, current_events FROM tag_event_contact_weeks_diff WHERE stored
    ON CONFLICT (week, source, contact_id)
    DO UPDATE SET events = t.events + excluded.events, current_events = t.current_events + excluded.current_events;
    GET DIAGNOSTICS m = ROW_COUNT;
    IF m > 0 THEN
        DELETE FROM tag_event_contact_weeks WHERE events = 0;
    END IF;
    DROP TABLE tag_event_contact_weeks_diff;
    RETURN n + m;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION tag_event_contact_weeks_catch_up() IS 'Recounts tag_event_contact_weeks from the tagging logs, identities and tags and writes only the differences (tag_event_weeks follows by its triggers); returns the rows written. Called by rollups_catch_up().';

-- +goose StatementBegin
CREATE FUNCTION rollups_catch_up() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint := 0;
BEGIN
    IF COALESCE(current_setting('crmsync.rollups_pending_tags', true), '') = 'on' THEN
        n := n + tag_event_contact_weeks_catch_up();
        PERFORM set_config('crmsync.rollups_pending_tags', '', true);
    END IF;
    IF COALESCE(current_setting('crmsync.rollups_pending_platforms', true), '') = 'on' THEN
        n := n + contact_platforms_catch_up();
        PERFORM set_config('crmsync.rollups_pending_platforms', '', true);
    END IF;
    RETURN n;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION rollups_catch_up() IS 'Brings the rollups that deferred triggers left pending in this transaction (crmsync.defer_rollups) up to date, writing only differences; returns the rows written. A no-op when nothing is pending.';

-- The deferred branch of a trigger on a master table: take the rollup's lock as the trigger would,
-- and remember that the rollup is pending when the statement touched rows.
-- +goose StatementBegin
CREATE FUNCTION rollups_defer(rollup text, lock_key integer, touched boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1668247158, lock_key);
    IF touched THEN
        PERFORM set_config('crmsync.rollups_pending_' || rollup, 'on', true);
    END IF;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION rollups_defer(text, integer, boolean) IS 'What a deferred trigger on a master table does: takes the rollup''s lock and marks the rollup (tags or platforms) pending for rollups_catch_up() when its statement touched rows.';

-- The four trigger functions on master tables, as in 00014, with the deferred branch first.

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tag_events_identities_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved text;
BEGIN
    IF rollups_deferred() THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM rollups_defer('tags', -14, EXISTS (SELECT 1 FROM old_rows));
        ELSE
            PERFORM rollups_defer('tags', -14, EXISTS (SELECT 1 FROM new_rows));
        END IF;
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(1668247158, -14);
    moved := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT platform, channel_id, user_id, NULL::bigint AS before, contact_id AS after FROM new_rows WHERE contact_id IS NOT NULL'
        WHEN 'DELETE' THEN 'SELECT platform, channel_id, user_id, contact_id AS before, NULL::bigint AS after FROM old_rows WHERE contact_id IS NOT NULL'
        ELSE 'SELECT COALESCE(o.platform, n.platform) AS platform, COALESCE(o.channel_id, n.channel_id) AS channel_id,
                     COALESCE(o.user_id, n.user_id) AS user_id, o.contact_id AS before, n.contact_id AS after
              FROM old_rows o FULL JOIN new_rows n ON n.platform = o.platform AND n.channel_id = o.channel_id AND n.user_id = o.user_id
              WHERE o.contact_id IS DISTINCT FROM n.contact_id'
    END;
    EXECUTE tag_event_contact_weeks_upsert(format($s$
        SELECT l.tagged_at, l.source, x.contact_id, x.n AS events, x.n * (ct.contact_id IS NOT NULL)::int AS current_events
        FROM (%s) m
        JOIN omnichat_tagging_logs l ON l.platform = m.platform AND l.channel_id = m.channel_id AND l.user_id = m.user_id
        CROSS JOIN LATERAL (VALUES (m.before, -1), (m.after, 1)) AS x (contact_id, n)
        LEFT JOIN contact_tags ct ON ct.contact_id = x.contact_id AND ct.tag = l.tag$s$, moved));
    DELETE FROM tag_event_contact_weeks WHERE events = 0;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tag_events_tags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed text;
BEGIN
    IF rollups_deferred() THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM rollups_defer('tags', -14, EXISTS (SELECT 1 FROM old_rows));
        ELSE
            PERFORM rollups_defer('tags', -14, EXISTS (SELECT 1 FROM new_rows));
        END IF;
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(1668247158, -14);
    changed := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT contact_id, tag, 1 AS n FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT contact_id, tag, -1 AS n FROM old_rows'
        ELSE 'SELECT contact_id, tag, 1 AS n FROM new_rows UNION ALL SELECT contact_id, tag, -1 FROM old_rows'
    END;
    EXECUTE tag_event_contact_weeks_upsert(format($s$
        SELECT l.tagged_at, l.source, d.contact_id, 0 AS events, d.n AS current_events
        FROM (SELECT contact_id, tag, sum(n) AS n FROM (%s) c GROUP BY 1, 2 HAVING sum(n) <> 0) d
        JOIN contact_identities i ON i.contact_id = d.contact_id
        JOIN omnichat_tagging_logs l ON l.platform = i.platform AND l.channel_id = i.channel_id AND l.user_id = i.user_id
                                    AND l.tag = d.tag$s$, changed));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION contact_platforms_identities_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    IF rollups_deferred() THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM rollups_defer('platforms', -15, EXISTS (SELECT 1 FROM old_rows));
        ELSE
            PERFORM rollups_defer('platforms', -15, EXISTS (SELECT 1 FROM new_rows));
        END IF;
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(1668247158, -15);
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT contact_id) INTO ids FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT contact_id) INTO ids FROM old_rows;
    ELSE
        SELECT array_agg(DISTINCT x.contact_id) INTO ids
        FROM old_rows o FULL JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.contact_id), (n.contact_id)) AS x (contact_id)
        WHERE (o.contact_id, o.platform, o.channel_id, o.user_id) IS DISTINCT FROM (n.contact_id, n.platform, n.channel_id, n.user_id);
    END IF;
    PERFORM contact_platforms_refresh(ids);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION contact_platforms_contacts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM rollups_defer('platforms', -15, EXISTS (SELECT 1 FROM old_rows));
        ELSE
            PERFORM rollups_defer('platforms', -15, EXISTS (SELECT 1 FROM new_rows));
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO contact_platforms (contact_id, platforms, identity_keys) SELECT id, '{}', '{}' FROM new_rows ON CONFLICT (contact_id) DO NOTHING;
    ELSE
        DELETE FROM contact_platforms p USING old_rows o WHERE p.contact_id = o.id;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION contact_platforms_contacts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO contact_platforms (contact_id, platforms, identity_keys) SELECT id, '{}', '{}' FROM new_rows ON CONFLICT (contact_id) DO NOTHING;
    ELSE
        DELETE FROM contact_platforms p USING old_rows o WHERE p.contact_id = o.id;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION contact_platforms_identities_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    PERFORM pg_advisory_xact_lock(1668247158, -15);
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT contact_id) INTO ids FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT contact_id) INTO ids FROM old_rows;
    ELSE
        SELECT array_agg(DISTINCT x.contact_id) INTO ids
        FROM old_rows o FULL JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.contact_id), (n.contact_id)) AS x (contact_id)
        WHERE (o.contact_id, o.platform, o.channel_id, o.user_id) IS DISTINCT FROM (n.contact_id, n.platform, n.channel_id, n.user_id);
    END IF;
    PERFORM contact_platforms_refresh(ids);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tag_events_tags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed text;
BEGIN
    PERFORM pg_advisory_xact_lock(1668247158, -14);
    changed := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT contact_id, tag, 1 AS n FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT contact_id, tag, -1 AS n FROM old_rows'
        ELSE 'SELECT contact_id, tag, 1 AS n FROM new_rows UNION ALL SELECT contact_id, tag, -1 FROM old_rows'
    END;
    EXECUTE tag_event_contact_weeks_upsert(format($s$
        SELECT l.tagged_at, l.source, d.contact_id, 0 AS events, d.n AS current_events
        FROM (SELECT contact_id, tag, sum(n) AS n FROM (%s) c GROUP BY 1, 2 HAVING sum(n) <> 0) d
        JOIN contact_identities i ON i.contact_id = d.contact_id
        JOIN omnichat_tagging_logs l ON l.platform = i.platform AND l.channel_id = i.channel_id AND l.user_id = i.user_id
                                    AND l.tag = d.tag$s$, changed));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tag_events_identities_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved text;
BEGIN
    PERFORM pg_advisory_xact_lock(1668247158, -14);
    moved := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT platform, channel_id, user_id, NULL::bigint AS before, contact_id AS after FROM new_rows WHERE contact_id IS NOT NULL'
        WHEN 'DELETE' THEN 'SELECT platform, channel_id, user_id, contact_id AS before, NULL::bigint AS after FROM old_rows WHERE contact_id IS NOT NULL'
        ELSE 'SELECT COALESCE(o.platform, n.platform) AS platform, COALESCE(o.channel_id, n.channel_id) AS channel_id,
                     COALESCE(o.user_id, n.user_id) AS user_id, o.contact_id AS before, n.contact_id AS after
              FROM old_rows o FULL JOIN new_rows n ON n.platform = o.platform AND n.channel_id = o.channel_id AND n.user_id = o.user_id
              WHERE o.contact_id IS DISTINCT FROM n.contact_id'
    END;
    EXECUTE tag_event_contact_weeks_upsert(format($s$
        SELECT l.tagged_at, l.source, x.contact_id, x.n AS events, x.n * (ct.contact_id IS NOT NULL)::int AS current_events
        FROM (%s) m
        JOIN omnichat_tagging_logs l ON l.platform = m.platform AND l.channel_id = m.channel_id AND l.user_id = m.user_id
        CROSS JOIN LATERAL (VALUES (m.before, -1), (m.after, 1)) AS x (contact_id, n)
        LEFT JOIN contact_tags ct ON ct.contact_id = x.contact_id AND ct.tag = l.tag$s$, moved));
    DELETE FROM tag_event_contact_weeks WHERE events = 0;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP FUNCTION rollups_defer(text, integer, boolean);
DROP FUNCTION rollups_catch_up();
DROP FUNCTION tag_event_contact_weeks_catch_up();
DROP FUNCTION contact_platforms_catch_up();
DROP FUNCTION rollups_deferred();
