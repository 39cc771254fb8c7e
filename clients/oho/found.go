package oho

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ErrUnreadable is matched by the error of a Get answered 200 with a
// contact the client cannot read. The reference shows no example of a found
// contact ("Response Found contact" is empty), so Contact decodes it
// leniently (see Contact.UnmarshalJSON); what still cannot be read is a
// *ReadError. It is not a transient failure: the same contact answers the
// same way next time.
var ErrUnreadable = errors.New("oho contact cannot be read")

// ReadError says which part of a found contact could not be read. It
// matches ErrUnreadable.
type ReadError struct {
	Field string // the JSON field at fault ("tags", "attributes[2]"); "" for the whole body
	Value string // the JSON that could not be read, cut to maxReadValue bytes
	Why   string
}

// maxReadValue bounds ReadError.Value.
const maxReadValue = 200

// Error returns e.g. "read found oho contact: tags[1]: neither a string nor an object with a name".
func (e *ReadError) Error() string {
	if e.Field == "" {
		return "read found oho contact: " + e.Why
	}
	return "read found oho contact: " + e.Field + ": " + e.Why
}

// Unwrap returns ErrUnreadable.
func (e *ReadError) Unwrap() error { return ErrUnreadable }

func readErr(field string, raw json.RawMessage, why string) *ReadError {
	v := string(raw)
	if len(v) > maxReadValue {
		v = strings.ToValidUTF8(v[:maxReadValue], "") + "…"
	}
	return &ReadError{Field: field, Value: v, Why: why}
}

// nameKeys are the keys, in order of preference, whose string value names a
// tag, a label or an attribute given as an object.
var nameKeys = []string{"name", "display_name", "title", "label", "tag", "key"}

// UnmarshalJSON decodes a found contact leniently, since the reference
// shows none: the create body's field names; every field may be absent or
// null (empty); a text field may be a number (its digits, e.g. a phone) and
// age a numeric string; tags and labels may be strings or objects naming
// them (by name, display_name, title, label, tag or key); attributes may be
// objects with a name (display_name, name, …) and a value given as
// {"text": …}, a string, a number or a boolean, or one object mapping names
// to values; the contact may come wrapped as {"contact": {…}}. Unknown
// fields are ignored. What still cannot be read is a *ReadError.
func (c *Contact) UnmarshalJSON(b []byte) error {
	obj, err := object(b)
	if err != nil {
		return readErr("", b, "not a JSON object")
	}
	if inner, ok := obj["contact"]; ok && obj["social_profile"] == nil {
		if _, err := object(inner); err == nil {
			return c.UnmarshalJSON(inner)
		}
	}
	var out Contact
	if sp, ok := obj["social_profile"]; ok && !isNull(sp) {
		spo, err := object(sp)
		if err != nil {
			return readErr("social_profile", sp, "not an object")
		}
		var platform string
		for _, f := range []struct {
			key string
			dst *string
		}{{"platform", &platform}, {"id", &out.SocialProfile.ID}, {"platform_id", &out.SocialProfile.PlatformID},
			{"platform_name", &out.SocialProfile.PlatformName}, {"line_basic_id", &out.SocialProfile.LineBasicID}} {
			if err := text(spo, f.key, "social_profile.", f.dst); err != nil {
				return err
			}
		}
		out.SocialProfile.Platform = Platform(platform)
	}
	var gender string
	for _, f := range []struct {
		key string
		dst *string
	}{{"profile_picture_url", &out.ProfilePictureURL}, {"platform_display_name", &out.PlatformDisplayName},
		{"display_name", &out.DisplayName}, {"first_name", &out.FirstName}, {"last_name", &out.LastName},
		{"phone", &out.Phone}, {"email", &out.Email}, {"country", &out.Country}, {"city", &out.City},
		{"gender", &gender}, {"birth_date", &out.BirthDate}} {
		if err := text(obj, f.key, "", f.dst); err != nil {
			return err
		}
	}
	out.Gender = Gender(gender)
	if raw, ok := obj["age"]; ok && !isNull(raw) {
		var age string
		if err := text(obj, "age", "", &age); err != nil {
			return err
		}
		if age != "" {
			n, err := strconv.ParseFloat(age, 64)
			if err != nil || n != float64(int(n)) {
				return readErr("age", raw, "not a whole number")
			}
			out.Age = int(n)
		}
	}
	if out.Tags, err = nameList(obj, "tags"); err != nil {
		return err
	}
	if out.Labels, err = nameList(obj, "labels"); err != nil {
		return err
	}
	if out.Attributes, err = attributes(obj["attributes"]); err != nil {
		return err
	}
	*c = out
	return nil
}

