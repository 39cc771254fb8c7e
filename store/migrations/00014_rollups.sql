-- Rollups for analysts (issue 14 point 1): the documented questions answer at once at 1,000,000
-- identities. Each rollup is kept by statement-level triggers (transition tables) on the tables it
-- summarises, so it is exact whatever writes them: the pull's upserts, reconcile, a benchmark's plain
-- SQL, a hand-written fix. Every change is applied as a signed delta (+ for rows a statement added, -
-- for rows it removed), so re-applying the same page adds nothing, and an UPDATE that changes no
-- summarised column changes nothing.
--
--   message_day_customers → message_days       (v_daily_messages)
--   tag_event_contact_weeks → tag_event_weeks  (v_tag_event_weeks)
--   contact_platforms                          (v_contact_360.platforms, GIN-indexed, and identity_keys)
--   contact_platform_counts                    (v_platform_combinations)
--
-- Days and weeks are those of conversation_settings.time_zone (the jobs.yaml timezone, default UTC),
-- as for the weekly response-time rollups of 00010; a change of zone rebuilds them.

-- +goose Up

-- The zone the rollups count days and weeks in.
CREATE FUNCTION analytics_time_zone() RETURNS text LANGUAGE sql STABLE
    RETURN COALESCE((SELECT time_zone FROM conversation_settings WHERE id = 1), 'UTC');
COMMENT ON FUNCTION analytics_time_zone() IS 'The zone message_days and tag_event_weeks count days and weeks in: conversation_settings.time_zone, UTC when no row.';

---------------------------------------------------------------------------------------------------
-- Messages per day, channel and sender type.

CREATE TABLE message_day_customers (
    day              date    NOT NULL,
    platform         text    NOT NULL,
    channel_id       text    NOT NULL,
    sender_type      text    NOT NULL,
    customer_user_id text    NOT NULL,
    messages         integer NOT NULL,
    PRIMARY KEY (day, platform, channel_id, sender_type, customer_user_id)
);
CREATE INDEX message_day_customers_empty_idx ON message_day_customers (day) WHERE messages = 0;

COMMENT ON TABLE  message_day_customers IS 'Rollup of omnichat_messages: messages per day (in analytics_time_zone()), channel, sender type and customer; one row per customer that had messages, so message_days can count customers exactly. Kept by triggers on omnichat_messages.';
COMMENT ON COLUMN message_day_customers.day              IS 'Calendar day of sent_at in analytics_time_zone() (conversation_settings.time_zone).';
COMMENT ON COLUMN message_day_customers.platform         IS 'Platform of the channel.';
COMMENT ON COLUMN message_day_customers.channel_id       IS 'Omnichat channel id.';
COMMENT ON COLUMN message_day_customers.sender_type      IS 'customer, agent, bot or ai-chat.';
COMMENT ON COLUMN message_day_customers.customer_user_id IS 'The customer of the conversation (omnichat_messages.customer_user_id).';
COMMENT ON COLUMN message_day_customers.messages         IS 'Messages of that day, channel, sender type and customer (always > 0 once a statement ends).';

CREATE TABLE message_days (
    day         date   NOT NULL,
    platform    text   NOT NULL,
    channel_id  text   NOT NULL,
    sender_type text   NOT NULL,
    messages    bigint NOT NULL,
    customers   bigint NOT NULL,
    PRIMARY KEY (day, platform, channel_id, sender_type)
);
CREATE INDEX message_days_empty_idx ON message_days (day) WHERE customers = 0;

COMMENT ON TABLE  message_days IS 'Rollup of omnichat_messages: messages and distinct customers per day (in analytics_time_zone()), channel and sender type; exact, kept by triggers (from message_day_customers). v_daily_messages reads it when the session time zone is analytics_time_zone().';
COMMENT ON COLUMN message_days.day         IS 'Calendar day of sent_at in analytics_time_zone() (conversation_settings.time_zone).';
COMMENT ON COLUMN message_days.platform    IS 'Platform of the channel.';
COMMENT ON COLUMN message_days.channel_id  IS 'Omnichat channel id.';
COMMENT ON COLUMN message_days.sender_type IS 'customer, agent, bot or ai-chat.';
COMMENT ON COLUMN message_days.messages    IS 'Messages sent that day.';
COMMENT ON COLUMN message_days.customers   IS 'Distinct customers (identities on the channel) whose conversations had messages that day.';

-- Rows of omnichat_messages a statement added (+1) and removed (-1) → message_day_customers.
-- +goose StatementBegin
CREATE FUNCTION message_day_customers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cols constant text := 'sent_at, platform, channel_id, sender_type, customer_user_id';
    src  text;
