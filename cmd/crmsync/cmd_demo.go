package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sirupsen/logrus"

	"crmsync/config"
	"crmsync/sandbox"
	"crmsync/store"
	"crmsync/store/pglocal"
	"crmsync/sync/schedule"
)

// The demo's fixed choices.
const (
	demoDirName  = ".crmsync"           // data folder under the working directory
	demoDatabase = "crmsync"            // database created on the demo's PostgreSQL
	demoJob      = "demo"               // the job of sandbox/jobs.sandbox.yaml that runs every step
	demoState    = "demo.json"          // what the first run decided (seed, size, end of history, port)
	demoFakes    = "sandbox-state.json" // what the fake Oho and Okeybot hold between runs
	// demoOkeybotRate is the Okeybot quota (calls per minute per channel
	// token) the demo's sandbox grants, and the client is told to use, so
	// that its first push of ~1,300 contacts (~3,500 calls) takes seconds.
	// Okeybot itself allows 100, which would take over half an hour; the
	// summary says so.
	demoOkeybotRate = 12000
	// demoLag puts the end of the generated history this far before the
	// first run, beyond the pull's safety lag, so the first run pulls it all
	// and a later run finds nothing new.
	demoLag = 15 * time.Minute
)

// demoFlags are the flags of crmsync demo.
type demoFlags struct {
	down     bool
	people   int
	seed     int64
	messages int
	dir      string
}

func demoCommand() *command {
	return &command{
		name: "demo", summary: "Run the whole pipeline on a throwaway PostgreSQL and the sandbox APIs",
		setFlags: func(fs *flag.FlagSet) any {
			f := &demoFlags{}
			fs.BoolVar(&f.down, "down", false, "stop the demo's PostgreSQL and remove its data folder")
			fs.IntVar(&f.people, "people", 0, fmt.Sprintf("people in the generated dataset (default %d; fixed by the first run)", sandbox.DefaultPeople))
			fs.Int64Var(&f.seed, "seed", 0, fmt.Sprintf("seed of the generated dataset (default %d; fixed by the first run)", sandbox.DefaultSeed))
			fs.IntVar(&f.messages, "messages", 0, fmt.Sprintf("chat messages in the dataset (default %d per person; fixed by the first run)", sandbox.DefaultMessagesPerPerson))
			fs.StringVar(&f.dir, "dir", "", "data folder (default ./"+demoDirName+", or /var/tmp/crmsync-demo-… when the postgres user cannot reach it)")
			return f
		},
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, opts any) error {
			f := opts.(*demoFlags)
			if fs.NArg() > 0 {
				return usagef("unexpected argument %q", fs.Arg(0))
			}
			if f.people < 0 || f.messages < 0 {
				return usagef("--people and --messages must not be negative")
			}
			dir, err := resolveDemoDir(ctx, f.dir)
			if err != nil {
				return err
			}
			if f.down {
				return demoDown(ctx, e, dir)
			}
			rep, err := runDemo(ctx, e, f, dir)
			if rep != nil {
				rep.print(e.stdout)
			}
			return err
		},
	}
}

// demoDir is where the demo keeps its files.
type demoDir struct {
	path     string // the folder in use
	local    string // ./.crmsync, absolute
	fallback string // /var/tmp/crmsync-demo-<hash of the working directory>
	note     string // why the fallback is used, "" when it is not
}

