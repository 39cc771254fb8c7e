package mapping

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"crmsync/contact"
)

// sourceKind is where a mapped value comes from.
type sourceKind int

const (
	srcName        sourceKind = iota + 1 // master name
	srcProfileName                       // the pushed identity's own name
	srcEmail                             // master email
	srcPhone                             // master phone, E.164
	srcPhoneLocal                        // master phone as Oho writes it
	srcMemberID                          // master member id
	srcUserID                            // the pushed identity's user id
	srcPlatform                          // the pushed identity's platform
	srcChannelID                         // the pushed identity's channel id
	srcContactID                         // master contact id
	srcAttr                              // one custom attribute
	srcAttrAll                           // every custom attribute not otherwise used
	srcFact                              // a derived fact
)

var plainSources = map[string]sourceKind{
	"name": srcName, "profile_name": srcProfileName, "email": srcEmail, "phone": srcPhone,
	"phone_local": srcPhoneLocal, "member_id": srcMemberID, "user_id": srcUserID,
	"platform": srcPlatform, "channel_id": srcChannelID, "contact_id": srcContactID,
}

// sourceNames lists the plain sources in a fixed order, for error messages.
var sourceNames = []string{"name", "profile_name", "email", "phone", "phone_local", "member_id",
	"user_id", "platform", "channel_id", "contact_id"}

type source struct {
	kind sourceKind
	key  string // attribute key for srcAttr
	fact fact   // for srcFact
}

func parseSource(s string, allowAll bool) (source, error) {
	if k, ok := plainSources[s]; ok {
		return source{kind: k}, nil
	}
	if key, ok := strings.CutPrefix(s, "attr:"); ok {
		switch {
		case key == "*" && allowAll:
			return source{kind: srcAttrAll}, nil
		case key == "*":
			return source{}, fmt.Errorf("attr:* is only allowed in oho.attributes and okeybot.custom_fields")
		case key == "":
			return source{}, fmt.Errorf("%q names no attribute key", s)
		}
		return source{kind: srcAttr, key: key}, nil
	}
	if name, ok := strings.CutPrefix(s, "fact:"); ok {
		f, err := lookupFact(name, false)
		if err != nil {
			return source{}, err
		}
		return source{kind: srcFact, fact: f}, nil
	}
	if s == "" {
		return source{}, fmt.Errorf("required")
	}
	return source{}, fmt.Errorf("unknown source %q (want one of %s, attr:<key>, fact:<name>)", s, strings.Join(sourceNames, ", "))
}

// fact is a value derived from contact.Facts and the time of the run.
type fact struct {
	name   string
	isBool bool
	eval   func(f contact.Facts, now time.Time, loc *time.Location) string
}

const day = 24 * time.Hour

// within reports whether t is set and at most d before now (a time after
// now, from clock skew, counts as within).
func within(t, now time.Time, d time.Duration) bool {
	return !t.IsZero() && now.Sub(t) <= d
}

func boolFact(name string, fn func(f contact.Facts, now time.Time) bool) fact {
	return fact{name: name, isBool: true, eval: func(f contact.Facts, now time.Time, _ *time.Location) string {
		return strconv.FormatBool(fn(f, now))
	}}
}

func timeFact(name string, fn func(f contact.Facts) time.Time) fact {
	return fact{name: name, eval: func(f contact.Facts, _ time.Time, loc *time.Location) string {
		t := fn(f)
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format(time.RFC3339)
	}}
}

func intFact(name string, fn func(f contact.Facts) int) fact {
	return fact{name: name, eval: func(f contact.Facts, _ time.Time, _ *time.Location) string {
		return strconv.Itoa(fn(f))
	}}
}

