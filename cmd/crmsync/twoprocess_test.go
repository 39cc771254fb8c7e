package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/okeybot/okeybottest"
	"crmsync/config"
	"crmsync/store"
	"crmsync/store/storetest"
)

// asCrmsync makes the test binary, started by the tests below, act as the
// crmsync command (see TestMain): its value is the command line as a JSON
// array. So two crmsync processes can run at once against one database and
// one fake.
const asCrmsync = "CRMSYNC_TEST_AS_CRMSYNC"

// runAsCrmsync runs crmsync as main does when the test binary was started
// as a crmsync process; ok is false otherwise.
func runAsCrmsync() (code int, ok bool) {
	v, ok := os.LookupEnv(asCrmsync)
	if !ok {
		return 0, false
	}
	var args []string
	if err := json.Unmarshal([]byte(v), &args); err != nil {
		fmt.Fprintln(os.Stderr, asCrmsync+":", err)
		return 2, true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Getenv, os.Stdout, os.Stderr), true
}

// process is a crmsync process started by a test.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
}

// startCrmsync starts crmsync as a separate OS process with env added to
// the test's own environment.
func startCrmsync(t *testing.T, env map[string]string, args ...string) *process {
	t.Helper()
	a, err := json.Marshal(args)
	require.NoError(t, err)
	p := &process{cmd: exec.CommandContext(t.Context(), os.Args[0]), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), asCrmsync+"="+string(a))
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.WaitDelay = 10 * time.Second
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("crmsync %v did not exit; stderr so far:\n%s", p.cmd.Args, p.stderr.String())
	}
	if p.err != nil && p.cmd.ProcessState == nil {
		t.Fatalf("crmsync: %v", p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

// okeybotRace is an Okeybot fake that holds the first contact create until
// released, so a second process can be started while the first is mid-push.
type okeybotRace struct {
	fake    *okeybottest.Server
	url     string
	entered chan struct{} // closed when the first create arrived
	release func()        // lets it through
}

const raceToken = "okeybot-token-race"

func newOkeybotRace(t *testing.T) *okeybotRace {
	t.Helper()
	o := &okeybotRace{fake: okeybottest.New(okeybottest.Options{Channels: []okeybottest.Channel{{Token: raceToken}}}), entered: make(chan struct{})}
	released := make(chan struct{})
	var first, once sync.Once
	o.release = func() { once.Do(func() { close(released) }) }
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/v1/contact") {
			first.Do(func() {
				close(o.entered)
				<-released
			})
		}
		o.fake.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	t.Cleanup(o.release) // before hs.Close: a held request would keep it waiting
	o.url = hs.URL + "/api"
	return o
}

// creates returns how many contacts were created (POST /v1/contact answered
// 2xx), and how many contacts the fake holds.
func (o *okeybotRace) creates() (posts, contacts int) {
	for _, r := range o.fake.Requests(raceToken) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/v1/contact") && r.Status < 300 {
			posts++
		}
	}
	return posts, len(o.fake.Contacts(raceToken))
}

// twoProcessSetup seeds n LINE contacts and writes a configuration whose
// job okeybot_push pushes them to the race fake. `crmsync push --destination
// okeybot` is another job (push_okeybot) naming the same step, so the two
// processes are kept apart by the step's lock, not the job's.
func twoProcessSetup(t *testing.T, n int) (st *store.Store, env map[string]string, o *okeybotRace) {
	t.Helper()
	dbURL := storetest.NewURL(t)
	st = storetest.Open(t, dbURL)
	_, err := st.SQL().ExecContext(t.Context(), `
		WITH c AS (
		    INSERT INTO contacts (name, identities, created_at, updated_at)
		    SELECT 'Contact ' || g, 1, now(), now() FROM generate_series(1, $1) g RETURNING id)
		INSERT INTO contact_identities (platform, channel_id, user_id, contact_id, first_seen_at, updated_at)
		SELECT 'line', '1656000001', 'U' || lpad(to_hex(id), 32, '0'), id, now(), now() FROM c`, n)
	require.NoError(t, err)
	o = newOkeybotRace(t)
	cfg := writeConfig(t, `
okeybot:
  channels:
    - name: main
      token: ${OKEYBOT_TOKEN_MAIN}
      sources: [line]
mapping:
  okeybot:
    custom_fields:
      - {from: name, name: name}
jobs:
  - name: okeybot_push
    schedule: "@hourly"
    steps: [push_okeybot]
`)
	env = map[string]string{
		"DATABASE_URL": dbURL, "OKEYBOT_BASE_URL": o.url, "OKEYBOT_TOKEN_MAIN": raceToken, "CRMSYNC_CONFIG": cfg,
	}
	return st, env, o
}

