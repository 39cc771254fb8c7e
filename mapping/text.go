package mapping

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// Fitted reports what Fit did to a text.
type Fitted struct {
	Repaired  bool // invalid UTF-8 was replaced with U+FFFD
	Stripped  bool // control characters other than tab, newline and carriage return were removed
	Trimmed   bool // leading or trailing white space was removed
	Truncated bool // the text was cut on a grapheme-cluster boundary to fit max
}

// Changed reports whether Fit changed anything.
func (f Fitted) Changed() bool { return f.Repaired || f.Stripped || f.Trimmed || f.Truncated }

// Fit makes s a clean text of at most max characters as Length counts them
// (max ≤ 0: no limit), so it fits whether the destination counts code points
// or UTF-16 code units. In order, it:
//
//  1. replaces each run of invalid UTF-8 with U+FFFD;
//  2. removes control characters (Unicode Cc) other than tab, newline and
//     carriage return: they are invisible, and PostgreSQL refuses U+0000;
//  3. trims leading and trailing white space;
//  4. cuts at the last grapheme-cluster boundary (UAX #29, github.com/rivo/uniseg)
//     that keeps Length at most max, so a base letter keeps its
//     combining marks and an emoji ZWJ sequence or flag stays whole, then
//     trims trailing white space again.
//
// A single cluster longer than max is not split: the result is then "".
// Fit is idempotent: Fit(Fit(s, n), n) returns the same text, unchanged.
func Fit(s string, max int) (string, Fitted) {
	var f Fitted
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
		f.Repaired = true
	}
	if strings.IndexFunc(s, isStripped) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isStripped(r) {
				return -1
			}
			return r
		}, s)
		f.Stripped = true
	}
	if t := strings.TrimSpace(s); len(t) != len(s) {
		s = t
		f.Trimmed = true
	}
	if max > 0 && Length(s) > max {
		s = cutClusters(s, max)
		f.Truncated = true
	}
	return s, f
}

func isStripped(r rune) bool {
	return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
}

// cutClusters returns the longest prefix of s made of whole grapheme
// clusters whose Length is at most max, without trailing white space.
func cutClusters(s string, max int) string {
	n, end, state := 0, 0, -1
	for rest := s; rest != ""; {
		var cluster string
		cluster, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
		k := Length(cluster)
		if n+k > max {
			break
		}
		n += k
		end += len(cluster)
	}
	return strings.TrimRightFunc(s[:end], unicode.IsSpace)
}

// Length returns the length of s as every text limit counts it: the stricter
// of its Unicode code points and its UTF-16 code units. Neither vendor says
// what a character is: a server may count code points (Python's len) or
// UTF-16 code units (JavaScript's length), and holding the larger count
// holds both. A code point outside the Basic Multilingual
// Plane (𝒇, most emoji) is one code point and two UTF-16 units, so the UTF-16
// count is never the smaller: "˚♡̴ 𝒇𝒂𝒏𝒈", the Oho document's own example name,
// is 8 code points and 12 units, Length 12. Bytes are never counted.
func Length(s string) int { return max(CodePoints(s), UTF16Units(s)) }

// CodePoints returns the Unicode code points of s (an invalid byte counts as
// one, as U+FFFD would).
func CodePoints(s string) int { return utf8.RuneCountInString(s) }

// UTF16Units returns the UTF-16 code units of s: two for a code point above
// U+FFFF (a surrogate pair), one for any other (an invalid byte counts as
// one, as U+FFFD would).
func UTF16Units(s string) int {
	n := 0
	for _, r := range s {
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// Key returns the form in which mapping compares two texts to find
// duplicates: Unicode NFC, width-folded (ｖｉｐ = vip, ｶ = カ) and case-folded
// (VIP = vip). It is only a comparison key: payloads carry the original text.
func Key(s string) string {
	if isASCII(s) { // the common case: no width or composition to fold
		return asciiLower(s)
	}
	s = norm.NFC.String(s)
	s = width.Fold.String(s)
	s = cases.Fold().String(s) // a Caser is not safe for concurrent use: one per call
	return norm.NFC.String(s)
}

// fitText runs Fit on the value of field and records what it did, step by step.
// Before values that contain invalid UTF-8 or control characters are
// recorded Go-quoted (strconv.Quote), so the change itself is clean text.
func fitText(cs *changes, field, s string, max int) string {
	out, f := Fit(s, max)
	if !f.Changed() || (out == "" && !f.Truncated) {
		// Nothing done, or nothing there: a text of only space and control
		// characters is empty, which callers treat as absent (and record as
		// dropped where a value was expected).
		return out
	}
	cur := s
	if f.Repaired || f.Stripped {
		cur = strings.Map(func(r rune) rune {
			if isStripped(r) {
				return -1
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
		why := "invalid UTF-8 replaced with U+FFFD"
		switch {
		case f.Repaired && f.Stripped:
			why += "; control characters removed"
		case f.Stripped:
			why = "control characters removed"
		}
		cs.add(field, Normalised, strconv.Quote(s), cur, why)
	}
	if f.Trimmed {
		trimmed := strings.TrimSpace(cur)
		cs.add(field, Normalised, cur, trimmed, "leading/trailing white space trimmed")
		cur = trimmed
	}
	if f.Truncated {
		cs.add(field, Truncated, cur, out, "cut to "+strconv.Itoa(max)+" characters (code points and UTF-16 units) on a character boundary")
	}
	return out
}

// cleanID checks an identifier the destination keys contacts by: it must be
// non-empty, valid UTF-8, free of control characters and surrounding space,
// and within lim. Identifiers are never repaired or cut. It returns a
// *LimitError or nil.
func cleanID(lim Limit, s string) error {
	if s == "" {
		return &LimitError{Limit: lim, Why: "required"}
	}
	if !utf8.ValidString(s) {
		return &LimitError{Limit: lim, Why: "invalid UTF-8"}
	}
	if out, f := Fit(s, 0); f.Changed() || out == "" {
		return &LimitError{Limit: lim, Why: "surrounding white space or control characters"}
	}
	return lim.Check(s)
}

// printable returns s for a Change value, Go-quoted when it holds invalid
// UTF-8 or control characters.
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, isStripped) < 0 {
		return s
	}
	return strconv.Quote(s)
}

// isClean reports whether s is non-empty and Fit leaves it as it is.
func isClean(s string) bool {
	_, f := Fit(s, 0)
	return s != "" && !f.Changed()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiLower is Unicode case folding restricted to ASCII, which is
// lower-casing A-Z (K and S fold to k and s; the Kelvin sign and long s are
// not ASCII).
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
