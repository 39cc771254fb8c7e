package store

import (
	"context"
	"fmt"
	"time"
)

// MasterStats counts what RebuildContacts did.
type MasterStats struct {
	Recomputed int // contacts whose master record was recomputed
	FactsOnly  int // of those, window-only contacts: facts recomputed, the rest read from the stored record
	Changed    int // of those, contacts whose record really changed (updated_at moved)
}

// byRecency orders an identity's values for "the most recently updated
// identity that has a value": the raw contact's updated_at, newest first,
// then the identity key, so ties resolve the same way every time.
const byRecency = `oc.updated_at DESC NULLS LAST, ai.platform, ai.channel_id, ai.user_id`

// messageFacts are the aggregates of one identity's messages (alias m): its
// first and last message, the last from the customer and from an agent, and
// its counts in all and in the last 7 and 30 days ($1 and $2 to the run's
// clock $3), in total and per sender class (customer; agent; bot, AI
// included). A message of another sender counts only in the totals.
const messageFacts = `min(m.sent_at) AS first_at, max(m.sent_at) AS last_at,
	max(m.sent_at) FILTER (WHERE m.sender_type = 'customer') AS last_c,
	max(m.sent_at) FILTER (WHERE m.sender_type = 'agent') AS last_a,
	count(*)::int AS total,
	count(*) FILTER (WHERE m.sent_at > $1 AND m.sent_at <= $3)::int AS d7,
	count(*) FILTER (WHERE m.sent_at > $2 AND m.sent_at <= $3)::int AS d30,
	count(*) FILTER (WHERE m.sender_type = 'customer')::int AS c_total,
	count(*) FILTER (WHERE m.sender_type = 'customer' AND m.sent_at > $1 AND m.sent_at <= $3)::int AS c_d7,
	count(*) FILTER (WHERE m.sender_type = 'customer' AND m.sent_at > $2 AND m.sent_at <= $3)::int AS c_d30,
	count(*) FILTER (WHERE m.sender_type = 'agent')::int AS a_total,
	count(*) FILTER (WHERE m.sender_type = 'agent' AND m.sent_at > $1 AND m.sent_at <= $3)::int AS a_d7,
	count(*) FILTER (WHERE m.sender_type = 'agent' AND m.sent_at > $2 AND m.sent_at <= $3)::int AS a_d30,
	count(*) FILTER (WHERE m.sender_type IN ('bot', 'ai-chat'))::int AS b_total,
	count(*) FILTER (WHERE m.sender_type IN ('bot', 'ai-chat') AND m.sent_at > $1 AND m.sent_at <= $3)::int AS b_d7,
	count(*) FILTER (WHERE m.sender_type IN ('bot', 'ai-chat') AND m.sent_at > $2 AND m.sent_at <= $3)::int AS b_d30`

// attributesHash and tagsHash aggregate a contact's attributes and tags
// (rows of na or contact_attributes, nt or contact_tags, columns
// unqualified) into their part of content_hash. Both the recomputed rows
// and a window-only contact's stored rows go through them, so the two give
// the same text.
const (
	attributesHash = `string_agg(ROW(key, value, type, display_name, updated_at)::text, ',' ORDER BY key)`
	tagsHash       = `string_agg(ROW(tag, applied_at, source)::text, ',' ORDER BY tag)`
)

