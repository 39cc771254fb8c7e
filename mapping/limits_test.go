package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"crmsync/contact"
)

// thai returns n Thai consonants: n code points, n grapheme clusters, 3n bytes.
func thai(n int) string { return strings.Repeat("ก", n) }

// ascii returns prefix followed by 'a's, n code points in all.
func ascii(prefix string, n int) string { return prefix + strings.Repeat("a", n-len(prefix)) }

// emailOfLen returns a valid address of exactly n characters (n ≥ 10).
func emailOfLen(n int) string {
	local := "user"
	rest := n - len(local) - 1 - len(".th") // characters left for the domain labels before ".th"
	var labels []string
	for rest > 0 {
		l := min(rest, 63)
		if rest-l == 1 { // a lone dot would need an empty label
			l--
		}
		labels = append(labels, strings.Repeat("b", l))
		rest -= l + 1
	}
	s := local + "@" + strings.Join(labels, ".") + ".th"
	if rest < 0 { // the last label's dot was not needed
		s = local + "@" + strings.Join(labels, ".") + "x.th"
	}
	return s[:len(s)-(len(s)-n)]
}

func TestEmailOfLen(t *testing.T) {
	t.Parallel()
	for _, n := range []int{10, 64, 65, 66, 67, 128, 253, 254, 255} {
		e := emailOfLen(n)
		require.Len(t, e, n, e)
		require.True(t, isEmail(e) || n > 254, e)
	}
}

// limitsOptions sends every text field the limit tables need.
func limitsOptions() Options {
	return Options{
		Oho: OhoOptions{
			DefaultPictureURL: defaultPic,
			Fields:            OhoFields{FirstName: "attr:first", LastName: "attr:last", Age: "attr:age"},
			Attributes:        []AttributeRule{{From: "attr:*"}},
			Labels:            []LabelRule{{Pattern: "label*"}},
		},
		Okeybot: OkeybotOptions{CustomFields: []FieldRule{{From: "attr:*"}}},
	}
}

// limitCase is one contact, identity and target to map.
type limitCase struct {
	c  contact.Contact
	id contact.Identity
	tg OhoTarget
}

func baseCase() *limitCase {
	return &limitCase{
		c:  contact.Contact{ID: 7, Name: "Somchai", Identities: []contact.Profile{{Identity: lineID, Name: "Somchai"}}},
		id: lineID,
		tg: lineTarget,
	}
}

func setAttr(c *contact.Contact, key, value string) {
	c.Attributes = append(c.Attributes, contact.Attribute{Key: key, Value: value, Type: contact.AttrText, DisplayName: key})
}

