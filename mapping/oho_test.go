package mapping

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
)

// mapField maps a contact whose attribute "v" holds give, with field fed by
// attr:v, and returns the payload and the changes to field.
func mapField(t *testing.T, o Options, field, give string) (OhoContact, []Change) {
	t.Helper()
	m := newMapper(t, o)
	lc := baseCase()
	setAttr(&lc.c, "v", give)
	p, cs, err := m.ToOho(lc.c, lc.id, lc.tg, now)
	require.NoError(t, err)
	require.NoError(t, p.Check())
	return p, changesOf(cs, field)
}

// requireLastKind requires no change when kind is 0, else a last change of kind.
func requireLastKind(t *testing.T, cs []Change, kind ChangeKind) {
	t.Helper()
	if kind == 0 {
		require.Empty(t, cs)
		return
	}
	require.Equal(t, kind, cs[len(cs)-1].Kind, "%v", cs)
}

func TestMapper_ToOho_gender(t *testing.T) {
	t.Parallel()
	o := limitsOptions()
	o.Oho.Fields.Gender = "attr:v"
	tests := []struct {
		give string
		want string
		kind ChangeKind // 0: no change
	}{
		{give: "male", want: "male"},
		{give: "female", want: "female"},
		{give: "not_say", want: "not_say"},
		{give: "M", want: "male", kind: Normalised},
		{give: "f", want: "female", kind: Normalised},
		{give: "Male", want: "male", kind: Normalised},
		{give: "ＦＥＭＡＬＥ", want: "female", kind: Normalised},
		{give: "หญิง", want: "female", kind: Normalised},
		{give: "ชาย", want: "male", kind: Normalised},
		{give: "ผู้หญิง", want: "female", kind: Normalised},
		{give: "ไม่ระบุ", want: "not_say", kind: Normalised},
		{give: " woman ", want: "female", kind: Normalised},
		{give: "other", want: "not_say", kind: Defaulted},
		{give: "x", want: "not_say", kind: Defaulted},
		{give: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			p, cs := mapField(t, o, "gender", tt.give)
			require.Equal(t, tt.want, p.Gender)
			requireLastKind(t, cs, tt.kind)
			if tt.kind != 0 {
				require.Equal(t, tt.want, cs[len(cs)-1].After)
			}
		})
	}
}

func TestMapper_ToOho_phone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		give    string
		region  string
		foreign string
		prefix  string
		want    string
		kind    ChangeKind
		reason  string
	}{
		{name: "ThaiMobile", give: "+66812345678", want: "0812345678", kind: Normalised},
		{name: "VendorExample", give: "+66987654321", want: "0987654321", kind: Normalised},
		{name: "BangkokLandline", give: "+6621234567", want: "021234567", kind: Normalised},
		{name: "AlreadyLocal", give: "0812345678", want: "0812345678"},
		{name: "Spaced", give: "081-234-5678", want: "0812345678", kind: Normalised},
		{name: "ThaiDigits", give: "๐๘๑๒๓๔๕๖๗๘", want: "0812345678", kind: Normalised},
		{name: "Extension", give: "+66 2 123 4567 ext. 12", want: "021234567", kind: Normalised},
		{name: "ForeignDroppedByDefault", give: "+886966633355", want: "", kind: Dropped,
			reason: "a number outside TH has no form Oho documents (only national numbers like '0987654321'; mapping.oho.foreign_phone: drop)"},
		{name: "OmnichatsForeignDigitsDropped", give: "886966633355", want: "", kind: Dropped},
		{name: "ForeignDialledFromThailand", give: "+886966633355", foreign: "dial", prefix: "001", want: "001886966633355", kind: Normalised,
			reason: "as dialled from TH with international prefix 001 (mapping.oho.foreign_phone: dial)"},
		{name: "ForeignDialledFromJapanWithItsOwnPrefix", give: "+886966633355", region: "JP", foreign: "dial", want: "010886966633355", kind: Normalised},
		{name: "LocalNumberIsNotDialledAbroad", give: "+66812345678", foreign: "dial", prefix: "001", want: "0812345678", kind: Normalised},
		{name: "ForeignE164OnRequest", give: "+1 212 555 0123", foreign: "e164", want: "+12125550123", kind: Normalised},
		{name: "RegionWhoseNationalFormHasNoLeadingZero", give: "+12125550123", region: "US", want: "", kind: Dropped,
			reason: "the national form of a US number (2125550123) does not begin with 0, the only form Oho documents ('0987654321')"},
		{name: "RegionLeadingZeroKept", give: "+819012345678", region: "JP", want: "09012345678", kind: Normalised},
		{name: "TooLong", give: "+6681234567899", want: "", kind: Dropped},
		{name: "NotANumber", give: "call me", want: "", kind: Dropped},
		{name: "Empty", give: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := limitsOptions()
			o.Oho.Fields.Phone = "attr:v"
			o.DefaultRegion, o.Oho.ForeignPhone, o.Oho.DialPrefix = tt.region, tt.foreign, tt.prefix
			lc := baseCase()
			setAttr(&lc.c, "v", tt.give)
			p, all, err := newMapper(t, o).ToOho(lc.c, lc.id, lc.tg, now)
			require.NoError(t, err)
			cs := changesOf(all, "phone")
			require.Equal(t, tt.want, p.Phone)
			require.LessOrEqual(t, len(p.Phone), 20)
			requireLastKind(t, cs, tt.kind)
			if tt.reason != "" {
				require.Equal(t, tt.reason, cs[len(cs)-1].Reason)
			}
			if tt.foreign != "e164" {
				require.NoError(t, p.Check(), "the documented form, or no phone")
			} else {
				require.ErrorContains(t, p.Check(), "phone: not in format 0987654321", "E.164 is not Oho's documented form")
			}
		})
	}
}