// resolveDemoDir picks the data folder: --dir, else ./.crmsync, else (when
// the server must run as the postgres user and that user cannot reach the
// working directory, as under /root) a folder under /var/tmp named after a
// hash of the working directory, so every run from here finds the same one.
func resolveDemoDir(ctx context.Context, override string) (demoDir, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return demoDir{}, fmt.Errorf("working directory: %w", err)
	}
	sum := sha256.Sum256([]byte(cwd))
	d := demoDir{
		local:    filepath.Join(cwd, demoDirName),
		fallback: filepath.Join("/var/tmp", "crmsync-demo-"+hex.EncodeToString(sum[:])[:12]),
	}
	if override != "" {
		d.path, err = filepath.Abs(override)
		return d, err
	}
	d.path = d.local
	if _, err := os.Stat(filepath.Join(d.fallback, demoState)); err == nil {
		d.path = d.fallback
		d.note = "the postgres user cannot reach " + cwd + ", so the demo's data lives in " + d.fallback
		return d, nil
	}
	if !pglocal.ServerCanEnter(ctx, cwd) {
		d.path = d.fallback
		d.note = "the postgres user cannot reach " + cwd + " (a parent folder is closed to others), so the demo's data lives in " + d.fallback
	}
	return d, nil
}

// demoSettings is what the first run decided; later runs reuse it, so they
// see the same dataset and the same database.
type demoSettings struct {
	Seed     int64     `json:"seed"`
	People   int       `json:"people"`
	Messages int       `json:"messages"`
	End      time.Time `json:"end"`  // end of the generated history
	Port     int       `json:"port"` // the demo PostgreSQL's port; 0 with DATABASE_URL
}

// loadDemoSettings reads the settings of an earlier run, or makes new ones
// from the flags. Flags that contradict an earlier run are refused.
func loadDemoSettings(dir string, f *demoFlags, now time.Time) (demoSettings, bool, error) {
	var s demoSettings
	b, err := os.ReadFile(filepath.Join(dir, demoState))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s = demoSettings{Seed: sandbox.DefaultSeed, People: sandbox.DefaultPeople, End: now.Add(-demoLag).Truncate(time.Minute).UTC()}
		if f.seed != 0 {
			s.Seed = f.seed
		}
		if f.people != 0 {
			s.People = f.people
		}
		s.Messages = f.messages
		return s, true, nil
	case err != nil:
		return s, false, fmt.Errorf("read demo settings: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, false, fmt.Errorf("read demo settings %s: %w (crmsync demo --down starts afresh)", filepath.Join(dir, demoState), err)
	}
	if (f.seed != 0 && f.seed != s.Seed) || (f.people != 0 && f.people != s.People) || (f.messages != 0 && f.messages != s.Messages) {
		return s, false, usagef("the demo data in %s was made with --seed %d --people %d; run crmsync demo --down first to start over with other settings", dir, s.Seed, s.People)
	}
	return s, false, nil
}

// save writes the settings into dir.
func (s demoSettings) save(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("write demo settings: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, demoState), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write demo settings: %w", err)
	}
	return nil
}

// demoReport is everything the demo's summary shows.
type demoReport struct {
	dir       demoDir
	first     bool
	settings  demoSettings
	stats     sandbox.Stats
	channels  int
	days      int
	steps     []string // the job's steps, in order
	expected  int      // contacts reconcile should make (the generator's truth)
	dsn       string
	fromEnv   bool // the database came from DATABASE_URL
	result    schedule.Result
	counts    []sandbox.Counts
	tables    []store.TableCount
	people    store.PeopleCount
	outcomes  []store.PushOutcome
	reasons   []store.PushReason
	took      time.Duration
	okeybotRt int
}

