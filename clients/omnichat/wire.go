package omnichat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"crmsync/contact"
)

// maxMillis is the last millisecond of year 9999, the latest timestamp
// accepted from the API.
var maxMillis = time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC).UnixMilli()

// flexString decodes a JSON string, number or boolean into its text, and null
// into "". Objects and arrays are an error.
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0, string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case b[0] == '{' || b[0] == '[':
		return typeError(b, reflect.TypeFor[string]())
	default: // a number or true/false: keep the literal text
		*f = flexString(b)
	}
	return nil
}

// anyText decodes any JSON value into text: strings as themselves, numbers
// and booleans as their literal, null as "", objects and arrays compacted.
type anyText string

// UnmarshalJSON implements json.Unmarshaler.
func (a *anyText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0, string(b) == "null":
		*a = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = anyText(s)
	case b[0] == '{' || b[0] == '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		*a = anyText(buf.String())
	default:
		*a = anyText(b)
	}
	return nil
}

// flexBool decodes true/false, "true"/"false", 1/0 and null (false).
type flexBool bool

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	switch strings.ToLower(s) {
	case "true", "1":
		*f = true
	case "false", "0", "null", "":
		*f = false
	default:
		return typeError(b, reflect.TypeFor[bool]())
	}
	return nil
}

// flexMillis decodes an epoch-millisecond timestamp given as a JSON number
// (integral) or a numeric string; null or absent leaves it unset.
type flexMillis struct {
	ms  int64
	set bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexMillis) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*f = flexMillis{}
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*f = flexMillis{}
			return nil
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		*f = flexMillis{ms: ms, set: true}
		return nil
	}
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil || fl != float64(int64(fl)) {
		return typeError(b, reflect.TypeFor[flexMillis]())
	}
	*f = flexMillis{ms: int64(fl), set: true}
	return nil
}

// required returns the timestamp as UTC time, or an error naming field and
// the value of raw it came from when it is absent or out of range.
func (f flexMillis) required(raw json.RawMessage, field string) (time.Time, error) {
	if !f.set {
		return time.Time{}, missing(raw, field)
	}
	if f.ms <= 0 || f.ms > maxMillis {
		return time.Time{}, fmt.Errorf("%s: out of range (epoch milliseconds from 1970 to 9999), got %s", field, valueOf(raw, field))
	}
	return time.UnixMilli(f.ms).UTC(), nil
}

// optional returns the timestamp as UTC time; absent, null and 0 give the
// zero time. Negative values and values after year 9999 are an error.
func (f flexMillis) optional(raw json.RawMessage, field string) (time.Time, error) {
	if !f.set || f.ms == 0 {
		return time.Time{}, nil
	}
	return f.required(raw, field)
}

// millis returns t as epoch milliseconds for the wire, nil for the zero time
// (so the field is omitted).
func millis(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

// jsonKind names the kind of a JSON value for error messages.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// errNotObject is the class of the reason for a row that is not a JSON
// object.
var errNotObject = errors.New("row: want a JSON object")

// requireObject returns errNotObject, with what the row is, unless raw
// holds a JSON object.
func requireObject(raw json.RawMessage) error {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("%w, got %s", errNotObject, describe(b))
	}
	return nil
}

// Reasons for bad rows (BadRecord.Reason) name the field and the value, as
// "field: problem, got value": `status: want a boolean, got a string "maybe"`,
// `updatedAt: out of range (…), got 0`, `id: missing (absent)`. The field is
// the JSON path as the API spells it (customAttributes.key for a key of any
// attribute); the value is cut to maxValueText characters.

// maxValueText bounds the value quoted in a reason.
const maxValueText = 60

// typeError is the error a lenient field type returns for a value it cannot
// take: the JSON decoder fills in the field's path.
func typeError(b []byte, want reflect.Type) error {
	return &json.UnmarshalTypeError{Value: describe(b), Type: want}
}

// decodeReason turns an error of json.Unmarshal on raw into a reason naming
// the field and the value.
func decodeReason(raw json.RawMessage, err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("row: invalid JSON (%v), got %s", err, describe(raw))
	}
	got := te.Value
	if v, ok := valueEndingAt(raw, te.Offset); ok && !strings.Contains(got, " ") {
		got = describe(v) // a type the decoder refused itself: it names only the kind
	}
	field := te.Field
	if field == "" {
		field = "row"
	}
	return fmt.Errorf("%s: want %s, got %s", field, wantOf(te.Type), got)
}