func waitEntered(t *testing.T, o *okeybotRace, p *process) {
	t.Helper()
	select {
	case <-o.entered:
	case <-p.done:
		t.Fatalf("crmsync exited before its first create; stderr:\n%s", p.stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("no create reached the fake")
	}
}

func onlyRun(t *testing.T, st *store.Store, job string) store.RunRecord {
	t.Helper()
	runs, err := st.ListRuns(t.Context(), store.RunListOptions{Job: job})
	require.NoError(t, err)
	require.Len(t, runs, 1, job)
	return runs[0]
}

// Two crmsync processes push to Okeybot at once, from two jobs naming the
// step: the second is skipped (and recorded skipped, not ok) while the
// first pushes, and no contact is created twice.
func TestPush_twoProcessesAtOnceCreateEachContactOnce(t *testing.T) {
	t.Parallel()
	const n = 4
	st, env, o := twoProcessSetup(t, n)

	a := startCrmsync(t, env, "--log-format", "json", "run", "okeybot_push")
	waitEntered(t, o, a) // a holds the step's lock and is mid-push
	b := startCrmsync(t, env, "--log-format", "json", "push", "--destination", "okeybot")
	require.Equal(t, 0, b.wait(t), "a skipped step is no failure; stderr:\n%s", b.stderr.String())
	require.Contains(t, b.stderr.String(), "step skipped: another process is running it")
	o.release()
	require.Equal(t, 0, a.wait(t), "stderr:\n%s", a.stderr.String())

	posts, contacts := o.creates()
	require.Equal(t, n, posts, "each contact created once")
	require.Equal(t, n, contacts)
	ra := onlyRun(t, st, "okeybot_push")
	require.Equal(t, "ok", ra.Status)
	require.Equal(t, int64(n), ra.Counts[config.StepPushOkeybot]["created"])
	rb := onlyRun(t, st, config.StepPushOkeybot)
	require.Equal(t, "skipped", rb.Status)
	require.Equal(t, store.StepStatuses{config.StepPushOkeybot: "skipped"}, rb.Steps)
	require.Equal(t, "step push_okeybot: skipped: another process is running it (it holds the step's lock)", rb.Error)

	// Run again, both at once: nothing changed, nothing is sent.
	a, b = startCrmsync(t, env, "run", "okeybot_push"), startCrmsync(t, env, "push", "--destination", "okeybot")
	require.Equal(t, 0, a.wait(t), "stderr:\n%s", a.stderr.String())
	require.Equal(t, 0, b.wait(t), "stderr:\n%s", b.stderr.String())
	posts, contacts = o.creates()
	require.Equal(t, n, posts)
	require.Equal(t, n, contacts)
}

// A process whose step lock is lost mid-push (its connection reset) stops
// after the contacts in hand instead of running on unprotected; a second
// process then takes the step over and pushes the rest: no contact is
// created twice.
func TestPush_lockLostMidPushThenAnotherProcessFinishes(t *testing.T) {
	t.Parallel()
	const n = 8 // more than the 4 contacts one lane has in hand
	st, env, o := twoProcessSetup(t, n)

	a := startCrmsync(t, env, "--log-format", "json", "run", "okeybot_push")
	waitEntered(t, o, a)
	require.Equal(t, 1, terminateLock(t, st, "step:push_okeybot"))
	o.release()
	require.Equal(t, 1, a.wait(t), "the step failed; stderr:\n%s", a.stderr.String())
	ra := onlyRun(t, st, "okeybot_push")
	require.Equal(t, "failed", ra.Status)
	require.Contains(t, ra.Error, "step push_okeybot: lock step:push_okeybot lost: its database connection failed")
	byA := ra.Counts[config.StepPushOkeybot]["created"]
	require.Positive(t, byA, "the contact in hand was finished and recorded")
	require.Less(t, byA, int64(n), "the push stopped early; stderr:\n%s", a.stderr.String())
	t.Logf("the first process created %d of %d contacts", byA, n)

	b := startCrmsync(t, env, "push", "--destination", "okeybot")
	require.Equal(t, 0, b.wait(t), "stderr:\n%s", b.stderr.String())
	require.Equal(t, int64(n)-byA, onlyRun(t, st, config.StepPushOkeybot).Counts[config.StepPushOkeybot]["created"])
	posts, contacts := o.creates()
	require.Equal(t, n, posts, "no contact created twice")
	require.Equal(t, n, contacts)
}
