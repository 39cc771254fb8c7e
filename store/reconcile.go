package store

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"
)

// reconcileLockKey is the advisory lock one reconcile run holds (on its
// connection, from before it claims the queue until after its transaction
// ends), so two runs (in one process or several) take turns.
const reconcileLockKey = 7370101

// Link key kinds, as stored in shared_keys.kind and contact_merges.key_kind.
const (
	KeyMemberID = "member_id"
	KeyPhone    = "phone"
	KeyEmail    = "email"
)

// LinkKeys lists every link key kind, in a fixed order.
var LinkKeys = []string{KeyMemberID, KeyPhone, KeyEmail}

// emailPattern is the test an email must pass, after trimming and
// lower-casing, to be a link key: something@something.something, without
// spaces or a second @. docs/analysts.md quotes it.
const emailPattern = `^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$`

// ReconcileConfig is what a reconcile run links identities by.
type ReconcileConfig struct {
	LinkKeys         []string // some of KeyMemberID, KeyPhone, KeyEmail
	SharedKeyCeiling int      // a key on more identities than this does not link
	DefaultRegion    string   // phone region for numbers without a country code, e.g. "TH"
}

func (c ReconcileConfig) equal(o ReconcileConfig) bool {
	a, b := slices.Clone(c.LinkKeys), slices.Clone(o.LinkKeys)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b) && c.SharedKeyCeiling == o.SharedKeyCeiling && c.DefaultRegion == o.DefaultRegion
}

func (c ReconcileConfig) links(kind string) bool { return slices.Contains(c.LinkKeys, kind) }

// ReconcileState is what the last committed reconcile run used (table
// reconcile_state).
type ReconcileState struct {
	AsOf       time.Time // the run's clock
	FullAsOf   time.Time // the clock of the last full rebuild; zero if none
	FinishedAt time.Time
	Config     ReconcileConfig
}

// NeedsFull reports whether a run with cfg must rebuild everything: no run
// has committed yet, or the link settings changed since.
func (st ReconcileState) NeedsFull(cfg ReconcileConfig) bool {
	return st.AsOf.IsZero() || !st.Config.equal(cfg)
}

// ReconcileTx is one reconcile run: a transaction on a connection holding
// the reconcile advisory lock. Its methods are the run's set-based steps, in
// the order package sync/reconcile calls them; each works on temporary
// tables that live until the transaction ends.
type ReconcileTx struct {
	tx    pgx.Tx
	now   time.Time
	claim string // the run's claim: a pg_snapshot, as text (see Store.Reconcile)
	log   logrus.FieldLogger
	// deferred: the run set crmsync.defer_rollups (DeferRollups); the
	// rollups are brought up to date before it commits.
	deferred bool
}

// Now is the run's clock, taken once the run held the lock and its claim.
func (r *ReconcileTx) Now() time.Time { return r.now }

