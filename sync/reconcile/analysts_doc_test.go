package reconcile_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/reconcile"
)

const analystsDoc = "../../docs/analysts.md"

var sqlBlock = regexp.MustCompile("(?s)```sql\n(.*?)```")

// seedAnalystsDB fills a database with data every example in
// docs/analysts.md has something to find in, relative to the wall clock
// (the examples use now()).
func seedAnalystsDB(t *testing.T) *store.Store {
	t.Helper()
	st := storetest.New(t)
	now := time.Now().Truncate(time.Second)
	c := &clock{now.Add(-48 * time.Hour)}
	o := reconcile.Options{NowFunc: c.Now, SharedKeyCeiling: 4}
	w := &world{rng: rand.New(rand.NewPCG(7, 7)), now: c.now}
	var s seed
	w.batch(&s, 120, 0, 10, 400, 60)
	s.contact(rawContact{User: "somchai", Name: "สมชาย", Phone: "0812345678", UpdatedAt: c.now.Add(-time.Hour),
		Attrs: []attr{{Key: "tier", Value: "gold", Type: "text", DisplayName: "Tier"}}, Tags: []string{"vip"}})
	s.contact(rawContact{User: "somchai-fb", Platform: "facebook", Channel: "fb", Name: "Somchai 😀", Email: "somchai@example.com",
		UpdatedAt: c.now.Add(-2 * time.Hour)})
	s.contact(rawContact{User: "stop", Platform: "instagram", Channel: "ig", Name: "Stop", Email: "stop@example.com"})
	s.contact(rawContact{User: "quiet", Platform: "line", Channel: "ch2", Name: "Quiet Gold",
		Attrs: []attr{{Key: "tier", Value: "gold", Type: "text", DisplayName: "Tier"}}})
	s.message(rawMessage{ID: "doc-0", Channel: "ch2", User: "quiet", SenderType: "customer", SentAt: now.Add(-45 * 24 * time.Hour)})
	s.message(rawMessage{ID: "doc-1", User: "somchai", SenderType: "customer", SentAt: now.Add(-60 * 24 * time.Hour)})
	s.message(rawMessage{ID: "doc-2", Platform: "instagram", Channel: "ig", User: "stop", SenderType: "customer", SentAt: now.Add(-3 * time.Hour)})
	s.message(rawMessage{ID: "doc-3", Platform: "instagram", Channel: "ig", User: "stop", SenderType: "bot", SentAt: now.Add(-170 * time.Minute)})
	s.tagLog(rawTagLog{User: "somchai", Tag: "vip", Source: "agent", At: now.Add(-5 * 24 * time.Hour)})
	for i := range 5 {
		s.contact(rawContact{User: fmt.Sprintf("shop-%d", i), Name: "ร้านค้า", Phone: "02-123-4567"})
	}
	seedAgentsDoc(&s, now)
	s.add(`INSERT INTO omnichat_channels (platform, channel_id, channel_name, raw) VALUES
		('line', 'ch1', 'LINE หลัก', '{}'), ('facebook', 'fb', 'Facebook Page', '{}'), ('instagram', 'ig', 'IG', '{}')`)
	s.add(`INSERT INTO sync_runs (job, trigger, status, started_at, finished_at, error) VALUES
		('omnichat_pull', 'schedule', 'ok', now() - interval '2 hours', now() - interval '110 minutes', NULL),
		('omnichat_pull', 'schedule', 'failed', now() - interval '1 hour', now() - interval '50 minutes', 'get omnichat messages: unavailable')`)
	s.add(`INSERT INTO sync_windows (stream, scope, window_start, window_end, status, pages, rows, finished_at) VALUES
		('messages', 'line/ch1', now() - interval '2 days', now() - interval '1 day', 'done', 3, 250, now() - interval '1 day')`)
	s.apply(t, st)
	run(t, st, o, false)

	// Later the LINE and Facebook identities turn out to be one person.
	c.now = now
	s.contact(rawContact{User: "somchai-fb", Platform: "facebook", Channel: "fb", Name: "Somchai 😀", Email: "somchai@example.com",
		Phone: "+66 81 234 5678", UpdatedAt: now.Add(-time.Hour)})
	s.message(rawMessage{ID: "doc-4", Platform: "facebook", Channel: "fb", User: "somchai-fb", SenderType: "customer", SentAt: now.Add(-30 * time.Minute)})
	s.apply(t, st)
	res := run(t, st, o, false)
	require.Positive(t, res.ContactsMerged)

	// Then the push steps ran: Oho and Okeybot hold most contacts.
	for _, q := range pushSeed {
		s.add(q)
	}
	s.apply(t, st)
	return st
}

