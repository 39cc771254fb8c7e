package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"crmsync/sandbox"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/schedule"
)

func TestLoadDemoSettings(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 10, 20, 30, 0, time.UTC)
	dir := t.TempDir()

	s, first, err := loadDemoSettings(dir, &demoFlags{}, now)
	require.NoError(t, err)
	require.True(t, first)
	require.Equal(t, demoSettings{Seed: sandbox.DefaultSeed, People: sandbox.DefaultPeople, End: time.Date(2026, 3, 4, 10, 5, 0, 0, time.UTC)}, s,
		"the history ends before the pull's safety lag, on a whole minute")

	s, _, err = loadDemoSettings(dir, &demoFlags{seed: 3, people: 200, messages: 900}, now)
	require.NoError(t, err)
	require.Equal(t, int64(3), s.Seed)
	require.Equal(t, 200, s.People)
	require.Equal(t, 900, s.Messages)
	s.Port = 5433
	require.NoError(t, s.save(dir))

	later := now.Add(48 * time.Hour)
	got, first, err := loadDemoSettings(dir, &demoFlags{}, later)
	require.NoError(t, err)
	require.False(t, first)
	require.Equal(t, s, got, "a later run reuses the first run's dataset and server")

	got, _, err = loadDemoSettings(dir, &demoFlags{people: 200}, later)
	require.NoError(t, err, "repeating the same flags is fine")
	require.Equal(t, s, got)

	_, _, err = loadDemoSettings(dir, &demoFlags{people: 300}, later)
	require.ErrorContains(t, err, "made with --seed 3 --people 200; run crmsync demo --down first")
	var ue usageError
	require.ErrorAs(t, err, &ue)

	require.NoError(t, os.WriteFile(filepath.Join(dir, demoState), []byte("{"), 0o600))
	_, _, err = loadDemoSettings(dir, &demoFlags{}, later)
	require.ErrorContains(t, err, "crmsync demo --down starts afresh")
}

func TestResolveDemoDir(t *testing.T) {
	t.Parallel()
	override := t.TempDir()
	d, err := resolveDemoDir(t.Context(), override)
	require.NoError(t, err)
	require.Equal(t, override, d.path)
	require.Empty(t, d.note)
	cwd, err := os.Getwd()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(cwd, ".crmsync"), d.local)
	require.Regexp(t, `^/var/tmp/crmsync-demo-[0-9a-f]{12}$`, d.fallback)

	again, err := resolveDemoDir(t.Context(), "")
	require.NoError(t, err)
	require.Equal(t, d.fallback, again.fallback, "the fallback is the same for every run from one folder")
}

func TestDemoCommand_down(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(data, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(data, demoState), []byte("{}"), 0o600))

	r := runCLI(t, map[string]string{"DATABASE_URL": "postgres://somewhere/db"}, "demo", "--down", "--dir", data)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "removed "+data)
	require.Contains(t, r.stdout, "DATABASE_URL is set")
	_, err := os.Stat(data)
	require.ErrorIs(t, err, os.ErrNotExist)

	r = runCLI(t, nil, "demo", "--down", "--dir", data)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "nothing to remove")
}

func TestDemoCommand_usage(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "demo", "--people", "-1")
	require.Equal(t, exitBadArgs, r.code)
	require.Contains(t, r.stderr, "must not be negative")
	r = runCLI(t, nil, "demo", "now")
	require.Equal(t, exitBadArgs, r.code)
	require.Contains(t, r.stderr, `unexpected argument "now"`)
}

func TestCommas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give int64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {30000, "30,000"}, {1234567, "1,234,567"}, {-4500, "-4,500"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, commas(tt.give))
	}
}

