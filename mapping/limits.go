package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Unit is how a limit measures a value. It records the unit the vendor
// documents; where the vendor is silent (neither says what a character is),
// the stricter reading (api-docs/README.md: "hold the stricter of code points
// and UTF-16 code units").
type Unit int

// The units a Limit can use. Start at one so the zero value is "unset".
const (
	Characters Unit = iota + 1 // Length of the text: the stricter of its code points and UTF-16 code units
	Items                      // elements of a list, or of one request
	Number                     // the numeric value itself, between Min and Max
	OneOf                      // the text must be one of Limit.Values
	Format                     // the text must follow the layout in Limit.Values[0]
)

// Runes is the old name of Characters, from when lengths counted code points only.
//
// Deprecated: use Characters, which holds the stricter of code points and UTF-16 units.
const Runes = Characters

var unitNames = [...]string{Characters: "characters", Items: "items", Number: "number", OneOf: "one of", Format: "format"}

// String returns the unit's name as docs list it, e.g. "characters".
func (u Unit) String() string {
	if u >= Characters && u <= Format {
		return unitNames[u]
	}
	return fmt.Sprintf("Unit(%d)", int(u))
}

// Policy is what mapping does with a value that breaks a limit.
type Policy int

// The policies. Start at one so the zero value is "unset".
const (
	Truncate  Policy = iota + 1 // cut text on a grapheme boundary, or keep the first Max list items by priority
	Drop                        // leave the value out (and use the documented fallback, if any)
	Reject                      // the record cannot be sent: return a *Rejection
	Split                       // spread the items over several requests of at most Max
	Default                     // replace the value with the vendor's documented default
	Normalise                   // rewrite the value into the required form; drop it when that is impossible
)

var policyNames = [...]string{Truncate: "truncate", Drop: "drop", Reject: "reject", Split: "split", Default: "default", Normalise: "normalise"}

