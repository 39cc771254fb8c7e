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

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION conversations_refresh(p_platform text[], p_channel text[], p_room text[], p_since timestamptz[])
RETURNS bigint LANGUAGE plpgsql SET work_mem = '256MB'
-- Every table is read by index, room by room: a page touches a few rooms of a table that may have
-- just grown, and statistics that lag make a whole-table scan look cheaper than it is.
SET enable_seqscan = off AS $$
DECLARE
    gap        interval;
    tz         text;
    -- Every touched room, read from its earliest touched time (since; -infinity: the whole room),
    -- with the latest customer message before since (prev) and, when one opened before since,
    -- the conversation holding since (h_): its key, opening, and whether its first reply and
    -- first agent reply came before since.
    r_platform text[]; r_channel text[]; r_room text[]; r_since timestamptz[]; r_prev timestamptz[];
    r_h_id     text[]; r_h_at timestamptz[]; r_h_reply bool[]; r_h_agent bool[];
    n          bigint;
    -- What the replaced (d_) and written (i_) conversations counted in the weekly rollups.
    d_opened timestamptz[]; d_platform text[]; d_channel text[]; d_replied text[]; d_first float8[];
    d_agent bool[]; d_agent_user text[]; d_agent_email text[]; d_agent_secs float8[];
    i_opened timestamptz[]; i_platform text[]; i_channel text[]; i_replied text[]; i_first float8[];
    i_agent bool[]; i_agent_user text[]; i_agent_email text[]; i_agent_secs float8[];
