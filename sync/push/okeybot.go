package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"crmsync/clients/apiclient"
	"crmsync/clients/okeybot"
	"crmsync/contact"
	"crmsync/mapping"
	"crmsync/store"
)

// okeybotFingerprintVersion changes when the way this file builds payloads
// or chooses channels changes, so every contact is examined again after an
// upgrade.
const okeybotFingerprintVersion = 1

// okeybotLookupMax is how many by_custom_field matches a lookup reads at
// most: two already make a conflict, and ten fill the vendor's first page
// (per_page 10), so the count in the rejection costs no second request.
const okeybotLookupMax = 10

// OkeybotChannel is one Okeybot channel the destination pushes to (config
// okeybot.channels[]).
type OkeybotChannel struct {
	// Name is the channel's name in jobs.yaml; it starts every target key of
	// the channel ("<name>/<contact id>"), so renaming a channel makes its
	// contacts new to crmsync.
	Name string
	// Token is the channel's API token (from the environment). It is never
	// logged, stored or part of the fingerprint.
	Token string
	// Sources select the contacts pushed to the channel: a contact goes to
	// the channel when one of its identities is on one of these Omnichat
	// channels ("platform/channelId", e.g. "line/1656000001") or platforms
	// ("line"). Platforms are read as contact.ParsePlatform reads them.
	Sources []string
	// LookupField is the Okeybot custom field that finds a contact Okeybot
	// already holds before one is created (e.g. "phone", "email" or a
	// customer id field); "" creates without a lookup. It must be a field
	// mapping fills in (okeybot.custom_fields).
	LookupField string
	// Viber marks a Viber channel: the client Base64-encodes contact ids in
	// request paths itself (ids are always stored raw).
	Viber bool
}

// OkeybotConfig configures the Okeybot destination.
type OkeybotConfig struct {
	// Client talks to Okeybot (required). It holds one limiter per channel
	// token (or one for the account: okeybot.ScopeAccount), pacing at
	// rate_per_minute less its headroom, shared by every worker of the run,
	// so concurrent contacts of one channel never exceed its quota and
	// channels with different limiters are pushed in parallel.
	Client *okeybot.Client
	// Channels are the configured channels, in jobs.yaml order (required,
	// names unique).
	Channels []OkeybotChannel
	// Mapper builds the payloads (required).
	Mapper *mapping.Mapper
	// NowFunc is mapping's clock (facts) and the time of checkpoints;
	// default time.Now.
	NowFunc func() time.Time
	// DetectConflicts reads each changed contact (GET /v1/contact/{id})
	// before writing it, so that a custom field edited in Okeybot is kept or
	// overwritten by mapping.okeybot.on_conflict and recorded as a conflict,
	// and tags already set there are not crmsync's (okeybot.detect_conflicts;
	// off by default: one more call per changed contact, at 100 a minute).
	DetectConflicts bool
}

// Okeybot is the Okeybot destination: one Okeybot contact per configured
// channel and master contact, target key "<channel name>/<contact id>".
//
// # Channels
//
// A contact goes to every configured channel that one of its identities is
// a source of (OkeybotChannel.Sources); it is mapped (custom fields, tags)
// through its first such identity in (platform, channel, user) order, which
// is what identity-dependent sources (user_id, profile_name, platform,
// channel_id) read. A contact no channel selects has no target.
//
// # Finding the Okeybot contact
//
// The Okeybot id is kept in push_state.remote_id. For a target without one:
//
//  1. a contact merged into this one (contacts.merged_into) whose own target
//     on the channel holds a record: the record is taken over (the first
//     pushed, if several), and only what differs from its payload is sent,
//     so a merge never makes a second Okeybot contact for the person. The
//     merged contacts' other records stay in Okeybot (the API documents no
//     delete).
//  2. the channel's LookupField, when set and the desired payload has a
//     value for it: GET /v1/contact/by_custom_field. No match: create. One
//     match: link to it (created by Okeybot itself, by hand, or by a run
//     that died before recording it), merging what it holds (see "What
//     crmsync owns"): only the desired fields it lacks are sent, a field it
//     holds with another value is a conflict (on_conflict decides), and the
//     desired tags it has already are its own. Fields and tags crmsync does
//     not manage are never touched. Two or more matches: a rejection
//     "conflict: N Okeybot contacts have this <field>" with the value in
//     push_rejections.value and http_status 409, so the same payload is not
//     looked up again until it changes (merge the duplicates in Okeybot, or
//     change the value, to retry).
//  3. create: POST /v1/contact with the first request of mapping's plan (at
//     most 30 fields, in name order), then PUT the rest. A contact with no
//     custom field to create it with is rejected: Okeybot's POST needs one.
//
// A stored id that answers 403 or 404 (the document lists no 404, so a
// deleted contact may answer its general 403) is checked: if reading the
// contact answers the same and the channel's token still works (its lookup
// answers, or a by_custom_field probe without one), the contact was deleted
// in Okeybot: the id is dropped and the contact found again by the lookup
// field (relinked) or created, once per push, and what happened is a row in
// okeybot_deleted_contacts (when finding or creating fails, the id is
// dropped all the same: "forgotten", the next run finds or creates it). If
// the contact reads fine, the 403 refused the request: a rejection. If the
// token's lookup answers 403 too, the token is refused: the channel stops
// for the run, as on a 401. A create answered 403 is checked the same way
// (token refused, or the record).
//
// A channel whose token is refused (401, or 403 shown to be the token's)
// fails its targets for the rest of the run, without a request each, while
// the other channels go on; the run ends with an error only when every
// channel's token was refused.
//
// # What crmsync owns
//
// Okeybot adds and removes tags one by one, so a tag a person sets in
// Okeybot is never removed: crmsync removes only tags it added itself, and a
// desired tag found already set when it read the contact (a lookup match,
// or with DetectConflicts) is the person's (mapping.OkeybotContact.TheirTags):
// not sent, and never removed. Okeybot merges custom fields by name, so a
// field crmsync does not manage is never touched, and a managed one is
// written only when crmsync's own value changes. When crmsync has read the
// contact (a lookup match; every changed contact with DetectConflicts), a
// changed field whose value in Okeybot is neither what crmsync last pushed
// nor what it wants now was edited there: mapping.okeybot.on_conflict
// decides (source sends crmsync's value, destination keeps the edit), and
// the conflict is recorded in push_conflicts (store.RecordPushConflicts,
// written by the destination with its checkpoints; run_id stays NULL).
//
// # Requests and state
//
// Mapping plans the requests from the last confirmed state: changed custom
// fields in PUTs of at most 30 (a field no longer desired is cleared with
// ""), then tag removals and additions against the last confirmed tag set,
// in requests of at most 10. Unchanged: no request. Each request is sent
// only after the previous one was confirmed, and every confirmed request but
// the last, and every create, is checkpointed at once in push_state
// (store.SavePushState: the Okeybot id and the fields and tags confirmed so
// far), which with the conflicts and okeybot_deleted_contacts rows are the
// only writes this Destination makes itself: a run killed
// half-way, or a later request refused, never creates the contact again nor
// resends what was confirmed. A transient failure returns the state reached
// with the Failed outcome too; the final state is recorded by Run. A dry run
// sends nothing (no lookup and no read either: a new target is reported as
// a create, with the lookup it would make) and writes nothing.
//
// # Rate
//
// Every request waits on its limiter in the client. Okeybot is a Laner:
// each limiter (a channel token's, or the account's) is a lane of Run's
// loop with its own queue and workers, so channels with different limiters
// proceed in parallel whatever the order of the contact ids, and each quota
// stays busy. A 429 is waited out in the client (a minute, as Okeybot sends
// no Retry-After) for as long as the run lasts; should one still come back
// (a capped wait), the contact fails for this run without counting toward
// Options.MaxFailures: being rate-limited is not the destination failing.
type Okeybot struct {
	cfg      OkeybotConfig
	channels []*okeybotChannel

	mu      sync.Mutex
	st      *store.Store     // the run's store (Start), for checkpoints
	refused map[string]error // channel name → its token's 401, for this run
}

