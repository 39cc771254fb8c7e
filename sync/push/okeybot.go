package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	// token (okeybot.QuotaLimiter at rate_per_minute), shared by every worker
	// of the run, so concurrent contacts of one channel never exceed its
	// quota and channels with different tokens are pushed in parallel.
	Client *okeybot.Client
	// Channels are the configured channels, in jobs.yaml order (required,
	// names unique).
	Channels []OkeybotChannel
	// Mapper builds the payloads (required).
	Mapper *mapping.Mapper
	// NowFunc is mapping's clock (facts) and the time of checkpoints;
	// default time.Now.
	NowFunc func() time.Time
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
//     that died before recording it): its custom fields and tags are read as
//     what the contact holds, so only the desired fields whose value differs
//     are sent and only the missing desired tags added. Fields and tags
//     crmsync does not manage are never touched on a linked contact: crmsync
//     removes only tags it has pushed (or found in place and desired). Two
//     or more matches: a rejection "conflict: N Okeybot contacts have this
//     <field>" with the value in push_rejections.value and http_status 409,
//     so the same payload is not looked up again until it changes (merge the
//     duplicates in Okeybot, or change the value, to retry).
//  3. create: POST /v1/contact with the first request of mapping's plan (at
//     most 30 fields, in name order), then PUT the rest. A contact with no
//     custom field to create it with is rejected: Okeybot's POST needs one.
//
// A write answered 404 for a stored id (the contact was deleted in Okeybot)
// forgets the id and finds or creates the contact again, once.
//
// A channel whose token is refused (401) fails its targets for the rest of
// the run, without a request each, while the other channels go on; the run
// ends with an error only when every channel's token was refused.
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
// far), which is the one write a Destination makes itself: a run killed
// half-way, or a later request refused, never creates the contact again nor
// resends what was confirmed. A transient failure returns the state reached
// with the Failed outcome too; the final state is recorded by Run. A dry run
// sends nothing (no lookup either: a new target is reported as a create,
// with the lookup it would make) and writes nothing.
//
// # Rate
//
// Every request waits on its channel token's limiter in the client. Okeybot
// is a Laner: each token is a lane of Run's loop with its own queue and
// workers, so channels with different tokens proceed in parallel whatever
// the order of the contact ids, and each token's quota stays busy.
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
		p.remote, p.known = from.RemoteID, true
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

	fresh  bool                   // no state stored for the target: its outcome is Created
	last   mapping.OkeybotContact // what the Okeybot contact holds, as far as crmsync knows
	remote string                 // its Okeybot id; "" when not known yet
	known  bool                   // remote came from stored state (the target's, or a merged contact's)
	plan   mapping.OkeybotPlan
	hash   string // of plan.Desired
	out    Outcome

	// cur is the state confirmed so far in this push; nil until something
	// is known (an id from a create or a lookup).
	cur *okeybotState
}