// runDemo runs the demo in dir and returns what it did. The report is not
// nil once the pipeline ran, even when it failed.
func runDemo(ctx context.Context, e *env, f *demoFlags, dir demoDir) (*demoReport, error) {
	began := time.Now()
	if dir.note != "" {
		fmt.Fprintf(e.stderr, "crmsync demo: %s\n", dir.note)
	}
	if err := os.MkdirAll(dir.path, 0o755); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	_ = os.Chmod(dir.path, 0o755) // the postgres user must be able to enter it
	settings, first, err := loadDemoSettings(dir.path, f, began)
	if err != nil {
		return nil, err
	}

	dsn, fromEnv := e.getenv("DATABASE_URL"), true
	if dsn == "" {
		fromEnv = false
		var started bool
		if dsn, settings.Port, started, err = startDemoPostgres(ctx, dir.path, settings.Port); err != nil {
			return nil, err
		}
		if started {
			fmt.Fprintf(e.stderr, "crmsync demo: started PostgreSQL in %s on port %d (it keeps running; crmsync demo --down stops it)\n",
				filepath.Join(dir.path, "pgdata"), settings.Port)
		}
	}
	if err := settings.save(dir.path); err != nil {
		return nil, err
	}

	ds := sandbox.Generate(sandbox.Options{Seed: settings.Seed, People: settings.People, Messages: settings.Messages, End: settings.End})
	sb, err := sandbox.Start(ctx, ds, sandbox.StartOptions{
		Faults:               sandbox.DefaultFaults,
		OkeybotRatePerMinute: demoOkeybotRate,
		StateFile:            filepath.Join(dir.path, demoFakes),
		Log:                  e.log,
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = sb.Close(context.WithoutCancel(ctx)) }()
	cfg, err := sb.Config(e.getenv)
	if err != nil {
		return nil, err
	}
	// The sandbox grants more than Okeybot's 100 calls a minute (see
	// demoOkeybotRate); the configuration's validation caps the real one.
	cfg.Okeybot.RatePerMinute = demoOkeybotRate

	st, err := store.Open(ctx, dsn, store.Options{Log: e.log})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return nil, err
	}

	job, err := cfg.Job(demoJob)
	if err != nil {
		return nil, err
	}
	prog := newDemoProgress(e.stderr, isTerminal(e.stderr), ds, cfg.Reconcile.SharedKeyCeiling)
	stopPolling := prog.poll(ctx, st)
	res, runErr := runDemoPipeline(ctx, demoPipeline{env: e, cfg: cfg, store: st, job: job, wrap: prog.wrap})
	stopPolling()
	prog.finish()
	if runErr != nil && res.RunID == 0 {
		return nil, runErr // the run never started: nothing to sum up
	}

	rep := &demoReport{
		dir: dir, first: first, settings: settings, stats: ds.Stats(), expected: ds.ExpectedContacts(cfg.Reconcile.SharedKeyCeiling),
		channels: len(ds.Channels), days: ds.Options.Days, steps: job.Steps,
		dsn: dsn, fromEnv: fromEnv, result: res, counts: sb.Counts(), okeybotRt: demoOkeybotRate,
	}
	var serr error
	if rep.tables, serr = st.TableCounts(ctx); serr == nil {
		if rep.people, serr = st.CountPeople(ctx); serr == nil {
			if rep.outcomes, serr = st.PushOutcomes(ctx); serr == nil {
				rep.reasons, serr = st.PushReasons(ctx)
			}
		}
	}
	rep.took = time.Since(began)
	switch {
	case runErr != nil:
		return rep, runErr
	case res.Status != schedule.StatusOK:
		msg := "the demo run ended " + res.Status
		if res.Err != nil {
			msg += ": " + res.Err.Error()
		}
		return rep, failedRunError{msg}
	}
	return rep, serr
}

// demoLogger is the pipeline's logger: on a terminal with the default
// level, only warnings, so the progress bars stay readable.
func demoLogger(e *env) *logrus.Logger {
	if !isTerminal(e.stderr) || e.log.GetLevel() != logrus.InfoLevel {
		return e.log
	}
	l := logrus.New()
	l.SetOutput(e.log.Out)
	l.SetFormatter(e.log.Formatter)
	l.SetLevel(logrus.WarnLevel)
	return l
}

// demoPipeline is what one run of the pipeline needs.
type demoPipeline struct {
	env   *env
	cfg   *config.Config
	store *store.Store
	job   config.Job
	// wrap decorates each step (progress display).
	wrap func(name string, f schedule.StepFunc) schedule.StepFunc
}

