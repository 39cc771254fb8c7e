package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// keyColumn maps a link key kind to its contact_identities column.
var keyColumn = map[string]string{KeyMemberID: "member_id", KeyPhone: "phone_e164", KeyEmail: "email"}

// linkable is the SQL condition "identity i links by kind": the kind is
// enabled ($enabled) and the value is non-empty and not held back.
func linkable(kind, alias, enabled string) string {
	col := alias + "." + keyColumn[kind]
	return fmt.Sprintf(`(%s AND %s <> '' AND NOT EXISTS (SELECT 1 FROM shared_keys h WHERE h.kind = '%s' AND h.value = %s))`,
		enabled, col, kind, col)
}

// HoldBackKeys brings shared_keys up to date for the keys whose
// identities changed in this run (every key when full): a key carried by
// more than cfg.SharedKeyCeiling identities is held back and links nothing.
// Keys that crossed the ceiling either way are remembered (temporary table
// kflip) so that CollectAffected revisits every identity carrying them. It
// returns how many keys are held back in all.
func (r *ReconcileTx) HoldBackKeys(ctx context.Context, cfg ReconcileConfig, full bool) (int, error) {
	what := "hold back shared keys"
	if full {
		if err := r.execAll(ctx, what, `CREATE TEMP TABLE kflip (kind text, value text) ON COMMIT DROP`); err != nil {
			return 0, err
		}
		if _, err := r.exec(ctx, what, `
			CREATE TEMP TABLE kn ON COMMIT DROP AS
			SELECT 'member_id'::text AS kind, member_id AS value, count(*)::int AS n FROM `+allIdentities+` i
			WHERE member_id <> '' AND 'member_id' = ANY($1) GROUP BY member_id HAVING count(*) > $2
			UNION ALL
			SELECT 'phone', phone_e164, count(*)::int FROM `+allIdentities+` i
			WHERE phone_e164 <> '' AND 'phone' = ANY($1) GROUP BY phone_e164 HAVING count(*) > $2
			UNION ALL
			SELECT 'email', email, count(*)::int FROM `+allIdentities+` i
			WHERE email <> '' AND 'email' = ANY($1) GROUP BY email HAVING count(*) > $2`,
			cfg.LinkKeys, cfg.SharedKeyCeiling); err != nil {
			return 0, err
		}
		if _, err := r.exec(ctx, what, `
			DELETE FROM shared_keys h
			WHERE NOT EXISTS (SELECT 1 FROM kn WHERE kn.kind = h.kind AND kn.value = h.value)`); err != nil {
			return 0, err
		}
	} else {
		if _, err := r.exec(ctx, what, `
			CREATE TEMP TABLE kc ON COMMIT DROP AS
			SELECT DISTINCT k.kind, k.value
			FROM wk, LATERAL (VALUES ('member_id', wk.old_member_id), ('member_id', wk.member_id),
			                         ('phone', wk.old_phone_e164), ('phone', wk.phone_e164),
			                         ('email', wk.old_email), ('email', wk.email)) AS k (kind, value)
			WHERE k.value <> '' AND k.kind = ANY($1)
			  AND (wk.is_new OR (wk.member_id, wk.email, wk.phone_e164) IS DISTINCT FROM
			                    (wk.old_member_id, wk.old_email, wk.old_phone_e164))`, cfg.LinkKeys); err != nil {
			return 0, err
		}
		if err := r.execAll(ctx, what, `
			CREATE TEMP TABLE kcount ON COMMIT DROP AS
			SELECT kc.kind, kc.value,
			       CASE kc.kind
			       WHEN 'member_id' THEN (SELECT count(*) FROM `+allIdentities+` i WHERE i.member_id <> '' AND i.member_id = kc.value)
			       WHEN 'phone' THEN (SELECT count(*) FROM `+allIdentities+` i WHERE i.phone_e164 <> '' AND i.phone_e164 = kc.value)
			       ELSE (SELECT count(*) FROM `+allIdentities+` i WHERE i.email <> '' AND i.email = kc.value)
			       END::int AS n,
			       EXISTS (SELECT 1 FROM shared_keys h WHERE h.kind = kc.kind AND h.value = kc.value) AS was_held
			FROM kc`); err != nil {
			return 0, err
		}
		if _, err := r.exec(ctx, what, `
			CREATE TEMP TABLE kflip ON COMMIT DROP AS
			SELECT kind, value FROM kcount WHERE (n > $1) <> was_held`, cfg.SharedKeyCeiling); err != nil {
			return 0, err
		}
		if _, err := r.exec(ctx, what, `
			CREATE TEMP TABLE kn ON COMMIT DROP AS SELECT kind, value, n FROM kcount WHERE n > $1`, cfg.SharedKeyCeiling); err != nil {
			return 0, err
		}
		if _, err := r.exec(ctx, what, `
			DELETE FROM shared_keys h USING kcount k
			WHERE h.kind = k.kind AND h.value = k.value AND k.n <= $1`, cfg.SharedKeyCeiling); err != nil {
			return 0, err
		}
	}
	if _, err := r.exec(ctx, what, `
		INSERT INTO shared_keys (kind, value, identities, first_held_at, updated_at)
		SELECT kind, value, n, $1, $1 FROM kn
		ON CONFLICT (kind, value) DO UPDATE SET identities = EXCLUDED.identities, updated_at = EXCLUDED.updated_at
		WHERE shared_keys.identities <> EXCLUDED.identities`, r.now); err != nil {
		return 0, err
	}
	return r.count(ctx, what, `SELECT count(*) FROM shared_keys`)
}