// RebuildContacts recomputes the master record (fields, attributes, tags,
// facts, overrides) of every contact the run may have changed, and writes
// only the records whose content really changed (content_hash), moving
// their updated_at to the run's clock. When full that is every live
// contact; otherwise the contacts of the affected identities, the contacts
// with overrides (or that had some applied), and the contacts with messages
// that crossed a 7- or 30-day boundary between prev (the last run's clock)
// and this run's clock, so every count stays as of this run.
//
// Of the last, those that nothing else brought in (window-only contacts,
// temporary table acw) have the fields, attributes and tags they have
// stored: none of their identities was queued or relinked and they have
// no overrides. Only their facts are recomputed, and their content_hash
// from the stored record (contacts.identities_hash keeps the one part of
// the hash the record does not hold), so both give the same hash.
// A record written before migration 00025 (identities_hash NULL) takes
// the whole recomputation instead.
func (r *ReconcileTx) RebuildContacts(ctx context.Context, full bool, prev time.Time) (MasterStats, error) {
	var st MasterStats
	what := "rebuild contacts"
	// Overrides written against an id that has since been merged away follow it.
	if err := r.execAll(ctx, what, `
		UPDATE contact_overrides o SET contact_id = c.merged_into
		FROM contacts c WHERE c.id = o.contact_id AND c.merged_into IS NOT NULL`,
		`CREATE TEMP TABLE ac (contact_id bigint PRIMARY KEY) ON COMMIT DROP`,
		`CREATE TEMP TABLE acw (contact_id bigint PRIMARY KEY) ON COMMIT DROP`,
	); err != nil {
		return st, err
	}
	if full {
		// Every live contact, new ones (not written yet) included, has identities.
		if err := r.execAll(ctx, what, `INSERT INTO ac SELECT DISTINCT contact_id FROM contact_identities`); err != nil {
			return st, err
		}
	} else {
		if err := r.execAll(ctx, what,
			`INSERT INTO ac SELECT DISTINCT i.contact_id FROM aff JOIN contact_identities i USING (id) ON CONFLICT DO NOTHING`,
			`INSERT INTO ac SELECT DISTINCT contact_id FROM contact_overrides ON CONFLICT DO NOTHING`,
			`INSERT INTO ac SELECT id FROM contacts
			 WHERE (pinned_fields <> '{}' OR excluded_from_push) AND merged_into IS NULL ON CONFLICT DO NOTHING`,
		); err != nil {
			return st, err
		}
		lo, hi := prev, r.now
		if hi.Before(lo) {
			lo, hi = hi, lo
		}
		if _, err := r.exec(ctx, what, `
			INSERT INTO acw
			SELECT DISTINCT i.contact_id
			FROM omnichat_messages m
			JOIN contact_identities i ON i.platform = m.platform AND i.channel_id = m.channel_id AND i.user_id = m.customer_user_id
			WHERE (m.sent_at > $1::timestamptz - interval '7 days' AND m.sent_at <= $2::timestamptz - interval '7 days')
			   OR (m.sent_at > $1::timestamptz - interval '30 days' AND m.sent_at <= $2::timestamptz - interval '30 days')
			   OR (m.sent_at > $1::timestamptz AND m.sent_at <= $2::timestamptz)`, lo, hi); err != nil {
			return st, err
		}
		if err := r.execAll(ctx, what,
			// Those the run recomputes whole anyway, and those whose stored
			// record cannot give their hash (new, tombstones, or not written
			// since migration 00025), leave the facts-only set.
			`INSERT INTO ac SELECT w.contact_id FROM acw w LEFT JOIN contacts c ON c.id = w.contact_id
			 WHERE c.identities_hash IS NULL OR c.merged_into IS NOT NULL ON CONFLICT DO NOTHING`,
			`DELETE FROM acw w USING ac WHERE ac.contact_id = w.contact_id`,
			`ANALYZE acw`,
		); err != nil {
			return st, err
		}
	}
	// ai: the identities of the contacts in ac. A full rebuild takes every
	// identity, so it reads contact_identities itself (analysed first: this
	// transaction may just have written it), which, unlike a temporary
	// table, lets the joins with the raw tables and the ten-million-message
	// aggregate run in parallel workers.
	// An incremental run also reads the raw contact rows of ai once (into
	// occ, the columns the master record uses), rather than probing
	// omnichat_contacts again for the fields, the attributes and the tags.
	ai, oc := `ai`, `occ`
	stage := []string{`ANALYZE ac`, `
		CREATE TEMP TABLE ai ON COMMIT DROP AS
		SELECT i.id, i.contact_id, i.platform, i.channel_id, i.user_id, i.has_profile, i.member_id, i.email, i.phone_e164
		FROM contact_identities i JOIN ac USING (contact_id)`,
		`ANALYZE ai`, `
		CREATE TEMP TABLE occ ON COMMIT DROP AS
		SELECT c.platform, c.channel_id, c.user_id, c.name, c.email, c.phone, c.member_id, c.subscribed, c.updated_at,
		       c.tags, c.custom_attributes
		FROM ai JOIN omnichat_contacts c ON c.platform = ai.platform AND c.channel_id = ai.channel_id AND c.user_id = ai.user_id`,
		// The facts are recomputed for the window-only contacts too: acf
		// and aif are ac and ai with them.
		`CREATE TEMP TABLE acf ON COMMIT DROP AS SELECT contact_id FROM ac UNION ALL SELECT contact_id FROM acw`,
		`ANALYZE acf`, `
		CREATE TEMP TABLE aif ON COMMIT DROP AS
		SELECT id, contact_id, platform, channel_id, user_id FROM ai
		UNION ALL
		SELECT i.id, i.contact_id, i.platform, i.channel_id, i.user_id FROM contact_identities i JOIN acw USING (contact_id)`,
		`ANALYZE aif`}
	factsContacts, factsIdentities := `acf`, `aif`
	if full {
		ai = `(SELECT id, contact_id, platform, channel_id, user_id, has_profile, member_id, email, phone_e164
			FROM contact_identities WHERE contact_id IS NOT NULL)`
		oc = `omnichat_contacts`
		stage = []string{`ANALYZE ac`, `ANALYZE contact_identities`}
		factsContacts, factsIdentities = `ac`, ai
	}
	if err := r.execAll(ctx, what, stage...); err != nil {
		return st, err
	}
	if err := r.execAll(ctx, what,
		// Fields from the most recently updated identity that has them, and a
		// hash of every identity's profile (part of the master record).
		`CREATE TEMP TABLE np ON COMMIT DROP AS
		SELECT ai.contact_id, count(*)::int AS identities,
		       COALESCE((array_agg(oc.name ORDER BY `+byRecency+`) FILTER (WHERE oc.name <> ''))[1], '') AS name,
		       COALESCE((array_agg(ai.email ORDER BY `+byRecency+`) FILTER (WHERE ai.email <> ''))[1], '') AS email,
		       COALESCE((array_agg(ai.phone_e164 ORDER BY `+byRecency+`) FILTER (WHERE ai.phone_e164 <> ''))[1], '') AS phone,
		       COALESCE((array_agg(ai.member_id ORDER BY `+byRecency+`) FILTER (WHERE ai.member_id <> ''))[1], '') AS member_id,
		       md5(string_agg(ROW(ai.platform, ai.channel_id, ai.user_id, oc.name, oc.email, oc.phone,
		                          oc.member_id, oc.subscribed, oc.updated_at)::text,
		                      ',' ORDER BY ai.platform, ai.channel_id, ai.user_id)) AS identities_hash
		FROM `+ai+` ai
		LEFT JOIN `+oc+` oc ON oc.platform = ai.platform AND oc.channel_id = ai.channel_id AND oc.user_id = ai.user_id
		GROUP BY ai.contact_id`,
		`ANALYZE np`,
		// Overrides: the latest pin per field, and exclusions.
		`CREATE TEMP TABLE pins ON COMMIT DROP AS
		SELECT DISTINCT ON (o.contact_id, o.field) o.contact_id, o.field, o.value
		FROM contact_overrides o JOIN ac USING (contact_id)
		WHERE o.kind = 'pin'
		ORDER BY o.contact_id, o.field, o.created_at DESC, o.id DESC`,
		`CREATE TEMP TABLE nc ON COMMIT DROP AS
		SELECT np.contact_id, np.identities,
		       COALESCE(pn.value, np.name) AS name, COALESCE(pe.value, np.email) AS email,
		       COALESCE(pp.value, np.phone) AS phone, COALESCE(pm.value, np.member_id) AS member_id,
		       COALESCE(pf.fields, '{}') AS pinned_fields,
		       EXISTS (SELECT 1 FROM contact_overrides o WHERE o.contact_id = np.contact_id AND o.kind = 'exclude_from_push') AS excluded
		FROM np
		LEFT JOIN pins pn ON pn.contact_id = np.contact_id AND pn.field = 'name'
		LEFT JOIN pins pe ON pe.contact_id = np.contact_id AND pe.field = 'email'
		LEFT JOIN pins pp ON pp.contact_id = np.contact_id AND pp.field = 'phone'
		LEFT JOIN pins pm ON pm.contact_id = np.contact_id AND pm.field = 'member_id'
		LEFT JOIN (SELECT contact_id, array_agg(field ORDER BY field) AS fields FROM pins GROUP BY contact_id) pf
		       ON pf.contact_id = np.contact_id`,
		`ANALYZE nc`,
		// Attributes: per key, the most recently updated identity's value and type.
		`CREATE TEMP TABLE na (contact_id bigint, key text, value text, type text, display_name text,
		                       updated_at timestamptz, identity_id bigint, PRIMARY KEY (contact_id, key)) ON COMMIT DROP`,
		`INSERT INTO na
		SELECT DISTINCT ON (ai.contact_id, a.key) ai.contact_id, a.key, a.value, a.type, a.display_name, oc.updated_at, ai.id
		FROM `+ai+` ai
		JOIN `+oc+` oc ON oc.platform = ai.platform AND oc.channel_id = ai.channel_id AND oc.user_id = ai.user_id
		CROSS JOIN LATERAL (
			SELECT e->>'key' AS key, e->>'value' AS value,
			       COALESCE(NULLIF(lower(e->>'type'), ''), 'text') AS type, COALESCE(e->>'displayName', '') AS display_name
			FROM jsonb_array_elements(CASE WHEN jsonb_typeof(oc.custom_attributes) = 'array' THEN oc.custom_attributes ELSE '[]'::jsonb END) AS e
			WHERE jsonb_typeof(e) = 'object'
		) a
		WHERE COALESCE(a.key, '') <> '' AND a.value IS NOT NULL
		ORDER BY ai.contact_id, a.key, `+byRecency,
		`INSERT INTO na
		SELECT contact_id, substr(field, 11), value, 'text', substr(field, 11), NULL, NULL
		FROM pins WHERE field LIKE 'attribute:%'
		ON CONFLICT (contact_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = NULL, identity_id = NULL`,
		`ANALYZE na`,
		// Tags: the union of the identities' current tags, each with its most
		// recent application in the tagging logs.
		`CREATE TEMP TABLE nt ON COMMIT DROP AS
		WITH it AS (
			SELECT ai.contact_id, ai.platform, ai.channel_id, ai.user_id, t.tag
			FROM `+ai+` ai
			JOIN `+oc+` oc ON oc.platform = ai.platform AND oc.channel_id = ai.channel_id AND oc.user_id = ai.user_id
			CROSS JOIN LATERAL unnest(oc.tags) AS t (tag)
			WHERE t.tag <> ''
			UNION
			SELECT ai.contact_id, ai.platform, ai.channel_id, ai.user_id, l.tag
			FROM `+ai+` ai
			JOIN omnichat_tagging_logs l ON l.platform = ai.platform AND l.channel_id = ai.channel_id AND l.user_id = ai.user_id
			WHERE NOT ai.has_profile AND l.tag <> ''
		)
		SELECT DISTINCT ON (it.contact_id, it.tag) it.contact_id, it.tag, l.tagged_at AS applied_at, COALESCE(l.source, '') AS source
		FROM it
		LEFT JOIN omnichat_tagging_logs l
		       ON l.platform = it.platform AND l.channel_id = it.channel_id AND l.user_id = it.user_id AND l.tag = it.tag
		ORDER BY it.contact_id, it.tag, l.tagged_at DESC NULLS LAST, l.source, l.platform, l.channel_id, l.user_id, l.message_id`,
		`ANALYZE nt`,
	); err != nil {
		return st, err
	}
	// Facts from the chat history, per identity first, then per contact. An
	// incremental run joins its few identities to their messages (index
	// probes) and aggregates per identity. A full build aggregates the whole
	// message table per identity first (every identity's messages are read
	// anyway: a parallel scan, one group per identity), then joins the
	// 1,000,000 groups to the identities (docs/benchmarks-reconcile.md,
	// "Fourth round"). Both give the same rows.
	perIdentity := `
		SELECT ai.contact_id, ai.platform || '/' || ai.channel_id AS channel, ` + messageFacts + `
		FROM ` + factsIdentities + ` ai
		JOIN omnichat_messages m ON m.platform = ai.platform AND m.channel_id = ai.channel_id AND m.customer_user_id = ai.user_id
		GROUP BY ai.contact_id, ai.id, ai.platform, ai.channel_id`
	if full {
		perIdentity = `
		SELECT ai.contact_id, ai.platform || '/' || ai.channel_id AS channel, m.*
		FROM ` + factsIdentities + ` ai
		JOIN (SELECT m.platform, m.channel_id, m.customer_user_id, ` + messageFacts + `
		      FROM omnichat_messages m GROUP BY 1, 2, 3) m
		  ON m.platform = ai.platform AND m.channel_id = ai.channel_id AND m.customer_user_id = ai.user_id`
	}
	if _, err := r.exec(ctx, what, `
		CREATE TEMP TABLE nf ON COMMIT DROP AS
		SELECT ac.contact_id,
		       min(f.first_at) AS first_message_at, max(f.last_at) AS last_message_at,
		       max(f.last_c) AS last_customer_message_at, max(f.last_a) AS last_agent_message_at,
		       COALESCE(sum(f.total), 0)::int AS messages_total, COALESCE(sum(f.d7), 0)::int AS messages_7d,
		       COALESCE(sum(f.d30), 0)::int AS messages_30d,
		       COALESCE(sum(f.c_total), 0)::int AS customer_messages_total,
		       COALESCE(sum(f.c_d7), 0)::int AS customer_messages_7d,
		       COALESCE(sum(f.c_d30), 0)::int AS customer_messages_30d,
		       COALESCE(sum(f.a_total), 0)::int AS agent_messages_total,
		       COALESCE(sum(f.a_d7), 0)::int AS agent_messages_7d,
		       COALESCE(sum(f.a_d30), 0)::int AS agent_messages_30d,
		       COALESCE(sum(f.b_total), 0)::int AS bot_messages_total,
		       COALESCE(sum(f.b_d7), 0)::int AS bot_messages_7d,
		       COALESCE(sum(f.b_d30), 0)::int AS bot_messages_30d,
		       COALESCE(array_agg(DISTINCT f.channel ORDER BY f.channel) FILTER (WHERE f.channel IS NOT NULL), '{}') AS channels
		FROM `+factsContacts+` ac LEFT JOIN (`+perIdentity+`) f USING (contact_id)
		GROUP BY ac.contact_id`, r.now.Add(-7*24*time.Hour), r.now.Add(-30*24*time.Hour), r.now); err != nil {
		return st, err
	}
	// One hash over everything the master record holds. For a window-only
	// contact the parts other than the facts come from its stored record:
	// the same columns, of the same types, in the same order as nc, np, ha
	// and ht give them (TestRun_windowOnlyContactsKeepTheirHash).
	hashes := `
			SELECT nc.contact_id, md5(ROW(nc.name, nc.email, nc.phone, nc.member_id, nc.excluded, nc.pinned_fields,
				nc.identities, np.identities_hash, ha.h, ht.h, f.*)::text) AS hash, true AS profile
			FROM nc JOIN np USING (contact_id) JOIN nf f USING (contact_id)
			LEFT JOIN ha USING (contact_id) LEFT JOIN ht USING (contact_id)`
	var stored []string
	if !full {
		hashes += `
			UNION ALL
			SELECT hw.contact_id, md5(ROW(hw.name, hw.email, hw.phone, hw.member_id, hw.excluded_from_push, hw.pinned_fields,
				hw.identities, hw.identities_hash, hw.ha, hw.ht, f.*)::text), false
			FROM hw JOIN nf f USING (contact_id)`
		stored = []string{`
		CREATE TEMP TABLE hw ON COMMIT DROP AS
		SELECT c.id AS contact_id, c.name, c.email, c.phone, c.member_id, c.excluded_from_push, c.pinned_fields,
		       c.identities, c.identities_hash,
		       (SELECT ` + attributesHash + ` FROM contact_attributes a WHERE a.contact_id = c.id) AS ha,
		       (SELECT ` + tagsHash + ` FROM contact_tags t WHERE t.contact_id = c.id) AS ht
		FROM acw JOIN contacts c ON c.id = acw.contact_id`, `ANALYZE hw`}
	}
	if err := r.execAll(ctx, what, stored...); err != nil {
		return st, err
	}
	if err := r.execAll(ctx, what,
		`ANALYZE nf`,
		`CREATE TEMP TABLE ha ON COMMIT DROP AS
		SELECT contact_id, `+attributesHash+` AS h
		FROM na GROUP BY contact_id`,
		`CREATE TEMP TABLE ht ON COMMIT DROP AS
		SELECT contact_id, `+tagsHash+` AS h
		FROM nt GROUP BY contact_id`,
		`ANALYZE ha`,
		`ANALYZE ht`,
		// profile: the fields, attributes and tags were recomputed (false
		// for a window-only contact, whose stored ones stay).
		`CREATE TEMP TABLE chg ON COMMIT DROP AS
		WITH h AS (`+hashes+`
		)
		SELECT h.contact_id, h.hash, c.id IS NULL AS is_new, h.profile
		FROM h LEFT JOIN contacts c ON c.id = h.contact_id
		WHERE c.content_hash IS DISTINCT FROM h.hash`,
		`ALTER TABLE chg ADD PRIMARY KEY (contact_id)`,
		`ANALYZE chg`,
		// Attributes and tags of the changed records: only the rows that
		// differ are deleted and inserted (a new name leaves the tags alone,
		// and the tag-event triggers with them). The rows to insert are
		// found before anything is written: a NOT EXISTS against the table
		// being inserted into would rescan the pages the INSERT adds.
		// The changed records' rows are joined first, in a subquery kept
		// apart (OFFSET 0): flattened, the planner estimated the anti-join
		// at one row (it expects nearly every row to match one stored) and
		// ran it before the join with chg, scanning chg once per row it
		// kept; when every attribute had changed (14,000 rows, 7,000
		// changed contacts) that took 4-5 s instead of 0.2 s
		// (docs/benchmarks-reconcile.md, "Sixth round").
		`CREATE TEMP TABLE nai ON COMMIT DROP AS
		 SELECT na.contact_id, na.key, na.value, na.type, na.display_name, na.updated_at, na.identity_id
		 FROM (SELECT na.* FROM na JOIN chg USING (contact_id) OFFSET 0) na
		 WHERE NOT EXISTS (SELECT 1 FROM contact_attributes a WHERE a.contact_id = na.contact_id AND a.key = na.key
		                   AND (na.value, na.type, na.display_name, na.updated_at, na.identity_id)
		                       IS NOT DISTINCT FROM (a.value, a.type, a.display_name, a.updated_at, a.identity_id))`,
		`CREATE TEMP TABLE nti ON COMMIT DROP AS
		 SELECT nt.contact_id, nt.tag, nt.applied_at, nt.source
		 FROM (SELECT nt.* FROM nt JOIN chg USING (contact_id) OFFSET 0) nt
		 WHERE NOT EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = nt.contact_id AND t.tag = nt.tag
		                   AND (nt.applied_at, nt.source) IS NOT DISTINCT FROM (t.applied_at, t.source))`,
		`DELETE FROM contact_attributes a USING chg
		 WHERE a.contact_id = chg.contact_id AND chg.profile
		   AND NOT EXISTS (SELECT 1 FROM na WHERE na.contact_id = a.contact_id AND na.key = a.key
		                   AND (na.value, na.type, na.display_name, na.updated_at, na.identity_id)
		                       IS NOT DISTINCT FROM (a.value, a.type, a.display_name, a.updated_at, a.identity_id))`,
		`DELETE FROM contact_tags t USING chg
		 WHERE t.contact_id = chg.contact_id AND chg.profile
		   AND NOT EXISTS (SELECT 1 FROM nt WHERE nt.contact_id = t.contact_id AND nt.tag = t.tag
		                   AND (nt.applied_at, nt.source) IS NOT DISTINCT FROM (t.applied_at, t.source))`,
		`INSERT INTO contact_attributes (contact_id, key, value, type, display_name, updated_at, identity_id)
		 SELECT contact_id, key, value, type, display_name, updated_at, identity_id FROM nai`,
		`INSERT INTO contact_tags (contact_id, tag, applied_at, source)
		 SELECT contact_id, tag, applied_at, source FROM nti`,
		`INSERT INTO contact_facts
		 SELECT nf.contact_id, first_message_at, last_message_at, last_customer_message_at, last_agent_message_at,
		        messages_total, messages_7d, messages_30d, customer_messages_total, customer_messages_7d, customer_messages_30d,
		        agent_messages_total, agent_messages_7d, agent_messages_30d, bot_messages_total, bot_messages_7d, bot_messages_30d,
		        channels
		 FROM nf JOIN chg USING (contact_id)
		 ON CONFLICT (contact_id) DO UPDATE SET
		        first_message_at = EXCLUDED.first_message_at, last_message_at = EXCLUDED.last_message_at,
		        last_customer_message_at = EXCLUDED.last_customer_message_at, last_agent_message_at = EXCLUDED.last_agent_message_at,
		        messages_total = EXCLUDED.messages_total, messages_7d = EXCLUDED.messages_7d, messages_30d = EXCLUDED.messages_30d,
		        customer_messages_total = EXCLUDED.customer_messages_total, customer_messages_7d = EXCLUDED.customer_messages_7d,
		        customer_messages_30d = EXCLUDED.customer_messages_30d,
		        agent_messages_total = EXCLUDED.agent_messages_total, agent_messages_7d = EXCLUDED.agent_messages_7d,
		        agent_messages_30d = EXCLUDED.agent_messages_30d,
		        bot_messages_total = EXCLUDED.bot_messages_total, bot_messages_7d = EXCLUDED.bot_messages_7d,
		        bot_messages_30d = EXCLUDED.bot_messages_30d, channels = EXCLUDED.channels`,
	); err != nil {
		return st, err
	}
	n, err := r.exec(ctx, what, `
		UPDATE contacts c
		SET name = nc.name, email = nc.email, phone = nc.phone, member_id = nc.member_id,
		    excluded_from_push = nc.excluded, pinned_fields = nc.pinned_fields, identities = nc.identities,
		    identities_hash = np.identities_hash, content_hash = chg.hash, updated_at = $1
		FROM chg JOIN nc USING (contact_id) JOIN np USING (contact_id)
		WHERE c.id = chg.contact_id AND NOT chg.is_new`, r.now)
	if err != nil {
		return st, err
	}
	if !full {
		factsOnly, err := r.exec(ctx, what, `
			UPDATE contacts c SET content_hash = chg.hash, updated_at = $1
			FROM chg WHERE c.id = chg.contact_id AND NOT chg.profile`, r.now)
		if err != nil {
			return st, err
		}
		n += factsOnly
	}
	created, err := r.exec(ctx, what, `
		INSERT INTO contacts (id, name, email, phone, member_id, excluded_from_push, pinned_fields, identities,
		                      created_at, updated_at, content_hash, identities_hash)
		SELECT nc.contact_id, nc.name, nc.email, nc.phone, nc.member_id, nc.excluded, nc.pinned_fields, nc.identities,
		       $1, $1, chg.hash, np.identities_hash
		FROM chg JOIN nc USING (contact_id) JOIN np USING (contact_id)
		WHERE chg.is_new
		ORDER BY nc.contact_id`, r.now)
	if err != nil {
		return st, err
	}
	n += created
	st.Changed = int(n)
	if err := r.tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM ac) + (SELECT count(*) FROM acw), (SELECT count(*) FROM acw)`).
		Scan(&st.Recomputed, &st.FactsOnly); err != nil {
		return st, fmt.Errorf("%s: %w", what, err)
	}
	return st, nil
}