// Push state as the push steps would leave it after the reconcile runs of
// seedAnalystsDB, written with plain SQL so the examples of the push section
// find rows. Oho holds every identity on LINE ch1 (whose bot user id is
// U4af4980629c8b6c9d1e2f3a4b5c6d7e8), Facebook and Instagram; LINE ch2 has no
// token, and Oho refused the Instagram "stop" contact. Okeybot's channel
// "main" is fed by LINE ch1 and Facebook; it refused the shop's contacts,
// whose phone (the shop's own, held back by reconcile) two Okeybot contacts
// already carry. The Somchai contact changed at the last reconcile, so it was
// pushed just now; a few others changed after their last push (pending).
var pushSeed = []string{
	`INSERT INTO sync_runs (job, trigger, status, started_at, finished_at, counts) VALUES
		('omnichat_to_oho_contacts', 'manual', 'ok', now() - interval '10 minutes', now() - interval '5 minutes',
		 '{"push_oho": {"pages": 2, "rows": 140, "requests": 6, "rate_limited": 0, "rejections": 1, "duration_ms": 2210}}'),
		('omnichat_to_okeybot_contacts', 'manual', 'ok', now() - interval '4 minutes', now() - interval '3 minutes',
		 '{"push_okeybot": {"pages": 2, "rows": 140, "requests": 3, "rate_limited": 0, "rejections": 0, "duration_ms": 1420}}')`,

	// Oho: one record per identity, keyed "platform/platform_id/user_id".
	`INSERT INTO push_state (destination, target_key, contact_id, identity_id, payload, payload_hash, adjustments,
		first_pushed_at, pushed_at, run_id)
	SELECT 'oho', p.key, c.id, i.id, p.payload, encode(sha256(convert_to(p.payload::text, 'UTF8')), 'hex'),
		COALESCE((SELECT jsonb_agg(a) FROM unnest(ARRAY[
			CASE WHEN c.phone LIKE '+66%' THEN jsonb_build_object('field', 'phone', 'kind', 'normalised',
				'before', c.phone, 'after', '0' || substr(c.phone, 4), 'reason', 'national format for TH') END,
			CASE WHEN c.name = '' THEN jsonb_build_object('field', 'first_name', 'kind', 'defaulted',
				'before', '', 'after', i.user_id, 'reason', 'no first name or display name; the user id used') END,
			CASE WHEN i.platform <> 'line' THEN jsonb_build_object('field', 'profile_picture_url', 'kind', 'defaulted',
				'before', '', 'after', 'https://static.oho.chat/avatar/default.png', 'reason', 'no usable picture; oho.default_picture_url used') END,
			CASE WHEN b.value IS NOT NULL THEN jsonb_build_object('field', 'birth_date', 'kind', 'dropped',
				'before', b.value, 'after', '', 'reason', 'not a date (want YYYY-MM-DD, an ISO datetime or DD/MM/YYYY)') END
		]) AS a WHERE a IS NOT NULL), '[]'),
		now() - interval '47 hours',
		CASE WHEN c.phone = '+66812345678' THEN now() ELSE now() - interval '1 day' - (i.id % 12) * interval '1 hour' END,
		(SELECT max(id) FROM sync_runs WHERE job = 'omnichat_to_oho_contacts')
	FROM contact_identities i
	JOIN contacts c ON c.id = i.contact_id AND c.merged_into IS NULL
	LEFT JOIN contact_attributes b ON b.contact_id = c.id AND b.key = 'birthday' AND b.value !~ '^\d{4}-\d{2}-\d{2}$'
	CROSS JOIN LATERAL (SELECT
		i.platform || '/' || CASE i.platform WHEN 'line' THEN 'U4af4980629c8b6c9d1e2f3a4b5c6d7e8' ELSE i.channel_id END || '/' || i.user_id AS key,
		jsonb_strip_nulls(jsonb_build_object(
			'first_name', CASE WHEN c.name = '' THEN i.user_id ELSE c.name END,
			'display_name', NULLIF(c.name, ''),
			'email', NULLIF(c.email, ''),
			'phone', CASE WHEN c.phone LIKE '+66%' THEN '0' || substr(c.phone, 4) ELSE NULLIF(c.phone, '') END,
			'profile_picture_url', CASE i.platform WHEN 'line' THEN 'https://profile.line-scdn.net/0h' || md5(i.user_id)
				ELSE 'https://static.oho.chat/avatar/default.png' END,
			'social_profile', jsonb_build_object('platform', i.platform, 'id', i.user_id,
				'platform_id', CASE i.platform WHEN 'line' THEN 'U4af4980629c8b6c9d1e2f3a4b5c6d7e8' ELSE i.channel_id END)
		)) AS payload) p
	WHERE i.has_profile AND i.user_id <> 'stop'
	  AND (i.platform, i.channel_id) IN (('line', 'ch1'), ('facebook', 'fb'), ('instagram', 'ig'))`,

	// Okeybot: one record per contact on channel "main", keyed "main/<contact id>".
	`INSERT INTO push_state (destination, target_key, contact_id, remote_id, payload, payload_hash, first_pushed_at, pushed_at, run_id)
	SELECT 'okeybot', 'main/' || c.id, c.id, (1776025372480000 + c.id)::text, p.payload,
		encode(sha256(convert_to(p.payload::text, 'UTF8')), 'hex'),
		now() - interval '46 hours',
		CASE WHEN c.phone = '+66812345678' THEN now() ELSE now() - interval '1 day' END,
		(SELECT max(id) FROM sync_runs WHERE job = 'omnichat_to_okeybot_contacts')
	FROM contacts c
	CROSS JOIN LATERAL (SELECT jsonb_build_object(
		'custom_fields', (SELECT jsonb_agg(jsonb_build_object('name', f.name, 'value', f.value) ORDER BY f.ord)
			FROM (VALUES (1, 'name', c.name), (2, 'phone', CASE WHEN c.phone LIKE '+66%' THEN '0' || substr(c.phone, 4) ELSE c.phone END),
				(3, 'email', c.email), (4, 'member_id', c.member_id)) AS f (ord, name, value)
			WHERE f.value <> ''),
		'tags', (SELECT COALESCE(jsonb_agg(t.tag ORDER BY t.tag), '[]') FROM contact_tags t WHERE t.contact_id = c.id)) AS payload) p
	WHERE c.merged_into IS NULL AND p.payload ->> 'custom_fields' IS NOT NULL
	  AND EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.has_profile
		AND (i.platform, i.channel_id) IN (('line', 'ch1'), ('facebook', 'fb')))
	  AND NOT EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.user_id LIKE 'shop-%')`,

	// Refusals: Oho's answer to the Instagram contact; LINE ch2 without a
	// token; one Oho refusal fixed since (the record was pushed later); the
	// shop's contacts at Okeybot; Okeybot contacts with no custom field.
	`INSERT INTO push_rejections (destination, contact_id, target_key, field, value, reason, http_status, payload_hash, run_id,
		created_at, last_seen_at, times_seen)
	SELECT 'oho', i.contact_id, 'instagram/ig/stop', NULL, NULL, 'Bad request', 400,
		encode(sha256(convert_to('{"first_name":"Stop"}', 'UTF8')), 'hex'),
		(SELECT max(id) FROM sync_runs WHERE job = 'omnichat_to_oho_contacts'), now() - interval '2 hours', now() - interval '2 hours', 1
	FROM contact_identities i WHERE (i.platform, i.channel_id, i.user_id) = ('instagram', 'ig', 'stop')
	UNION ALL
	SELECT 'oho', i.contact_id, 'line/ch2/' || i.user_id, 'social_profile.platform_id', NULL, 'no LINE token for channel ch2', NULL,
		encode(sha256(convert_to('line/ch2/' || i.user_id, 'UTF8')), 'hex'),
		(SELECT min(id) FROM sync_runs WHERE job = 'omnichat_to_oho_contacts'), now() - interval '47 hours', now() - interval '6 minutes', 2
	FROM contact_identities i WHERE i.platform = 'line' AND i.channel_id = 'ch2' AND i.has_profile
	UNION ALL
	(SELECT 'oho', s.contact_id, s.target_key, NULL, NULL, 'Bad request', 400, md5(s.target_key), NULL,
		now() - interval '46 hours', now() - interval '46 hours', 1
	FROM push_state s WHERE s.destination = 'oho' AND s.target_key LIKE 'line/%/u%' ORDER BY s.target_key LIMIT 1)
	UNION ALL
	SELECT 'okeybot', c.id, 'main/' || c.id, 'custom_fields[phone]', '0' || substr(c.phone, 4),
		'conflict: 2 Okeybot contacts have this phone', 409, md5('main/' || c.id),
		(SELECT max(id) FROM sync_runs WHERE job = 'omnichat_to_okeybot_contacts'), now() - interval '46 hours', now() - interval '46 hours', 1
	FROM contacts c
	WHERE c.merged_into IS NULL AND EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.user_id LIKE 'shop-%')
	UNION ALL
	SELECT 'okeybot', c.id, 'main/' || c.id, 'custom_fields', NULL,
		'no custom field to create the Okeybot contact with (Okeybot''s POST /v1/contact needs one; see mapping okeybot.custom_fields)',
		NULL, md5('main/' || c.id), NULL, now() - interval '46 hours', now() - interval '46 hours', 1
	FROM contacts c
	WHERE c.merged_into IS NULL AND c.name = '' AND c.phone = '' AND c.email = '' AND c.member_id = ''
	  AND EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND i.has_profile
		AND (i.platform, i.channel_id) IN (('line', 'ch1'), ('facebook', 'fb')))`,

	// Conflicts: an agent fixed a first name in Oho that crmsync changed too
	// (crmsync's value won, on_conflict: source), and, later, with the rule
	// set to destination, an agent's email edit was kept; found on create.
	`INSERT INTO push_conflicts (destination, contact_id, target_key, field, destination_value, crmsync_value,
		last_pushed_value, resolution, rule, run_id, detected_at, last_seen_at, times_seen)
	SELECT 'oho', s.contact_id, s.target_key, x.field, x.there, x.want, x.last, x.resolution, x.rule,
		(SELECT max(id) FROM sync_runs WHERE job = 'omnichat_to_oho_contacts'), now() - x.age, now() - x.age / 2, x.seen
	FROM (SELECT contact_id, target_key, row_number() OVER (ORDER BY target_key) AS n
	      FROM push_state WHERE destination = 'oho') AS s
	JOIN (VALUES
		(1, 'first_name', 'คุณสมชาย', 'Somchai', 'Somchai J.', 'overwrote_destination', 'source', interval '3 days', 2),
		(2, 'email', 'agent@shop.example', 'new@example.com', 'old@example.com', 'kept_destination', 'destination', interval '2 hours', 1),
		(3, 'display_name', 'Oho''s name', 'Nok', NULL, 'overwrote_destination', 'source', interval '1 day', 1)
	) AS x (n, field, there, want, last, resolution, rule, age, seen) USING (n)`,

	// Progress: what each destination last finished with; the merged-away
	// Somchai contact keeps its last Oho row.
	`INSERT INTO push_contacts (destination, contact_id, contact_updated_at, config_hash, outcome, targets, checked_at, run_id)
	SELECT d.destination, c.id,
		CASE WHEN c.merged_into IS NOT NULL THEN c.created_at
		     WHEN x.outcome = 'unchanged' AND c.id % 9 = 0 THEN c.updated_at - interval '1 hour'
		     ELSE c.updated_at END,
		md5(d.destination || ' settings'), x.outcome, x.targets,
		COALESCE(x.checked_at, now() - interval '1 day'),
		(SELECT max(id) FROM sync_runs WHERE job = 'omnichat_to_' || d.destination || '_contacts')
	FROM contacts c
	CROSS JOIN (VALUES ('oho'), ('okeybot')) AS d (destination)
	CROSS JOIN LATERAL (
		SELECT CASE WHEN c.merged_into IS NOT NULL THEN 'pushed'
		            WHEN n.refused > 0 THEN 'rejected'
		            WHEN n.pushed_now > 0 THEN 'pushed'
		            WHEN n.held > 0 THEN 'unchanged'
		            ELSE 'no_target' END AS outcome,
		       CASE WHEN c.merged_into IS NOT NULL THEN 1 ELSE n.held + n.refused END AS targets,
		       CASE WHEN c.merged_into IS NOT NULL THEN now() - interval '47 hours' ELSE n.last_at END AS checked_at
		FROM (SELECT
			(SELECT count(*) FROM push_state s WHERE s.destination = d.destination AND s.contact_id = c.id) AS held,
			(SELECT count(*) FROM push_state s WHERE s.destination = d.destination AND s.contact_id = c.id
				AND s.pushed_at > now() - interval '1 hour') AS pushed_now,
			(SELECT count(DISTINCT r.target_key) FROM push_rejections r WHERE r.destination = d.destination AND r.contact_id = c.id
				AND NOT EXISTS (SELECT 1 FROM push_state s WHERE s.destination = r.destination AND s.target_key = r.target_key)) AS refused,
			(SELECT max(t) FROM (SELECT s.pushed_at FROM push_state s WHERE s.destination = d.destination AND s.contact_id = c.id
				UNION ALL SELECT r.last_seen_at FROM push_rejections r WHERE r.destination = d.destination AND r.contact_id = c.id) AS m (t)) AS last_at
		) AS n
	) AS x
	WHERE c.merged_into IS NULL OR d.destination = 'oho'`,
}