// wantOf names what a field of type t accepts.
func wantOf(t reflect.Type) string {
	switch {
	case t == nil:
		return "another type"
	case t == reflect.TypeFor[flexMillis]():
		return "epoch milliseconds (a whole number)"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	case t.Kind() == reflect.String:
		return "a string, number or boolean"
	case t.Kind() == reflect.Slice:
		return "an array"
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Pointer:
		return "an object"
	}
	return "a " + t.Kind().String()
}

// valueEndingAt returns the JSON value of raw that the decoder was reading
// when it stopped at offset: a scalar ending there, or an array or object
// opened just before it.
func valueEndingAt(raw json.RawMessage, offset int64) (json.RawMessage, bool) {
	if offset <= 0 || offset > int64(len(raw)) {
		return nil, false
	}
	if c := raw[offset-1]; c == '[' || c == '{' {
		var v json.RawMessage
		if json.NewDecoder(bytes.NewReader(raw[offset-1:])).Decode(&v) == nil {
			return v, true
		}
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		end := dec.InputOffset()
		if _, delim := tok.(json.Delim); !delim && end == offset {
			v := bytes.TrimLeft(raw[prev:end], " \t\r\n:,")
			return v, len(v) > 0
		}
		if end > offset {
			return nil, false
		}
		prev = end
	}
}

// fieldValue returns the value at path (object keys, dotted) in raw; ok is
// false when a key on the way is absent or not an object.
func fieldValue(raw json.RawMessage, path string) (v json.RawMessage, ok bool) {
	v = raw
	for key := range strings.SplitSeq(path, ".") {
		var obj map[string]json.RawMessage
		if json.Unmarshal(v, &obj) != nil {
			return nil, false
		}
		if v, ok = obj[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// valueOf describes the value at path in raw, or "nothing (absent)".
func valueOf(raw json.RawMessage, path string) string {
	v, ok := fieldValue(raw, path)
	if !ok {
		return "nothing (absent)"
	}
	return describe(v)
}

// missing is the reason for a required field that is absent, null or blank.
func missing(raw json.RawMessage, path string) error {
	v, ok := fieldValue(raw, path)
	if !ok {
		return fmt.Errorf("%s: missing (absent)", path)
	}
	return fmt.Errorf("%s: missing, got %s", path, describe(v))
}

// describe names a JSON value with its text, cut to maxValueText
// characters: `a string "yes"`, `a number 1.5`, `an object {"a":1}`, `null`.
func describe(b []byte) string {
	b = bytes.TrimSpace(b)
	kind := jsonKind(b)
	if kind == "null" || kind == "nothing" {
		return kind
	}
	var buf bytes.Buffer
	if json.Compact(&buf, b) == nil {
		b = buf.Bytes()
	}
	text := string(b)
	if utf8.RuneCountInString(text) > maxValueText {
		text = string([]rune(text)[:maxValueText]) + "…"
	}
	return kind + " " + text
}

// ParsePlatform normalises a platform name from the API: known names via
// contact.ParsePlatform ("website" becomes contact.Webchat), "web" also as
// webchat (the channels document says so), anything else lower-cased as is.
func ParsePlatform(s string) contact.Platform {
	if p, ok := contact.ParsePlatform(s); ok {
		return p
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "web" {
		return contact.Webchat
	}
	return contact.Platform(s)
}

// Platforms are the values the API documents for the platform parameter of
// contacts and chat history ("Get chat history": line, facebook, instagram,
// wechat, whatsapp, webchat), in a fixed order. Viber, which Okeybot knows,
// is not one of them: the API refuses it.
var Platforms = []contact.Platform{contact.LINE, contact.Facebook, contact.Instagram, contact.WhatsApp, contact.WeChat, contact.Webchat}

// ListedPlatforms are the platforms whose channels GET /v1/channels
// documents ("Available platform: web: Webchat, line: LINE"). Channels of
// the other platforms may be missing from the list: pull them per platform.
var ListedPlatforms = []contact.Platform{contact.LINE, contact.Webchat}

// PlatformDocumented reports whether p is one of Platforms.
func PlatformDocumented(p contact.Platform) bool {
	for _, q := range Platforms {
		if p == q {
			return true
		}
	}
	return false
}
