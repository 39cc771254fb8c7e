package push_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/contact"
	"crmsync/store"
	"crmsync/store/storetest"
	"crmsync/sync/push"
)

// fakeDest is a Destination whose Push answers from a function: it tests
// the loop apart from any vendor, as a second destination (Okeybot) uses it.
type fakeDest struct {
	push func(c contact.Contact, t push.Target, prev store.PushTarget) push.Outcome

	mu    sync.Mutex
	calls int
}

func (f *fakeDest) Name() string { return store.DestinationOkeybot }

func (f *fakeDest) Start(context.Context, *store.Store) (string, error) { return "fp", nil }

func (f *fakeDest) Targets(_ context.Context, c contact.Contact) ([]push.Target, error) {
	return []push.Target{{Key: fmt.Sprintf("shop/%d", c.ID)}}, nil
}

func (f *fakeDest) Push(_ context.Context, c contact.Contact, t push.Target, prev store.PushTarget, _ bool) push.Outcome {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	return f.push(c, t, prev)
}

// clockAt returns a NowFunc stopped at at.
func clockAt(at time.Time) func() time.Time { return func() time.Time { return at } }

func state(hash, remote string) *store.PushState {
	return &store.PushState{Payload: json.RawMessage(`{"h":"` + hash + `"}`), PayloadHash: hash, RemoteID: remote}
}

func TestRun_failedOutcomeWithStateIsRecordedAndRetried(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ids := seedContacts(t, st, seedContact{Name: "A"})
	d := &fakeDest{push: func(_ contact.Contact, _ push.Target, prev store.PushTarget) push.Outcome {
		if prev.State == nil {
			// Created (remote id known), then a later request of the plan failed.
			return push.Outcome{Action: push.Failed, State: state("partial", "ok-1"), Requests: 2, Err: apiclient.ErrUnavailable}
		}
		require.Equal(t, "ok-1", prev.State.RemoteID)
		return push.Outcome{Action: push.Updated, State: state("full", ""), Requests: 1}
	}}
	opts := push.Options{Store: st, NowFunc: clockAt(t0)}

	res, err := push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.Equal(t, 1, res.Failed)
	require.Equal(t, 1, count(t, st, `SELECT count(*) FROM push_state WHERE payload_hash = 'partial' AND remote_id = 'ok-1' AND contact_id = $1`, int64(ids[0])))
	require.Equal(t, 0, count(t, st, `SELECT count(*) FROM push_contacts`), "a failed contact is not finished")
	require.Equal(t, 1, count(t, st, `SELECT count(*) FROM push_retries WHERE destination = 'okeybot' AND contact_id = $1 AND failures = 1
		AND last_error LIKE 'shop/%: unavailable'`, int64(ids[0])), "it waits for a retry")

	res, err = push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.Equal(t, 1, res.Updated)
	require.Equal(t, 1, count(t, st, `SELECT count(*) FROM push_state WHERE payload_hash = 'full' AND remote_id = 'ok-1'`),
		"the remote id survives a save without one")
	require.Equal(t, 1, count(t, st, `SELECT count(*) FROM push_contacts WHERE destination = 'okeybot' AND outcome = 'pushed'`))
	require.Zero(t, count(t, st, `SELECT count(*) FROM push_retries`), "finished: no retry left")
	counts := res.Counts()
	require.GreaterOrEqual(t, counts["select_ms"], int64(0))
	delete(counts, "select_ms") // a duration
	require.Equal(t, map[string]int64{
		"pages": 1, "rows": 1, "requests": 1, "rejections": 0, "contacts": 1, "targets": 1, "created": 0, "updated": 1,
		"unchanged": 0, "recorded": 0, "skipped": 0, "failed": 0, "dest_requests": 1, "helper_requests": 0,
		"candidates": 1, "full_pass": 0,
	}, counts)
}

func TestRun_manyFailuresInARowEndTheRun(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	seedContacts(t, st, make([]seedContact, 6)...)
	d := &fakeDest{push: func(contact.Contact, push.Target, store.PushTarget) push.Outcome {
		return push.Outcome{Action: push.Failed, Requests: 1, Err: fmt.Errorf("post: %w", apiclient.ErrUnavailable)}
	}}
	res, err := push.Run(t.Context(), d, push.Options{Store: st, NowFunc: clockAt(t0), Concurrency: 1, MaxFailures: 3})
	require.ErrorIs(t, err, apiclient.ErrUnavailable)
	require.ErrorContains(t, err, "3 failures in a row")
	require.Equal(t, 3, res.Failed)
	require.Equal(t, 3, d.calls, "no contact is started after the limit")
}

