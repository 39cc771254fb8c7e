package ohotest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"crmsync/clients/oho/ohotest"
)

// Names from the vendor's own example: an astral-plane, combining-mark display
// name and a Thai OA name.
const (
	emojiName = "˚♡̴ 𝒇𝒂𝒏𝒈"
	thaiName  = "ปักเป้า"
)

// fill repeats the code points of s until the result is exactly n UTF-16
// units long (the unit the fake counts), ending with an "x" where an astral
// code point would overshoot.
func fill(s string, n int) string {
	rs := []rune(s)
	var out []rune
	for i, units := 0, 0; units < n; i++ {
		r := rs[i%len(rs)]
		if k := utf16.RuneLen(r); units+k > n {
			r = 'x'
		}
		out = append(out, r)
		units += utf16.RuneLen(r)
	}
	return string(out)
}

// email returns a valid address of exactly n code points.
func email(n int) string {
	const domain = "@example.com"
	return strings.Repeat("a", n-len(domain)) + domain
}

// createBody returns the Postman "Create Contact" example, as a JSON object.
func createBody() map[string]any {
	return map[string]any{
		"social_profile": map[string]any{
			"platform":      "line",
			"id":            "U0a0b0c525e1ade1f909a58233f9e9aaa",
			"platform_id":   "Uf43c82b98f893660ff936c921ca4034b",
			"platform_name": thaiName,
			"line_basic_id": "@129oruit",
		},
		"profile_picture_url":   "https://example.com/p.png",
		"platform_display_name": emojiName,
		"display_name":          emojiName,
		"first_name":            emojiName,
		"last_name":             "",
		"phone":                 "0987654321",
		"email":                 "hello@oho.chat",
		"country":               "ไทย",
		"city":                  "กรุงเทพมหานคร",
		"gender":                "female",
		"age":                   25,
		"birth_date":            "1998-11-29",
		"attributes": []any{
			map[string]any{"display_name": "customer_group", "value": map[string]any{"text": "Crown"}},
			map[string]any{"display_name": "customer_id", "value": map[string]any{"text": "123456789"}},
		},
		"tags":   []any{"ลูกค้าประจำ", "VIP", "packgate รายเดือน"},
		"labels": []any{"ติดตามสินค้า"},
	}
}

var createdKey = ohotest.Key{Platform: "line", PlatformID: "Uf43c82b98f893660ff936c921ca4034b", UserID: "U0a0b0c525e1ade1f909a58233f9e9aaa"}

const contactPath = "/contact/line/Uf43c82b98f893660ff936c921ca4034b/user/U0a0b0c525e1ade1f909a58233f9e9aaa"

// response is the envelope as the tests read it.
type response struct {
	OK         bool            `json:"ok"`
	StatusCode int             `json:"status_code"`
	Message    string          `json:"message"`
	Data       json.RawMessage `json:"data"`
}

// call sends one request straight to the handler and decodes the envelope.
func call(t *testing.T, srv *ohotest.Server, method, path string, body any) (int, response) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, path, rd)
	req.Header.Set("x-oho-api-key", srv.APIKey())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var resp response
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp), rec.Body.String())
	require.Equal(t, rec.Code, resp.StatusCode, "status_code mirrors the HTTP status")
	return rec.Code, resp
}

// set returns a mutation that sets path (dot-separated) in a JSON object.
func set(path string, v any) func(map[string]any) {
	return func(m map[string]any) {
		keys := strings.Split(path, ".")
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		m[keys[len(keys)-1]] = v
	}
}

// del returns a mutation that removes path from a JSON object.
func del(path string) func(map[string]any) {
	return func(m map[string]any) {
		keys := strings.Split(path, ".")
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		delete(m, keys[len(keys)-1])
	}
}

// strs returns n distinct strings.
func strs(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = "t" + strings.Repeat("x", i)
	}
	return out
}

// attrs returns attributes with the given display names and text.
func attrs(text string, names ...string) []any {
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, map[string]any{"display_name": n, "value": map[string]any{"text": text}})
	}
	return out
}