// Every SQL example in docs/analysts.md runs against a seeded database and
// finds something, so the page stays true.
func TestAnalystsDoc_examplesRun(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(analystsDoc)
	require.NoError(t, err)
	blocks := sqlBlock.FindAllStringSubmatch(string(doc), -1)
	require.GreaterOrEqual(t, len(blocks), 10, "the page promises at least 10 examples")

	st := seedAnalystsDB(t)
	for i, b := range blocks {
		n := runBlock(t.Context(), t, st.SQL(), b[1])
		require.Positive(t, n, "example %d returned no rows:\n%s", i+1, b[1])
	}
}

// runBlock runs the statements of one example on one connection (so SET
// applies to what follows) and returns how many rows they returned.
func runBlock(ctx context.Context, t *testing.T, db *sql.DB, block string) int {
	t.Helper()
	n, err := tryBlock(ctx, db, block)
	require.NoError(t, err)
	return n
}

// Every table and view and every column is described on the page.
func TestAnalystsDoc_describesEveryColumn(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(analystsDoc)
	require.NoError(t, err)
	sections := map[string]string{}
	for _, part := range strings.Split(string(doc), "\n### ")[1:] {
		name, body, _ := strings.Cut(part, "\n")
		sections[strings.TrimSpace(name)] = body
	}
	st := storetest.New(t)
	var missing []string
	for _, r := range rows(t, st, `
		SELECT c.relname, a.attname
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relkind IN ('r', 'v') AND c.relname <> $1
		ORDER BY 1, a.attnum`, store.MigrationTable) {
		table, col, _ := strings.Cut(r, "\t")
		body, ok := sections[table]
		if !ok {
			missing = append(missing, table)
			continue
		}
		if !strings.Contains(body, "| `"+col+"` |") {
			missing = append(missing, table+"."+col)
		}
	}
	require.Empty(t, missing, "describe these in docs/analysts.md")
}
