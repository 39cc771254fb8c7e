package ohotest

import (
	"fmt"
	"math"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
)

// Key identifies a contact as Oho does in its URLs:
// /contact/:platform/:platform_id/user/:user_id.
type Key struct {
	Platform   string // line, facebook or instagram
	PlatformID string // LINE bot user ID, Facebook Page ID or Instagram ID
	UserID     string // the contact's user id on that platform
}

// String returns "platform/platform_id/user_id".
func (k Key) String() string { return k.Platform + "/" + k.PlatformID + "/" + k.UserID }

// SocialProfile is a contact's social_profile object, as the fake stores and
// returns it. The JSON names are written from the Oho reference, not copied
// from package oho, so a misspelt tag in the client fails the tests.
type SocialProfile struct {
	Platform     string `json:"platform"`
	ID           string `json:"id"`
	PlatformID   string `json:"platform_id"`
	PlatformName string `json:"platform_name"`
	LineBasicID  string `json:"line_basic_id,omitempty"`
}

// AttributeValue is the value object of an attribute.
type AttributeValue struct {
	Text string `json:"text"`
}

// Attribute is one custom attribute, identified by its display name.
type Attribute struct {
	DisplayName string         `json:"display_name"`
	Value       AttributeValue `json:"value"`
}

// Contact is the state the fake keeps for one contact, also the data of a
// GET response (the reference shows no example of it; the fake answers with
// the create body's field names).
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
	Gender              string        `json:"gender"`
	Age                 int           `json:"age,omitempty"` // 0 when not set
	BirthDate           string        `json:"birth_date"`
	Attributes          []Attribute   `json:"attributes"`
	Tags                []string      `json:"tags"`
	Labels              []string      `json:"labels"`
}

// Key returns the contact's key, taken from its social profile.
func (c Contact) Key() Key {
	return Key{Platform: c.SocialProfile.Platform, PlatformID: c.SocialProfile.PlatformID, UserID: c.SocialProfile.ID}
}