func TestServer_Create_limits(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		give       func(map[string]any)
		wantStatus int
		wantReason string // substring of Request.Reason for a 400
	}{
		{name: "VendorExample", give: func(map[string]any) {}, wantStatus: 201},

		{name: "SocialProfileMissing", give: del("social_profile"), wantStatus: 400, wantReason: "social_profile is required"},
		{name: "PlatformMissing", give: del("social_profile.platform"), wantStatus: 400, wantReason: "social_profile.platform is required"},
		{name: "PlatformFacebook", give: set("social_profile.platform", "facebook"), wantStatus: 201},
		{name: "PlatformInstagram", give: set("social_profile.platform", "instagram"), wantStatus: 201},
		{name: "PlatformWhatsApp", give: set("social_profile.platform", "whatsapp"), wantStatus: 400, wantReason: "social_profile.platform must be one of"},

		{name: "IDAtLimit", give: set("social_profile.id", fill("U0", 40)), wantStatus: 201},
		{name: "IDOverLimit", give: set("social_profile.id", fill("U0", 41)), wantStatus: 400, wantReason: "social_profile.id is 41 characters (UTF-16 units), max 40"},
		{name: "IDMissing", give: del("social_profile.id"), wantStatus: 400, wantReason: "social_profile.id is required"},
		{name: "IDEmpty", give: set("social_profile.id", ""), wantStatus: 400, wantReason: "social_profile.id is required"},
		{name: "PlatformIDAtLimit", give: set("social_profile.platform_id", fill("U1", 40)), wantStatus: 201},
		{name: "PlatformIDOverLimit", give: set("social_profile.platform_id", fill("U1", 41)), wantStatus: 400, wantReason: "social_profile.platform_id is 41 characters (UTF-16 units), max 40"},
		{name: "PlatformIDMissing", give: del("social_profile.platform_id"), wantStatus: 400, wantReason: "social_profile.platform_id is required"},
		{name: "PlatformNameThaiAtLimit", give: set("social_profile.platform_name", fill(thaiName, 255)), wantStatus: 201},
		{name: "PlatformNameThaiOverLimit", give: set("social_profile.platform_name", fill(thaiName, 256)), wantStatus: 400, wantReason: "social_profile.platform_name is 256 characters (UTF-16 units), max 255"},
		{name: "PlatformNameMissing", give: del("social_profile.platform_name"), wantStatus: 400, wantReason: "social_profile.platform_name is required"},
		{name: "LineBasicIDAtLimit", give: set("social_profile.line_basic_id", fill("@abc", 255)), wantStatus: 201},
		{name: "LineBasicIDOverLimit", give: set("social_profile.line_basic_id", fill("@abc", 256)), wantStatus: 400, wantReason: "social_profile.line_basic_id is 256 characters (UTF-16 units), max 255"},
		{name: "LineBasicIDMissingForLINE", give: del("social_profile.line_basic_id"), wantStatus: 400, wantReason: "social_profile.line_basic_id is required"},
		{name: "LineBasicIDMissingForFacebook", give: func(m map[string]any) {
			set("social_profile.platform", "facebook")(m)
			del("social_profile.line_basic_id")(m)
		}, wantStatus: 201},

		{name: "ProfilePictureURLAtLimit", give: set("profile_picture_url", "https://x.example/"+strings.Repeat("p", 2000-18)), wantStatus: 201},
		{name: "ProfilePictureURLOverLimit", give: set("profile_picture_url", "https://x.example/"+strings.Repeat("p", 2001-18)), wantStatus: 400, wantReason: "profile_picture_url is 2001 characters (UTF-16 units), max 2000"},
		{name: "ProfilePictureURLMissing", give: del("profile_picture_url"), wantStatus: 400, wantReason: "profile_picture_url is required"},
		{name: "PlatformDisplayNameEmojiAtLimit", give: set("platform_display_name", fill(emojiName, 255)), wantStatus: 201},
		{name: "PlatformDisplayNameEmojiOverLimit", give: set("platform_display_name", fill(emojiName, 256)), wantStatus: 400, wantReason: "platform_display_name is 256 characters (UTF-16 units), max 255"},
		{name: "PlatformDisplayNameMissing", give: del("platform_display_name"), wantStatus: 400, wantReason: "platform_display_name is required"},
		{name: "DisplayNameEmojiAtLimit", give: set("display_name", fill(emojiName, 255)), wantStatus: 201},
		{name: "DisplayNameEmojiOverLimit", give: set("display_name", fill(emojiName, 256)), wantStatus: 400, wantReason: "display_name is 256 characters (UTF-16 units), max 255"},
		{name: "DisplayNameMissing", give: del("display_name"), wantStatus: 400, wantReason: "display_name is required"},
		{name: "FirstNameThaiAtLimit", give: set("first_name", fill(thaiName, 100)), wantStatus: 201},
		{name: "FirstNameThaiOverLimit", give: set("first_name", fill(thaiName, 101)), wantStatus: 400, wantReason: "first_name is 101 characters (UTF-16 units), max 100"},
		{name: "FirstNameAstralAtLimitInUTF16Units", give: set("first_name", strings.Repeat("𝒇", 50)), wantStatus: 201},
		{name: "FirstNameAstralWithinCodePointsOverInUTF16Units", give: set("first_name", strings.Repeat("𝒇", 51)), wantStatus: 400,
			wantReason: "first_name is 102 characters (UTF-16 units), max 100"},
		{name: "FirstNameMissing", give: del("first_name"), wantStatus: 400, wantReason: "first_name is required"},
		{name: "LastNameEmojiAtLimit", give: set("last_name", fill(emojiName, 100)), wantStatus: 201},
		{name: "LastNameEmojiOverLimit", give: set("last_name", fill(emojiName, 101)), wantStatus: 400, wantReason: "last_name is 101 characters (UTF-16 units), max 100"},
		{name: "LastNameAbsent", give: del("last_name"), wantStatus: 201},

		{name: "PhoneAtLimit", give: set("phone", strings.Repeat("0", 20)), wantStatus: 201},
		{name: "PhoneOverLimit", give: set("phone", strings.Repeat("0", 21)), wantStatus: 400, wantReason: "phone is 21 characters (UTF-16 units), max 20"},
		{name: "PhoneE164Refused", give: set("phone", "+886966633355"), wantStatus: 400, wantReason: "phone must be written as 'format : 0987654321' shows"},
		{name: "PhoneInternationalDigitsRefused", give: set("phone", "66812345678"), wantStatus: 400, wantReason: "phone must be written as"},
		{name: "PhoneDashesRefused", give: set("phone", "081-234-5678"), wantStatus: 400, wantReason: "phone must be written as"},
		{name: "PhoneDialledFromThailandAccepted", give: set("phone", "001886966633355"), wantStatus: 201},
		{name: "EmailAtLimit", give: set("email", email(254)), wantStatus: 201},
		{name: "EmailOverLimit", give: set("email", email(255)), wantStatus: 400, wantReason: "email is 255 characters (UTF-16 units), max 254"},
		{name: "EmailNotAnEmail", give: set("email", "hello at oho.chat"), wantStatus: 400, wantReason: "email must be an email"},
		{name: "EmailWithoutDomainDot", give: set("email", "hello@oho"), wantStatus: 400, wantReason: "email must be an email"},
		{name: "EmailWithName", give: set("email", "Hello <hello@oho.chat>"), wantStatus: 400, wantReason: "email must be an email"},

		{name: "GenderMale", give: set("gender", "male"), wantStatus: 201},
		{name: "GenderNotSay", give: set("gender", "not_say"), wantStatus: 201},
		{name: "GenderOther", give: set("gender", "other"), wantStatus: 400, wantReason: "gender must be one of"},
		{name: "AgeMin", give: set("age", 1), wantStatus: 201},
		{name: "AgeMax", give: set("age", 99), wantStatus: 201},
		{name: "AgeZero", give: set("age", 0), wantStatus: 400, wantReason: "age must be an integer from 1 to 99"},
		{name: "AgeOverMax", give: set("age", 100), wantStatus: 400, wantReason: "age must be an integer from 1 to 99"},
		{name: "AgeFraction", give: set("age", 25.5), wantStatus: 400, wantReason: "age must be an integer from 1 to 99"},
		{name: "AgeString", give: set("age", "25"), wantStatus: 400, wantReason: "invalid JSON body"},
		{name: "BirthDateLeapDay", give: set("birth_date", "2000-02-29"), wantStatus: 201},
		{name: "BirthDateInvalidDay", give: set("birth_date", "1998-02-30"), wantStatus: 400, wantReason: "birth_date must be a valid YYYY-MM-DD date"},
		{name: "BirthDateOtherFormat", give: set("birth_date", "29/11/1998"), wantStatus: 400, wantReason: "birth_date must be a valid YYYY-MM-DD date"},

		{name: "AttributeNameThaiAtLimit", give: set("attributes", attrs("v", fill(thaiName, 100))), wantStatus: 201},
		{name: "AttributeNameThaiOverLimit", give: set("attributes", attrs("v", fill(thaiName, 101))), wantStatus: 400, wantReason: "attributes[0].display_name is 101 characters (UTF-16 units), max 100"},
		{name: "AttributeNameDuplicated", give: set("attributes", attrs("v", "a", "b", "a")), wantStatus: 400, wantReason: `attributes[2].display_name "a" is duplicated`},
		{name: "AttributeNameMissing", give: set("attributes", []any{map[string]any{"value": map[string]any{"text": "v"}}}), wantStatus: 400, wantReason: "attributes[0].display_name is required"},
		{name: "AttributeValueEmojiAtLimit", give: set("attributes", attrs(fill(emojiName, 2000), "a")), wantStatus: 201},
		{name: "AttributeValueEmojiOverLimit", give: set("attributes", attrs(fill(emojiName, 2001), "a")), wantStatus: 400, wantReason: "attributes[0].value.text is 2001 characters (UTF-16 units), max 2000"},
		{name: "AttributeValueMissing", give: set("attributes", []any{map[string]any{"display_name": "a"}}), wantStatus: 400, wantReason: "attributes[0].value is required"},
		{name: "AttributeValueTextMissing", give: set("attributes", []any{map[string]any{"display_name": "a", "value": map[string]any{}}}), wantStatus: 400, wantReason: "attributes[0].value.text is required"},
		{name: "AttributeValueAsString", give: set("attributes", []any{map[string]any{"display_name": "a", "value": "v"}}), wantStatus: 400, wantReason: "invalid JSON body"},

		{name: "TagsAtLimit", give: set("tags", strs(20)), wantStatus: 201},
		{name: "TagsOverLimit", give: set("tags", strs(21)), wantStatus: 400, wantReason: "tags has 21 items, max 20"},
		{name: "LabelsAtLimit", give: set("labels", strs(10)), wantStatus: 201},
		{name: "LabelsOverLimit", give: set("labels", strs(11)), wantStatus: 400, wantReason: "labels has 11 items, max 10"},

		{name: "UnknownField", give: set("nickname", "x"), wantStatus: 400, wantReason: `unknown field "nickname"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := ohotest.New(ohotest.Options{})
			body := createBody()
			tt.give(body)

			status, resp := call(t, srv, http.MethodPost, "/contact", body)

			require.Equal(t, tt.wantStatus, status)
			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			if tt.wantStatus == http.StatusCreated {
				require.Equal(t, ohotest.MsgCreated, resp.Message)
				require.True(t, resp.OK)
				require.Empty(t, reqs[0].Reason)
				require.Equal(t, 1, srv.Len())
				return
			}
			require.False(t, resp.OK)
			require.Equal(t, ohotest.MsgBadRequest, resp.Message)
			require.Contains(t, reqs[0].Reason, tt.wantReason)
			require.Zero(t, srv.Len(), "a refused create stores nothing")
		})
	}
}

func TestServer_Create_storesWhatWasSent(t *testing.T) {
	t.Parallel()
	srv := ohotest.New(ohotest.Options{})
	body := createBody()
	del("gender")(body)

	status, _ := call(t, srv, http.MethodPost, "/contact", body)
	require.Equal(t, http.StatusCreated, status)

	got, ok := srv.Contact(createdKey)
	require.True(t, ok)
	require.Equal(t, ohotest.Contact{
		SocialProfile: ohotest.SocialProfile{
			Platform: "line", ID: createdKey.UserID, PlatformID: createdKey.PlatformID,
			PlatformName: thaiName, LineBasicID: "@129oruit",
		},
		ProfilePictureURL:   "https://example.com/p.png",
		PlatformDisplayName: emojiName,
		DisplayName:         emojiName,
		FirstName:           emojiName,
		Phone:               "0987654321",
		Email:               "hello@oho.chat",
		Country:             "ไทย",
		City:                "กรุงเทพมหานคร",
		Gender:              "not_say", // the documented default
		Age:                 25,
		BirthDate:           "1998-11-29",
		Attributes: []ohotest.Attribute{
			{DisplayName: "customer_group", Value: ohotest.AttributeValue{Text: "Crown"}},
			{DisplayName: "customer_id", Value: ohotest.AttributeValue{Text: "123456789"}},
		},
		Tags:   []string{"ลูกค้าประจำ", "VIP", "packgate รายเดือน"},
		Labels: []string{"ติดตามสินค้า"},
	}, got)
	require.Equal(t, 8, utf8.RuneCountInString(got.DisplayName), "the emoji name survives intact")
}

func TestServer_Create_duplicateConflicts(t *testing.T) {
	t.Parallel()
	srv := ohotest.New(ohotest.Options{})

	status, _ := call(t, srv, http.MethodPost, "/contact", createBody())
	require.Equal(t, http.StatusCreated, status)
	changed := createBody()
	set("display_name", "other")(changed)
	status, resp := call(t, srv, http.MethodPost, "/contact", changed)

	require.Equal(t, http.StatusConflict, status)
	require.Equal(t, ohotest.MsgConflict, resp.Message)
	got, ok := srv.Contact(createdKey)
	require.True(t, ok)
	require.Equal(t, emojiName, got.DisplayName, "the conflicting create changed nothing")
}

func TestServer_Update_limits(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		give       map[string]any
		wantStatus int
		wantReason string
	}{
		{name: "Empty", give: map[string]any{}, wantStatus: 200},
		{name: "DisplayNameEmojiAtUpdateLimit", give: map[string]any{"display_name": fill(emojiName, 1000)}, wantStatus: 200},
		{name: "DisplayNameOverCreateLimitAccepted", give: map[string]any{"display_name": fill(thaiName, 256)}, wantStatus: 200},
		{name: "DisplayNameEmojiOverUpdateLimit", give: map[string]any{"display_name": fill(emojiName, 1001)}, wantStatus: 400, wantReason: "display_name is 1001 characters (UTF-16 units), max 1000"},
		{name: "FirstNameThaiAtLimit", give: map[string]any{"first_name": fill(thaiName, 100)}, wantStatus: 200},
		{name: "FirstNameThaiOverLimit", give: map[string]any{"first_name": fill(thaiName, 101)}, wantStatus: 400, wantReason: "first_name is 101 characters (UTF-16 units), max 100"},
		{name: "LastNameAtLimit", give: map[string]any{"last_name": fill(emojiName, 100)}, wantStatus: 200},
		{name: "LastNameOverLimit", give: map[string]any{"last_name": fill(emojiName, 101)}, wantStatus: 400, wantReason: "last_name is 101 characters (UTF-16 units), max 100"},
		{name: "PhoneAtLimit", give: map[string]any{"phone": "0" + strings.Repeat("1", 19)}, wantStatus: 200},
		{name: "PhoneOverLimit", give: map[string]any{"phone": "0" + strings.Repeat("1", 20)}, wantStatus: 400, wantReason: "phone is 21 characters (UTF-16 units), max 20"},
		{name: "PhoneVendorUpdateExample", give: map[string]any{"phone": "01234567892"}, wantStatus: 200},
		{name: "PhoneE164Refused", give: map[string]any{"phone": "+66812345678"}, wantStatus: 400, wantReason: "phone must be written as"},
		{name: "EmailAtLimit", give: map[string]any{"email": email(254)}, wantStatus: 200},
		{name: "EmailOverLimit", give: map[string]any{"email": email(255)}, wantStatus: 400, wantReason: "email is 255 characters (UTF-16 units), max 254"},
		{name: "EmailNotAnEmail", give: map[string]any{"email": "nope"}, wantStatus: 400, wantReason: "email must be an email"},
		{name: "GenderFemale", give: map[string]any{"gender": "female"}, wantStatus: 200},
		{name: "GenderUnknown", give: map[string]any{"gender": "m"}, wantStatus: 400, wantReason: "gender must be one of"},
		{name: "AgeMax", give: map[string]any{"age": 99}, wantStatus: 200},
		{name: "AgeOverMax", give: map[string]any{"age": 100}, wantStatus: 400, wantReason: "age must be an integer from 1 to 99"},
		{name: "AgeUnderMin", give: map[string]any{"age": 0}, wantStatus: 400, wantReason: "age must be an integer from 1 to 99"},
		{name: "BirthDateValid", give: map[string]any{"birth_date": "1999-11-29"}, wantStatus: 200},
		{name: "BirthDateInvalid", give: map[string]any{"birth_date": "1999-13-01"}, wantStatus: 400, wantReason: "birth_date must be a valid YYYY-MM-DD date"},
		{name: "BirthDateOverLength", give: map[string]any{"birth_date": strings.Repeat("1", 25)}, wantStatus: 400, wantReason: "birth_date is 25 characters (UTF-16 units), max 24"},
		{name: "AttributeNameAtLimit", give: map[string]any{"attributes": attrs("v", fill(emojiName, 100))}, wantStatus: 200},
		{name: "AttributeNameOverLimit", give: map[string]any{"attributes": attrs("v", fill(emojiName, 101))}, wantStatus: 400, wantReason: "attributes[0].display_name is 101 characters (UTF-16 units), max 100"},
		{name: "AttributeNameDuplicated", give: map[string]any{"attributes": attrs("v", "x", "x")}, wantStatus: 400, wantReason: `attributes[1].display_name "x" is duplicated`},
		{name: "AttributeValueAtLimit", give: map[string]any{"attributes": attrs(fill(thaiName, 2000), "x")}, wantStatus: 200},
		{name: "AttributeValueOverLimit", give: map[string]any{"attributes": attrs(fill(thaiName, 2001), "x")}, wantStatus: 400, wantReason: "attributes[0].value.text is 2001 characters (UTF-16 units), max 2000"},
		{name: "TagsAtLimit", give: map[string]any{"tags": strs(20)}, wantStatus: 200},
		{name: "TagsOverLimit", give: map[string]any{"tags": strs(21)}, wantStatus: 400, wantReason: "tags has 21 items, max 20"},
		{name: "LabelsAtLimit", give: map[string]any{"labels": strs(10)}, wantStatus: 200},
		{name: "LabelsOverLimit", give: map[string]any{"labels": strs(11)}, wantStatus: 400, wantReason: "labels has 11 items, max 10"},
		{name: "SocialProfileNotUpdatable", give: map[string]any{"social_profile": map[string]any{"platform": "line"}}, wantStatus: 400, wantReason: `unknown field "social_profile"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := ohotest.New(ohotest.Options{})
			status, _ := call(t, srv, http.MethodPost, "/contact", createBody())
			require.Equal(t, http.StatusCreated, status)
			before, _ := srv.Contact(createdKey)

			status, resp := call(t, srv, http.MethodPatch, contactPath, tt.give)

			require.Equal(t, tt.wantStatus, status)
			after, _ := srv.Contact(createdKey)
			if tt.wantStatus == http.StatusOK {
				require.Equal(t, ohotest.MsgUpdated, resp.Message)
				return
			}
			require.Equal(t, ohotest.MsgBadRequest, resp.Message)
			require.Contains(t, srv.Requests()[1].Reason, tt.wantReason)
			require.Equal(t, before, after, "a refused update changes nothing")
		})
	}
}