BEGIN
    src := CASE TG_OP
        WHEN 'INSERT' THEN format('SELECT %s, 1 AS n FROM new_rows', cols)
        WHEN 'DELETE' THEN format('SELECT %s, -1 AS n FROM old_rows', cols)
        ELSE format('SELECT %s, 1 AS n FROM new_rows UNION ALL SELECT %s, -1 FROM old_rows', cols, cols)
    END;
    EXECUTE format($q$
        INSERT INTO message_day_customers AS t (day, platform, channel_id, sender_type, customer_user_id, messages)
        SELECT (sent_at AT TIME ZONE %L)::date, platform, channel_id, sender_type, customer_user_id, sum(n)
        FROM (%s) s
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(n) <> 0
        ON CONFLICT (day, platform, channel_id, sender_type, customer_user_id)
        DO UPDATE SET messages = t.messages + excluded.messages$q$, analytics_time_zone(), src);
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM message_day_customers WHERE messages = 0;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Rows of message_day_customers a statement added and removed → message_days.
-- +goose StatementBegin
CREATE FUNCTION message_days_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cols constant text := 'day, platform, channel_id, sender_type';
    src  text;
BEGIN
    src := CASE TG_OP
        WHEN 'INSERT' THEN format('SELECT %s, messages, 1 AS customers FROM new_rows', cols)
        WHEN 'DELETE' THEN format('SELECT %s, -messages AS messages, -1 AS customers FROM old_rows', cols)
        ELSE format('SELECT %s, messages, 1 AS customers FROM new_rows UNION ALL SELECT %s, -messages, -1 FROM old_rows', cols, cols)
    END;
    EXECUTE format($q$
        INSERT INTO message_days AS t (day, platform, channel_id, sender_type, messages, customers)
        SELECT day, platform, channel_id, sender_type, sum(messages), sum(customers)
        FROM (%s) s
        GROUP BY 1, 2, 3, 4
        HAVING sum(messages) <> 0 OR sum(customers) <> 0
        ON CONFLICT (day, platform, channel_id, sender_type)
        DO UPDATE SET messages = t.messages + excluded.messages, customers = t.customers + excluded.customers$q$, src);
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM message_days WHERE customers = 0;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION message_days_rebuild() RETURNS bigint LANGUAGE plpgsql SET work_mem = '256MB' AS $$
DECLARE
    n bigint;
BEGIN
    TRUNCATE message_day_customers, message_days;
    INSERT INTO message_day_customers (day, platform, channel_id, sender_type, customer_user_id, messages)
    SELECT (sent_at AT TIME ZONE analytics_time_zone())::date, platform, channel_id, sender_type, customer_user_id, count(*)
    FROM omnichat_messages
    GROUP BY 1, 2, 3, 4, 5;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION message_days_rebuild() IS 'Recounts message_day_customers and message_days from omnichat_messages (on a change of conversation_settings.time_zone, or a TRUNCATE).';

-- +goose StatementBegin
CREATE FUNCTION message_days_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE message_day_customers, message_days;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER message_days_on_insert AFTER INSERT ON omnichat_messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION message_day_customers_changed();
CREATE TRIGGER message_days_on_update AFTER UPDATE ON omnichat_messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION message_day_customers_changed();
CREATE TRIGGER message_days_on_delete AFTER DELETE ON omnichat_messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION message_day_customers_changed();
CREATE TRIGGER message_days_on_truncate AFTER TRUNCATE ON omnichat_messages
    FOR EACH STATEMENT EXECUTE FUNCTION message_days_truncated();

CREATE TRIGGER message_days_on_insert AFTER INSERT ON message_day_customers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION message_days_changed();
CREATE TRIGGER message_days_on_update AFTER UPDATE ON message_day_customers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION message_days_changed();
CREATE TRIGGER message_days_on_delete AFTER DELETE ON message_day_customers
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION message_days_changed();

---------------------------------------------------------------------------------------------------
-- Tag events per week and source.

CREATE TABLE tag_event_contact_weeks (
    week           date    NOT NULL,
    source         text    NOT NULL,
    contact_id     bigint,
    events         integer NOT NULL,
    current_events integer NOT NULL,
    CONSTRAINT tag_event_contact_weeks_key UNIQUE NULLS NOT DISTINCT (week, source, contact_id)
);
CREATE INDEX tag_event_contact_weeks_empty_idx ON tag_event_contact_weeks (week) WHERE events = 0;

COMMENT ON TABLE  tag_event_contact_weeks IS 'Rollup of v_tag_events: tagging events per week (in analytics_time_zone()), source and contact (NULL: identities reconcile has not linked), so tag_event_weeks can count people exactly. Kept by triggers on omnichat_tagging_logs, contact_identities and contact_tags.';
COMMENT ON COLUMN tag_event_contact_weeks.week           IS 'Monday of the week of tagged_at, in analytics_time_zone() (conversation_settings.time_zone).';
COMMENT ON COLUMN tag_event_contact_weeks.source         IS 'What applied the tags (bot, agent, broadcast, ...; empty when unknown).';
COMMENT ON COLUMN tag_event_contact_weeks.contact_id     IS 'The contact of the tagged identities (contact_identities.contact_id); NULL for identities with none yet.';
COMMENT ON COLUMN tag_event_contact_weeks.events         IS 'Tagging events (always > 0 once a statement ends).';
COMMENT ON COLUMN tag_event_contact_weeks.current_events IS 'Of those, events whose tag the contact still carries (contact_tags; v_tag_events.tag_is_current).';

