package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// gitRepo returns a git repository with one commit of one file.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q"},
		{"config", "user.email", "bench@example.com"},
		{"config", "user.name", "bench"},
	} {
		git(t, dir, args...)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n"), 0o644))
	git(t, dir, "add", "a.go")
	git(t, dir, "commit", "-q", "-m", "a")
	return dir
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
}

func TestCheckTree(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name         string
		change       func(t *testing.T, dir string) // nil: the tree stays clean
		unofficial   bool
		wantOfficial bool
		wantErr      string
	}{
		{name: "CleanTreeIsOfficial", wantOfficial: true},
		{name: "CleanTreeStaysOfficialWhenUnofficialAllowed", unofficial: true, wantOfficial: true},
		{
			name:    "ModifiedFileRefused",
			change:  func(t *testing.T, dir string) { write(t, dir, "a.go", "package a // changed\n") },
			wantErr: "the tree has changes no commit holds ( M a.go): commit them and run again, or set BENCH_UNOFFICIAL=1 to mark the report unofficial",
		},
		{
			name:    "UntrackedFileRefused",
			change:  func(t *testing.T, dir string) { write(t, dir, "b.go", "package a\n") },
			wantErr: "the tree has changes no commit holds (?? b.go)",
		},
		{
			name: "ManyChangesListedShort",
			change: func(t *testing.T, dir string) {
				for _, f := range []string{"b", "c", "d", "e", "f", "g", "h"} {
					write(t, dir, f+".go", "package a\n")
				}
			},
			wantErr: "(?? b.go; ?? c.go; ?? d.go; ?? e.go; ?? f.go and 2 more)",
		},
		{
			name:       "DirtyTreeRunsUnofficial",
			change:     func(t *testing.T, dir string) { write(t, dir, "a.go", "package a // changed\n") },
			unofficial: true,
		},
		{
			name:    "NotARepositoryRefused",
			change:  func(t *testing.T, dir string) { require.NoError(t, os.RemoveAll(filepath.Join(dir, ".git"))) },
			wantErr: "(git status --porcelain failed: exit status 128)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := gitRepo(t)
			if tt.change != nil {
				tt.change(t, dir)
			}
			official, err := checkTree(t.Context(), dir, tt.unofficial)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, errDirtyTree)
				require.ErrorContains(t, err, tt.wantErr)
				require.False(t, official)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantOfficial, official)
		})
	}
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
}

// A dirty tree ends the run before any benchmark runs, with one line and
// exit status 1; an unofficial or smoke run is never written into docs/.
func TestRun_refusals(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"SmokeIntoDocs", []string{"-scale=smoke", "-out=docs/benchmarks.md", "-go=/nonexistent/go"}, 2,
			"crmsync-bench: usage: -out=docs/benchmarks.md: a smoke or unofficial run is not written into docs/\n"},
		{"UnknownScale", []string{"-scale=huge"}, 2, "crmsync-bench: usage: -scale=\"huge\": want full, small or smoke\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), append(tt.args, "-logdir="+t.TempDir()), &stdout, &stderr)
			require.Equal(t, tt.wantCode, code)
			require.Contains(t, stderr.String(), tt.wantErr)
			require.Empty(t, stdout.String())
		})
	}
}

func TestIsUnder(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs("docs/x.md")
	require.NoError(t, err)
	tests := []struct {
		give string
		want bool
	}{
		{"docs/benchmarks.md", true},
		{"./docs/sub/b.md", true},
		{abs, true},
		{"bin/bench/benchmarks-smoke.md", false},
		{"docs-old/b.md", false},
		{"../docs/b.md", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, isUnder(tt.give, "docs"), tt.give)
	}
}