func TestServer_Update_replacesListsWhole(t *testing.T) {
	t.Parallel()
	srv := ohotest.New(ohotest.Options{})
	status, _ := call(t, srv, http.MethodPost, "/contact", createBody())
	require.Equal(t, http.StatusCreated, status)

	status, _ = call(t, srv, http.MethodPatch, contactPath, map[string]any{
		"tags":       []any{"VIP", "ใหม่"},
		"attributes": attrs("Gold", "customer_group"),
	})
	require.Equal(t, http.StatusOK, status)

	got, ok := srv.Contact(createdKey)
	require.True(t, ok)
	require.Equal(t, []string{"VIP", "ใหม่"}, got.Tags)
	require.Equal(t, []ohotest.Attribute{{DisplayName: "customer_group", Value: ohotest.AttributeValue{Text: "Gold"}}}, got.Attributes)
	require.Equal(t, []string{"ติดตามสินค้า"}, got.Labels, "absent labels are left alone")
	require.Equal(t, emojiName, got.DisplayName, "absent display_name is left alone")

	status, _ = call(t, srv, http.MethodPatch, contactPath, map[string]any{"labels": []any{}})
	require.Equal(t, http.StatusOK, status)
	got, _ = srv.Contact(createdKey)
	require.Empty(t, got.Labels, "an empty list clears")
	require.Equal(t, []string{"VIP", "ใหม่"}, got.Tags)
}

