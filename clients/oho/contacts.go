package oho

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"crmsync/clients/apiclient"
)

// Platform is a value of Oho's platform enum.
type Platform string

// The platforms Oho accepts (social_profile.platform and the URL's :platform).
const (
	LINE      Platform = "line"
	Facebook  Platform = "facebook"
	Instagram Platform = "instagram"
)

// Gender is a value of Oho's gender enum.
type Gender string

// The genders Oho accepts; Oho stores GenderNotSay when none is sent.
const (
	GenderMale   Gender = "male"
	GenderFemale Gender = "female"
	GenderNotSay Gender = "not_say"
)

// Key identifies a contact: /contact/:platform/:platform_id/user/:user_id.
type Key struct {
	Platform Platform
	// PlatformID is the LINE OA's bot user ID (LINE GET /v2/bot/info →
	// userId, not the channel ID), the Facebook Page ID or the Instagram ID.
	PlatformID string
	// UserID is the contact's user id on that platform.
	UserID string
}

// String returns "platform/platform_id/user_id", for logs and errors.
func (k Key) String() string {
	return string(k.Platform) + "/" + k.PlatformID + "/" + k.UserID
}

// segments returns the URL path segments of the contact.
func (k Key) segments() ([]string, error) {
	if k.Platform == "" || k.PlatformID == "" || k.UserID == "" {
		return nil, errors.New("incomplete key")
	}
	return []string{"contact", string(k.Platform), k.PlatformID, "user", k.UserID}, nil
}

// SocialProfile identifies the contact on its platform (social_profile).
type SocialProfile struct {
	Platform Platform `json:"platform"`
	// ID is the contact's user id on the platform (max 40).
	ID string `json:"id"`
	// PlatformID is the LINE bot user ID, Facebook Page ID or Instagram ID (max 40).
	PlatformID string `json:"platform_id"`
	// PlatformName is the LINE OA display name, page name or Instagram
	// username (max 255).
	PlatformName string `json:"platform_name"`
	// LineBasicID is the LINE OA's basic id such as "@129oruit" (max 255);
	// required for LINE, absent for Facebook and Instagram.
	LineBasicID string `json:"line_basic_id,omitempty"`
}

// AttributeValue is an attribute's value object.
type AttributeValue struct {
	Text string `json:"text"` // max 2000
}

// Attribute is one custom attribute ("ข้อมูลเฉพาะ"). Its DisplayName
// identifies it within the business: a new name creates a new attribute.
type Attribute struct {
	DisplayName string         `json:"display_name"` // max 100, unique
	Value       AttributeValue `json:"value"`
}

// Contact is a contact as GET returns it. The reference shows no example of
// the found response; the fields are those of the create body, decoded
// leniently (UnmarshalJSON). Gender is GenderNotSay or "" when not set.
type Contact struct {
	SocialProfile       SocialProfile `json:"social_profile"`
	ProfilePictureURL   string        `json:"profile_picture_url"`
	PlatformDisplayName string        `json:"platform_display_name"`
	DisplayName         string        `json:"display_name"`
	FirstName           string        `json:"first_name"`
	LastName            string        `json:"last_name"`
	Phone               string        `json:"phone"`
	Email               string        `json:"email"`
	Country             string        `json:"country"`
	City                string        `json:"city"`
	Gender              Gender        `json:"gender"`
	Age                 int           `json:"age"` // 0 when not set
	BirthDate           string        `json:"birth_date"`
	Attributes          []Attribute   `json:"attributes"`
	Tags                []string      `json:"tags"`
	Labels              []string      `json:"labels"`
}

// Key returns the contact's key.
func (c Contact) Key() Key {
	return Key{Platform: c.SocialProfile.Platform, PlatformID: c.SocialProfile.PlatformID, UserID: c.SocialProfile.ID}
}

// ContactCreateRequest is the POST /contact body (§2.2). Limits count
// characters (the reference does not say what one is; package mapping holds
// the stricter of code points and UTF-16 units) and keeps payloads within them.
type ContactCreateRequest struct {
	SocialProfile SocialProfile `json:"social_profile"` // required
	// ProfilePictureURL is required (max 2000): LINE GET /v2/bot/profile → pictureUrl.
	ProfilePictureURL string `json:"profile_picture_url"`
	// PlatformDisplayName is the contact's original name on the platform,
	// required (max 255).
	PlatformDisplayName string `json:"platform_display_name"`
	// DisplayName is the name the admins see, required (max 255 on create).
	DisplayName string `json:"display_name"`
	FirstName   string `json:"first_name"`          // required, max 100
	LastName    string `json:"last_name,omitempty"` // max 100
	Phone       string `json:"phone,omitempty"`     // max 20, local format "0987654321"
	Email       string `json:"email,omitempty"`     // max 254
	Country     string `json:"country,omitempty"`   // Thai name from Oho's country.json, e.g. "ไทย"
	City        string `json:"city,omitempty"`      // Thai name from Oho's province.json
	Gender      Gender `json:"gender,omitempty"`    // default GenderNotSay
	Age         int    `json:"age,omitempty"`       // 1..99; 0 is not sent
	BirthDate   string `json:"birth_date,omitempty"`
	// Attributes, Tags (at most 20) and Labels ("chat tags", at most 10)
	// are not sent when empty.
	Attributes []Attribute `json:"attributes,omitempty"`
	Tags       []string    `json:"tags,omitempty"`
	Labels     []string    `json:"labels,omitempty"`
}