// runDemoPipeline runs the demo job, trigger demo, through the same Runner
// and steps as `crmsync run` (newRunner), each step wrapped by p.wrap.
func runDemoPipeline(ctx context.Context, p demoPipeline) (schedule.Result, error) {
	e := *p.env
	e.log = demoLogger(p.env)
	r, err := newRunner(ctx, &e, p.cfg, p.store, nil, stepOptions{})
	if err != nil {
		return schedule.Result{}, err
	}
	for name, f := range r.Steps {
		r.Steps[name] = p.wrap(name, f)
	}
	return r.RunJob(ctx, p.job, schedule.TriggerDemo)
}

// startDemoPostgres starts the demo's PostgreSQL in dir/pgdata unless it
// runs already, and returns the URL of its crmsync database, its port and
// whether it was started now.
func startDemoPostgres(ctx context.Context, dir string, port int) (dsn string, _ int, started bool, _ error) {
	pgdata := filepath.Join(dir, "pgdata")
	url := func(db string, port int) string {
		return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", port, db)
	}
	if port == 0 || !pglocal.Running(ctx, pgdata) {
		c, err := pglocal.Start(ctx, pglocal.Options{DataDir: pgdata, Port: port, Durable: true})
		if err != nil {
			return "", 0, false, fmt.Errorf("start the demo's PostgreSQL: %w", err)
		}
		port, started = c.Port, true
	}
	if _, err := store.EnsureDatabase(ctx, url("postgres", port), demoDatabase); err != nil {
		return "", 0, false, err
	}
	return url(demoDatabase, port), port, started, nil
}

// demoDown stops the demo's PostgreSQL and removes its data folders.
func demoDown(ctx context.Context, e *env, dir demoDir) error {
	var errs []error
	removed := 0
	for _, p := range uniq(dir.path, dir.local, dir.fallback) {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		pgdata := filepath.Join(p, "pgdata")
		if pglocal.Running(ctx, pgdata) {
			if err := pglocal.StopDir(ctx, pgdata); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(e.stdout, "stopped PostgreSQL in %s\n", pgdata)
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			continue
		}
		fmt.Fprintf(e.stdout, "removed %s\n", p)
		removed++
	}
	if removed == 0 && len(errs) == 0 {
		fmt.Fprintln(e.stdout, "nothing to remove: no demo data here")
	}
	if e.getenv("DATABASE_URL") != "" {
		fmt.Fprintln(e.stdout, "DATABASE_URL is set: the demo never started a server for it, and its database was left as it is")
	}
	return errors.Join(errs...)
}

// uniq returns the distinct non-empty strings of ss, in order.
func uniq(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// demoProgress shows the pipeline's progress: a bar per step on a
// terminal, one line per finished step otherwise. It counts rows in the
// tables each step fills, so it needs nothing from the steps themselves.
type demoProgress struct {
	w       io.Writer
	tty     bool
	targets map[string]int64 // step → rows expected when it is done

	mu    sync.Mutex
	st    *store.Store // set by poll
	step  string
	bar   *progressbar.ProgressBar
	began time.Time
	last  store.DemoProgress
}

func newDemoProgress(w io.Writer, tty bool, ds *sandbox.Dataset, ceiling int) *demoProgress {
	people := int64(ds.ExpectedContacts(ceiling))
	return &demoProgress{w: w, tty: tty, targets: map[string]int64{
		config.StepPullContacts:    int64(len(ds.Contacts)),
		config.StepPullTaggingLogs: int64(len(ds.TaggingLogs)),
		config.StepPullMessages:    int64(len(ds.Messages)),
		config.StepReconcile:       people,
		config.StepPushOho:         people,
		config.StepPushOkeybot:     people,
	}}
}

// value returns a step's row count in p.
func stepValue(step string, p store.DemoProgress) int64 {
	switch step {
	case config.StepPullContacts:
		return p.Contacts
	case config.StepPullTaggingLogs:
		return p.TaggingLogs
	case config.StepPullMessages:
		return p.Messages
	case config.StepReconcile:
		return p.People
	case config.StepPushOho:
		return p.PushedOho
	case config.StepPushOkeybot:
		return p.PushedOkeybot
	}
	return 0
}

// stepLabels are the bars' descriptions.
var stepLabels = map[string]string{
	config.StepPullContacts:    "pull contacts     ",
	config.StepPullTaggingLogs: "pull tagging logs ",
	config.StepPullMessages:    "pull messages     ",
	config.StepPullAgents:      "pull agents       ",
	config.StepReconcile:       "reconcile         ",
	config.StepPushOho:         "push to Oho       ",
	config.StepPushOkeybot:     "push to Okeybot   ",
}

// wrap reports the start and end of step f.
func (d *demoProgress) wrap(name string, f schedule.StepFunc) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		d.begin(name)
		c, err := f(ctx, run)
		d.end(name, c, err)
		return c, err
	}
}