func TestServer_Get(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		give        string
		wantStatus  int
		wantMessage string
	}{
		{name: "Found", give: contactPath, wantStatus: 200, wantMessage: ohotest.MsgFound},
		{name: "Missing", give: "/contact/line/Uf43c82b98f893660ff936c921ca4034b/user/Unobody", wantStatus: 404, wantMessage: ohotest.MsgNotFoundGet},
		{name: "UnknownPlatform", give: "/contact/whatsapp/x/user/y", wantStatus: 400, wantMessage: ohotest.MsgBadRequest},
		{name: "UnknownRoute", give: "/contacts", wantStatus: 404, wantMessage: ohotest.MsgNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := ohotest.New(ohotest.Options{})
			status, _ := call(t, srv, http.MethodPost, "/contact", createBody())
			require.Equal(t, http.StatusCreated, status)

			status, resp := call(t, srv, http.MethodGet, tt.give, nil)

			require.Equal(t, tt.wantStatus, status)
			require.Equal(t, tt.wantMessage, resp.Message)
			if tt.wantStatus != http.StatusOK {
				require.Empty(t, resp.Data)
				return
			}
			var c struct {
				ID            string                `json:"id"`
				SocialProfile ohotest.SocialProfile `json:"social_profile"`
				DisplayName   string                `json:"display_name"`
			}
			require.NoError(t, json.Unmarshal(resp.Data, &c))
			require.Equal(t, createdKey, ohotest.Contact{SocialProfile: c.SocialProfile}.Key())
			require.Equal(t, emojiName, c.DisplayName)
			require.NotEmpty(t, c.ID, "Oho's own fields come too")
		})
	}
}