// okeybotChannel is a configured channel with its client handle and parsed
// sources.
type okeybotChannel struct {
	OkeybotChannel
	api     *okeybot.Channel
	sources []okeybotSource
}

// okeybotSource is one parsed OkeybotChannel.Sources entry.
type okeybotSource struct {
	platform contact.Platform
	channel  string // "" for the whole platform
}

func (s okeybotSource) matches(id contact.Identity) bool {
	return id.Platform == s.platform && (s.channel == "" || id.ChannelID == s.channel)
}

// NewOkeybot validates cfg and returns the Okeybot destination.
func NewOkeybot(cfg OkeybotConfig) (*Okeybot, error) {
	if cfg.Client == nil {
		return nil, errors.New("new okeybot destination: no Okeybot client")
	}
	if cfg.Mapper == nil {
		return nil, errors.New("new okeybot destination: no mapper")
	}
	if len(cfg.Channels) == 0 {
		return nil, errors.New("new okeybot destination: no channel")
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	names, wildcard := cfg.Mapper.OkeybotFieldNames()
	o := &Okeybot{cfg: cfg}
	seen := map[string]bool{}
	for i, ch := range cfg.Channels {
		switch {
		case ch.Name == "" || strings.Contains(ch.Name, "/"):
			return nil, fmt.Errorf("new okeybot destination: channel %d: name %q is empty or holds a /", i, ch.Name)
		case seen[ch.Name]:
			return nil, fmt.Errorf("new okeybot destination: channel %q defined twice", ch.Name)
		case len(ch.Sources) == 0:
			return nil, fmt.Errorf("new okeybot destination: channel %q has no source", ch.Name)
		case ch.LookupField != "" && !wildcard && !slices.Contains(names, ch.LookupField):
			return nil, fmt.Errorf("new okeybot destination: channel %q: lookup field %q is not one of the custom fields mapping fills in (%s)",
				ch.Name, ch.LookupField, strings.Join(names, ", "))
		}
		seen[ch.Name] = true
		oc := &okeybotChannel{OkeybotChannel: ch}
		oc.Sources = slices.Clone(ch.Sources)
		for _, s := range ch.Sources {
			p, id, _ := strings.Cut(strings.TrimSpace(s), "/")
			plat, ok := contact.ParsePlatform(p)
			if !ok {
				return nil, fmt.Errorf("new okeybot destination: channel %q: source %q does not start with a known platform", ch.Name, s)
			}
			oc.sources = append(oc.sources, okeybotSource{platform: plat, channel: strings.TrimSpace(id)})
		}
		api, err := cfg.Client.Channel(ch.Token, okeybot.ChannelOptions{Name: ch.Name, Viber: ch.Viber})
		if err != nil {
			return nil, fmt.Errorf("new okeybot destination: channel %q: %w", ch.Name, err)
		}
		oc.api = api
		o.channels = append(o.channels, oc)
	}
	return o, nil
}

// DefaultOkeybotConcurrency is the Options.Concurrency (workers per lane,
// that is per token) to run the Okeybot destination with: a lane's whole
// queued batch in flight at once, each contact waiting on the token's
// limiter, so a contact's local work (mapping, saving state) never leaves
// the quota idle. The requests still go out at the token's rate; the cost is
// only goroutines waiting. (docs/benchmarks-push.md, "Okeybot".)
// A stop then waits for the contacts in hand, or their context is cancelled:
// what Okeybot confirmed is checkpointed either way.
const DefaultOkeybotConcurrency = DefaultBatchSize

// Name returns store.DestinationOkeybot.
func (o *Okeybot) Name() string { return store.DestinationOkeybot }

// Start keeps the run's store for checkpoints and returns the fingerprint of
// what shapes Okeybot payloads: the mapping options Okeybot reads (region,
// time zone, tag priority, the okeybot section; not Oho's) and the channels
// (names, sources, lookup fields, Viber flags; never tokens).
func (o *Okeybot) Start(_ context.Context, st *store.Store) (string, error) {
	type channelFP struct {
		Name, LookupField string
		Sources           []string
		Viber             bool
	}
	chans := make([]channelFP, len(o.channels))
	for i, ch := range o.channels {
		srcs := make([]string, len(ch.sources))
		for j, s := range ch.sources {
			srcs[j] = string(s.platform) + "/" + s.channel
		}
		slices.Sort(srcs)
		chans[i] = channelFP{Name: ch.Name, LookupField: ch.LookupField, Sources: srcs, Viber: ch.Viber}
	}
	mo := o.cfg.Mapper.Options()
	loc := "UTC"
	if mo.Location != nil {
		loc = mo.Location.String() // *time.Location encodes as {}: name it
	}
	fp, err := mapping.Hash(struct {
		Version       int
		DefaultRegion string
		Location      string
		TagPriority   []string
		Okeybot       mapping.OkeybotOptions
		Channels      []channelFP
	}{okeybotFingerprintVersion, mo.DefaultRegion, loc, mo.TagPriority, mo.Okeybot, chans})
	if err != nil {
		return "", fmt.Errorf("fingerprint okeybot settings: %w", err)
	}
	o.mu.Lock()
	o.st = st
	o.refused = map[string]error{}
	o.mu.Unlock()
	return fp, nil
}

// mergedState returns the state of the record a contact merged into id holds
// on channel (store.Store.OkeybotMergedState), or nil.
func (o *Okeybot) mergedState(ctx context.Context, channel string, id contact.ID) (*store.PushState, error) {
	o.mu.Lock()
	st := o.st
	o.mu.Unlock()
	if st == nil {
		return nil, nil
	}
	s, ok, err := st.OkeybotMergedState(ctx, channel, id)
	if err != nil || !ok {
		return nil, err
	}
	return &s, nil
}

// okeybotTarget is the resolved destination of one target (Target.Data).
type okeybotTarget struct {
	ch *okeybotChannel
	id contact.Identity // the identity mapping reads
}

// OkeybotTargetKey returns the target key of contact id on the named
// channel: "<channel name>/<contact id>".
func OkeybotTargetKey(channel string, id contact.ID) string {
	return channel + "/" + strconv.FormatInt(int64(id), 10)
}

// Targets returns one target per configured channel that one of c's
// identities is a source of, in configuration order. It does no I/O.
func (o *Okeybot) Targets(_ context.Context, c contact.Contact) ([]Target, error) {
	var out []Target
	for _, ch := range o.channels {
		for _, p := range c.Identities {
			if slices.ContainsFunc(ch.sources, func(s okeybotSource) bool { return s.matches(p.Identity) }) {
				out = append(out, Target{Key: OkeybotTargetKey(ch.Name, c.ID), Data: okeybotTarget{ch: ch, id: p.Identity}})
				break
			}
		}
	}
	return out, nil
}

// Push brings one Okeybot contact to the state c should give it. See the
// type's documentation.
func (o *Okeybot) Push(ctx context.Context, c contact.Contact, t Target, prev store.PushTarget, dryRun bool) Outcome {
	ot, ok := t.Data.(okeybotTarget)
	if !ok {
		return Outcome{Action: Failed, Err: fmt.Errorf("okeybot target %s: no resolved channel", t.Key)}
	}
	p := &okeybotPush{o: o, ch: ot.ch, c: c, id: ot.id, key: t.Key, now: o.cfg.NowFunc(), dryRun: dryRun, fresh: prev.State == nil}
	from := prev.State
	if from == nil {
		// A contact merged into c may hold the person's record on this channel.
		var err error
		if from, err = o.mergedState(ctx, ot.ch.Name, c.ID); err != nil {
			return Outcome{Action: Failed, Err: err}
		}
	}
	if from != nil && from.RemoteID != "" {
		if err := json.Unmarshal(from.Payload, &p.last); err != nil {
			return Outcome{Action: Failed, Err: fmt.Errorf("decode stored okeybot payload of %s: %w", from.TargetKey, err)}
		}
		p.remote, p.known, p.fromKey = from.RemoteID, true, from.TargetKey
	}
	plan, changes := o.cfg.Mapper.ToOkeybot(c, ot.id, p.last, p.now)
	p.out.Adjustments = changes
	h, err := mapping.Hash(plan.Desired)
	if err != nil {
		return Outcome{Action: Failed, Adjustments: changes, Err: err}
	}
	p.hash, p.plan = h, plan
	switch {
	case prev.State != nil && prev.State.PayloadHash == h:
		p.out.Action = Unchanged
		return p.out
	case prev.Refused[h]:
		p.out.Action = Skipped
		return p.out
	}
	if err := plan.Check(); err != nil {
		// mapping's own promise broken: refuse rather than send what Okeybot refuses.
		p.out.Action = Rejected
		p.out.Rejections = []Rejection{{Reason: "invalid okeybot plan: " + err.Error(), PayloadHash: h}}
		return p.out
	}
	return p.run(ctx)
}

// okeybotPush is the push of one target.
type okeybotPush struct {
	o      *Okeybot
	ch     *okeybotChannel
	c      contact.Contact
	id     contact.Identity
	key    string
	now    time.Time
	dryRun bool

	fresh   bool                   // no state stored for the target: its outcome is Created
	last    mapping.OkeybotContact // what the Okeybot contact holds, as far as crmsync knows
	remote  string                 // its Okeybot id; "" when not known yet
	known   bool                   // remote came from stored state (the target's, or a merged contact's)
	fromKey string                 // the target key that state is stored under
	plan    mapping.OkeybotPlan
	hash    string // of plan.Desired
	out     Outcome

	// cur is the state confirmed so far in this push; nil until something
	// is known (an id from a create or a lookup).
	cur *okeybotState
	// there is what the contact held when crmsync read it in this push (a
	// lookup match, or the GET of DetectConflicts); nil when not read.
	there map[string]string
	// conflicts and kept are the fields edited in Okeybot met in this push:
	// recorded in push_conflicts, and the kept ones reported as not sent.
	conflicts []store.PushConflict
	kept      []FieldChange
	// deleted is a stored id found dead in this push; nil if none.
	deleted *okeybotDeleted
}

// okeybotDeleted is a stored Okeybot id that answered 403 or 404 to a
// request and to a read.
type okeybotDeleted struct {
	key, id string
	status  int
	// tokenOK is set once the channel's token answered (a lookup or a
	// probe): only then is the id known to be dead rather than the token
	// refused.
	tokenOK bool
	linked  bool // found again by the lookup field
}

// run finds or creates the contact, sends the plan, and records what it
// met on the way (conflicts, a deleted contact).
func (p *okeybotPush) run(ctx context.Context) Outcome {
	if err := p.o.refusedChannel(p.ch.Name); err != nil && !p.dryRun {
		p.out.Action, p.out.Err = Failed, err
		return p.out
	}
	out := p.attempt(ctx)
	if err := p.record(ctx, out); err != nil {
		out.Action, out.Err, out.State = Failed, err, nil
	}
	return out
}

// attempt is run's work: at most one more round after a stored id was
// found deleted in Okeybot.
func (p *okeybotPush) attempt(ctx context.Context) Outcome {
	created := p.fresh || p.remote == "" // a state without an id (forgotten) is created again
	for round := 0; ; round++ {
		if p.remote == "" {
			if p.dryRun {
				p.planCalls(true)
				p.out.Changes = p.changes()
				if p.ch.LookupField != "" {
					p.out.Changes = append([]FieldChange{{Field: "lookup " + p.ch.LookupField, New: p.desiredValue(p.ch.LookupField),
						Unsent: "dry run: a real run first looks for an Okeybot contact with this value and updates it instead of creating one"}}, p.out.Changes...)
				}
				p.out.Action = Created
				return p.out
			}
			if done := p.lookup(ctx); done {
				return p.out
			}
		} else if p.o.cfg.DetectConflicts && p.there == nil && !p.plan.IsZero() && !p.dryRun {
			if err := p.read(ctx); err != nil {
				if round == 0 && okeybot.MaybeMissing(err) {
					p.markDeleted(err)
					p.forget()
					created = true
					continue
				}
				return p.refusedOrFailed(err)
			}
		}
		if p.dryRun {
			p.planCalls(false)
			if p.o.cfg.DetectConflicts && !p.plan.IsZero() {
				p.kept = append(p.kept, FieldChange{Field: "read", Unsent: "dry run: a real run first reads the contact (okeybot.detect_conflicts) " +
					"and does not send what Okeybot already holds; a field edited there is kept or overwritten by mapping.okeybot.on_conflict"})
			}
			if created {
				return p.finish(Created)
			}
			return p.finish(Updated)
		}
		step, err := p.send(ctx)
		switch {
		case err == nil:
			if created {
				return p.finish(Created)
			}
			return p.finish(Updated)
		case round == 0 && step.addressed && okeybot.MaybeMissing(err):
			dead, out := p.deadID(ctx, err)
			if !dead {
				return out
			}
			p.forget()
			created = true
			continue
		case step.creating && statusOf(err) == http.StatusForbidden:
			// Okeybot's 403 refuses a record, or (in its list) a token.
			if perr := p.probeToken(ctx); perr != nil {
				return p.refusedOrFailed(perr)
			}
		}
		return p.refusedOrFailed(err)
	}
}

// call counts n requests of kind on the channel's credential.
func (p *okeybotPush) call(kind string, n int) {
	p.out.Calls.add(p.o.credential(p.ch), kind, n)
}

// planCalls counts, in a dry run, the requests a real run sends for the
// plan: for a target with no Okeybot id (creating), the lookup (when the
// channel has a lookup field and the payload a value for it), then, when a
// custom field can create the contact, the create, a PUT per further 30
// fields and the tag requests; for one with an id, the read of
// detect_conflicts and the plan's PUTs and tag requests. A lookup that
// finds the contact in the real run sends only the merge instead of the
// create: the plan cannot know it without sending the lookup.
func (p *okeybotPush) planCalls(creating bool) {
	if creating {
		if p.ch.LookupField != "" && p.desiredValue(p.ch.LookupField) != "" {
			p.call(KindLookup, 1)
		}
		if len(p.plan.Fields) == 0 {
			return // refused before any create: no field to create it with
		}
		p.call(KindCreate, 1)
		p.call(KindUpdate, len(p.plan.Fields)-1)
	} else {
		if p.plan.IsZero() {
			return
		}
		if p.o.cfg.DetectConflicts {
			p.call(KindGet, 1)
		}
		p.call(KindUpdate, len(p.plan.Fields))
	}
	p.call(KindTagRemove, len(p.plan.RemoveTags))
	p.call(KindTagAdd, len(p.plan.AddTags))
}

// deadID tells whether the stored id p.remote, which answered err (403 or
// 404), belongs to a contact deleted in Okeybot: reading the contact must
// answer 403 or 404 too (if it reads fine, err refused the request itself).
// Whether the token still works is then settled by the lookup that finds
// the contact again (or by a probe). When the id is not dead, out is the
// outcome to end with.
func (p *okeybotPush) deadID(ctx context.Context, err error) (dead bool, out Outcome) {
	p.out.Requests++
	p.call(KindGet, 1)
	_, gerr := p.ch.api.Contacts.Get(ctx, p.remote)
	switch {
	case gerr == nil:
		return false, p.refusedOrFailed(err) // the contact is there
	case !okeybot.MaybeMissing(gerr):
		return false, p.refusedOrFailed(gerr)
	}
	p.markDeleted(gerr)
	return true, Outcome{}
}

// markDeleted notes that the stored id answered err as a missing contact does.
func (p *okeybotPush) markDeleted(err error) {
	key := p.fromKey
	if key == "" { // an id found by the lookup in this push
		key = p.key
	}
	p.deleted = &okeybotDeleted{key: key, id: p.remote, status: statusOf(err)}
}

// forget starts over from nothing, the stored id being dead: find or create
// the contact again.
func (p *okeybotPush) forget() {
	p.remote, p.known, p.cur, p.last, p.there = "", false, nil, mapping.OkeybotContact{}, nil
	p.conflicts, p.kept = nil, nil
	p.replan()
}

// record writes what the push met besides its outcome: the conflicts (in
// push_conflicts) and a deleted contact (okeybot_deleted_contacts, which
// drops the dead id when it was not replaced). Nothing in a dry run, nor
// for a dead id whose token turned out refused.
func (p *okeybotPush) record(ctx context.Context, out Outcome) error {
	if p.dryRun {
		return nil
	}
	st := p.o.store()
	if st == nil {
		return nil
	}
	ctx = context.WithoutCancel(ctx) // what Okeybot confirmed stays recorded on a stop
	if len(p.conflicts) > 0 && (out.Action == Created || out.Action == Updated || out.Action == Recorded) {
		if err := st.RecordPushConflicts(ctx, p.conflicts...); err != nil {
			return fmt.Errorf("okeybot %s: %w", p.key, err)
		}
	}
	if d := p.deleted; d != nil && d.tokenOK {
		rec := store.OkeybotDeleted{ContactID: p.c.ID, TargetKey: d.key, DeletedID: d.id, HTTPStatus: d.status, At: p.o.cfg.NowFunc()}
		switch {
		case p.remote == "":
			rec.Resolution = store.OkeybotForgotten
		case d.linked:
			rec.Resolution, rec.NewID = store.OkeybotRelinked, p.remote
		default:
			rec.Resolution, rec.NewID = store.OkeybotRecreated, p.remote
		}
		if err := st.RecordOkeybotDeleted(ctx, rec); err != nil {
			return fmt.Errorf("okeybot %s: %w", p.key, err)
		}
	}
	return nil
}

// finish is the outcome of a push whose every request was confirmed (or, in
// a dry run, would be sent).
func (p *okeybotPush) finish(a Action) Outcome {
	p.out.Changes = p.changes()
	if a == Updated && p.plan.IsZero() {
		a = Recorded // the stored form changed, not what Okeybot holds: nothing sent
	}
	if p.dryRun {
		p.out.Action = a
		return p.out
	}
	st, err := stateOf(p.confirmed(), p.remote, p.hash)
	if err != nil {
		p.out.Action, p.out.Err = Failed, err
		return p.out
	}
	p.out.Action, p.out.State = a, st
	return p.out
}

// confirmed is the state to record once every request is confirmed: the
// desired fields and tags, the desired tags Okeybot had before crmsync
// (found now or before) set apart as TheirTags.
func (p *okeybotPush) confirmed() mapping.OkeybotContact {
	theirs := map[string]bool{}
	for _, t := range p.last.TheirTags {
		theirs[t] = true
	}
	if p.cur != nil {
		for t := range p.cur.theirs {
			theirs[t] = true
		}
	}
	out := mapping.OkeybotContact{CustomFields: p.plan.Desired.CustomFields}
	for _, t := range p.plan.Desired.Tags {
		if theirs[t] {
			out.TheirTags = append(out.TheirTags, t)
		} else {
			out.Tags = append(out.Tags, t)
		}
	}
	return out
}

// replan plans again from p.last (after an update found the contact gone).
func (p *okeybotPush) replan() {
	plan, changes := p.o.cfg.Mapper.ToOkeybot(p.c, p.id, p.last, p.now)
	p.plan, p.out.Adjustments = plan, changes
}

// desiredValue returns the desired value of custom field name ("" if none).
func (p *okeybotPush) desiredValue(name string) string {
	for _, f := range p.plan.Desired.CustomFields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// lookup looks the contact up by the channel's lookup field. It reports
// done when the outcome is decided (a conflict, a refusal, a failure, or no
// field to create the contact with); otherwise p.remote is set (linked) or
// still "" (create). A lookup answered 401 or 403 means the channel's token
// is refused. After a stored id was found dead, the lookup (or, without
// one, a probe) is what shows the token still works.
func (p *okeybotPush) lookup(ctx context.Context) (done bool) {
	field := p.ch.LookupField
	value := p.desiredValue(field)
	if field != "" && value != "" {
		var found []okeybot.Contact
		p.out.Requests++ // one page: okeybotLookupMax fits in the vendor's first
		p.call(KindLookup, 1)
		for m, err := range p.ch.api.Contacts.AllByCustomField(ctx, field, value) {
			if err != nil {
				p.out = p.refusedOrFailed(tokenRefusal(err))
				return true
			}
			found = append(found, m)
			if len(found) == okeybotLookupMax {
				break
			}
		}
		if p.deleted != nil {
			p.deleted.tokenOK = true
		}
		switch {
		case len(found) >= 2:
			n := strconv.Itoa(len(found))
			if len(found) == okeybotLookupMax {
				n += " or more"
			}
			p.out.Action = Rejected
			p.out.Rejections = []Rejection{{Field: "custom_fields[" + field + "]", Value: &value,
				Reason: "conflict: " + n + " Okeybot contacts have this " + field, HTTPStatus: 409, PayloadHash: p.hash}}
			return true
		case len(found) == 1 && (p.deleted == nil || found[0].ID != p.deleted.id):
			// Link: what the contact holds is merged in; nothing else of it
			// is crmsync's to change.
			p.remote = found[0].ID
			p.cur = newOkeybotState(p.remote, p.last)
			p.merge(found[0])
			if p.deleted != nil {
				p.deleted.linked = true
			}
			if !p.plan.IsZero() {
				if err := p.checkpoint(ctx); err != nil {
					p.out.Action, p.out.Err = Failed, err
					return true
				}
			}
			return false
		case len(found) == 1:
			// The lookup still lists the id that reads as missing: Okeybot is
			// not consistent yet. Try again next run rather than create a twin.
			p.out.Action, p.out.Err = Failed, fmt.Errorf("okeybot channel %s: contact %s answers %d but its %s still finds it",
				p.ch.Name, p.deleted.id, p.deleted.status, field)
			return true
		}
	} else if p.deleted != nil {
		if err := p.probeToken(ctx); err != nil {
			p.out = p.refusedOrFailed(err)
			return true
		}
	}
	if len(p.plan.Fields) == 0 {
		p.out.Action = Rejected
		p.out.Rejections = []Rejection{{Field: "custom_fields",
			Reason: "no custom field to create the Okeybot contact with (Okeybot's POST /v1/contact needs one; see mapping okeybot.custom_fields)", PayloadHash: p.hash}}
		return true
	}
	return false
}

// probeToken checks that the channel's token still works with one
// by_custom_field lookup (of the lookup field, or of the first desired
// custom field; what it finds does not matter). nil: it works; a refused
// token (401, or 403 here) comes back as an error that matches
// apiclient.ErrUnauthorized; any other failure as itself.
func (p *okeybotPush) probeToken(ctx context.Context) error {
	name, value := p.ch.LookupField, ""
	if name == "" && len(p.plan.Desired.CustomFields) > 0 {
		name = p.plan.Desired.CustomFields[0].Name
	}
	if name == "" {
		name = "id"
	}
	value = p.desiredValue(name)
	p.out.Requests++
	p.call(KindProbe, 1)
	for _, err := range p.ch.api.Contacts.AllByCustomField(ctx, name, value) {
		if err != nil {
			return tokenRefusal(err)
		}
		break // one page answers the question
	}
	if p.deleted != nil {
		p.deleted.tokenOK = true
	}
	return nil
}

// tokenRefusal returns err, a failed lookup, as a refusal of the channel's
// token when it is a 403: a lookup names no contact and carries no body, so
// Okeybot's 403 there refuses the token (the document lists 403 among its
// errors with 401). Other errors come back as they are.
func tokenRefusal(err error) error {
	if statusOf(err) != http.StatusForbidden {
		return err
	}
	return &refusedTokenError{err: err}
}

// refusedTokenError is a 403 shown to be the refusal of a channel's token:
// errors.Is(err, apiclient.ErrUnauthorized) holds, and errors.As yields the
// *apiclient.Error.
type refusedTokenError struct{ err error }

// Error implements error.
func (e *refusedTokenError) Error() string {
	return e.err.Error() + " (a lookup answers 403 too: the channel's token is refused)"
}

// Unwrap returns the lookup's error and apiclient.ErrUnauthorized.
func (e *refusedTokenError) Unwrap() []error { return []error{e.err, apiclient.ErrUnauthorized} }

// statusOf returns the HTTP status of err's *apiclient.Error, 0 if none.
func statusOf(err error) int {
	var ae *apiclient.Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// read reads the contact before writing it (DetectConflicts) and merges
// what it holds into the plan.
func (p *okeybotPush) read(ctx context.Context) error {
	p.out.Requests++
	p.call(KindGet, 1)
	c, err := p.ch.api.Contacts.Get(ctx, p.remote)
	if err != nil {
		return err
	}
	if p.cur == nil {
		p.cur = newOkeybotState(p.remote, p.last)
	}
	p.merge(*c)
	return nil
}

// merge merges what the Okeybot contact holds into the plan
// (mapping.MergeOkeybot against p.last) and keeps what it decided: fields
// Okeybot already holds or whose edit is kept are confirmed as crmsync's
// value, desired tags it has are its own (TheirTags), the conflicts are
// recorded by run.
func (p *okeybotPush) merge(c okeybot.Contact) {
	m := p.o.cfg.Mapper.MergeOkeybot(p.plan, p.last, mapping.OkeybotThere{CustomFields: c.CustomFields, Tags: c.Tags})
	p.plan = m.Plan
	p.there = c.CustomFields
	if p.there == nil {
		p.there = map[string]string{}
	}
	for _, f := range m.Settled {
		p.cur.setField(f.Name, f.Value)
	}
	for _, t := range m.TheirTags {
		p.cur.theirs[t] = true
	}
	for _, t := range m.Absent {
		delete(p.cur.tags, t)
	}
	rule := string(p.o.cfg.Mapper.OkeybotOnConflict())
	for _, x := range m.Conflicts {
		res := store.ConflictOverwroteDestination
		if x.Kept {
			res = store.ConflictKeptDestination
			p.kept = append(p.kept, FieldChange{Field: "custom_fields[" + x.Field + "]", Old: x.There, New: x.Want,
				Unsent: "kept: edited in Okeybot (mapping.okeybot.on_conflict: destination)"})
		}
		p.conflicts = append(p.conflicts, store.PushConflict{Destination: store.DestinationOkeybot, ContactID: p.c.ID, TargetKey: p.key,
			Field: x.Field, DestinationValue: x.There, CrmsyncValue: x.Want, LastPushedValue: x.Last, Resolution: res, Rule: rule, At: p.now})
	}
}

// sentStep says which request of the plan failed.
type sentStep struct {
	addressed bool // it named p.remote, an id not created in this push
	creating  bool // it was the create
}

// send sends the plan, one confirmed request at a time, checkpointing
// after each but the last. On an error, step says which request failed.
func (p *okeybotPush) send(ctx context.Context) (step sentStep, err error) {
	type request struct {
		kind  string // KindUpdate stands for a create when no id is known yet
		do    func() error
		apply func(*okeybotState)
	}
	var steps []request
	for _, r := range p.plan.Fields {
		fields := make([]okeybot.CustomField, len(r.CustomFields))
		for i, f := range r.CustomFields {
			fields[i] = okeybot.CustomField{Name: f.Name, Value: f.Value}
		}
		apply := func(s *okeybotState) {
			for _, f := range r.CustomFields {
				s.setField(f.Name, f.Value)
			}
		}
		steps = append(steps, request{
			kind: KindUpdate,
			do: func() error {
				if p.remote == "" {
					id, err := p.ch.api.Contacts.Create(ctx, fields)
					if err == nil {
						p.remote = id
						p.cur = newOkeybotState(id, mapping.OkeybotContact{})
					}
					return err
				}
				return p.ch.api.Contacts.Update(ctx, p.remote, fields)
			},
			apply: apply,
		})
	}
	for _, r := range p.plan.RemoveTags {
		steps = append(steps, request{
			kind:  KindTagRemove,
			do:    func() error { return p.ch.api.Tags.Remove(ctx, p.remote, r.Tags) },
			apply: func(s *okeybotState) { s.setTags(r.Tags, false) },
		})
	}
	for _, r := range p.plan.AddTags {
		steps = append(steps, request{
			kind:  KindTagAdd,
			do:    func() error { return p.ch.api.Tags.Add(ctx, p.remote, r.Tags) },
			apply: func(s *okeybotState) { s.setTags(r.Tags, true) },
		})
	}
	if p.cur == nil && p.remote != "" {
		p.cur = newOkeybotState(p.remote, p.last)
	}
	createdHere := p.remote == ""
	for i, s := range steps {
		p.out.Requests++
		creating := p.remote == ""
		if creating {
			p.call(KindCreate, 1)
		} else {
			p.call(s.kind, 1)
		}
		if err := s.do(); err != nil {
			return sentStep{addressed: !creating && !createdHere, creating: creating}, err
		}
		s.apply(p.cur)
		p.cur.confirmed++
		// A create is recorded even when it is the last request: a create
		// whose id were lost would be repeated, a duplicate in Okeybot.
		if i < len(steps)-1 || creating {
			if err := p.checkpoint(ctx); err != nil {
				return sentStep{}, err
			}
		}
	}
	return sentStep{}, nil
}

// store returns the run's store (Start), nil before Start.
func (o *Okeybot) store() *store.Store {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st
}

// checkpoint records the state confirmed so far (see the type's
// documentation). It uses a context that outlives a cancelled run: what
// Okeybot confirmed must be recorded even when the run is being stopped.
func (p *okeybotPush) checkpoint(ctx context.Context) error {
	st := p.o.store()
	if st == nil {
		return fmt.Errorf("checkpoint okeybot %s: Start was not called", p.key)
	}
	s, err := p.cur.pushState()
	if err != nil {
		return err
	}
	s.Destination, s.TargetKey, s.ContactID, s.PushedAt = store.DestinationOkeybot, p.key, p.c.ID, p.o.cfg.NowFunc()
	b, err := adjustmentsJSON(p.out.Adjustments)
	if err != nil {
		return fmt.Errorf("checkpoint okeybot %s: %w", p.key, err)
	}
	s.Adjustments = b
	if err := st.SavePushState(context.WithoutCancel(ctx), *s); err != nil {
		return fmt.Errorf("checkpoint okeybot %s: %w", p.key, err)
	}
	return nil
}

// refusedOrFailed classifies a request error (see refusal): a refusal of
// the record (Okeybot's 403 "General" included, which the client re-classes)
// is a rejection with Okeybot's message; anything else (5xx after retries,
// transport, a bad token, a cancelled run) a failure, carrying the state
// confirmed before it. A 429 that still came back (a capped wait) fails the
// contact for this run without counting toward Options.MaxFailures.
func (p *okeybotPush) refusedOrFailed(err error) Outcome {
	out := p.out
	if rj, path, ok := refusal(err, p.hash); ok {
		rj.Field = okeybotField(path)
		out.Action, out.Rejections = Rejected, []Rejection{rj}
		return out
	}
	err = fmt.Errorf("okeybot channel %s: %w", p.ch.Name, err)
	if errors.Is(err, apiclient.ErrRateLimited) {
		err = helperError{err} // not the destination failing: no failure streak
	}
	out.Action, out.Err = Failed, p.o.channelError(p.ch.Name, err)
	if p.cur != nil && (p.cur.confirmed > 0 || !p.known) {
		if st, serr := p.cur.pushState(); serr == nil && st.PayloadHash != p.hash {
			out.State = st
		}
	}
	return out
}

// channelError returns the error a failure of channel's request ends in. A
// token refused with 401 concerns its channel only: it is remembered for the
// run (the channel's other targets fail without a request, see
// refusedChannel) and marked so Run goes on with the other channels, until
// every channel's token was refused, which ends the run as any destination's
// 401 does.
func (o *Okeybot) channelError(channel string, err error) error {
	if !errors.Is(err, apiclient.ErrUnauthorized) {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.refused == nil {
		o.refused = map[string]error{}
	}
	o.refused[channel] = err
	if len(o.refused) == len(o.channels) {
		return err
	}
	return helperError{err}
}

// refusedChannel returns the 401 channel's token met earlier in this run, or nil.
func (o *Okeybot) refusedChannel(channel string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.refused[channel]; err != nil {
		return helperError{fmt.Errorf("%w (refused earlier in this run; fix the channel's token)", err)}
	}
	return nil
}

// okeybotField names the part of the contact a refused request wrote.
func okeybotField(path string) string {
	switch {
	case strings.HasSuffix(path, "/tags"):
		return "tags"
	case strings.HasSuffix(path, "/by_custom_field"):
		return ""
	}
	return "custom_fields"
}

// changes lists the custom fields and the tag set the push writes, old →
// new (old: what Okeybot held when read in this push, else what crmsync last
// pushed), and the edits kept in Okeybot.
func (p *okeybotPush) changes() []FieldChange {
	var out []FieldChange
	last := map[string]string{}
	for _, f := range p.last.CustomFields {
		last[f.Name] = f.Value
	}
	if p.there != nil {
		last = p.there
	}
	for _, r := range p.plan.Fields {
		for _, f := range r.CustomFields {
			out = append(out, FieldChange{Field: "custom_fields[" + f.Name + "]", Old: last[f.Name], New: f.Value})
		}
	}
	if len(p.plan.AddTags)+len(p.plan.RemoveTags) > 0 {
		had := slices.Sorted(slices.Values(append(slices.Clone(p.last.Tags), p.last.TheirTags...)))
		out = append(out, FieldChange{Field: "tags", Old: list(had), New: list(p.plan.Desired.Tags)})
	}
	return append(out, p.kept...)
}

// okeybotState is the state of an Okeybot contact confirmed so far.
type okeybotState struct {
	remote    string
	fields    map[string]string
	tags      map[string]bool // tags crmsync added
	theirs    map[string]bool // desired tags Okeybot had before crmsync
	confirmed int             // requests confirmed in this push
}

func newOkeybotState(remote string, from mapping.OkeybotContact) *okeybotState {
	s := &okeybotState{remote: remote, fields: map[string]string{}, tags: map[string]bool{}, theirs: map[string]bool{}}
	for _, f := range from.CustomFields {
		s.fields[f.Name] = f.Value
	}
	for _, t := range from.Tags {
		s.tags[t] = true
	}
	for _, t := range from.TheirTags {
		s.theirs[t] = true
	}
	return s
}

// setField records a confirmed field; "" clears it.
func (s *okeybotState) setField(name, value string) {
	if value == "" {
		delete(s.fields, name)
		return
	}
	s.fields[name] = value
}

func (s *okeybotState) setTags(tags []string, on bool) {
	for _, t := range tags {
		if on {
			s.tags[t] = true
		} else {
			delete(s.tags, t)
		}
	}
}

// pushState returns the state as a push_state row (payload in mapping's
// canonical order: fields by name, tags sorted).
func (s *okeybotState) pushState() (*store.PushState, error) {
	var c mapping.OkeybotContact
	for _, name := range slices.Sorted(maps.Keys(s.fields)) {
		c.CustomFields = append(c.CustomFields, mapping.OkeybotField{Name: name, Value: s.fields[name]})
	}
	c.Tags = slices.Sorted(maps.Keys(s.tags))
	for _, t := range slices.Sorted(maps.Keys(s.theirs)) {
		if !s.tags[t] {
			c.TheirTags = append(c.TheirTags, t)
		}
	}
	h, err := mapping.Hash(c)
	if err != nil {
		return nil, err
	}
	return stateOf(c, s.remote, h)
}

// stateOf returns the push_state row of payload c held by Okeybot contact remote.
func stateOf(c mapping.OkeybotContact, remote, hash string) (*store.PushState, error) {
	b, err := mapping.CanonicalJSON(c)
	if err != nil {
		return nil, err
	}
	return &store.PushState{Payload: b, PayloadHash: hash, RemoteID: remote}, nil
}

var _ Laner = (*Okeybot)(nil)

// credential names the quota channel ch's requests wait on:
// "okeybot/<lane>" (see Lane).
func (o *Okeybot) credential(ch *okeybotChannel) string {
	return "okeybot/" + o.lane(ch)
}

// Lane returns the lane of an Okeybot target: its channel's limiter, named
// by the first configured channel that waits on the same one. Channels
// sharing a token share its limiter; under okeybot.ScopeAccount every
// channel does, and all are one lane. (Without limiters, channels sharing a
// token share a lane.)
func (o *Okeybot) Lane(t Target) string {
	ot, ok := t.Data.(okeybotTarget)
	if !ok {
		return ""
	}
	return o.lane(ot.ch)
}

// lane names the limiter channel c waits on by the first configured
// channel that waits on the same one.
func (o *Okeybot) lane(c *okeybotChannel) string {
	lim := c.api.Limiter()
	for _, ch := range o.channels {
		if lim != nil && ch.api.Limiter() == lim || lim == nil && ch.Token == c.Token {
			return ch.Name
		}
	}
	return c.Name
}

// Credentials returns the credential of every configured channel's quota
// (see Call.Credential), in configuration order, each once, and the
// channels that wait on it.
func (o *Okeybot) Credentials() []OkeybotCredential {
	var out []OkeybotCredential
	idx := map[string]int{}
	for _, ch := range o.channels {
		cred := o.credential(ch)
		i, ok := idx[cred]
		if !ok {
			i = len(out)
			idx[cred] = i
			out = append(out, OkeybotCredential{Credential: cred})
		}
		out[i].Channels = append(out[i].Channels, ch.Name)
	}
	return out
}

// CredentialRate returns the rate (requests per second) the limiter of
// credential (see Credentials) paces at; ok is false for an unknown
// credential or one without a limiter.
func (o *Okeybot) CredentialRate(credential string) (perSecond float64, ok bool) {
	for _, ch := range o.channels {
		if o.credential(ch) == credential {
			if lim := ch.api.Limiter(); lim != nil {
				return float64(lim.Limit()), true
			}
			return 0, false
		}
	}
	return 0, false
}

// OkeybotCredential is one Okeybot quota: a channel token, or the account.
type OkeybotCredential struct {
	Credential string   // "okeybot/<first channel name>"
	Channels   []string // the channels whose requests wait on it
}
