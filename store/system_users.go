package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// StreamSystemUsers is the system-user listing, as pull_errors.stream spells it.
const StreamSystemUsers = "system_users"

// SystemUserRow is one omnichat_system_users row.
type SystemUserRow struct {
	Username       string
	Name           string
	Email          string
	Phone          string
	EmployeeCode   string
	Team           string
	ProfilePicture string
	Available      *bool  // nil stores NULL
	Status         *int64 // nil stores NULL
	Role           *int64 // nil stores NULL
	Shops          []byte // JSON array; nil means []
	Raw            []byte
}

// WriteSystemUsersPage writes one page of the system-user listing and its
// bad records in one statement. Every listed user gets last_seen_at moved
// and missing_since cleared; its other columns (and last_changed_at) change
// only when its raw JSON did. Inserted counts new users, Updated users whose
// data changed; Queued is always 0 (users are no identities).
func (s *Store) WriteSystemUsersPage(ctx context.Context, runID int64, rows []SystemUserRow, bad []BadRecord) (PageResult, error) {
	rows, bad = pullSplitInvalid(rows, func(r SystemUserRow) []byte { return r.Raw }, bad)
	rows = pullDedupe(rows, func(r SystemUserRow) string { return r.Username }, pullKeepLast)
	n := len(rows)
	user, name, email, phone, code, team, pic, shops, raw := pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n),
		pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n), pullStrings(n)
	avail := make([]*bool, n)
	status, role := make([]*int64, n), make([]*int64, n)
	for i, r := range rows {
		user[i], name[i], email[i], phone[i], code[i], team[i], pic[i] = r.Username, r.Name, r.Email, r.Phone, r.EmployeeCode, r.Team, r.ProfilePicture
		avail[i], status[i], role[i], raw[i] = r.Available, r.Status, r.Role, string(r.Raw)
		shops[i] = "[]"
		if len(r.Shops) > 0 {
			shops[i] = string(r.Shops)
		}
	}
	args := append([]any{user, name, email, phone, code, team, avail, status, role, pic, shops, raw}, pullBadArgs(bad)...)
	args = append(args, StreamSystemUsers, windowRunID(runID))
	var res PageResult
	err := s.pgxConn(ctx, func(pc *pgx.Conn) error {
		return pc.QueryRow(ctx, systemUsersPageSQL, args...).Scan(&res.Inserted, &res.Updated, &res.Bad)
	})
	if err != nil {
		return PageResult{}, fmt.Errorf("write system users page: %w", err)
	}
	return res, nil
}

// systemUsersPageSQL is the statement of WriteSystemUsersPage.
const systemUsersPageSQL = `
WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[],
		$8::int8[], $9::int8[], $10::text[], $11::text[], $12::text[])
	AS t(username, name, email, phone, employee_code, team, available, status, role, profile_picture, shops, raw)
), up AS (
	INSERT INTO omnichat_system_users AS u (username, name, email, phone, employee_code, team, available, status, role,
		profile_picture, shops, raw)
	SELECT username, name, email, phone, employee_code, team, available, status, role, profile_picture, shops::jsonb, raw::jsonb
	FROM input
	ON CONFLICT (username) DO UPDATE SET
		name = excluded.name, email = excluded.email, phone = excluded.phone, employee_code = excluded.employee_code,
		team = excluded.team, available = excluded.available, status = excluded.status, role = excluded.role,
		profile_picture = excluded.profile_picture, shops = excluded.shops, raw = excluded.raw,
		last_seen_at = now(), missing_since = NULL,
		last_changed_at = CASE WHEN u.raw IS DISTINCT FROM excluded.raw THEN now() ELSE u.last_changed_at END
	RETURNING (u.xmax = 0) AS inserted, u.last_changed_at = now() AS changed
), bad AS (
	INSERT INTO pull_errors AS e (stream, scope, raw, raw_hash, reason, run_id)
	SELECT $16::text, '', b.raw, b.hash, b.reason, $17::bigint
	FROM unnest($13::text[], $14::text[], $15::text[]) AS b(raw, hash, reason)
	ORDER BY b.hash
	ON CONFLICT (stream, raw_hash) DO UPDATE SET
		last_seen_at = now(), times_seen = e.times_seen + 1, reason = excluded.reason
	RETURNING 1
)
SELECT (SELECT count(*) FROM up WHERE inserted), (SELECT count(*) FROM up WHERE changed AND NOT inserted),
	(SELECT count(*) FROM bad)`

// MarkSystemUsersMissing sets missing_since on every stored user not in
// listed, the usernames of a complete listing, and returns how many it
// marked. An empty listing marks no one: a team without a single user is
// more likely an API hiccup than the truth.
func (s *Store) MarkSystemUsersMissing(ctx context.Context, listed []string) (int64, error) {
	if len(listed) == 0 {
		return 0, nil
	}
	var n int64
	err := s.pgxConn(ctx, func(pc *pgx.Conn) error {
		tag, err := pc.Exec(ctx, `
			UPDATE omnichat_system_users SET missing_since = now()
			WHERE missing_since IS NULL AND NOT (username = ANY($1::text[]))`, listed)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mark missing system users: %w", err)
	}
	return n, nil
}