CREATE TABLE tag_event_weeks (
    week          date   NOT NULL,
    source        text   NOT NULL,
    events        bigint NOT NULL,
    people        bigint NOT NULL,
    still_current bigint NOT NULL,
    PRIMARY KEY (week, source)
);
CREATE INDEX tag_event_weeks_empty_idx ON tag_event_weeks (week) WHERE events = 0;

COMMENT ON TABLE  tag_event_weeks IS 'Rollup of v_tag_events per week (in analytics_time_zone()) and source: events, distinct contacts, events whose tag is still current; exact, kept by triggers (from tag_event_contact_weeks). Read it through v_tag_event_weeks.';
COMMENT ON COLUMN tag_event_weeks.week          IS 'Monday of the week, in analytics_time_zone() (conversation_settings.time_zone).';
COMMENT ON COLUMN tag_event_weeks.source        IS 'What applied the tags (bot, agent, broadcast, ...; empty when unknown).';
COMMENT ON COLUMN tag_event_weeks.events        IS 'Tagging events that week from that source.';
COMMENT ON COLUMN tag_event_weeks.people        IS 'Distinct contacts tagged (events of identities without a contact not counted).';
COMMENT ON COLUMN tag_event_weeks.still_current IS 'Events whose tag the contact still carries (contact_tags).';

-- The statement that adds signed tagging events (src: a query of tagged_at, source, contact_id,
-- events, current_events) to tag_event_contact_weeks. The trigger functions EXECUTE it themselves:
-- only they can read their transition tables.
-- +goose StatementBegin
CREATE FUNCTION tag_event_contact_weeks_upsert(src text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT format($q$
        INSERT INTO tag_event_contact_weeks AS t (week, source, contact_id, events, current_events)
        SELECT (date_trunc('week', tagged_at AT TIME ZONE %L))::date, source, contact_id, sum(events), sum(current_events)
        FROM (%s) s
        GROUP BY 1, 2, 3
        HAVING sum(events) <> 0 OR sum(current_events) <> 0
        ON CONFLICT (week, source, contact_id)
        DO UPDATE SET events = t.events + excluded.events, current_events = t.current_events + excluded.current_events$q$,
        analytics_time_zone(), src);
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION tag_event_contact_weeks_upsert(text) IS 'The INSERT … ON CONFLICT that adds signed tagging events (a query of tagged_at, source, contact_id, events, current_events) to tag_event_contact_weeks; run by the tag-event triggers.';

-- Tagging logs a statement added (+1) and removed (-1), with the contact their identity has now.
-- Pull pages take the tag-event lock shared (they commute with each other); reconcile's writes of
-- identities and tags take it exclusive, so a page never counts an event under a contact that
-- reconcile is moving away at the same time.
-- +goose StatementBegin
CREATE FUNCTION tag_events_logs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    one constant text := $s$
        SELECT l.tagged_at, l.source, i.contact_id, %1$s AS events, %1$s * (ct.contact_id IS NOT NULL)::int AS current_events
        FROM %2$s l
        LEFT JOIN contact_identities i ON i.platform = l.platform AND i.channel_id = l.channel_id AND i.user_id = l.user_id
        LEFT JOIN contact_tags ct ON ct.contact_id = i.contact_id AND ct.tag = l.tag$s$;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1668247158, -14);
    EXECUTE tag_event_contact_weeks_upsert(CASE TG_OP
        WHEN 'INSERT' THEN format(one, '1', 'new_rows')
        WHEN 'DELETE' THEN format(one, '-1', 'old_rows')
        ELSE format(one, '1', 'new_rows') || ' UNION ALL ' || format(one, '-1', 'old_rows')
    END);
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM tag_event_contact_weeks WHERE events = 0;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Identities whose contact a statement changed (added, removed, re-linked): their events leave the
-- old contact (NULL for none) and join the new one.
-- +goose StatementBegin
CREATE FUNCTION tag_events_identities_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- Tags a statement put on (+1) or took off (-1) contacts: the events of that tag count as current or not.
-- +goose StatementBegin
CREATE FUNCTION tag_events_tags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- Rows of tag_event_contact_weeks a statement added and removed → tag_event_weeks.
-- +goose StatementBegin
CREATE FUNCTION tag_event_weeks_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    one constant text := 'SELECT week, source, %1$s * events AS events, %1$s * (contact_id IS NOT NULL)::int AS people,
                                 %1$s * current_events AS still_current FROM %2$s';
    src text;