// Reconcile runs fn in one transaction on a connection that holds the
// reconcile advisory lock (waiting for another run to finish first).
//
// Once it holds the lock it claims reconcile_queue by taking a snapshot
// (pg_current_snapshot()), moving no row: the run's work is the queue rows
// whose queued_by (the transaction that last queued them) that snapshot
// sees. Only then does it read clock, the run's clock (every timestamp the
// run writes, and the end of its message windows): a change committed by a
// run is never older than a run that committed before it started, so a push
// looking back push.ChangeOverlap cannot miss it.
//
// The transaction commits when fn returns nil and rolls back otherwise,
// leaving the master tables as they were. After the commit, in a statement
// of its own, the run deletes the queue rows its snapshot saw. A pull that
// queues one of those identities again meanwhile stamps the row with its own
// transaction, which the snapshot does not see, so the row stays for the
// next run; the pull never waits for the run's transaction. A run that fails
// or crashes has moved nothing: every queued identity is still queued.
func (s *Store) Reconcile(ctx context.Context, clock func() time.Time, fn func(ctx context.Context, rt *ReconcileTx) error) error {
	return s.pgxConn(ctx, func(pc *pgx.Conn) (err error) {
		if _, err := pc.Exec(ctx, fmt.Sprintf(`SELECT pg_advisory_lock(%d)`, reconcileLockKey)); err != nil {
			return fmt.Errorf("reconcile: take the reconcile lock: %w", err)
		}
		defer func() {
			if pc.IsClosed() {
				return // the server ended the session, and its lock with it
			}
			uctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, uerr := pc.Exec(uctx, fmt.Sprintf(`SELECT pg_advisory_unlock(%d)`, reconcileLockKey)); uerr != nil {
				// Never hand a connection still holding the lock back to the pool.
				_ = pc.Close(uctx)
				if err == nil {
					err = fmt.Errorf("reconcile: release the reconcile lock: %w", uerr)
				}
			}
		}()
		var claim string
		if err := pc.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&claim); err != nil {
			return fmt.Errorf("reconcile: claim the queue: %w", err)
		}
		now := clock()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return fmt.Errorf("reconcile: begin: %w", err)
		}
		defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
		for _, q := range []string{
			`SET LOCAL work_mem = '256MB'`,
			`SET LOCAL temp_buffers = '256MB'`,
			// Timestamps hash as text: make the text the same in every session.
			`SET LOCAL TimeZone = 'UTC'`,
			// The run analyses its temporary tables for the planner; a small
			// sample is enough and keeps that cheap.
			`SET LOCAL default_statistics_target = 20`,
			// The run's statements are many and big at scale: compiling them
			// (with inlining and optimisation past jit_optimize_above_cost)
			// costs more than it saves, each time.
			`SET LOCAL jit = off`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("reconcile: prepare transaction: %w", err)
			}
		}
		rt := &ReconcileTx{tx: tx, now: now, claim: claim, log: s.log.WithField("component", "reconcile")}
		if err := fn(ctx, rt); err != nil {
			return err
		}
		if err := rt.catchUpRollups(ctx); err != nil {
			return err
		}
		// The commit runs the deferred foreign-key checks of the identities
		// written (one per row): log its time beside the statements'.
		start := time.Now()
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("reconcile: commit: %w", err)
		}
		rt.log.WithField("took", time.Since(start).Round(time.Millisecond)).Debug("commit")
		start = time.Now()
		tag, err := pc.Exec(ctx, `DELETE FROM reconcile_queue WHERE pg_visible_in_snapshot(queued_by, $1::pg_snapshot)`, claim)
		if err != nil {
			// The run's work is committed; its queue rows stay, and the next
			// run reconciles those identities again (to the same result).
			rt.log.WithError(err).Warn("reconcile: committed, but the queue rows it took were not deleted; the next run takes them again")
			return nil
		}
		rt.log.WithFields(logrus.Fields{"took": time.Since(start).Round(time.Millisecond), "rows": tag.RowsAffected()}).
			Debug("delete the run's queue rows")
		return nil
	})
}

// DeferRollups makes the triggers on the master tables (contact_identities,
// contact_tags, contacts) leave their rollups (tag_event_contact_weeks and
// tag_event_weeks, contact_platforms and contact_platform_counts) for the
// rest of the run's transaction: they only take the rollup's lock and note
// that it is pending (migration 00020). Before the run commits,
// Store.Reconcile recomputes each pending rollup once, set-based, writing
// only the rows that differ, so the rollups committed are exact. A build
// that rewrites most of the master tables pays for one recount instead of
// a trigger per statement; an incremental run touching a few contacts is
// cheaper with the triggers and does not call it.
func (r *ReconcileTx) DeferRollups(ctx context.Context) error {
	if err := r.execAll(ctx, "defer rollups", `SET LOCAL crmsync.defer_rollups = on`); err != nil {
		return err
	}
	r.deferred = true
	return nil
}

// catchUpRollups brings the rollups a deferred run left pending up to date
// (rollups_catch_up(), migration 00020) and ends the deferral.
func (r *ReconcileTx) catchUpRollups(ctx context.Context) error {
	if !r.deferred {
		return nil
	}
	start := time.Now()
	var n int64
	if err := r.tx.QueryRow(ctx, `SELECT rollups_catch_up()`).Scan(&n); err != nil {
		return fmt.Errorf("catch up rollups: %w", err)
	}
	r.log.WithFields(logrus.Fields{"took": time.Since(start).Round(time.Millisecond), "rows": n,
		"sql": "SELECT rollups_catch_up()"}).Debug("catch up rollups")
	if err := r.execAll(ctx, "catch up rollups", `SET LOCAL crmsync.defer_rollups = off`); err != nil {
		return err
	}
	r.deferred = false
	return nil
}

// exec runs one statement, wrapping an error with what.
// Each statement's duration is logged at debug level with the statement's
// first line (never its values).
func (r *ReconcileTx) exec(ctx context.Context, what, q string, args ...any) (int64, error) {
	start := time.Now()
	tag, err := r.tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	r.log.WithFields(logrus.Fields{"took": time.Since(start).Round(time.Millisecond), "rows": tag.RowsAffected(),
		"sql": firstLine(q)}).Debug(what)
	return tag.RowsAffected(), nil
}