// CollectAffected fills the run's affected set (temporary table aff): when
// full, every identity; otherwise the queued identities, every identity
// carrying a key that crossed the ceiling, and then, until nothing is added,
// every identity sharing a linkable key with one in the set or belonging to
// the same contact as one in the set. The set is thus a union of whole
// contacts, old and new, and relinking it alone gives the same result as
// relinking everything. If the expansion has not settled after maxRounds
// rounds it falls back to every identity. It returns the set's size and
// whether it became the full set.
func (r *ReconcileTx) CollectAffected(ctx context.Context, cfg ReconcileConfig, full bool, maxRounds int) (int, bool, error) {
	what := "collect affected identities"
	if err := r.execAll(ctx, what,
		`CREATE TEMP TABLE aff (id bigint PRIMARY KEY) ON COMMIT DROP`); err != nil {
		return 0, full, err
	}
	if full {
		n, err := r.fillAllAffected(ctx)
		return n, true, err
	}
	if err := r.execAll(ctx, what,
		`CREATE TEMP TABLE fr (id bigint PRIMARY KEY) ON COMMIT DROP`,
		`CREATE TEMP TABLE fr_next (id bigint PRIMARY KEY) ON COMMIT DROP`,
		`CREATE TEMP TABLE frk (id bigint, contact_id bigint, member_id text, email text, phone_e164 text) ON COMMIT DROP`,
		`INSERT INTO aff SELECT id FROM wk`,
		`INSERT INTO aff
		 SELECT i.id FROM kflip k JOIN `+allIdentities+` i ON i.member_id <> '' AND i.member_id = k.value WHERE k.kind = 'member_id'
		 UNION SELECT i.id FROM kflip k JOIN `+allIdentities+` i ON i.phone_e164 <> '' AND i.phone_e164 = k.value WHERE k.kind = 'phone'
		 UNION SELECT i.id FROM kflip k JOIN `+allIdentities+` i ON i.email <> '' AND i.email = k.value WHERE k.kind = 'email'
		 ON CONFLICT DO NOTHING`,
		`INSERT INTO fr SELECT id FROM aff`,
	); err != nil {
		return 0, false, err
	}
	// Each round looks up the keys of the identities added last round (fr,
	// with their keys in frk), then every identity sharing a linkable key
	// or a contact with them, stored (index lookups) or new (wn).
	// An absent key is NULL in frk, not '': frk's statistics then carry no
	// '' that the planner would match with the identities' many '' values
	// (the key filters exclude both, but the estimate does not know it):
	// with '' it expected millions of rows and sized a hash table for them.
	frontierKeys := []string{
		`TRUNCATE frk`,
		`INSERT INTO frk
		 SELECT i.id, i.contact_id, NULLIF(i.member_id, ''), NULLIF(i.email, ''), NULLIF(i.phone_e164, '')
		 FROM fr JOIN contact_identities i USING (id)
		 UNION ALL
		 SELECT w.id, NULL, NULLIF(w.member_id, ''), NULLIF(w.email, ''), NULLIF(w.phone_e164, '') FROM fr JOIN wn w USING (id)`,
		`ANALYZE frk`,
	}
	var branches []string
	branches = append(branches, `SELECT i2.id FROM frk f JOIN contact_identities i2 ON i2.contact_id = f.contact_id`)
	for n, kind := range LinkKeys {
		col := keyColumn[kind]
		cond := linkable(kind, "f", fmt.Sprintf("$%d", n+1))
		for _, tbl := range []string{"contact_identities", "wn"} {
			branches = append(branches, fmt.Sprintf(`SELECT i2.id FROM frk f JOIN %s i2 ON i2.%s <> '' AND i2.%s = f.%s WHERE %s`,
				tbl, col, col, col, cond))
		}
	}
	// UNION ALL: the INSERT's ON CONFLICT DO NOTHING drops the duplicates
	// (those within the statement too), without a hash of every candidate.
	expand := `
		WITH cand AS (` + strings.Join(branches, "\n\t\t\tUNION ALL\n\t\t\t") + `),
		ins AS (INSERT INTO aff SELECT id FROM cand ON CONFLICT DO NOTHING RETURNING id)
		INSERT INTO fr_next SELECT id FROM ins`
	for round := 0; ; round++ {
		if round == maxRounds {
			n, err := r.fillAllAffected(ctx)
			return n, true, err
		}
		if err := r.execAll(ctx, what, frontierKeys...); err != nil {
			return 0, false, err
		}
		added, err := r.exec(ctx, what, expand, cfg.links(KeyMemberID), cfg.links(KeyPhone), cfg.links(KeyEmail))
		if err != nil {
			return 0, false, err
		}
		if added == 0 {
			break
		}
		if err := r.execAll(ctx, what,
			`TRUNCATE fr`, `INSERT INTO fr SELECT id FROM fr_next`, `TRUNCATE fr_next`); err != nil {
			return 0, false, err
		}
	}
	if err := r.execAll(ctx, what, `ANALYZE aff`); err != nil {
		return 0, false, err
	}
	n, err := r.count(ctx, what, `SELECT count(*) FROM aff`)
	return n, false, err
}