// clone returns a deep copy of c, so callers never share slices with the fake.
func (c Contact) clone() Contact {
	c.Attributes = slices.Clone(c.Attributes)
	c.Tags = slices.Clone(c.Tags)
	c.Labels = slices.Clone(c.Labels)
	if c.Attributes == nil {
		c.Attributes = []Attribute{}
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if c.Labels == nil {
		c.Labels = []string{}
	}
	return c
}

// foundName is a tag or label as FoundObjects writes it.
type foundName struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// foundAttribute is an attribute as FoundObjects writes it.
type foundAttribute struct {
	ID    string         `json:"id"`
	Name  string         `json:"name"`
	Value AttributeValue `json:"value"`
}

// foundContact is a found contact as FoundObjects writes it: nullable
// fields, lists of objects, and fields of Oho's own.
type foundContact struct {
	ID                  string           `json:"id"`
	SocialProfile       SocialProfile    `json:"social_profile"`
	ProfilePictureURL   *string          `json:"profile_picture_url"`
	PlatformDisplayName *string          `json:"platform_display_name"`
	DisplayName         *string          `json:"display_name"`
	FirstName           *string          `json:"first_name"`
	LastName            *string          `json:"last_name"`
	Phone               *string          `json:"phone"`
	Email               *string          `json:"email"`
	Country             *string          `json:"country"`
	City                *string          `json:"city"`
	Gender              *string          `json:"gender"`
	Age                 *int             `json:"age"`
	BirthDate           *string          `json:"birth_date"`
	Attributes          []foundAttribute `json:"attributes"`
	Tags                []foundName      `json:"tags"`
	Labels              []foundName      `json:"labels"`
	CreatedAt           string           `json:"created_at"`
}

// asFound returns c as FoundObjects writes it.
func (c Contact) asFound() foundContact {
	null := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	f := foundContact{
		ID:                  "ct_" + strings.NewReplacer("/", "_").Replace(c.Key().String()),
		SocialProfile:       c.SocialProfile,
		ProfilePictureURL:   null(c.ProfilePictureURL),
		PlatformDisplayName: null(c.PlatformDisplayName),
		DisplayName:         null(c.DisplayName),
		FirstName:           null(c.FirstName),
		LastName:            null(c.LastName),
		Phone:               null(c.Phone),
		Email:               null(c.Email),
		Country:             null(c.Country),
		City:                null(c.City),
		Gender:              null(c.Gender),
		BirthDate:           null(c.BirthDate),
		Attributes:          []foundAttribute{},
		Tags:                []foundName{},
		Labels:              []foundName{},
		CreatedAt:           "2026-01-05T09:30:00.000Z",
	}
	if c.Age != 0 {
		f.Age = &c.Age
	}
	for i, a := range c.Attributes {
		f.Attributes = append(f.Attributes, foundAttribute{ID: fmt.Sprintf("at_%d", i+1), Name: a.DisplayName, Value: a.Value})
	}
	for i, t := range c.Tags {
		f.Tags = append(f.Tags, foundName{ID: fmt.Sprintf("tg_%d", i+1), Name: t})
	}
	for i, l := range c.Labels {
		f.Labels = append(f.Labels, foundName{ID: fmt.Sprintf("lb_%d", i+1), Name: l})
	}
	return f
}

// Limits from oho-developer-api.th.txt, §2.2 Create Contact and §2.3 Update
// Contact (the "Length" column). The reference does not say what a character
// is; the fake takes the stricter reading a server might have and counts
// UTF-16 code units (as JavaScript's length does), so an astral character
// such as 𝒇 or an emoji counts two.
const (
	MaxSocialID            = 40    // social_profile.id, social_profile.platform_id: "max: 40"
	MaxPlatformName        = 255   // social_profile.platform_name: "max: 255"
	MaxLineBasicID         = 255   // social_profile.line_basic_id: "max: 255"
	MaxProfilePictureURL   = 2000  // profile_picture_url: "max: 2000"
	MaxPlatformDisplayName = 255   // platform_display_name: "max: 255"
	MaxDisplayNameCreate   = 255   // display_name on create: "max: 255"
	MaxDisplayNameUpdate   = 1000  // display_name on update: "max: 1000"
	MaxFirstName           = 100   // first_name: "max: 100"
	MaxLastName            = 100   // last_name: "max: 100"
	MaxPhone               = 20    // phone: "max: 20"
	MaxEmail               = 254   // email: "max: 254"
	MaxBirthDate           = 24    // birth_date on update: "max: 24"
	MaxAttributeName       = 100   // attributes[].display_name: "max: 100"
	MaxAttributeText       = 2000  // attributes[].value.text: "max: 2000"
	MaxTags                = 20    // tags: "max: 20" ("รองรับสูงสุด 20 แท็ก")
	MaxLabels              = 10    // labels: "max: 10" ("รองรับสูงสุด 10 แท็ก")
	MinAge, MaxAge         = 1, 99 // age: "min: 1 max: 99"
)

// Platforms are the values of the platform enum ("enum : line, facebook, instagram").
var Platforms = []string{"line", "facebook", "instagram"}

// Genders are the values of the gender enum ("enum : male, female, not_say").
var Genders = []string{"male", "female", "not_say"}

// createBody is the POST /contact body. Pointers tell "absent" from "empty";
// age is a float so that 25.5 can be refused rather than failing to decode.
type createBody struct {
	SocialProfile *struct {
		Platform     *string `json:"platform"`
		ID           *string `json:"id"`
		PlatformID   *string `json:"platform_id"`
		PlatformName *string `json:"platform_name"`
		LineBasicID  *string `json:"line_basic_id"`
	} `json:"social_profile"`
	ProfilePictureURL   *string          `json:"profile_picture_url"`
	PlatformDisplayName *string          `json:"platform_display_name"`
	DisplayName         *string          `json:"display_name"`
	FirstName           *string          `json:"first_name"`
	LastName            *string          `json:"last_name"`
	Phone               *string          `json:"phone"`
	Email               *string          `json:"email"`
	Country             *string          `json:"country"`
	City                *string          `json:"city"`
	Gender              *string          `json:"gender"`
	Age                 *float64         `json:"age"`
	BirthDate           *string          `json:"birth_date"`
	Attributes          *[]attributeBody `json:"attributes"`
	Tags                *[]string        `json:"tags"`
	Labels              *[]string        `json:"labels"`
}

// updateBody is the PATCH body: every field optional, no social profile.
type updateBody struct {
	DisplayName *string          `json:"display_name"`
	FirstName   *string          `json:"first_name"`
	LastName    *string          `json:"last_name"`
	Phone       *string          `json:"phone"`
	Email       *string          `json:"email"`
	Country     *string          `json:"country"`
	City        *string          `json:"city"`
	Gender      *string          `json:"gender"`
	Age         *float64         `json:"age"`
	BirthDate   *string          `json:"birth_date"`
	Attributes  *[]attributeBody `json:"attributes"`
	Tags        *[]string        `json:"tags"`
	Labels      *[]string        `json:"labels"`
}

// attributeBody is one element of attributes[] as sent.
type attributeBody struct {
	DisplayName *string `json:"display_name"`
	Value       *struct {
		Text *string `json:"text"`
	} `json:"value"`
}

// field checks one string field: present when required, at most max UTF-16 code units.
type field struct {
	name     string
	val      *string
	max      int
	required bool
}

// check returns the reason the field is refused, or "".
func (f field) check() string {
	if f.val == nil || *f.val == "" {
		if f.required {
			return f.name + " is required"
		}
		return ""
	}
	if n := utf16Len(*f.val); n > f.max {
		return fmt.Sprintf("%s is %d characters (UTF-16 units), max %d", f.name, n, f.max)
	}
	return ""
}

// validateCreate returns the reason body is refused, or "" and the contact it creates.
func validateCreate(b createBody) (Contact, string) {
	sp := b.SocialProfile
	if sp == nil {
		return Contact{}, "social_profile is required"
	}
	if sp.Platform == nil || *sp.Platform == "" {
		return Contact{}, "social_profile.platform is required"
	}
	if !slices.Contains(Platforms, *sp.Platform) {
		return Contact{}, "social_profile.platform must be one of line, facebook, instagram"
	}
	isLINE := *sp.Platform == "line"
	fields := []field{
		{name: "social_profile.id", val: sp.ID, max: MaxSocialID, required: true},
		{name: "social_profile.platform_id", val: sp.PlatformID, max: MaxSocialID, required: true},
		{name: "social_profile.platform_name", val: sp.PlatformName, max: MaxPlatformName, required: true},
		// "required" in the table, "platform Facebook และ Instagram ไม่มี" in the description:
		// required for LINE only.
		{name: "social_profile.line_basic_id", val: sp.LineBasicID, max: MaxLineBasicID, required: isLINE},
		{name: "profile_picture_url", val: b.ProfilePictureURL, max: MaxProfilePictureURL, required: true},
		{name: "platform_display_name", val: b.PlatformDisplayName, max: MaxPlatformDisplayName, required: true},
		{name: "display_name", val: b.DisplayName, max: MaxDisplayNameCreate, required: true},
		{name: "first_name", val: b.FirstName, max: MaxFirstName, required: true},
		{name: "last_name", val: b.LastName, max: MaxLastName},
		{name: "phone", val: b.Phone, max: MaxPhone},
		{name: "email", val: b.Email, max: MaxEmail},
	}
	for _, f := range fields {
		if r := f.check(); r != "" {
			return Contact{}, r
		}
	}
	if r := checkCommon(b.Phone, b.Email, b.Gender, b.Age, b.BirthDate, b.Attributes, b.Tags, b.Labels); r != "" {
		return Contact{}, r
	}

	c := Contact{
		SocialProfile: SocialProfile{
			Platform:     *sp.Platform,
			ID:           *sp.ID,
			PlatformID:   *sp.PlatformID,
			PlatformName: *sp.PlatformName,
			LineBasicID:  deref(sp.LineBasicID),
		},
		ProfilePictureURL:   *b.ProfilePictureURL,
		PlatformDisplayName: *b.PlatformDisplayName,
		DisplayName:         *b.DisplayName,
		FirstName:           *b.FirstName,
		LastName:            deref(b.LastName),
		Phone:               deref(b.Phone),
		Email:               deref(b.Email),
		Country:             deref(b.Country),
		City:                deref(b.City),
		Gender:              "not_say", // "default คือ not_say"
		BirthDate:           deref(b.BirthDate),
	}
	if b.Gender != nil && *b.Gender != "" {
		c.Gender = *b.Gender
	}
	if b.Age != nil {
		c.Age = int(*b.Age)
	}
	if b.Attributes != nil {
		c.Attributes = attributes(*b.Attributes)
	}
	if b.Tags != nil {
		c.Tags = slices.Clone(*b.Tags)
	}
	if b.Labels != nil {
		c.Labels = slices.Clone(*b.Labels)
	}
	return c.clone(), ""
}

// validateUpdate returns the reason body is refused, or "".
func validateUpdate(b updateBody) string {
	fields := []field{
		{name: "display_name", val: b.DisplayName, max: MaxDisplayNameUpdate},
		{name: "first_name", val: b.FirstName, max: MaxFirstName},
		{name: "last_name", val: b.LastName, max: MaxLastName},
		{name: "phone", val: b.Phone, max: MaxPhone},
		{name: "email", val: b.Email, max: MaxEmail},
		{name: "birth_date", val: b.BirthDate, max: MaxBirthDate},
	}
	for _, f := range fields {
		if r := f.check(); r != "" {
			return r
		}
	}
	return checkCommon(b.Phone, b.Email, b.Gender, b.Age, b.BirthDate, b.Attributes, b.Tags, b.Labels)
}

// apply changes c by the fields present in b; attributes, tags and labels are
// replaced whole ("อัปเดตแบบทับข้อมูลเดิมในฟิลด์ไปเลย").
func (b updateBody) apply(c Contact) Contact {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&c.DisplayName, b.DisplayName)
	set(&c.FirstName, b.FirstName)
	set(&c.LastName, b.LastName)
	set(&c.Phone, b.Phone)
	set(&c.Email, b.Email)
	set(&c.Country, b.Country)
	set(&c.City, b.City)
	set(&c.Gender, b.Gender)
	set(&c.BirthDate, b.BirthDate)
	if b.Age != nil {
		c.Age = int(*b.Age)
	}
	if b.Attributes != nil {
		c.Attributes = attributes(*b.Attributes)
	}
	if b.Tags != nil {
		c.Tags = slices.Clone(*b.Tags)
	}
	if b.Labels != nil {
		c.Labels = slices.Clone(*b.Labels)
	}
	return c.clone()
}

