package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewLoginURL creates a role that can log in with a password, a member of
// each of memberOf (crmsync_readonly, for an analyst), and returns dbURL
// with the role's name and password in place of the admin's. dbURL is a
// URL NewURL returned. When tb ends, what the role holds in that database is
// revoked (DROP OWNED) and the role dropped: roles belong to the whole
// cluster, so none may outlive its test.
func NewLoginURL(tb testing.TB, dbURL string, memberOf ...string) string {
	tb.Helper()
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		tb.Fatalf("storetest: password: %v", err)
	}
	name := fmt.Sprintf("crmsync_t_user_%d_%d", os.Getpid(), counter.Add(1))
	password := hex.EncodeToString(secret)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := openRaw(tb, dbURL)
	defer db.Close()
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, name, password)); err != nil {
		tb.Fatalf("storetest: create role: %v", err)
	}
	tb.Cleanup(func() {
		db := openRaw(tb, dbURL)
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, q := range []string{
			fmt.Sprintf(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '%s'`, name),
			fmt.Sprintf(`DROP OWNED BY %s`, name),
			fmt.Sprintf(`DROP ROLE %s`, name),
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				tb.Errorf("storetest: drop role %s: %v", name, err)
				return
			}
		}
	})
	for _, r := range memberOf {
		if _, err := db.ExecContext(ctx, fmt.Sprintf(`GRANT %s TO %s`, pgx.Identifier{r}.Sanitize(), name)); err != nil {
			tb.Fatalf("storetest: grant %s: %v", r, err)
		}
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatalf("storetest: parse database URL: %v", err)
	}
	u.User = url.UserPassword(name, password)
	return u.String()
}