// execAll runs argument-free statements in order.
func (r *ReconcileTx) execAll(ctx context.Context, what string, stmts ...string) error {
	for _, q := range stmts {
		if _, err := r.exec(ctx, what, q); err != nil {
			return err
		}
	}
	return nil
}

func (r *ReconcileTx) count(ctx context.Context, what, q string, args ...any) (int, error) {
	var n int
	if err := r.tx.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

// State returns the state the last committed run left; zero when none.
func (r *ReconcileTx) State(ctx context.Context) (ReconcileState, error) {
	var st ReconcileState
	var full *time.Time
	err := r.tx.QueryRow(ctx, `
		SELECT as_of, full_as_of, finished_at, link_keys, shared_key_ceiling, default_region
		FROM reconcile_state WHERE id = 1`).
		Scan(&st.AsOf, &full, &st.FinishedAt, &st.Config.LinkKeys, &st.Config.SharedKeyCeiling, &st.Config.DefaultRegion)
	if errors.Is(err, pgx.ErrNoRows) {
		return ReconcileState{}, nil
	}
	if err != nil {
		return ReconcileState{}, fmt.Errorf("read reconcile state: %w", err)
	}
	if full != nil {
		st.FullAsOf = *full
	}
	return st, nil
}

// SaveState records the run as the last committed one (it commits with the
// run).
func (r *ReconcileTx) SaveState(ctx context.Context, cfg ReconcileConfig, full bool) error {
	_, err := r.tx.Exec(ctx, `
		INSERT INTO reconcile_state (id, as_of, full_as_of, finished_at, link_keys, shared_key_ceiling, default_region)
		VALUES (1, $1, CASE WHEN $2 THEN $1::timestamptz END, clock_timestamp(), $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET
			as_of = EXCLUDED.as_of,
			full_as_of = COALESCE(EXCLUDED.full_as_of, reconcile_state.full_as_of),
			finished_at = EXCLUDED.finished_at,
			link_keys = EXCLUDED.link_keys,
			shared_key_ceiling = EXCLUDED.shared_key_ceiling,
			default_region = EXCLUDED.default_region`,
		r.now, full, cfg.LinkKeys, cfg.SharedKeyCeiling, cfg.DefaultRegion)
	if err != nil {
		return fmt.Errorf("save reconcile state: %w", err)
	}
	return nil
}

// TakeQueue copies the queue rows the run's claim sees (see
// Store.Reconcile) into its work list (temporary table rq) and returns how
// many identities it holds. They are deleted only after the run commits.
//
// A full run reads everything anyway: it only counts them.
func (r *ReconcileTx) TakeQueue(ctx context.Context, full bool) (int, error) {
	if err := r.execAll(ctx, "take reconcile queue",
		`CREATE TEMP TABLE rq (platform text, channel_id text, user_id text, PRIMARY KEY (platform, channel_id, user_id)) ON COMMIT DROP`,
	); err != nil {
		return 0, err
	}
	if full {
		return r.count(ctx, "take reconcile queue", `SELECT count(*) FROM reconcile_queue WHERE pg_visible_in_snapshot(queued_by, $1::pg_snapshot)`, r.claim)
	}
	// An incremental run touches a few rows of big tables, which are in
	// memory after the pull: price an index probe as such, so its joins
	// probe the raw and master tables rather than scanning them whole.
	if err := r.execAll(ctx, "take reconcile queue", `SET LOCAL random_page_cost = 1.1`); err != nil {
		return 0, err
	}
	n, err := r.exec(ctx, "take reconcile queue", `
		INSERT INTO rq SELECT platform, channel_id, user_id FROM reconcile_queue
		WHERE pg_visible_in_snapshot(queued_by, $1::pg_snapshot)`, r.claim)
	if err != nil {
		return 0, err
	}
	if err := r.execAll(ctx, "take reconcile queue", `ANALYZE rq`); err != nil {
		return 0, err
	}
	return int(n), nil
}

// PendingPhones returns the distinct raw phones of the queued identities
// (every contact when full) that phone_numbers does not know yet for region.
func (r *ReconcileTx) PendingPhones(ctx context.Context, region string, full bool) ([]string, error) {
	q := `SELECT DISTINCT c.phone FROM omnichat_contacts c JOIN rq USING (platform, channel_id, user_id)
		WHERE c.phone <> '' AND NOT EXISTS (SELECT 1 FROM phone_numbers p WHERE p.raw = c.phone AND p.region = $1)`
	if full {
		q = `SELECT DISTINCT c.phone FROM omnichat_contacts c
		WHERE c.phone <> '' AND NOT EXISTS (SELECT 1 FROM phone_numbers p WHERE p.raw = c.phone AND p.region = $1)`
	}
	rows, err := r.tx.Query(ctx, q, region)
	if err != nil {
		return nil, fmt.Errorf("list phones to normalise: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list phones to normalise: %w", err)
	}
	return out, nil
}

// PhoneNumber is one row of the phone lookup: a raw phone and its E.164
// form ("" when it is not a valid number).
type PhoneNumber struct {
	Raw, E164 string
}

// SavePhones adds normalised phones for region to phone_numbers with one
// COPY, reading them from phones as the COPY goes (the caller may still be
// normalising the rest). It returns how many it saved.
func (r *ReconcileTx) SavePhones(ctx context.Context, region string, phones iter.Seq[PhoneNumber]) (int, error) {
	next, stop := iter.Pull(phones)
	defer stop()
	n, err := r.tx.CopyFrom(ctx, pgx.Identifier{"phone_numbers"}, []string{"raw", "region", "e164", "normalised_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			p, ok := next()
			if !ok {
				return nil, nil
			}
			return []any{p.Raw, region, p.E164, r.now}, nil
		}))
	if err != nil {
		return 0, fmt.Errorf("save normalised phones: %w", err)
	}
	return int(n), nil
}

