package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/rivo/uniseg"
	"github.com/stretchr/testify/require"

	"crmsync/contact"
)

// The fuzz targets assert the package's promises on arbitrary input: no
// output breaks a limit, text stays valid and cut on cluster boundaries,
// and mapping is deterministic. Seeds live in testdata/fuzz/<FuzzName>/ and
// in the f.Add calls; run e.g. go test -run '^$' -fuzz '^FuzzToOho$' -fuzztime 60s ./mapping

var fuzzSeeds = []string{
	"", " ", "ปักเป้า", "˚♡̴ 𝒇𝒂𝒏𝒈", "👨\u200d👩\u200d👧\u200d👦", "🇹🇭🇯🇵", "e\u0301\u0301\u0301", "\xff\xfe", "a\x00b",
	"\u0600 x", "\r\n", "หญิง", "M", "+66812345678", "๐๘๑๒๓๔๕๖๗๘", "Fang <FANG@oho.chat>", "2541-11-29",
	"29/02/2543", "1970-01-01", "๒๕", "VIP", "ｖｉｐ", "https://p.example/a.png", strings.Repeat("ก้", 60),
	strings.Repeat("𝒇", 51), strings.Repeat("˚♡̴ 𝒇𝒂𝒏𝒈", 22), strings.Repeat("🇹🇭", 30),
}

func FuzzFit(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, i*3)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max % 4096
		if max < 0 {
			max = -max
		}
		out, did := Fit(s, max)
		if !utf8.ValidString(out) {
			t.Fatalf("Fit(%q, %d) = %q: invalid UTF-8", s, max, out)
		}
		// Both readings of "max characters" hold, counted here without
		// Length, so a mistake in it cannot hide itself.
		if max > 0 && utf8.RuneCountInString(out) > max {
			t.Fatalf("Fit(%q, %d) = %q: %d code points", s, max, out, utf8.RuneCountInString(out))
		}
		if units := len(utf16.Encode([]rune(out))); max > 0 && units > max {
			t.Fatalf("Fit(%q, %d) = %q: %d UTF-16 units", s, max, out, units)
		}
		if strings.IndexFunc(out, isStripped) >= 0 {
			t.Fatalf("Fit(%q, %d) = %q: control characters left", s, max, out)
		}
		if out != strings.TrimSpace(out) {
			t.Fatalf("Fit(%q, %d) = %q: surrounding space left", s, max, out)
		}
		again, did2 := Fit(out, max)
		if again != out || did2.Changed() {
			t.Fatalf("Fit is not idempotent: %q → %q → %q", s, out, again)
		}
		full, _ := Fit(s, 0)
		if !did.Truncated {
			if out != full {
				t.Fatalf("Fit(%q, %d) = %q without a cut, want %q", s, max, out, full)
			}
			return
		}
		// A cut ends on a grapheme-cluster boundary of the clean text (then
		// loses trailing space).
		ok := out == ""
		for b, state, rest := 0, -1, full; !ok && rest != ""; {
			var cluster string
			cluster, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
			b += len(cluster)
			ok = strings.TrimRightFunc(full[:b], unicode.IsSpace) == out
		}
		if !ok {
			t.Fatalf("Fit(%q, %d) = %q is not a cluster prefix of %q", s, max, out, full)
		}
	})
}

// fuzzOptions feeds every Oho field and both destinations from attributes.
func fuzzOptions() Options {
	o := fullOptions()
	o.Oho.Fields = OhoFields{
		FirstName: "attr:first_name", LastName: "attr:v", Phone: "attr:v", Email: "attr:v",
		Gender: "attr:v", Age: "attr:v", BirthDate: "attr:v", Country: "attr:v", City: "attr:v",
	}
	o.Oho.Countries = []EnumValue{{Value: "ไทย", Aliases: []string{"Thailand"}}}
	return o
}

