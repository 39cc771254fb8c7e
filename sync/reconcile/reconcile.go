package reconcile

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/sirupsen/logrus"

	"crmsync/store"
)

// Link keys, for Options.LinkKeys.
const (
	KeyMemberID = store.KeyMemberID
	KeyPhone    = store.KeyPhone
	KeyEmail    = store.KeyEmail
)

// Defaults for Options.
const (
	DefaultSharedKeyCeiling = 50
	DefaultRegion           = "TH"
	DefaultMaxExpandRounds  = 100
)

// Options configures Run. Zero values mean the documented default.
type Options struct {
	// LinkKeys are the keys that link identities into one contact: any of
	// KeyMemberID, KeyPhone, KeyEmail. Default all three.
	LinkKeys []string
	// SharedKeyCeiling: a key carried by more identities than this links
	// none of them and is listed in shared_keys. Default 50.
	SharedKeyCeiling int
	// DefaultRegion is the ISO country for phones written without a country
	// code. Default "TH".
	DefaultRegion string
	// NowFunc is the run's clock: timestamps written and the end of the 7-
	// and 30-day message windows. Default time.Now.
	NowFunc func() time.Time
	// MaxExpandRounds bounds how many rounds an incremental run spends
	// finding the contacts a change reaches; past it the run relinks
	// everything. Default 100.
	MaxExpandRounds int
	// Log receives one debug line per step; nil discards.
	Log logrus.FieldLogger
}

