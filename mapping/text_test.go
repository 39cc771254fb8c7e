package mapping

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestFit(t *testing.T) {
	t.Parallel()
	const (
		family = "👨\u200d👩\u200d👧\u200d👦" // 7 code points (4 emoji, 3 joiners), 11 UTF-16 units, one cluster
		fang   = "˚♡̴ 𝒇𝒂𝒏𝒈"               // ˚ ♡ U+0334 space 𝒇 𝒂 𝒏 𝒈: 8 code points, 12 UTF-16 units
		pakpao = "ปักเป้า"                // ป ั ก เ ป ้ า: 7 code points, 7 UTF-16 units, 5 clusters
	)
	tests := []struct {
		name string
		give string
		max  int
		want string
		did  Fitted
	}{
		{name: "AsciiWithin", give: "hello", max: 5, want: "hello"},
		{name: "AsciiOneOver", give: "hello!", max: 5, want: "hello", did: Fitted{Truncated: true}},
		{name: "NoLimit", give: strings.Repeat("ก", 5000), max: 0, want: strings.Repeat("ก", 5000)},
		{name: "ThaiCountsCodePointsNotBytes", give: pakpao, max: 7, want: pakpao},
		{name: "ThaiCutKeepsToneMarkWithConsonant", give: pakpao, max: 5, want: "ปักเ", did: Fitted{Truncated: true}},
		{name: "ThaiCutBeforeClusterThatDoesNotFit", give: pakpao, max: 6, want: "ปักเป้", did: Fitted{Truncated: true}},
		{name: "ThaiFirstClusterTooLong", give: pakpao, max: 1, want: "", did: Fitted{Truncated: true}},
		{name: "SeedNameWholeAtItsUTF16Length", give: fang, max: 12, want: fang},
		{name: "SeedNameCutAtItsCodePointCount", give: fang, max: 8, want: "˚♡̴ 𝒇𝒂", did: Fitted{Truncated: true}},
		{name: "SeedNameKeepsOverlayOnHeart", give: fang, max: 2, want: "˚", did: Fitted{Truncated: true}},
		{name: "SeedNameCutAfterHeart", give: fang, max: 4, want: "˚♡̴", did: Fitted{Truncated: true}},
		{name: "SeedNameMathLettersAreTwoUTF16UnitsEach", give: fang, max: 7, want: "˚♡̴ 𝒇", did: Fitted{Truncated: true}},
		{name: "SeedNameMathLetterNotHalved", give: fang, max: 5, want: "˚♡̴", did: Fitted{Truncated: true}},
		{name: "CombiningMarkStaysWithBase", give: "cafe\u0301!", max: 4, want: "caf", did: Fitted{Truncated: true}},
		{name: "CombiningMarkExactlyAtLimit", give: "cafe\u0301", max: 5, want: "cafe\u0301"},
		{name: "EmojiZWJSequenceWhole", give: "ab" + family, max: 13, want: "ab" + family},
		{name: "EmojiZWJSequenceNotSplit", give: "ab" + family, max: 12, want: "ab", did: Fitted{Truncated: true}},
		{name: "EmojiZWJSequenceNotSplitAtItsCodePointCount", give: "ab" + family, max: 9, want: "ab", did: Fitted{Truncated: true}},
		{name: "FlagNotSplit", give: "TH🇹🇭", max: 3, want: "TH", did: Fitted{Truncated: true}},
		{name: "InvalidUTF8Repaired", give: "ab\xff\xfecd", max: 10, want: "ab\uFFFDcd", did: Fitted{Repaired: true}},
		{name: "ControlCharactersRemoved", give: "a\x00b\x1bc\u0085d\te", max: 0, want: "abcd\te", did: Fitted{Stripped: true}},
		{name: "Trimmed", give: " \t x y \u00a0\n", max: 0, want: "x y", did: Fitted{Trimmed: true}},
		{name: "TrailingSpaceAfterCutTrimmed", give: "abc def", max: 4, want: "abc", did: Fitted{Truncated: true}},
		{name: "CRLFIsOneCluster", give: "ab\r\ncd", max: 3, want: "ab", did: Fitted{Truncated: true}},
		{name: "Empty", give: "", max: 3, want: ""},
		{name: "OnlySpace", give: "   ", max: 3, want: "", did: Fitted{Trimmed: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, did := Fit(tt.give, tt.max)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.did, did)
			require.True(t, utf8.ValidString(got))
			if tt.max > 0 {
				require.LessOrEqual(t, utf8.RuneCountInString(got), tt.max, "code points")
				require.LessOrEqual(t, len(utf16.Encode([]rune(got))), tt.max, "UTF-16 units")
			}
			again, did2 := Fit(got, tt.max)
			require.Equal(t, got, again, "Fit is idempotent")
			require.False(t, did2.Changed())
		})
	}
}

