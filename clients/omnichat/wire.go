package omnichat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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
		return fmt.Errorf("want a string, got %s", jsonKind(b))
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
		return fmt.Errorf("want a boolean, got %s", jsonKind(b))
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
		return fmt.Errorf("want epoch milliseconds, got %.40s", s)
	}
	*f = flexMillis{ms: int64(fl), set: true}
	return nil
}

// required returns the timestamp as UTC time, or an error naming field when
// it is absent or out of range.
func (f flexMillis) required(field string) (time.Time, error) {
	if !f.set {
		return time.Time{}, fmt.Errorf("missing %s", field)
	}
	if f.ms <= 0 || f.ms > maxMillis {
		return time.Time{}, fmt.Errorf("%s %d out of range", field, f.ms)
	}
	return time.UnixMilli(f.ms).UTC(), nil
}

// optional returns the timestamp as UTC time; absent, null and 0 give the
// zero time. Negative values and values after year 9999 are an error.
func (f flexMillis) optional(field string) (time.Time, error) {
	if !f.set || f.ms == 0 {
		return time.Time{}, nil
	}
	return f.required(field)
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

// errNotObject is the reason for a row that is not a JSON object.
var errNotObject = errors.New("row is not a JSON object")

// requireObject returns errNotObject unless raw holds a JSON object.
func requireObject(raw json.RawMessage) error {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 || b[0] != '{' {
		return errNotObject
	}
	return nil
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