func TestMapper_ToOho_email(t *testing.T) {
	t.Parallel()
	o := limitsOptions()
	o.Oho.Fields.Email = "attr:v"
	tests := []struct {
		give string
		want string
		kind ChangeKind
	}{
		{give: "hello@oho.chat", want: "hello@oho.chat"},
		{give: "Hello@Oho.Chat", want: "hello@oho.chat", kind: Normalised},
		{give: "Fang <fang@oho.chat>", want: "fang@oho.chat", kind: Normalised},
		{give: "first.last+tag@mail.example.co.th", want: "first.last+tag@mail.example.co.th"},
		{give: "สมชาย@ตัวอย่าง.ไทย", want: "สมชาย@ตัวอย่าง.ไทย"},
		{give: "not-an-email", want: "", kind: Dropped},
		{give: "user@localhost", want: "", kind: Dropped},
		{give: "a..b@x.com", want: "", kind: Dropped},
		{give: "a b@x.com", want: "", kind: Dropped},
		{give: `"a b"@x.com`, want: "", kind: Dropped},
		{give: "a@x.123", want: "", kind: Dropped},
		{give: "a@-x.com", want: "", kind: Dropped},
		{give: "two@at@x.com", want: "", kind: Dropped},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			p, cs := mapField(t, o, "email", tt.give)
			require.Equal(t, tt.want, p.Email)
			requireLastKind(t, cs, tt.kind)
		})
	}
}

func TestMapper_ToOho_birthDate(t *testing.T) {
	t.Parallel()
	o := limitsOptions()
	o.Oho.Fields.BirthDate = "attr:v"
	tests := []struct {
		give string
		want string
		kind ChangeKind
	}{
		{give: "1998-11-29", want: "1998-11-29"},
		{give: "1998-11-29T10:15:30", want: "1998-11-29", kind: Normalised},
		{give: "1998-11-29T23:30:00+07:00", want: "1998-11-29", kind: Normalised},
		{give: "1998-11-29 10:15", want: "1998-11-29", kind: Normalised},
		{give: "29/11/1998", want: "1998-11-29", kind: Normalised},
		{give: "1/2/1998", want: "1998-02-01", kind: Normalised},
		{give: "2541-11-29", want: "1998-11-29", kind: Normalised},
		{give: "29/11/2541", want: "1998-11-29", kind: Normalised},
		{give: "2543-02-29", want: "2000-02-29", kind: Normalised}, // a leap day in both calendars
		{give: "๒๙/๑๑/๒๕๔๑", want: "1998-11-29", kind: Normalised},
		{give: "2025-06-01", want: "2025-06-01"},
		{give: "2025-06-02", want: "", kind: Dropped},
		{give: "2030-01-01", want: "", kind: Dropped},
		{give: "1998-02-30", want: "", kind: Dropped},
		{give: "1899-12-31", want: "", kind: Dropped},
		{give: "1970-01-01", want: "", kind: Dropped},
		{give: "29 Nov 1998", want: "", kind: Dropped},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			p, cs := mapField(t, o, "birth_date", tt.give)
			require.Equal(t, tt.want, p.BirthDate)
			requireLastKind(t, cs, tt.kind)
		})
	}
}