func (d *demoProgress) begin(step string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.step, d.began = step, time.Now()
	if !d.tty {
		return
	}
	d.bar = progressbar.NewOptions64(max(d.targets[step], 1),
		progressbar.OptionSetWriter(d.w),
		progressbar.OptionSetDescription(stepLabels[step]),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(d.w) }),
	)
	_ = d.bar.Set64(min(stepValue(step, d.last), d.targets[step]))
}

func (d *demoProgress) end(step string, c schedule.Counts, err error) {
	d.mu.Lock()
	st := d.st
	d.mu.Unlock()
	final := int64(-1)
	if st != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if p, perr := st.Progress(ctx); perr == nil {
			final = stepValue(step, p)
		}
		cancel()
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	took := time.Since(d.began).Round(10 * time.Millisecond)
	if d.bar != nil {
		if err == nil {
			if final >= 0 { // end on the real count, even when it is not the one expected
				d.bar.ChangeMax64(max(final, 1))
				_ = d.bar.Set64(final)
			}
			_ = d.bar.Finish()
		} else {
			_ = d.bar.Exit()
			fmt.Fprintln(d.w)
		}
		d.bar = nil
	}
	if !d.tty {
		status := "done"
		if err != nil {
			status = "failed: " + err.Error()
		}
		requests, ok := c["api_attempts"] // every HTTP attempt, retries included, when cmd counts them
		if !ok {
			requests = c[schedule.CountRequests]
		}
		fmt.Fprintf(d.w, "demo: %-17s %s in %s (%s requests, %s rows)\n", step, status, took, commas(requests), commas(c[schedule.CountRows]))
	}
	d.step = ""
}

// poll updates the current bar from row counts until the returned func is called.
func (d *demoProgress) poll(ctx context.Context, st *store.Store) (stop func()) {
	d.mu.Lock()
	d.st = st
	d.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			p, err := st.Progress(ctx)
			if err != nil {
				continue
			}
			d.mu.Lock()
			d.last = p
			if d.bar != nil {
				_ = d.bar.Set64(min(stepValue(d.step, p), d.targets[d.step]))
			}
			d.mu.Unlock()
		}
	}()
	return func() { cancel(); <-done }
}

// finish ends any bar left open (a step that panicked).
func (d *demoProgress) finish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar != nil {
		_ = d.bar.Exit()
		fmt.Fprintln(d.w)
		d.bar = nil
	}
}

// commas writes n with thousands separators.
func commas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// demoQueries are the example queries the summary suggests; the demo's
// test runs each of them.
var demoQueries = []struct{ title, sql string }{
	{"people on the most channels, with what they said",
		`SELECT contact_id, name, platforms, messages_total, tags FROM v_contact_360 ORDER BY identities DESC, messages_total DESC LIMIT 10;`},
	{"messages per day and sender over the last week of the history",
		`SELECT day, sender_type, sum(messages) AS messages FROM v_daily_messages WHERE day > (SELECT max(day) - 7 FROM v_daily_messages) GROUP BY 1, 2 ORDER BY 1, 2;`},
	{"what the push changed to fit Oho and Okeybot, and why",
		`SELECT destination, what, kind, reason, contacts FROM v_push_reasons ORDER BY contacts DESC LIMIT 15;`},
}

