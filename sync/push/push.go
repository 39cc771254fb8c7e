package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"crmsync/clients/apiclient"
	"crmsync/contact"
	"crmsync/mapping"
	"crmsync/store"
)

// ErrStopped is returned by Run when Options.Stopping asked it to stop: the
// contacts in hand were finished and recorded; the next run goes on from there.
var ErrStopped = errors.New("push stopped")

// Defaults of Options.
const (
	DefaultBatchSize    = 200
	DefaultConcurrency  = 4
	DefaultRecheckAfter = 24 * time.Hour
	DefaultMaxFailures  = 20
)

// ChangeOverlap is how far before the newest change the last complete pass
// saw (store.PushProgress.ChangedUntil) an incremental run looks for changed
// contacts again. contacts.updated_at is the clock of the reconcile run that
// wrote it, taken when that run started, so a run that waited behind
// another one's lock, or ran on a host whose clock is behind, can commit
// changes older than ones already seen; the overlap finds them. Contacts in
// it that were already finished cost an index probe each, no request.
const ChangeOverlap = time.Hour

// Destination is one service contacts are pushed to. Run owns the loop,
// the state, the rejections, concurrency and the report; a Destination only
// says where a contact goes and pushes one target. Its methods must be safe
// for concurrent use (Push is called from several workers).
type Destination interface {
	// Name is the destination as the push tables store it
	// (store.DestinationOho, store.DestinationOkeybot).
	Name() string
	// Start is called once per run before the first contact, with the store
	// the run reads through (read-only in a dry run). It returns the
	// fingerprint of the settings that shape payloads besides the master
	// record (mapping rules, configured channels): when it differs from the
	// one a contact was last pushed under, the contact is examined again.
	// The destination may keep st for the run: for reads, and for the
	// checkpoints Push may write (in a dry run it is bound to one read-only
	// transaction and Push is called from one goroutine at a time).
	Start(ctx context.Context, st *store.Store) (fingerprint string, err error)
	// Targets returns the destination records contact c maps to, each with
	// its target key (unique within the destination). It may do read-only
	// I/O (LINE bot info). A record that cannot be addressed is returned
	// with Rejection set; an error fails the contact for now (retried by the
	// next run), or ends the run when it matches apiclient.ErrUnauthorized.
	Targets(ctx context.Context, c contact.Contact) ([]Target, error)
	// Push brings target t to the state c should give it. prev is what the
	// store knows about t (zero for a record never written). In a dry run it
	// sends no write and returns what it would do. Run records the Outcome;
	// Push writes to the store only to checkpoint a record that takes
	// several requests (store.Store.SavePushState after each confirmed one,
	// as Okeybot does), never in a dry run.
	Push(ctx context.Context, c contact.Contact, t Target, prev store.PushTarget, dryRun bool) Outcome
}

// Laner is implemented by a Destination whose targets wait on separate
// quotas (Okeybot: one rate limiter per channel token). Run gives each lane
// its own queue, its own Options.Concurrency workers and, when the lane's
// queue is full, its own cursor over the candidates, so a lane slowed by
// its quota, or whose contacts come late in id order, never holds up or
// starves another. A Destination without it has one lane. Lanes only shape
// the scheduling: what is pushed and recorded is the same whatever Lane
// answers.
type Laner interface {
	// Lane names the quota target t's requests wait on. A contact's lane is
	// the set of its targets' lanes ("" for a contact with none).
	Lane(t Target) string
}

// Target is one destination record a contact maps to.
type Target struct {
	// Key is the target key (push_state.target_key).
	Key string
	// Identity is the identity the record is keyed by, if any (Oho).
	Identity *contact.Identity
	// Rejection, when set, says the record cannot be pushed at all (e.g. no
	// LINE token for its channel); Run records it and does not call Push.
	Rejection *Rejection
	// Data is the destination's own resolved information (Oho: the key and
	// LINE bot); Run never looks at it.
	Data any
}

// Action is what happened to one target.
type Action int

// The actions, in report order.
const (
	Unchanged Action = iota + 1 // desired payload equals the last confirmed one: nothing sent
	Created                     // created (or, after a conflict, found and updated)
	Updated                     // changed fields sent
	Recorded                    // the payload changed only where no request can change it: recorded, nothing sent
	Rejected                    // refused (by mapping, setup or the destination): recorded in push_rejections
	Skipped                     // this exact payload was refused before: not sent again
	Failed                      // transient failure: not recorded, retried by the next run
)

var actionNames = [...]string{Unchanged: "unchanged", Created: "create", Updated: "update", Recorded: "record",
	Rejected: "rejected", Skipped: "skipped", Failed: "failed"}

