package mapping

import (
	"encoding/base64"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/width"

	"crmsync/contact"
)

// foldDigits turns Thai (๐-๙) and full-width (０-９) digits into ASCII, and
// reports whether it changed anything.
func foldDigits(s string) (string, bool) {
	out := strings.Map(func(r rune) rune {
		switch {
		case r >= '๐' && r <= '๙':
			return '0' + (r - '๐')
		case r >= '０' && r <= '９':
			return '0' + (r - '０')
		}
		return r
	}, s)
	return out, out != s
}

// parsePhone reads raw (Thai and full-width digits too) as a valid number,
// numbers without a country code in region, and removes an extension. ok is
// false when it is not a valid number; why then says why, else it lists what
// was done besides formatting.
func parsePhone(raw, region string) (num *phonenumbers.PhoneNumber, notes []string, why string, ok bool) {
	s, _ := foldDigits(width.Fold.String(raw))
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		return nil, nil, "not a phone number", false
	}
	if !phonenumbers.IsValidNumber(num) {
		return nil, nil, "not a valid phone number", false
	}
	if num.GetExtension() != "" {
		num.Extension = nil
		notes = append(notes, "extension removed")
	}
	return num, notes, "", true
}

// inRegion reports whether num is a number of region (by country code).
func inRegion(num *phonenumbers.PhoneNumber, region string) bool {
	return int(num.GetCountryCode()) == phonenumbers.GetCountryCodeForRegion(region)
}

// national returns num's national number as digits (+66812345678 → 0812345678).
func national(num *phonenumbers.PhoneNumber) string {
	return digitsOnly(phonenumbers.Format(num, phonenumbers.NATIONAL))
}

// formatPhone writes a phone number as digits: numbers of the default
// region in national digits (+66812345678 → 0812345678), others in E.164
// (foreign == "e164") or not at all. ok is false when the number is dropped;
// why then says why, else it describes the rewrite ("" when none). It is the
// phone_local source's form; Oho's own phone field goes through ohoPhone,
// which holds Oho's documented form.
func formatPhone(raw, region, foreign string) (out, why string, ok bool) {
	num, notes, why, ok := parsePhone(raw, region)
	if !ok {
		return "", why, false
	}
	if inRegion(num, region) {
		out = national(num)
		notes = append(notes, "national format for "+region)
	} else {
		if foreign == ForeignPhoneDrop {
			return "", "number outside " + region, false
		}
		out = phonenumbers.Format(num, phonenumbers.E164)
		notes = append(notes, "E.164 for a number outside "+region)
	}
	if n := Length(out); n > ohoPhoneLimit.Max {
		return "", fmt.Sprintf("%d characters once formatted, max %d", n, ohoPhoneLimit.Max), false
	}
	if d := strings.TrimPrefix(out, "+"); d == "" || digitsOnly(d) != d { // cannot happen: both formats are digits
		return "", "cannot be written as digits", false
	}
	if out == raw {
		return out, "", true
	}
	return out, strings.Join(notes, "; "), true
}

// ohoPhone writes a phone number in the only form the Oho reference
// documents, '0987654321': national digits with their leading 0. A number
// of region is written so when its national form has that shape. Another
// country's number (or one of region whose national form does not begin
// with 0) has no documented form; oho.foreign_phone decides:
// ForeignPhoneDrop (the default) leaves it out, ForeignPhoneDial writes it
// as dialled from region (dialPrefix, the country code and the number:
// from TH, 001886966633355, which keeps the documented shape) and
// ForeignPhoneE164 sends +886966633355, which Oho does not document. ok is
// false when the number is dropped; why then says why, else it describes
// the rewrite ("" when none).
func ohoPhone(raw, region, foreign, dialPrefix string) (out, why string, ok bool) {
	num, notes, why, ok := parsePhone(raw, region)
	if !ok {
		return "", why, false
	}
	local := inRegion(num, region)
	switch {
	case local && isOhoPhone(national(num)):
		out = national(num)
		notes = append(notes, "national format for "+region)
	case foreign == ForeignPhoneE164:
		out = phonenumbers.Format(num, phonenumbers.E164)
		notes = append(notes, "E.164 (mapping.oho.foreign_phone: e164), a form Oho does not document")
	case foreign == ForeignPhoneDial && !local:
		out = dialPrefix + strconv.Itoa(int(num.GetCountryCode())) + phonenumbers.GetNationalSignificantNumber(num)
		notes = append(notes, "as dialled from "+region+" with international prefix "+dialPrefix+" (mapping.oho.foreign_phone: dial)")
	case local:
		return "", fmt.Sprintf("the national form of a %s number (%s) does not begin with 0, the only form Oho documents ('0987654321')", region, national(num)), false
	default:
		return "", fmt.Sprintf("a number outside %s has no form Oho documents (only national numbers like '0987654321'; mapping.oho.foreign_phone: %s)", region, foreign), false
	}
	if n := Length(out); n > ohoPhoneLimit.Max {
		return "", fmt.Sprintf("%d characters once formatted, max %d", n, ohoPhoneLimit.Max), false
	}
	if out == raw {
		return out, "", true
	}
	return out, strings.Join(notes, "; "), true
}

func digitsOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// isOhoPhone reports whether s has the form the Oho reference documents for
// phone ('0987654321'): digits only, the first a 0, within the phone limit.
func isOhoPhone(s string) bool {
	return len(s) >= 2 && s[0] == '0' && len(s) <= ohoPhoneLimit.Max && digitsOnly(s) == s
}

// regionDialPrefix returns region's international call prefix when it has
// exactly one, as libphonenumber writes it before a foreign number dialled
// from region (US 011, JP 010, GB 00); "" when it has several, as TH has
// (001, 007, 008, 009: libphonenumber writes the pattern 00[1-9]).
func regionDialPrefix(region string) string {
	other := "GB"
	if phonenumbers.GetCountryCodeForRegion(region) == phonenumbers.GetCountryCodeForRegion(other) {
		other = "US"
	}
	ex := phonenumbers.GetExampleNumber(other)
	if ex == nil {
		return ""
	}
	parts := strings.Fields(phonenumbers.FormatOutOfCountryCallingNumber(ex, region))
	if len(parts) < 2 || parts[0] == "" || digitsOnly(parts[0]) != parts[0] || parts[1] != strconv.Itoa(int(ex.GetCountryCode())) {
		return ""
	}
	return parts[0]
}

// normaliseEmail lower-cases an address and takes it out of a "Name <addr>"
// form. ok is false when the result is not a plain, valid address within
// the email limit; why then says why.
func normaliseEmail(s string) (out, why string, ok bool) {
	out = strings.ToLower(s)
	if a, err := mail.ParseAddress(out); err == nil && a.Address != out {
		out = strings.ToLower(a.Address)
	}
	if n := Length(out); n > ohoEmailLimit.Max {
		return "", fmt.Sprintf("%d characters, max %d (an address cannot be cut)", n, ohoEmailLimit.Max), false
	}
	if !isEmail(out) {
		return "", "not a valid email address", false
	}
	switch {
	case out == s:
		return out, "", true
	case strings.ToLower(s) == out:
		return out, "lower-cased", true
	}
	return out, "address taken from a display-name form", true
}

// isEmail is deliberately stricter than RFC 5322 so that any reasonable
// receiver accepts what passes: local@domain, a dot-atom local part of at
// most 64 bytes (ASCII atext or letters and digits of any script), a domain
// of at least two labels of letters, digits and inner hyphens, a top-level
// label that is not all digits, and at most 254 characters. It also
// requires net/mail to read s back as exactly this bare address, which is
// how receivers written in Go tend to check.
func isEmail(s string) bool {
	if a, err := mail.ParseAddress(s); err != nil || a.Address != s || a.Name != "" {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || len(local) > 64 || Length(s) > ohoEmailLimit.Max {
		return false
	}
	for _, part := range strings.Split(local, ".") {
		if part == "" {
			return false
		}
		for _, r := range part {
			if !(r < 0x80 && strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-", r)) &&
				!(r >= 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))) {
				return false
			}
		}
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return false
		}
		for _, r := range l {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
				return false
			}
		}
	}
	return digitsOnly(labels[len(labels)-1]) != labels[len(labels)-1]
}