func TestMapper_ToOho_birthDateToday(t *testing.T) {
	t.Parallel()
	// 2025-06-01 12:00 UTC is already 2025-06-02 in Auckland: the date counts
	// as today there, not as the future.
	o := limitsOptions()
	o.Oho.Fields.BirthDate = "attr:v"
	o.Location = time.FixedZone("NZST", 12*3600)
	p, cs := mapField(t, o, "birth_date", "2025-06-02")
	require.Equal(t, "2025-06-02", p.BirthDate)
	require.Empty(t, cs)
}

func TestMapper_ToOho_countryCity(t *testing.T) {
	t.Parallel()
	o := limitsOptions()
	o.Oho.Fields.Country = "attr:v"
	o.Oho.Countries = []EnumValue{{Value: "ไทย", Aliases: []string{"Thailand", "TH"}}}
	tests := []struct {
		give, want string
		kind       ChangeKind
	}{
		{give: "ไทย", want: "ไทย"},
		{give: "thailand", want: "ไทย", kind: Normalised},
		{give: "ＴＨ", want: "ไทย", kind: Normalised},
		{give: "Laos", want: "", kind: Dropped},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			p, cs := mapField(t, o, "country", tt.give)
			require.Equal(t, tt.want, p.Country)
			if tt.kind != 0 {
				require.Equal(t, tt.kind, cs[len(cs)-1].Kind)
			}
		})
	}
}

func TestMapper_ToOho_platforms(t *testing.T) {
	t.Parallel()
	m := newMapper(t, fullOptions())

	t.Run("WhatsAppSkipped", func(t *testing.T) {
		t.Parallel()
		p, cs, err := m.ToOho(fang(), waID, lineTarget, now)
		require.ErrorIs(t, err, ErrUnsupportedPlatform)
		require.ErrorIs(t, err, ErrDoesNotFit)
		require.Equal(t, OhoContact{}, p)
		require.Equal(t, []Change{{Field: "social_profile.platform", Kind: Rejected, Before: "whatsapp",
			Reason: `platform "whatsapp" is not served by Oho (line, facebook, instagram only)`}}, cs)
	})

	t.Run("FacebookHasNoBasicID", func(t *testing.T) {
		t.Parallel()
		tg := fbTarget
		tg.LineBasicID = "@129oruit"
		p, cs, err := m.ToOho(fang(), fbID, tg, now)
		require.NoError(t, err)
		require.Empty(t, p.SocialProfile.LineBasicID)
		require.Equal(t, "facebook", p.SocialProfile.Platform)
		require.Equal(t, "Fang Fb", p.PlatformDisplayName, "the identity's own name")
		require.Equal(t, defaultPic, p.ProfilePictureURL)
		require.Equal(t, []ChangeKind{Dropped}, kinds(changesOf(cs, "social_profile.line_basic_id")))
		require.Equal(t, []ChangeKind{Defaulted}, kinds(changesOf(cs, "profile_picture_url")))
		b, err := json.Marshal(p.SocialProfile)
		require.NoError(t, err)
		require.NotContains(t, string(b), "line_basic_id")
	})

	t.Run("LineWithoutBasicIDRejected", func(t *testing.T) {
		t.Parallel()
		tg := lineTarget
		tg.LineBasicID = ""
		_, _, err := m.ToOho(fang(), lineID, tg, now)
		var rej *Rejection
		require.ErrorAs(t, err, &rej)
		require.Equal(t, "social_profile.line_basic_id", rej.Field)
		require.Equal(t, "line/1656789012/"+lineUser, rej.Identity)
	})
}

func TestOhoIdentities(t *testing.T) {
	t.Parallel()
	ids, cs := OhoIdentities(fang())
	require.Equal(t, []contact.Identity{fbID, lineID}, ids)
	require.Equal(t, []Change{{Field: "social_profile.platform", Kind: Dropped, Before: waID.String(),
		Reason: `platform "whatsapp" is not served by Oho (line, facebook, instagram only)`}}, cs)
}