// TestMapper_ToOho_textLimits runs each Oho text limit exactly at its
// maximum and one over, through ToOho.
func TestMapper_ToOho_textLimits(t *testing.T) {
	t.Parallel()
	m := newMapper(t, limitsOptions())
	tests := []struct {
		limit Limit
		value func(n int) string
		put   func(lc *limitCase, v string)
		get   func(p OhoContact) string
		over  string // what one over gives: the value cut to Max ("cut"), the fallback value, or "reject"
	}{
		{limit: ohoUserIDLimit, value: func(n int) string { return ascii("U", n) },
			put: func(lc *limitCase, v string) { lc.id.UserID = v }, get: func(p OhoContact) string { return p.SocialProfile.ID }, over: "reject"},
		{limit: ohoPlatformIDLimit, value: func(n int) string { return ascii("U", n) },
			put: func(lc *limitCase, v string) { lc.tg.PlatformID = v }, get: func(p OhoContact) string { return p.SocialProfile.PlatformID }, over: "reject"},
		{limit: ohoPlatformNameLimit, value: thai,
			put: func(lc *limitCase, v string) { lc.tg.PlatformName = v }, get: func(p OhoContact) string { return p.SocialProfile.PlatformName }, over: "cut"},
		{limit: ohoLineBasicIDLimit, value: func(n int) string { return ascii("@", n) },
			put: func(lc *limitCase, v string) { lc.tg.LineBasicID = v }, get: func(p OhoContact) string { return p.SocialProfile.LineBasicID }, over: "reject"},
		{limit: ohoPictureLimit, value: func(n int) string { return ascii("https://p.example/", n) },
			put: func(lc *limitCase, v string) { lc.tg.PictureURL = v }, get: func(p OhoContact) string { return p.ProfilePictureURL }, over: defaultPic},
		{limit: ohoPlatformDisplayNameLimit, value: thai,
			put: func(lc *limitCase, v string) { lc.tg.OriginalName = v }, get: func(p OhoContact) string { return p.PlatformDisplayName }, over: "cut"},
		{limit: ohoDisplayNameLimit, value: thai,
			put: func(lc *limitCase, v string) { lc.c.Name = v }, get: func(p OhoContact) string { return p.DisplayName }, over: "cut"},
		{limit: ohoFirstNameLimit, value: thai,
			put: func(lc *limitCase, v string) { setAttr(&lc.c, "first", v) }, get: func(p OhoContact) string { return p.FirstName }, over: "cut"},
		{limit: ohoLastNameLimit, value: thai,
			put: func(lc *limitCase, v string) { setAttr(&lc.c, "last", v) }, get: func(p OhoContact) string { return p.LastName }, over: "cut"},
		{limit: ohoEmailLimit, value: emailOfLen,
			put: func(lc *limitCase, v string) { lc.c.Email = v }, get: func(p OhoContact) string { return p.Email }, over: ""},
		{limit: ohoAttrNameLimit, value: thai,
			put: func(lc *limitCase, v string) {
				lc.c.Attributes = []contact.Attribute{{Key: "k", Value: "v", Type: contact.AttrText, DisplayName: v}}
			},
			get: func(p OhoContact) string { return p.Attributes[0].DisplayName }, over: "cut"},
		{limit: ohoAttrValueLimit, value: thai,
			put: func(lc *limitCase, v string) { setAttr(&lc.c, "k", v) },
			get: func(p OhoContact) string { return p.Attributes[0].Value.Text }, over: "cut"},
	}
	for _, tt := range tests {
		t.Run(strings.NewReplacer("[]", "", ".", "_").Replace(tt.limit.Field), func(t *testing.T) {
			t.Parallel()
			max := tt.limit.Max

			t.Run("ExactlyAtLimit", func(t *testing.T) {
				t.Parallel()
				lc := baseCase()
				v := tt.value(max)
				require.Equal(t, max, utf8.RuneCountInString(v))
				tt.put(lc, v)
				p, cs, err := m.ToOho(lc.c, lc.id, lc.tg, now)
				require.NoError(t, err)
				require.Equal(t, v, tt.get(p))
				for _, c := range changesOf(cs, tt.limit.Field) {
					require.NotContains(t, []ChangeKind{Truncated, Dropped, Rejected}, c.Kind, "no loss at the limit: %v", c)
				}
				require.NoError(t, p.Check())
			})

			t.Run("OneOver", func(t *testing.T) {
				t.Parallel()
				lc := baseCase()
				v := tt.value(max + 1)
				tt.put(lc, v)
				p, cs, err := m.ToOho(lc.c, lc.id, lc.tg, now)
				switch tt.over {
				case "reject":
					var rej *Rejection
					require.ErrorAs(t, err, &rej)
					require.Equal(t, tt.limit.Field, rej.Field)
					var le *LimitError
					require.ErrorAs(t, err, &le)
					require.Equal(t, max+1, le.Got)
					require.ErrorIs(t, err, ErrDoesNotFit)
					require.Equal(t, []ChangeKind{Rejected}, kinds(changesOf(cs, tt.limit.Field)))
				case "cut":
					require.NoError(t, err)
					require.Equal(t, thai(max), tt.get(p))
					require.Equal(t, []ChangeKind{Truncated}, kinds(changesOf(cs, tt.limit.Field)))
				default:
					require.NoError(t, err)
					require.Equal(t, tt.over, tt.get(p))
					require.Contains(t, kinds(changesOf(cs, tt.limit.Field)), Dropped)
				}
				if err == nil {
					require.NoError(t, p.Check())
				}
			})

			if tt.over != "cut" {
				return
			}
			t.Run("OneOverInUTF16UnitsOnly", func(t *testing.T) {
				t.Parallel()
				lc := baseCase()
				n := max/2 + 1 // n math letters: n code points (within max), 2n UTF-16 units (over it)
				tt.put(lc, strings.Repeat("𝒇", n))
				p, cs, err := m.ToOho(lc.c, lc.id, lc.tg, now)
				require.NoError(t, err)
				require.Equal(t, strings.Repeat("𝒇", n-1), tt.get(p), "cut to fit both counts, never inside a letter")
				require.Equal(t, []ChangeKind{Truncated}, kinds(changesOf(cs, tt.limit.Field)))
				require.NoError(t, p.Check())
			})
			t.Run("OneOverWithClusterAtTheEnd", func(t *testing.T) {
				t.Parallel()
				lc := baseCase()
				tt.put(lc, thai(max-1)+"ปั") // the last cluster is two code points
				p, _, err := m.ToOho(lc.c, lc.id, lc.tg, now)
				require.NoError(t, err)
				require.Equal(t, thai(max-1), tt.get(p), "the cluster is left out whole")
			})
		})
	}
}

