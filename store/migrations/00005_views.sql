-- Views for analysts over the raw, master and operations tables (docs/analysts.md).
-- The push views (v_push_status) live with the push tables.

-- +goose Up
CREATE VIEW v_contact_360 AS
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

COMMENT ON VIEW v_contact_360 IS 'One row per live contact (merged tombstones left out): the master fields, its identities, tags, attributes and chat facts side by side.';
COMMENT ON COLUMN v_contact_360.contact_id               IS 'Stable contact id (contacts.id).';
COMMENT ON COLUMN v_contact_360.name                     IS 'Master name (contacts.name).';
COMMENT ON COLUMN v_contact_360.email                    IS 'Master email, lower-cased (contacts.email).';
COMMENT ON COLUMN v_contact_360.phone                    IS 'Master phone in E.164 (contacts.phone).';
COMMENT ON COLUMN v_contact_360.member_id                IS 'Master member id (contacts.member_id).';
COMMENT ON COLUMN v_contact_360.identities               IS 'Number of identities linked to the contact.';
COMMENT ON COLUMN v_contact_360.platforms                IS 'Distinct platforms the contact has identities on, sorted.';
COMMENT ON COLUMN v_contact_360.identity_keys            IS 'The contact''s identities as "platform/channel_id/user_id", sorted.';
COMMENT ON COLUMN v_contact_360.tags                     IS 'Current tags, sorted (details in contact_tags).';
COMMENT ON COLUMN v_contact_360.attributes               IS 'Custom attributes as a JSON object key → value (types in contact_attributes).';
COMMENT ON COLUMN v_contact_360.first_message_at         IS 'First message in any of the contact''s conversations; NULL when none.';
COMMENT ON COLUMN v_contact_360.last_message_at          IS 'Last message of any sender type.';
COMMENT ON COLUMN v_contact_360.last_customer_message_at IS 'Last message the customer sent.';
COMMENT ON COLUMN v_contact_360.last_agent_message_at    IS 'Last message a human agent sent.';
COMMENT ON COLUMN v_contact_360.messages_total           IS 'All messages in the contact''s conversations.';
COMMENT ON COLUMN v_contact_360.messages_7d              IS 'Messages in the 7 days up to facts_as_of.';
COMMENT ON COLUMN v_contact_360.messages_30d             IS 'Messages in the 30 days up to facts_as_of.';
COMMENT ON COLUMN v_contact_360.customer_messages_total  IS 'Messages the customer sent.';
COMMENT ON COLUMN v_contact_360.agent_messages_total     IS 'Messages human agents sent.';
COMMENT ON COLUMN v_contact_360.bot_messages_total       IS 'Messages bots and AI sent.';
COMMENT ON COLUMN v_contact_360.channels                 IS 'Channels with messages, as "platform/channel_id".';
COMMENT ON COLUMN v_contact_360.facts_as_of              IS 'The reconcile run the 7/30-day counts are as of (reconcile_state.as_of).';
COMMENT ON COLUMN v_contact_360.excluded_from_push       IS 'True when contact_overrides excludes the contact from pushing.';
COMMENT ON COLUMN v_contact_360.pinned_fields            IS 'Fields pinned by contact_overrides.';
COMMENT ON COLUMN v_contact_360.created_at               IS 'When reconcile created the contact.';
COMMENT ON COLUMN v_contact_360.updated_at               IS 'When the master record last really changed.';

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
COMMENT ON COLUMN v_daily_messages.day          IS 'Calendar day of sent_at in the session time zone.';
COMMENT ON COLUMN v_daily_messages.platform     IS 'Platform of the channel.';
COMMENT ON COLUMN v_daily_messages.channel_id   IS 'Omnichat channel id.';
COMMENT ON COLUMN v_daily_messages.channel_name IS 'Channel name from omnichat_channels; empty when the channel is not listed.';
COMMENT ON COLUMN v_daily_messages.sender_type  IS 'customer, agent, bot or ai-chat.';
COMMENT ON COLUMN v_daily_messages.messages     IS 'Messages sent that day.';
COMMENT ON COLUMN v_daily_messages.customers    IS 'Distinct customers (identities on the channel) whose conversations had messages that day.';

CREATE VIEW v_tag_events AS
SELECT l.tagged_at,
       l.tag,
       l.source,
       l.platform,
       l.channel_id,
       l.user_id,
       l.message_id,
       i.contact_id,
       EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = i.contact_id AND t.tag = l.tag) AS tag_is_current
FROM omnichat_tagging_logs l
LEFT JOIN contact_identities i ON i.platform = l.platform AND i.channel_id = l.channel_id AND i.user_id = l.user_id;