BEGIN
    src := CASE TG_OP
        WHEN 'INSERT' THEN format(one, '1', 'new_rows')
        WHEN 'DELETE' THEN format(one, '-1', 'old_rows')
        ELSE format(one, '1', 'new_rows') || ' UNION ALL ' || format(one, '-1', 'old_rows')
    END;
    EXECUTE format($q$
        INSERT INTO tag_event_weeks AS t (week, source, events, people, still_current)
        SELECT week, source, sum(events), sum(people), sum(still_current)
        FROM (%s) s
        GROUP BY 1, 2
        HAVING sum(events) <> 0 OR sum(people) <> 0 OR sum(still_current) <> 0
        ON CONFLICT (week, source)
        DO UPDATE SET events = t.events + excluded.events, people = t.people + excluded.people,
                      still_current = t.still_current + excluded.still_current$q$, src);
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM tag_event_weeks WHERE events = 0;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION tag_event_weeks_rebuild() RETURNS bigint LANGUAGE plpgsql SET work_mem = '256MB' AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1668247158, -14);
    TRUNCATE tag_event_contact_weeks, tag_event_weeks;
    INSERT INTO tag_event_contact_weeks (week, source, contact_id, events, current_events)
    SELECT (date_trunc('week', l.tagged_at AT TIME ZONE analytics_time_zone()))::date, l.source, i.contact_id, count(*),
           count(ct.contact_id)
    FROM omnichat_tagging_logs l
    LEFT JOIN contact_identities i ON i.platform = l.platform AND i.channel_id = l.channel_id AND i.user_id = l.user_id
    LEFT JOIN contact_tags ct ON ct.contact_id = i.contact_id AND ct.tag = l.tag
    GROUP BY 1, 2, 3;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION tag_event_weeks_rebuild() IS 'Recounts tag_event_contact_weeks and tag_event_weeks from the tagging logs, identities and tags (on a change of conversation_settings.time_zone, or a TRUNCATE).';

-- +goose StatementBegin
CREATE FUNCTION tag_event_weeks_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tag_event_weeks_rebuild();
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER tag_events_on_insert AFTER INSERT ON omnichat_tagging_logs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_events_logs_changed();
CREATE TRIGGER tag_events_on_update AFTER UPDATE ON omnichat_tagging_logs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_events_logs_changed();
CREATE TRIGGER tag_events_on_delete AFTER DELETE ON omnichat_tagging_logs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_events_logs_changed();
CREATE TRIGGER tag_events_on_truncate AFTER TRUNCATE ON omnichat_tagging_logs
    FOR EACH STATEMENT EXECUTE FUNCTION tag_event_weeks_truncated();

CREATE TRIGGER tag_events_on_insert AFTER INSERT ON contact_identities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_events_identities_changed();
CREATE TRIGGER tag_events_on_update AFTER UPDATE ON contact_identities
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_events_identities_changed();
CREATE TRIGGER tag_events_on_delete AFTER DELETE ON contact_identities
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_events_identities_changed();
CREATE TRIGGER tag_events_on_truncate AFTER TRUNCATE ON contact_identities
    FOR EACH STATEMENT EXECUTE FUNCTION tag_event_weeks_truncated();

CREATE TRIGGER tag_events_on_insert AFTER INSERT ON contact_tags
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_events_tags_changed();
CREATE TRIGGER tag_events_on_update AFTER UPDATE ON contact_tags
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_events_tags_changed();
CREATE TRIGGER tag_events_on_delete AFTER DELETE ON contact_tags
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_events_tags_changed();
CREATE TRIGGER tag_events_on_truncate AFTER TRUNCATE ON contact_tags
    FOR EACH STATEMENT EXECUTE FUNCTION tag_event_weeks_truncated();

CREATE TRIGGER tag_event_weeks_on_insert AFTER INSERT ON tag_event_contact_weeks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_event_weeks_changed();
CREATE TRIGGER tag_event_weeks_on_update AFTER UPDATE ON tag_event_contact_weeks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_event_weeks_changed();
CREATE TRIGGER tag_event_weeks_on_delete AFTER DELETE ON tag_event_contact_weeks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tag_event_weeks_changed();

CREATE VIEW v_tag_event_weeks AS
SELECT week, source, events, people, still_current
FROM tag_event_weeks;

COMMENT ON VIEW   v_tag_event_weeks IS 'v_tag_events counted per week and source (from the tag_event_weeks rollup: exact, answers at once). Weeks are Monday to Sunday in conversation_settings.time_zone. Filter on week.';
COMMENT ON COLUMN v_tag_event_weeks.week          IS 'Monday of the week, in conversation_settings.time_zone (jobs.yaml timezone; default UTC).';
COMMENT ON COLUMN v_tag_event_weeks.source        IS 'What applied the tags (bot, agent, broadcast, ...), lower-case; empty when unknown.';
COMMENT ON COLUMN v_tag_event_weeks.events        IS 'Tagging events that week from that source.';
COMMENT ON COLUMN v_tag_event_weeks.people        IS 'Distinct contacts tagged (count(DISTINCT contact_id) of v_tag_events).';
COMMENT ON COLUMN v_tag_event_weeks.still_current IS 'Events whose tag the contact still carries (v_tag_events.tag_is_current).';