// changesOf returns the changes to field; attribute fields match any attribute.
func changesOf(cs []Change, field string) []Change {
	var out []Change
	for _, c := range cs {
		if c.Field == field || strings.HasPrefix(field, "attributes[]") && strings.HasPrefix(c.Field, "attributes[") &&
			strings.HasSuffix(c.Field, strings.TrimPrefix(field, "attributes[]")) {
			out = append(out, c)
		}
	}
	return out
}

func kinds(cs []Change) []ChangeKind {
	var ks []ChangeKind
	for _, c := range cs {
		ks = append(ks, c.Kind)
	}
	return ks
}

func TestMapper_ToOho_ageLimit(t *testing.T) {
	t.Parallel()
	m := newMapper(t, limitsOptions())
	tests := []struct {
		give string
		want int
	}{
		{give: "0", want: 0},
		{give: "1", want: 1},
		{give: "99", want: 99},
		{give: "100", want: 0},
		{give: "๒๕", want: 25},
		{give: "25.0", want: 25},
		{give: "25.5", want: 0},
		{give: "-1", want: 0},
		{give: "twenty", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			lc := baseCase()
			setAttr(&lc.c, "age", tt.give)
			p, cs, err := m.ToOho(lc.c, lc.id, lc.tg, now)
			require.NoError(t, err)
			require.Equal(t, tt.want, p.Age)
			if tt.want == 0 {
				require.Equal(t, []Change{{Field: "age", Kind: Dropped, Before: tt.give, Reason: cs[len(cs)-1].Reason}}, cs[len(cs)-1:])
			}
		})
	}
}

// TestMapper_ToOho_listLimits runs tags (20) and labels (10) at the limit and one over.
func TestMapper_ToOho_listLimits(t *testing.T) {
	t.Parallel()
	m := newMapper(t, limitsOptions())
	tests := []struct {
		limit  Limit
		prefix string
		get    func(p OhoContact) []string
	}{
		{limit: ohoTagsLimit, prefix: "tag", get: func(p OhoContact) []string { return p.Tags }},
		{limit: ohoLabelsLimit, prefix: "label", get: func(p OhoContact) []string { return p.Labels }},
	}
	for _, tt := range tests {
		for _, n := range []int{tt.limit.Max, tt.limit.Max + 1} {
			t.Run(fmt.Sprintf("%s%d", tt.limit.Field, n), func(t *testing.T) {
				t.Parallel()
				lc := baseCase()
				for i := range n { // tag00 is the oldest, so the one left out when over
					lc.c.Tags = append(lc.c.Tags, contact.Tag{Name: fmt.Sprintf("%s%02d", tt.prefix, i), AppliedAt: now.Add(time.Duration(i) * time.Minute)})
				}
				p, cs, err := m.ToOho(lc.c, lc.id, lc.tg, now)
				require.NoError(t, err)
				got := tt.get(p)
				require.Len(t, got, tt.limit.Max)
				require.True(t, slices.IsSorted(got))
				if n > tt.limit.Max {
					require.NotContains(t, got, tt.prefix+"00")
					require.Equal(t, Change{Field: tt.limit.Field, Kind: Dropped, Before: tt.prefix + "00", Reason: cs[len(cs)-1].Reason}, cs[len(cs)-1])
				}
				require.NoError(t, p.Check())
			})
		}
	}
}

// TestMapper_ToOkeybot_batchLimits runs the per-request limits at the limit and one over.
func TestMapper_ToOkeybot_batchLimits(t *testing.T) {
	t.Parallel()
	m := newMapper(t, limitsOptions())
	t.Run("CustomFields", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{30, 31, 61} {
			c := baseCase().c
			for i := range n {
				setAttr(&c, fmt.Sprintf("f%02d", i), "v")
			}
			plan, _ := m.ToOkeybot(c, lineID, OkeybotContact{}, now)
			var sizes []int
			for _, r := range plan.Fields {
				sizes = append(sizes, len(r.CustomFields))
			}
			want := map[int][]int{30: {30}, 31: {30, 1}, 61: {30, 30, 1}}[n]
			require.Equal(t, want, sizes)
			require.NoError(t, plan.Check())
		}
	})
	t.Run("Tags", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{10, 11} {
			c := baseCase().c
			var last OkeybotContact
			for i := range n {
				c.Tags = append(c.Tags, contact.Tag{Name: fmt.Sprintf("new%02d", i)})
				last.Tags = append(last.Tags, fmt.Sprintf("old%02d", i))
			}
			plan, _ := m.ToOkeybot(c, lineID, last, now)
			want := map[int][]int{10: {10}, 11: {10, 1}}[n]
			require.Equal(t, want, tagSizes(plan.AddTags))
			require.Equal(t, want, tagSizes(plan.RemoveTags))
			require.NoError(t, plan.Check())
		}
	})
}