COMMENT ON VIEW v_tag_events IS 'Every tagging event from the Omnichat tagging logs with the contact it belongs to.';
COMMENT ON COLUMN v_tag_events.tagged_at      IS 'When the tag was applied.';
COMMENT ON COLUMN v_tag_events.tag            IS 'The tag.';
COMMENT ON COLUMN v_tag_events.source         IS 'What applied it (bot, agent, broadcast, ...), lower-case.';
COMMENT ON COLUMN v_tag_events.platform       IS 'Platform of the tagged identity.';
COMMENT ON COLUMN v_tag_events.channel_id     IS 'Channel of the tagged identity.';
COMMENT ON COLUMN v_tag_events.user_id        IS 'User id of the tagged identity.';
COMMENT ON COLUMN v_tag_events.message_id     IS 'Message that triggered the tag; empty when none.';
COMMENT ON COLUMN v_tag_events.contact_id     IS 'The live contact of the identity (NULL until reconcile has seen it).';
COMMENT ON COLUMN v_tag_events.tag_is_current IS 'True when the contact still carries the tag (contact_tags).';

CREATE VIEW v_sync_health AS
SELECT 'job'::text                   AS kind,
       r.job                         AS name,
       last.status                   AS last_status,
       last.started_at               AS last_started_at,
       last.finished_at              AS last_finished_at,
       (SELECT max(x.finished_at) FROM sync_runs x WHERE x.job = r.job AND x.status = 'ok') AS last_ok_at,
       count(*) FILTER (WHERE r.started_at > now() - interval '24 hours')                      AS runs_24h,
       count(*) FILTER (WHERE r.started_at > now() - interval '24 hours' AND r.status = 'failed') AS failed_24h,
       count(*) FILTER (WHERE r.status = 'running')                                           AS open_items,
       NULL::timestamptz             AS data_until,
       (SELECT x.error FROM sync_runs x WHERE x.job = r.job AND x.error IS NOT NULL ORDER BY x.started_at DESC LIMIT 1) AS last_error
FROM sync_runs r
CROSS JOIN LATERAL (SELECT x.status, x.started_at, x.finished_at FROM sync_runs x
                    WHERE x.job = r.job ORDER BY x.started_at DESC LIMIT 1) last
GROUP BY r.job, last.status, last.started_at, last.finished_at
UNION ALL
SELECT 'stream',
       w.stream || CASE WHEN w.scope <> '' THEN ' ' || w.scope ELSE '' END,
       last.status,
       last.updated_at,
       last.finished_at,
       max(w.finished_at) FILTER (WHERE w.status = 'done'),
       count(*) FILTER (WHERE w.finished_at > now() - interval '24 hours'),
       count(*) FILTER (WHERE w.status = 'failed'),
       count(*) FILTER (WHERE w.status IN ('pending', 'running', 'failed')),
       max(w.window_end) FILTER (WHERE w.status = 'done'),
       (SELECT x.last_error FROM sync_windows x WHERE x.stream = w.stream AND x.scope = w.scope AND x.status = 'failed'
        ORDER BY x.updated_at DESC LIMIT 1)
FROM sync_windows w
CROSS JOIN LATERAL (SELECT x.status, x.updated_at, x.finished_at FROM sync_windows x
                    WHERE x.stream = w.stream AND x.scope = w.scope ORDER BY x.updated_at DESC, x.id DESC LIMIT 1) last
GROUP BY w.stream, w.scope, last.status, last.updated_at, last.finished_at
UNION ALL
SELECT 'reconcile',
       'reconcile',
       'ok',
       NULL,
       s.finished_at,
       s.finished_at,
       NULL,
       NULL,
       (SELECT count(*) FROM reconcile_queue),
       s.as_of,
       NULL
FROM reconcile_state s;

COMMENT ON VIEW v_sync_health IS 'Is the sync healthy? One row per job (sync_runs), per pulled stream and scope (sync_windows), and one for reconcile (reconcile_state and the queue).';
COMMENT ON COLUMN v_sync_health.kind             IS 'job, stream or reconcile.';
COMMENT ON COLUMN v_sync_health.name             IS 'Job name; stream and scope (e.g. "messages line/1656000001"); or reconcile.';
COMMENT ON COLUMN v_sync_health.last_status      IS 'Status of the latest run or window (reconcile: always ok, failed runs leave no trace here; see sync_runs).';
COMMENT ON COLUMN v_sync_health.last_started_at  IS 'When the latest run started (stream: when its latest window last changed).';
COMMENT ON COLUMN v_sync_health.last_finished_at IS 'When the latest run or window finished.';
COMMENT ON COLUMN v_sync_health.last_ok_at       IS 'When the last successful run or done window finished.';
COMMENT ON COLUMN v_sync_health.runs_24h         IS 'Runs started (stream: windows finished) in the last 24 hours.';
COMMENT ON COLUMN v_sync_health.failed_24h       IS 'Failed runs in the last 24 hours (stream: windows currently failed).';
COMMENT ON COLUMN v_sync_health.open_items       IS 'Runs still running; windows pending, running or failed; identities waiting in reconcile_queue.';
COMMENT ON COLUMN v_sync_health.data_until       IS 'Stream: end of the newest done window (data is complete up to about there). Reconcile: the clock of the last run.';
COMMENT ON COLUMN v_sync_health.last_error       IS 'The most recent error recorded.';

-- +goose Down
DROP VIEW v_sync_health;
DROP VIEW v_tag_events;
DROP VIEW v_daily_messages;
DROP VIEW v_contact_360;
