package store

import (
	"context"
	"fmt"
	"strings"
)

// Read-only summary queries for `crmsync demo`. They read whatever tables
// exist, so they work on a database migrated to any version.

// EnsureDatabase creates the database name on the server of adminDSN (a
// connection to any database there, e.g. "postgres") unless it exists, and
// reports whether it created it.
func EnsureDatabase(ctx context.Context, adminDSN, name string) (created bool, err error) {
	admin, err := Open(ctx, adminDSN, Options{MaxOpenConns: 1})
	if err != nil {
		return false, err
	}
	defer admin.Close()
	var exists bool
	if err := admin.sql.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return false, fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return false, nil
	}
	if _, err := admin.sql.ExecContext(ctx, `CREATE DATABASE `+quoteIdent(name)); err != nil {
		return false, fmt.Errorf("create database %s: %w", name, err)
	}
	return true, nil
}

// TableCount is the number of rows in one table.
type TableCount struct {
	Table string
	Rows  int64
}

// TableCounts returns the exact row count of every table in the database's
// public schema, except goose's migration table, ordered by name.
func (s *Store) TableCounts(ctx context.Context) ([]TableCount, error) {
	var names []string
	if err := s.db.WithContext(ctx).Raw(`SELECT tablename FROM pg_tables
		WHERE schemaname = 'public' AND tablename <> ? ORDER BY tablename`, MigrationTable).Scan(&names).Error; err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	parts := make([]string, len(names))
	for i, n := range names {
		// n comes from pg_tables; quote it as an identifier all the same.
		parts[i] = fmt.Sprintf(`SELECT %s AS table_name, count(*) AS n FROM %s`, quoteLiteral(n), quoteIdent(n))
	}
	var rows []struct {
		TableName string `gorm:"column:table_name"`
		N         int64  `gorm:"column:n"`
	}
	if err := s.db.WithContext(ctx).Raw(strings.Join(parts, " UNION ALL ") + ` ORDER BY 1`).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("count rows: %w", err)
	}
	out := make([]TableCount, len(rows))
	for i, r := range rows {
		out[i] = TableCount{Table: r.TableName, Rows: r.N}
	}
	return out, nil
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteLiteral quotes a PostgreSQL string literal.
func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// existing returns which of the named tables and views exist, for the
// summaries that must work on a database migrated to any version (a
// statement naming a missing relation fails even under a CASE).
func (s *Store) existing(ctx context.Context, names ...string) (map[string]bool, error) {
	var have []string
	if err := s.db.WithContext(ctx).Raw(`SELECT n FROM unnest(?::text[]) AS n WHERE to_regclass(n) IS NOT NULL`,
		textArray(names)).Scan(&have).Error; err != nil {
		return nil, fmt.Errorf("look up tables: %w", err)
	}
	out := make(map[string]bool, len(have))
	for _, n := range have {
		out[n] = true
	}
	return out, nil
}

// PeopleCount is how identities resolved into people.
type PeopleCount struct {
	People     int64 // live master contacts (not merged into another)
	Merged     int64 // contacts merged into another (tombstones)
	Identities int64 // contact_identities rows
	Linked     int64 // live contacts with more than one identity
	SharedKeys int64 // keys on more identities than the ceiling (shared_keys rows)
}

// CountPeople counts master contacts against identities. Tables that do not
// exist yet count as empty.
func (s *Store) CountPeople(ctx context.Context) (PeopleCount, error) {
	var pc PeopleCount
	have, err := s.existing(ctx, "contacts", "contact_identities", "shared_keys")
	if err != nil {
		return pc, fmt.Errorf("count people: %w", err)
	}
	if have["contacts"] {
		if err := s.db.WithContext(ctx).Raw(`SELECT
			count(*) FILTER (WHERE merged_into IS NULL) AS people,
			count(*) FILTER (WHERE merged_into IS NOT NULL) AS merged,
			count(*) FILTER (WHERE merged_into IS NULL AND identities > 1) AS linked
			FROM contacts`).Row().Scan(&pc.People, &pc.Merged, &pc.Linked); err != nil {
			return pc, fmt.Errorf("count people: %w", err)
		}
	}
	if have["contact_identities"] {
		if err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM contact_identities`).Row().Scan(&pc.Identities); err != nil {
			return pc, fmt.Errorf("count identities: %w", err)
		}
	}
	if have["shared_keys"] {
		if err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM shared_keys`).Row().Scan(&pc.SharedKeys); err != nil {
			return pc, fmt.Errorf("count shared keys: %w", err)
		}
	}
	return pc, nil
}

// PushReason is a number of adjustments or rejections with one reason.
type PushReason struct {
	Destination string // oho or okeybot
	What        string // adjustment or rejection
	Kind        string // adjustments: truncated, dropped, normalised, defaulted; rejections: rejected (by crmsync) or refused_by_api
	Reason      string
	Contacts    int64 // distinct contacts concerned
	Occurrences int64
}