---------------------------------------------------------------------------------------------------
-- Platforms per contact.

CREATE TABLE contact_platforms (
    contact_id    bigint PRIMARY KEY,
    platforms     text[] NOT NULL,
    identity_keys text[] NOT NULL
);
CREATE INDEX contact_platforms_gin_idx ON contact_platforms USING gin (platforms);

COMMENT ON TABLE  contact_platforms IS 'The distinct platforms and the keys of each contact''s identities, one row per contact (contacts.id): v_contact_360.platforms (indexed, GIN, for platforms @> ARRAY[...]) and identity_keys. Kept by triggers on contacts and contact_identities.';
COMMENT ON COLUMN contact_platforms.contact_id    IS 'The contact (contacts.id).';
COMMENT ON COLUMN contact_platforms.platforms     IS 'Distinct platforms of its identities, sorted; empty for a contact with none (a merged tombstone).';
COMMENT ON COLUMN contact_platforms.identity_keys IS 'Its identities as "platform/channel_id/user_id", sorted; empty for none.';

-- +goose StatementBegin
CREATE FUNCTION contact_platforms_refresh(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    -- EXECUTE plans with the array's length known: a hash join for a full build, index probes for a page.
    EXECUTE $q$
    INSERT INTO contact_platforms AS t (contact_id, platforms, identity_keys)
    SELECT s.id, COALESCE(array_agg(DISTINCT i.platform ORDER BY i.platform) FILTER (WHERE i.platform IS NOT NULL), '{}'),
           COALESCE(array_agg(i.platform || '/' || i.channel_id || '/' || i.user_id ORDER BY i.platform || '/' || i.channel_id || '/' || i.user_id)
                    FILTER (WHERE i.platform IS NOT NULL), '{}')
    FROM (SELECT DISTINCT id FROM unnest($1) AS u (id) WHERE id IS NOT NULL) s
    LEFT JOIN contact_identities i ON i.contact_id = s.id
    GROUP BY s.id
    ON CONFLICT (contact_id) DO UPDATE SET platforms = excluded.platforms, identity_keys = excluded.identity_keys
    WHERE (t.platforms, t.identity_keys) IS DISTINCT FROM (excluded.platforms, excluded.identity_keys)$q$ USING ids;
END
$f$;
-- +goose StatementEnd
COMMENT ON FUNCTION contact_platforms_refresh(bigint[]) IS 'Recomputes contact_platforms (platforms, identity keys) for the given contacts; used by the contact_identities triggers.';

-- Identities a statement added, removed or moved: their old and new contacts' platforms. Identities
-- are written by reconcile, one run at a time; the lock keeps even concurrent writers exact.
-- +goose StatementBegin
CREATE FUNCTION contact_platforms_identities_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE FUNCTION contact_platforms_contacts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE FUNCTION contact_platforms_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'contacts' THEN
        TRUNCATE contact_platforms, contact_platform_counts;
    ELSE
        UPDATE contact_platforms SET platforms = '{}', identity_keys = '{}' WHERE identity_keys <> '{}';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER contact_platforms_on_insert AFTER INSERT ON contact_identities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contact_platforms_identities_changed();
CREATE TRIGGER contact_platforms_on_update AFTER UPDATE ON contact_identities
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contact_platforms_identities_changed();
CREATE TRIGGER contact_platforms_on_delete AFTER DELETE ON contact_identities
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION contact_platforms_identities_changed();
CREATE TRIGGER contact_platforms_on_truncate AFTER TRUNCATE ON contact_identities
    FOR EACH STATEMENT EXECUTE FUNCTION contact_platforms_truncated();
CREATE TRIGGER contact_platforms_on_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contact_platforms_contacts_changed();
CREATE TRIGGER contact_platforms_on_delete AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION contact_platforms_contacts_changed();
CREATE TRIGGER contact_platforms_on_truncate AFTER TRUNCATE ON contacts
    FOR EACH STATEMENT EXECUTE FUNCTION contact_platforms_truncated();

-- People per platform combination (contacts with identities; merged tombstones have none).
CREATE TABLE contact_platform_counts (
    platforms text[] PRIMARY KEY,
    people    bigint NOT NULL
);

COMMENT ON TABLE  contact_platform_counts IS 'Rollup of contact_platforms: how many contacts have identities on exactly each combination of platforms (contacts with no identity, i.e. merged tombstones, not counted); exact, kept by triggers. Read it through v_platform_combinations.';
COMMENT ON COLUMN contact_platform_counts.platforms IS 'The combination: distinct platforms, sorted (never empty).';
COMMENT ON COLUMN contact_platform_counts.people    IS 'Contacts whose identities are on exactly these platforms (always > 0).';

-- +goose StatementBegin
CREATE FUNCTION contact_platform_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    src text;
BEGIN
    src := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT platforms, 1 AS n FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT platforms, -1 AS n FROM old_rows'
        ELSE 'SELECT platforms, 1 AS n FROM new_rows UNION ALL SELECT platforms, -1 FROM old_rows'
    END;
    EXECUTE format($q$
        INSERT INTO contact_platform_counts AS t (platforms, people)
        SELECT platforms, sum(n) FROM (%s) s
        WHERE platforms <> '{}'
        GROUP BY 1
        HAVING sum(n) <> 0
        ON CONFLICT (platforms) DO UPDATE SET people = t.people + excluded.people$q$, src);
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM contact_platform_counts WHERE people = 0;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER contact_platform_counts_on_insert AFTER INSERT ON contact_platforms
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contact_platform_counts_changed();
CREATE TRIGGER contact_platform_counts_on_update AFTER UPDATE ON contact_platforms
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contact_platform_counts_changed();
CREATE TRIGGER contact_platform_counts_on_delete AFTER DELETE ON contact_platforms
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION contact_platform_counts_changed();

CREATE VIEW v_platform_combinations AS
SELECT platforms, cardinality(platforms) AS platform_count, people
FROM contact_platform_counts;

COMMENT ON VIEW   v_platform_combinations IS 'People per combination of platforms they reach us on (from the contact_platform_counts rollup: exact, at once): the same as counting v_contact_360 by platforms.';
COMMENT ON COLUMN v_platform_combinations.platforms      IS 'The combination, sorted (v_contact_360.platforms).';
COMMENT ON COLUMN v_platform_combinations.platform_count IS 'How many platforms that is (cardinality(platforms)).';
COMMENT ON COLUMN v_platform_combinations.people         IS 'Live contacts with identities on exactly these platforms (a contact left with no identity, which reconcile never leaves live, is not counted).';

---------------------------------------------------------------------------------------------------
-- A change of zone recounts the day and week rollups (pull_agents writes the setting).

-- +goose StatementBegin
CREATE FUNCTION analytics_time_zone_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF COALESCE((SELECT time_zone FROM old_rows), 'UTC') IS DISTINCT FROM COALESCE((SELECT time_zone FROM new_rows), 'UTC') THEN
        PERFORM message_days_rebuild();
        PERFORM tag_event_weeks_rebuild();
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION analytics_time_zone_set() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF COALESCE((SELECT time_zone FROM new_rows), 'UTC') <> 'UTC' THEN
        PERFORM message_days_rebuild();
        PERFORM tag_event_weeks_rebuild();
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION analytics_time_zone_unset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF COALESCE((SELECT time_zone FROM old_rows), 'UTC') <> 'UTC' THEN
        PERFORM message_days_rebuild();
        PERFORM tag_event_weeks_rebuild();
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER analytics_on_insert AFTER INSERT ON conversation_settings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_time_zone_set();
CREATE TRIGGER analytics_on_update AFTER UPDATE ON conversation_settings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_time_zone_changed();
CREATE TRIGGER analytics_on_delete AFTER DELETE ON conversation_settings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_time_zone_unset();

---------------------------------------------------------------------------------------------------
-- The views read the rollups. Same names, columns and order as their latest definitions (00005, 00004).

-- v_daily_messages in any other session zone: the messages counted as before 00014. A function, so
-- the plan of the rollup branch does not carry this branch's cost (which would make PostgreSQL JIT-compile
-- a query that reads a few thousand rows).
-- +goose StatementBegin
CREATE FUNCTION daily_messages_counted()
    RETURNS TABLE (day date, platform text, channel_id text, channel_name text, sender_type text, messages bigint, customers bigint)
    LANGUAGE plpgsql STABLE ROWS 5000 AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT m.sent_at::date, m.platform, m.channel_id, COALESCE(ch.channel_name, ''), m.sender_type, count(*), count(DISTINCT m.customer_user_id)
    FROM omnichat_messages m
    LEFT JOIN omnichat_channels ch ON ch.platform = m.platform AND ch.channel_id = m.channel_id
    GROUP BY 1, 2, 3, 4, 5;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION daily_messages_counted() IS 'v_daily_messages counted from omnichat_messages in the session time zone (the view''s branch for a session zone other than analytics_time_zone()).';

