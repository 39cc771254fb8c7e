package push_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/contact"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/push"
)

// selDest is a Destination with a settable fingerprint that records which
// contacts it was asked to push, and fails those in failing.
type selDest struct {
	fakeDest
	fp string

	mu      sync.Mutex
	pushed  []contact.ID
	failing map[contact.ID]bool
}

func newSelDest(fp string) *selDest {
	d := &selDest{fp: fp, failing: map[contact.ID]bool{}}
	d.push = func(c contact.Contact, _ push.Target, prev store.PushTarget) push.Outcome {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.pushed = append(d.pushed, c.ID)
		if d.failing[c.ID] {
			return push.Outcome{Action: push.Failed, Requests: 1, Err: fmt.Errorf("put: %w", apiclient.ErrUnavailable)}
		}
		h := fmt.Sprintf("%s/%s", c.Name, c.UpdatedAt.UTC().Format(time.RFC3339))
		if prev.State != nil && prev.State.PayloadHash == h {
			return push.Outcome{Action: push.Unchanged}
		}
		return push.Outcome{Action: push.Updated, State: state(h, ""), Requests: 1}
	}
	return d
}

func (d *selDest) Start(context.Context, *store.Store) (string, error) { return d.fp, nil }

// take returns the contacts pushed since the last call, and forgets them.
func (d *selDest) take() []contact.ID {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.pushed
	d.pushed = nil
	slices.Sort(out)
	return out
}

func progressOf(t *testing.T, st *store.Store, destination string) store.PushProgress {
	t.Helper()
	p, err := st.PushProgress(t.Context(), destination)
	require.NoError(t, err)
	return p
}

// After a complete pass, a run looks only at what changed since, what is
// due for a recheck and what waits for a retry; a second push of nothing
// changed examines nothing and sends nothing.
func TestRun_selectionFollowsChanges(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ids := seedContacts(t, st, make([]seedContact, 5)...)
	d := newSelDest("fp1")
	opts := push.Options{Store: st, NowFunc: clockAt(t0.Add(time.Hour)), BatchSize: 2, Concurrency: 2}

	res, err := push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.True(t, res.FullPass, "the first run of a destination looks at every contact")
	require.Equal(t, 5, res.Candidates)
	require.Equal(t, ids, d.take())
	p := progressOf(t, st, store.DestinationOkeybot)
	require.Equal(t, "fp1", p.ConfigHash)
	require.True(t, t0.Equal(p.ChangedUntil), "the newest change the pass covered: %v", p.ChangedUntil)

	res, err = push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.False(t, res.FullPass)
	require.Zero(t, res.Candidates)
	require.Zero(t, res.Requests+res.Contacts)
	require.Empty(t, d.take(), "a second push of nothing changed examines nothing")

	rename(t, st, ids[3], "changed", t0.Add(2*time.Hour))
	res, err = push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.False(t, res.FullPass)
	require.Equal(t, 1, res.Candidates)
	require.Equal(t, 1, res.Updated)
	require.Equal(t, []contact.ID{ids[3]}, d.take())
	require.True(t, t0.Add(2*time.Hour).Equal(progressOf(t, st, store.DestinationOkeybot).ChangedUntil))

	// A day later every contact is due for a recheck (time-based facts).
	later := opts
	later.NowFunc = clockAt(t0.Add(30 * time.Hour))
	res, err = push.Run(t.Context(), d, later)
	require.NoError(t, err)
	require.False(t, res.FullPass)
	require.Equal(t, 5, res.Candidates)
	require.Equal(t, 5, res.Unchanged, "rechecked; nothing to send")
	require.Equal(t, ids, d.take())
}

// New settings (another fingerprint) make every contact be examined once,
// even when the pass is stopped and resumed by later runs; the runs after
// the pass is complete are incremental again.
func TestRun_selectionNewSettingsExamineEveryContactOnce(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ids := seedContacts(t, st, make([]seedContact, 6)...)
	d := newSelDest("fp1")
	opts := push.Options{Store: st, NowFunc: clockAt(t0.Add(time.Hour)), BatchSize: 2, Concurrency: 1}
	_, err := push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	d.take()

	d.fp = "fp2"
	stopping := opts
	stopping.Stopping = func() bool { return len(d.pushedSoFar()) >= 2 }
	res, err := push.Run(t.Context(), d, stopping)
	require.ErrorIs(t, err, push.ErrStopped)
	require.True(t, res.FullPass)
	first := d.take()
	require.Len(t, first, 2)
	require.Equal(t, "fp1", progressOf(t, st, store.DestinationOkeybot).ConfigHash, "an interrupted pass is not complete")

	res, err = push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.True(t, res.FullPass, "the pass under fp2 goes on")
	require.Equal(t, 4, res.Candidates, "from where the interrupted run left it")
	rest := d.take()
	require.Equal(t, ids, sortedUnion(first, rest), "every contact examined once under the new settings")
	require.Equal(t, "fp2", progressOf(t, st, store.DestinationOkeybot).ConfigHash)

	res, err = push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.False(t, res.FullPass)
	require.Zero(t, res.Candidates)
}