func TestRun_rejectedOutcomesAreRecordedOncePerPayload(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	seedContacts(t, st, seedContact{Name: "A"}, seedContact{Name: "B"})
	value := "x"
	d := &fakeDest{push: func(c contact.Contact, _ push.Target, prev store.PushTarget) push.Outcome {
		if prev.Refused["h-"+c.Name] {
			return push.Outcome{Action: push.Skipped}
		}
		return push.Outcome{Action: push.Rejected, Requests: 1, Rejections: []push.Rejection{
			{Field: "custom_fields[x]", Value: &value, Reason: "The given data was invalid.", HTTPStatus: 422, PayloadHash: "h-" + c.Name},
		}}
	}}
	opts := push.Options{Store: st, NowFunc: clockAt(t0)}
	res, err := push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.Equal(t, 2, res.Rejected)
	require.Equal(t, map[string]int{"The given data was invalid.": 2}, res.Rejections)

	opts.Full = true
	res, err = push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.Equal(t, 2, res.Skipped)
	require.Equal(t, 2, count(t, st, `SELECT count(*) FROM push_rejections WHERE http_status = 422 AND times_seen = 1`))
	require.Equal(t, 2, count(t, st, `SELECT count(*) FROM v_push_status WHERE destination = 'okeybot' AND state = 'rejected'`))
}

func TestRun_noStore(t *testing.T) {
	t.Parallel()
	_, err := push.Run(t.Context(), &fakeDest{}, push.Options{})
	require.ErrorContains(t, err, "no store")
}

// laneDest is a fakeDest with lanes (push.Laner): a contact's lane is the
// first letter of its name.
type laneDest struct{ fakeDest }

func (f *laneDest) Targets(_ context.Context, c contact.Contact) ([]push.Target, error) {
	return []push.Target{{Key: fmt.Sprintf("shop/%d", c.ID), Data: c.Name[:1]}}, nil
}

func (f *laneDest) Lane(t push.Target) string { return t.Data.(string) }

// pushLog counts the pushes of each contact, by name.
type pushLog struct {
	mu     sync.Mutex
	pushes map[string]int
}

func (l *pushLog) add(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pushes == nil {
		l.pushes = map[string]int{}
	}
	l.pushes[name]++
}

func (l *pushLog) get() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pushes
}

// seedLanes seeds one contact per name and returns the names by id.
func seedLanes(t *testing.T, st *store.Store, names ...string) map[contact.ID]string {
	t.Helper()
	cs := make([]seedContact, len(names))
	for i, n := range names {
		cs[i] = seedContact{Name: n}
	}
	byID := map[contact.ID]string{}
	for i, id := range seedContacts(t, st, cs...) {
		byID[id] = names[i]
	}
	return byID
}

// once returns n ones, by name, for require.Equal against pushLog.get.
func once(names ...string) map[string]int {
	m := map[string]int{}
	for _, n := range names {
		m[n] = 1
	}
	return m
}

func created(contact.Contact) push.Outcome {
	return push.Outcome{Action: push.Created, State: state("h", "r"), Requests: 1}
}

func TestRun_laneGoesOnWhileAnotherWaits(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	// Lane A's contacts come first, more than its queue holds (one batch of
	// 2 behind the one in hand); lane B's come last, after batches of A
	// only. A's pushes wait until B's are reported: a lane held up by
	// another (one queue, or batches taken in turn) never ends this run.
	names := []string{"A0", "A1", "A2", "A3", "A4", "A5", "A6", "B0", "B1"}
	byID := seedLanes(t, st, names...)
	bDone := make(chan struct{})
	var log pushLog
	d := &laneDest{fakeDest{push: func(c contact.Contact, _ push.Target, _ store.PushTarget) push.Outcome {
		log.add(c.Name)
		if c.Name[0] == 'A' {
			<-bDone
		}
		return created(c)
	}}}
	var order []string
	res, err := push.Run(t.Context(), d, push.Options{Store: st, NowFunc: clockAt(t0), BatchSize: 2, Concurrency: 1,
		ReportFunc: func(r push.ContactReport) {
			order = append(order, byID[r.ContactID])
			if len(order) == 2 && order[1][0] == 'B' {
				close(bDone)
			}
		}})
	require.NoError(t, err)
	require.Equal(t, []string{"B0", "B1", "A0", "A1", "A2", "A3", "A4", "A5", "A6"}, order, "B first; each lane in id order")
	require.Equal(t, once(names...), log.get(), "each contact pushed once, though lane A's were read again")
	require.Equal(t, 9, res.Created)
	require.Equal(t, 9, res.Contacts)
	require.Equal(t, 9, count(t, st, `SELECT count(*) FROM push_contacts WHERE outcome = 'pushed'`))
}