// TestDemo_endToEnd runs the demo twice on a small dataset against a
// throwaway database: the first run pulls, reconciles and pushes everything
// and leaves the row counts the dataset implies, with no rejection and no
// request refused; the second sends nothing to Oho or Okeybot.
func TestDemo_endToEnd(t *testing.T) {
	t.Parallel()
	dsn := storetest.NewURL(t)
	dir := demoDir{path: t.TempDir()}
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return dsn
		}
		return ""
	}
	demo := func() (*demoReport, string) {
		t.Helper()
		var out, errb bytes.Buffer
		log := logrus.New()
		log.SetOutput(&errb)
		log.SetLevel(logrus.WarnLevel)
		e := &env{getenv: getenv, stdout: &out, stderr: &errb, log: log}
		// 500 people: enough single-channel people without a phone for the
		// shop phone to reach 60 identities, above the ceiling of 50.
		rep, err := runDemo(t.Context(), e, &demoFlags{people: 500}, dir)
		require.NoError(t, err, "stderr: %s", errb.String())
		rep.print(&out)
		return rep, out.String()
	}

	first, out := demo()
	require.True(t, first.first)
	require.Equal(t, schedule.StatusOK, first.result.Status)
	st := first.stats
	require.Equal(t, 500, st.People)
	require.Equal(t, sandbox.DefaultSharedPhoneIdentities, st.SharedPhoneIdentities, "the shop phone crosses the ceiling")

	rows := map[string]int64{}
	for _, tc := range first.tables {
		rows[tc.Table] = tc.Rows
	}
	require.Equal(t, int64(first.channels), rows["omnichat_channels"])
	require.Equal(t, int64(st.Identities), rows["omnichat_contacts"])
	require.Equal(t, int64(st.Messages), rows["omnichat_messages"])
	require.Equal(t, int64(st.TaggingLogs), rows["omnichat_tagging_logs"])
	require.Equal(t, int64(st.Identities), rows["contact_identities"])
	require.Equal(t, store.PeopleCount{
		People: int64(first.expected), Identities: int64(st.Identities), Linked: first.people.Linked, SharedKeys: 1,
	}, first.people, "reconcile finds the people the generator's keys imply")
	require.Positive(t, first.people.Linked)

	adjusted := 0
	for _, r := range first.reasons {
		require.NotEqual(t, "rejection", r.What, "a rejection mapping could have avoided: %+v", r)
		adjusted += int(r.Contacts)
	}
	require.Positive(t, adjusted, "over-limit values were cut or dropped")
	for _, c := range first.counts {
		require.Zero(t, c.Refused(), "%s refused requests", c.API)
		require.Positive(t, c.Requests, "%s was used", c.API)
	}
	omni := first.counts[0]
	require.Equal(t, sandbox.Omnichat, omni.API)
	require.Equal(t, sandbox.DefaultFaults.Omnichat.Burst, omni.RateLimited(), "the burst of 429s was absorbed")
	require.Positive(t, omni.ServerErrors(), "the 5xx were retried")
	require.Len(t, first.outcomes, 2)
	for _, o := range first.outcomes {
		require.Zero(t, o.Rejected, o.Destination)
		require.Positive(t, o.Records, o.Destination)
	}
	require.Contains(t, out, `psql "$DATABASE_URL"`)
	require.Contains(t, out, "first run")

	second, out2 := demo()
	require.False(t, second.first)
	require.Equal(t, schedule.StatusOK, second.result.Status)
	for _, c := range second.counts {
		require.Zero(t, c.Refused(), "%s refused requests on the second run", c.API)
		if c.API == sandbox.Oho || c.API == sandbox.Okeybot {
			require.Zero(t, c.Requests, "%s got requests on the second run: nothing should be re-pushed", c.API)
		}
	}
	require.Equal(t, first.people, second.people)
	require.Equal(t, first.outcomes[0].Records, second.outcomes[0].Records)
	require.Contains(t, out2, "a later run")

	s, err := store.Open(t.Context(), dsn, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	for _, q := range demoQueries {
		rows, err := s.SQL().QueryContext(t.Context(), q.sql)
		require.NoError(t, err, q.title)
		require.True(t, rows.Next(), "%s returns rows", q.title)
		require.NoError(t, rows.Close())
	}
}
