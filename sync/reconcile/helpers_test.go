package reconcile_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/reconcile"
)

func TestMain(m *testing.M) { os.Exit(storetest.RunCheckingLeaks(m)) }

// t0 is the clock the tests start at.
var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// attr is one Omnichat custom attribute.
type attr struct {
	Key         string `json:"key"`
	Value       any    `json:"value"`
	Type        string `json:"type"`
	DisplayName string `json:"displayName"`
}

// rawContact is a row for omnichat_contacts.
type rawContact struct {
	Platform, Channel, User string
	Name, Email, Phone      string
	MemberID                string
	Tags                    []string
	Attrs                   []attr
	UpdatedAt               time.Time
}

// rawMessage is a row for omnichat_messages.
type rawMessage struct {
	ID                      string
	Platform, Channel, User string
	SenderType              string
	SentAt                  time.Time
}

// rawTagLog is a row for omnichat_tagging_logs.
type rawTagLog struct {
	Platform, Channel, User string
	Tag, Source, MessageID  string
	At                      time.Time
}

// seed writes raw rows the way pull does: the rows and their queue entries
// together. It applies the same writes to every store given.
type seed struct {
	stmts []stmt
}

type stmt struct {
	q    string
	args []any
}

func (s *seed) add(q string, args ...any) { s.stmts = append(s.stmts, stmt{q, args}) }