BEGIN
    IF COALESCE(cardinality(p_room), 0) = 0 THEN
        RETURN 0;
    END IF;
    -- One writer per room at a time, so the last one sees every committed message (each
    -- statement below takes a new snapshot). Each room has its own lock (class 1668247159, key
    -- the room's hash; 00010 had 256 buckets, so two pages of 100 rooms nearly always waited for
    -- each other), taken in key order: no deadlock. A statement touching more than 256 rooms (a
    -- bulk load) takes the one lock of every room instead, as a rebuild does, so it never fills
    -- the server's lock table.
    IF cardinality(p_room) > 256 THEN
        PERFORM pg_advisory_xact_lock(1668247158, -1);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(1668247158, -1);
        PERFORM pg_advisory_xact_lock(1668247159, b)
        FROM (SELECT DISTINCT hashtext(pl || '/' || ch || '/' || rk) AS b
              FROM unnest(p_platform, p_channel, p_room) AS t (pl, ch, rk) ORDER BY 1) s;
    END IF;

    SELECT COALESCE(max(quiet_gap), interval '24 hours'), COALESCE(max(time_zone), 'UTC') INTO gap, tz
    FROM conversation_settings WHERE id = 1;

    -- Nothing before since changed, so the conversation holding since keeps its opening, and its
    -- replies when they came before since. A room with no conversation opened before since has no
    -- customer message before it either (the first one would open one): nothing before since
    -- belongs to a conversation.
    SELECT array_agg(t.pl), array_agg(t.ch), array_agg(t.rk), array_agg(t.since), array_agg(p.prev_customer_at),
           array_agg(h.opening_message_id), array_agg(h.opened_at),
           array_agg(h.first_reply_at < t.since), array_agg(h.first_agent_reply_at < t.since),
           array_agg(h.opened_at) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.platform) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.channel_id) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.replied_by) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.first_response_seconds) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.first_agent_message_id IS NOT NULL) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.first_agent_user_id) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.first_agent_email) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.agent_response_seconds) FILTER (WHERE h.opened_at IS NOT NULL)
    INTO r_platform, r_channel, r_room, r_since, r_prev, r_h_id, r_h_at, r_h_reply, r_h_agent,
         d_opened, d_platform, d_channel, d_replied, d_first, d_agent, d_agent_user, d_agent_email, d_agent_secs
    FROM (SELECT pl, ch, rk, min(COALESCE(since, '-infinity')) AS since
          FROM unnest(p_platform, p_channel, p_room, p_since) AS t (pl, ch, rk, since)
          GROUP BY 1, 2, 3) t
    LEFT JOIN LATERAL (
        SELECT v.* FROM conversations v
        WHERE v.platform = t.pl AND v.channel_id = t.ch AND v.room_key = t.rk AND v.opened_at < t.since
        ORDER BY v.opened_at DESC LIMIT 1) h ON true
    LEFT JOIN LATERAL (
        -- At or after the holding opening, itself a customer message.
        SELECT m.sent_at AS prev_customer_at FROM omnichat_messages m
        WHERE h.opened_at IS NOT NULL AND m.platform = t.pl AND m.channel_id = t.ch
          AND conversation_room_key(m.room_id, m.customer_user_id) = t.rk
          AND m.sent_at >= h.opened_at AND m.sent_at < t.since AND m.sender_type = 'customer'
        ORDER BY m.sent_at DESC LIMIT 1) p ON true;

    -- The conversations opened at or after since are computed again.
    -- Found room by room through conversations_room_idx (a join could pick a scan of the whole
    -- table, which the statistics of a table just written to make look cheap).
    WITH d AS (
        DELETE FROM conversations v
        WHERE v.opening_message_id = ANY (ARRAY(
            SELECT c.opening_message_id
            FROM unnest(r_platform, r_channel, r_room, r_since) AS t (pl, ch, rk, since)
            CROSS JOIN LATERAL (
                SELECT c.opening_message_id FROM conversations c
                WHERE c.platform = t.pl AND c.channel_id = t.ch AND c.room_key = t.rk AND c.opened_at >= t.since) c))
        RETURNING v.opened_at, v.platform, v.channel_id, v.replied_by, v.first_response_seconds,
                  v.first_agent_message_id IS NOT NULL AS agent, v.first_agent_user_id, v.first_agent_email, v.agent_response_seconds)
    SELECT d_opened || array_agg(opened_at), d_platform || array_agg(platform), d_channel || array_agg(channel_id),
           d_replied || array_agg(replied_by), d_first || array_agg(first_response_seconds),
           d_agent || array_agg(agent), d_agent_user || array_agg(first_agent_user_id),
           d_agent_email || array_agg(first_agent_email), d_agent_secs || array_agg(agent_response_seconds)
    INTO d_opened, d_platform, d_channel, d_replied, d_first, d_agent, d_agent_user, d_agent_email, d_agent_secs
    FROM d;

    WITH m AS (
        -- Rooms are numbered (ri) so the sorts below compare integers, not three strings. Every
        -- room with a holding conversation gets one anchor row first (sent_at -infinity), so its
        -- conversation 0 below always exists and carries the holding conversation's key.
        SELECT t.ri, t.pl, t.ch, t.rk, t.since, t.prev AS seed_customer_at, t.h_id, t.h_at, t.h_reply, t.h_agent, x.*
        FROM unnest(r_platform, r_channel, r_room, r_since, r_prev, r_h_id, r_h_at, r_h_reply, r_h_agent) WITH ORDINALITY
             AS t (pl, ch, rk, since, prev, h_id, h_at, h_reply, h_agent, ri)
        CROSS JOIN LATERAL (
            SELECT false AS anchor, m.id, m.customer_user_id, m.room_id, m.sender_type, m.sender_user_id, m.sender_name,
                   m.raw ->> 'senderEmail' AS sender_email, m.sent_at,
                   m.sender_type IN ('agent', 'bot', 'ai-chat') AS is_reply
            FROM omnichat_messages m
            WHERE m.platform = t.pl AND m.channel_id = t.ch
              AND conversation_room_key(m.room_id, m.customer_user_id) = t.rk
              AND m.sent_at >= t.since
            UNION ALL
            SELECT true, '', '', '', '', '', '', '', '-infinity', false
            WHERE t.h_id IS NOT NULL) x
    ), counted AS (
        -- In room order: the previous customer message, and how many replies (any, and
        -- human) came so far.
        SELECT m.*,
               greatest(m.seed_customer_at,
                        max(m.sent_at) FILTER (WHERE m.sender_type = 'customer') OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS prev_customer_at,
               count(*) FILTER (WHERE m.is_reply) OVER (w ROWS UNBOUNDED PRECEDING) AS replies,
               count(*) FILTER (WHERE m.sender_type = 'agent') OVER (w ROWS UNBOUNDED PRECEDING) AS agent_replies
        FROM m
        WINDOW w AS (PARTITION BY m.ri ORDER BY m.sent_at, m.id COLLATE "C")
    ), opens AS (
        SELECT c.*, c.sender_type = 'customer' AND COALESCE(c.sent_at - c.prev_customer_at >= gap, true) AS opens
        FROM counted c
    ), seq AS (
        -- The conversation each message is in (0: the one holding since, or none), and the
        -- reply counts when it opened (0 for conversation 0): its first reply is the one after those.
        SELECT o.*,
               count(*) FILTER (WHERE o.opens) OVER (w ROWS UNBOUNDED PRECEDING) AS seq,
               COALESCE(max(o.replies) FILTER (WHERE o.opens) OVER (w ROWS UNBOUNDED PRECEDING), 0) AS replies_at_open,
               COALESCE(max(o.agent_replies) FILTER (WHERE o.opens) OVER (w ROWS UNBOUNDED PRECEDING), 0) AS agent_replies_at_open
        FROM opens o
        WINDOW w AS (PARTITION BY o.ri ORDER BY o.sent_at, o.id COLLATE "C")
    ), marked AS (
        SELECT s.*,
               s.is_reply AND s.replies = s.replies_at_open + 1 AS first_reply,
               s.sender_type = 'agent' AND s.agent_replies = s.agent_replies_at_open + 1 AS first_agent
        FROM seq s
    ), g AS (
        SELECT r.ri, r.seq, min(r.pl) AS platform, min(r.ch) AS channel_id, min(r.rk) AS room_key,
               min(r.since) AS since, min(r.h_id) AS h_id, min(r.h_at) AS h_at,
               bool_or(r.h_reply) AS h_reply, bool_or(r.h_agent) AS h_agent,
               min(r.id) FILTER (WHERE r.opens)                        AS opening_message_id,
               min(r.room_id) FILTER (WHERE r.opens)                   AS room_id,
               min(r.customer_user_id) FILTER (WHERE r.opens)          AS customer_user_id,
               min(r.sent_at) FILTER (WHERE r.opens)                   AS opened_at,
               count(*) FILTER (WHERE NOT r.anchor)                    AS messages,
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
    ), gn AS (
        -- Each conversation ends where the room's next one opens.
        SELECT g.*, lead(g.opened_at) OVER (PARTITION BY g.ri ORDER BY g.seq) AS next_opened_at
        FROM g
    ), ins AS (
        INSERT INTO conversations (opening_message_id, platform, channel_id, room_id, room_key, customer_user_id,
            opened_at, ended_at, messages, customer_messages,
            first_reply_at, first_reply_message_id, first_reply_sender_type, replied_by, first_reply_sender_user_id,
            first_reply_sender_name, first_reply_sender_email, first_response_seconds,
            first_agent_reply_at, first_agent_message_id, first_agent_user_id, first_agent_name, first_agent_email,
            agent_response_seconds, counted_until, counted_messages, counted_customer_messages)
        SELECT g.opening_message_id, g.platform, g.channel_id, g.room_id, g.room_key, g.customer_user_id,
               g.opened_at, g.next_opened_at, g.messages, g.customer_messages,
               g.first_reply_at, g.first_reply_message_id, g.first_reply_sender_type,
               CASE WHEN g.first_reply_sender_type = 'agent' THEN 'agent' WHEN g.first_reply_sender_type IS NOT NULL THEN 'bot' END,
               g.first_reply_sender_user_id, g.first_reply_sender_name,
               CASE WHEN g.first_reply_message_id IS NOT NULL THEN COALESCE(g.first_reply_sender_email, '') END,
               extract(epoch FROM g.first_reply_at - g.opened_at)::double precision,
               g.first_agent_reply_at, g.first_agent_message_id, g.first_agent_user_id, g.first_agent_name,
               CASE WHEN g.first_agent_message_id IS NOT NULL THEN COALESCE(g.first_agent_email, '') END,
               extract(epoch FROM g.first_agent_reply_at - g.opened_at)::double precision,
               g.opened_at, 0, 0
        FROM gn g
        WHERE g.seq > 0
        RETURNING opened_at, platform, channel_id, replied_by, first_response_seconds,
                  first_agent_message_id IS NOT NULL AS agent, first_agent_user_id, first_agent_email, agent_response_seconds
    ), upd AS (
        -- The holding conversations (conversation 0 of their room): they end where the room's
        -- next conversation now opens, their replies are kept when they came before since, and
        -- they hold their messages before since and the ones read up to that next opening.
        UPDATE conversations v
        SET ended_at = h.next_opened_at,
            counted_until = h.since, counted_messages = c.messages, counted_customer_messages = c.customer_messages,
            messages = c.messages + h.messages,
            customer_messages = c.customer_messages + h.customer_messages,
            first_reply_at             = CASE WHEN h.h_reply THEN v.first_reply_at ELSE h.first_reply_at END,
            first_reply_message_id     = CASE WHEN h.h_reply THEN v.first_reply_message_id ELSE h.first_reply_message_id END,
            first_reply_sender_type    = CASE WHEN h.h_reply THEN v.first_reply_sender_type ELSE h.first_reply_sender_type END,
            replied_by                 = CASE WHEN h.h_reply THEN v.replied_by
                                              WHEN h.first_reply_sender_type = 'agent' THEN 'agent'
                                              WHEN h.first_reply_sender_type IS NOT NULL THEN 'bot' END,
            first_reply_sender_user_id = CASE WHEN h.h_reply THEN v.first_reply_sender_user_id ELSE h.first_reply_sender_user_id END,
            first_reply_sender_name    = CASE WHEN h.h_reply THEN v.first_reply_sender_name ELSE h.first_reply_sender_name END,
            first_reply_sender_email   = CASE WHEN h.h_reply THEN v.first_reply_sender_email
                                              WHEN h.first_reply_message_id IS NOT NULL THEN COALESCE(h.first_reply_sender_email, '') END,
            first_response_seconds     = CASE WHEN h.h_reply THEN v.first_response_seconds
                                              ELSE extract(epoch FROM h.first_reply_at - v.opened_at)::double precision END,
            first_agent_reply_at       = CASE WHEN h.h_agent THEN v.first_agent_reply_at ELSE h.first_agent_reply_at END,
            first_agent_message_id     = CASE WHEN h.h_agent THEN v.first_agent_message_id ELSE h.first_agent_message_id END,
            first_agent_user_id        = CASE WHEN h.h_agent THEN v.first_agent_user_id ELSE h.first_agent_user_id END,
            first_agent_name           = CASE WHEN h.h_agent THEN v.first_agent_name ELSE h.first_agent_name END,
            first_agent_email          = CASE WHEN h.h_agent THEN v.first_agent_email
                                              WHEN h.first_agent_message_id IS NOT NULL THEN COALESCE(h.first_agent_email, '') END,
            agent_response_seconds     = CASE WHEN h.h_agent THEN v.agent_response_seconds
                                              ELSE extract(epoch FROM h.first_agent_reply_at - v.opened_at)::double precision END,
            computed_at = now()
        FROM gn h
        CROSS JOIN LATERAL (
            -- What it held before its last checkpoint, when that is not after since (nothing
            -- before since changed); otherwise nothing, counted from its opening.
            SELECT CASE WHEN k.counted_until <= h.since THEN k.counted_until ELSE h.h_at END AS from_at,
                   CASE WHEN k.counted_until <= h.since THEN k.counted_messages ELSE 0 END AS messages,
                   CASE WHEN k.counted_until <= h.since THEN k.counted_customer_messages ELSE 0 END AS customer_messages
            FROM conversations k WHERE k.opening_message_id = h.h_id) cp
        CROSS JOIN LATERAL (
            -- Its messages before since: those, and the ones from there to since (ties at the
            -- opening time ordered by id).
            SELECT cp.messages + count(*) AS messages,
                   cp.customer_messages + count(*) FILTER (WHERE m.sender_type = 'customer') AS customer_messages
            FROM omnichat_messages m
            WHERE m.platform = h.platform AND m.channel_id = h.channel_id
              AND conversation_room_key(m.room_id, m.customer_user_id) = h.room_key
              AND m.sent_at >= cp.from_at AND m.sent_at < h.since
              AND (m.sent_at > h.h_at OR m.id COLLATE "C" >= h.h_id COLLATE "C")) c
        WHERE h.seq = 0 AND h.h_id IS NOT NULL
          AND v.opening_message_id = h.h_id
        RETURNING v.opened_at, v.platform, v.channel_id, v.replied_by, v.first_response_seconds,
                  v.first_agent_message_id IS NOT NULL AS agent, v.first_agent_user_id, v.first_agent_email, v.agent_response_seconds
    ), w AS (
        SELECT 1 AS written, * FROM ins
        UNION ALL
        SELECT 0, * FROM upd
    )
    SELECT sum(written), array_agg(opened_at), array_agg(platform), array_agg(channel_id), array_agg(replied_by), array_agg(first_response_seconds),
           array_agg(agent), array_agg(first_agent_user_id), array_agg(first_agent_email), array_agg(agent_response_seconds)
    INTO n, i_opened, i_platform, i_channel, i_replied, i_first, i_agent, i_agent_user, i_agent_email, i_agent_secs
    FROM w;

    -- The weekly rollups move by what was written minus what was replaced: one statement each,
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
    RETURN COALESCE(n, 0);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- The function as 00019 left it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION conversations_refresh(p_platform text[], p_channel text[], p_room text[], p_since timestamptz[])
RETURNS bigint LANGUAGE plpgsql SET work_mem = '256MB'
-- Every table is read by index, room by room: a page touches a few rooms of a table that may have
-- just grown, and statistics that lag make a whole-table scan look cheaper than it is.
SET enable_seqscan = off AS $$
DECLARE
    gap        interval;
    tz         text;
    -- Every touched room, read from its earliest touched time (since; -infinity: the whole room),
    -- with the latest customer message before since (prev) and, when one opened before since,
    -- the conversation holding since (h_): its key, opening, and whether its first reply and
    -- first agent reply came before since.
    r_platform text[]; r_channel text[]; r_room text[]; r_since timestamptz[]; r_prev timestamptz[];
    r_h_id     text[]; r_h_at timestamptz[]; r_h_reply bool[]; r_h_agent bool[];
    n          bigint;
    -- What the replaced (d_) and written (i_) conversations counted in the weekly rollups.
    d_opened timestamptz[]; d_platform text[]; d_channel text[]; d_replied text[]; d_first float8[];
    d_agent bool[]; d_agent_user text[]; d_agent_email text[]; d_agent_secs float8[];
    i_opened timestamptz[]; i_platform text[]; i_channel text[]; i_replied text[]; i_first float8[];
    i_agent bool[]; i_agent_user text[]; i_agent_email text[]; i_agent_secs float8[];
BEGIN
    IF COALESCE(cardinality(p_room), 0) = 0 THEN
        RETURN 0;
    END IF;
    -- One writer per room at a time, so the last one sees every committed message (each
    -- statement below takes a new snapshot). Each room has its own lock (class 1668247159, key
    -- the room's hash; 00010 had 256 buckets, so two pages of 100 rooms nearly always waited for
    -- each other), taken in key order: no deadlock. A statement touching more than 256 rooms (a
    -- bulk load) takes the one lock of every room instead, as a rebuild does, so it never fills
    -- the server's lock table.
    IF cardinality(p_room) > 256 THEN
        PERFORM pg_advisory_xact_lock(1668247158, -1);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(1668247158, -1);
        PERFORM pg_advisory_xact_lock(1668247159, b)
        FROM (SELECT DISTINCT hashtext(pl || '/' || ch || '/' || rk) AS b
              FROM unnest(p_platform, p_channel, p_room) AS t (pl, ch, rk) ORDER BY 1) s;
    END IF;

    SELECT COALESCE(max(quiet_gap), interval '24 hours'), COALESCE(max(time_zone), 'UTC') INTO gap, tz
    FROM conversation_settings WHERE id = 1;

    -- Nothing before since changed, so the conversation holding since keeps its opening, and its
    -- replies when they came before since. A room with no conversation opened before since has no
    -- customer message before it either (the first one would open one): nothing before since
    -- belongs to a conversation.
    SELECT array_agg(t.pl), array_agg(t.ch), array_agg(t.rk), array_agg(t.since), array_agg(p.prev_customer_at),
           array_agg(h.opening_message_id), array_agg(h.opened_at),
           array_agg(h.first_reply_at < t.since), array_agg(h.first_agent_reply_at < t.since),
           array_agg(h.opened_at) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.platform) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.channel_id) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.replied_by) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.first_response_seconds) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.first_agent_message_id IS NOT NULL) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.first_agent_user_id) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.first_agent_email) FILTER (WHERE h.opened_at IS NOT NULL),
           array_agg(h.agent_response_seconds) FILTER (WHERE h.opened_at IS NOT NULL)
    INTO r_platform, r_channel, r_room, r_since, r_prev, r_h_id, r_h_at, r_h_reply, r_h_agent,
         d_opened, d_platform, d_channel, d_replied, d_first, d_agent, d_agent_user, d_agent_email, d_agent_secs
    FROM (SELECT pl, ch, rk, min(COALESCE(since, '-infinity')) AS since
          FROM unnest(p_platform, p_channel, p_room, p_since) AS t (pl, ch, rk, since)
          GROUP BY 1, 2, 3) t
    LEFT JOIN LATERAL (
        SELECT v.* FROM conversations v
        WHERE v.platform = t.pl AND v.channel_id = t.ch AND v.room_key = t.rk AND v.opened_at < t.since
        ORDER BY v.opened_at DESC LIMIT 1) h ON true
    LEFT JOIN LATERAL (
        -- At or after the holding opening, itself a customer message.
        SELECT m.sent_at AS prev_customer_at FROM omnichat_messages m
        WHERE h.opened_at IS NOT NULL AND m.platform = t.pl AND m.channel_id = t.ch
          AND conversation_room_key(m.room_id, m.customer_user_id) = t.rk
          AND m.sent_at >= h.opened_at AND m.sent_at < t.since AND m.sender_type = 'customer'
        ORDER BY m.sent_at DESC LIMIT 1) p ON true;

    -- The conversations opened at or after since are computed again.
    -- Found room by room through conversations_room_idx (a join could pick a scan of the whole
    -- table, which the statistics of a table just written to make look cheap).
    WITH d AS (
        DELETE FROM conversations v
        WHERE v.opening_message_id = ANY (ARRAY(
            SELECT c.opening_message_id
            FROM unnest(r_platform, r_channel, r_room, r_since) AS t (pl, ch, rk, since)
            CROSS JOIN LATERAL (
                SELECT c.opening_message_id FROM conversations c
                WHERE c.platform = t.pl AND c.channel_id = t.ch AND c.room_key = t.rk AND c.opened_at >= t.since) c))
        RETURNING v.opened_at, v.platform, v.channel_id, v.replied_by, v.first_response_seconds,
                  v.first_agent_message_id IS NOT NULL AS agent, v.first_agent_user_id, v.first_agent_email, v.agent_response_seconds)
    SELECT d_opened || array_agg(opened_at), d_platform || array_agg(platform), d_channel || array_agg(channel_id),
           d_replied || array_agg(replied_by), d_first || array_agg(first_response_seconds),
           d_agent || array_agg(agent), d_agent_user || array_agg(first_agent_user_id),
           d_agent_email || array_agg(first_agent_email), d_agent_secs || array_agg(agent_response_seconds)
    INTO d_opened, d_platform, d_channel, d_replied, d_first, d_agent, d_agent_user, d_agent_email, d_agent_secs
    FROM d;

    WITH m AS (
        -- Rooms are numbered (ri) so the sorts below compare integers, not three strings. Every
        -- room with a holding conversation gets one anchor row first (sent_at -infinity), so its
        -- conversation 0 below always exists and carries the holding conversation's key.
        SELECT t.ri, t.pl, t.ch, t.rk, t.since, t.prev AS seed_customer_at, t.h_id, t.h_at, t.h_reply, t.h_agent, x.*
        FROM unnest(r_platform, r_channel, r_room, r_since, r_prev, r_h_id, r_h_at, r_h_reply, r_h_agent) WITH ORDINALITY
             AS t (pl, ch, rk, since, prev, h_id, h_at, h_reply, h_agent, ri)
        CROSS JOIN LATERAL (
            SELECT false AS anchor, m.id, m.customer_user_id, m.room_id, m.sender_type, m.sender_user_id, m.sender_name,
                   m.raw ->> 'senderEmail' AS sender_email, m.sent_at,
                   m.sender_type IN ('agent', 'bot', 'ai-chat') AS is_reply
            FROM omnichat_messages m
            WHERE m.platform = t.pl AND m.channel_id = t.ch
              AND conversation_room_key(m.room_id, m.customer_user_id) = t.rk
              AND m.sent_at >= t.since
            UNION ALL
            SELECT true, '', '', '', '', '', '', '', '-infinity', false
            WHERE t.h_id IS NOT NULL) x
    ), counted AS (
        -- In room order: the previous customer message, and how many replies (any, and
        -- human) came so far.
        SELECT m.*,
               greatest(m.seed_customer_at,
                        max(m.sent_at) FILTER (WHERE m.sender_type = 'customer') OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS prev_customer_at,
               count(*) FILTER (WHERE m.is_reply) OVER (w ROWS UNBOUNDED PRECEDING) AS replies,
               count(*) FILTER (WHERE m.sender_type = 'agent') OVER (w ROWS UNBOUNDED PRECEDING) AS agent_replies
        FROM m
        WINDOW w AS (PARTITION BY m.ri ORDER BY m.sent_at, m.id COLLATE "C")
    ), opens AS (
        SELECT c.*, c.sender_type = 'customer' AND COALESCE(c.sent_at - c.prev_customer_at >= gap, true) AS opens
        FROM counted c
    ), seq AS (
        -- The conversation each message is in (0: the one holding since, or none), and the
        -- reply counts when it opened (0 for conversation 0): its first reply is the one after those.
        SELECT o.*,
               count(*) FILTER (WHERE o.opens) OVER (w ROWS UNBOUNDED PRECEDING) AS seq,
               COALESCE(max(o.replies) FILTER (WHERE o.opens) OVER (w ROWS UNBOUNDED PRECEDING), 0) AS replies_at_open,
               COALESCE(max(o.agent_replies) FILTER (WHERE o.opens) OVER (w ROWS UNBOUNDED PRECEDING), 0) AS agent_replies_at_open
        FROM opens o
        WINDOW w AS (PARTITION BY o.ri ORDER BY o.sent_at, o.id COLLATE "C")
    ), marked AS (
        SELECT s.*,
               s.is_reply AND s.replies = s.replies_at_open + 1 AS first_reply,
               s.sender_type = 'agent' AND s.agent_replies = s.agent_replies_at_open + 1 AS first_agent
        FROM seq s
    ), g AS (
        SELECT r.ri, r.seq, min(r.pl) AS platform, min(r.ch) AS channel_id, min(r.rk) AS room_key,
               min(r.since) AS since, min(r.h_id) AS h_id, min(r.h_at) AS h_at,
               bool_or(r.h_reply) AS h_reply, bool_or(r.h_agent) AS h_agent,
               min(r.id) FILTER (WHERE r.opens)                        AS opening_message_id,
               min(r.room_id) FILTER (WHERE r.opens)                   AS room_id,
               min(r.customer_user_id) FILTER (WHERE r.opens)          AS customer_user_id,
               min(r.sent_at) FILTER (WHERE r.opens)                   AS opened_at,
               count(*) FILTER (WHERE NOT r.anchor)                    AS messages,
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
    ), gn AS (
        -- Each conversation ends where the room's next one opens.
        SELECT g.*, lead(g.opened_at) OVER (PARTITION BY g.ri ORDER BY g.seq) AS next_opened_at
        FROM g
    ), ins AS (
        INSERT INTO conversations (opening_message_id, platform, channel_id, room_id, room_key, customer_user_id,
            opened_at, ended_at, messages, customer_messages,
            first_reply_at, first_reply_message_id, first_reply_sender_type, replied_by, first_reply_sender_user_id,
            first_reply_sender_name, first_reply_sender_email, first_response_seconds,
            first_agent_reply_at, first_agent_message_id, first_agent_user_id, first_agent_name, first_agent_email,
            agent_response_seconds, counted_until, counted_messages, counted_customer_messages)
        SELECT g.opening_message_id, g.platform, g.channel_id, g.room_id, g.room_key, g.customer_user_id,
               g.opened_at, g.next_opened_at, g.messages, g.customer_messages,
               g.first_reply_at, g.first_reply_message_id, g.first_reply_sender_type,
               CASE WHEN g.first_reply_sender_type = 'agent' THEN 'agent' WHEN g.first_reply_sender_type IS NOT NULL THEN 'bot' END,
               g.first_reply_sender_user_id, g.first_reply_sender_name,
               CASE WHEN g.first_reply_message_id IS NOT NULL THEN COALESCE(g.first_reply_sender_email, '') END,
               extract(epoch FROM g.first_reply_at - g.opened_at)::double precision,
               g.first_agent_reply_at, g.first_agent_message_id, g.first_agent_user_id, g.first_agent_name,
               CASE WHEN g.first_agent_message_id IS NOT NULL THEN COALESCE(g.first_agent_email, '') END,
               extract(epoch FROM g.first_agent_reply_at - g.opened_at)::double precision,
               g.opened_at, 0, 0
        FROM gn g
        WHERE g.seq > 0
        RETURNING opened_at, platform, channel_id, replied_by, first_response_seconds,
                  first_agent_message_id IS NOT NULL AS agent, first_agent_user_id, first_agent_email, agent_response_seconds
    ), upd AS (
        -- The holding conversations (conversation 0 of their room): they end where the room's
        -- next conversation now opens, their replies are kept when they came before since, and
        -- they hold their messages before since and the ones read up to that next opening.
        UPDATE conversations v
        SET ended_at = h.next_opened_at,
            counted_until = h.since, counted_messages = c.messages, counted_customer_messages = c.customer_messages,
            messages = c.messages + h.messages,
            customer_messages = c.customer_messages + h.customer_messages,
            first_reply_at             = CASE WHEN h.h_reply THEN v.first_reply_at ELSE h.first_reply_at END,
            first_reply_message_id     = CASE WHEN h.h_reply THEN v.first_reply_message_id ELSE h.first_reply_message_id END,
            first_reply_sender_type    = CASE WHEN h.h_reply THEN v.first_reply_sender_type ELSE h.first_reply_sender_type END,
            replied_by                 = CASE WHEN h.h_reply THEN v.replied_by
                                              WHEN h.first_reply_sender_type = 'agent' THEN 'agent'
                                              WHEN h.first_reply_sender_type IS NOT NULL THEN 'bot' END,
            first_reply_sender_user_id = CASE WHEN h.h_reply THEN v.first_reply_sender_user_id ELSE h.first_reply_sender_user_id END,
            first_reply_sender_name    = CASE WHEN h.h_reply THEN v.first_reply_sender_name ELSE h.first_reply_sender_name END,
            first_reply_sender_email   = CASE WHEN h.h_reply THEN v.first_reply_sender_email
                                              WHEN h.first_reply_message_id IS NOT NULL THEN COALESCE(h.first_reply_sender_email, '') END,
            first_response_seconds     = CASE WHEN h.h_reply THEN v.first_response_seconds
                                              ELSE extract(epoch FROM h.first_reply_at - v.opened_at)::double precision END,
            first_agent_reply_at       = CASE WHEN h.h_agent THEN v.first_agent_reply_at ELSE h.first_agent_reply_at END,
            first_agent_message_id     = CASE WHEN h.h_agent THEN v.first_agent_message_id ELSE h.first_agent_message_id END,
            first_agent_user_id        = CASE WHEN h.h_agent THEN v.first_agent_user_id ELSE h.first_agent_user_id END,
            first_agent_name           = CASE WHEN h.h_agent THEN v.first_agent_name ELSE h.first_agent_name END,
            first_agent_email          = CASE WHEN h.h_agent THEN v.first_agent_email
                                              WHEN h.first_agent_message_id IS NOT NULL THEN COALESCE(h.first_agent_email, '') END,
            agent_response_seconds     = CASE WHEN h.h_agent THEN v.agent_response_seconds
                                              ELSE extract(epoch FROM h.first_agent_reply_at - v.opened_at)::double precision END,
            computed_at = now()
        FROM gn h
        CROSS JOIN LATERAL (
            -- What it held before its last checkpoint, when that is not after since (nothing
            -- before since changed); otherwise nothing, counted from its opening.
            SELECT CASE WHEN k.counted_until <= h.since THEN k.counted_until ELSE h.h_at END AS from_at,
                   CASE WHEN k.counted_until <= h.since THEN k.counted_messages ELSE 0 END AS messages,
                   CASE WHEN k.counted_until <= h.since THEN k.counted_customer_messages ELSE 0 END AS customer_messages
            FROM conversations k WHERE k.opening_message_id = h.h_id) cp
        CROSS JOIN LATERAL (
            -- Its messages before since: those, and the ones from there to since (ties at the
            -- opening time ordered by id).
            SELECT cp.messages + count(*) AS messages,
                   cp.customer_messages + count(*) FILTER (WHERE m.sender_type = 'customer') AS customer_messages
            FROM omnichat_messages m
            WHERE m.platform = h.platform AND m.channel_id = h.channel_id
              AND conversation_room_key(m.room_id, m.customer_user_id) = h.room_key
              AND m.sent_at >= cp.from_at AND m.sent_at < h.since
              AND (m.sent_at > h.h_at OR m.id COLLATE "C" >= h.h_id COLLATE "C")) c
        WHERE h.seq = 0 AND h.h_id IS NOT NULL
          AND v.opening_message_id = ANY (r_h_id) AND v.opening_message_id = h.h_id
        RETURNING v.opened_at, v.platform, v.channel_id, v.replied_by, v.first_response_seconds,
                  v.first_agent_message_id IS NOT NULL AS agent, v.first_agent_user_id, v.first_agent_email, v.agent_response_seconds
    ), w AS (
        SELECT 1 AS written, * FROM ins
        UNION ALL
        SELECT 0, * FROM upd
    )
    SELECT sum(written), array_agg(opened_at), array_agg(platform), array_agg(channel_id), array_agg(replied_by), array_agg(first_response_seconds),
           array_agg(agent), array_agg(first_agent_user_id), array_agg(first_agent_email), array_agg(agent_response_seconds)
    INTO n, i_opened, i_platform, i_channel, i_replied, i_first, i_agent, i_agent_user, i_agent_email, i_agent_secs
    FROM w;

    -- The weekly rollups move by what was written minus what was replaced: one statement each,
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
    RETURN COALESCE(n, 0);
END
$$;
-- +goose StatementEnd
