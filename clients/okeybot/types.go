package okeybot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Contact is an Okeybot contact as GET /v1/contact/{id} and by_custom_field
// return it. Decoding is lenient where the vendor is loose (see
// UnmarshalJSON); the type is not meant to be encoded back.
type Contact struct {
	// ID is the contact id exactly as Okeybot returns it (for Viber, the raw
	// id, not its Base64 form). Pass it unchanged to the other methods.
	ID string
	// CustomFields maps field name to value. Booleans read as "TRUE"/"FALSE",
	// numbers as their JSON text; a null value leaves the name out.
	CustomFields map[string]string
	// Tags in the order Okeybot lists them.
	Tags []string
	// CreatedAt is created_at (Unix seconds in the document); zero when
	// absent or unreadable.
	CreatedAt time.Time
}

// UnmarshalJSON decodes a contact defensively: id may be a string or a
// number; custom_fields an object ({"name": value}), a list
// ([{"name","value"}]) or [] for none (PHP encodes an empty map as []);
// tags strings, numbers or {"name"} objects; created_at Unix seconds (or
// milliseconds), a numeric string or a date string. Only a missing id or a
// value of the wrong kind altogether is an error.
func (c *Contact) UnmarshalJSON(b []byte) error {
	var w struct {
		ID           json.RawMessage `json:"id"`
		CustomFields json.RawMessage `json:"custom_fields"`
		Tags         json.RawMessage `json:"tags"`
		CreatedAt    json.RawMessage `json:"created_at"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("decode okeybot contact: %w", err)
	}
	id, ok, err := scalarText(w.ID)
	if err != nil || !ok || id == "" {
		return fmt.Errorf("decode okeybot contact: id %s is not a string or number", rawOrMissing(w.ID))
	}
	fields, err := decodeCustomFields(w.CustomFields)
	if err != nil {
		return fmt.Errorf("decode okeybot contact %s: %w", id, err)
	}
	tags, err := decodeTags(w.Tags)
	if err != nil {
		return fmt.Errorf("decode okeybot contact %s: %w", id, err)
	}
	*c = Contact{ID: id, CustomFields: fields, Tags: tags, CreatedAt: decodeTime(w.CreatedAt)}
	return nil
}

// CustomField is one name/value pair of a create or update request.
type CustomField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Bool returns the text Okeybot wants for a boolean custom field, in values
// sent and in by_custom_field queries: "TRUE" or "FALSE".
func Bool(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

// flexID is an id that may arrive as a JSON string or number.
type flexID string

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexID) UnmarshalJSON(b []byte) error {
	s, _, err := scalarText(b)
	if err != nil {
		return fmt.Errorf("id %s: %w", b, err)
	}
	*f = flexID(s)
	return nil
}

// scalarText returns the text of a JSON scalar: strings as they are, numbers
// as written, booleans as TRUE/FALSE. ok is false for null or nothing;
// objects and arrays come back as compact JSON text.
func scalarText(raw json.RawMessage) (text string, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", false, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	case 't', 'f':
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", false, err
		}
		return Bool(v), true, nil
	case '{', '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return "", false, err
		}
		return buf.String(), true, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", false, err
	}
	return n.String(), true, nil
}

// decodeCustomFields accepts an object, a list of {"name","value"} (or
// {"key","value"}) objects, null or [].
func decodeCustomFields(raw json.RawMessage) (map[string]string, error) {
	raw = bytes.TrimSpace(raw)
	out := map[string]string{}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return out, nil
	}
	switch raw[0] {
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("custom_fields: %w", err)
		}
		for name, v := range m {
			text, ok, err := scalarText(v)
			if err != nil {
				return nil, fmt.Errorf("custom field %q: %w", name, err)
			}
			if ok {
				out[name] = text
			}
		}
		return out, nil
	case '[':
		var list []struct {
			Name  json.RawMessage `json:"name"`
			Key   json.RawMessage `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("custom_fields list: %w", err)
		}
		for i, f := range list {
			nameRaw := f.Name
			if len(nameRaw) == 0 {
				nameRaw = f.Key
			}
			name, ok, err := scalarText(nameRaw)
			if err != nil || !ok || name == "" {
				return nil, fmt.Errorf("custom_fields[%d]: no name", i)
			}
			text, ok, err := scalarText(f.Value)
			if err != nil {
				return nil, fmt.Errorf("custom field %q: %w", name, err)
			}
			if ok {
				out[name] = text
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("custom_fields is neither an object nor a list: %.40s", raw)
}

// decodeTags accepts a list of strings, numbers or {"name"} objects (nulls
// skipped), a single string, or null.
func decodeTags(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '[' {
		text, ok, err := scalarText(raw)
		if err != nil || raw[0] == '{' {
			return nil, fmt.Errorf("tags is not a list: %.40s", raw)
		}
		if !ok || text == "" {
			return nil, nil
		}
		return []string{text}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		item = bytes.TrimSpace(item)
		if len(item) > 0 && item[0] == '{' {
			var obj struct {
				Name json.RawMessage `json:"name"`
			}
			if err := json.Unmarshal(item, &obj); err != nil {
				return nil, fmt.Errorf("tags[%d]: %w", i, err)
			}
			item = obj.Name
		}
		text, ok, err := scalarText(item)
		if err != nil {
			return nil, fmt.Errorf("tags[%d]: %w", i, err)
		}
		if ok && text != "" {
			out = append(out, text)
		}
	}
	return out, nil
}

// decodeTime reads created_at: Unix seconds (milliseconds when the number is
// too large for seconds), as a number or numeric string, or a date string
// in RFC 3339 or "2006-01-02 15:04:05" (UTC). Anything else yields zero:
// created_at is informational, and a contact must not be lost over it.
func decodeTime(raw json.RawMessage) time.Time {
	text, ok, err := scalarText(raw)
	if err != nil || !ok {
		return time.Time{}
	}
	text = strings.TrimSpace(text)
	if f, err := strconv.ParseFloat(text, 64); err == nil {
		if f <= 0 {
			return time.Time{}
		}
		if f >= 1e12 { // milliseconds
			return time.UnixMilli(int64(f)).UTC()
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, text); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func rawOrMissing(raw json.RawMessage) string {
	if len(bytes.TrimSpace(raw)) == 0 {
		return "(missing)"
	}
	return fmt.Sprintf("%.40s", raw)
}