func (r *ReconcileTx) fillAllAffected(ctx context.Context) (int, error) {
	what := "collect affected identities"
	if err := r.execAll(ctx, what,
		`TRUNCATE aff`, `INSERT INTO aff SELECT id FROM contact_identities UNION ALL SELECT id FROM wn`, `ANALYZE aff`); err != nil {
		return 0, err
	}
	return r.count(ctx, what, `SELECT count(*) FROM aff`)
}

// LinkGraph is the identity graph of a run's affected set.
type LinkGraph struct {
	Identities []int64    // identity ids, ascending
	Contacts   []int64    // Contacts[i] is the contact of Identities[i] before the run; 0 for a new identity
	Edges      []LinkEdge // A and B share a linkable key
}

// LinkEdge says that identities Identities[A] and Identities[B] share a
// linkable key of the given kind. Each key contributes a star: every
// identity carrying it is joined to the one with the smallest id.
type LinkEdge struct {
	A, B int32
	Kind string
}

// LinkGraph loads the affected identities, their current contacts and the
// edges between them (two streaming queries).
func (r *ReconcileTx) LinkGraph(ctx context.Context, cfg ReconcileConfig) (*LinkGraph, error) {
	g := &LinkGraph{}
	rows, err := r.tx.Query(ctx, `SELECT a.id, COALESCE(i.contact_id, 0) FROM aff a JOIN `+allIdentities+` i USING (id) ORDER BY a.id`)
	if err != nil {
		return nil, fmt.Errorf("load identities: %w", err)
	}
	var id, c int64
	_, err = pgx.ForEachRow(rows, []any{&id, &c}, func() error {
		g.Identities = append(g.Identities, id)
		g.Contacts = append(g.Contacts, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load identities: %w", err)
	}
	var q string
	for n, kind := range LinkKeys {
		if !cfg.links(kind) {
			continue
		}
		if q != "" {
			q += " UNION ALL "
		}
		col := "i." + keyColumn[kind]
		q += fmt.Sprintf(`SELECT i.id, min(i.id) OVER (PARTITION BY %s) AS anchor, %d AS kind
			FROM aff a JOIN %s i USING (id) WHERE %s`, col, n, allIdentities, linkable(kind, "i", "true"))
	}
	if q == "" {
		return g, nil
	}
	rows, err = r.tx.Query(ctx, `SELECT id, anchor, kind FROM (`+q+`) e WHERE id <> anchor`)
	if err != nil {
		return nil, fmt.Errorf("load link edges: %w", err)
	}
	var anchor int64
	var kind int
	_, err = pgx.ForEachRow(rows, []any{&id, &anchor, &kind}, func() error {
		a, okA := slices.BinarySearch(g.Identities, id)
		b, okB := slices.BinarySearch(g.Identities, anchor)
		if !okA || !okB {
			return fmt.Errorf("edge %d-%d leaves the affected set", id, anchor)
		}
		g.Edges = append(g.Edges, LinkEdge{A: int32(a), B: int32(b), Kind: LinkKeys[kind]})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load link edges: %w", err)
	}
	return g, nil
}

// NewContactIDs reserves n contact ids, ascending.
func (r *ReconcileTx) NewContactIDs(ctx context.Context, n int) ([]int64, error) {
	if n == 0 {
		return nil, nil
	}
	rows, err := r.tx.Query(ctx, `SELECT nextval('contacts_id_seq') FROM generate_series(1, $1)`, n)
	if err != nil {
		return nil, fmt.Errorf("reserve contact ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("reserve contact ids: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// LinkChanges is what linking decided for the affected set.
type LinkChanges struct {
	NewContacts []int64      // ids from NewContactIDs to create
	Assign      []Assignment // identities whose contact changes (or is set for the first time)
	Merges      []Merge
	Splits      []Split
}

// Assignment moves an identity to a contact.
type Assignment struct {
	IdentityID, ContactID int64
}

// Merge records that contact From was found to be the same person as Into
// (From > Into), through the key of the given kind that ViaIdentity carries.
type Merge struct {
	From, Into  int64
	ViaIdentity int64
	Kind        string
}

// Split records that Identities identities left contact From for contact To.
type Split struct {
	From, To   int64
	Identities int
}

// ApplyLinks writes linking's decisions: moves the identities (one COPY and
// one UPDATE; new identities are inserted), turns merged contacts into
// tombstones pointing at their survivor (re-pointing older tombstones and
// moving their overrides), and records merges and splits.
func (r *ReconcileTx) ApplyLinks(ctx context.Context, ch LinkChanges) error {
	what := "apply links"
	// New contacts are written by RebuildContacts, with their content; the
	// foreign keys to them are checked at commit.
	if err := r.execAll(ctx, what,
		`CREATE TEMP TABLE asg (identity_id bigint, contact_id bigint) ON COMMIT DROP`); err != nil {
		return err
	}
	if len(ch.Assign) > 0 {
		if _, err := r.tx.CopyFrom(ctx, pgx.Identifier{"asg"}, []string{"identity_id", "contact_id"},
			pgx.CopyFromSlice(len(ch.Assign), func(i int) ([]any, error) {
				return []any{ch.Assign[i].IdentityID, ch.Assign[i].ContactID}, nil
			})); err != nil {
			return fmt.Errorf("%s: copy assignments: %w", what, err)
		}
		if err := r.execAll(ctx, what, `ANALYZE asg`); err != nil {
			return err
		}
		if _, err := r.exec(ctx, what, `
			UPDATE contact_identities i SET contact_id = a.contact_id, updated_at = $1
			FROM asg a WHERE i.id = a.identity_id`, r.now); err != nil {
			return err
		}
	}
	// Identities first seen in this run are written once, with their contact.
	if _, err := r.exec(ctx, what, `
		INSERT INTO contact_identities (id, platform, channel_id, user_id, contact_id, has_profile, member_id, email, phone_e164,
		                                first_seen_at, updated_at)
		SELECT wn.id, wn.platform, wn.channel_id, wn.user_id, a.contact_id, wn.has_profile, wn.member_id, wn.email, wn.phone_e164, $1, $1
		FROM wn JOIN asg a ON a.identity_id = wn.id
		ORDER BY wn.id`, r.now); err != nil {
		return err
	}
	if len(ch.Merges) > 0 {
		from := make([]int64, len(ch.Merges))
		into := make([]int64, len(ch.Merges))
		via := make([]int64, len(ch.Merges))
		kind := make([]string, len(ch.Merges))
		for i, m := range ch.Merges {
			from[i], into[i], via[i], kind[i] = m.From, m.Into, m.ViaIdentity, m.Kind
		}
		if _, err := r.exec(ctx, what, `
			CREATE TEMP TABLE mg ON COMMIT DROP AS
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) AS m (from_id, into_id, via_identity, kind)`,
			from, into, via, kind); err != nil {
			return err
		}
		if err := r.execAll(ctx, what, `ANALYZE mg`); err != nil {
			return err
		}
		if _, err := r.exec(ctx, what, `
			INSERT INTO contact_merges (from_contact_id, into_contact_id, key_kind, key_value, merged_at)
			SELECT m.from_id, m.into_id, m.kind,
			       CASE m.kind WHEN 'member_id' THEN i.member_id WHEN 'phone' THEN i.phone_e164 ELSE i.email END, $1
			FROM mg m JOIN contact_identities i ON i.id = m.via_identity
			ORDER BY m.from_id`, r.now); err != nil {
			return err
		}
		if err := r.execAll(ctx, what,
			`UPDATE contacts c SET merged_into = m.into_id FROM mg m WHERE c.merged_into = m.from_id`,
			`UPDATE contact_overrides o SET contact_id = m.into_id FROM mg m WHERE o.contact_id = m.from_id`,
			`DELETE FROM contact_attributes a USING mg m WHERE a.contact_id = m.from_id`,
			`DELETE FROM contact_tags t USING mg m WHERE t.contact_id = m.from_id`,
			`DELETE FROM contact_facts f USING mg m WHERE f.contact_id = m.from_id`,
		); err != nil {
			return err
		}
		if _, err := r.exec(ctx, what, `
			UPDATE contacts c SET merged_into = m.into_id, identities = 0, content_hash = '', identities_hash = NULL, updated_at = $1
			FROM mg m WHERE c.id = m.from_id`, r.now); err != nil {
			return err
		}
	}
	if len(ch.Splits) > 0 {
		from := make([]int64, len(ch.Splits))
		to := make([]int64, len(ch.Splits))
		n := make([]int32, len(ch.Splits))
		for i, s := range ch.Splits {
			from[i], to[i], n[i] = s.From, s.To, int32(s.Identities)
		}
		if _, err := r.exec(ctx, what, `
			INSERT INTO contact_splits (from_contact_id, to_contact_id, identities, split_at)
			SELECT f, t, n, $4 FROM unnest($1::bigint[], $2::bigint[], $3::int[]) AS s (f, t, n)`,
			from, to, n, r.now); err != nil {
			return err
		}
	}
	return nil
}