-- v_daily_messages: from message_days when the session's zone is analytics_time_zone() (the
-- other branch is then skipped by a one-time filter); otherwise, exactly as before, from the raw
-- messages in the session's zone.
CREATE OR REPLACE VIEW v_daily_messages AS
SELECT r.day,
       r.platform,
       r.channel_id,
       COALESCE(ch.channel_name, '') AS channel_name,
       r.sender_type,
       r.messages,
       r.customers
FROM message_days r
LEFT JOIN omnichat_channels ch ON ch.platform = r.platform AND ch.channel_id = r.channel_id
WHERE current_setting('TimeZone') = analytics_time_zone()
UNION ALL
SELECT d.day, d.platform, d.channel_id, d.channel_name, d.sender_type, d.messages, d.customers
FROM daily_messages_counted() d
WHERE current_setting('TimeZone') <> analytics_time_zone();

COMMENT ON VIEW v_daily_messages IS 'Message volume per day, channel and sender type. The day is taken in the session time zone. When that zone is conversation_settings.time_zone (jobs.yaml timezone, default UTC; e.g. SET TIME ZONE ''Asia/Bangkok'' with timezone Asia/Bangkok) it reads the message_days rollup and answers at once; in any other zone it counts omnichat_messages (exact, slower: filter on day).';

