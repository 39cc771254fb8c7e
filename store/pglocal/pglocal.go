// Package pglocal starts and stops a throwaway PostgreSQL cluster from the
// PostgreSQL binaries installed on this machine (initdb, pg_ctl).
//
// Tests use it when no TEST_DATABASE_URL is given, and `crmsync demo` uses it
// for its embedded database. PostgreSQL refuses to run as root, so when the
// current user is root the server runs as the "postgres" system user (through
// runuser), which Debian's postgresql packages create.
package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Options configures Start. Zero values mean the documented default.
type Options struct {
	// DataDir is the cluster's data directory. Empty means a new temporary
	// directory that Stop removes. An existing initialised directory is reused.
	DataDir string
	// Port is the TCP port on 127.0.0.1. Zero picks a free port (and, for a
	// reused DataDir, the port recorded there).
	Port int
	// Durable keeps fsync on. Tests leave it off: a crash loses nothing they need.
	Durable bool
}

// Cluster is a running local PostgreSQL server.
type Cluster struct {
	DataDir   string
	SocketDir string
	Port      int
	temp      bool
	runAs     string // "" or "postgres"
	binDir    string
}

// ErrNoBinaries means initdb/pg_ctl could not be found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql)")

// BinDir returns the directory holding initdb and pg_ctl: the one on PATH if
// both are there, else the newest /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start initialises (when needed) and starts a cluster, waiting until it
// accepts connections. The superuser is "postgres" with trust authentication
// on 127.0.0.1 only.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{binDir: bin, Port: o.Port}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, errors.New("running as root, and PostgreSQL refuses root: no \"postgres\" system user to run the server as (Debian: apt-get install postgresql creates it)")
		}
		c.runAs = "postgres"
	}
	if o.DataDir == "" {
		dir, err := os.MkdirTemp("", "crmsync-pg-")
		if err != nil {
			return nil, fmt.Errorf("create temp dir: %w", err)
		}
		o.DataDir = filepath.Join(dir, "data")
		c.temp = true
	}
	c.DataDir, err = filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", o.DataDir, err)
	}
	// Unix socket paths are limited to ~107 bytes, so keep the socket short.
	c.SocketDir, err = os.MkdirTemp("", "crmsync-sock-")
	if err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if err := c.chownForServer(c.SocketDir); err != nil {
		return nil, err
	}
	if err := c.initIfNeeded(ctx); err != nil {
		c.cleanup()
		return nil, err
	}
	if c.Port == 0 {
		c.Port = recordedPort(c.DataDir)
	}
	if c.Port == 0 || !portFree(c.Port) {
		if c.Port, err = freePort(); err != nil {
			c.cleanup()
			return nil, err
		}
	}
	if err := c.start(ctx, o.Durable); err != nil {
		c.cleanup()
		return nil, err
	}
	_ = os.WriteFile(filepath.Join(c.DataDir, "crmsync.port"), []byte(strconv.Itoa(c.Port)), 0o644)
	return c, nil
}

// URL returns a connection URL for database db on this cluster.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Stop stops the server and, for a temporary cluster, removes its files.
func (c *Cluster) Stop() error {
	_, err := c.run(context.Background(), "pg_ctl", "-D", c.DataDir, "-m", "fast", "-w", "stop")
	c.cleanup()
	if err != nil {
		return fmt.Errorf("stop postgres in %s: %w", c.DataDir, err)
	}
	return nil
}

// Running reports whether a server is running on dataDir.
func Running(ctx context.Context, dataDir string) bool {
	bin, err := BinDir()
	if err != nil {
		return false
	}
	c := &Cluster{binDir: bin, DataDir: dataDir}
	if os.Geteuid() == 0 {
		c.runAs = "postgres"
	}
	_, err = c.run(ctx, "pg_ctl", "-D", dataDir, "status")
	return err == nil
}