// fuzzContact builds a contact from fuzzed text. n picks how many tags and
// attributes to repeat, so list limits are reached.
func fuzzContact(name, value, tag, userID string, n uint8) (contact.Contact, contact.Identity) {
	id := contact.Identity{Platform: contact.Platforms[int(n)%len(contact.Platforms)], ChannelID: "c", UserID: userID}
	c := contact.Contact{
		ID:       contact.ID(n),
		Name:     name,
		Email:    value,
		Phone:    value,
		MemberID: tag,
		Attributes: []contact.Attribute{
			{Key: "v", Value: value, Type: contact.AttrDate, DisplayName: name},
			{Key: "first_name", Value: name, DisplayName: tag},
			{Key: tag, Value: value + name, DisplayName: value},
		},
		Facts:      contact.Facts{LastCustomerMessageAt: now.Add(-time.Duration(n) * 24 * time.Hour), LastAgentMessageAt: now.Add(-time.Duration(n%7) * 24 * time.Hour)},
		Identities: []contact.Profile{{Identity: id, Name: tag}},
	}
	for i := range int(n % 40) {
		t := contact.Tag{Name: tag + strings.Repeat(name, i%3) + string(rune('a'+i%26)), AppliedAt: now.Add(-time.Duration(i%5) * time.Hour)}
		c.Tags = append(c.Tags, t, contact.Tag{Name: value})
		c.Attributes = append(c.Attributes, contact.Attribute{Key: t.Name, Value: value, DisplayName: t.Name})
	}
	return c, id
}

func FuzzToOho(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, fuzzSeeds[(i+1)%len(fuzzSeeds)], fuzzSeeds[(i+2)%len(fuzzSeeds)], "U"+strings.Repeat("a", i), s, uint8(i*7))
	}
	m := newMapper(f, fuzzOptions())
	f.Fuzz(func(t *testing.T, name, value, tag, userID, picture string, n uint8) {
		c, id := fuzzContact(name, value, tag, userID, n)
		tg := OhoTarget{PlatformID: "P" + userID, PlatformName: tag, LineBasicID: "@" + tag, PictureURL: picture, OriginalName: name}
		p, cs, err := m.ToOho(c, id, tg, now)
		for _, ch := range cs {
			if !utf8.ValidString(ch.Field+ch.Before+ch.After+ch.Reason) || strings.ContainsRune(ch.Before+ch.After, 0) {
				t.Fatalf("change is not clean text: %+v", ch)
			}
		}
		if err != nil {
			var rej *Rejection
			if !errors.As(err, &rej) || !errors.Is(err, ErrDoesNotFit) {
				t.Fatalf("error %v is not a *Rejection", err)
			}
			if p.SocialProfile.Platform != "" {
				t.Fatalf("rejected contact came with a payload: %+v", p)
			}
			return
		}
		if err := p.Check(); err != nil {
			t.Fatalf("payload breaks a limit: %v\n%+v", err, p)
		}
		checkOhoIndependently(t, p)

		// Deterministic: the same input gives the same bytes and changes.
		p2, cs2, err2 := m.ToOho(c, id, tg, now)
		b1, _ := CanonicalJSON(p)
		b2, _ := CanonicalJSON(p2)
		if err2 != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("not deterministic:\n%s\n%s", b1, b2)
		}
		require.Equal(t, cs, cs2)
		if d := DiffOho(p, p2); len(d.Changed) != 0 {
			t.Fatalf("DiffOho of equal payloads: %+v", d)
		}
		// The JSON round-trips to the same payload.
		var back OhoContact
		require.NoError(t, json.Unmarshal(b1, &back))
		b3, _ := CanonicalJSON(back)
		require.Equal(t, string(b1), string(b3))
	})
}