-- v_contact_360: platforms and identity_keys from contact_platforms (one join, GIN-indexed) instead of two
-- subqueries per row. A LEFT JOIN on its key, so a query that reads neither column skips it; every contact
-- has its row (the contacts trigger), and a filter on platforms turns it into an inner join the GIN index serves.
CREATE OR REPLACE VIEW v_contact_360 AS
SELECT c.id                        AS contact_id,
       c.name,
       c.email,
       c.phone,
       c.member_id,
       c.identities,
       p.platforms,
       p.identity_keys,
       ARRAY(SELECT t.tag FROM contact_tags t WHERE t.contact_id = c.id ORDER BY 1)                AS tags,
       COALESCE((SELECT jsonb_object_agg(a.key, a.value) FROM contact_attributes a WHERE a.contact_id = c.id),
                '{}'::jsonb)                                                                        AS attributes,
       f.first_message_at,
       f.last_message_at,
       f.last_customer_message_at,
       f.last_agent_message_at,
       COALESCE(f.messages_total, 0)          AS messages_total,
       COALESCE(f.messages_7d, 0)             AS messages_7d,
       COALESCE(f.messages_30d, 0)            AS messages_30d,
       COALESCE(f.customer_messages_total, 0) AS customer_messages_total,
       COALESCE(f.agent_messages_total, 0)    AS agent_messages_total,
       COALESCE(f.bot_messages_total, 0)      AS bot_messages_total,
       COALESCE(f.channels, '{}')             AS channels,
       s.as_of                                AS facts_as_of,
       c.excluded_from_push,
       c.pinned_fields,
       c.created_at,
       c.updated_at
FROM contacts c
LEFT JOIN contact_platforms p ON p.contact_id = c.id
LEFT JOIN contact_facts f ON f.contact_id = c.id
LEFT JOIN reconcile_state s ON s.id = 1
WHERE c.merged_into IS NULL;

-- v_push_status: the per-target counts and the last refusal joined once (hash joins) instead of two
-- subqueries per contact and destination.
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

-- What was there before this migration.
SELECT message_days_rebuild();
SELECT tag_event_weeks_rebuild();
INSERT INTO contact_platforms (contact_id, platforms, identity_keys)
SELECT c.id, COALESCE(array_agg(DISTINCT i.platform ORDER BY i.platform) FILTER (WHERE i.platform IS NOT NULL), '{}'),
       COALESCE(array_agg(i.platform || '/' || i.channel_id || '/' || i.user_id ORDER BY i.platform || '/' || i.channel_id || '/' || i.user_id)
                FILTER (WHERE i.platform IS NOT NULL), '{}')
FROM contacts c
LEFT JOIN contact_identities i ON i.contact_id = c.id
GROUP BY c.id;

-- +goose Down
CREATE OR REPLACE VIEW v_contact_360 AS
SELECT c.id                        AS contact_id,
       c.name,
       c.email,
       c.phone,
       c.member_id,
       c.identities,
       ARRAY(SELECT DISTINCT i.platform FROM contact_identities i WHERE i.contact_id = c.id ORDER BY 1) AS platforms,
       ARRAY(SELECT i.platform || '/' || i.channel_id || '/' || i.user_id
             FROM contact_identities i WHERE i.contact_id = c.id ORDER BY 1)                         AS identity_keys,
       ARRAY(SELECT t.tag FROM contact_tags t WHERE t.contact_id = c.id ORDER BY 1)                AS tags,
       COALESCE((SELECT jsonb_object_agg(a.key, a.value) FROM contact_attributes a WHERE a.contact_id = c.id),
                '{}'::jsonb)                                                                        AS attributes,
       f.first_message_at,
       f.last_message_at,
       f.last_customer_message_at,
       f.last_agent_message_at,
       COALESCE(f.messages_total, 0)          AS messages_total,
       COALESCE(f.messages_7d, 0)             AS messages_7d,
       COALESCE(f.messages_30d, 0)            AS messages_30d,
       COALESCE(f.customer_messages_total, 0) AS customer_messages_total,
       COALESCE(f.agent_messages_total, 0)    AS agent_messages_total,
       COALESCE(f.bot_messages_total, 0)      AS bot_messages_total,
       COALESCE(f.channels, '{}')             AS channels,
       s.as_of                                AS facts_as_of,
       c.excluded_from_push,
       c.pinned_fields,
       c.created_at,
       c.updated_at
