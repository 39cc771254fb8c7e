package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"slices"
	"strings"
	"unicode/utf8"

	"crmsync/clients/omnichat"
	"crmsync/contact"
)

// Hash returns the SHA-256 (hex) of everything the dataset serves: channels,
// bots, contacts, tagging logs, messages and LINE profiles, as JSON. Two
// datasets with the same hash serve the same bytes.
func (d *Dataset) Hash() string {
	h := sha256.New()
	write := func(v any) {
		b, _ := json.Marshal(v) // the vendor types marshal plain fields; cannot fail
		h.Write(b)
		h.Write([]byte{'\n'})
	}
	hashTimes(h, d)
	for _, c := range d.Channels {
		write(c.Omnichat())
		write(c.Bot)
	}
	for _, c := range d.Contacts {
		write(c)
	}
	for _, l := range d.TaggingLogs {
		write(l)
	}
	for _, m := range d.Messages {
		write(m)
	}
	for _, p := range d.Profiles {
		write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// hashTimes writes the dataset's bounds into h.
func hashTimes(h hash.Hash, d *Dataset) {
	h.Write([]byte(d.Start.UTC().Format("2006-01-02T15:04:05Z") + " " + d.End.UTC().Format("2006-01-02T15:04:05Z") + "\n"))
}

// Stats are the dataset's figures, for the demo's summary and the tests.
type Stats struct {
	People     int
	Identities int
	// ByPlatform counts identities per platform, in contact.Platforms order
	// (platforms with none left out).
	ByPlatform []PlatformCount
	// MultiChannelPeople have identities on more than one channel.
	MultiChannelPeople int
	Messages           int
	TaggingLogs        int
	LineProfiles       int
	// Shared-phone identities carry ShopPhone.
	SharedPhoneIdentities int
	// Identities with more than 20 tags (Oho's limit), more than 30 custom
	// attributes (Okeybot's per-request limit), a name longer than 255
	// characters (Oho's display_name), or an attribute display name longer
	// than 100 (Oho's attributes[].display_name).
	OverTagLimit, OverAttributeLimit, LongNames, LongAttributeNames int
	// SenderTypes and MessageTypes count messages by senderType and
	// messageType, sorted by name.
	SenderTypes, MessageTypes []NameCount
}

// PlatformCount is a number of identities on one platform.
type PlatformCount struct {
	Platform contact.Platform
	N        int
}

// NameCount is a count of something named.
type NameCount struct {
	Name string
	N    int
}

// Stats counts the dataset.
func (d *Dataset) Stats() Stats {
	s := Stats{
		People: len(d.People), Identities: len(d.Contacts), Messages: len(d.Messages),
		TaggingLogs: len(d.TaggingLogs), LineProfiles: len(d.Profiles),
	}
	for _, p := range contact.Platforms {
		n := 0
		for _, c := range d.Contacts {
			if c.Platform == p {
				n++
			}
		}
		if n > 0 {
			s.ByPlatform = append(s.ByPlatform, PlatformCount{Platform: p, N: n})
		}
	}
	for _, p := range d.People {
		if len(p.Identities) > 1 {
			s.MultiChannelPeople++
		}
	}
	for i, c := range d.Contacts {
		if d.keys[i].phone == ShopPhone {
			s.SharedPhoneIdentities++
		}
		if len(c.Tags) > 20 {
			s.OverTagLimit++
		}
		if len(c.CustomAttributes) > 30 {
			s.OverAttributeLimit++
		}
		if utf8.RuneCountInString(c.Name) > 255 {
			s.LongNames++
		}
		if slices.ContainsFunc(c.CustomAttributes, func(a omnichat.CustomAttribute) bool { return utf8.RuneCountInString(a.DisplayName) > 100 }) {
			s.LongAttributeNames++
		}
	}
	senders, types := map[string]int{}, map[string]int{}
	for _, m := range d.Messages {
		senders[m.SenderType]++
		types[m.MessageType]++
	}
	s.SenderTypes, s.MessageTypes = sortedCounts(senders), sortedCounts(types)
	return s
}

// sortedCounts turns a map into NameCounts sorted by name.
func sortedCounts(m map[string]int) []NameCount {
	out := make([]NameCount, 0, len(m))
	for k, n := range m {
		out = append(out, NameCount{Name: k, N: n})
	}
	slices.SortFunc(out, func(a, b NameCount) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ExpectedContacts returns how many master contacts reconcile should make
// of the dataset when it links identities by member id, phone (E.164) and
// email (trimmed, lower-cased), and a key carried by more than ceiling
// identities links none of them. It is worked out from the keys the
// generator gave each identity, independently of reconcile's code.
func (d *Dataset) ExpectedContacts(ceiling int) int {
	n := len(d.Contacts)
	parent := make([]int, n)
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	count := map[string]int{}
	keysOf := func(k idKeys) []string {
		var out []string
		if k.member != "" {
			out = append(out, "m|"+k.member)
		}
		if k.phone != "" {
			out = append(out, "p|"+k.phone)
		}
		if k.email != "" {
			out = append(out, "e|"+k.email)
		}
		return out
	}
	for _, k := range d.keys {
		for _, key := range keysOf(k) {
			count[key]++
		}
	}
	first := map[string]int{}
	components := n
	for i, k := range d.keys {
		for _, key := range keysOf(k) {
			if count[key] > ceiling {
				continue
			}
			j, ok := first[key]
			if !ok {
				first[key] = i
				continue
			}
			if a, b := find(i), find(j); a != b {
				parent[a] = b
				components--
			}
		}
	}
	return components
}
