-- Who answers customers, and how fast: Omnichat's system users (the agents), linked to the messages
-- they sent, and the chat history cut into conversations per room, each with its first response.
--
-- conversations is kept by statement-level triggers on omnichat_messages: every statement that
-- inserts, updates or deletes messages (a pull page, a backfill, plain SQL) recomputes the
-- conversations of the rooms it touched, from the conversation holding the earliest touched
-- message on, in the same transaction. Concurrent writers of one room take turns on an advisory
-- lock per room bucket (class 'conv', keys 0..255), so a room is never computed from a stale view.

-- +goose Up
CREATE TABLE omnichat_system_users (
    username        text        PRIMARY KEY,
    name            text        NOT NULL DEFAULT '',
    email           text        NOT NULL DEFAULT '',
    phone           text        NOT NULL DEFAULT '',
    employee_code   text        NOT NULL DEFAULT '',
    team            text        NOT NULL DEFAULT '',
    available       boolean,
    status          integer,
    role            integer,
    profile_picture text        NOT NULL DEFAULT '',
    shops           jsonb       NOT NULL DEFAULT '[]'::jsonb,
    raw             jsonb       NOT NULL,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_changed_at timestamptz NOT NULL DEFAULT now(),
    missing_since   timestamptz
);
CREATE INDEX omnichat_system_users_email_idx ON omnichat_system_users (lower(email)) WHERE email <> '';

COMMENT ON TABLE  omnichat_system_users IS 'System users of the Omnichat team (GET /v1/system-users, a full listing read by the pull_agents step): the agents who answer chats. One row per username; a user no longer listed is kept, with missing_since set.';
COMMENT ON COLUMN omnichat_system_users.username        IS 'Omnichat username, the user''s Omnichat user id (a UUID). Agent messages carry it as senderUserId (omnichat_messages.sender_user_id), which links them here.';
COMMENT ON COLUMN omnichat_system_users.name            IS 'Display name; empty when absent.';
COMMENT ON COLUMN omnichat_system_users.email           IS 'Login email as Omnichat gives it; agent messages carry it as senderEmail, the second way they link here (case-insensitive). Empty when absent.';
COMMENT ON COLUMN omnichat_system_users.phone           IS 'Login phone as Omnichat gives it (e.g. +85212345678); empty when absent.';
COMMENT ON COLUMN omnichat_system_users.employee_code   IS 'Employee code; empty when absent.';
COMMENT ON COLUMN omnichat_system_users.team            IS 'Omnichat team name.';
COMMENT ON COLUMN omnichat_system_users.available       IS 'Omnichat "available" flag at the last pull; NULL when absent.';
COMMENT ON COLUMN omnichat_system_users.status          IS 'Omnichat status code as sent (undocumented; the example says 1); NULL when absent.';
COMMENT ON COLUMN omnichat_system_users.role            IS 'Omnichat role code as sent (undocumented; the example says 7); NULL when absent.';
COMMENT ON COLUMN omnichat_system_users.profile_picture IS 'URL of the profile picture; empty when absent.';
COMMENT ON COLUMN omnichat_system_users.shops           IS 'Shops the user belongs to, as a JSON array of {id, code, name, categories}; [] when none or absent.';
COMMENT ON COLUMN omnichat_system_users.raw             IS 'The system-user object as received.';
COMMENT ON COLUMN omnichat_system_users.first_seen_at   IS 'When a pull first stored the user.';
COMMENT ON COLUMN omnichat_system_users.last_seen_at    IS 'When a pull last saw the user in the listing.';
COMMENT ON COLUMN omnichat_system_users.last_changed_at IS 'When a pull last changed the row (a listing that says the same changes nothing but last_seen_at).';
COMMENT ON COLUMN omnichat_system_users.missing_since   IS 'Set when a complete listing no longer held the user (deleted in Omnichat); NULL while listed. The row and its links stay.';

COMMENT ON COLUMN pull_errors.stream IS 'Stream the record came from: channels, contacts, tagging_logs, messages or system_users.';

