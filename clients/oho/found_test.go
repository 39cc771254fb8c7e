package oho_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/clients/oho"
	"crmsync/clients/oho/ohotest"
)

// getServed creates the test contact, makes the fake answer its GET with
// data, and gets it.
func getServed(t *testing.T, data string) (*oho.Contact, *testBundle, error) {
	t.Helper()
	c, b := setup(t)
	require.NoError(t, c.Contacts.Create(t.Context(), createRequest()))
	b.srv.SetFound(fakeKey(key), json.RawMessage(data))
	got, err := c.Contacts.Get(t.Context(), key)
	return got, b, err
}

// The reference shows no found contact, so Get reads the shapes a server
// might plausibly use; each case is served as the envelope's data.
func TestContactsService_Get_readsFoundContactsLeniently(t *testing.T) {
	t.Parallel()
	sp := `"social_profile": {"platform": "line", "id": "U0a0b0c525e1ade1f909a58233f9e9aaa", "platform_id": "Uf43c82b98f893660ff936c921ca4034b", "platform_name": "ปักเป้า"}`
	tests := []struct {
		name string
		give string
		want oho.Contact
	}{
		{
			name: "CreateBodyShape",
			give: `{` + sp + `, "display_name": "Fang", "gender": "female", "age": 25,
				"attributes": [{"display_name": "customer_group", "value": {"text": "Crown"}}],
				"tags": ["VIP", "ลูกค้าประจำ"], "labels": ["ติดตามสินค้า"]}`,
			want: oho.Contact{DisplayName: "Fang", Gender: oho.GenderFemale, Age: 25,
				Attributes: []oho.Attribute{{DisplayName: "customer_group", Value: oho.AttributeValue{Text: "Crown"}}},
				Tags:       []string{"VIP", "ลูกค้าประจำ"}, Labels: []string{"ติดตามสินค้า"}},
		},
		{
			name: "ObjectsWithANameAndNulls",
			give: `{"id": "ct_1", ` + sp + `, "display_name": "Fang", "last_name": null, "phone": null, "age": null, "gender": "not_say",
				"attributes": [{"id": "a1", "name": "customer_group", "value": {"text": "Crown"}}],
				"tags": [{"id": "t1", "name": "VIP"}, {"id": "t2", "display_name": "ลูกค้าประจำ"}],
				"labels": [{"title": "ติดตามสินค้า", "color": "#ff0"}], "created_at": "2026-01-01T00:00:00Z"}`,
			want: oho.Contact{DisplayName: "Fang", Gender: oho.GenderNotSay,
				Attributes: []oho.Attribute{{DisplayName: "customer_group", Value: oho.AttributeValue{Text: "Crown"}}},
				Tags:       []string{"VIP", "ลูกค้าประจำ"}, Labels: []string{"ติดตามสินค้า"}},
		},
		{
			name: "NumbersForTextAndTextForNumbers",
			give: `{` + sp + `, "phone": 987654321, "age": "25", "attributes": [{"name": "points", "value": 1200}, {"name": "vip", "value": true}]}`,
			want: oho.Contact{Phone: "987654321", Age: 25, Attributes: []oho.Attribute{
				{DisplayName: "points", Value: oho.AttributeValue{Text: "1200"}}, {DisplayName: "vip", Value: oho.AttributeValue{Text: "true"}}}},
		},
		{
			name: "AttributesAsOneObject",
			give: `{` + sp + `, "attributes": {"tier": {"text": "gold"}, "customer_group": "Crown"}}`,
			want: oho.Contact{Attributes: []oho.Attribute{
				{DisplayName: "customer_group", Value: oho.AttributeValue{Text: "Crown"}}, {DisplayName: "tier", Value: oho.AttributeValue{Text: "gold"}}}},
		},
		{
			name: "WrappedInContact",
			give: `{"contact": {` + sp + `, "tags": [{"name": "VIP"}]}}`,
			want: oho.Contact{Tags: []string{"VIP"}},
		},
		{
			name: "ListsNull",
			give: `{` + sp + `, "tags": null, "labels": null, "attributes": null}`,
			want: oho.Contact{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, _, err := getServed(t, tt.give)
			require.NoError(t, err)
			tt.want.SocialProfile = oho.SocialProfile{Platform: oho.LINE, ID: key.UserID, PlatformID: key.PlatformID, PlatformName: "ปักเป้า"}
			require.Equal(t, &tt.want, got)
		})
	}
}

// A found contact that still cannot be read is ErrUnreadable, never a
// transient failure, and the error says where.
func TestContactsService_Get_unreadable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		give      string
		wantField string
	}{
		{name: "TagsNotAList", give: `{"tags": 7}`, wantField: "tags"},
		{name: "TagWithoutAName", give: `{"tags": [{"id": "t1", "color": "red"}]}`, wantField: "tags[0]"},
		{name: "LabelANumber", give: `{"labels": ["a", 3]}`, wantField: "labels[1]"},
		{name: "AttributeAString", give: `{"attributes": ["customer_group"]}`, wantField: "attributes[0]"},
		{name: "AttributeValueAList", give: `{"attributes": [{"name": "a", "value": ["x"]}]}`, wantField: "attributes[0].value"},
		{name: "AgeNotANumber", give: `{"age": "twenty"}`, wantField: "age"},
		{name: "SocialProfileAString", give: `{"social_profile": "line"}`, wantField: "social_profile"},
		{name: "DataAString", give: `"found"`, wantField: ""},
		{name: "DataNull", give: `null`, wantField: "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, b, err := getServed(t, tt.give)
			require.ErrorIs(t, err, oho.ErrUnreadable)
			var re *oho.ReadError
			require.ErrorAs(t, err, &re)
			require.Equal(t, tt.wantField, re.Field)
			require.False(t, errors.Is(err, apiclient.ErrUnavailable), "not transient")
			require.Len(t, b.srv.Requests(), 2, "read once: not retried")
		})
	}
}

func TestContactsService_Get_bodyNotTheEnvelope(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>maintenance</html>"))
	}))
	t.Cleanup(srv.Close)
	c, err := oho.New(oho.Config{BaseURL: srv.URL, APIKey: ohotest.DefaultAPIKey})
	require.NoError(t, err)
	_, err = c.Contacts.Get(t.Context(), key)
	require.ErrorIs(t, err, oho.ErrUnreadable)
}