func (s *seed) queue(platform, channel, user string) {
	s.add(`INSERT INTO reconcile_queue (platform, channel_id, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		platform, channel, user)
}

func (s *seed) contact(c rawContact) {
	if c.Platform == "" {
		c.Platform = "line"
	}
	if c.Channel == "" {
		c.Channel = "ch1"
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = t0.Add(-time.Hour)
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if c.Attrs == nil {
		c.Attrs = []attr{}
	}
	attrs, _ := json.Marshal(c.Attrs)
	raw, _ := json.Marshal(map[string]any{"id": c.User, "name": c.Name})
	s.add(`INSERT INTO omnichat_contacts (platform, channel_id, user_id, name, email, phone, member_id, tags, custom_attributes, updated_at, raw)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (platform, channel_id, user_id) DO UPDATE SET
			name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone, member_id = EXCLUDED.member_id,
			tags = EXCLUDED.tags, custom_attributes = EXCLUDED.custom_attributes, updated_at = EXCLUDED.updated_at, raw = EXCLUDED.raw`,
		c.Platform, c.Channel, c.User, c.Name, c.Email, c.Phone, c.MemberID, c.Tags, string(attrs), c.UpdatedAt, string(raw))
	s.queue(c.Platform, c.Channel, c.User)
}

func (s *seed) message(m rawMessage) {
	if m.Platform == "" {
		m.Platform = "line"
	}
	if m.Channel == "" {
		m.Channel = "ch1"
	}
	if m.SenderType == "" {
		m.SenderType = "customer"
	}
	s.add(`INSERT INTO omnichat_messages (id, platform, channel_id, customer_user_id, sender_type, sent_at, raw)
		VALUES ($1, $2, $3, $4, $5, $6, '{}')`, m.ID, m.Platform, m.Channel, m.User, m.SenderType, m.SentAt)
	s.queue(m.Platform, m.Channel, m.User)
}

func (s *seed) tagLog(l rawTagLog) {
	if l.Platform == "" {
		l.Platform = "line"
	}
	if l.Channel == "" {
		l.Channel = "ch1"
	}
	s.add(`INSERT INTO omnichat_tagging_logs (platform, channel_id, user_id, tag, tagged_at, time_raw, source, message_id, raw)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '{}') ON CONFLICT DO NOTHING`,
		l.Platform, l.Channel, l.User, l.Tag, l.At, l.At.Format("2006-01-02T15:04:05"), l.Source, l.MessageID)
	s.queue(l.Platform, l.Channel, l.User)
}

func (s *seed) override(contactID int64, kind, field, value string) {
	s.overrideAt(contactID, kind, field, value, t0)
}

func (s *seed) overrideAt(contactID int64, kind, field, value string, at time.Time) {
	var f, v any
	if field != "" {
		f, v = field, value
	}
	s.add(`INSERT INTO contact_overrides (contact_id, kind, field, value, note, created_by, created_at)
		VALUES ($1, $2, $3, $4, 'test', 'test', $5)`, contactID, kind, f, v, at)
}

// apply writes the accumulated rows to every store and forgets them.
func (s *seed) apply(t *testing.T, stores ...*store.Store) {
	t.Helper()
	for _, st := range stores {
		for _, x := range s.stmts {
			_, err := st.SQL().ExecContext(t.Context(), x.q, x.args...)
			require.NoError(t, err, x.q)
		}
	}
	s.stmts = nil
}

// clock is a settable NowFunc.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func run(t *testing.T, st *store.Store, opts reconcile.Options, full bool) reconcile.Result {
	t.Helper()
	res, err := reconcile.Run(t.Context(), st, opts, full)
	require.NoError(t, err)
	return res
}

// contactOf returns the contact id of an identity ("platform/channel/user").
func contactOf(t *testing.T, st *store.Store, ident string) int64 {
	t.Helper()
	p := strings.SplitN(ident, "/", 3)
	var id sql.NullInt64
	err := st.SQL().QueryRowContext(t.Context(),
		`SELECT contact_id FROM contact_identities WHERE platform = $1 AND channel_id = $2 AND user_id = $3`, p[0], p[1], p[2]).Scan(&id)
	require.NoError(t, err, ident)
	require.True(t, id.Valid, "identity %s has no contact", ident)
	return id.Int64
}

// rows runs q and returns every row as one tab-separated string.
func rows(t *testing.T, st *store.Store, q string, args ...any) []string {
	t.Helper()
	return rowsCtx(t.Context(), t, st.SQL(), q, args...)
}

// querier is what rowsCtx reads from: a *sql.DB, *sql.Conn or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func rowsCtx(ctx context.Context, t *testing.T, db querier, q string, args ...any) []string {
	t.Helper()
	rs, err := db.QueryContext(ctx, q, args...)
	require.NoError(t, err, q)
	defer rs.Close()
	cols, err := rs.Columns()
	require.NoError(t, err)
	var out []string
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rs.Scan(ptrs...))
		parts := make([]string, len(cols))
		for i, v := range vals {
			if v.Valid {
				parts[i] = v.String
			} else {
				parts[i] = "NULL"
			}
		}
		out = append(out, strings.Join(parts, "\t"))
	}
	require.NoError(t, rs.Err())
	return out
}

// snapshot dumps every master table, ids and timestamps included, in a
// fixed order.
func snapshot(t *testing.T, st *store.Store) map[string][]string {
	t.Helper()
	qs := map[string]string{
		"contacts":           `SELECT * FROM contacts ORDER BY id`,
		"contact_identities": `SELECT * FROM contact_identities ORDER BY id`,
		"contact_attributes": `SELECT * FROM contact_attributes ORDER BY contact_id, key`,
		"contact_tags":       `SELECT * FROM contact_tags ORDER BY contact_id, tag`,
		"contact_facts":      `SELECT * FROM contact_facts ORDER BY contact_id`,
		"contact_merges":     `SELECT * FROM contact_merges ORDER BY id`,
		"contact_splits":     `SELECT * FROM contact_splits ORDER BY id`,
		"contact_overrides":  `SELECT * FROM contact_overrides ORDER BY id`,
		"shared_keys":        `SELECT * FROM shared_keys ORDER BY kind, value`,
		"reconcile_queue":    `SELECT platform, channel_id, user_id FROM reconcile_queue ORDER BY 1, 2, 3`,
	}
	out := map[string][]string{}
	for name, q := range qs {
		out[name] = rows(t, st, q)
	}
	return out
}