// facts are the derived facts a rule can name, documented in doc.go.
var facts = []fact{
	boolFact("has_messages", func(f contact.Facts, _ time.Time) bool {
		return f.MessagesTotal > 0 || !f.LastMessageAt.IsZero()
	}),
	boolFact("replied_within_24h", func(f contact.Facts, _ time.Time) bool {
		c, a := f.LastCustomerMessageAt, f.LastAgentMessageAt
		return !c.IsZero() && !a.IsZero() && !a.Before(c) && a.Sub(c) <= day
	}),
	boolFact("awaiting_reply", func(f contact.Facts, _ time.Time) bool {
		c, a := f.LastCustomerMessageAt, f.LastAgentMessageAt
		return !c.IsZero() && (a.IsZero() || a.Before(c))
	}),
	boolFact("active_24h", func(f contact.Facts, now time.Time) bool { return within(f.LastCustomerMessageAt, now, day) }),
	boolFact("active_7d", func(f contact.Facts, now time.Time) bool { return within(f.LastCustomerMessageAt, now, 7*day) }),
	boolFact("active_30d", func(f contact.Facts, now time.Time) bool { return within(f.LastCustomerMessageAt, now, 30*day) }),
	boolFact("inactive_30d", func(f contact.Facts, now time.Time) bool { return !within(f.LastCustomerMessageAt, now, 30*day) }),
	boolFact("inactive_90d", func(f contact.Facts, now time.Time) bool { return !within(f.LastCustomerMessageAt, now, 90*day) }),
	boolFact("new_7d", func(f contact.Facts, now time.Time) bool { return within(f.FirstMessageAt, now, 7*day) }),
	timeFact("first_message_at", func(f contact.Facts) time.Time { return f.FirstMessageAt }),
	timeFact("last_message_at", func(f contact.Facts) time.Time { return f.LastMessageAt }),
	timeFact("last_customer_message_at", func(f contact.Facts) time.Time { return f.LastCustomerMessageAt }),
	timeFact("last_agent_message_at", func(f contact.Facts) time.Time { return f.LastAgentMessageAt }),
	intFact("messages_total", func(f contact.Facts) int { return f.MessagesTotal }),
	intFact("messages_7d", func(f contact.Facts) int { return f.Messages7d }),
	intFact("messages_30d", func(f contact.Facts) int { return f.Messages30d }),
	intFact("customer_messages_total", func(f contact.Facts) int { return f.CustomerMessagesTotal }),
	intFact("agent_messages_total", func(f contact.Facts) int { return f.AgentMessagesTotal }),
	intFact("bot_messages_total", func(f contact.Facts) int { return f.BotMessagesTotal }),
	{name: "days_since_last_customer_message", eval: func(f contact.Facts, now time.Time, _ *time.Location) string {
		if f.LastCustomerMessageAt.IsZero() {
			return ""
		}
		return strconv.Itoa(int(max(now.Sub(f.LastCustomerMessageAt), 0) / day))
	}},
	{name: "channels", eval: func(f contact.Facts, _ time.Time, _ *time.Location) string {
		cs := slices.Clone(f.Channels)
		slices.Sort(cs)
		return strings.Join(slices.Compact(cs), ", ")
	}},
}

// FactNames lists the derived facts a rule can name (fact:<name>, and the
// fact of tag, label and fact-tag rules), in documentation order. Boolean
// facts come first; only they can make tags and labels.
func FactNames() (boolean, value []string) {
	for _, f := range facts {
		if f.isBool {
			boolean = append(boolean, f.name)
		} else {
			value = append(value, f.name)
		}
	}
	return boolean, value
}

func lookupFact(name string, wantBool bool) (fact, error) {
	for _, f := range facts {
		if f.name != name {
			continue
		}
		if wantBool && !f.isBool {
			return fact{}, fmt.Errorf("fact %q is a value, not true/false: it can feed an attribute or custom field, not a tag or label", name)
		}
		return f, nil
	}
	b, v := FactNames()
	if wantBool {
		return fact{}, fmt.Errorf("unknown fact %q (want one of %s)", name, strings.Join(b, ", "))
	}
	return fact{}, fmt.Errorf("unknown fact %q (want one of %s)", name, strings.Join(append(b, v...), ", "))
}

// input is one contact and identity being mapped.
type input struct {
	c       contact.Contact
	id      contact.Identity
	profile contact.Profile // the identity's profile, zero when c does not list it
	now     time.Time
	loc     *time.Location
	keys    map[string]string // Key results, memoised for this one call
}

func newInput(c contact.Contact, id contact.Identity, now time.Time, loc *time.Location) *input {
	in := &input{c: c, id: id, now: now, loc: loc, keys: map[string]string{}}
	for _, p := range c.Identities {
		if p.Identity == id {
			in.profile = p
			break
		}
	}
	return in
}

// key returns Key(s), computed once per distinct s within one call.
func (in *input) key(s string) string {
	k, ok := in.keys[s]
	if !ok {
		k = Key(s)
		in.keys[s] = k
	}
	return k
}

// value returns the raw value of src ("" when absent) and, for attributes,
// its type. srcPhoneLocal returns the E.164 phone: the caller formats it.
func (in *input) value(src source) (string, contact.AttrType) {
	switch src.kind {
	case srcName:
		return in.c.Name, ""
	case srcProfileName:
		return in.profile.Name, ""
	case srcEmail:
		return in.c.Email, ""
	case srcPhone, srcPhoneLocal:
		return in.c.Phone, ""
	case srcMemberID:
		return in.c.MemberID, ""
	case srcUserID:
		return in.id.UserID, ""
	case srcPlatform:
		return string(in.id.Platform), ""
	case srcChannelID:
		return in.id.ChannelID, ""
	case srcContactID:
		if in.c.ID == 0 {
			return "", ""
		}
		return strconv.FormatInt(int64(in.c.ID), 10), ""
	case srcAttr:
		a, ok := in.c.Attribute(src.key)
		if !ok {
			return "", ""
		}
		return a.Value, a.Type
	case srcFact:
		return src.fact.eval(in.c.Facts, in.now, in.loc), ""
	}
	return "", ""
}

// sortedAttributes returns the contact's attributes sorted by key (the
// domain promises it; mapping does not rely on it), skipping used keys.
func (in *input) sortedAttributes(used map[string]bool) []contact.Attribute {
	var as []contact.Attribute
	for _, a := range in.c.Attributes {
		if !used[a.Key] {
			as = append(as, a)
		}
	}
	slices.SortStableFunc(as, func(a, b contact.Attribute) int { return strings.Compare(a.Key, b.Key) })
	return as
}