// checkCommon applies the rules create and update share.
func checkCommon(phone, email, gender *string, age *float64, birthDate *string, attrs *[]attributeBody, tags, labels *[]string) string {
	if phone != nil && *phone != "" && !isPhone(*phone) {
		return "phone must be written as 'format : 0987654321' shows: digits only, the first a 0"
	}
	if email != nil && *email != "" && !isEmail(*email) {
		return "email must be an email"
	}
	if gender != nil && *gender != "" && !slices.Contains(Genders, *gender) {
		return "gender must be one of male, female, not_say"
	}
	if age != nil {
		if *age != math.Trunc(*age) || *age < MinAge || *age > MaxAge {
			return fmt.Sprintf("age must be an integer from %d to %d", MinAge, MaxAge)
		}
	}
	if birthDate != nil && *birthDate != "" {
		if _, err := time.Parse(time.DateOnly, *birthDate); err != nil {
			return "birth_date must be a valid YYYY-MM-DD date"
		}
	}
	if attrs != nil {
		seen := make(map[string]bool, len(*attrs))
		for i, a := range *attrs {
			if r := (field{name: fmt.Sprintf("attributes[%d].display_name", i), val: a.DisplayName, max: MaxAttributeName, required: true}).check(); r != "" {
				return r
			}
			if seen[*a.DisplayName] {
				return fmt.Sprintf("attributes[%d].display_name %q is duplicated", i, *a.DisplayName)
			}
			seen[*a.DisplayName] = true
			if a.Value == nil {
				return fmt.Sprintf("attributes[%d].value is required", i)
			}
			if r := (field{name: fmt.Sprintf("attributes[%d].value.text", i), val: a.Value.Text, max: MaxAttributeText, required: true}).check(); r != "" {
				return r
			}
		}
	}
	if tags != nil && len(*tags) > MaxTags {
		return fmt.Sprintf("tags has %d items, max %d", len(*tags), MaxTags)
	}
	if labels != nil && len(*labels) > MaxLabels {
		return fmt.Sprintf("labels has %d items, max %d", len(*labels), MaxLabels)
	}
	return ""
}

// isPhone reports whether s has the one form the reference shows for phone
// ("เบอร์โทร format : '0987654321'"): national digits, a leading 0, nothing
// else (no +, spaces or dashes). The reference documents no other form, so
// the fake accepts none (the update example's '01234567892' has it too).
func isPhone(s string) bool {
	if len(s) < 2 || s[0] != '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isEmail reports whether s is a bare address local@domain with a dotted domain.
func isEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// attributes converts validated attribute bodies.
func attributes(in []attributeBody) []Attribute {
	out := make([]Attribute, 0, len(in))
	for _, a := range in {
		out = append(out, Attribute{DisplayName: *a.DisplayName, Value: AttributeValue{Text: *a.Value.Text}})
	}
	return out
}

// utf16Len returns the UTF-16 code units of s.
func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// deref returns *s, or "" when s is nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