func tagSizes(rs []OkeybotTagsRequest) []int {
	var sizes []int
	for _, r := range rs {
		sizes = append(sizes, len(r.Tags))
	}
	return sizes
}

// TestLimit_Check runs every documented limit exactly at its bound and one
// over, on the Limit itself. It covers phone, whose 20 characters no valid
// number reaches once formatted.
func TestLimit_Check(t *testing.T) {
	t.Parallel()
	all := append(OhoLimits(), OkeybotLimits()...)
	for _, l := range all {
		t.Run(strings.NewReplacer("[]", "", ".", "_", " ", "_").Replace(l.Field+"_"+l.Unit.String()), func(t *testing.T) {
			t.Parallel()
			require.NotEmpty(t, l.Source, "every limit quotes its doc row")
			var le *LimitError
			switch l.Unit {
			case Characters:
				at, over := thai(l.Max), thai(l.Max+1)
				if l.Field == "phone" {
					at, over = strings.Repeat("0", l.Max), strings.Repeat("0", l.Max+1)
				}
				require.NoError(t, l.Check(at))
				require.ErrorAs(t, l.Check(over), &le)
				require.Equal(t, l.Max+1, le.Got)
				require.ErrorIs(t, le, ErrDoesNotFit)
				// A code point above U+FFFF is two UTF-16 units: the stricter count holds.
				n := l.Max/2 + 1
				astral := strings.Repeat("𝒇", n)
				require.LessOrEqual(t, utf8.RuneCountInString(astral), l.Max, "within the limit in code points")
				require.ErrorAs(t, l.Check(astral), &le, "over it in UTF-16 units")
				require.Equal(t, 2*n, le.Got)
				require.NoError(t, l.Check(strings.Repeat("𝒇", l.Max/2)))
			case Items:
				require.NoError(t, l.CheckCount(l.Max))
				require.ErrorAs(t, l.CheckCount(l.Max+1), &le)
			case Number:
				require.NoError(t, l.CheckCount(l.Min))
				require.NoError(t, l.CheckCount(l.Max))
				require.ErrorAs(t, l.CheckCount(l.Min-1), &le)
				require.ErrorAs(t, l.CheckCount(l.Max+1), &le)
			case OneOf:
				for _, v := range l.Values {
					require.NoError(t, l.Check(v))
				}
				if len(l.Values) > 0 {
					require.ErrorAs(t, l.Check("other"), &le)
				}
			case Format:
				good := map[string]string{"YYYY-MM-DD": "1998-11-29", "0987654321": "0987654321", "base64": "MDEyMw=="}[l.Values[0]]
				require.NoError(t, l.Check(good))
				require.ErrorAs(t, l.Check("29/11/1998 x"), &le)
			default:
				t.Fatalf("limit %s has no unit", l.Field)
			}
			if l.Required {
				require.ErrorAs(t, l.Check(""), &le)
				require.Equal(t, "required", le.Why)
			}
		})
	}
}

func TestLimit_String(t *testing.T) {
	t.Parallel()
	require.Equal(t, "first_name: max 100 characters, required (truncate)", ohoFirstNameLimit.String())
	require.Equal(t, "age: 1..99 (drop)", ohoAgeLimit.String())
	require.Equal(t, "gender: one of male, female, not_say (default)", ohoGenderLimit.String())
	require.Equal(t, "tags: max 20 items, unique (truncate)", ohoTagsLimit.String())
	require.Equal(t, "country: one of the configured values (drop)", ohoCountryLimit.String())
}

func TestRejection_Unwrap(t *testing.T) {
	t.Parallel()
	le := &LimitError{Limit: ohoUserIDLimit, Got: 41, Why: "41 characters (41 code points, 41 UTF-16 units), max 40"}
	var err error = &Rejection{Destination: "oho", Identity: "line/1/U", Field: "social_profile.id", Reason: le.Error(), Err: le}
	require.ErrorIs(t, err, ErrDoesNotFit)
	var got *LimitError
	require.ErrorAs(t, err, &got)
	require.Equal(t, 41, got.Got)
	require.Equal(t, "oho: reject line/1/U: social_profile.id: social_profile.id: 41 characters (41 code points, 41 UTF-16 units), max 40", err.Error())
	require.False(t, errors.Is(err, ErrUnsupportedPlatform))
}
