package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"crmsync/clients/apiclient"
	"crmsync/clients/lineapi"
	"crmsync/clients/oho"
	"crmsync/contact"
	"crmsync/mapping"
	"crmsync/store"
)

// ohoFingerprintVersion changes when the way this file builds payloads
// changes, so every contact is examined again after an upgrade.
const ohoFingerprintVersion = 1

// OhoConfig configures the Oho destination.
type OhoConfig struct {
	// Client talks to Oho (required). Build it with the account's rate
	// limiter (config oho.rate_per_second): every request spends a token.
	Client *oho.Client
	// Line reads LINE bot info and profiles. Without it every LINE identity
	// is rejected as having no token.
	Line *lineapi.Client
	// LineTokens maps an Omnichat LINE channel id (the LINE channel ID,
	// digits) to its channel access token (config line.channels). A LINE
	// identity on a channel without a token is rejected ("no LINE token for
	// channel …") and the run goes on.
	LineTokens map[string]string
	// Mapper builds the payloads (required).
	Mapper *mapping.Mapper
	// NowFunc is mapping's clock (facts, future birth dates); default time.Now.
	NowFunc func() time.Time
	// Offline sends Oho nothing at all, not even the GET a changed contact
	// is merged with: for a dry run without an API key, whose changes are
	// then shown against the last pushed state, unmerged. A push that is not
	// a dry run fails every changed contact.
	Offline bool
}

// Oho is the Oho destination: one Oho contact per identity on line,
// facebook or instagram, keyed by (platform, platform_id, user_id) where
// platform_id is the LINE bot's userId (GET /v2/bot/info) or, for facebook
// and instagram, the Omnichat channel id, which Omnichat documents as the
// page id (Instagram: the Instagram account id). platform_name is the LINE
// OA's display name, or the Omnichat channel name.
//
// crmsync owns only what it pushed: a PATCH replaces attributes, tags and
// labels whole, and people edit contacts in Oho, so a changed contact is
// read first (GET) and the PATCH carries mapping.MergeOho's three-way merge
// of what crmsync last pushed, what Oho holds and what crmsync wants now:
// items set in Oho are kept, a field edited in Oho is overwritten only when
// crmsync's own value changed and mapping.oho.on_conflict says so, and every
// such conflict is recorded (push_conflicts). A found contact that cannot be
// read is a rejection (nothing is sent, so nothing is erased) that blocks
// the same payload, never a failure retried run after run.
//
// Requests per target: unchanged 0; changed 1 GET and, when the merge
// differs from what Oho holds, 1 PATCH carrying only the fields that differ
// (attributes, tags and labels whole); a change no PATCH can carry
// (create-only fields) 0; new 1 POST (plus 1 LINE profile GET, counted as a
// helper request), and on 409 a GET and, when the merge differs from what
// Oho holds, a PATCH. A GET or PATCH answered 404 (the contact was deleted
// in Oho) is followed by a POST.
type Oho struct {
	cfg OhoConfig

	mu       sync.Mutex
	channels map[string]store.PushChannel // "platform/channel id" → channel, loaded by Start
	lineErr  map[string]error             // LINE channel id → bot info refusal, for this run
	noProf   map[string]bool              // target keys whose LINE profile is 404: final
	infoSeen map[string]bool              // LINE channels whose bot info request was counted (Calls)
}