-- The room a message belongs to: its roomId, or its customer when it has none.
CREATE FUNCTION conversation_room_key(room_id text, customer_user_id text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN room_id <> '' THEN room_id ELSE 'customer:' || customer_user_id END;
COMMENT ON FUNCTION conversation_room_key(text, text) IS 'The room of a message for conversations: its room_id, or ''customer:'' || customer_user_id when it has none.';

CREATE INDEX omnichat_messages_room_idx ON omnichat_messages
    (platform, channel_id, conversation_room_key(room_id, customer_user_id), sent_at);

CREATE TABLE conversation_settings (
    id         integer     PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    quiet_gap  interval    NOT NULL DEFAULT interval '24 hours' CHECK (quiet_gap > interval '0'),
    time_zone  text        NOT NULL DEFAULT 'UTC',
    updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE  conversation_settings IS 'At most one row: the settings conversations are built with (none: the defaults, 24 hours and UTC). The pull_agents step writes conversations.quiet_gap and timezone from jobs.yaml here, rebuilding what they change.';
COMMENT ON COLUMN conversation_settings.id         IS 'Always 1.';
COMMENT ON COLUMN conversation_settings.quiet_gap  IS 'A customer message opens a conversation when the customer sent nothing in the room for at least this long (default 24 hours).';
COMMENT ON COLUMN conversation_settings.time_zone  IS 'Zone whose Monday-to-Sunday weeks the weekly response-time tables count in (jobs.yaml timezone; default UTC).';
COMMENT ON COLUMN conversation_settings.updated_at IS 'When the settings last changed.';

CREATE TABLE conversations (
    opening_message_id         text             PRIMARY KEY,
    platform                   text             NOT NULL,
    channel_id                 text             NOT NULL,
    room_id                    text             NOT NULL,
    room_key                   text             NOT NULL,
    customer_user_id           text             NOT NULL,
    opened_at                  timestamptz      NOT NULL,
    ended_at                   timestamptz,
    messages                   integer          NOT NULL,
    customer_messages          integer          NOT NULL,
    first_reply_at             timestamptz,
    first_reply_message_id     text,
    first_reply_sender_type    text,
    replied_by                 text             CHECK (replied_by IN ('agent', 'bot')),
    first_reply_sender_user_id text,
    first_reply_sender_name    text,
    first_reply_sender_email   text,
    first_response_seconds     double precision,
    first_agent_reply_at       timestamptz,
    first_agent_message_id     text,
    first_agent_user_id        text,
    first_agent_name           text,
    first_agent_email          text,
    agent_response_seconds     double precision,
    computed_at                timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX conversations_room_idx ON conversations (platform, channel_id, room_key, opened_at);
CREATE INDEX conversations_opened_idx ON conversations (opened_at);
CREATE INDEX conversations_waiting_idx ON conversations (opened_at) WHERE first_reply_at IS NULL AND ended_at IS NULL;

COMMENT ON TABLE  conversations IS 'Conversations per chat room, built from omnichat_messages: a customer message opens one when the customer sent nothing in the room for conversation_settings.quiet_gap (default 24 h); it lasts until the next one opens, and its first agent, bot or AI message is the first response. Kept up to date by triggers on omnichat_messages, whatever wrote the messages and in whatever order they arrive.';
COMMENT ON COLUMN conversations.opening_message_id         IS 'The customer message that opened the conversation (omnichat_messages.id); the key.';
COMMENT ON COLUMN conversations.platform                   IS 'Platform of the channel.';
COMMENT ON COLUMN conversations.channel_id                 IS 'Omnichat channel id.';
COMMENT ON COLUMN conversations.room_id                    IS 'Omnichat roomId of the conversation''s messages; empty when they carry none (then the room is the customer, see room_key).';
COMMENT ON COLUMN conversations.room_key                   IS 'The room the conversation was cut from: room_id, or ''customer:'' || customer_user_id for messages without a roomId (conversation_room_key).';
COMMENT ON COLUMN conversations.customer_user_id           IS 'The customer of the opening message: joins contact_identities.user_id within (platform, channel_id).';
COMMENT ON COLUMN conversations.opened_at                  IS 'When the opening customer message was sent.';
COMMENT ON COLUMN conversations.ended_at                   IS 'When the room''s next conversation opened (this one ends there); NULL for the room''s latest conversation.';
COMMENT ON COLUMN conversations.messages                   IS 'Messages of any sender in the conversation, from opened_at until ended_at.';
COMMENT ON COLUMN conversations.customer_messages          IS 'Customer messages in the conversation.';
COMMENT ON COLUMN conversations.first_reply_at             IS 'When the first agent, bot or AI message after the opening one was sent (the first response); NULL while no one answered.';
COMMENT ON COLUMN conversations.first_reply_message_id     IS 'That first response (omnichat_messages.id).';
COMMENT ON COLUMN conversations.first_reply_sender_type    IS 'Sender type of the first response: agent, bot or ai-chat.';
COMMENT ON COLUMN conversations.replied_by                 IS 'Who answered first: agent (a human) or bot (bot or ai-chat); NULL while no one answered.';
COMMENT ON COLUMN conversations.first_reply_sender_user_id IS 'senderUserId of the first response: the agent''s Omnichat user id, or bot / ai-chat.';
COMMENT ON COLUMN conversations.first_reply_sender_name    IS 'senderName of the first response.';
COMMENT ON COLUMN conversations.first_reply_sender_email   IS 'senderEmail of the first response (agents: their login email); empty when none.';
COMMENT ON COLUMN conversations.first_response_seconds     IS 'Seconds from opened_at to first_reply_at: the first-response time, bots included.';
COMMENT ON COLUMN conversations.first_agent_reply_at       IS 'When the first human agent message of the conversation was sent (after a bot''s, if a bot answered first); NULL when none.';
COMMENT ON COLUMN conversations.first_agent_message_id     IS 'That first agent message (omnichat_messages.id).';
COMMENT ON COLUMN conversations.first_agent_user_id        IS 'senderUserId of the first agent message: links to omnichat_system_users.username.';
COMMENT ON COLUMN conversations.first_agent_name           IS 'senderName of the first agent message.';
COMMENT ON COLUMN conversations.first_agent_email          IS 'senderEmail of the first agent message: links to omnichat_system_users.email when the user id does not.';
COMMENT ON COLUMN conversations.agent_response_seconds     IS 'Seconds from opened_at to first_agent_reply_at: how long a human took.';
COMMENT ON COLUMN conversations.computed_at                IS 'When the row was last computed (the transaction that wrote the messages it reflects).';

-- Response times are counted per week in log-spaced buckets 2% wide, so percentiles over any
-- number of conversations read a few hundred rows; a bucket's midpoint is within 1% (and half a
-- second) of every time in it.
CREATE FUNCTION response_bucket(seconds double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN seconds IS NOT NULL THEN floor(ln(1 + greatest(seconds, 0)) / ln(1.02))::integer END;
COMMENT ON FUNCTION response_bucket(double precision) IS 'The response-time bucket of a number of seconds: floor(ln(1 + s) / ln(1.02)); bucket b holds [1.02^b - 1, 1.02^(b+1) - 1) seconds.';
CREATE FUNCTION response_bucket_seconds(bucket integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (power(1.02::float8, bucket) + power(1.02::float8, bucket + 1)) / 2 - 1;
COMMENT ON FUNCTION response_bucket_seconds(integer) IS 'The midpoint of a response-time bucket, in seconds.';

CREATE TABLE conversation_agent_weeks (
    week          date    NOT NULL,
    agent_user_id text    NOT NULL,
    agent_email   text    NOT NULL,
    bucket        integer NOT NULL,
    conversations integer NOT NULL,
    PRIMARY KEY (week, agent_user_id, agent_email, bucket)
);
COMMENT ON TABLE  conversation_agent_weeks IS 'Rollup of conversations for percentiles: per week, first agent sender and response-time bucket, how many conversations an agent first answered in that time (conversations.agent_response_seconds). Kept with conversations; read it through v_agent_response_times and v_shop_response_times.';
COMMENT ON COLUMN conversation_agent_weeks.week          IS 'Monday of the week the conversation opened in, in conversation_settings.time_zone.';
COMMENT ON COLUMN conversation_agent_weeks.agent_user_id IS 'conversations.first_agent_user_id.';
COMMENT ON COLUMN conversation_agent_weeks.agent_email   IS 'conversations.first_agent_email, trimmed and lower-cased.';
COMMENT ON COLUMN conversation_agent_weeks.bucket        IS 'response_bucket(agent_response_seconds).';
COMMENT ON COLUMN conversation_agent_weeks.conversations IS 'Conversations counted here (0 rows are removed by pull_agents).';

CREATE TABLE conversation_channel_weeks (
    week          date    NOT NULL,
    platform      text    NOT NULL,
    channel_id    text    NOT NULL,
    replied_by    text    NOT NULL,
    measure       text    NOT NULL CHECK (measure IN ('first', 'agent')),
    bucket        integer NOT NULL,
    conversations integer NOT NULL,
    PRIMARY KEY (week, platform, channel_id, replied_by, measure, bucket)
);
COMMENT ON TABLE  conversation_channel_weeks IS 'Rollup of conversations for percentiles: per week, channel, who answered first and response-time bucket, how many conversations. measure first counts every conversation once (bucket -1: no answer), measure agent the ones a human answered, by the time to that answer. Kept with conversations; read it through v_channel_response_times and v_first_reply_times.';
COMMENT ON COLUMN conversation_channel_weeks.week          IS 'Monday of the week the conversation opened in, in conversation_settings.time_zone.';
COMMENT ON COLUMN conversation_channel_weeks.platform      IS 'Platform of the channel.';
COMMENT ON COLUMN conversation_channel_weeks.channel_id    IS 'Omnichat channel id.';
COMMENT ON COLUMN conversation_channel_weeks.replied_by    IS 'conversations.replied_by: agent or bot; none when no one answered.';
COMMENT ON COLUMN conversation_channel_weeks.measure       IS 'first: time to the first answer (first_response_seconds); agent: time to the first human answer (agent_response_seconds).';
COMMENT ON COLUMN conversation_channel_weeks.bucket        IS 'response_bucket of the measured time; -1 for a conversation no one answered (measure first).';
COMMENT ON COLUMN conversation_channel_weeks.conversations IS 'Conversations counted here (0 rows are removed by pull_agents).';

-- conversations_refresh recomputes the conversations of the given rooms (platform, channel,
-- room key), each from the latest conversation opened before the room's earliest touched time
-- (since; NULL: the whole room). Nothing before that point can change: the conversation opened
-- there still opens (the customer messages before it are untouched) and the one before it still
-- ends there. It returns how many conversations it wrote.
-- +goose StatementBegin
CREATE FUNCTION conversations_refresh(p_platform text[], p_channel text[], p_room text[], p_since timestamptz[])
RETURNS bigint LANGUAGE plpgsql SET work_mem = '256MB' AS $$
DECLARE
    gap        interval;
    tz         text;
    r_platform text[];
    r_channel  text[];
    r_room     text[];
    r_from     timestamptz[];
    n          bigint;
    -- What the deleted (d_) and written (i_) conversations counted in the weekly rollups.
    d_opened timestamptz[]; d_platform text[]; d_channel text[]; d_replied text[]; d_first float8[];
    d_agent bool[]; d_agent_user text[]; d_agent_email text[]; d_agent_secs float8[];
    i_opened timestamptz[]; i_platform text[]; i_channel text[]; i_replied text[]; i_first float8[];
    i_agent bool[]; i_agent_user text[]; i_agent_email text[]; i_agent_secs float8[];
BEGIN
    IF COALESCE(cardinality(p_room), 0) = 0 THEN
        RETURN 0;
    END IF;
    -- One writer per room at a time, so the last one sees every committed message (each
    -- statement below takes a new snapshot). Buckets are locked in order: no deadlock.
    PERFORM pg_advisory_xact_lock_shared(1668247158, -1);
    PERFORM pg_advisory_xact_lock(1668247158, b)
    FROM (SELECT DISTINCT hashtext(pl || '/' || ch || '/' || rk) & 255 AS b
          FROM unnest(p_platform, p_channel, p_room) AS t (pl, ch, rk) ORDER BY 1) s;

    SELECT COALESCE(max(quiet_gap), interval '24 hours'), COALESCE(max(time_zone), 'UTC') INTO gap, tz
    FROM conversation_settings WHERE id = 1;

    SELECT array_agg(t.pl), array_agg(t.ch), array_agg(t.rk), array_agg(s.opened_at)
    INTO r_platform, r_channel, r_room, r_from
    FROM (SELECT pl, ch, rk, min(COALESCE(since, '-infinity')) AS since
          FROM unnest(p_platform, p_channel, p_room, p_since) AS t (pl, ch, rk, since)
          GROUP BY 1, 2, 3) t
    LEFT JOIN LATERAL (
        SELECT v.opened_at FROM conversations v
        WHERE v.platform = t.pl AND v.channel_id = t.ch AND v.room_key = t.rk AND v.opened_at < t.since
        ORDER BY v.opened_at DESC LIMIT 1) s ON true;

    WITH d AS (
        DELETE FROM conversations v
        USING unnest(r_platform, r_channel, r_room, r_from) AS t (pl, ch, rk, f)
        WHERE v.platform = t.pl AND v.channel_id = t.ch AND v.room_key = t.rk AND v.opened_at >= COALESCE(t.f, '-infinity')
        RETURNING v.opened_at, v.platform, v.channel_id, v.replied_by, v.first_response_seconds,
                  v.first_agent_message_id IS NOT NULL AS agent, v.first_agent_user_id, v.first_agent_email, v.agent_response_seconds)
    SELECT array_agg(opened_at), array_agg(platform), array_agg(channel_id), array_agg(replied_by), array_agg(first_response_seconds),
           array_agg(agent), array_agg(first_agent_user_id), array_agg(first_agent_email), array_agg(agent_response_seconds)
    INTO d_opened, d_platform, d_channel, d_replied, d_first, d_agent, d_agent_user, d_agent_email, d_agent_secs
    FROM d;

    WITH ins AS (
    INSERT INTO conversations (opening_message_id, platform, channel_id, room_id, room_key, customer_user_id,
        opened_at, ended_at, messages, customer_messages,
        first_reply_at, first_reply_message_id, first_reply_sender_type, replied_by, first_reply_sender_user_id,
        first_reply_sender_name, first_reply_sender_email, first_response_seconds,
        first_agent_reply_at, first_agent_message_id, first_agent_user_id, first_agent_name, first_agent_email,
        agent_response_seconds)
    WITH m AS (
        -- Rooms are numbered (ri) so the sorts below compare integers, not three strings.
        SELECT t.ri, t.pl, t.ch, t.rk, x.*
        FROM unnest(r_platform, r_channel, r_room, r_from) WITH ORDINALITY AS t (pl, ch, rk, f, ri)
        CROSS JOIN LATERAL (
            SELECT m.id, m.customer_user_id, m.room_id, m.sender_type, m.sender_user_id, m.sender_name,
                   m.raw ->> 'senderEmail' AS sender_email, m.sent_at,
                   m.sender_type IN ('agent', 'bot', 'ai-chat') AS is_reply
            FROM omnichat_messages m
            WHERE m.platform = t.pl AND m.channel_id = t.ch
              AND conversation_room_key(m.room_id, m.customer_user_id) = t.rk
              AND m.sent_at >= COALESCE(t.f, '-infinity')) x
    ), counted AS (
        -- In room order: the previous customer message, and how many replies (any, and
        -- human) came so far.
        SELECT m.*,
               max(m.sent_at) FILTER (WHERE m.sender_type = 'customer') OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_customer_at,
               count(*) FILTER (WHERE m.is_reply) OVER (w ROWS UNBOUNDED PRECEDING) AS replies,
               count(*) FILTER (WHERE m.sender_type = 'agent') OVER (w ROWS UNBOUNDED PRECEDING) AS agent_replies
        FROM m
        WINDOW w AS (PARTITION BY m.ri ORDER BY m.sent_at, m.id COLLATE "C")
    ), opens AS (
        SELECT c.*, c.sender_type = 'customer' AND COALESCE(c.sent_at - c.prev_customer_at >= gap, true) AS opens
        FROM counted c
    ), seq AS (
        -- The conversation each message is in (0: before the room's first), and the reply
        -- counts when it opened: its first reply is the one after those.
        SELECT o.*,
               count(*) FILTER (WHERE o.opens) OVER (w ROWS UNBOUNDED PRECEDING) AS seq,
               max(o.replies) FILTER (WHERE o.opens) OVER (w ROWS UNBOUNDED PRECEDING) AS replies_at_open,
               max(o.agent_replies) FILTER (WHERE o.opens) OVER (w ROWS UNBOUNDED PRECEDING) AS agent_replies_at_open
        FROM opens o
        WINDOW w AS (PARTITION BY o.ri ORDER BY o.sent_at, o.id COLLATE "C")
    ), marked AS (
        SELECT s.*,
               s.is_reply AND s.replies = s.replies_at_open + 1 AS first_reply,
               s.sender_type = 'agent' AND s.agent_replies = s.agent_replies_at_open + 1 AS first_agent
        FROM seq s
        WHERE s.seq > 0
    ), g AS (
        SELECT r.ri, min(r.pl) AS platform, min(r.ch) AS channel_id, min(r.rk) AS room_key,
               min(r.id) FILTER (WHERE r.opens)                        AS opening_message_id,
               min(r.room_id) FILTER (WHERE r.opens)                   AS room_id,
               min(r.customer_user_id) FILTER (WHERE r.opens)          AS customer_user_id,
               min(r.sent_at) FILTER (WHERE r.opens)                   AS opened_at,
               count(*)                                                AS messages,
               count(*) FILTER (WHERE r.sender_type = 'customer')      AS customer_messages,
               min(r.sent_at) FILTER (WHERE r.first_reply)             AS first_reply_at,
               min(r.id) FILTER (WHERE r.first_reply)                  AS first_reply_message_id,
               min(r.sender_type) FILTER (WHERE r.first_reply)         AS first_reply_sender_type,
               min(r.sender_user_id) FILTER (WHERE r.first_reply)      AS first_reply_sender_user_id,
               min(r.sender_name) FILTER (WHERE r.first_reply)         AS first_reply_sender_name,
               min(r.sender_email) FILTER (WHERE r.first_reply)        AS first_reply_sender_email,
               min(r.sent_at) FILTER (WHERE r.first_agent)             AS first_agent_reply_at,
               min(r.id) FILTER (WHERE r.first_agent)                  AS first_agent_message_id,
               min(r.sender_user_id) FILTER (WHERE r.first_agent)      AS first_agent_user_id,
               min(r.sender_name) FILTER (WHERE r.first_agent)         AS first_agent_name,
               min(r.sender_email) FILTER (WHERE r.first_agent)        AS first_agent_email
        FROM marked r
        GROUP BY r.ri, r.seq
    )
    SELECT g.opening_message_id, g.platform, g.channel_id, g.room_id, g.room_key, g.customer_user_id,
           g.opened_at,
           lead(g.opened_at) OVER (PARTITION BY g.ri ORDER BY g.opened_at),
           g.messages, g.customer_messages,
           g.first_reply_at, g.first_reply_message_id, g.first_reply_sender_type,
           CASE WHEN g.first_reply_sender_type = 'agent' THEN 'agent' WHEN g.first_reply_sender_type IS NOT NULL THEN 'bot' END,
           g.first_reply_sender_user_id, g.first_reply_sender_name,
           CASE WHEN g.first_reply_message_id IS NOT NULL THEN COALESCE(g.first_reply_sender_email, '') END,
           extract(epoch FROM g.first_reply_at - g.opened_at)::double precision,
           g.first_agent_reply_at, g.first_agent_message_id, g.first_agent_user_id, g.first_agent_name,
           CASE WHEN g.first_agent_message_id IS NOT NULL THEN COALESCE(g.first_agent_email, '') END,
           extract(epoch FROM g.first_agent_reply_at - g.opened_at)::double precision
    FROM g
    RETURNING opened_at, platform, channel_id, replied_by, first_response_seconds,
              first_agent_message_id IS NOT NULL AS agent, first_agent_user_id, first_agent_email, agent_response_seconds)
    SELECT count(*), array_agg(opened_at), array_agg(platform), array_agg(channel_id), array_agg(replied_by), array_agg(first_response_seconds),
           array_agg(agent), array_agg(first_agent_user_id), array_agg(first_agent_email), array_agg(agent_response_seconds)
    INTO n, i_opened, i_platform, i_channel, i_replied, i_first, i_agent, i_agent_user, i_agent_email, i_agent_secs
    FROM ins;

    -- The weekly rollups move by what was written minus what was deleted: one statement each,
    -- keys in order, so concurrent writers cannot deadlock on them.
    INSERT INTO conversation_channel_weeks AS w (week, platform, channel_id, replied_by, measure, bucket, conversations)
    SELECT (date_trunc('week', c.opened_at AT TIME ZONE tz))::date, c.platform, c.channel_id, COALESCE(c.replied_by, 'none'),
           v.measure, v.bucket, sum(c.n)
    FROM (SELECT -1 AS n, * FROM unnest(d_opened, d_platform, d_channel, d_replied, d_first, d_agent, d_agent_secs)
                 AS x (opened_at, platform, channel_id, replied_by, first_secs, agent, agent_secs)
          UNION ALL
          SELECT 1, * FROM unnest(i_opened, i_platform, i_channel, i_replied, i_first, i_agent, i_agent_secs)) c
    CROSS JOIN LATERAL (VALUES ('first', COALESCE(response_bucket(c.first_secs), -1)),
                               ('agent', CASE WHEN c.agent THEN response_bucket(c.agent_secs) END)) AS v (measure, bucket)
    WHERE v.bucket IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
    HAVING sum(c.n) <> 0
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (week, platform, channel_id, replied_by, measure, bucket)
    DO UPDATE SET conversations = w.conversations + excluded.conversations;

    INSERT INTO conversation_agent_weeks AS w (week, agent_user_id, agent_email, bucket, conversations)
    SELECT (date_trunc('week', c.opened_at AT TIME ZONE tz))::date, c.agent_user, lower(trim(c.agent_email)),
           response_bucket(c.agent_secs), sum(c.n)
    FROM (SELECT -1 AS n, * FROM unnest(d_opened, d_agent, d_agent_user, d_agent_email, d_agent_secs)
                 AS x (opened_at, agent, agent_user, agent_email, agent_secs)
          UNION ALL
          SELECT 1, * FROM unnest(i_opened, i_agent, i_agent_user, i_agent_email, i_agent_secs)) c
    WHERE c.agent
    GROUP BY 1, 2, 3, 4
    HAVING sum(c.n) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (week, agent_user_id, agent_email, bucket)
    DO UPDATE SET conversations = w.conversations + excluded.conversations;
    RETURN n;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION conversations_refresh(text[], text[], text[], timestamptz[]) IS 'Recomputes the conversations of the given rooms (platform, channel_id, room key) from the conversation holding each room''s earliest given time on (NULL: the whole room); called by the omnichat_messages triggers.';

-- conversations_rebuild recomputes every conversation (after the quiet gap changed).
-- +goose StatementBegin
CREATE FUNCTION conversations_rebuild() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t_pl    text[];
    t_ch    text[];
    t_rk    text[];
    t_since timestamptz[];
BEGIN
    PERFORM pg_advisory_xact_lock(1668247158, -1);
    DELETE FROM conversations;
    TRUNCATE conversation_agent_weeks, conversation_channel_weeks;
    SELECT array_agg(platform), array_agg(channel_id), array_agg(room_key), array_agg(NULL::timestamptz)
    INTO t_pl, t_ch, t_rk, t_since
    FROM (SELECT DISTINCT platform, channel_id, conversation_room_key(room_id, customer_user_id) AS room_key
          FROM omnichat_messages) r;
    RETURN conversations_refresh(t_pl, t_ch, t_rk, t_since);
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION conversations_rebuild() IS 'Recomputes every conversation from omnichat_messages, and the weekly rollups (used when conversation_settings.quiet_gap changes).';

-- conversation_weeks_rebuild recounts the weekly rollups from conversations (after the time zone
-- changed).
-- +goose StatementBegin
CREATE FUNCTION conversation_weeks_rebuild() RETURNS bigint LANGUAGE plpgsql SET work_mem = '256MB' AS $$
DECLARE
    tz text;
    n  bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1668247158, -1);
    SELECT COALESCE(max(time_zone), 'UTC') INTO tz FROM conversation_settings WHERE id = 1;
    TRUNCATE conversation_agent_weeks, conversation_channel_weeks;
    INSERT INTO conversation_channel_weeks (week, platform, channel_id, replied_by, measure, bucket, conversations)
    SELECT (date_trunc('week', c.opened_at AT TIME ZONE tz))::date, c.platform, c.channel_id, COALESCE(c.replied_by, 'none'),
           v.measure, v.bucket, count(*)
    FROM conversations c
    CROSS JOIN LATERAL (VALUES ('first', COALESCE(response_bucket(c.first_response_seconds), -1)),
                               ('agent', CASE WHEN c.first_agent_message_id IS NOT NULL THEN response_bucket(c.agent_response_seconds) END))
         AS v (measure, bucket)
    WHERE v.bucket IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6;
    INSERT INTO conversation_agent_weeks (week, agent_user_id, agent_email, bucket, conversations)
    SELECT (date_trunc('week', opened_at AT TIME ZONE tz))::date, first_agent_user_id, lower(trim(first_agent_email)),
           response_bucket(agent_response_seconds), count(*)
    FROM conversations WHERE first_agent_message_id IS NOT NULL
    GROUP BY 1, 2, 3, 4;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION conversation_weeks_rebuild() IS 'Recounts conversation_agent_weeks and conversation_channel_weeks from conversations (used when conversation_settings.time_zone changes).';

-- +goose StatementBegin
CREATE FUNCTION conversations_messages_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t_pl    text[];
    t_ch    text[];
    t_rk    text[];
    t_since timestamptz[];
BEGIN
    SELECT array_agg(platform), array_agg(channel_id), array_agg(room_key), array_agg(since)
    INTO t_pl, t_ch, t_rk, t_since
    FROM (SELECT platform, channel_id, conversation_room_key(room_id, customer_user_id) AS room_key, min(sent_at) AS since
          FROM new_rows GROUP BY 1, 2, 3) r;
    PERFORM conversations_refresh(t_pl, t_ch, t_rk, t_since);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- An update matters only when it changes what conversations read: not, say, messageStatus.
-- +goose StatementBegin
CREATE FUNCTION conversations_messages_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t_pl    text[];
    t_ch    text[];
    t_rk    text[];
    t_since timestamptz[];
BEGIN
    SELECT array_agg(platform), array_agg(channel_id), array_agg(room_key), array_agg(since)
    INTO t_pl, t_ch, t_rk, t_since
    FROM (SELECT x.platform, x.channel_id, x.room_key, min(x.sent_at) AS since
          FROM (SELECT o.id AS old_id, n.id AS new_id,
                       o.platform AS o_platform, o.channel_id AS o_channel, conversation_room_key(o.room_id, o.customer_user_id) AS o_room, o.sent_at AS o_at,
                       n.platform AS n_platform, n.channel_id AS n_channel, conversation_room_key(n.room_id, n.customer_user_id) AS n_room, n.sent_at AS n_at,
                       (o.platform, o.channel_id, o.room_id, o.customer_user_id, o.sender_type, o.sender_user_id, o.sender_name, o.sent_at, o.raw ->> 'senderEmail')
                       IS DISTINCT FROM
                       (n.platform, n.channel_id, n.room_id, n.customer_user_id, n.sender_type, n.sender_user_id, n.sender_name, n.sent_at, n.raw ->> 'senderEmail') AS changed
                FROM old_rows o FULL JOIN new_rows n ON n.id = o.id) d
          CROSS JOIN LATERAL (VALUES (d.o_platform, d.o_channel, d.o_room, d.o_at), (d.n_platform, d.n_channel, d.n_room, d.n_at))
              AS x (platform, channel_id, room_key, sent_at)
          WHERE d.changed AND x.platform IS NOT NULL
          GROUP BY 1, 2, 3) r;
    PERFORM conversations_refresh(t_pl, t_ch, t_rk, t_since);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION conversations_messages_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t_pl    text[];
    t_ch    text[];
    t_rk    text[];
    t_since timestamptz[];
BEGIN
    SELECT array_agg(platform), array_agg(channel_id), array_agg(room_key), array_agg(since)
    INTO t_pl, t_ch, t_rk, t_since
    FROM (SELECT platform, channel_id, conversation_room_key(room_id, customer_user_id) AS room_key, min(sent_at) AS since
          FROM old_rows GROUP BY 1, 2, 3) r;
    PERFORM conversations_refresh(t_pl, t_ch, t_rk, t_since);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION conversations_messages_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1668247158, -1);
    TRUNCATE conversations, conversation_agent_weeks, conversation_channel_weeks;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER conversations_on_insert AFTER INSERT ON omnichat_messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION conversations_messages_inserted();
CREATE TRIGGER conversations_on_update AFTER UPDATE ON omnichat_messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION conversations_messages_updated();
CREATE TRIGGER conversations_on_delete AFTER DELETE ON omnichat_messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION conversations_messages_deleted();
CREATE TRIGGER conversations_on_truncate AFTER TRUNCATE ON omnichat_messages
    FOR EACH STATEMENT EXECUTE FUNCTION conversations_messages_truncated();

-- Messages written before this migration.
SELECT conversations_rebuild();

-- Agent messages and the system user who sent them.
CREATE VIEW v_agent_messages AS
SELECT m.id                                          AS message_id,
       m.platform,
       m.channel_id,
       m.room_id,
       m.customer_user_id,
       m.sent_at,
       m.sender_user_id,
       m.sender_name,
       COALESCE(m.raw ->> 'senderEmail', '')          AS sender_email,
       su.username                                   AS system_username,
       su.name                                       AS system_user_name,
       CASE WHEN by_id.username IS NOT NULL THEN 'user_id'
            WHEN by_email.username IS NOT NULL THEN 'email' END AS linked_by
FROM omnichat_messages m
LEFT JOIN omnichat_system_users by_id ON by_id.username = m.sender_user_id
LEFT JOIN (SELECT lower(email) AS email_key, min(username) AS username
           FROM omnichat_system_users WHERE email <> '' GROUP BY 1) by_email
       ON by_id.username IS NULL AND by_email.email_key = lower(trim(m.raw ->> 'senderEmail'))
LEFT JOIN omnichat_system_users su ON su.username = COALESCE(by_id.username, by_email.username)
WHERE m.sender_type = 'agent';

COMMENT ON VIEW v_agent_messages IS 'Every message a human agent sent, with the system user who sent it: linked by senderUserId = omnichat_system_users.username, else by senderEmail = email (case-insensitive); NULL when neither matches (the agent was never listed, or the message carries neither).';
COMMENT ON COLUMN v_agent_messages.message_id       IS 'omnichat_messages.id.';
COMMENT ON COLUMN v_agent_messages.platform         IS 'Platform of the channel.';
COMMENT ON COLUMN v_agent_messages.channel_id       IS 'Omnichat channel id.';
COMMENT ON COLUMN v_agent_messages.room_id          IS 'Conversation room id.';
COMMENT ON COLUMN v_agent_messages.customer_user_id IS 'The customer of the room.';
COMMENT ON COLUMN v_agent_messages.sent_at          IS 'When the message was sent.';
COMMENT ON COLUMN v_agent_messages.sender_user_id   IS 'senderUserId: the agent''s Omnichat user id.';
COMMENT ON COLUMN v_agent_messages.sender_name      IS 'senderName: the agent''s user name as the message carries it.';
COMMENT ON COLUMN v_agent_messages.sender_email     IS 'senderEmail: the agent''s login email as the message carries it; empty when none.';
COMMENT ON COLUMN v_agent_messages.system_username  IS 'The linked omnichat_system_users.username; NULL when the message links to no system user.';
COMMENT ON COLUMN v_agent_messages.system_user_name IS 'Name of the linked system user.';
COMMENT ON COLUMN v_agent_messages.linked_by        IS 'How the link was made: user_id (senderUserId = username) or email (senderEmail = email); NULL when unlinked.';

CREATE VIEW v_conversations AS
SELECT c.opening_message_id,
       c.platform,
       c.channel_id,
       COALESCE(ch.channel_name, '')                 AS channel_name,
       c.room_id,
       c.customer_user_id,
       COALESCE(ct.merged_into, ct.id)               AS contact_id,
       c.opened_at,
       c.ended_at,
       CASE WHEN c.first_reply_at IS NOT NULL THEN 'replied'
            WHEN c.ended_at IS NULL THEN 'waiting'
            ELSE 'unanswered' END                    AS status,
       c.messages,
       c.customer_messages,
       c.first_reply_at,
       c.replied_by,
       c.first_reply_sender_type,
       c.first_reply_sender_name,
       COALESCE(r_id.username, r_email.username)     AS first_reply_system_username,
       c.first_response_seconds,
       c.first_agent_reply_at,
       COALESCE(a_id.username, a_email.username)     AS agent_username,
       COALESCE(NULLIF(a_user.name, ''), c.first_agent_name) AS agent_name,
       c.agent_response_seconds
FROM conversations c
LEFT JOIN omnichat_channels ch ON ch.platform = c.platform AND ch.channel_id = c.channel_id
LEFT JOIN contact_identities ci ON ci.platform = c.platform AND ci.channel_id = c.channel_id AND ci.user_id = c.customer_user_id
LEFT JOIN contacts ct ON ct.id = ci.contact_id
LEFT JOIN omnichat_system_users r_id ON c.first_reply_sender_type = 'agent' AND r_id.username = c.first_reply_sender_user_id
LEFT JOIN (SELECT lower(email) AS email_key, min(username) AS username
           FROM omnichat_system_users WHERE email <> '' GROUP BY 1) r_email
       ON c.first_reply_sender_type = 'agent' AND r_id.username IS NULL AND r_email.email_key = lower(trim(c.first_reply_sender_email))
LEFT JOIN omnichat_system_users a_id ON a_id.username = c.first_agent_user_id
LEFT JOIN (SELECT lower(email) AS email_key, min(username) AS username
           FROM omnichat_system_users WHERE email <> '' GROUP BY 1) a_email
       ON a_id.username IS NULL AND a_email.email_key = lower(trim(c.first_agent_email))
LEFT JOIN omnichat_system_users a_user ON a_user.username = COALESCE(a_id.username, a_email.username);

COMMENT ON VIEW v_conversations IS 'conversations with what analysts ask of them: status, the channel''s name, the customer''s live contact, and the system users who answered (linked as in v_agent_messages).';
COMMENT ON COLUMN v_conversations.opening_message_id          IS 'The customer message that opened the conversation (conversations.opening_message_id).';
COMMENT ON COLUMN v_conversations.platform                    IS 'Platform of the channel.';
COMMENT ON COLUMN v_conversations.channel_id                  IS 'Omnichat channel id.';
COMMENT ON COLUMN v_conversations.channel_name                IS 'Channel name from omnichat_channels; empty when the channel is not listed.';
COMMENT ON COLUMN v_conversations.room_id                     IS 'Omnichat roomId; empty when the messages carry none.';
COMMENT ON COLUMN v_conversations.customer_user_id            IS 'The customer (contact_identities.user_id within platform and channel).';
COMMENT ON COLUMN v_conversations.contact_id                  IS 'The customer''s live contact (contacts.id, merges followed); NULL until reconcile has seen the identity.';
COMMENT ON COLUMN v_conversations.opened_at                   IS 'When the opening customer message was sent.';
COMMENT ON COLUMN v_conversations.ended_at                    IS 'When the room''s next conversation opened; NULL for the latest.';
COMMENT ON COLUMN v_conversations.status                      IS 'replied (someone answered), waiting (no answer yet, and the room''s latest conversation) or unanswered (no answer before the customer opened a new conversation).';
COMMENT ON COLUMN v_conversations.messages                    IS 'Messages of any sender in the conversation.';
COMMENT ON COLUMN v_conversations.customer_messages           IS 'Customer messages in the conversation.';
COMMENT ON COLUMN v_conversations.first_reply_at              IS 'When the first response (agent, bot or AI) was sent.';
COMMENT ON COLUMN v_conversations.replied_by                  IS 'agent or bot (bot and ai-chat): who answered first.';
COMMENT ON COLUMN v_conversations.first_reply_sender_type     IS 'agent, bot or ai-chat.';
COMMENT ON COLUMN v_conversations.first_reply_sender_name     IS 'senderName of the first response.';
COMMENT ON COLUMN v_conversations.first_reply_system_username IS 'The system user who answered first, when an agent did and the message links (v_agent_messages); NULL otherwise.';
COMMENT ON COLUMN v_conversations.first_response_seconds      IS 'Seconds to the first response, bots included.';
COMMENT ON COLUMN v_conversations.first_agent_reply_at        IS 'When the first human agent answered.';
COMMENT ON COLUMN v_conversations.agent_username              IS 'The system user of the first agent message; NULL when it links to none (see first_agent_user_id in conversations).';
COMMENT ON COLUMN v_conversations.agent_name                  IS 'Name of that system user, else the senderName of the first agent message.';
COMMENT ON COLUMN v_conversations.agent_response_seconds      IS 'Seconds to the first human answer.';

-- Percentiles from the weekly rollups: the first bucket whose running count reaches p of the
-- group's total (nearest rank), reported as the bucket's midpoint.
CREATE VIEW v_agent_response_times AS
WITH linked AS (
    SELECT w.week, COALESCE(by_id.username, by_email.username) AS agent_username,
           w.agent_user_id, w.agent_email, w.bucket, w.conversations
    FROM conversation_agent_weeks w
    LEFT JOIN omnichat_system_users by_id ON by_id.username = w.agent_user_id
    LEFT JOIN (SELECT lower(trim(email)) AS email_key, min(username) AS username
               FROM omnichat_system_users WHERE email <> '' GROUP BY 1) by_email
           ON by_id.username IS NULL AND by_email.email_key = w.agent_email
), grouped AS (
    -- A linked agent is one group whatever id or email its messages carried; an unlinked
    -- sender is one group per user id and email.
    SELECT week, agent_username,
           CASE WHEN agent_username IS NULL THEN agent_user_id END AS sender_user_id,
           CASE WHEN agent_username IS NULL THEN agent_email END   AS sender_email,
           bucket, sum(conversations) AS n
    FROM linked
    GROUP BY 1, 2, 3, 4, 5
), ranked AS (
    SELECT g.*,
           sum(g.n) OVER (PARTITION BY g.week, g.agent_username, g.sender_user_id, g.sender_email ORDER BY g.bucket) AS running,
           sum(g.n) OVER (PARTITION BY g.week, g.agent_username, g.sender_user_id, g.sender_email) AS total
    FROM grouped g
    WHERE g.n > 0
)
SELECT r.week, r.agent_username, u.name AS agent_name, r.sender_user_id, r.sender_email,
       max(r.total)                                                                   AS conversations,
       min(response_bucket_seconds(r.bucket)) FILTER (WHERE r.running >= 0.5 * r.total) AS p50_seconds,
       min(response_bucket_seconds(r.bucket)) FILTER (WHERE r.running >= 0.9 * r.total) AS p90_seconds
FROM ranked r
LEFT JOIN omnichat_system_users u ON u.username = r.agent_username
GROUP BY r.week, r.agent_username, u.name, r.sender_user_id, r.sender_email;

COMMENT ON VIEW v_agent_response_times IS 'How fast each agent answers, per week: conversations whose first human answer the agent gave, and the median and 90th percentile of the time to it (from conversation_agent_weeks: each within 1% of the exact value). Filter on week.';
COMMENT ON COLUMN v_agent_response_times.week           IS 'Monday of the week the conversations opened in (conversation_settings.time_zone).';
COMMENT ON COLUMN v_agent_response_times.agent_username IS 'The system user (omnichat_system_users.username) the first agent messages link to (v_agent_messages); NULL for senders that link to none.';
COMMENT ON COLUMN v_agent_response_times.agent_name     IS 'Name of that system user.';
COMMENT ON COLUMN v_agent_response_times.sender_user_id IS 'For a sender that links to no system user: the senderUserId its messages carry; NULL when linked.';
COMMENT ON COLUMN v_agent_response_times.sender_email   IS 'For a sender that links to no system user: the senderEmail its messages carry (lower-cased); NULL when linked.';
COMMENT ON COLUMN v_agent_response_times.conversations  IS 'Conversations the agent answered first among humans.';
COMMENT ON COLUMN v_agent_response_times.p50_seconds    IS 'Median seconds from the customer''s opening message to the agent''s first answer.';
COMMENT ON COLUMN v_agent_response_times.p90_seconds    IS '90th percentile of those seconds.';

CREATE VIEW v_shop_response_times AS
WITH linked AS (
    SELECT w.week, COALESCE(by_id.username, by_email.username) AS agent_username, w.bucket, w.conversations
    FROM conversation_agent_weeks w
    LEFT JOIN omnichat_system_users by_id ON by_id.username = w.agent_user_id
    LEFT JOIN (SELECT lower(trim(email)) AS email_key, min(username) AS username
               FROM omnichat_system_users WHERE email <> '' GROUP BY 1) by_email
           ON by_id.username IS NULL AND by_email.email_key = w.agent_email
), shops AS (
    SELECT u.username, COALESCE(s.shop ->> 'id', '') AS shop_id, COALESCE(s.shop ->> 'code', '') AS shop_code,
           COALESCE(s.shop ->> 'name', '') AS shop_name
    FROM omnichat_system_users u CROSS JOIN LATERAL jsonb_array_elements(u.shops) AS s (shop)
    WHERE jsonb_typeof(u.shops) = 'array'
), grouped AS (
    SELECT l.week, s.shop_id, s.shop_code, s.shop_name, l.bucket, sum(l.conversations) AS n
    FROM linked l JOIN shops s ON s.username = l.agent_username
    GROUP BY 1, 2, 3, 4, 5
), ranked AS (
    SELECT g.*,
           sum(g.n) OVER (PARTITION BY g.week, g.shop_id, g.shop_code, g.shop_name ORDER BY g.bucket) AS running,
           sum(g.n) OVER (PARTITION BY g.week, g.shop_id, g.shop_code, g.shop_name) AS total
    FROM grouped g
    WHERE g.n > 0
)
SELECT week, shop_id, shop_code, shop_name,
       max(total)                                                                 AS conversations,
       min(response_bucket_seconds(bucket)) FILTER (WHERE running >= 0.5 * total) AS p50_seconds,
       min(response_bucket_seconds(bucket)) FILTER (WHERE running >= 0.9 * total) AS p90_seconds
FROM ranked
GROUP BY week, shop_id, shop_code, shop_name;

COMMENT ON VIEW v_shop_response_times IS 'How fast each shop''s agents answer, per week: conversations whose first human answer came from an agent of the shop (omnichat_system_users.shops; an agent in several shops counts in each), median and 90th percentile of the time to it (within 1%). Filter on week.';
COMMENT ON COLUMN v_shop_response_times.week          IS 'Monday of the week the conversations opened in (conversation_settings.time_zone).';
COMMENT ON COLUMN v_shop_response_times.shop_id       IS 'Omnichat shop id.';
COMMENT ON COLUMN v_shop_response_times.shop_code     IS 'Shop code.';
COMMENT ON COLUMN v_shop_response_times.shop_name     IS 'Shop name.';
COMMENT ON COLUMN v_shop_response_times.conversations IS 'Conversations first answered (among humans) by an agent of the shop.';
COMMENT ON COLUMN v_shop_response_times.p50_seconds   IS 'Median seconds to that answer.';
COMMENT ON COLUMN v_shop_response_times.p90_seconds   IS '90th percentile of those seconds.';

CREATE VIEW v_channel_response_times AS
WITH grouped AS (
    SELECT week, platform, channel_id, measure, bucket, sum(conversations) AS n
    FROM conversation_channel_weeks
    GROUP BY 1, 2, 3, 4, 5
), ranked AS (
    SELECT g.*,
           sum(g.n) OVER (PARTITION BY g.week, g.platform, g.channel_id, g.measure, g.bucket >= 0 ORDER BY g.bucket) AS running,
           sum(g.n) OVER (PARTITION BY g.week, g.platform, g.channel_id, g.measure, g.bucket >= 0) AS total
    FROM grouped g
    WHERE g.n > 0
)
SELECT r.week, r.platform, r.channel_id, COALESCE(ch.channel_name, '') AS channel_name,
       COALESCE(sum(r.n) FILTER (WHERE r.measure = 'first'), 0)                         AS conversations,
       COALESCE(sum(r.n) FILTER (WHERE r.measure = 'first' AND r.bucket < 0), 0)          AS no_answer,
       min(response_bucket_seconds(r.bucket)) FILTER (WHERE r.measure = 'first' AND r.bucket >= 0 AND r.running >= 0.5 * r.total) AS p50_seconds,
       min(response_bucket_seconds(r.bucket)) FILTER (WHERE r.measure = 'first' AND r.bucket >= 0 AND r.running >= 0.9 * r.total) AS p90_seconds,
       COALESCE(sum(r.n) FILTER (WHERE r.measure = 'agent'), 0)                         AS agent_answered,
       min(response_bucket_seconds(r.bucket)) FILTER (WHERE r.measure = 'agent' AND r.running >= 0.5 * r.total) AS p50_agent_seconds,
       min(response_bucket_seconds(r.bucket)) FILTER (WHERE r.measure = 'agent' AND r.running >= 0.9 * r.total) AS p90_agent_seconds
FROM ranked r
LEFT JOIN omnichat_channels ch ON ch.platform = r.platform AND ch.channel_id = r.channel_id
GROUP BY r.week, r.platform, r.channel_id, ch.channel_name;

COMMENT ON VIEW v_channel_response_times IS 'First-response times per channel and week (from conversation_channel_weeks; percentiles within 1%): every conversation opened, how many no one answered, the median and 90th percentile of the time to the first answer (bots included), and of the time to the first human answer. Filter on week.';
COMMENT ON COLUMN v_channel_response_times.week              IS 'Monday of the week the conversations opened in (conversation_settings.time_zone).';
COMMENT ON COLUMN v_channel_response_times.platform          IS 'Platform of the channel.';
COMMENT ON COLUMN v_channel_response_times.channel_id        IS 'Omnichat channel id.';
COMMENT ON COLUMN v_channel_response_times.channel_name      IS 'Channel name from omnichat_channels; empty when the channel is not listed.';
COMMENT ON COLUMN v_channel_response_times.conversations     IS 'Conversations opened.';
COMMENT ON COLUMN v_channel_response_times.no_answer         IS 'Of those, conversations no agent, bot or AI answered.';
COMMENT ON COLUMN v_channel_response_times.p50_seconds       IS 'Median seconds to the first answer, among answered conversations.';
COMMENT ON COLUMN v_channel_response_times.p90_seconds       IS '90th percentile of those seconds.';
COMMENT ON COLUMN v_channel_response_times.agent_answered    IS 'Conversations a human agent answered (first or after a bot).';
COMMENT ON COLUMN v_channel_response_times.p50_agent_seconds IS 'Median seconds to the first human answer.';
COMMENT ON COLUMN v_channel_response_times.p90_agent_seconds IS '90th percentile of those seconds.';

CREATE VIEW v_first_reply_times AS
WITH grouped AS (
    SELECT week, replied_by, measure, bucket, sum(conversations) AS n
    FROM conversation_channel_weeks
    GROUP BY 1, 2, 3, 4
), ranked AS (
    SELECT g.*,
           sum(g.n) OVER (PARTITION BY g.week, g.replied_by, g.measure ORDER BY g.bucket) AS running,
           sum(g.n) OVER (PARTITION BY g.week, g.replied_by, g.measure) AS total
    FROM grouped g
    WHERE g.n > 0
)
SELECT week, replied_by,
       COALESCE(sum(n) FILTER (WHERE measure = 'first'), 0) AS conversations,
       min(response_bucket_seconds(bucket)) FILTER (WHERE measure = 'first' AND bucket >= 0 AND running >= 0.5 * total) AS p50_seconds,
       min(response_bucket_seconds(bucket)) FILTER (WHERE measure = 'first' AND bucket >= 0 AND running >= 0.9 * total) AS p90_seconds,
       COALESCE(sum(n) FILTER (WHERE measure = 'agent'), 0) AS agent_answered
FROM ranked
GROUP BY week, replied_by;

COMMENT ON VIEW v_first_reply_times IS 'Who answers first, per week: conversations first answered by an agent, by a bot (bot or ai-chat), or by no one (none), with the median and 90th percentile of the time to that first answer (from conversation_channel_weeks; within 1%). Filter on week.';
COMMENT ON COLUMN v_first_reply_times.week           IS 'Monday of the week the conversations opened in (conversation_settings.time_zone).';
COMMENT ON COLUMN v_first_reply_times.replied_by     IS 'agent, bot, or none (no one answered).';
COMMENT ON COLUMN v_first_reply_times.conversations  IS 'Conversations opened that week that were first answered so.';
COMMENT ON COLUMN v_first_reply_times.p50_seconds    IS 'Median seconds to the first answer; NULL for none.';
COMMENT ON COLUMN v_first_reply_times.p90_seconds    IS '90th percentile of those seconds.';
COMMENT ON COLUMN v_first_reply_times.agent_answered IS 'Of those, conversations a human agent answered too (for bot: the bot answered first, then a person).';

-- +goose Down
DROP VIEW v_first_reply_times;
DROP VIEW v_channel_response_times;
DROP VIEW v_shop_response_times;
DROP VIEW v_agent_response_times;
DROP VIEW v_conversations;
DROP VIEW v_agent_messages;
DROP TRIGGER conversations_on_truncate ON omnichat_messages;
DROP TRIGGER conversations_on_delete ON omnichat_messages;
DROP TRIGGER conversations_on_update ON omnichat_messages;
DROP TRIGGER conversations_on_insert ON omnichat_messages;
DROP FUNCTION conversations_messages_truncated();
DROP FUNCTION conversations_messages_deleted();
DROP FUNCTION conversations_messages_updated();
DROP FUNCTION conversations_messages_inserted();
DROP FUNCTION conversation_weeks_rebuild();
DROP FUNCTION conversations_rebuild();
DROP FUNCTION conversations_refresh(text[], text[], text[], timestamptz[]);
DROP TABLE conversation_channel_weeks;
DROP TABLE conversation_agent_weeks;
DROP FUNCTION response_bucket_seconds(integer);
DROP FUNCTION response_bucket(double precision);
DROP TABLE conversations;
DROP TABLE conversation_settings;
DROP INDEX omnichat_messages_room_idx;
DROP FUNCTION conversation_room_key(text, text);
COMMENT ON COLUMN pull_errors.stream IS 'Stream the record came from: channels, contacts, tagging_logs or messages.';
DROP TABLE omnichat_system_users;
