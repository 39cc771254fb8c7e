package push_test

import (
	"context"
	"encoding/json"
	"fmt"
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

	res, err = push.Run(t.Context(), d, opts)
	require.NoError(t, err)
	require.Equal(t, 1, res.Updated)
	require.Equal(t, 1, count(t, st, `SELECT count(*) FROM push_state WHERE payload_hash = 'full' AND remote_id = 'ok-1'`),
		"the remote id survives a save without one")
	require.Equal(t, 1, count(t, st, `SELECT count(*) FROM push_contacts WHERE destination = 'okeybot' AND outcome = 'pushed'`))
	require.Equal(t, map[string]int64{
		"pages": 1, "rows": 1, "requests": 1, "rejections": 0, "contacts": 1, "targets": 1, "created": 0, "updated": 1,
		"unchanged": 0, "recorded": 0, "skipped": 0, "failed": 0, "dest_requests": 1, "helper_requests": 0,
	}, res.Counts())
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