func (o Options) withDefaults() (Options, error) {
	if len(o.LinkKeys) == 0 {
		o.LinkKeys = []string{KeyMemberID, KeyPhone, KeyEmail}
	}
	for _, k := range o.LinkKeys {
		if !slices.Contains(store.LinkKeys, k) {
			return o, fmt.Errorf("reconcile: unknown link key %q (one of member_id, phone, email)", k)
		}
	}
	o.LinkKeys = slices.Compact(slices.Sorted(slices.Values(o.LinkKeys)))
	if o.SharedKeyCeiling == 0 {
		o.SharedKeyCeiling = DefaultSharedKeyCeiling
	}
	if o.SharedKeyCeiling < 2 {
		return o, fmt.Errorf("reconcile: shared key ceiling %d must be at least 2", o.SharedKeyCeiling)
	}
	if o.DefaultRegion == "" {
		o.DefaultRegion = DefaultRegion
	}
	if phonenumbers.GetCountryCodeForRegion(o.DefaultRegion) == 0 {
		return o, fmt.Errorf("reconcile: unknown phone region %q", o.DefaultRegion)
	}
	if o.NowFunc == nil {
		o.NowFunc = time.Now
	}
	if o.MaxExpandRounds == 0 {
		o.MaxExpandRounds = DefaultMaxExpandRounds
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	return o, nil
}

// Result counts what a run did.
type Result struct {
	Full               bool // the run rebuilt everything (asked for, first run, or settings changed)
	Queued             int  // reconcile_queue rows taken
	PhonesNormalised   int  // raw phones added to phone_numbers
	NewIdentities      int
	IdentitiesTouched  int // identities relinked (the affected set)
	ContactsCreated    int
	ContactsMerged     int // contacts merged into another (now tombstones)
	ContactsSplit      int // split records (identities moved away from a contact)
	ContactsRecomputed int // master records recomputed
	ContactsFactsOnly  int // of those, contacts whose only change was the 7- and 30-day counts: facts recomputed alone
	ContactsUpdated    int // master records that really changed (updated_at moved), new ones included
	SharedKeysHeldBack int // keys in shared_keys after the run
	Duration           time.Duration
}

// afterStepKey is the context key of a func(ctx, step) that a run calls
// after each of its logged steps, inside its transaction (tests only).
type afterStepKey struct{}

// Run reconciles the raw tables into the master tables in one transaction
// under the reconcile advisory lock: incrementally from the identities it
// claimed from reconcile_queue, or everything when full (also forced on the
// first run and when the link settings changed). Both give the same master
// tables, contact ids included. The run's clock (opts.NowFunc) is read once
// the run holds the lock and its claim (see store.Store.Reconcile).
func Run(ctx context.Context, st *store.Store, opts Options, full bool) (Result, error) {
	var res Result
	opts, err := opts.withDefaults()
	if err != nil {
		return res, err
	}
	start := time.Now()
	cfg := store.ReconcileConfig{LinkKeys: opts.LinkKeys, SharedKeyCeiling: opts.SharedKeyCeiling, DefaultRegion: opts.DefaultRegion}
	log := opts.Log.WithField("step", "reconcile")
	err = st.Reconcile(ctx, opts.NowFunc, func(ctx context.Context, rt *store.ReconcileTx) error {
		res = Result{}
		lap := time.Now()
		step := func(name string, fields logrus.Fields) {
			log.WithFields(fields).WithField("took", time.Since(lap).Round(time.Millisecond)).Debug(name)
			lap = time.Now()
			if f, ok := ctx.Value(afterStepKey{}).(func(context.Context, string)); ok {
				f(ctx, name) // tests pause a run here
			}
		}
		state, err := rt.State(ctx)
		if err != nil {
			return err
		}
		res.Full = full || state.NeedsFull(cfg)
		if res.Full {
			// A full build rewrites most of the master tables: their rollups
			// are recounted once before the run commits.
			if err := rt.DeferRollups(ctx); err != nil {
				return err
			}
		}
		if res.Queued, err = rt.TakeQueue(ctx, res.Full); err != nil {
			return err
		}
		step("queue taken", logrus.Fields{"queued": res.Queued, "full": res.Full})

		raws, err := rt.PendingPhones(ctx, cfg.DefaultRegion, res.Full)
		if err != nil {
			return err
		}
		step("phones listed", logrus.Fields{"phones": len(raws)})
		// Normalised on every core while the COPY writes the blocks done.
		saved, err := rt.SavePhones(ctx, cfg.DefaultRegion, normalisePhones(raws, cfg.DefaultRegion, runtime.GOMAXPROCS(0)))
		if err != nil {
			return err
		}
		if saved != len(raws) {
			return fmt.Errorf("normalise phones: saved %d of %d", saved, len(raws))
		}
		res.PhonesNormalised = len(raws)
		step("phones normalised and saved", logrus.Fields{"phones": len(raws)})

		ids, err := rt.SyncIdentities(ctx, cfg.DefaultRegion, res.Full)
		if err != nil {
			return err
		}
		res.NewIdentities = ids.New
		step("identities synced", logrus.Fields{"new": ids.New, "keys_changed": ids.KeysChanged})

		if res.SharedKeysHeldBack, err = rt.HoldBackKeys(ctx, cfg, res.Full); err != nil {
			return err
		}
		step("shared keys held back", logrus.Fields{"held_back": res.SharedKeysHeldBack})

		n, becameFull, err := rt.CollectAffected(ctx, cfg, res.Full, opts.MaxExpandRounds)
		if err != nil {
			return err
		}
		res.IdentitiesTouched = n
		rebuildAll := res.Full || becameFull
		if becameFull && !res.Full {
			// The rest of the run rewrites everything too (what it wrote so
			// far is already counted by the triggers).
			if err := rt.DeferRollups(ctx); err != nil {
				return err
			}
		}
		step("affected identities collected", logrus.Fields{"identities": n, "all": becameFull})

		g, err := rt.LinkGraph(ctx, cfg)
		if err != nil {
			return err
		}
		step("link graph loaded", logrus.Fields{"identities": len(g.Identities), "edges": len(g.Edges)})
		ch, err := resolve(g, func(n int) ([]int64, error) { return rt.NewContactIDs(ctx, n) })
		if err != nil {
			return fmt.Errorf("link identities: %w", err)
		}
		g = nil //nolint:ineffassign,wastedassign // let the graph go before the master rebuild
		if err := rt.ApplyLinks(ctx, ch); err != nil {
			return err
		}
		res.ContactsCreated, res.ContactsMerged, res.ContactsSplit = len(ch.NewContacts), len(ch.Merges), len(ch.Splits)
		step("links applied", logrus.Fields{"assigned": len(ch.Assign), "created": res.ContactsCreated,
			"merged": res.ContactsMerged, "split": res.ContactsSplit})

		ms, err := rt.RebuildContacts(ctx, rebuildAll, state.AsOf)
		if err != nil {
			return err
		}
		res.ContactsRecomputed, res.ContactsFactsOnly, res.ContactsUpdated = ms.Recomputed, ms.FactsOnly, ms.Changed
		step("contacts rebuilt", logrus.Fields{"recomputed": ms.Recomputed, "facts_only": ms.FactsOnly, "changed": ms.Changed})
		return rt.SaveState(ctx, cfg, res.Full)
	})
	res.Duration = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("reconcile: %w", err)
	}
	return res, nil
}
