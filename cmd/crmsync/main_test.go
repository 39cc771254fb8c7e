package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/store/storetest"
)

func TestMain(m *testing.M) {
	if code, ok := runAsCrmsync(); ok { // a crmsync process started by a test (twoprocess_test.go)
		os.Exit(code)
	}
	os.Exit(storetest.Run(m))
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, func(k string) string { return env[k] }, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jobs.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestRun_usage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		give       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"Help", []string{"--help"}, 0, "Commands:", ""},
		{"HelpListsEveryContractCommand", []string{"--help"}, 0, "  backfill ", ""},
		{"NoCommand", nil, 2, "", "Usage: crmsync"},
		{"UnknownCommand", []string{"frobnicate"}, 2, "", `crmsync: unknown command "frobnicate" (run crmsync --help for the list)`},
		{"CommandHelp", []string{"migrate", "--help"}, 0, "Usage: crmsync [global flags] migrate", ""},
		{"HelpCommand", []string{"help", "push"}, 0, "-dry-run", ""},
		{"BadLogFormat", []string{"--log-format", "xml", "migrate"}, 2, "", `--log-format: "xml" is not one of auto, text, json`},
		{"UnknownFlag", []string{"migrate", "--nope"}, 2, "", "flag provided but not defined: -nope"},
		{"MigrateWithoutDatabase", []string{"migrate"}, 1, "", "crmsync migrate: no database configured: set DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, tt.give...)
			require.Equal(t, tt.wantCode, r.code, "stderr: %s", r.stderr)
			require.Contains(t, r.stdout, tt.wantStdout)
			require.Contains(t, r.stderr, tt.wantStderr)
		})
	}
}

func TestRun_helpIsPrintedOnceOnStdout(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"migrate", "--help"}, {"push", "-h"}} {
		r := runCLI(t, nil, args...)
		require.Equal(t, 0, r.code)
		require.Empty(t, r.stderr, "help goes to stdout only: %v", args)
		require.Equal(t, 1, strings.Count(r.stdout, "Usage: crmsync"), "%v", args)
	}
}

func TestRun_badFlagIsOneLineAndExit2(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "migrate", "--nope")
	require.Equal(t, 2, r.code)
	require.Equal(t, "crmsync migrate: flag provided but not defined: -nope (see crmsync migrate --help)\n", r.stderr)

	r = runCLI(t, nil, "--nope", "migrate")
	require.Equal(t, 2, r.code)
	require.Equal(t, "crmsync: flag provided but not defined: -nope (see crmsync --help)\n", r.stderr)
}

func TestRun_checkConfig(t *testing.T) {
	t.Parallel()
	good := writeConfig(t, "jobs:\n  - name: rec\n    schedule: \"@hourly\"\n    steps: [reconcile]\n")
	r := runCLI(t, nil, "--config", good, "check-config")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "ok (1 jobs)")

	bad := writeConfig(t, "omnichat:\n  window: 200h\n  page_size: 500\n")
	r = runCLI(t, nil, "--config", bad, "check-config")
	require.Equal(t, 2, r.code)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	require.Len(t, lines, 3, r.stderr)
	require.Contains(t, lines[0], "omnichat.window: 200h0m0s is outside 1m..168h")
	require.Contains(t, lines[1], "omnichat.page_size: 500 is outside 1..100")
	require.Contains(t, lines[2], "2 problems")

	r = runCLI(t, map[string]string{"CRMSYNC_CONFIG": bad}, "check-config")
	require.Equal(t, 2, r.code, "CRMSYNC_CONFIG names the file")

	r = runCLI(t, nil, "--config", filepath.Join(t.TempDir(), "missing.yaml"), "check-config")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "missing.yaml: cannot read: no such file or directory")
}

func TestRun_migrateTwice(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": storetest.NewURL(t)}
	// The database from storetest is migrated already: a second migrate is a no-op.
	r := runCLI(t, env, "migrate")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "schema is up to date\n", r.stdout)

	r = runCLI(t, env, "migrate", "--status")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "00001  applied  00001_operations.sql")
}

func TestRun_unreachableDatabase(t *testing.T) {
	t.Parallel()
	r := runCLI(t, map[string]string{"DATABASE_URL": "postgres://nobody:secret@127.0.0.1:1/nodb?connect_timeout=2"}, "migrate")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "crmsync migrate: connect to database postgres://nobody:xxxxx@127.0.0.1:1/nodb")
	require.NotContains(t, r.stderr, "secret")
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
}