// object decodes b as a JSON object, keeping its values raw.
func object(b []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null")
	}
	return m, nil
}

func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// scalar reads a JSON string, number or boolean as text; ok is false for
// anything else. null reads as "".
func scalar(raw json.RawMessage) (string, bool) {
	if isNull(raw) {
		return "", true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err == nil {
		return n.String(), true
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return strconv.FormatBool(b), true
	}
	return "", false
}

// text reads obj[key] into dst as text (absent or null: "").
func text(obj map[string]json.RawMessage, key, prefix string, dst *string) error {
	raw, ok := obj[key]
	if !ok {
		return nil
	}
	s, ok := scalar(raw)
	if !ok {
		return readErr(prefix+key, raw, "not a string or a number")
	}
	*dst = s
	return nil
}

// name reads a tag, label or attribute name: a string, or an object naming
// it with one of nameKeys.
func name(raw json.RawMessage) (string, map[string]json.RawMessage, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil, s != ""
	}
	obj, err := object(raw)
	if err != nil {
		return "", nil, false
	}
	for _, k := range nameKeys {
		if v, ok := obj[k]; ok {
			var s string
			if json.Unmarshal(v, &s) == nil && s != "" {
				return s, obj, true
			}
		}
	}
	return "", obj, false
}

// nameList reads obj[key] as a list of names (absent or null: none).
func nameList(obj map[string]json.RawMessage, key string) ([]string, error) {
	raw, ok := obj[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, readErr(key, raw, "not a list")
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, _, ok := name(it)
		if !ok {
			return nil, readErr(fmt.Sprintf("%s[%d]", key, i), it, "neither a string nor an object with a name")
		}
		out = append(out, s)
	}
	return out, nil
}

// attributes reads the attributes: a list of objects with a name and a
// value, or one object mapping names to values (absent or null: none).
func attributes(raw json.RawMessage) ([]Attribute, error) {
	if isNull(raw) {
		return nil, nil
	}
	if m, err := object(raw); err == nil {
		// {"customer_group": "Crown", …}: sorted by name, as a map has no order.
		out := make([]Attribute, 0, len(m))
		for _, k := range sortedKeys(m) {
			v, ok := attrValue(m[k])
			if !ok {
				return nil, readErr("attributes."+k, m[k], "a value that is neither text nor {\"text\": …}")
			}
			out = append(out, Attribute{DisplayName: k, Value: AttributeValue{Text: v}})
		}
		return out, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, readErr("attributes", raw, "neither a list nor an object")
	}
	out := make([]Attribute, 0, len(items))
	for i, it := range items {
		field := fmt.Sprintf("attributes[%d]", i)
		n, obj, ok := name(it)
		if !ok || obj == nil {
			return nil, readErr(field, it, "not an object with a name")
		}
		v, ok := "", true
		for _, k := range []string{"value", "text"} {
			if raw, present := obj[k]; present {
				v, ok = attrValue(raw)
				break
			}
		}
		if !ok {
			return nil, readErr(field+".value", it, "a value that is neither text nor {\"text\": …}")
		}
		out = append(out, Attribute{DisplayName: n, Value: AttributeValue{Text: v}})
	}
	return out, nil
}

// attrValue reads an attribute value: {"text": …} (as the create body
// writes it), or the text itself.
func attrValue(raw json.RawMessage) (string, bool) {
	if obj, err := object(raw); err == nil {
		t, ok := obj["text"]
		if !ok {
			return "", len(obj) == 0
		}
		return scalar(t)
	}
	return scalar(raw)
}

func sortedKeys(m map[string]json.RawMessage) []string {
	return slices.Sorted(maps.Keys(m))
}

// readable returns err, a Get's failure, as a *ReadError when it says that
// a 2xx answer's body could not be read (an envelope that is not JSON, or
// one without data); any other failure (transport, a truncated body, an
// error status) as it is.
func readable(err error) error {
	var (
		re *ReadError
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &re):
		return err
	case errors.Is(err, errNoData):
		return fmt.Errorf("%w: %w", &ReadError{Field: "data", Why: "no contact in the envelope's data"}, err)
	case errors.As(err, &se), errors.As(err, &te):
		return fmt.Errorf("%w: %w", &ReadError{Why: "the body is not the JSON envelope"}, err)
	}
	return err
}