// checkOhoIndependently restates the vendor's limits with literal numbers,
// so a mistake in the limit table cannot hide itself. A length holds in code
// points and in UTF-16 units, each counted with the standard library.
func checkOhoIndependently(t *testing.T, p OhoContact) {
	t.Helper()
	runes := func(s string) int { return max(utf8.RuneCountInString(s), len(utf16.Encode([]rune(s)))) }
	for _, f := range []struct {
		v   string
		max int
	}{
		{p.SocialProfile.ID, 40}, {p.SocialProfile.PlatformID, 40}, {p.SocialProfile.PlatformName, 255},
		{p.SocialProfile.LineBasicID, 255}, {p.ProfilePictureURL, 2000}, {p.PlatformDisplayName, 255},
		{p.DisplayName, 255}, {p.FirstName, 100}, {p.LastName, 100}, {p.Phone, 20}, {p.Email, 254},
		{p.Country, 0}, {p.City, 0},
	} {
		if f.max > 0 && runes(f.v) > f.max || !utf8.ValidString(f.v) {
			t.Fatalf("%q is over %d", f.v, f.max)
		}
	}
	for _, required := range []string{p.SocialProfile.ID, p.SocialProfile.PlatformID, p.SocialProfile.PlatformName,
		p.ProfilePictureURL, p.PlatformDisplayName, p.DisplayName, p.FirstName} {
		if required == "" {
			t.Fatalf("a required field is empty: %+v", p)
		}
	}
	if !strings.Contains("line facebook instagram", p.SocialProfile.Platform) {
		t.Fatalf("platform %q", p.SocialProfile.Platform)
	}
	if (p.SocialProfile.Platform == "line") != (p.SocialProfile.LineBasicID != "") {
		t.Fatalf("line_basic_id %q on %s", p.SocialProfile.LineBasicID, p.SocialProfile.Platform)
	}
	if p.Gender != "" && p.Gender != "male" && p.Gender != "female" && p.Gender != "not_say" {
		t.Fatalf("gender %q", p.Gender)
	}
	if p.Age != 0 && (p.Age < 1 || p.Age > 99) {
		t.Fatalf("age %d", p.Age)
	}
	if p.BirthDate != "" {
		if _, err := time.Parse(time.DateOnly, p.BirthDate); err != nil || len(p.BirthDate) != 10 {
			t.Fatalf("birth_date %q", p.BirthDate)
		}
	}
	for _, r := range p.Phone {
		if (r < '0' || r > '9') && r != '+' {
			t.Fatalf("phone %q", p.Phone)
		}
	}
	if len(p.Tags) > 20 || len(p.Labels) > 10 {
		t.Fatalf("%d tags, %d labels", len(p.Tags), len(p.Labels))
	}
	names := map[string]bool{}
	for _, a := range p.Attributes {
		if a.DisplayName == "" || runes(a.DisplayName) > 100 || a.Value.Text == "" || runes(a.Value.Text) > 2000 || names[a.DisplayName] {
			t.Fatalf("attribute %+v", a)
		}
		names[a.DisplayName] = true
	}
}

func FuzzToOkeybot(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, fuzzSeeds[(i+3)%len(fuzzSeeds)], fuzzSeeds[(i+5)%len(fuzzSeeds)], "viber-"+s, uint8(i*11))
	}
	m := newMapper(f, fuzzOptions())
	f.Fuzz(func(t *testing.T, name, value, tag, userID string, n uint8) {
		c, id := fuzzContact(name, value, tag, userID, n)
		// The last pushed state is what an earlier, different contact mapped to.
		prev, _ := fuzzContact(tag, name, value, userID, n/2)
		before, _ := m.ToOkeybot(prev, id, OkeybotContact{}, now)
		plan, cs := m.ToOkeybot(c, id, before.Desired, now)
		if err := plan.Check(); err != nil {
			t.Fatalf("plan breaks a limit: %v", err)
		}
		for _, r := range plan.Fields {
			if len(r.CustomFields) == 0 || len(r.CustomFields) > 30 {
				t.Fatalf("%d fields in one request", len(r.CustomFields))
			}
		}
		for _, r := range append(plan.AddTags, plan.RemoveTags...) {
			if len(r.Tags) == 0 || len(r.Tags) > 10 {
				t.Fatalf("%d tags in one request", len(r.Tags))
			}
		}
		for _, ch := range cs {
			if !utf8.ValidString(ch.Before+ch.After) || strings.ContainsRune(ch.Before+ch.After, 0) {
				t.Fatalf("change is not clean text: %+v", ch)
			}
		}
		// Deterministic, and applying the plan leaves nothing to do.
		plan2, cs2 := m.ToOkeybot(c, id, before.Desired, now)
		require.Equal(t, plan, plan2)
		require.Equal(t, cs, cs2)
		again, _ := m.ToOkeybot(c, id, plan.Desired, now)
		if !again.IsZero() {
			t.Fatalf("a second run after the plan still sends: %+v", again)
		}
		// The plan takes the last state to the desired one.
		state := map[string]string{}
		for _, f := range before.Desired.CustomFields {
			state[f.Name] = f.Value
		}
		for _, r := range plan.Fields {
			for _, f := range r.CustomFields {
				state[f.Name] = f.Value
			}
		}
		for _, f := range plan.Desired.CustomFields {
			if state[f.Name] != f.Value {
				t.Fatalf("field %q ends as %q, want %q", f.Name, state[f.Name], f.Value)
			}
		}
		tags := map[string]bool{}
		for _, tg := range before.Desired.Tags {
			tags[tg] = true
		}
		for _, r := range plan.RemoveTags {
			for _, tg := range r.Tags {
				delete(tags, tg)
			}
		}
		for _, r := range plan.AddTags {
			for _, tg := range r.Tags {
				tags[tg] = true
			}
		}
		if len(tags) != len(plan.Desired.Tags) {
			t.Fatalf("tags end as %v, want %v", tags, plan.Desired.Tags)
		}
		for _, tg := range plan.Desired.Tags {
			if !tags[tg] {
				t.Fatalf("tag %q missing after the plan", tg)
			}
		}
		if id.Platform == contact.Viber {
			if err := okeybotViberIDLimit.Check(OkeybotContactID(id.Platform, id.UserID)); err != nil && id.UserID != "" {
				t.Fatalf("viber id: %v", err)
			}
		}
	})
}

