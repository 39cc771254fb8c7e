package pglocal

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSocketDirOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give string // line 5 of postmaster.pid
		want string
	}{
		{"Pglocal", filepath.Join(os.TempDir(), "crmsync-sock-123"), filepath.Join(os.TempDir(), "crmsync-sock-123")},
		{"SystemSockets", "/var/run/postgresql", ""},
		{"OtherTemp", filepath.Join(os.TempDir(), "something"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pid := "4242\n" + dir + "\n1700000000\n5432\n" + tt.give + "\n127.0.0.1\n"
			require.NoError(t, os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(pid), 0o600))
			require.Equal(t, tt.want, socketDirOf(dir))
		})
	}
	require.Empty(t, socketDirOf(t.TempDir()), "no server, no folder")
}