// String returns the lower-case name of the action ("create", "update", …).
func (a Action) String() string {
	if a >= Unchanged && a <= Failed {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Rejection is why a target cannot be pushed.
type Rejection struct {
	Field  string  // destination field at fault; "" when none is named
	Value  *string // offending value; nil when none
	Reason string
	// HTTPStatus is the status of the destination's refusal; 0 when no
	// request was sent (mapping or setup refused it). Only refusals with a
	// status block the same payload from being sent again.
	HTTPStatus int
	// PayloadHash is the hash of the refused payload, or of mapping's input
	// when no payload could be built.
	PayloadHash string
}

// FieldChange is one top-level field that is (or would be) written.
type FieldChange struct {
	Field string
	Old   string // "" for a create
	New   string
	// Unsent says why the change cannot be sent (e.g. "create only"); "" when it is sent.
	Unsent string
}

// Outcome is what Destination.Push did to one target.
type Outcome struct {
	Action Action
	// State is the new confirmed state to record (Created, Updated, Recorded).
	// A Failed outcome may carry the state the destination confirmed before
	// the failure (a destination that needs several requests: the record
	// created, its remote id, some fields); it is recorded too, so the next
	// run neither creates the record again nor resends what was confirmed.
	// Its PayloadHash must then differ from the desired payload's.
	// Run fills Destination, TargetKey, ContactID, RunID and PushedAt when zero.
	State *store.PushState
	// Rejections are recorded when Action is Rejected.
	Rejections []Rejection
	// Changes are the top-level fields written (or, in a dry run, to be written).
	Changes []FieldChange
	// Adjustments are what mapping did to make the payload fit.
	Adjustments []mapping.Change
	// Conflicts are fields edited at the destination whose crmsync value
	// changed too, with what the rule did; recorded (push_conflicts) with
	// State. Run fills Destination, ContactID, TargetKey, RunID and At when zero.
	Conflicts []store.PushConflict
	// Kept is what the destination holds that the push left as it is
	// although it is not crmsync's wish (items added there, fields edited
	// there): reported, not recorded.
	Kept []Kept
	// Requests counts requests to the destination; HelperRequests those to
	// helper APIs (LINE bot info and profiles), which have their own quota.
	Requests, HelperRequests int
	// Calls counts the same requests (helper ones included) by credential
	// and kind; in a dry run, those a real run would send.
	Calls Calls
	// Err is the failure when Action is Failed.
	Err error
}

// TargetReport is the report of one target of a contact.
type TargetReport struct {
	Key         string
	Action      Action
	Changes     []FieldChange
	Adjustments []mapping.Change
	Rejections  []Rejection
	Conflicts   []store.PushConflict
	Kept        []Kept
	Err         error
}

// ContactReport is the report of one contact, given to Options.ReportFunc.
type ContactReport struct {
	ContactID contact.ID
	Targets   []TargetReport
}

// Options configures Run. Zero values mean the documented default.
type Options struct {
	// Store is the database (required).
	Store *store.Store
	// Log receives one line per failure and one per run; nil discards.
	Log logrus.FieldLogger
	// DryRun sends no write to the destination and writes nothing to the
	// database; the report says what would happen.
	DryRun bool
	// Limit caps the contacts examined (0: all).
	Limit int
	// BatchSize is contacts loaded per query (default 200). A lane holds at
	// most Concurrency contacts in hand, BatchSize queued behind them and a
	// batch being loaded.
	BatchSize int
	// Concurrency is contacts pushed at once per lane (see Laner; default
	// 4; 1 in a dry run, which has one lane).
	Concurrency int
	// RecheckAfter examines again a contact last examined longer ago than
	// this, though its record did not change (facts such as "inactive 30
	// days" move with time). Default 24h; negative turns it off.
	RecheckAfter time.Duration
	// Full examines every contact, changed or not (a desired payload equal to
	// the confirmed one still sends nothing).
	Full bool
	// MaxFailures ends the run after this many transient failures in a row
	// (the destination is probably down). Default 20.
	MaxFailures int
	// RunID is the sync_runs row of this run, recorded with state and
	// rejections; 0 records NULL.
	RunID int64
	// NowFunc is the clock (default time.Now).
	NowFunc func() time.Time
	// Stopping is asked between contacts and batches (one call at a time);
	// when it returns true the run finishes the contacts in hand, records
	// them and returns ErrStopped. Contacts loaded and not yet started are
	// left for the next run.
	Stopping func() bool
	// ReportFunc, when set, receives each contact's report once the contact
	// is done (one call at a time, in completion order; in id order in a dry run).
	ReportFunc func(ContactReport)
	// ProgressFunc, when set, is called after each contact with the run's
	// progress (one call at a time, under the run's lock: it must return
	// quickly; Progress is the caller's to keep).
	ProgressFunc func(Progress)
}

// Progress is where a run is: the contacts it chose and examined, and the
// requests made so far by credential and kind.
type Progress struct {
	Destination string
	// Candidates is how many contacts the run chose; Contacts how many it
	// examined so far.
	Candidates, Contacts int
	// Calls are the requests made so far (in a dry run, planned).
	Calls Calls
}

// Result counts what a run did. Counts are per target except Contacts.
type Result struct {
	Destination string
	// Contacts is how many contacts were examined.
	Contacts int
	// Targets is how many destination records they map to.
	Targets                                                          int
	Created, Updated, Unchanged, Recorded, Rejected, Skipped, Failed int
	// Requests are requests sent to the destination; HelperRequests to
	// helper APIs (LINE).
	Requests, HelperRequests int
	// Calls counts the requests by credential and kind: sent, or in a dry
	// run those a real run would send (crmsync plan push).
	Calls Calls
	// Conflicts counts fields met edited at the destination while crmsync's
	// value changed too (push_conflicts).
	Conflicts int
	// Adjustments counts mapping's changes in the payloads sent (or, in a
	// dry run, to be sent), by "kind: reason".
	Adjustments map[string]int
	// Rejections counts rejections by reason.
	Rejections map[string]int
	// RejectionClasses counts rejections by a bounded class, fit for a
	// metrics label: "http_<status>" for a destination's refusal,
	// "not_sent" for one refused before any request (mapping or setup).
	RejectionClasses map[string]int
	// Batches is how many batches of contacts were loaded.
	Batches int
	// LastID is the last contact id examined.
	LastID contact.ID
	// Candidates is how many contacts the run chose to examine.
	Candidates int
	// FullPass is true when the run looked at every live contact (first run
	// of the destination, other settings, Options.Full), false when it
	// looked only at what changed since the last complete pass, what was due
	// for a recheck and what waited for a retry.
	FullPass bool
	// Selection is how long the database took to choose the candidates (the
	// progress, the newest change and the candidate query), measured around
	// the queries.
	Selection time.Duration
}

// Counts returns the result as the counters of a sync_runs step entry: the
// standard keys (pages = batches, rows = records written or recorded,
// requests = destination and helper requests, rejections) and the push's own
// (conflicts only when some were met).
func (r Result) Counts() map[string]int64 {
	m := map[string]int64{
		"pages":           int64(r.Batches),
		"rows":            int64(r.Created + r.Updated + r.Recorded),
		"requests":        int64(r.Requests + r.HelperRequests),
		"rejections":      int64(r.Rejected),
		"contacts":        int64(r.Contacts),
		"targets":         int64(r.Targets),
		"created":         int64(r.Created),
		"updated":         int64(r.Updated),
		"unchanged":       int64(r.Unchanged),
		"recorded":        int64(r.Recorded),
		"skipped":         int64(r.Skipped),
		"failed":          int64(r.Failed),
		"dest_requests":   int64(r.Requests),
		"helper_requests": int64(r.HelperRequests),
		"candidates":      int64(r.Candidates),
		"full_pass":       boolCount(r.FullPass),
		"select_ms":       r.Selection.Milliseconds(),
	}
	if r.Conflicts > 0 {
		m["conflicts"] = int64(r.Conflicts)
	}
	return m
}

func boolCount(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (r *Result) add(t TargetReport, o Outcome) {
	r.Targets++
	r.Requests += o.Requests
	r.HelperRequests += o.HelperRequests
	r.Calls.Add(o.Calls)
	switch t.Action {
	case Created:
		r.Created++
	case Updated:
		r.Updated++
	case Unchanged:
		r.Unchanged++
	case Recorded:
		r.Recorded++
	case Rejected:
		r.Rejected++
	case Skipped:
		r.Skipped++
	case Failed:
		r.Failed++
	}
	if t.Action == Created || t.Action == Updated || t.Action == Recorded {
		for _, c := range t.Adjustments {
			r.Adjustments[c.Kind.String()+": "+c.Reason]++
		}
		r.Conflicts += len(t.Conflicts)
	}
	for _, rj := range t.Rejections {
		r.Rejections[rj.Reason]++
		class := "not_sent"
		if rj.HTTPStatus > 0 {
			class = fmt.Sprintf("http_%d", rj.HTTPStatus)
		}
		r.RejectionClasses[class]++
	}
}

// Run pushes the contacts destination d has not finished with. See the
// package documentation. The Result counts what was done even when the
// error is not nil.
func Run(ctx context.Context, d Destination, o Options) (Result, error) {
	res := Result{Destination: d.Name(), Adjustments: map[string]int{}, Rejections: map[string]int{}, RejectionClasses: map[string]int{}}
	if o.Store == nil {
		return res, errors.New("push: no store")
	}
	o = o.withDefaults()
	if o.DryRun {
		var out Result
		err := o.Store.ReadOnly(ctx, func(ro *store.Store) error {
			oo := o
			oo.Store = ro
			var err error
			out, err = run(ctx, d, oo, res)
			return err
		})
		if out.Destination == "" {
			out = res
		}
		return out, err
	}
	return run(ctx, d, o, res)
}

func (o Options) withDefaults() Options {
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.DryRun {
		o.Concurrency = 1 // one read-only transaction, and a report in id order
	}
	if o.RecheckAfter == 0 {
		o.RecheckAfter = DefaultRecheckAfter
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.NowFunc == nil {
		o.NowFunc = time.Now
	}
	if o.Stopping == nil {
		o.Stopping = func() bool { return false }
	}
	return o
}

// lookAhead is how many batches of contacts a lane's queue holds beyond the
// contacts its workers have in hand: the loader fills it while they push.
const lookAhead = 1

// runner is the state of one Run.
type runner struct {
	d           Destination
	o           Options
	laner       Laner        // nil: one lane
	ids         []contact.ID // the candidates, in id order
	fingerprint string
	log         logrus.FieldLogger
	loaders     sync.WaitGroup // cursors (scan)
	workers     sync.WaitGroup

	mu          sync.Mutex // guards the fields below
	res         Result
	consecutive int                 // transient failures in a row
	abort       error               // first error that ends the run
	stopped     bool                // Options.Stopping returned true
	taken       int                 // contacts taken from the candidates (Options.Limit)
	inHand      map[contact.ID]bool // contacts taken and not yet finished or dropped
}

func run(ctx context.Context, d Destination, o Options, res Result) (Result, error) {
	r := &runner{d: d, o: o, res: res, log: o.Log.WithField("destination", d.Name()), inHand: map[contact.ID]bool{}}
	fp, err := d.Start(ctx, o.Store)
	if err != nil {
		return r.res, fmt.Errorf("push %s: %w", d.Name(), err)
	}
	r.fingerprint = fp
	until, err := r.choose(ctx)
	if err != nil {
		return r.res, r.wrap(ctx, err)
	}
	if l, ok := d.(Laner); ok && !o.DryRun {
		r.laner = l
	}
	r.loaders.Go(func() { r.scan(ctx, 0, nil) })
	r.loaders.Wait()
	r.workers.Wait()
	switch {
	case r.abort != nil:
		return r.res, r.abort
	case r.stopped:
		return r.res, ErrStopped
	case ctx.Err() != nil:
		return r.res, fmt.Errorf("push %s: %w", d.Name(), ctx.Err())
	}
	// Every candidate was examined (or waits in push_retries): the next run
	// may look only at what changes after until.
	if !o.DryRun && o.Limit == 0 && !until.IsZero() {
		err := o.Store.SavePushProgress(ctx, store.PushProgress{
			Destination: d.Name(), ConfigHash: fp, ChangedUntil: until, RunID: o.RunID, UpdatedAt: o.NowFunc()})
		if err != nil {
			return r.res, r.wrap(ctx, err)
		}
	}
	r.log.WithFields(logrus.Fields{
		"contacts": r.res.Contacts, "created": r.res.Created, "updated": r.res.Updated, "unchanged": r.res.Unchanged,
		"rejected": r.res.Rejected, "failed": r.res.Failed, "requests": r.res.Requests, "dry_run": o.DryRun,
		"candidates": r.res.Candidates, "full_pass": r.res.FullPass, "selection": r.res.Selection.Round(time.Millisecond).String(),
	}).Info("push done")
	return r.res, nil
}

// choose picks the run's candidates (r.ids) and returns the newest change
// they cover, to be recorded once they are all examined. After a complete
// pass under the same fingerprint it looks only at the contacts changed
// since (less ChangeOverlap), due for a recheck or waiting for a retry;
// otherwise, or with Options.Full, at every live contact.
func (r *runner) choose(ctx context.Context) (until time.Time, err error) {
	began := time.Now()
	defer func() { r.res.Selection = time.Since(began) }()
	st, name := r.o.Store, r.d.Name()
	prog, err := st.PushProgress(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return time.Time{}, err
	}
	// Read before the candidates: a contact changed while they are chosen
	// is after until, so the next run looks at it.
	if until, err = st.ContactsChangedUntil(ctx); err != nil {
		return time.Time{}, err
	}
	q := store.PushCandidateQuery{Destination: name, ConfigHash: r.fingerprint}
	if r.o.RecheckAfter > 0 {
		q.RecheckBefore = r.o.NowFunc().Add(-r.o.RecheckAfter)
	}
	switch {
	case r.o.Full:
		q.ConfigHash = "" // no contact was pushed under "": every one is a candidate
	case prog.ConfigHash == r.fingerprint && !prog.ChangedUntil.IsZero():
		q.ChangedAfter = prog.ChangedUntil.Add(-ChangeOverlap)
	}
	if r.ids, err = st.PushCandidates(ctx, q); err != nil {
		return time.Time{}, err
	}
	r.res.Candidates, r.res.FullPass = len(r.ids), q.ChangedAfter.IsZero()
	return until, nil
}

// lane is the queue of one lane's contacts, taken by its own
// Options.Concurrency workers. The cursor that feeds it closes it.
type lane struct {
	name  string
	queue chan *work
}

// batch is the contacts one query loaded that a cursor took, with the last
// confirmed state of their targets.
type batch struct {
	ws   []*work
	prev map[string]store.PushTarget
	left int           // contacts neither finished nor dropped yet (guarded by runner.mu)
	done chan struct{} // closed once every contact is settled and the batch recorded
}

// work is one contact of a batch with its resolved targets.
type work struct {
	c       contact.Contact
	b       *batch
	lane    string
	targets []Target
	err     error // Targets failed
	done    bool  // every target finished (none failed)
	failed  error // why the contact was not finished, when it was pushed and a target failed
	outcome string
}

// scan is a cursor: it pages through the candidates after id after, one
// query per batch, and queues each contact it takes on its lane, going on
// while the workers push. The first cursor (own nil) takes every lane's
// contacts. Without lanes it waits for room in the one queue. With lanes it
// never waits: a lane whose queue is full is handed, from the contact that
// did not fit, to a cursor of its own (own), which takes that lane's
// contacts only and waits for room in its queue, while the first cursor
// goes on for the other lanes. So each lane is fed at its own pace however
// the lanes' contacts are spread in id order, with at most a queue and a
// batch per lane in memory; a lane's contacts are read once more by its own
// cursor.
func (r *runner) scan(ctx context.Context, after contact.ID, own *lane) {
	lanes := map[string]*lane{} // lanes this cursor feeds; nil: handed to a cursor of its own
	if own != nil {
		lanes[own.name] = own
	}
	defer func() {
		for _, l := range lanes {
			if l != nil {
				close(l.queue)
			}
		}
	}()
	takes := func(name string) bool {
		if own != nil {
			return name == own.name
		}
		l, ok := lanes[name]
		return !ok || l != nil
	}
	pos, _ := slices.BinarySearch(r.ids, after+1) // the first candidate after after
	var last *batch
	for pos < len(r.ids) {
		if r.o.DryRun && last != nil {
			<-last.done // one read-only transaction: no query while a contact is pushed
		}
		if r.halted() {
			return
		}
		n := r.o.BatchSize
		if r.o.Limit > 0 {
			r.mu.Lock()
			left := r.o.Limit - r.taken
			r.mu.Unlock()
			if left <= 0 {
				return
			}
			n = min(n, left)
		}
		ids := r.ids[pos:min(pos+n, len(r.ids))]
		pos += len(ids)
		cs, err := r.o.Store.PushContacts(ctx, ids)
		if err != nil {
			r.fail(r.wrap(ctx, err))
			return
		}
		r.mu.Lock()
		r.res.Batches++
		r.mu.Unlock()
		if len(cs) == 0 {
			continue // merged or excluded since they were chosen
		}
		b, err := r.load(ctx, cs, takes)
		if err != nil {
			r.fail(err)
			return
		}
		if b == nil {
			continue
		}
		type handOff struct {
			l     *lane
			after contact.ID
		}
		var handOffs []handOff
		for _, w := range b.ws {
			l, ok := lanes[w.lane]
			switch {
			case r.halted(), ok && l == nil:
				r.settle(ctx, w, false)
				continue
			case !ok:
				l = r.newLane(ctx, w.lane)
				lanes[w.lane] = l
			}
			if own != nil || r.laner == nil {
				l.queue <- w // the workers always drain the queue, stopping or not
				continue
			}
			select {
			case l.queue <- w:
			default:
				lanes[w.lane] = nil
				handOffs = append(handOffs, handOff{l, w.c.ID - 1})
				r.settle(ctx, w, false)
			}
		}
		// Started once the batch's contacts of the lane were dropped, so the
		// new cursor finds none of them still in hand.
		for _, h := range handOffs {
			r.loaders.Go(func() { r.scan(ctx, h.after, h.l) })
		}
		last = b
	}
}

// load resolves the targets of contacts cs, takes those of the lanes the
// cursor takes (and not in hand already, within Options.Limit), and loads
// their targets' last confirmed state with one query. It returns nil when
// it takes none.
func (r *runner) load(ctx context.Context, cs []contact.Contact, takes func(lane string) bool) (*batch, error) {
	b := &batch{done: make(chan struct{})}
	var keys []string
	for _, c := range cs {
		w := &work{c: c, b: b}
		w.targets, w.err = r.d.Targets(ctx, c)
		if w.err != nil && (errors.Is(w.err, apiclient.ErrUnauthorized) && !isHelper(w.err) || ctx.Err() != nil) {
			r.release(b.ws)
			return nil, fmt.Errorf("push %s: contact %d: %w", r.d.Name(), c.ID, w.err)
		}
		w.lane = r.laneOf(w.targets)
		if !takes(w.lane) || !r.take(c.ID) {
			continue
		}
		b.ws = append(b.ws, w)
		for _, t := range w.targets {
			keys = append(keys, t.Key)
		}
	}
	if len(b.ws) == 0 {
		return nil, nil
	}
	prev, err := r.o.Store.PushTargets(ctx, r.d.Name(), keys)
	if err != nil {
		r.release(b.ws)
		return nil, r.wrap(ctx, err)
	}
	b.prev, b.left = prev, len(b.ws)
	return b, nil
}

// laneOf returns the lane of a contact with targets ts: its targets' lanes,
// sorted and joined ("" without Laner).
func (r *runner) laneOf(ts []Target) string {
	if r.laner == nil {
		return ""
	}
	ls := make([]string, len(ts))
	for i, t := range ts {
		ls[i] = r.laner.Lane(t)
	}
	slices.Sort(ls)
	return strings.Join(slices.Compact(ls), "+") // a clash only merges two lanes' queues
}

// newLane returns a lane with its Options.Concurrency workers started. A
// worker pushes the contacts it takes, or drops them once the run is ending.
func (r *runner) newLane(ctx context.Context, name string) *lane {
	l := &lane{name: name, queue: make(chan *work, lookAhead*r.o.BatchSize)}
	for range r.o.Concurrency {
		r.workers.Go(func() {
			for w := range l.queue {
				pushed := !r.halted()
				if pushed {
					r.contact(ctx, w)
				}
				r.settle(ctx, w, pushed)
			}
		})
	}
	return l
}

// take takes contact id in hand; false when it is already (a contact whose
// lane changed while the run went on) or Options.Limit is reached.
func (r *runner) take(id contact.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inHand[id] || r.o.Limit > 0 && r.taken >= r.o.Limit {
		return false
	}
	r.inHand[id] = true
	r.taken++
	return true
}

// release gives back contacts taken and never queued.
func (r *runner) release(ws []*work) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range ws {
		delete(r.inHand, w.c.ID)
		r.taken--
	}
}

// settle accounts for a contact that was pushed or dropped (not pushed: the
// run is ending, or its lane was handed to another cursor, which takes it
// again). The last contact of a batch records the batch: the contacts whose
// every target finished are marked in push_contacts with one statement.
func (r *runner) settle(ctx context.Context, w *work, pushed bool) {
	r.mu.Lock()
	delete(r.inHand, w.c.ID)
	if !pushed {
		r.taken--
	}
	w.b.left--
	last := w.b.left == 0
	r.mu.Unlock()
	if !last {
		return
	}
	defer close(w.b.done)
	if r.o.DryRun {
		return
	}
	var checks []store.PushCheck
	var retries []store.PushRetry
	for _, w := range w.b.ws {
		switch {
		case w.done:
			checks = append(checks, store.PushCheck{ContactID: w.c.ID, ContactUpdatedAt: w.c.UpdatedAt, Outcome: w.outcome, Targets: len(w.targets)})
		case w.failed != nil:
			retries = append(retries, store.PushRetry{ContactID: w.c.ID, Error: w.failed.Error()})
		}
	}
	now := r.o.NowFunc()
	if err := r.o.Store.MarkPushChecked(ctx, r.d.Name(), r.fingerprint, r.o.RunID, now, checks); err != nil {
		r.fail(fmt.Errorf("push %s: %w", r.d.Name(), err))
	}
	if err := r.o.Store.RecordPushRetries(ctx, r.d.Name(), r.o.RunID, now, retries); err != nil {
		r.fail(fmt.Errorf("push %s: %w", r.d.Name(), err))
	}
}

// halted reports whether the run is ending: an error, or Options.Stopping
// (asked under the lock, so one call at a time; once true it stays so).
func (r *runner) halted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.abort == nil && !r.stopped && r.o.Stopping() {
		r.stopped = true
	}
	return r.abort != nil || r.stopped
}

// wrap wraps a store error; once ctx is done, the cause is ctx's error.
func (r *runner) wrap(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("push %s: %w (%v)", r.d.Name(), ctx.Err(), err)
	}
	return fmt.Errorf("push %s: %w", r.d.Name(), err)
}

// contact pushes every target of one contact and records the outcomes.
func (r *runner) contact(ctx context.Context, w *work) {
	prev := w.b.prev
	rep := ContactReport{ContactID: w.c.ID}
	var outs []Outcome
	failed := w.err != nil
	var why error = w.err
	if w.err != nil {
		rep.Targets = append(rep.Targets, TargetReport{Action: Failed, Err: w.err})
		outs = append(outs, Outcome{Action: Failed, Err: w.err})
	}
	var unchanged []string // keys whose state belongs to another contact and needs no request
	pushed, rejected := false, false
	for _, t := range w.targets {
		var o Outcome
		if t.Rejection != nil {
			o = Outcome{Action: Rejected, Rejections: []Rejection{*t.Rejection}}
		} else {
			o = r.d.Push(ctx, w.c, t, prev[t.Key], r.o.DryRun)
		}
		tr := TargetReport{Key: t.Key, Action: o.Action, Changes: o.Changes, Adjustments: o.Adjustments, Rejections: o.Rejections,
			Conflicts: o.Conflicts, Kept: o.Kept, Err: o.Err}
		if err := r.record(ctx, w.c, t, &o); err != nil {
			r.fail(err)
			tr.Action, tr.Err, o.Action, o.Err = Failed, err, Failed, err
		}
		switch o.Action {
		case Failed:
			failed = true
			if why == nil {
				why = fmt.Errorf("%s: %w", t.Key, o.Err)
			}
		case Rejected, Skipped:
			rejected = true
		case Created, Updated, Recorded:
			pushed = true
		case Unchanged:
			if st := prev[t.Key].State; st != nil && st.ContactID != w.c.ID {
				unchanged = append(unchanged, t.Key)
			}
		}
		rep.Targets = append(rep.Targets, tr)
		outs = append(outs, o)
	}
	if len(unchanged) > 0 && !r.o.DryRun {
		if err := r.o.Store.MovePushState(ctx, r.d.Name(), unchanged, w.c.ID); err != nil {
			err = fmt.Errorf("push %s: %w", r.d.Name(), err)
			r.fail(err)
			failed = true
			if why == nil {
				why = err
			}
		}
	}
	w.done = !failed
	if failed {
		w.failed = why
		if w.failed == nil {
			w.failed = errors.New("failed")
		}
	}
	switch {
	case len(w.targets) == 0:
		w.outcome = store.PushOutcomeNoTarget
	case rejected:
		w.outcome = store.PushOutcomeRejected
	case pushed:
		w.outcome = store.PushOutcomePushed
	default:
		w.outcome = store.PushOutcomeUnchanged
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Contacts++
	r.res.LastID = max(r.res.LastID, w.c.ID)
	for i, o := range outs {
		r.res.add(rep.Targets[i], o)
		switch {
		case o.Action != Failed:
			r.consecutive = 0
		case isHelper(o.Err):
			// One LINE channel's trouble says nothing about the destination.
		default:
			r.consecutive++
			if r.consecutive >= r.o.MaxFailures && r.abort == nil {
				r.abort = fmt.Errorf("push %s: %d failures in a row, last: %w", r.d.Name(), r.consecutive, o.Err)
			}
		}
	}
	if r.o.ReportFunc != nil {
		r.o.ReportFunc(rep)
	}
	if r.o.ProgressFunc != nil {
		calls := make(Calls, len(r.res.Calls))
		maps.Copy(calls, r.res.Calls)
		r.o.ProgressFunc(Progress{Destination: r.d.Name(), Candidates: r.res.Candidates, Contacts: r.res.Contacts, Calls: calls})
	}
}

// record writes an outcome to the store: the confirmed state, or the
// rejections. A failure to write ends the run. Nothing is written in a dry run.
func (r *runner) record(ctx context.Context, c contact.Contact, t Target, o *Outcome) error {
	if o.Action == Failed {
		le := r.log.WithFields(logrus.Fields{"contact_id": c.ID, "target": t.Key})
		le.WithError(o.Err).Warn("push failed; the next run retries it")
		if errors.Is(o.Err, apiclient.ErrUnauthorized) && !isHelper(o.Err) || errors.Is(o.Err, context.Canceled) ||
			errors.Is(o.Err, context.DeadlineExceeded) {
			r.fail(fmt.Errorf("push %s: %w", r.d.Name(), o.Err))
		}
		if o.State == nil {
			return nil
		}
	}
	if r.o.DryRun {
		return nil
	}
	now := r.o.NowFunc()
	switch o.Action {
	case Created, Updated, Recorded, Failed:
		if o.State == nil {
			return fmt.Errorf("push %s: %s of %s without a state", r.d.Name(), o.Action, t.Key)
		}
		st := *o.State
		st.Destination, st.TargetKey, st.ContactID, st.RunID = r.d.Name(), t.Key, c.ID, r.o.RunID
		if st.Identity == nil {
			st.Identity = t.Identity
		}
		if st.PushedAt.IsZero() {
			st.PushedAt = now
		}
		if st.Adjustments == nil {
			b, err := adjustmentsJSON(o.Adjustments)
			if err != nil {
				return fmt.Errorf("push %s: %w", r.d.Name(), err)
			}
			st.Adjustments = b
		}
		// What the destination confirmed is saved even when the run is being
		// cancelled: losing it would make the next run create again.
		if err := r.o.Store.SavePushState(context.WithoutCancel(ctx), st); err != nil {
			return fmt.Errorf("push %s: %w", r.d.Name(), err)
		}
		if o.Action != Failed {
			if err := r.recordConflicts(context.WithoutCancel(ctx), c, t, o.Conflicts, now); err != nil {
				return err
			}
		}
	case Rejected:
		rs := make([]store.PushRejection, len(o.Rejections))
		for i, rj := range o.Rejections {
			rs[i] = store.PushRejection{Destination: r.d.Name(), ContactID: c.ID, TargetKey: t.Key, Field: rj.Field, Value: rj.Value,
				Reason: rj.Reason, HTTPStatus: rj.HTTPStatus, PayloadHash: rj.PayloadHash, RunID: r.o.RunID, At: now}
		}
		if err := r.o.Store.RecordPushRejections(ctx, rs...); err != nil {
			return fmt.Errorf("push %s: %w", r.d.Name(), err)
		}
	}
	return nil
}

// fail ends the run with err (the first one wins).
func (r *runner) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.abort == nil {
		r.abort = err
	}
}

// adjustmentsJSON encodes the adjustments of a confirmed payload for
// push_state.adjustments: mapping's changes less the Rejected ones (recorded
// as rejections), in mapping's order, which is deterministic.
func adjustmentsJSON(cs []mapping.Change) ([]byte, error) {
	out := make([]mapping.Change, 0, len(cs))
	for _, c := range cs {
		if c.Kind != mapping.Rejected {
			out = append(out, c)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode adjustments: %w", err)
	}
	return b, nil
}

// refusal returns the destination's refusal of the record in err, a 4xx
// other than 401/403 (apiclient.ErrUnauthorized: a client may re-class a
// vendor's 403 as a refusal) and 429, as a rejection with the vendor's
// message, and the path of the refused request. ok is false for anything
// else (5xx or 429 after retries, transport, credentials, a cancelled run):
// a failure.
func refusal(err error, hash string) (rj Rejection, path string, ok bool) {
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 ||
		errors.Is(err, apiclient.ErrUnauthorized) || errors.Is(err, apiclient.ErrRateLimited) {
		return Rejection{}, "", false
	}
	msg := ae.Message
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d", ae.Status)
	}
	return Rejection{Reason: msg, HTTPStatus: ae.Status, PayloadHash: hash}, ae.Path, true
}

// helperError marks a failure of a helper API (LINE), which must not end the
// run as the destination's own 401 does: it concerns one channel.
type helperError struct{ err error }

func (e helperError) Error() string { return e.err.Error() }
func (e helperError) Unwrap() error { return e.err }

func isHelper(err error) bool {
	var h helperError
	return errors.As(err, &h)
}