// run finds or creates the contact and sends the plan.
func (p *okeybotPush) run(ctx context.Context) Outcome {
	if err := p.o.refusedChannel(p.ch.Name); err != nil && !p.dryRun {
		p.out.Action, p.out.Err = Failed, err
		return p.out
	}
	created := p.fresh
	for attempt := 0; ; attempt++ {
		if p.remote == "" {
			if p.dryRun {
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
		}
		if p.dryRun {
			if created {
				return p.finish(Created)
			}
			return p.finish(Updated)
		}
		gone, err := p.send(ctx)
		switch {
		case err == nil:
			if created {
				return p.finish(Created)
			}
			return p.finish(Updated)
		case gone && attempt == 0:
			// Deleted in Okeybot since: find or create it again, from nothing.
			p.remote, p.known, p.cur, p.last, created = "", false, nil, mapping.OkeybotContact{}, true
			p.replan()
			continue
		}
		return p.refusedOrFailed(err)
	}
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
	st, err := stateOf(p.plan.Desired, p.remote, p.hash)
	if err != nil {
		p.out.Action, p.out.Err = Failed, err
		return p.out
	}
	p.out.Action, p.out.State = a, st
	return p.out
}

// replan plans again from p.last (after a lookup linked the contact, or an
// update found it gone).
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
// still "" (create).
func (p *okeybotPush) lookup(ctx context.Context) (done bool) {
	field := p.ch.LookupField
	value := p.desiredValue(field)
	if field != "" && value != "" {
		var found []okeybot.Contact
		p.out.Requests++ // one page: okeybotLookupMax fits in the vendor's first
		for m, err := range p.ch.api.Contacts.AllByCustomField(ctx, field, value) {
			if err != nil {
				p.out = p.refusedOrFailed(err)
				return true
			}
			found = append(found, m)
			if len(found) == okeybotLookupMax {
				break
			}
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
		case len(found) == 1:
			// Link: what the contact holds of the desired fields and tags is
			// the base; nothing else of it is crmsync's to change.
			p.remote = found[0].ID
			p.last = managedPart(found[0], p.plan.Desired)
			p.replan()
			p.cur = newOkeybotState(p.remote, p.last)
			if !p.plan.IsZero() {
				if err := p.checkpoint(ctx); err != nil {
					p.out.Action, p.out.Err = Failed, err
					return true
				}
			}
			return false
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

// managedPart returns the part of an Okeybot contact crmsync manages given
// the desired state: the desired fields it holds (with its values) and the
// desired tags it has.
func managedPart(c okeybot.Contact, desired mapping.OkeybotContact) mapping.OkeybotContact {
	var out mapping.OkeybotContact
	for _, f := range desired.CustomFields {
		if v, ok := c.CustomFields[f.Name]; ok {
			out.CustomFields = append(out.CustomFields, mapping.OkeybotField{Name: f.Name, Value: v})
		}
	}
	for _, t := range desired.Tags {
		if slices.Contains(c.Tags, t) {
			out.Tags = append(out.Tags, t)
		}
	}
	return out
}

// send sends the plan, one confirmed request at a time, checkpointing
// after each but the last. gone reports a 404 for a stored id.
func (p *okeybotPush) send(ctx context.Context) (gone bool, err error) {
	type step struct {
		do    func() error
		apply func(*okeybotState)
	}
	var steps []step
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
		steps = append(steps, step{
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
		steps = append(steps, step{
			do:    func() error { return p.ch.api.Tags.Remove(ctx, p.remote, r.Tags) },
			apply: func(s *okeybotState) { s.setTags(r.Tags, false) },
		})
	}
	for _, r := range p.plan.AddTags {
		steps = append(steps, step{
			do:    func() error { return p.ch.api.Tags.Add(ctx, p.remote, r.Tags) },
			apply: func(s *okeybotState) { s.setTags(r.Tags, true) },
		})
	}
	if p.cur == nil && p.remote != "" {
		p.cur = newOkeybotState(p.remote, p.last)
	}
	for i, s := range steps {
		p.out.Requests++
		creating := p.remote == ""
		if err := s.do(); err != nil {
			return p.known && p.cur.confirmed == 0 && errors.Is(err, apiclient.ErrNotFound), err
		}
		s.apply(p.cur)
		p.cur.confirmed++
		// A create is recorded even when it is the last request: a create
		// whose id were lost would be repeated, a duplicate in Okeybot.
		if i < len(steps)-1 || creating {
			if err := p.checkpoint(ctx); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

// checkpoint records the state confirmed so far (see the type's
// documentation). It uses a context that outlives a cancelled run: what
// Okeybot confirmed must be recorded even when the run is being stopped.
func (p *okeybotPush) checkpoint(ctx context.Context) error {
	p.o.mu.Lock()
	st := p.o.st
	p.o.mu.Unlock()
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
// is a rejection with Okeybot's message; anything else (5xx or 429 after
// retries, transport, a bad token, a cancelled run) a failure, carrying the
// state confirmed before it.
func (p *okeybotPush) refusedOrFailed(err error) Outcome {
	out := p.out
	if rj, path, ok := refusal(err, p.hash); ok {
		rj.Field = okeybotField(path)
		out.Action, out.Rejections = Rejected, []Rejection{rj}
		return out
	}
	out.Action, out.Err = Failed, p.o.channelError(p.ch.Name, fmt.Errorf("okeybot channel %s: %w", p.ch.Name, err))
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
// new, against p.last.
func (p *okeybotPush) changes() []FieldChange {
	var out []FieldChange
	last := map[string]string{}
	for _, f := range p.last.CustomFields {
		last[f.Name] = f.Value
	}
	for _, r := range p.plan.Fields {
		for _, f := range r.CustomFields {
			out = append(out, FieldChange{Field: "custom_fields[" + f.Name + "]", Old: last[f.Name], New: f.Value})
		}
	}
	if len(p.plan.AddTags)+len(p.plan.RemoveTags) > 0 {
		out = append(out, FieldChange{Field: "tags", Old: list(p.last.Tags), New: list(p.plan.Desired.Tags)})
	}
	return out
}

// okeybotState is the state of an Okeybot contact confirmed so far.
type okeybotState struct {
	remote    string
	fields    map[string]string
	tags      map[string]bool
	confirmed int // requests confirmed in this push
}

func newOkeybotState(remote string, from mapping.OkeybotContact) *okeybotState {
	s := &okeybotState{remote: remote, fields: map[string]string{}, tags: map[string]bool{}}
	for _, f := range from.CustomFields {
		s.fields[f.Name] = f.Value
	}
	for _, t := range from.Tags {
		s.tags[t] = true
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

// Lane returns the lane of an Okeybot target: its channel's token, named
// by the first configured channel with that token, as channels sharing a
// token share its quota.
func (o *Okeybot) Lane(t Target) string {
	ot, ok := t.Data.(okeybotTarget)
	if !ok {
		return ""
	}
	for _, ch := range o.channels {
		if ch.Token == ot.ch.Token {
			return ch.Name
		}
	}
	return ot.ch.Name
}
