package mapping

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
)

// OhoUpdate is the body of Oho's PATCH /contact/:platform/:platform_id/user/:user_id
// carrying only some fields: a nil pointer is not sent. Attributes, Tags and
// Labels replace the whole list on Oho's side, so they are sent whole (an
// empty list clears it).
type OhoUpdate struct {
	DisplayName *string         `json:"display_name,omitempty"`
	FirstName   *string         `json:"first_name,omitempty"`
	LastName    *string         `json:"last_name,omitempty"`
	Phone       *string         `json:"phone,omitempty"`
	Email       *string         `json:"email,omitempty"`
	Country     *string         `json:"country,omitempty"`
	City        *string         `json:"city,omitempty"`
	Gender      *string         `json:"gender,omitempty"`
	Age         *int            `json:"age,omitempty"`
	BirthDate   *string         `json:"birth_date,omitempty"`
	Attributes  *[]OhoAttribute `json:"attributes,omitempty"`
	Tags        *[]string       `json:"tags,omitempty"`
	Labels      *[]string       `json:"labels,omitempty"`
}

// IsZero reports whether u carries no field, so no PATCH is needed.
func (u OhoUpdate) IsZero() bool { return u == OhoUpdate{} }

// OhoDiff is what changed between the contact last pushed and the one desired.
type OhoDiff struct {
	// Changed lists the top-level fields (JSON names, in payload order) whose
	// values differ.
	Changed []string
	// Update carries every changed field a PATCH can carry.
	Update OhoUpdate
	// Unsent lists changed fields Update leaves out, with why: the create-only
	// fields (social_profile, profile_picture_url, platform_display_name), and
	// optional fields that became empty, since Oho documents no way to clear
	// them (gender is cleared by sending not_say instead).
	Unsent []string
}

// DiffOho compares the contact last pushed with the desired one. An empty
// Changed means nothing to do; a non-empty Changed with a zero Update means
// only fields a PATCH cannot change moved: store the new payload, send nothing.
func DiffOho(last, desired OhoContact) OhoDiff {
	var d OhoDiff
	str := func(name string, a, b string, dst **string) {
		if a == b {
			return
		}
		d.Changed = append(d.Changed, name)
		switch {
		case b != "":
			*dst = &b
		case name == "gender":
			notSay := "not_say"
			*dst = &notSay
		default:
			d.Unsent = append(d.Unsent, name+" (cleared: Oho documents no way to clear it)")
		}
	}
	createOnly := func(name string, changed bool) {
		if changed {
			d.Changed = append(d.Changed, name)
			d.Unsent = append(d.Unsent, name+" (create only)")
		}
	}
	createOnly("social_profile", last.SocialProfile != desired.SocialProfile)
	createOnly("profile_picture_url", last.ProfilePictureURL != desired.ProfilePictureURL)
	createOnly("platform_display_name", last.PlatformDisplayName != desired.PlatformDisplayName)
	u := &d.Update
	str("display_name", last.DisplayName, desired.DisplayName, &u.DisplayName)
	str("first_name", last.FirstName, desired.FirstName, &u.FirstName)
	str("last_name", last.LastName, desired.LastName, &u.LastName)
	str("phone", last.Phone, desired.Phone, &u.Phone)
	str("email", last.Email, desired.Email, &u.Email)
	str("country", last.Country, desired.Country, &u.Country)
	str("city", last.City, desired.City, &u.City)
	str("gender", last.Gender, desired.Gender, &u.Gender)
	if last.Age != desired.Age {
		d.Changed = append(d.Changed, "age")
		if age := desired.Age; age != 0 {
			u.Age = &age
		} else {
			d.Unsent = append(d.Unsent, "age (cleared: Oho documents no way to clear it)")
		}
	}
	str("birth_date", last.BirthDate, desired.BirthDate, &u.BirthDate)
	if !slices.Equal(last.Attributes, desired.Attributes) {
		d.Changed = append(d.Changed, "attributes")
		as := append([]OhoAttribute{}, desired.Attributes...)
		u.Attributes = &as
	}
	if !slices.Equal(last.Tags, desired.Tags) {
		d.Changed = append(d.Changed, "tags")
		ts := append([]string{}, desired.Tags...)
		u.Tags = &ts
	}
	if !slices.Equal(last.Labels, desired.Labels) {
		d.Changed = append(d.Changed, "labels")
		ls := append([]string{}, desired.Labels...)
		u.Labels = &ls
	}
	return d
}

// CanonicalJSON encodes v the one way mapping promises: encoding/json with
// struct fields in declaration order, map keys sorted, no HTML escaping and
// no trailing newline. Payloads from this package encode byte-identically
// for identical inputs, so the encoding (or its Hash) tells whether anything
// changed. Nil and empty lists encode alike wherever the field is omitempty.
func CanonicalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode canonical json: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Hash returns the lower-case hex SHA-256 of CanonicalJSON(v): store it
// with the pushed payload and compare it with the desired payload's hash to
// skip unchanged contacts.
func Hash(v any) (string, error) {
	b, err := CanonicalJSON(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