// print writes the summary.
func (r *demoReport) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	run := "first run: everything was new"
	if !r.first {
		run = "a later run: only what changed since the last one is sent"
	}
	p("\ncrmsync demo: %s in %s (%s)\n", r.result.Status, r.took.Round(100*time.Millisecond), run)

	s := r.stats
	p("\nDataset (seed %d): %s people with %s identities on %d channels, %s messages and %s tagging logs over %d days\n",
		r.settings.Seed, commas(int64(s.People)), commas(int64(s.Identities)), r.channels, commas(int64(s.Messages)),
		commas(int64(s.TaggingLogs)), r.days)

	p("\nRows per table\n")
	for _, t := range r.tables {
		if t.Rows > 0 {
			p("  %-26s %10s\n", t.Table, commas(t.Rows))
		}
	}

	pc := r.people
	p("\nPeople vs identities\n")
	p("  %s contacts (people) from %s identities; %s of them on several channels; %s merged away\n",
		commas(pc.People), commas(pc.Identities), commas(pc.Linked), commas(pc.Merged))
	keys := "keys"
	if pc.SharedKeys == 1 {
		keys = "key"
	}
	p("  %s %s held back as shared by more identities than reconcile.shared_key_ceiling (the shop's own phone)\n", commas(pc.SharedKeys), keys)
	p("  the generator's truth: %s real people; by the member ids, phones and emails their identities carry, %s contacts are expected\n",
		commas(int64(s.People)), commas(int64(r.expected)))

	p("\nRequests per API (the sandbox's count)\n")
	for _, c := range r.counts {
		p("  %-9s %7s requests   %3d × 429 absorbed   %3d × 5xx retried   %3d refused\n",
			c.API, commas(int64(c.Requests)), c.RateLimited(), c.ServerErrors(), c.Refused())
	}
	p("  (the sandbox's Okeybot grants %s calls/min per token; the real one allows 100)\n", commas(int64(r.okeybotRt)))

	if len(r.outcomes) > 0 {
		p("\nPush\n")
		for _, o := range r.outcomes {
			p("  %-8s %s records held; last push per contact: %s pushed, %s unchanged, %s rejected, %s not served there\n",
				o.Destination, commas(o.Records), commas(o.Pushed), commas(o.Unchanged), commas(o.Rejected), commas(o.NoTarget))
		}
	}
	p("\nAdjustments and rejections by reason\n")
	if len(r.reasons) == 0 {
		p("  none\n")
	}
	for _, x := range r.reasons {
		p("  %-8s %-10s %-14s %6s contacts  %s\n", x.Destination, x.What, x.Kind, commas(x.Contacts), x.Reason)
	}

	p("\nTime taken: %s in all", r.took.Round(100*time.Millisecond))
	for _, step := range r.steps {
		if _, ok := r.result.Counts[step]; !ok {
			continue
		}
		p("; %s %s", step, (time.Duration(r.result.Counts[step][schedule.CountDurationMS]) * time.Millisecond).Round(10*time.Millisecond))
	}
	p("\n\nExplore the data:\n")
	if r.fromEnv {
		p("  psql \"$DATABASE_URL\"\n")
	} else {
		p("  psql %q\n", strings.TrimSuffix(r.dsn, "?sslmode=disable"))
	}
	for _, q := range demoQueries {
		p("\n  -- %s\n  %s\n", q.title, q.sql)
	}
	p("\nRun it again (fast: nothing is re-pushed) with crmsync demo; stop and remove it with crmsync demo --down.\n")
}