// IdentityStats counts what SyncIdentities did.
type IdentityStats struct {
	New         int // identities seen for the first time
	KeysChanged int // existing identities whose link keys or profile presence changed
}

// identityKeysSQL computes an identity's link keys from its raw contact row
// (alias c, joined by identityKeysJoin to alias i; $1 is the region).
const identityKeysSQL = `
	(c.user_id IS NOT NULL) AS has_profile,
	COALESCE(btrim(c.member_id), '') AS member_id,
	CASE WHEN lower(btrim(c.email)) ~ '` + emailPattern + `' THEN lower(btrim(c.email)) ELSE '' END AS email,
	COALESCE(p.e164, '') AS phone_e164`

const identityKeysJoin = `
	LEFT JOIN omnichat_contacts c ON c.platform = i.platform AND c.channel_id = i.channel_id AND c.user_id = i.user_id
	LEFT JOIN phone_numbers p ON p.raw = c.phone AND p.region = $1`

// allIdentities is every identity, those stored and those first seen in
// this run (temporary table wn, written by ApplyLinks), with the columns
// linking needs.
const allIdentities = `(SELECT id, contact_id, member_id, email, phone_e164 FROM contact_identities
	UNION ALL SELECT id, NULL::bigint, member_id, email, phone_e164 FROM wn)`