// TestServer_Get_foundShapes: the reference shows no found contact, so the
// fake writes it in the least convenient shape by default.
func TestServer_Get_foundShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		shape ohotest.FoundShape
		want  string // JSON the data must contain
		not   string
	}{
		{name: "ObjectsByDefault", shape: ohotest.FoundObjects,
			want: `"tags":[{"id":"tg_1","name":"ลูกค้าประจำ"},{"id":"tg_2","name":"VIP"},{"id":"tg_3","name":"packgate รายเดือน"}]`},
		{name: "ObjectsLabels", shape: ohotest.FoundObjects, want: `"labels":[{"id":"lb_1","name":"ติดตามสินค้า"}]`},
		{name: "ObjectsAttributesNamed", shape: ohotest.FoundObjects, want: `{"id":"at_1","name":"customer_group","value":{"text":"Crown"}}`},
		{name: "ObjectsEmptyFieldsAreNull", shape: ohotest.FoundObjects, want: `"last_name":null`},
		{name: "ObjectsAgeIsANumber", shape: ohotest.FoundObjects, want: `"age":25`, not: `"age":null`},
		{name: "CreateBody", shape: ohotest.FoundCreateBody, want: `"tags":["ลูกค้าประจำ","VIP","packgate รายเดือน"]`, not: `"id":"ct_`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := ohotest.New(ohotest.Options{Found: tt.shape})
			status, _ := call(t, srv, http.MethodPost, "/contact", createBody())
			require.Equal(t, http.StatusCreated, status)
			status, resp := call(t, srv, http.MethodGet, contactPath, nil)
			require.Equal(t, http.StatusOK, status)
			require.Contains(t, string(resp.Data), tt.want)
			if tt.not != "" {
				require.NotContains(t, string(resp.Data), tt.not)
			}
		})
	}
}