func (d *selDest) pushedSoFar() []contact.ID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]contact.ID(nil), d.pushed...)
}

func sortedUnion(a, b []contact.ID) []contact.ID {
	out := append(append([]contact.ID(nil), a...), b...)
	slices.Sort(out)
	return out
}

// A contact that failed is tried again by the next runs however long ago it
// changed, until it is finished.
func TestRun_selectionRetriesFailuresOlderThanTheChanges(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ids := seedContacts(t, st, seedContact{Name: "A"}, seedContact{Name: "B"})
	d := newSelDest("fp")
	d.failing[ids[0]] = true
	opts := push.Options{Store: st, NowFunc: clockAt(t0.Add(time.Hour))}

	res, err := push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.Equal(t, 1, res.Failed)
	require.Equal(t, ids, d.take())

	// B changes well after A: the next pass's newest change is 5h after A's.
	rename(t, st, ids[1], "B2", t0.Add(5*time.Hour))
	res, err = push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.False(t, res.FullPass)
	require.Equal(t, ids, d.take(), "A from push_retries, B changed")
	require.Equal(t, 1, res.Failed)
	require.Equal(t, 2, count(t, st, `SELECT failures FROM push_retries WHERE contact_id = $1`, int64(ids[0])))
	require.True(t, t0.Add(5*time.Hour).Equal(progressOf(t, st, store.DestinationOkeybot).ChangedUntil))

	// A's change (t0) is now far before the window (5h - ChangeOverlap).
	d.failing[ids[0]] = false
	res, err = push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.False(t, res.FullPass)
	require.Equal(t, 1, res.Candidates)
	require.Equal(t, 1, res.Updated)
	require.Equal(t, ids[:1], d.take())
	require.Zero(t, count(t, st, `SELECT count(*) FROM push_retries`))

	res, err = push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.Zero(t, res.Candidates)
}

// A change committed with a clock older than the newest change already seen
// (a reconcile that waited behind another's lock) is found within
// ChangeOverlap.
func TestRun_selectionFindsLateCommitsWithinTheOverlap(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ids := seedContacts(t, st, seedContact{Name: "A"}, seedContact{Name: "B"})
	d := newSelDest("fp")
	opts := push.Options{Store: st, NowFunc: clockAt(t0.Add(time.Hour))}
	rename(t, st, ids[1], "B2", t0.Add(3*time.Hour))
	_, err := push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	d.take()

	rename(t, st, ids[0], "A2", t0.Add(3*time.Hour-push.ChangeOverlap+time.Minute))
	res, err := push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.False(t, res.FullPass)
	require.Equal(t, ids[:1], d.take())
	require.Equal(t, 1, res.Updated)
}

// A run cut short by --limit, and a dry run, leave the progress alone: the
// next run still looks at everything the unfinished pass would have.
func TestRun_selectionLimitAndDryRunKeepTheProgress(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	seedContacts(t, st, make([]seedContact, 3)...)
	d := newSelDest("fp")
	opts := push.Options{Store: st, NowFunc: clockAt(t0.Add(time.Hour))}

	dry := opts
	dry.DryRun = true
	res, err := push.Run(t.Context(), d, dry)
	require.NoError(t, err)
	require.True(t, res.FullPass)
	_, err = st.PushProgress(t.Context(), store.DestinationOkeybot)
	require.ErrorIs(t, err, store.ErrNotFound, "a dry run writes nothing")

	limited := opts
	limited.Limit = 2
	res, err = push.Run(t.Context(), d, limited)
	require.NoError(t, err)
	require.Equal(t, 2, res.Contacts)
	_, err = st.PushProgress(t.Context(), store.DestinationOkeybot)
	require.ErrorIs(t, err, store.ErrNotFound, "a limited run is not a complete pass")

	d.take()
	res, err = push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.True(t, res.FullPass)
	require.Equal(t, 1, res.Candidates)
	require.Len(t, d.take(), 1)
	require.Equal(t, "fp", progressOf(t, st, store.DestinationOkeybot).ConfigHash)
}