FROM contacts c
LEFT JOIN contact_facts f ON f.contact_id = c.id
LEFT JOIN reconcile_state s ON s.id = 1
WHERE c.merged_into IS NULL;

DROP VIEW v_daily_messages;
CREATE VIEW v_daily_messages AS
SELECT m.sent_at::date               AS day,
       m.platform,
       m.channel_id,
       COALESCE(ch.channel_name, '') AS channel_name,
       m.sender_type,
       count(*)                      AS messages,
       count(DISTINCT m.customer_user_id) AS customers
FROM omnichat_messages m
LEFT JOIN omnichat_channels ch ON ch.platform = m.platform AND ch.channel_id = m.channel_id
GROUP BY 1, 2, 3, 4, 5;
COMMENT ON VIEW v_daily_messages IS 'Message volume per day, channel and sender type. The day is taken in the session time zone: SET TIME ZONE ''Asia/Bangkok'' first for Thai days. Filter on day to keep it fast.';

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

DROP FUNCTION daily_messages_counted();
DROP VIEW v_platform_combinations;
DROP TRIGGER contact_platform_counts_on_delete ON contact_platforms;
DROP TRIGGER contact_platform_counts_on_update ON contact_platforms;
DROP TRIGGER contact_platform_counts_on_insert ON contact_platforms;
DROP FUNCTION contact_platform_counts_changed();
DROP TABLE contact_platform_counts;
DROP VIEW v_tag_event_weeks;
DROP TRIGGER analytics_on_delete ON conversation_settings;
DROP TRIGGER analytics_on_update ON conversation_settings;
DROP TRIGGER analytics_on_insert ON conversation_settings;
DROP FUNCTION analytics_time_zone_unset();
DROP FUNCTION analytics_time_zone_set();
DROP FUNCTION analytics_time_zone_changed();

DROP TRIGGER contact_platforms_on_truncate ON contacts;
DROP TRIGGER contact_platforms_on_delete ON contacts;
DROP TRIGGER contact_platforms_on_insert ON contacts;
DROP TRIGGER contact_platforms_on_truncate ON contact_identities;
DROP TRIGGER contact_platforms_on_delete ON contact_identities;
DROP TRIGGER contact_platforms_on_update ON contact_identities;
DROP TRIGGER contact_platforms_on_insert ON contact_identities;
DROP FUNCTION contact_platforms_truncated();
DROP FUNCTION contact_platforms_contacts_changed();
DROP FUNCTION contact_platforms_identities_changed();
DROP FUNCTION contact_platforms_refresh(bigint[]);
DROP TABLE contact_platforms;

DROP TRIGGER tag_events_on_truncate ON contact_tags;
DROP TRIGGER tag_events_on_delete ON contact_tags;
DROP TRIGGER tag_events_on_update ON contact_tags;
DROP TRIGGER tag_events_on_insert ON contact_tags;
DROP TRIGGER tag_events_on_truncate ON contact_identities;
DROP TRIGGER tag_events_on_delete ON contact_identities;
DROP TRIGGER tag_events_on_update ON contact_identities;
DROP TRIGGER tag_events_on_insert ON contact_identities;
DROP TRIGGER tag_events_on_truncate ON omnichat_tagging_logs;
DROP TRIGGER tag_events_on_delete ON omnichat_tagging_logs;
DROP TRIGGER tag_events_on_update ON omnichat_tagging_logs;
DROP TRIGGER tag_events_on_insert ON omnichat_tagging_logs;
DROP FUNCTION tag_event_weeks_truncated();
DROP FUNCTION tag_event_weeks_rebuild();
DROP TABLE tag_event_weeks;
DROP TABLE tag_event_contact_weeks;
DROP FUNCTION tag_event_weeks_changed();
DROP FUNCTION tag_events_tags_changed();
DROP FUNCTION tag_events_identities_changed();
DROP FUNCTION tag_events_logs_changed();
DROP FUNCTION tag_event_contact_weeks_upsert(text);

DROP TRIGGER message_days_on_truncate ON omnichat_messages;
DROP TRIGGER message_days_on_delete ON omnichat_messages;
DROP TRIGGER message_days_on_update ON omnichat_messages;
DROP TRIGGER message_days_on_insert ON omnichat_messages;
DROP TABLE message_days;
DROP TABLE message_day_customers;
DROP FUNCTION message_days_truncated();
DROP FUNCTION message_days_rebuild();
DROP FUNCTION message_days_changed();
DROP FUNCTION message_day_customers_changed();
DROP FUNCTION analytics_time_zone();