func TestMapper_ToOho_picture(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		give       string
		defaultPic string
		want       string
		kinds      []ChangeKind
	}{
		{name: "FromProfile", give: "https://profile.line-scdn.net/abc", defaultPic: defaultPic, want: "https://profile.line-scdn.net/abc"},
		{name: "MissingUsesDefault", give: "", defaultPic: defaultPic, want: defaultPic, kinds: []ChangeKind{Defaulted}},
		{name: "RelativeUsesDefault", give: "/img/a.png", defaultPic: defaultPic, want: defaultPic, kinds: []ChangeKind{Dropped, Defaulted}},
		{name: "SpaceUsesDefault", give: "https://x.example/a b.png", defaultPic: defaultPic, want: defaultPic, kinds: []ChangeKind{Dropped, Defaulted}},
		{name: "MissingWithoutDefaultRejected", give: "", want: "", kinds: []ChangeKind{Rejected}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := limitsOptions()
			o.Oho.DefaultPictureURL = tt.defaultPic
			m := newMapper(t, o)
			lc := baseCase()
			lc.tg.PictureURL = tt.give
			p, cs, err := m.ToOho(lc.c, lc.id, lc.tg, now)
			require.Equal(t, tt.want, p.ProfilePictureURL)
			require.Equal(t, tt.kinds, kinds(changesOf(cs, "profile_picture_url")))
			if tt.want == "" {
				var rej *Rejection
				require.ErrorAs(t, err, &rej)
				require.Equal(t, "profile_picture_url", rej.Field)
				var le *LimitError
				require.ErrorAs(t, err, &le)
				require.Equal(t, "required", le.Why)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestMapper_ToOho_nameFallbacks(t *testing.T) {
	t.Parallel()
	m := newMapper(t, limitsOptions())
	tests := []struct {
		name                                 string
		originalName, profileName, master    string
		wantPlatform, wantDisplay, wantFirst string
		wantDefaulted                        []string
	}{
		{name: "AllKnown", originalName: "LINE name", profileName: "Omnichat name", master: "Master",
			wantPlatform: "LINE name", wantDisplay: "Master", wantFirst: "Master", wantDefaulted: []string{"first_name"}},
		{name: "NoProfileCall", profileName: "Omnichat name", master: "Master",
			wantPlatform: "Omnichat name", wantDisplay: "Master", wantFirst: "Master", wantDefaulted: []string{"first_name"}},
		{name: "NoMasterName", profileName: "Omnichat name",
			wantPlatform: "Omnichat name", wantDisplay: "Omnichat name", wantFirst: "Omnichat name", wantDefaulted: []string{"display_name", "first_name"}},
		{name: "OnlyMasterName", master: "Master",
			wantPlatform: "Master", wantDisplay: "Master", wantFirst: "Master", wantDefaulted: []string{"platform_display_name", "first_name"}},
		{name: "NoNameAtAll", originalName: "  ",
			wantPlatform: lineUser, wantDisplay: lineUser, wantFirst: lineUser, wantDefaulted: []string{"platform_display_name", "display_name", "first_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lc := baseCase()
			lc.c.Name = tt.master
			lc.c.Identities[0].Name = tt.profileName
			lc.tg.OriginalName = tt.originalName
			p, cs, err := m.ToOho(lc.c, lc.id, lc.tg, now)
			require.NoError(t, err)
			require.Equal(t, tt.wantPlatform, p.PlatformDisplayName)
			require.Equal(t, tt.wantDisplay, p.DisplayName)
			require.Equal(t, tt.wantFirst, p.FirstName)
			var defaulted []string
			for _, c := range cs {
				if c.Kind == Defaulted && c.Field != "profile_picture_url" {
					defaulted = append(defaulted, c.Field)
				}
			}
			require.Equal(t, tt.wantDefaulted, defaulted)
		})
	}
}

func TestMapper_ToOho_userIDRejected(t *testing.T) {
	t.Parallel()
	m := newMapper(t, limitsOptions())
	for _, give := range []string{"", " U123", "U\x00", "U\xff"} {
		lc := baseCase()
		lc.id.UserID = give
		lc.c.Identities[0].UserID = give
		p, cs, err := m.ToOho(lc.c, lc.id, lc.tg, now)
		var rej *Rejection
		require.ErrorAs(t, err, &rej, "%q", give)
		require.Equal(t, "social_profile.id", rej.Field)
		require.Equal(t, OhoContact{}, p)
		for _, c := range cs {
			require.NotContains(t, c.Before, "\x00", "changes stay clean text")
		}
	}
}

func TestMapper_ToOho_tagPriority(t *testing.T) {
	t.Parallel()
	o := limitsOptions()
	o.TagPriority = []string{"vip*", "re:^ลูกค้า"}
	m := newMapper(t, o)
	lc := baseCase()
	old := now.Add(-30 * 24 * time.Hour)
	// 18 plain tags, newest first t00 … t17, then priority tags applied long ago.
	for i := range 18 {
		lc.c.Tags = append(lc.c.Tags, contact.Tag{Name: fmt.Sprintf("t%02d", i), AppliedAt: now.Add(-time.Duration(i) * time.Hour)})
	}
	lc.c.Tags = append(lc.c.Tags,
		contact.Tag{Name: "VIP Gold", AppliedAt: old},
		contact.Tag{Name: "ลูกค้าประจำ", AppliedAt: old},
		contact.Tag{Name: "zz-no-time"},                                       // never applied: least recent
		contact.Tag{Name: "b-same-time", AppliedAt: now.Add(-17 * time.Hour)}, // ties with t17, wins on name
		contact.Tag{Name: "ｖｉｐ gold", AppliedAt: now},                         // duplicate of VIP Gold by Key
	)
	p, cs, err := m.ToOho(lc.c, lc.id, lc.tg, now)
	require.NoError(t, err)
	want := []string{"ｖｉｐ gold", "ลูกค้าประจำ", "b-same-time"}
	for i := range 17 {
		want = append(want, fmt.Sprintf("t%02d", i))
	}
	slices.Sort(want)
	require.Equal(t, want, p.Tags)
	var dropped []string
	for _, c := range changesOf(cs, "tags") {
		require.Equal(t, Dropped, c.Kind)
		dropped = append(dropped, c.Before)
	}
	require.Equal(t, []string{"VIP Gold", "t17", "zz-no-time"}, dropped, "the duplicate first, then lowest rank")
}

func TestMapper_ToOho_labels(t *testing.T) {
	t.Parallel()
	m := newMapper(t, fullOptions())
	c := fang()
	c.Facts.LastAgentMessageAt = time.Time{} // nobody answered: awaiting_reply holds
	p, _, err := m.ToOho(c, lineID, lineTarget, now)
	require.NoError(t, err)
	require.Equal(t, []string{"Oho Team", "active today", "ติดตามสินค้า", "รอตอบ"}, p.Labels)
	require.NotContains(t, p.Tags, "ติดตามสินค้า", "excluded from tags")
	require.NotContains(t, p.Tags, "ตอบภายใน 24 ชม.", "no reply: the fact tag is gone")
}

func TestMapper_ToOho_attributes(t *testing.T) {
	t.Parallel()
	o := limitsOptions()
	o.Oho.Attributes = []AttributeRule{{From: "attr:tier", DisplayName: "Tier"}, {From: "fact:messages_total", DisplayName: "messages"}, {From: "attr:*"}}
	m := newMapper(t, o)
	lc := baseCase()
	lc.c.Facts.MessagesTotal = 3
	lc.c.Attributes = []contact.Attribute{
		{Key: "z", Value: "1", DisplayName: "tier"}, // same name as the rule's "Tier": dropped
		{Key: "tier", Value: "Gold", DisplayName: "ระดับ"},
		{Key: "a", Value: "x", DisplayName: ""}, // named by key
		{Key: "first", Value: "Som"},            // used by oho.fields.first_name: left to it
		{Key: "d", Value: "1970-01-01", Type: contact.AttrDate, DisplayName: "Since"},
		{Key: "e", Value: "   ", DisplayName: "Empty"}, // no value: left out
		{Key: "n", Value: "v", DisplayName: " \x00 "},  // no name
	}
	p, cs, err := m.ToOho(lc.c, lc.id, lc.tg, now)
	require.NoError(t, err)
	require.Equal(t, []OhoAttribute{
		{DisplayName: "Tier", Value: OhoAttributeValue{Text: "Gold"}},
		{DisplayName: "messages", Value: OhoAttributeValue{Text: "3"}},
		{DisplayName: "a", Value: OhoAttributeValue{Text: "x"}},
	}, p.Attributes)
	var got []string
	for _, c := range cs {
		if c.Kind == Dropped {
			got = append(got, c.Field)
		}
	}
	require.Equal(t, []string{"attributes[Since].value.text", "attributes[].display_name", "attributes[tier].display_name"}, got)
}

func TestMapper_ToOho_deterministic(t *testing.T) {
	t.Parallel()
	m := newMapper(t, fullOptions())
	p1, cs1, err := m.ToOho(fang(), lineID, lineTarget, now)
	require.NoError(t, err)
	p2, cs2, err := m.ToOho(fang(), lineID, lineTarget, now)
	require.NoError(t, err)
	require.Equal(t, cs1, cs2)
	h1, err := Hash(p1)
	require.NoError(t, err)
	h2, err := Hash(p2)
	require.NoError(t, err)
	require.Equal(t, h1, h2)

	// Order of tags and attributes in the input does not matter.
	c := fang()
	slices.Reverse(c.Tags)
	slices.Reverse(c.Attributes)
	slices.Reverse(c.Identities)
	p3, _, err := m.ToOho(c, lineID, lineTarget, now)
	require.NoError(t, err)
	h3, err := Hash(p3)
	require.NoError(t, err)
	require.Equal(t, h1, h3)
}

func TestMapper_ToOho_concurrent(t *testing.T) {
	t.Parallel()
	m := newMapper(t, fullOptions())
	want, _, err := m.ToOho(fang(), lineID, lineTarget, now)
	require.NoError(t, err)
	var wg sync.WaitGroup
	got := make([]OhoContact, 8)
	for i := range got {
		wg.Go(func() {
			got[i], _, _ = m.ToOho(fang(), lineID, lineTarget, now)
		})
	}
	wg.Wait()
	for _, g := range got {
		require.Equal(t, want, g)
	}
}

func TestFacts(t *testing.T) {
	t.Parallel()
	h := time.Hour
	tests := []struct {
		name  string
		facts contact.Facts
		want  []string // the boolean facts that hold
	}{
		{name: "NoMessages", want: []string{"inactive_30d", "inactive_90d"}},
		{name: "RepliedIn2h", facts: contact.Facts{MessagesTotal: 2, FirstMessageAt: now.Add(-5 * h), LastCustomerMessageAt: now.Add(-5 * h), LastAgentMessageAt: now.Add(-3 * h)},
			want: []string{"has_messages", "replied_within_24h", "active_24h", "active_7d", "active_30d", "new_7d"}},
		{name: "RepliedAfter25h", facts: contact.Facts{MessagesTotal: 2, FirstMessageAt: now.Add(-60 * 24 * h), LastCustomerMessageAt: now.Add(-50 * h), LastAgentMessageAt: now.Add(-25 * h)},
			want: []string{"has_messages", "active_7d", "active_30d"}},
		{name: "Awaiting", facts: contact.Facts{MessagesTotal: 3, FirstMessageAt: now.Add(-40 * 24 * h), LastCustomerMessageAt: now.Add(-40 * 24 * h), LastAgentMessageAt: now.Add(-41 * 24 * h)},
			want: []string{"has_messages", "awaiting_reply", "inactive_30d"}},
		{name: "ExactlyThirtyDays", facts: contact.Facts{MessagesTotal: 1, FirstMessageAt: now.Add(-30 * 24 * h), LastCustomerMessageAt: now.Add(-30 * 24 * h)},
			want: []string{"has_messages", "awaiting_reply", "active_30d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, f := range facts {
				if f.isBool && f.eval(tt.facts, now, time.UTC) == "true" {
					got = append(got, f.name)
				}
			}
			require.Equal(t, tt.want, got)
		})
	}
	f, err := lookupFact("days_since_last_customer_message", false)
	require.NoError(t, err)
	require.Equal(t, "2", f.eval(contact.Facts{LastCustomerMessageAt: now.Add(-50 * h)}, now, time.UTC))
	require.Empty(t, f.eval(contact.Facts{}, now, time.UTC))
	f, err = lookupFact("last_customer_message_at", false)
	require.NoError(t, err)
	require.Equal(t, "2025-06-01T14:00:00+07:00", f.eval(contact.Facts{LastCustomerMessageAt: now.Add(-5 * h)}, now, time.FixedZone("ICT", 7*3600)))
	f, err = lookupFact("channels", false)
	require.NoError(t, err)
	require.Equal(t, "facebook/1, line/2", f.eval(contact.Facts{Channels: []string{"line/2", "facebook/1", "line/2"}}, now, time.UTC))
}