func TestServer_Edit(t *testing.T) {
	t.Parallel()
	srv := ohotest.New(ohotest.Options{})
	status, _ := call(t, srv, http.MethodPost, "/contact", createBody())
	require.Equal(t, http.StatusCreated, status)

	require.True(t, srv.Edit(createdKey, func(c *ohotest.Contact) {
		c.Tags = append(c.Tags, "agent pick")
		c.Email = "agent@shop.example"
	}))
	got, _ := srv.Contact(createdKey)
	require.Contains(t, got.Tags, "agent pick")
	require.Equal(t, "agent@shop.example", got.Email)
	require.False(t, srv.Edit(ohotest.Key{Platform: "line", PlatformID: "x", UserID: "y"}, func(*ohotest.Contact) {}))

	t.Run("PatchStillReplacesListsWhole", func(t *testing.T) {
		status, _ := call(t, srv, http.MethodPatch, contactPath, map[string]any{"tags": []any{"only"}})
		require.Equal(t, http.StatusOK, status)
		got, _ := srv.Contact(createdKey)
		require.Equal(t, []string{"only"}, got.Tags, "the agent's tag is gone: a PATCH replaces the list")
	})
}

func TestServer_SetFound(t *testing.T) {
	t.Parallel()
	srv := ohotest.New(ohotest.Options{})
	status, _ := call(t, srv, http.MethodPost, "/contact", createBody())
	require.Equal(t, http.StatusCreated, status)
	srv.SetFound(createdKey, json.RawMessage(`{"tags": 7}`))
	status, resp := call(t, srv, http.MethodGet, contactPath, nil)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"tags": 7}`, string(resp.Data))

	srv.SetFound(createdKey, nil)
	_, resp = call(t, srv, http.MethodGet, contactPath, nil)
	require.Contains(t, string(resp.Data), `"social_profile"`)
}

func TestServer_Update_missingContact(t *testing.T) {
	t.Parallel()
	srv := ohotest.New(ohotest.Options{})

	status, resp := call(t, srv, http.MethodPatch, contactPath, map[string]any{"tags": []any{"a"}})

	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, ohotest.MsgNotFoundUpdate, resp.Message)
	require.Zero(t, srv.Len())
}

func TestServer_ServeHTTP_refusesBadRequests(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		give       func(*http.Request)
		wantStatus int
		wantMsg    string
	}{
		{name: "MissingAPIKey", give: func(r *http.Request) { r.Header.Del("x-oho-api-key") }, wantStatus: 401, wantMsg: ohotest.MsgUnauthorized},
		{name: "WrongAPIKey", give: func(r *http.Request) { r.Header.Set("x-oho-api-key", "nope") }, wantStatus: 401, wantMsg: ohotest.MsgUnauthorized},
		{name: "NoContentType", give: func(r *http.Request) { r.Header.Del("Content-Type") }, wantStatus: 400, wantMsg: ohotest.MsgBadRequest},
		{name: "FormContentType", give: func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, wantStatus: 400, wantMsg: ohotest.MsgBadRequest},
		{name: "CharsetAccepted", give: func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=utf-8") }, wantStatus: 201, wantMsg: ohotest.MsgCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := ohotest.New(ohotest.Options{APIKey: "secret"})
			b, err := json.Marshal(createBody())
			require.NoError(t, err)
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/contact", bytes.NewReader(b))
			req.Header.Set("x-oho-api-key", "secret")
			req.Header.Set("Content-Type", "application/json")
			tt.give(req)
			rec := httptest.NewRecorder()

			srv.ServeHTTP(rec, req)

			require.Equal(t, tt.wantStatus, rec.Code)
			require.JSONEq(t, fmt.Sprintf(`{"ok":%t,"status_code":%d,"message":%q}`, tt.wantStatus < 300, tt.wantStatus, tt.wantMsg), rec.Body.String())
		})
	}
}

func TestServer_RejectNext(t *testing.T) {
	t.Parallel()
	srv := ohotest.New(ohotest.Options{})
	srv.RejectNext(2, http.StatusTooManyRequests, 1500*time.Millisecond)

	for range 2 {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, contactPath, nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		require.Equal(t, http.StatusTooManyRequests, rec.Code)
		require.Equal(t, "2", rec.Header().Get("Retry-After"))
		require.JSONEq(t, `{"ok":false,"status_code":429,"message":"Too many requests"}`, rec.Body.String())
	}
	status, _ := call(t, srv, http.MethodGet, contactPath, nil)
	require.Equal(t, http.StatusNotFound, status, "faults are used up")
	require.Equal(t, 3, srv.Count(http.MethodGet))
}

func TestServer_ServeHTTP_rateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 5, 19, 7, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	srv := ohotest.New(ohotest.Options{Rate: 0.5, Burst: 2, NowFunc: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}})
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, contactPath, nil)
		req.Header.Set("x-oho-api-key", srv.APIKey())
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}

	require.Equal(t, http.StatusNotFound, get().Code)
	require.Equal(t, http.StatusNotFound, get().Code)
	rec := get()
	require.Equal(t, http.StatusTooManyRequests, rec.Code, "burst spent")
	require.Equal(t, "2", rec.Header().Get("Retry-After"), "one token per 2s")

	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	require.Equal(t, http.StatusNotFound, get().Code, "a token came back")
}

func TestNewServer_servesOverHTTP(t *testing.T) {
	t.Parallel()
	srv := ohotest.NewServer(t, ohotest.Options{})
	require.NotEmpty(t, srv.URL)
	b, err := json.Marshal(createBody())
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/contact", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("x-oho-api-key", ohotest.DefaultAPIKey)
	req.Header.Set("Content-Type", "application/json")

	resp, err := (&http.Client{}).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })

	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, []ohotest.Request{{Method: http.MethodPost, Path: "/contact", Status: http.StatusCreated}}, srv.Requests())
}

func TestServer_Get_escapedSegments(t *testing.T) {
	t.Parallel()
	srv := ohotest.New(ohotest.Options{})
	srv.Seed(ohotest.Contact{SocialProfile: ohotest.SocialProfile{Platform: "facebook", PlatformID: "page/1", ID: "user 1"}, DisplayName: "x"})

	status, resp := call(t, srv, http.MethodGet, "/contact/facebook/page%2F1/user/user%201", nil)

	require.Equal(t, http.StatusOK, status)
	var c ohotest.Contact
	require.NoError(t, json.Unmarshal(resp.Data, &c))
	require.Equal(t, "x", c.DisplayName)
}

func TestServer_ServeHTTP_concurrentCreates(t *testing.T) {
	t.Parallel()
	srv := ohotest.New(ohotest.Options{})
	const n = 20

	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := createBody()
			set("social_profile.id", fmt.Sprintf("U%032d", i))(body)
			b, _ := json.Marshal(body)
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/contact", bytes.NewReader(b))
			req.Header.Set("x-oho-api-key", srv.APIKey())
			req.Header.Set("Content-Type", "application/json")
			srv.ServeHTTP(httptest.NewRecorder(), req)
		})
	}
	wg.Wait()

	require.Equal(t, n, srv.Len())
	require.Equal(t, n, srv.Count(http.MethodPost))
	for _, r := range srv.Requests() {
		require.Equal(t, http.StatusCreated, r.Status)
	}
}
