package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/sandbox"
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