// The spellings recognised as a gender, compared after Key. Anything else
// non-empty becomes not_say (the vendor's default).
var genderWords = func() map[string]string {
	m := map[string]string{}
	for g, words := range map[string][]string{
		"male":    {"m", "male", "man", "boy", "ชาย", "ผู้ชาย", "เพศชาย", "นาย"},
		"female":  {"f", "female", "woman", "girl", "หญิง", "ผู้หญิง", "เพศหญิง", "นาง", "นางสาว"},
		"not_say": {"not_say", "not say", "prefer not to say", "ไม่ระบุ"},
	} {
		for _, w := range words {
			m[Key(w)] = g
		}
	}
	return m
}()

// normaliseGender maps a free-text gender to Oho's enum. known is false when
// the value was not recognised and became not_say.
func normaliseGender(s string) (g string, known bool) {
	if g, ok := genderWords[Key(s)]; ok {
		return g, true
	}
	return "not_say", false
}

// parseAge reads a whole number of years (Thai and full-width digits too,
// "25.0" as 25). ok is false when it is not one or is outside 1..99.
func parseAge(s string) (age int, why string, ok bool) {
	d, _ := foldDigits(s)
	n, err := strconv.Atoi(d)
	if err != nil {
		f, ferr := strconv.ParseFloat(d, 64)
		if ferr != nil || f != float64(int(f)) || f < -1e6 || f > 1e6 {
			return 0, "not a whole number of years", false
		}
		n = int(f)
	}
	if err := ohoAgeLimit.CheckCount(n); err != nil {
		return 0, fmt.Sprintf("%d is outside %d..%d", n, ohoAgeLimit.Min, ohoAgeLimit.Max), false
	}
	return n, "", true
}

var (
	ymdRE = regexp.MustCompile(`^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$`)
	dmyRE = regexp.MustCompile(`^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?$`)
	isoRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// buddhistEra is how far the Thai solar calendar's years run ahead (พ.ศ. 2541 = 1998).
const buddhistEra = 543

// parseBirthDate reads a date or datetime (as Omnichat writes them:
// 2011-12-03, 2011-12-03T10:15:30, also with a zone or a space, and
// DD/MM/YYYY) and returns it as YYYY-MM-DD. The calendar date is taken as
// written: a time or zone after it is ignored. A year in the Buddhist era
// (after today's year and at least 1900 once 543 is taken off) is converted.
// ok is false for impossible dates, dates before 1900 or after today
// (in loc), and 1970-01-01, which Omnichat stores for a cleared date.
func parseBirthDate(s string, now time.Time, loc *time.Location) (out, why string, ok bool) {
	d, _ := foldDigits(s)
	var y, m, dd int
	if g := ymdRE.FindStringSubmatch(d); g != nil {
		y, m, dd = atoi(g[1]), atoi(g[2]), atoi(g[3])
	} else if g := dmyRE.FindStringSubmatch(d); g != nil {
		dd, m, y = atoi(g[1]), atoi(g[2]), atoi(g[3])
	} else {
		return "", "not a date (want YYYY-MM-DD, an ISO datetime or DD/MM/YYYY)", false
	}
	today := now.In(loc)
	var notes []string
	if y > today.Year() && y-buddhistEra >= 1900 && y-buddhistEra <= today.Year() {
		y -= buddhistEra
		notes = append(notes, "Buddhist-era year converted")
	}
	t := time.Date(y, time.Month(m), dd, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != m || t.Day() != dd {
		return "", "not a calendar date", false
	}
	out = t.Format(time.DateOnly)
	switch {
	case y < 1900:
		return "", "year before 1900", false
	case out > today.Format(time.DateOnly):
		return "", "in the future", false
	case out == "1970-01-01":
		return "", "1970-01-01 is how Omnichat stores a cleared date", false
	}
	if out != s {
		notes = append(notes, "written as YYYY-MM-DD")
	}
	return out, strings.Join(notes, "; "), true
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// parseISODate accepts exactly YYYY-MM-DD naming a real calendar date.
func parseISODate(s string) (time.Time, bool) {
	if !isoRE.MatchString(s) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}

// OkeybotContactID returns the contact id as it goes into an Okeybot URL
// path: Base64 (standard alphabet, padded) for Viber, as the vendor requires,
// unchanged otherwise. The client must still path-escape it (url.PathEscape),
// since standard Base64 may contain "/" and "+".
func OkeybotContactID(p contact.Platform, id string) string {
	if p == contact.Viber {
		return base64.StdEncoding.EncodeToString([]byte(id))
	}
	return id
}

func isBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil && s != ""
}
