-- The pull loses nothing silently (issue 12): channels known only from the rows pulled, windows
-- given up after repeated refusals, data gaps (windows done short of totalElements), the page size
-- a server actually serves, and one request quota per API account shared by every process.

-- +goose Up
ALTER TABLE omnichat_channels ADD COLUMN listed boolean NOT NULL DEFAULT true;
ALTER TABLE omnichat_channels ALTER COLUMN listed SET DEFAULT false;

COMMENT ON TABLE  omnichat_channels IS 'Channels of the Omnichat team account: one row per platform and channel, listed by GET /v1/channels (which documents only LINE and webchat channels) or first seen in the rows pulled (contacts, tagging logs, messages) of a platform pulled without channelId.';
COMMENT ON COLUMN omnichat_channels.channel_name  IS 'Channel name as Omnichat shows it; empty for a channel never listed (its name is unknown until GET /v1/channels lists it).';
COMMENT ON COLUMN omnichat_channels.raw           IS 'The channel object as received from GET /v1/channels; {} for a channel never listed.';
COMMENT ON COLUMN omnichat_channels.first_seen_at IS 'When a pull first saw the channel, in the list or in a row.';
COMMENT ON COLUMN omnichat_channels.last_seen_at  IS 'When a pull last saw the channel in the list; for a channel never listed, when it was first seen in a row.';
COMMENT ON COLUMN omnichat_channels.listed        IS 'true when the latest GET /v1/channels listed the channel (its contacts and messages are pulled per channel); false for a channel known only from rows, pulled with its whole platform (no channelId), or no longer listed.';

ALTER TABLE sync_windows DROP CONSTRAINT sync_windows_status_check;
ALTER TABLE sync_windows ADD CONSTRAINT sync_windows_status_check
    CHECK (status IN ('pending', 'running', 'done', 'failed', 'split', 'gave_up'));
ALTER TABLE sync_windows ADD COLUMN page_size integer;
ALTER TABLE sync_windows ADD COLUMN missing_rows bigint NOT NULL DEFAULT 0;
CREATE INDEX sync_windows_attention_idx ON sync_windows (stream, window_start)
    WHERE status = 'gave_up' OR missing_rows > 0;

COMMENT ON COLUMN sync_windows.scope        IS 'platform/channelId for a channel GET /v1/channels lists (contacts, messages); the platform alone for a platform it lists no channel of, pulled without channelId; empty for tagging_logs.';
COMMENT ON COLUMN sync_windows.status       IS 'pending, running, done, failed (last_error set; retried by the next run), split (too large to page safely; replaced by two halves) or gave_up (refused with a 4xx on omnichat.max_window_attempts attempts: no run reads it again until crmsync backfill --retry-gave-up; last_error says why).';
COMMENT ON COLUMN sync_windows.attempts     IS 'How many times the window was read (re-reads after a short count or a failure included); a window refused with a 4xx gives up when it reaches omnichat.max_window_attempts.';
COMMENT ON COLUMN sync_windows.last_error   IS 'The error of the last failed attempt; for a done window the data gap (rows short of totalElements after every re-read); for a pending one why it was released (the window deadline).';
COMMENT ON COLUMN sync_windows.page_size    IS 'The pageSize of the pages of the last read: what the server actually served per page (it may serve fewer rows than asked), so a resumed read asks the same pages. NULL before the first page.';
COMMENT ON COLUMN sync_windows.missing_rows IS 'Data gap of a done window: totalElements minus the distinct rows received, after every re-read (0 when complete). Such rows are lost unless the window is read again.';

COMMENT ON COLUMN pull_errors.reason IS 'Why the record was refused, naming the field and the value, e.g. "status: want a boolean, got a string \"maybe\"".';