// SyncIdentities finds the identities seen for the first time (from the
// queue, or from every raw table when full) with their link keys and
// reserves their ids in (platform, channel_id, user_id) order, so the same
// history always gives the same ids (temporary table wn; ApplyLinks writes
// them together with their contact). It recomputes the keys of the queued
// existing identities (all when full). Old and new keys of both stay in
// temporary table wk for HoldBackKeys.
func (r *ReconcileTx) SyncIdentities(ctx context.Context, region string, full bool) (IdentityStats, error) {
	var st IdentityStats
	work := `JOIN rq USING (platform, channel_id, user_id)`
	// Only the queued identities not stored yet can be new: those are
	// found first (one probe each of contact_identities), and only they
	// are looked up in the raw tables, one semi-join per raw table (an OR
	// of EXISTS would be planned as hashed subplans reading each table
	// whole).
	src := `WITH unk AS MATERIALIZED (
			SELECT platform, channel_id, user_id FROM rq q
			WHERE user_id <> '' AND NOT EXISTS (SELECT 1 FROM contact_identities x
				WHERE x.platform = q.platform AND x.channel_id = q.channel_id AND x.user_id = q.user_id))
		SELECT platform, channel_id, user_id FROM unk q
		WHERE EXISTS (SELECT 1 FROM omnichat_contacts c WHERE (c.platform, c.channel_id, c.user_id) = (q.platform, q.channel_id, q.user_id))
		UNION
		SELECT platform, channel_id, user_id FROM unk q
		WHERE EXISTS (SELECT 1 FROM omnichat_messages m WHERE (m.platform, m.channel_id, m.customer_user_id) = (q.platform, q.channel_id, q.user_id))
		UNION
		SELECT platform, channel_id, user_id FROM unk q
		WHERE EXISTS (SELECT 1 FROM omnichat_tagging_logs l WHERE (l.platform, l.channel_id, l.user_id) = (q.platform, q.channel_id, q.user_id))`
	if full {
		work = ``
		// Contacts are unique already; the chat history and tagging logs
		// only add the few identities without a contact row, so anti-join
		// them first rather than de-duplicating ten million messages.
		src = `SELECT platform, channel_id, user_id FROM omnichat_contacts WHERE user_id <> ''
		UNION ALL
		SELECT DISTINCT platform, channel_id, user_id FROM (
			SELECT m.platform, m.channel_id, m.customer_user_id AS user_id FROM omnichat_messages m
			WHERE m.customer_user_id <> '' AND NOT EXISTS (SELECT 1 FROM omnichat_contacts c
				WHERE c.platform = m.platform AND c.channel_id = m.channel_id AND c.user_id = m.customer_user_id)
			UNION ALL
			SELECT l.platform, l.channel_id, l.user_id FROM omnichat_tagging_logs l
			WHERE l.user_id <> '' AND NOT EXISTS (SELECT 1 FROM omnichat_contacts c
				WHERE c.platform = l.platform AND c.channel_id = l.channel_id AND c.user_id = l.user_id)) x`
	}
	// Only reconcile takes identity ids, under its lock, so the next ones
	// are the sequence's next values.
	var next int64
	if err := r.tx.QueryRow(ctx, `SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END
		FROM contact_identities_id_seq`).Scan(&next); err != nil {
		return st, fmt.Errorf("sync identities: read id sequence: %w", err)
	}
	n, err := r.exec(ctx, "find new identities", `
		CREATE TEMP TABLE wn ON COMMIT DROP AS
		SELECT $2::bigint - 1 + row_number() OVER (ORDER BY i.platform, i.channel_id, i.user_id) AS id,
		       i.platform, i.channel_id, i.user_id, `+identityKeysSQL+`
		FROM (`+src+`) i `+identityKeysJoin+`
		WHERE NOT EXISTS (SELECT 1 FROM contact_identities x
		                  WHERE x.platform = i.platform AND x.channel_id = i.channel_id AND x.user_id = i.user_id)`,
		region, next)
	if err != nil {
		return st, err
	}
	st.New = int(n)
	if n > 0 {
		if _, err := r.tx.Exec(ctx, `SELECT setval('contact_identities_id_seq', $1)`, next+n-1); err != nil {
			return st, fmt.Errorf("sync identities: reserve ids: %w", err)
		}
	}
	if err := r.execAll(ctx, "find new identities", `ALTER TABLE wn ADD PRIMARY KEY (id)`, `ANALYZE wn`); err != nil {
		return st, err
	}
	if !full {
		if err := r.execAll(ctx, "find new identities",
			`CREATE INDEX ON wn (member_id) WHERE member_id <> ''`,
			`CREATE INDEX ON wn (email) WHERE email <> ''`,
			`CREATE INDEX ON wn (phone_e164) WHERE phone_e164 <> ''`); err != nil {
			return st, err
		}
	}
	if _, err := r.exec(ctx, "sync identities", `
		CREATE TEMP TABLE wk ON COMMIT DROP AS
		SELECT i.id, false AS is_new, i.has_profile AS old_has_profile, i.member_id AS old_member_id,
		       i.email AS old_email, i.phone_e164 AS old_phone_e164, `+identityKeysSQL+`
		FROM contact_identities i `+work+identityKeysJoin, region); err != nil {
		return st, err
	}
	if _, err := r.exec(ctx, "sync identities", `
		INSERT INTO wk (id, is_new, old_has_profile, old_member_id, old_email, old_phone_e164, has_profile, member_id, email, phone_e164)
		SELECT id, true, false, '', '', '', has_profile, member_id, email, phone_e164 FROM wn`); err != nil {
		return st, err
	}
	n, err = r.exec(ctx, "update identity keys", `
		UPDATE contact_identities i
		SET has_profile = w.has_profile, member_id = w.member_id, email = w.email, phone_e164 = w.phone_e164, updated_at = $1
		FROM wk w
		WHERE i.id = w.id AND NOT w.is_new
		  AND (w.has_profile, w.member_id, w.email, w.phone_e164) IS DISTINCT FROM
		      (w.old_has_profile, w.old_member_id, w.old_email, w.old_phone_e164)`, r.now)
	if err != nil {
		return st, err
	}
	st.KeysChanged = int(n)
	if err := r.execAll(ctx, "sync identities", `ALTER TABLE wk ADD PRIMARY KEY (id)`, `ANALYZE wk`); err != nil {
		return st, err
	}
	return st, nil
}