// String returns the policy's name, e.g. "truncate".
func (p Policy) String() string {
	if p >= Truncate && p <= Normalise {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Limit is one documented constraint on a destination field.
type Limit struct {
	Field    string   // vendor's field path, e.g. "social_profile.id", "attributes[].value.text"
	Required bool     // the vendor requires a value (on create)
	Unique   bool     // values must be unique within the list (compared after Key)
	Min, Max int      // bounds in Unit; Min only matters for Number; Max 0 means no maximum
	Unit     Unit     // how the value is measured
	Policy   Policy   // what mapping does when the value breaks the limit
	Values   []string // the allowed values (OneOf) or the layout (Format)
	Source   string   // the vendor's document and row this limit comes from, quoted
	Note     string   // how mapping applies the row, where that needs saying
}

// String describes the limit in one line, e.g. `first_name: max 100 characters (truncate)`.
func (l Limit) String() string {
	var b strings.Builder
	b.WriteString(l.Field)
	b.WriteString(": ")
	switch l.Unit {
	case Number:
		fmt.Fprintf(&b, "%d..%d", l.Min, l.Max)
	case OneOf:
		if len(l.Values) == 0 {
			b.WriteString("one of the configured values")
		} else {
			fmt.Fprintf(&b, "one of %s", strings.Join(l.Values, ", "))
		}
	case Format:
		fmt.Fprintf(&b, "format %s", strings.Join(l.Values, ""))
	default:
		fmt.Fprintf(&b, "max %d %s", l.Max, l.Unit)
	}
	if l.Required {
		b.WriteString(", required")
	}
	if l.Unique {
		b.WriteString(", unique")
	}
	fmt.Fprintf(&b, " (%s)", l.Policy)
	return b.String()
}

// ErrDoesNotFit is the class of every error mapping returns for data that a
// destination would refuse: errors.Is(err, ErrDoesNotFit) holds for a
// *LimitError and a *Rejection. sync/push records such a contact and goes on.
var ErrDoesNotFit = errors.New("does not fit destination")

// ErrUnsupportedPlatform is wrapped by the *Rejection that ToOho returns for
// an identity on a platform Oho does not serve (only line, facebook,
// instagram). Callers usually skip such identities before mapping; see
// OhoPlatform.
var ErrUnsupportedPlatform = errors.New("platform not served by destination")

// LimitError says a value breaks a Limit. It never holds the value itself,
// which may be personal data, so it is safe to log.
type LimitError struct {
	Limit Limit
	Got   int    // the measured length, count or number; for OneOf and Format 0
	Why   string // what is wrong, e.g. "41 characters (41 code points, 41 UTF-16 units), max 40", "required"
}

// Error returns e.g. "social_profile.id: 41 characters (41 code points, 41 UTF-16 units), max 40".
func (e *LimitError) Error() string { return e.Limit.Field + ": " + e.Why }

// Unwrap returns ErrDoesNotFit.
func (e *LimitError) Unwrap() error { return ErrDoesNotFit }

// Check reports whether the text v satisfies a Characters, OneOf or Format limit,
// including Required. It returns a *LimitError or nil. Text must also be
// valid UTF-8. Check does not modify v: mapping uses it to verify its own
// output and tests use it to verify payloads.
func (l Limit) Check(v string) error {
	if v == "" {
		if l.Required {
			return &LimitError{Limit: l, Why: "required"}
		}
		return nil
	}
	if !utf8.ValidString(v) {
		return &LimitError{Limit: l, Why: "invalid UTF-8"}
	}
	switch l.Unit {
	case Characters:
		if n := Length(v); l.Max > 0 && n > l.Max {
			return &LimitError{Limit: l, Got: n,
				Why: fmt.Sprintf("%d characters (%d code points, %d UTF-16 units), max %d", n, CodePoints(v), UTF16Units(v), l.Max)}
		}
	case OneOf:
		if !slices.Contains(l.Values, v) {
			return &LimitError{Limit: l, Why: "not one of " + strings.Join(l.Values, ", ")}
		}
	case Format:
		if len(l.Values) > 0 && !matchesLayout(l.Values[0], v) {
			return &LimitError{Limit: l, Why: "not in format " + l.Values[0]}
		}
	default:
		return &LimitError{Limit: l, Why: fmt.Sprintf("unit %s does not apply to text", l.Unit)}
	}
	return nil
}

// CheckCount reports whether n satisfies an Items or Number limit. It
// returns a *LimitError or nil.
func (l Limit) CheckCount(n int) error {
	switch l.Unit {
	case Items:
		if l.Max > 0 && n > l.Max {
			return &LimitError{Limit: l, Got: n, Why: fmt.Sprintf("%d items, max %d", n, l.Max)}
		}
	case Number:
		if n < l.Min || n > l.Max {
			return &LimitError{Limit: l, Got: n, Why: fmt.Sprintf("%d outside %d..%d", n, l.Min, l.Max)}
		}
	default:
		return &LimitError{Limit: l, Got: n, Why: fmt.Sprintf("unit %s does not apply to a count", l.Unit)}
	}
	return nil
}

// matchesLayout checks the few layouts the vendors document.
func matchesLayout(layout, v string) bool {
	switch layout {
	case "YYYY-MM-DD":
		_, ok := parseISODate(v)
		return ok
	case "0987654321":
		return isOhoPhone(v)
	case "base64":
		return isBase64(v)
	}
	return false
}

// Rejection says a contact cannot be sent to a destination at all: a
// required value is missing or an identifier breaks its limit. The reasons
// are also in the []Change the mapping function returns, as kind Rejected.
// errors.Is(r, ErrDoesNotFit) holds; errors.As finds the *LimitError, if any.
type Rejection struct {
	Destination string // "oho" or "okeybot"
	Identity    string // the identity being mapped, "platform/channel/user"
	Field       string // the first field that made the record impossible
	Reason      string
	Err         error // *LimitError, ErrUnsupportedPlatform, or nil
}

// Error returns e.g. "oho: reject line/1656/U4af…: profile_picture_url: required, no picture and no default".
func (r *Rejection) Error() string {
	return fmt.Sprintf("%s: reject %s: %s: %s", r.Destination, r.Identity, r.Field, r.Reason)
}

// Unwrap returns ErrDoesNotFit and the underlying error, if any.
func (r *Rejection) Unwrap() []error {
	if r.Err == nil {
		return []error{ErrDoesNotFit}
	}
	return []error{r.Err, ErrDoesNotFit}
}

// The Oho contact limits, from the create table (oho-developer-api.th.txt
// "2.2 Create Contact", the stricter of the two tables) with notes where the
// update table ("2.3 Update Contact") differs. The same payload is used for
// POST and PATCH, so the create limits apply to both.
var (
	// → platform | String | สามารถเลือกได้จากค่าใน enum ที่กำหนดไว้ | required | enum : line, facebook, instagram |
	ohoPlatformLimit = Limit{Field: "social_profile.platform", Required: true, Unit: OneOf, Policy: Reject,
		Values: []string{"line", "facebook", "instagram"},
		Source: "oho-developer-api.th.txt §2.2 Create Contact: → platform | String | … enum … | required | enum : line, facebook, instagram",
		Note:   "identities on other platforms are skipped (ErrUnsupportedPlatform)"}
	// → id | String | max: 40 | required | Id ของ Contact ในแพลตฟอร์มนั้นๆ (LINE User ID หรือ Facebook User ID หรือ Instagram User ID ) |
	ohoUserIDLimit = Limit{Field: "social_profile.id", Required: true, Max: 40, Unit: Characters, Policy: Reject,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: → id | String | max: 40 | required",
		Note:   "a key is never cut: a longer or malformed user id rejects the contact"}
	// → platform_id | String | max: 40 | required | Bot user ID ของ LINE OA หรือ Facebook Page ID หรือ Instagram ID |
	ohoPlatformIDLimit = Limit{Field: "social_profile.platform_id", Required: true, Max: 40, Unit: Characters, Policy: Reject,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: → platform_id | String | max: 40 | required"}
	// → platform_name | String | max: 255 | required | Line OA display name หรือ Facebook Page name หรือ Instagram name(Username) |
	ohoPlatformNameLimit = Limit{Field: "social_profile.platform_name", Required: true, Max: 255, Unit: Characters, Policy: Truncate,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: → platform_name | String | max: 255 | required",
		Note:   "defaults to platform_id when the target gives no name"}
	// → line_basic_id | String | max: 255 | required | LINE ID ของ LINE OA , platform Facebook และ Instagram ไม่มี |
	ohoLineBasicIDLimit = Limit{Field: "social_profile.line_basic_id", Required: true, Max: 255, Unit: Characters, Policy: Reject,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: → line_basic_id | String | max: 255 | required | LINE ID ของ LINE OA , platform Facebook และ Instagram ไม่มี",
		Note:   "required for line only (Facebook and Instagram have none, so it is left out there)"}
	// profile_picture_url | String | max: 2000 | required | URL รูปโปรไฟล์ของ Contact |
	ohoPictureLimit = Limit{Field: "profile_picture_url", Required: true, Max: 2000, Unit: Characters, Policy: Drop,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: profile_picture_url | String | max: 2000 | required",
		Note:   "a cut URL is broken: an unusable picture is dropped for oho.default_picture_url; with neither the contact is rejected"}
	// platform_display_name | String | max: 255 | required | ชื่อ original ของ Contact จากแพลตฟอร์มต้นทาง |
	ohoPlatformDisplayNameLimit = Limit{Field: "platform_display_name", Required: true, Max: 255, Unit: Characters, Policy: Truncate,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: platform_display_name | String | max: 255 | required",
		Note:   "target OriginalName, else the identity's name, else the master name, else the user id"}
	// display_name | String | max: 255 | required | … (ค่า default คือ ค่าของ platform_display_name ) |
	ohoDisplayNameLimit = Limit{Field: "display_name", Required: true, Max: 255, Unit: Characters, Policy: Truncate,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: display_name | String | max: 255 | required (2.3 Update Contact: max: 1000)",
		Note:   "held to 255 for updates too, so one payload serves both; falls back to platform_display_name"}
	// first_name | String | max: 100 | required | ชื่อของ Contact ที่แสดงในข้อมูลทั่วไป |
	ohoFirstNameLimit = Limit{Field: "first_name", Required: true, Max: 100, Unit: Characters, Policy: Truncate,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: first_name | String | max: 100 | required",
		Note:   "falls back to display_name, then the user id"}
	// last_name | String | max: 100 | optional | นามสกุล Contact ที่แสดงในข้อมูลทั่วไป |
	ohoLastNameLimit = Limit{Field: "last_name", Max: 100, Unit: Characters, Policy: Truncate,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: last_name | String | max: 100 | optional"}
	// phone | String | max: 20 | optional | เบอร์โทร format : '0987654321' |
	ohoPhoneLimit = Limit{Field: "phone", Max: 20, Unit: Characters, Policy: Normalise,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: phone | String | max: 20 | optional | เบอร์โทร format : '0987654321'",
		Note:   "numbers of default_region in national digits (0812345678); others dropped (oho.foreign_phone: drop), or dialled from default_region (dial: 001886966633355) or E.164 (e164, not documented); invalid or longer than 20 dropped"}
	// phone's format, as a second row of the same field.
	ohoPhoneFormatLimit = Limit{Field: "phone", Unit: Format, Policy: Normalise, Values: []string{"0987654321"},
		Source: "oho-developer-api.th.txt §2.2 Create Contact: phone | … | เบอร์โทร format : '0987654321'",
		Note:   "digits only, the first a 0, the one form the reference shows; a payload with an E.164 phone (oho.foreign_phone: e164) breaks it"}
	// email | String | max: 254 | optional | อีเมล |
	ohoEmailLimit = Limit{Field: "email", Max: 254, Unit: Characters, Policy: Drop,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: email | String | max: 254 | optional",
		Note:   "an address is never cut: an invalid or longer address is dropped"}
	// country | String | สามารถเลือกได้จากค่าใน enum ที่กำหนดไว้ | optional | ประเทศ enum : อยูที่ไฟล์ country.json |
	ohoCountryLimit = Limit{Field: "country", Unit: OneOf, Policy: Drop,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: country | String | … enum … | optional | ประเทศ enum : อยูที่ไฟล์ country.json",
		Note:   "country.json is not published: allowed values come from oho.countries; anything else is dropped"}
	// city | String | สามารถเลือกได้จากค่าใน enum ที่กำหนดไว้ | optional | จังหวัด enum : อยูที่ไฟล์ province.json |
	ohoCityLimit = Limit{Field: "city", Unit: OneOf, Policy: Drop,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: city | String | … enum … | optional | จังหวัด enum : อยูที่ไฟล์ province.json",
		Note:   "province.json is not published: allowed values come from oho.cities; anything else is dropped"}
	// gender | String | สามารถเลือกได้จากค่าใน enum ที่กำหนดไว้ | optional | enum : male, female, not_say (default คือ not_say ) |
	ohoGenderLimit = Limit{Field: "gender", Unit: OneOf, Policy: Default,
		Values: []string{"male", "female", "not_say"},
		Source: "oho-developer-api.th.txt §2.2 Create Contact: gender | String | … enum … | optional | enum : male, female, not_say (default คือ not_say )",
		Note:   "M, F, male, หญิง, ชาย … are recognised; an unrecognised value becomes not_say"}
	// age | Number | min: 1 max: 99 | optional | อายุ |
	ohoAgeLimit = Limit{Field: "age", Min: 1, Max: 99, Unit: Number, Policy: Drop,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: age | Number | min: 1 max: 99 | optional"}
	// birth_date | Date | optional | ปี เดือน วันเกิด format: 'YYYY-MM-DD' |
	ohoBirthDateLimit = Limit{Field: "birth_date", Unit: Format, Policy: Normalise, Values: []string{"YYYY-MM-DD"},
		Source: "oho-developer-api.th.txt §2.2 Create Contact: birth_date | Date | optional | ปี เดือน วันเกิด format: 'YYYY-MM-DD' (2.3 Update Contact: Date | max: 24)",
		Note:   "read from date, datetime or text values (ISO, DD/MM/YYYY, Buddhist-era years); impossible or future dates dropped"}
	// → display_name | String | max: 100 | required | … แต่ต้องเป็นชื่อที่ไม่ซ้ำกันใน(หนึ่งธุรกิจ) |
	ohoAttrNameLimit = Limit{Field: "attributes[].display_name", Required: true, Unique: true, Max: 100, Unit: Characters, Policy: Truncate,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: → display_name | String | max: 100 | required | … ต้องเป็นชื่อที่ไม่ซ้ำกัน",
		Note:   "configured names are checked when options load; names taken from data are cut, and a later duplicate is dropped"}
	// → text | String | max: 2000 | required | ใช้สำหรับเป็นค่าที่จะแสดงใน field ที่อยู่ใน ข้อมูลเฉพาะ |
	ohoAttrValueLimit = Limit{Field: "attributes[].value.text", Required: true, Max: 2000, Unit: Characters, Policy: Truncate,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: → text | String | max: 2000 | required",
		Note:   "an attribute with no value is left out"}
	// tags | Array of string | max: 20 | optional | ใช้สำหรับการติดแท็กรายชื่อ (รองรับสูงสุด 20 แท็ก) |
	ohoTagsLimit = Limit{Field: "tags", Unique: true, Max: 20, Unit: Items, Policy: Truncate,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: tags | Array of string | max: 20 | optional | … (รองรับสูงสุด 20 แท็ก)",
		Note:   "kept by tag_priority, then most recently applied, then name; sent sorted"}
	// labels | Array of string | max: 10 | optional | ใช้สำหรับการติดแท็กแชท (รองรับสูงสุด 10 แท็ก) |
	ohoLabelsLimit = Limit{Field: "labels", Unique: true, Max: 10, Unit: Items, Policy: Truncate,
		Source: "oho-developer-api.th.txt §2.2 Create Contact: labels | Array of string | max: 10 | optional | … (รองรับสูงสุด 10 แท็ก)",
		Note:   "kept by tag_priority, then most recently applied, then name; sent sorted"}
)

// The Okeybot limits (okeybot-contacts-api.es.txt). The document gives no
// length limit for names, values or tags.
var (
	// "Máximo 30 campos actualizados por solicitud." (PUT) / "Máximo 30 campos creados por solicitud." (POST)
	okeybotFieldsLimit = Limit{Field: "custom_fields", Max: 30, Unit: Items, Policy: Split,
		Source: "okeybot-contacts-api.es.txt, Actualizar contacto por ID / Crear contacto, Limitaciones: Máximo 30 campos actualizados (creados) por solicitud.",
		Note:   "only changed fields are sent, sorted by name, in requests of at most 30"}
	// "Máximo 10 etiquetas agregadas por solicitud."
	okeybotAddTagsLimit = Limit{Field: "tags (POST /v1/contact/{id}/tags)", Max: 10, Unit: Items, Policy: Split,
		Source: "okeybot-contacts-api.es.txt, Agregar etiqueta por ID, Limitaciones: Máximo 10 etiquetas agregadas por solicitud."}
	// "Máximo de 10 etiquetas eliminadas por solicitud."
	okeybotRemoveTagsLimit = Limit{Field: "tags (DELETE /v1/contact/{id}/tags)", Max: 10, Unit: Items, Policy: Split,
		Source: "okeybot-contacts-api.es.txt, Eliminar etiqueta por ID, Limitaciones: Máximo de 10 etiquetas eliminadas por solicitud."}
	// "en el caso del canal Viber, … la ID de contacto debe proporcionarse en un formato codificado en Base64."
	okeybotViberIDLimit = Limit{Field: "{contact_id} (viber)", Unit: Format, Policy: Normalise, Values: []string{"base64"},
		Source: "okeybot-contacts-api.es.txt, Actualizar contacto por ID, Limitaciones: … en el caso del canal Viber … la ID de contacto debe proporcionarse en un formato codificado en Base64.",
		Note:   "OkeybotContactID encodes it (standard alphabet, padded); the client path-escapes it"}
)

// OhoLimits returns every Oho contact limit mapping enforces, in the order of
// the vendor's create table. The slice is a fresh copy.
func OhoLimits() []Limit {
	return cloneLimits(
		ohoPlatformLimit, ohoUserIDLimit, ohoPlatformIDLimit, ohoPlatformNameLimit, ohoLineBasicIDLimit,
		ohoPictureLimit, ohoPlatformDisplayNameLimit, ohoDisplayNameLimit, ohoFirstNameLimit, ohoLastNameLimit,
		ohoPhoneLimit, ohoPhoneFormatLimit, ohoEmailLimit, ohoCountryLimit, ohoCityLimit, ohoGenderLimit,
		ohoAgeLimit, ohoBirthDateLimit, ohoAttrNameLimit, ohoAttrValueLimit, ohoTagsLimit, ohoLabelsLimit,
	)
}

// OkeybotLimits returns every Okeybot limit mapping enforces. The slice is a
// fresh copy.
func OkeybotLimits() []Limit {
	return cloneLimits(okeybotFieldsLimit, okeybotAddTagsLimit, okeybotRemoveTagsLimit, okeybotViberIDLimit)
}

func cloneLimits(ls ...Limit) []Limit {
	for i := range ls {
		ls[i].Values = slices.Clone(ls[i].Values)
	}
	return ls
}