// StopDir stops a server running on dataDir (started by an earlier process).
func StopDir(ctx context.Context, dataDir string) error {
	bin, err := BinDir()
	if err != nil {
		return err
	}
	c := &Cluster{binDir: bin, DataDir: dataDir}
	if os.Geteuid() == 0 {
		c.runAs = "postgres"
	}
	if _, err := c.run(ctx, "pg_ctl", "-D", dataDir, "status"); err != nil {
		return nil // not running
	}
	sockets := socketDirOf(dataDir)
	if _, err := c.run(ctx, "pg_ctl", "-D", dataDir, "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("stop postgres in %s: %w", dataDir, err)
	}
	if sockets != "" {
		_ = os.RemoveAll(sockets)
	}
	return nil
}

// socketDirOf returns the Unix-socket folder Start made for the server
// running on dataDir (line 5 of postmaster.pid), or "" when it is not one
// of Start's temporary crmsync-sock-* folders.
func socketDirOf(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 5 {
		return ""
	}
	dir := strings.TrimSpace(lines[4])
	if filepath.Dir(dir) != filepath.Clean(os.TempDir()) || !strings.HasPrefix(filepath.Base(dir), "crmsync-sock-") {
		return ""
	}
	return dir
}

// ServerCanEnter reports whether the server's user can enter dir: always
// when not root; as root, whether the "postgres" user (which the server runs
// as) can search it. A data dir below a folder it cannot enter (e.g. /root)
// cannot be used.
func ServerCanEnter(ctx context.Context, dir string) bool {
	if os.Geteuid() != 0 {
		return true
	}
	return exec.CommandContext(ctx, "runuser", "-u", "postgres", "--", "test", "-x", dir).Run() == nil
}

func (c *Cluster) cleanup() {
	if c.SocketDir != "" {
		_ = os.RemoveAll(c.SocketDir)
	}
	if c.temp {
		_ = os.RemoveAll(filepath.Dir(c.DataDir))
	}
}

func (c *Cluster) initIfNeeded(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.DataDir, "PG_VERSION")); err == nil {
		return nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w", c.DataDir, err)
	}
	if err := c.chownForServer(c.DataDir); err != nil {
		return err
	}
	if c.runAs != "" && !c.serverCanReach(ctx, c.DataDir) {
		return fmt.Errorf("data dir %s: the postgres user cannot reach it (a parent directory is not searchable by others); choose a data dir under /tmp or /var/tmp", c.DataDir)
	}
	out, err := c.run(ctx, "initdb", "-D", c.DataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	if err != nil {
		return fmt.Errorf("initdb %s: %w: %s", c.DataDir, err, lastLines(out, 5))
	}
	return nil
}

func (c *Cluster) start(ctx context.Context, durable bool) error {
	opts := []string{
		"-p", strconv.Itoa(c.Port),
		"-k", c.SocketDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200",
		"-c", "shared_buffers=256MB",
		"-c", "work_mem=64MB",
		"-c", "maintenance_work_mem=256MB",
		"-c", "max_wal_size=4GB",
	}
	if !durable {
		opts = append(opts, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logFile := filepath.Join(c.DataDir, "crmsync-server.log")
	out, err := c.run(ctx, "pg_ctl", "-D", c.DataDir, "-l", logFile, "-o", strings.Join(opts, " "), "-w", "-t", "60", "start")
	if err != nil {
		tail, _ := os.ReadFile(logFile)
		return fmt.Errorf("start postgres on port %d: %w: %s %s", c.Port, err, lastLines(out, 3), lastLines(tail, 5))
	}
	return nil
}

// run runs a PostgreSQL binary, as the postgres user when we are root.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path := filepath.Join(c.binDir, name)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = "/"
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.Bytes(), err
}

func (c *Cluster) chownForServer(dir string) error {
	if c.runAs == "" {
		return nil
	}
	u, err := user.Lookup(c.runAs)
	if err != nil {
		return fmt.Errorf("look up user %s: %w", c.runAs, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("chown %s to %s: %w", dir, c.runAs, err)
	}
	if c.temp { // the temp parent must be searchable by the server user
		_ = os.Chmod(filepath.Dir(dir), 0o755)
	}
	return nil
}

func (c *Cluster) serverCanReach(ctx context.Context, dir string) bool {
	cmd := exec.CommandContext(ctx, "runuser", "-u", c.runAs, "--", "test", "-w", dir)
	return cmd.Run() == nil
}

func recordedPort(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "crmsync.port"))
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return p
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