func TestRun_lanesStoppingFinishesTheContactsInHand(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	names := []string{"A0", "A1", "A2", "A3", "B0", "B1", "B2"}
	seedLanes(t, st, names...)
	// A0 is in hand when B0 is pushed, and finishes once the stop is asked.
	aStarted, stopAsked := make(chan struct{}), make(chan struct{})
	var log pushLog
	var stop atomic.Bool
	d := &laneDest{fakeDest{push: func(c contact.Contact, _ push.Target, _ store.PushTarget) push.Outcome {
		log.add(c.Name)
		switch c.Name {
		case "A0":
			close(aStarted)
			<-stopAsked
		case "B0":
			<-aStarted
		}
		return created(c)
	}}}
	res, err := push.Run(t.Context(), d, push.Options{Store: st, NowFunc: clockAt(t0), BatchSize: 2, Concurrency: 1,
		Stopping: stop.Load,
		ReportFunc: func(r push.ContactReport) {
			if !stop.Swap(true) {
				close(stopAsked)
			}
		}})
	require.ErrorIs(t, err, push.ErrStopped)
	require.Equal(t, once("A0", "B0"), log.get(), "nothing started after the stop")
	require.Equal(t, 2, res.Contacts)
	require.Equal(t, 2, count(t, st, `SELECT count(*) FROM push_contacts`), "the contacts in hand are recorded")

	res, err = push.Run(t.Context(), &laneDest{fakeDest{push: func(c contact.Contact, _ push.Target, _ store.PushTarget) push.Outcome {
		log.add(c.Name)
		return created(c)
	}}}, push.Options{Store: st, NowFunc: clockAt(t0), BatchSize: 2, Concurrency: 1})
	require.NoError(t, err)
	require.Equal(t, 5, res.Contacts, "the next run goes on from there")
	require.Equal(t, once(names...), log.get())
}

func TestRun_lanes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		give      push.Options
		wantOrder []string // reports; nil: any order
		wantCount int
	}{
		{name: "DryRunIsOneLaneInIDOrder", give: push.Options{DryRun: true, BatchSize: 2, Concurrency: 4},
			wantOrder: []string{"A0", "B0", "A1", "B1", "A2", "C0"}, wantCount: 6},
		{name: "LimitCountsEveryLane", give: push.Options{Limit: 3, BatchSize: 2, Concurrency: 2}, wantCount: 3},
		{name: "EveryContactOnce", give: push.Options{BatchSize: 1, Concurrency: 1}, wantCount: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := storetest.New(t)
			names := []string{"A0", "B0", "A1", "B1", "A2", "C0"}
			byID := seedLanes(t, st, names...)
			var log pushLog
			d := &laneDest{fakeDest{push: func(c contact.Contact, _ push.Target, _ store.PushTarget) push.Outcome {
				log.add(c.Name)
				return created(c)
			}}}
			var order []string
			o := tt.give
			o.Store, o.NowFunc = st, clockAt(t0)
			o.ReportFunc = func(r push.ContactReport) { order = append(order, byID[r.ContactID]) }
			res, err := push.Run(t.Context(), d, o)
			require.NoError(t, err)
			require.Equal(t, tt.wantCount, res.Contacts)
			require.Len(t, order, tt.wantCount)
			if tt.wantOrder != nil {
				require.Equal(t, tt.wantOrder, order)
			}
			pushed := 0
			for name, n := range log.get() {
				require.Equal(t, 1, n, name)
				pushed++
			}
			require.Equal(t, tt.wantCount, pushed)
			want := tt.wantCount
			if o.DryRun {
				want = 0
			}
			require.Equal(t, want, count(t, st, `SELECT count(*) FROM push_contacts`))
		})
	}
}