CREATE TABLE api_quotas (
    account_key text        PRIMARY KEY,
    next_slot   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE  api_quotas IS 'One row per API account whose request quota is shared by every crmsync process (Omnichat: 40 requests/second per team). Each request reserves the next free slot in one statement, on the database clock, so processes on different machines agree; a process that dies loses at most the slots it reserved.';
COMMENT ON COLUMN api_quotas.account_key IS 'Service and a SHA-256 of its base URL and token (never the token itself), e.g. omnichat:3f2a….';
COMMENT ON COLUMN api_quotas.next_slot   IS 'The earliest time (database clock) the next request of the account may leave; each reservation moves it one spacing (period ÷ ((1 − headroom) × limit)) past the later of itself and now.';
COMMENT ON COLUMN api_quotas.updated_at  IS 'When a request last reserved a slot.';

CREATE OR REPLACE VIEW v_sync_health AS
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
       (SELECT x.error FROM sync_runs x WHERE x.job = r.job AND x.error IS NOT NULL ORDER BY x.started_at DESC LIMIT 1) AS last_error,
       NULL::bigint                  AS gave_up,
       NULL::bigint                  AS data_gaps,
       NULL::bigint                  AS missing_rows
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
       (SELECT x.last_error FROM sync_windows x WHERE x.stream = w.stream AND x.scope = w.scope AND x.status IN ('failed', 'gave_up')
        ORDER BY x.updated_at DESC LIMIT 1),
       count(*) FILTER (WHERE w.status = 'gave_up'),
       count(*) FILTER (WHERE w.status = 'done' AND w.missing_rows > 0),
       COALESCE(sum(w.missing_rows) FILTER (WHERE w.status = 'done'), 0)::bigint
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
       NULL,
       NULL,
       NULL,
       NULL
FROM reconcile_state s;

COMMENT ON COLUMN v_sync_health.last_error   IS 'The most recent error recorded (stream: of a failed window or one given up).';
COMMENT ON COLUMN v_sync_health.gave_up      IS 'Stream: windows given up after omnichat.max_window_attempts refusals (no run reads them again until crmsync backfill --retry-gave-up). NULL for jobs and reconcile.';
COMMENT ON COLUMN v_sync_health.data_gaps    IS 'Stream: windows done with fewer distinct rows than totalElements after every re-read. NULL for jobs and reconcile.';
COMMENT ON COLUMN v_sync_health.missing_rows IS 'Stream: rows those data gaps miss in total (totalElements minus rows received). NULL for jobs and reconcile.';

-- +goose Down
DROP VIEW v_sync_health;
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

DROP TABLE api_quotas;

DROP INDEX sync_windows_attention_idx;
ALTER TABLE sync_windows DROP COLUMN missing_rows;
ALTER TABLE sync_windows DROP COLUMN page_size;
UPDATE sync_windows SET status = 'failed' WHERE status = 'gave_up';
ALTER TABLE sync_windows DROP CONSTRAINT sync_windows_status_check;
ALTER TABLE sync_windows ADD CONSTRAINT sync_windows_status_check
    CHECK (status IN ('pending', 'running', 'done', 'failed', 'split'));
COMMENT ON COLUMN sync_windows.scope        IS 'platform/channelId for per-channel streams (contacts, messages), or the platform alone when no channel list exists; empty for tagging_logs.';
COMMENT ON COLUMN sync_windows.status       IS 'pending, running, done, failed (last_error set; retried by the next run) or split (too large to page safely; replaced by two halves).';
COMMENT ON COLUMN sync_windows.attempts     IS 'How many times the window was read (re-reads after a short count or a failure included).';
COMMENT ON COLUMN sync_windows.last_error   IS 'The error of the last failed attempt.';

COMMENT ON COLUMN pull_errors.reason IS 'Why the record was refused, e.g. "updatedAt 0 out of range".';

ALTER TABLE omnichat_channels DROP COLUMN listed;
COMMENT ON TABLE  omnichat_channels IS 'Channels of the Omnichat team account (GET /v1/channels): one row per platform and channel.';
COMMENT ON COLUMN omnichat_channels.channel_name  IS 'Channel name as Omnichat shows it.';
COMMENT ON COLUMN omnichat_channels.raw           IS 'The channel object as received.';
COMMENT ON COLUMN omnichat_channels.first_seen_at IS 'When a pull first saw the channel.';
COMMENT ON COLUMN omnichat_channels.last_seen_at  IS 'When a pull last saw the channel in the list.';
