package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
}

// Oho is the Oho destination: one Oho contact per identity on line,
// facebook or instagram, keyed by (platform, platform_id, user_id) where
// platform_id is the LINE bot's userId (GET /v2/bot/info) or, for facebook
// and instagram, the Omnichat channel id, which Omnichat documents as the
// page id (Instagram: the Instagram account id). platform_name is the LINE
// OA's display name, or the Omnichat channel name.
//
// Requests per target: unchanged 0; changed 1 PATCH carrying only the
// changed top-level fields (attributes, tags and labels whole); new 1 POST
// (plus 1 LINE profile GET, counted as a helper request), and on 409 a GET
// and, when the contact Oho holds differs, a PATCH. A PATCH answered 404
// (the contact was deleted in Oho) is followed by a POST.
type Oho struct {
	cfg OhoConfig

	mu       sync.Mutex
	channels map[string]store.PushChannel // "platform/channel id" → channel, loaded by Start
	lineErr  map[string]error             // LINE channel id → bot info refusal, for this run
	noProf   map[string]bool              // target keys whose LINE profile is 404: final
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
	return &Oho{cfg: cfg, noProf: map[string]bool{}}, nil
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
		return o.update(ctx, ot, *last, desired, h, dryRun, out)
	default:
		return o.create(ctx, ot, desired, h, dryRun, out)
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

// create sends POST /contact; on 409 it reads the contact and PATCHes
// what differs.
func (o *Oho) create(ctx context.Context, ot ohoTarget, desired mapping.OhoContact, h string, dryRun bool, out Outcome) Outcome {
	out.Changes = ohoChanges(nil, desired, mapping.OhoDiff{})
	if dryRun {
		out.Action = Created
		return out
	}
	out.Requests++
	err := o.cfg.Client.Contacts.Create(ctx, toCreateRequest(desired))
	switch {
	case err == nil:
	case errors.Is(err, apiclient.ErrConflict):
		// Oho already holds it (created by Oho's own channel link, or by a run
		// that died before recording it): bring it to the desired state.
		out.Requests++
		remote, gerr := o.cfg.Client.Contacts.Get(ctx, ot.key)
		if gerr != nil {
			return o.refusedOrFailed(out, gerr, h)
		}
		d := mapping.DiffOho(fromOho(remote), desired)
		if !d.Update.IsZero() {
			out.Requests++
			if err := o.cfg.Client.Contacts.Update(ctx, ot.key, toUpdateRequest(d.Update)); err != nil {
				return o.refusedOrFailed(out, err, h)
			}
		}
	default:
		return o.refusedOrFailed(out, err, h)
	}
	return o.confirmed(out, Created, desired, h)
}

// update sends one PATCH with the changed fields.
func (o *Oho) update(ctx context.Context, ot ohoTarget, last, desired mapping.OhoContact, h string, dryRun bool, out Outcome) Outcome {
	d := mapping.DiffOho(last, desired)
	out.Changes = ohoChanges(&last, desired, d)
	if d.Update.IsZero() {
		// Only fields no request can change moved: record, send nothing.
		return o.confirmed(out, Recorded, desired, h)
	}
	if dryRun {
		out.Action = Updated
		return out
	}
	out.Requests++
	err := o.cfg.Client.Contacts.Update(ctx, ot.key, toUpdateRequest(d.Update))
	if errors.Is(err, apiclient.ErrNotFound) {
		// Deleted in Oho since: create it again with the whole payload.
		return o.create(ctx, ot, desired, h, false, out)
	}
	if err != nil {
		return o.refusedOrFailed(out, err, h)
	}
	return o.confirmed(out, Updated, desired, h)
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