func TestLength(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                  string
		give                  string
		codePoints, units, nb int
	}{
		{name: "Ascii", give: "hello", codePoints: 5, units: 5, nb: 5},
		{name: "ThaiOneUnitPerCodePoint", give: "ปักเป้า", codePoints: 7, units: 7, nb: 7},
		{name: "TheOhoDocumentsExampleName", give: "˚♡̴ 𝒇𝒂𝒏𝒈", codePoints: 8, units: 12, nb: 12},
		{name: "EmojiFamily", give: "👨\u200d👩\u200d👧\u200d👦", codePoints: 7, units: 11, nb: 11},
		{name: "Flag", give: "🇹🇭", codePoints: 2, units: 4, nb: 4},
		{name: "InvalidByteCountsAsReplacement", give: "a\xffb", codePoints: 3, units: 3, nb: 3},
		{name: "Empty", give: "", codePoints: 0, units: 0, nb: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.codePoints, CodePoints(tt.give))
			require.Equal(t, tt.units, UTF16Units(tt.give))
			require.Equal(t, len(utf16.Encode([]rune(tt.give))), UTF16Units(tt.give), "as unicode/utf16 counts")
			require.Equal(t, tt.nb, Length(tt.give), "the stricter of the two")
		})
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{name: "Case", a: "VIP", b: "vip", same: true},
		{name: "FullWidth", a: "ＶＩＰ", b: "vip", same: true},
		{name: "HalfWidthKatakana", a: "ｶﾀｶﾅ", b: "カタカナ", same: true},
		{name: "ComposedAndDecomposed", a: "caf\u00e9", b: "cafe\u0301", same: true},
		{name: "GermanSharpS", a: "STRASSE", b: "straße", same: true},
		{name: "ThaiDiffers", a: "ปักเป้า", b: "ปกเปา", same: false},
		{name: "SpaceMatters", a: "vip ", b: "vip", same: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.same, Key(tt.a) == Key(tt.b), "Key(%q)=%q Key(%q)=%q", tt.a, Key(tt.a), tt.b, Key(tt.b))
		})
	}
}

func TestFitText_recordsEachStep(t *testing.T) {
	t.Parallel()
	var cs changes
	got := fitText(&cs, "first_name", " ab\xffcdef\x00 ", 4)
	require.Equal(t, "ab\uFFFDc", got)
	require.Equal(t, changes{
		{Field: "first_name", Kind: Normalised, Before: `" ab\xffcdef\x00 "`, After: " ab\uFFFDcdef ", Reason: "invalid UTF-8 replaced with U+FFFD; control characters removed"},
		{Field: "first_name", Kind: Normalised, Before: " ab\uFFFDcdef ", After: "ab\uFFFDcdef", Reason: "leading/trailing white space trimmed"},
		{Field: "first_name", Kind: Truncated, Before: "ab\uFFFDcdef", After: "ab\uFFFDc", Reason: "cut to 4 characters (code points and UTF-16 units) on a character boundary"},
	}, cs)
	for _, c := range cs {
		require.True(t, utf8.ValidString(c.Before) && utf8.ValidString(c.After), "changes are clean text: %v", c)
		require.NotContains(t, c.Before+c.After, "\x00")
	}
}

func TestChangeKind_String(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give ChangeKind
		want string
	}{
		{Truncated, "truncated"}, {Dropped, "dropped"}, {Normalised, "normalised"},
		{Defaulted, "defaulted"}, {Rejected, "rejected"}, {0, "ChangeKind(0)"}, {9, "ChangeKind(9)"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.give.String())
	}
	b, err := Truncated.MarshalText()
	require.NoError(t, err)
	require.Equal(t, "truncated", string(b))
	_, err = ChangeKind(0).MarshalText()
	require.Error(t, err)
	var k ChangeKind
	require.NoError(t, k.UnmarshalText([]byte("dropped")))
	require.Equal(t, Dropped, k)
	require.Error(t, k.UnmarshalText([]byte("lost")))
}