// NewOho validates cfg and returns the Oho destination.
func NewOho(cfg OhoConfig) (*Oho, error) {
	if cfg.Client == nil {
		return nil, errors.New("new oho destination: no Oho client")
	}
	if cfg.Mapper == nil {
		return nil, errors.New("new oho destination: no mapper")
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	return &Oho{cfg: cfg, noProf: map[string]bool{}, infoSeen: map[string]bool{}}, nil
}

// Name returns store.DestinationOho.
func (o *Oho) Name() string { return store.DestinationOho }

// Start loads the Omnichat channel names and returns the fingerprint of the
// mapping options and of the LINE channels that have a token.
func (o *Oho) Start(ctx context.Context, st *store.Store) (string, error) {
	chans, err := st.PushChannels(ctx, contact.LINE, contact.Facebook, contact.Instagram)
	if err != nil {
		return "", err
	}
	lineChannels := make([]string, 0, len(o.cfg.LineTokens))
	for id, tok := range o.cfg.LineTokens {
		if tok != "" && o.cfg.Line != nil {
			lineChannels = append(lineChannels, id)
		}
	}
	sort.Strings(lineChannels)
	fp, err := mapping.Hash(struct {
		Version      int
		Mapping      mapping.Options
		LineChannels []string
	}{ohoFingerprintVersion, o.cfg.Mapper.Options(), lineChannels})
	if err != nil {
		return "", fmt.Errorf("fingerprint oho settings: %w", err)
	}
	o.mu.Lock()
	o.channels = chans
	o.lineErr = map[string]error{}
	o.mu.Unlock()
	return fp, nil
}

// ohoTarget is the resolved Oho destination of one identity (Target.Data).
type ohoTarget struct {
	key    oho.Key
	id     contact.Identity
	bot    *lineapi.Bot // LINE only
	target mapping.OhoTarget
	// infoCall is set on the first target of a LINE channel: resolving it
	// read the channel's bot info, counted in its outcome's Calls (lineapi
	// caches it for the client's lifetime, as Oho keeps infoSeen).
	infoCall bool
}

// Targets returns one target per identity of c on line, facebook or
// instagram. LINE bot info is read once per channel and cached.
func (o *Oho) Targets(ctx context.Context, c contact.Contact) ([]Target, error) {
	ids, _ := mapping.OhoIdentities(c)
	out := make([]Target, 0, len(ids))
	for _, id := range ids {
		t := ohoTarget{id: id}
		switch id.Platform {
		case contact.LINE:
			token := o.cfg.LineTokens[id.ChannelID]
			if token == "" || o.cfg.Line == nil {
				h, err := inputHash(c, id, mapping.OhoTarget{})
				if err != nil {
					return nil, err
				}
				out = append(out, Target{Key: id.String(), Identity: &id, Rejection: &Rejection{
					Field: "social_profile.platform_id", Reason: "no LINE token for channel " + id.ChannelID, PayloadHash: h,
				}})
				continue
			}
			t.bot = o.cfg.Line.Bot(token)
			info, err := o.botInfo(ctx, id.ChannelID, t.bot)
			if err != nil {
				return nil, err
			}
			t.target = mapping.OhoTarget{PlatformID: info.UserID, PlatformName: info.DisplayName, LineBasicID: info.BasicID}
			o.mu.Lock()
			t.infoCall = !o.infoSeen[id.ChannelID]
			o.infoSeen[id.ChannelID] = true
			o.mu.Unlock()
		default: // facebook, instagram: the Omnichat channel id is the page or Instagram id
			o.mu.Lock()
			ch := o.channels[string(id.Platform)+"/"+id.ChannelID]
			o.mu.Unlock()
			t.target = mapping.OhoTarget{PlatformID: id.ChannelID, PlatformName: ch.Name}
		}
		t.key = oho.Key{Platform: oho.Platform(id.Platform), PlatformID: t.target.PlatformID, UserID: id.UserID}
		out = append(out, Target{Key: t.key.String(), Identity: &id, Data: t})
	}
	return out, nil
}

// botInfo returns the channel's bot info (cached by lineapi). A refusal
// (bad token, 4xx) is remembered for the run so the channel's other contacts
// fail without a request each.
func (o *Oho) botInfo(ctx context.Context, channel string, bot *lineapi.Bot) (lineapi.BotInfo, error) {
	o.mu.Lock()
	err := o.lineErr[channel]
	o.mu.Unlock()
	if err != nil {
		return lineapi.BotInfo{}, err
	}
	info, err := bot.Info(ctx)
	if err == nil {
		return info, nil
	}
	err = helperError{fmt.Errorf("LINE bot info of channel %s: %w", channel, err)}
	if !errors.Is(err, apiclient.ErrUnavailable) && !errors.Is(err, apiclient.ErrRateLimited) && ctx.Err() == nil {
		o.mu.Lock()
		o.lineErr[channel] = err
		o.mu.Unlock()
	}
	return lineapi.BotInfo{}, err
}

// Push brings one Oho contact to the state c should give it.
func (o *Oho) Push(ctx context.Context, c contact.Contact, t Target, prev store.PushTarget, dryRun bool) Outcome {
	ot, ok := t.Data.(ohoTarget)
	if !ok {
		return Outcome{Action: Failed, Err: fmt.Errorf("oho target %s: no resolved destination", t.Key)}
	}
	var out Outcome
	if ot.infoCall {
		out.Calls.add(lineCredential(ot.id.ChannelID), KindBotInfo, 1)
	}
	target := ot.target
	var last *mapping.OhoContact
	if prev.State != nil {
		last = new(mapping.OhoContact)
		if err := json.Unmarshal(prev.State.Payload, last); err != nil {
			return Outcome{Action: Failed, Err: fmt.Errorf("decode stored oho payload of %s: %w", t.Key, err)}
		}
		// Picture and original name can only be set on create: keep what was sent.
		target.PictureURL, target.OriginalName = last.ProfilePictureURL, last.PlatformDisplayName
	} else if ot.bot != nil {
		if err := o.profile(ctx, &ot, &target, &out); err != nil {
			out.Action, out.Err = Failed, err
			return out
		}
	}

	desired, changes, err := o.cfg.Mapper.ToOho(c, ot.id, target, o.cfg.NowFunc())
	out.Adjustments = changes
	if err != nil {
		h, herr := inputHash(c, ot.id, target)
		if herr != nil {
			out.Action, out.Err = Failed, herr
			return out
		}
		out.Action = Rejected
		for _, ch := range changes {
			if ch.Kind == mapping.Rejected {
				out.Rejections = append(out.Rejections, Rejection{Field: ch.Field, Value: nonEmpty(ch.Before), Reason: ch.Reason, PayloadHash: h})
			}
		}
		if len(out.Rejections) == 0 {
			out.Rejections = []Rejection{{Reason: err.Error(), PayloadHash: h}}
		}
		return out
	}
	h, err := mapping.Hash(desired)
	if err != nil {
		out.Action, out.Err = Failed, err
		return out
	}
	switch {
	case prev.State != nil && prev.State.PayloadHash == h:
		out.Action = Unchanged
		return out
	case prev.Refused[h]:
		out.Action = Skipped
		return out
	case last != nil:
		return o.update(ctx, c, ot, prev.State, *last, desired, h, dryRun, out)
	default:
		return o.create(ctx, c, ot, nil, desired, h, dryRun, out)
	}
}

// profile reads the contact's LINE profile for a create: picture and
// original name. A 404 (not a friend of the bot) is final and remembered:
// the contact is created with mapping's default picture.
func (o *Oho) profile(ctx context.Context, ot *ohoTarget, target *mapping.OhoTarget, out *Outcome) error {
	k := ot.key.String()
	o.mu.Lock()
	gone := o.noProf[k]
	o.mu.Unlock()
	if gone {
		return nil
	}
	out.HelperRequests++
	out.Calls.add(lineCredential(ot.id.ChannelID), KindProfile, 1)
	p, err := ot.bot.Profile(ctx, ot.id.UserID)
	switch {
	case err == nil:
		target.PictureURL, target.OriginalName = p.PictureURL, p.DisplayName
		return nil
	case errors.Is(err, apiclient.ErrNotFound):
		o.mu.Lock()
		o.noProf[k] = true
		o.mu.Unlock()
		return nil
	default:
		return helperError{fmt.Errorf("LINE profile for %s: %w", ot.id, err)}
	}
}

// create sends POST /contact. On 409 (Oho already holds the contact:
// created by Oho's own channel link, or by a run that died before recording
// it) it reads the contact and PATCHes the merge of what Oho holds with
// desired, last being what crmsync last pushed, if it ever did.
func (o *Oho) create(ctx context.Context, c contact.Contact, ot ohoTarget, last *mapping.OhoContact, desired mapping.OhoContact, h string, dryRun bool, out Outcome) Outcome {
	out.Changes = ohoChanges(nil, desired, mapping.OhoDiff{})
	if dryRun {
		out.Calls.add(ohoCredential, KindCreate, 1) // a 409 would add a GET and a PATCH: not foreseen
		out.Action = Created
		return out
	}
	if o.cfg.Offline {
		out.Action, out.Err = Failed, errors.New("oho destination is offline (dry runs only)")
		return out
	}
	out.Requests++
	out.Calls.add(ohoCredential, KindCreate, 1)
	err := o.cfg.Client.Contacts.Create(ctx, toCreateRequest(desired))
	switch {
	case err == nil:
		return o.confirmed(out, Created, desired, h)
	case errors.Is(err, apiclient.ErrConflict):
		out.Requests++
		out.Calls.add(ohoCredential, KindGet, 1)
		remote, gerr := o.cfg.Client.Contacts.Get(ctx, ot.key)
		if gerr != nil {
			return o.readFailed(out, gerr, h)
		}
		return o.merge(ctx, c, ot, last, fromOho(remote), desired, h, false, Created, out)
	default:
		return o.refusedOrFailed(out, err, h)
	}
}

// update reads the contact Oho holds and PATCHes the merge; a change only
// create-only fields carry is recorded without a request.
func (o *Oho) update(ctx context.Context, c contact.Contact, ot ohoTarget, st *store.PushState, last, desired mapping.OhoContact, h string, dryRun bool, out Outcome) Outcome {
	d := mapping.DiffOho(last, desired)
	if d.Update.IsZero() {
		// Only fields no request can change moved: record, send nothing.
		out.Changes = ohoChanges(&last, desired, d)
		return o.confirmed(out, Recorded, desired, h)
	}
	if o.cfg.Offline {
		out.Changes = ohoChanges(&last, desired, d)
		if !dryRun {
			out.Action, out.Err = Failed, errors.New("oho destination is offline (dry runs only)")
			return out
		}
		out.Action = Updated
		// A real run reads the contact and PATCHes the merge (none when Oho
		// already holds it: unknown without the read).
		out.Calls.add(ohoCredential, KindGet, 1)
		out.Calls.add(ohoCredential, KindUpdate, 1)
		out.Kept = []Kept{{Field: "(all)", Why: "Oho not read (no API key): changes shown against the last push, not merged with what Oho holds"}}
		return out
	}
	out.Requests++
	out.Calls.add(ohoCredential, KindGet, 1)
	remote, err := o.cfg.Client.Contacts.Get(ctx, ot.key)
	if errors.Is(err, apiclient.ErrNotFound) {
		// Deleted in Oho since: create it again with the whole payload.
		return o.create(ctx, c, ot, &last, desired, h, dryRun, out)
	}
	if err != nil {
		return o.readFailed(out, err, h)
	}
	base := last.WithoutCapDrops(storedAdjustments(st))
	return o.merge(ctx, c, ot, &base, fromOho(remote), desired, h, dryRun, Updated, out)
}

// merge PATCHes the three-way merge of last (nil: never pushed), the
// contact Oho holds (there) and desired, and reports it as action (Recorded
// when Oho already holds the merge, for an update).
func (o *Oho) merge(ctx context.Context, c contact.Contact, ot ohoTarget, last *mapping.OhoContact, there, desired mapping.OhoContact, h string, dryRun bool, action Action, out Outcome) Outcome {
	retry := out // what a create after a 404 starts from
	mg := o.cfg.Mapper.MergeOho(c, last, there, desired)
	out.Adjustments = append(slices.Clip(out.Adjustments), mg.Changes...)
	out.Changes = mergeChanges(there, desired, mg)
	out.Kept = make([]Kept, len(mg.Kept))
	for i, k := range mg.Kept {
		out.Kept[i] = Kept(k)
	}
	out.Conflicts = make([]store.PushConflict, len(mg.Conflicts))
	for i, cf := range mg.Conflicts {
		out.Conflicts[i] = pushConflict(cf)
	}
	if mg.Update.IsZero() && action == Updated {
		action = Recorded // Oho already holds the merge: nothing to write
	}
	if dryRun {
		if !mg.Update.IsZero() {
			out.Calls.add(ohoCredential, KindUpdate, 1)
		}
		out.Action = action
		return out
	}
	if !mg.Update.IsZero() {
		out.Requests++
		out.Calls.add(ohoCredential, KindUpdate, 1)
		err := o.cfg.Client.Contacts.Update(ctx, ot.key, toUpdateRequest(mg.Update))
		if errors.Is(err, apiclient.ErrNotFound) && action == Updated {
			// Deleted in Oho between the GET and the PATCH: create it again.
			retry.Requests, retry.Calls = out.Requests, out.Calls
			return o.create(ctx, c, ot, last, desired, h, false, retry)
		}
		if err != nil {
			return o.refusedOrFailed(out, err, h)
		}
	}
	return o.confirmed(out, action, desired, h)
}

// pushConflict converts mapping's conflict for the store.
func pushConflict(cf mapping.Conflict) store.PushConflict {
	pc := store.PushConflict{
		Destination: store.DestinationOho, Field: cf.Field, DestinationValue: cf.There, CrmsyncValue: cf.Want, LastPushedValue: cf.Last,
		Resolution: store.ConflictKeptDestination, Rule: store.ConflictRuleSource,
	}
	if cf.Overwrote {
		pc.Resolution = store.ConflictOverwroteDestination
	}
	if cf.Rule == mapping.ConflictDestination {
		pc.Rule = store.ConflictRuleDestination
	}
	return pc
}

// storedAdjustments decodes the adjustments of a confirmed state; nil when
// there are none or they cannot be read (the merge then treats every item
// of the last payload as pushed).
func storedAdjustments(st *store.PushState) []mapping.Change {
	if st == nil || len(st.Adjustments) == 0 {
		return nil
	}
	var cs []mapping.Change
	if err := json.Unmarshal(st.Adjustments, &cs); err != nil {
		return nil
	}
	return cs
}

// readFailed classifies a failed GET: a found contact that cannot be read
// is a rejection of this payload (Oho answered 200, so it blocks the same
// payload like a refusal: never retried until the payload changes, never a
// failure counted toward MaxFailures); anything else as refusedOrFailed.
func (o *Oho) readFailed(out Outcome, err error, h string) Outcome {
	var re *oho.ReadError
	if !errors.As(err, &re) {
		return o.refusedOrFailed(out, err, h)
	}
	field := "(found contact)"
	if re.Field != "" {
		field = "(found contact)." + re.Field
	}
	out.Action = Rejected
	out.Rejections = []Rejection{{
		Field: field, Value: nonEmpty(re.Value), HTTPStatus: http.StatusOK, PayloadHash: h,
		Reason: "Oho's contact (GET) could not be read: " + re.Why + "; nothing sent, so nothing Oho holds is overwritten",
	}}
	return out
}

func (o *Oho) confirmed(out Outcome, a Action, desired mapping.OhoContact, h string) Outcome {
	b, err := mapping.CanonicalJSON(desired)
	if err != nil {
		out.Action, out.Err = Failed, err
		return out
	}
	out.Action = a
	out.State = &store.PushState{Payload: b, PayloadHash: h}
	return out
}

// refusedOrFailed classifies a request error (see refusal): a refusal of
// the record is a rejection with Oho's message, anything else a failure.
func (o *Oho) refusedOrFailed(out Outcome, err error, h string) Outcome {
	if rj, _, ok := refusal(err, h); ok {
		out.Action, out.Rejections = Rejected, []Rejection{rj}
		return out
	}
	out.Action, out.Err = Failed, err
	return out
}

// inputHash is the hash of what mapping is given: it stands for the payload
// in a rejection recorded before any payload could be built.
func inputHash(c contact.Contact, id contact.Identity, t mapping.OhoTarget) (string, error) {
	h, err := mapping.Hash(struct {
		Contact  contact.Contact
		Identity contact.Identity
		Target   mapping.OhoTarget
	}{c, id, t})
	if err != nil {
		return "", fmt.Errorf("hash mapping input: %w", err)
	}
	return h, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// toCreateRequest converts mapping's payload to the client's POST body.
func toCreateRequest(p mapping.OhoContact) oho.ContactCreateRequest {
	return oho.ContactCreateRequest{
		SocialProfile: oho.SocialProfile{
			Platform: oho.Platform(p.SocialProfile.Platform), ID: p.SocialProfile.ID, PlatformID: p.SocialProfile.PlatformID,
			PlatformName: p.SocialProfile.PlatformName, LineBasicID: p.SocialProfile.LineBasicID,
		},
		ProfilePictureURL:   p.ProfilePictureURL,
		PlatformDisplayName: p.PlatformDisplayName,
		DisplayName:         p.DisplayName,
		FirstName:           p.FirstName,
		LastName:            p.LastName,
		Phone:               p.Phone,
		Email:               p.Email,
		Country:             p.Country,
		City:                p.City,
		Gender:              oho.Gender(p.Gender),
		Age:                 p.Age,
		BirthDate:           p.BirthDate,
		Attributes:          toOhoAttributes(p.Attributes),
		Tags:                p.Tags,
		Labels:              p.Labels,
	}
}

// toUpdateRequest converts mapping's PATCH fields to the client's body.
func toUpdateRequest(u mapping.OhoUpdate) oho.ContactUpdateRequest {
	r := oho.ContactUpdateRequest{
		DisplayName: u.DisplayName, FirstName: u.FirstName, LastName: u.LastName, Phone: u.Phone, Email: u.Email,
		Country: u.Country, City: u.City, Age: u.Age, BirthDate: u.BirthDate, Tags: u.Tags, Labels: u.Labels,
	}
	if u.Gender != nil {
		g := oho.Gender(*u.Gender)
		r.Gender = &g
	}
	if u.Attributes != nil {
		as := toOhoAttributes(*u.Attributes)
		if as == nil {
			as = []oho.Attribute{}
		}
		r.Attributes = &as
	}
	return r
}

func toOhoAttributes(as []mapping.OhoAttribute) []oho.Attribute {
	if len(as) == 0 {
		return nil
	}
	out := make([]oho.Attribute, len(as))
	for i, a := range as {
		out[i] = oho.Attribute{DisplayName: a.DisplayName, Value: oho.AttributeValue{Text: a.Value.Text}}
	}
	return out
}

// fromOho converts a contact read from Oho to mapping's payload, lists
// sorted as mapping sorts them, so only real differences show in a diff.
func fromOho(c *oho.Contact) mapping.OhoContact {
	p := mapping.OhoContact{
		SocialProfile: mapping.OhoSocialProfile{
			Platform: string(c.SocialProfile.Platform), ID: c.SocialProfile.ID, PlatformID: c.SocialProfile.PlatformID,
			PlatformName: c.SocialProfile.PlatformName, LineBasicID: c.SocialProfile.LineBasicID,
		},
		ProfilePictureURL:   c.ProfilePictureURL,
		PlatformDisplayName: c.PlatformDisplayName,
		DisplayName:         c.DisplayName,
		FirstName:           c.FirstName,
		LastName:            c.LastName,
		Phone:               c.Phone,
		Email:               c.Email,
		Country:             c.Country,
		City:                c.City,
		Gender:              string(c.Gender),
		Age:                 c.Age,
		BirthDate:           c.BirthDate,
		Tags:                slices.Sorted(slices.Values(c.Tags)),
		Labels:              slices.Sorted(slices.Values(c.Labels)),
	}
	if p.Gender == string(oho.GenderNotSay) {
		p.Gender = "" // Oho's default: what mapping leaves empty
	}
	for _, a := range c.Attributes {
		p.Attributes = append(p.Attributes, mapping.OhoAttribute{DisplayName: a.DisplayName, Value: mapping.OhoAttributeValue{Text: a.Value.Text}})
	}
	return p
}

// Credentials returns the credentials whose quotas the destination spends
// (see Call.Credential): "oho", then "line/<channel id>" for each LINE
// channel with a token, sorted.
func (o *Oho) Credentials() []string {
	out := []string{ohoCredential}
	if o.cfg.Line == nil {
		return out
	}
	var lines []string
	for id, tok := range o.cfg.LineTokens {
		if tok != "" {
			lines = append(lines, lineCredential(id))
		}
	}
	slices.Sort(lines)
	return append(out, lines...)
}