// Key returns the key of the contact the request creates.
func (r ContactCreateRequest) Key() Key {
	return Key{Platform: r.SocialProfile.Platform, PlatformID: r.SocialProfile.PlatformID, UserID: r.SocialProfile.ID}
}

// ContactUpdateRequest is the PATCH body (§2.3). A nil field is not sent and
// Oho leaves it unchanged; a set field replaces the stored value. Attributes,
// Tags and Labels replace the stored list whole: point at the complete
// desired list (an empty or nil list clears it). Build pointers with new,
// e.g. new("Somchai") or new(tags).
type ContactUpdateRequest struct {
	DisplayName *string `json:"display_name,omitempty"` // max 1000 on update
	FirstName   *string `json:"first_name,omitempty"`   // max 100
	LastName    *string `json:"last_name,omitempty"`    // max 100
	Phone       *string `json:"phone,omitempty"`        // max 20
	Email       *string `json:"email,omitempty"`        // max 254
	Country     *string `json:"country,omitempty"`
	City        *string `json:"city,omitempty"`
	Gender      *Gender `json:"gender,omitempty"`
	Age         *int    `json:"age,omitempty"`        // 1..99
	BirthDate   *string `json:"birth_date,omitempty"` // "YYYY-MM-DD"

	Attributes *[]Attribute `json:"attributes,omitempty"`
	Tags       *[]string    `json:"tags,omitempty"`   // at most 20
	Labels     *[]string    `json:"labels,omitempty"` // at most 10
}

// MarshalJSON encodes the request, sending a present but nil list as []
// rather than null, so that "clear the tags" cannot turn into "no change".
func (r ContactUpdateRequest) MarshalJSON() ([]byte, error) {
	type plain ContactUpdateRequest // no methods: no recursion
	p := plain(r)
	if p.Attributes != nil && *p.Attributes == nil {
		p.Attributes = new([]Attribute{})
	}
	if p.Tags != nil && *p.Tags == nil {
		p.Tags = new([]string{})
	}
	if p.Labels != nil && *p.Labels == nil {
		p.Labels = new([]string{})
	}
	return json.Marshal(p)
}

// ContactsService is the Contact API.
type ContactsService struct{ c *Client }

// Get returns the contact with key k. A missing contact is an error matching
// apiclient.ErrNotFound. The found contact is decoded leniently (see
// Contact.UnmarshalJSON); one that still cannot be read is an error
// matching ErrUnreadable (a *ReadError says where).
//
// Oho docs: GET /contact/:platform/:platform_id/user/:user_id (§2.1)
func (s *ContactsService) Get(ctx context.Context, k Key) (*Contact, error) {
	seg, err := k.segments()
	if err != nil {
		return nil, fmt.Errorf("get oho contact %s: %w", k, err)
	}
	var c Contact
	if err := s.c.do(ctx, http.MethodGet, seg, nil, &c); err != nil {
		return nil, fmt.Errorf("get oho contact %s: %w", k, readable(err))
	}
	return &c, nil
}

// Create creates a contact. An existing contact with the same key is an
// error matching apiclient.ErrConflict; the caller then updates it instead.
//
// The request is retried on 429/5xx like a GET: Oho keys the contact by its
// social profile, so a repeat cannot duplicate it, but a retry after a lost
// response reports ErrConflict for a contact this very call created.
//
// Oho docs: POST /contact (§2.2)
func (s *ContactsService) Create(ctx context.Context, req ContactCreateRequest) error {
	k := req.Key()
	if _, err := k.segments(); err != nil {
		return fmt.Errorf("create oho contact %s: %w", k, err)
	}
	if err := s.c.do(apiclient.WithIdempotent(ctx), http.MethodPost, []string{"contact"}, req, nil); err != nil {
		return fmt.Errorf("create oho contact %s: %w", k, err)
	}
	return nil
}

// Update changes the fields set in req on the contact with key k. A missing
// contact is an error matching apiclient.ErrNotFound. The PATCH sets values
// and replaces lists whole, so it is retried on 429/5xx.
//
// Oho docs: PATCH /contact/:platform/:platform_id/user/:user_id (§2.3)
func (s *ContactsService) Update(ctx context.Context, k Key, req ContactUpdateRequest) error {
	seg, err := k.segments()
	if err != nil {
		return fmt.Errorf("update oho contact %s: %w", k, err)
	}
	if err := s.c.do(apiclient.WithIdempotent(ctx), http.MethodPatch, seg, req, nil); err != nil {
		return fmt.Errorf("update oho contact %s: %w", k, err)
	}
	return nil
}