// PushReasons returns the push stage's adjustments and rejections of every
// destination counted by reason (the v_push_reasons view), ordered by
// destination, what and kind, most frequent first; nothing when the push
// tables do not exist.
func (s *Store) PushReasons(ctx context.Context) ([]PushReason, error) {
	have, err := s.existing(ctx, "v_push_reasons")
	if err != nil {
		return nil, fmt.Errorf("push reasons: %w", err)
	}
	if !have["v_push_reasons"] {
		return nil, nil
	}
	var rows []struct {
		Destination string `gorm:"column:destination"`
		What        string `gorm:"column:what"`
		Kind        string `gorm:"column:kind"`
		Reason      string `gorm:"column:reason"`
		Contacts    int64  `gorm:"column:contacts"`
		Occurrences int64  `gorm:"column:occurrences"`
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT destination, what, COALESCE(kind, '') AS kind, reason, contacts, occurrences
		FROM v_push_reasons ORDER BY destination, what, kind, occurrences DESC, reason`).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("push reasons: %w", err)
	}
	out := make([]PushReason, len(rows))
	for i, r := range rows {
		out[i] = PushReason(r)
	}
	return out, nil
}

// PushOutcome counts the contacts of one destination by the outcome of
// their last push (push_contacts) and the records the destination holds
// (push_state).
type PushOutcome struct {
	Destination string
	Pushed      int64 // last push wrote something
	Unchanged   int64 // last push had nothing to send
	Rejected    int64 // at least one record refused
	NoTarget    int64 // no identity the destination serves
	Records     int64 // destination records crmsync has written (push_state rows)
}

// PushOutcomes returns one PushOutcome per destination that has any, by
// destination name; nothing when the push tables do not exist.
func (s *Store) PushOutcomes(ctx context.Context) ([]PushOutcome, error) {
	have, err := s.existing(ctx, "push_contacts", "push_state")
	if err != nil {
		return nil, fmt.Errorf("push outcomes: %w", err)
	}
	if !have["push_contacts"] || !have["push_state"] {
		return nil, nil
	}
	var rows []struct {
		Destination string `gorm:"column:destination"`
		Pushed      int64  `gorm:"column:pushed"`
		Unchanged   int64  `gorm:"column:unchanged"`
		Rejected    int64  `gorm:"column:rejected"`
		NoTarget    int64  `gorm:"column:no_target"`
		Records     int64  `gorm:"column:records"`
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT d.destination,
			count(*) FILTER (WHERE pc.outcome = 'pushed')    AS pushed,
			count(*) FILTER (WHERE pc.outcome = 'unchanged') AS unchanged,
			count(*) FILTER (WHERE pc.outcome = 'rejected')  AS rejected,
			count(*) FILTER (WHERE pc.outcome = 'no_target') AS no_target,
			(SELECT count(*) FROM push_state ps WHERE ps.destination = d.destination) AS records
		FROM (SELECT destination FROM push_contacts UNION SELECT destination FROM push_state) d
		LEFT JOIN push_contacts pc ON pc.destination = d.destination
		GROUP BY d.destination ORDER BY d.destination`).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("push outcomes: %w", err)
	}
	out := make([]PushOutcome, len(rows))
	for i, r := range rows {
		out[i] = PushOutcome(r)
	}
	return out, nil
}

// DemoProgress is what the demo's progress bars show: rows so far in the
// tables each stage fills. Tables that do not exist count as zero.
type DemoProgress struct {
	Contacts, TaggingLogs, Messages int64 // raw omnichat_* rows
	People                          int64 // live master contacts
	PushedOho, PushedOkeybot        int64 // contacts the push stage finished with (push_contacts)
}

// Progress counts the rows behind DemoProgress in one statement.
func (s *Store) Progress(ctx context.Context) (DemoProgress, error) {
	var p DemoProgress
	count := func(table, where string) string {
		return fmt.Sprintf(`(SELECT count(*) FROM %s %s)`, quoteIdent(table), where)
	}
	has, err := s.existing(ctx, "omnichat_contacts", "omnichat_tagging_logs", "omnichat_messages", "contacts", "push_contacts")
	if err != nil {
		return p, fmt.Errorf("demo progress: %w", err)
	}
	cols := []string{"0", "0", "0", "0", "0", "0"}
	if has["omnichat_contacts"] {
		cols[0] = count("omnichat_contacts", "")
	}
	if has["omnichat_tagging_logs"] {
		cols[1] = count("omnichat_tagging_logs", "")
	}
	if has["omnichat_messages"] {
		cols[2] = count("omnichat_messages", "")
	}
	if has["contacts"] {
		cols[3] = count("contacts", "WHERE merged_into IS NULL")
	}
	if has["push_contacts"] {
		cols[4] = count("push_contacts", "WHERE destination = 'oho'")
		cols[5] = count("push_contacts", "WHERE destination = 'okeybot'")
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT `+strings.Join(cols, ", ")).Row().Scan(
		&p.Contacts, &p.TaggingLogs, &p.Messages, &p.People, &p.PushedOho, &p.PushedOkeybot); err != nil {
		return p, fmt.Errorf("demo progress: %w", err)
	}
	return p, nil
}