// FuzzMergeOho merges lists built from fuzzed names three ways and checks
// the merge's promises: an item set in Oho (not crmsync's) survives, one
// crmsync pushed and no longer wants is gone, the caps hold unless Oho is
// over them itself, and once Oho holds the merge nothing more is sent.
func FuzzMergeOho(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, fuzzSeeds[(i+1)%len(fuzzSeeds)], fuzzSeeds[(i+2)%len(fuzzSeeds)], uint8(i*13), uint8(i*5), uint8(i*3))
	}
	m := newMapper(f, fuzzOptions())
	f.Fuzz(func(t *testing.T, a, b, c string, nLast, nThere, nWant uint8) {
		list := func(n uint8, salt string) []string {
			var out []string
			for i := range int(n % 26) {
				name, _ := Fit([]string{a, b, c}[i%3]+salt+string(rune('a'+i)), 0)
				if name != "" && !slices.ContainsFunc(out, func(s string) bool { return Key(s) == Key(name) }) {
					out = append(out, name)
				}
			}
			slices.Sort(out)
			return out
		}
		last := OhoContact{Tags: list(nLast, "")}
		there := OhoContact{Tags: list(nThere, "")}
		want := OhoContact{Tags: list(nWant, "")}
		if len(want.Tags) > 20 {
			want.Tags = want.Tags[:20]
		}
		mg := m.MergeOho(contact.Contact{}, &last, there, want)
		keys := func(ss []string) map[string]bool {
			out := map[string]bool{}
			for _, s := range ss {
				out[Key(s)] = true
			}
			return out
		}
		got, inLast, inWant := keys(mg.Result.Tags), keys(last.Tags), keys(want.Tags)
		agents := 0
		for _, s := range there.Tags {
			if !inLast[Key(s)] && !inWant[Key(s)] {
				agents++
				if !got[Key(s)] {
					t.Fatalf("tag %q set in Oho was erased: %v", s, mg.Result.Tags)
				}
			}
		}
		for _, s := range last.Tags {
			if !inWant[Key(s)] && got[Key(s)] && agents <= 20 {
				t.Fatalf("tag %q crmsync no longer wants is still there: %v", s, mg.Result.Tags)
			}
		}
		if agents <= 20 && len(mg.Result.Tags) > 20 {
			t.Fatalf("%d tags after the merge", len(mg.Result.Tags))
		}
		if !slices.IsSorted(mg.Result.Tags) {
			t.Fatalf("not sorted: %v", mg.Result.Tags)
		}
		next := want.WithoutCapDrops(mg.Changes)
		again := m.MergeOho(contact.Contact{}, &next, mg.Result, want)
		if again.Update.Tags != nil && agents <= 20 && len(mg.Changes) == 0 {
			t.Fatalf("merging again sends tags %v (from %v)", *again.Update.Tags, mg.Result.Tags)
		}
	})
}
