package oho_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/clients/internal/faketest"
	"crmsync/clients/oho"
	"crmsync/clients/oho/ohotest"
)

const (
	apiKey    = "k3y-that-must-never-be-logged"
	emojiName = "˚♡̴ 𝒇𝒂𝒏𝒈"
	thaiName  = "ปักเป้า"
)

// testBundle holds what a test inspects besides the client.
type testBundle struct {
	srv    *ohotest.Server
	hook   *test.Hook
	sleeps *faketest.SleepRecorder
	mu     sync.Mutex
	infos  []apiclient.RequestInfo
}

// setup starts a fake Oho and a client logging at debug level into a hook.
func setup(t *testing.T) (*oho.Client, *testBundle) {
	t.Helper()
	b := &testBundle{srv: ohotest.NewServer(t, ohotest.Options{APIKey: apiKey}), sleeps: &faketest.SleepRecorder{}}
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	b.hook = hook
	c, err := oho.New(oho.Config{
		BaseURL:   b.srv.URL,
		APIKey:    apiKey,
		Log:       log,
		SleepFunc: b.sleeps.Sleep,
		Observer: func(ri apiclient.RequestInfo) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.infos = append(b.infos, ri)
		},
		Retry: apiclient.RetryPolicy{MaxAttempts: 4},
	})
	require.NoError(t, err)
	return c, b
}

// createRequest returns a complete, valid create request modelled on the
// vendor's example.
func createRequest() oho.ContactCreateRequest {
	return oho.ContactCreateRequest{
		SocialProfile: oho.SocialProfile{
			Platform:     oho.LINE,
			ID:           "U0a0b0c525e1ade1f909a58233f9e9aaa",
			PlatformID:   "Uf43c82b98f893660ff936c921ca4034b",
			PlatformName: thaiName,
			LineBasicID:  "@129oruit",
		},
		ProfilePictureURL:   "https://profile.line-scdn.net/0hexample",
		PlatformDisplayName: emojiName,
		DisplayName:         emojiName,
		FirstName:           emojiName,
		LastName:            "Oho",
		Phone:               "0987654321",
		Email:               "hello@oho.chat",
		Country:             "ไทย",
		City:                "กรุงเทพมหานคร",
		Gender:              oho.GenderFemale,
		Age:                 25,
		BirthDate:           "1998-11-29",
		Attributes: []oho.Attribute{
			{DisplayName: "customer_group", Value: oho.AttributeValue{Text: "Crown"}},
			{DisplayName: "customer_id", Value: oho.AttributeValue{Text: "123456789"}},
		},
		Tags:   []string{"ลูกค้าประจำ", "VIP"},
		Labels: []string{"ติดตามสินค้า"},
	}
}

var key = oho.Key{Platform: oho.LINE, PlatformID: "Uf43c82b98f893660ff936c921ca4034b", UserID: "U0a0b0c525e1ade1f909a58233f9e9aaa"}

// fakeKey converts a client key to the fake's.
func fakeKey(k oho.Key) ohotest.Key {
	return ohotest.Key{Platform: string(k.Platform), PlatformID: k.PlatformID, UserID: k.UserID}
}

func TestContactsService_Create_roundTrip(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	req := createRequest()

	require.NoError(t, c.Contacts.Create(t.Context(), req))
	got, err := c.Contacts.Get(t.Context(), key)
	require.NoError(t, err)

	require.Equal(t, &oho.Contact{
		SocialProfile:       req.SocialProfile,
		ProfilePictureURL:   req.ProfilePictureURL,
		PlatformDisplayName: emojiName,
		DisplayName:         emojiName,
		FirstName:           emojiName,
		LastName:            "Oho",
		Phone:               "0987654321",
		Email:               "hello@oho.chat",
		Country:             "ไทย",
		City:                "กรุงเทพมหานคร",
		Gender:              oho.GenderFemale,
		Age:                 25,
		BirthDate:           "1998-11-29",
		Attributes:          req.Attributes,
		Tags:                req.Tags,
		Labels:              req.Labels,
	}, got)
	require.Equal(t, key, got.Key())
	require.Equal(t, []string{"POST /contact", "GET /contact/line/" + key.PlatformID + "/user/" + key.UserID}, requestLines(b.srv))
}

func TestContactsService_Create_minimalFacebook(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	req := oho.ContactCreateRequest{
		SocialProfile: oho.SocialProfile{
			Platform: oho.Facebook, ID: "25171241452474922", PlatformID: "201193903071023", PlatformName: "Oho Page",
		},
		ProfilePictureURL:   "https://example.com/p.png",
		PlatformDisplayName: thaiName,
		DisplayName:         thaiName,
		FirstName:           thaiName,
	}

	require.NoError(t, c.Contacts.Create(t.Context(), req))

	got, ok := b.srv.Contact(fakeKey(req.Key()))
	require.True(t, ok)
	require.Equal(t, "not_say", got.Gender, "Oho's default")
	require.Empty(t, got.SocialProfile.LineBasicID)
	require.Empty(t, got.Tags)
}

func TestContactsService_errorClasses(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		give        func(ctx context.Context, c *oho.Client) error
		wantClass   error
		wantStatus  int
		wantMessage string
	}{
		{
			name:      "GetMissingIsNotFound",
			give:      func(ctx context.Context, c *oho.Client) error { _, err := c.Contacts.Get(ctx, key); return err },
			wantClass: apiclient.ErrNotFound, wantStatus: 404, wantMessage: "Not found contact",
		},
		{
			name: "UpdateMissingIsNotFound",
			give: func(ctx context.Context, c *oho.Client) error {
				return c.Contacts.Update(ctx, key, oho.ContactUpdateRequest{Tags: new([]string{"VIP"})})
			},
			wantClass: apiclient.ErrNotFound, wantStatus: 404, wantMessage: "The contact not found",
		},
		{
			name: "SecondCreateIsConflict",
			give: func(ctx context.Context, c *oho.Client) error {
				if err := c.Contacts.Create(ctx, createRequest()); err != nil {
					return err
				}
				return c.Contacts.Create(ctx, createRequest())
			},
			wantClass: apiclient.ErrConflict, wantStatus: 409, wantMessage: "The contact already exists",
		},
		{
			name: "OverLimitIsRejected",
			give: func(ctx context.Context, c *oho.Client) error {
				req := createRequest()
				req.DisplayName = strings.Repeat("ก", 256)
				return c.Contacts.Create(ctx, req)
			},
			wantClass: apiclient.ErrRejected, wantStatus: 400, wantMessage: "Bad request",
		},
		{
			name: "UnknownPlatformIsRejected",
			give: func(ctx context.Context, c *oho.Client) error {
				_, err := c.Contacts.Get(ctx, oho.Key{Platform: "whatsapp", PlatformID: "p", UserID: "u"})
				return err
			},
			wantClass: apiclient.ErrRejected, wantStatus: 400, wantMessage: "Bad request",
		},
	}
	classes := []error{apiclient.ErrNotFound, apiclient.ErrConflict, apiclient.ErrRejected, apiclient.ErrUnauthorized, apiclient.ErrRateLimited, apiclient.ErrUnavailable}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, b := setup(t)

			err := tt.give(t.Context(), c)

			require.ErrorIs(t, err, tt.wantClass)
			for _, other := range classes {
				if other != tt.wantClass {
					require.NotErrorIs(t, err, other)
				}
			}
			var apiErr *apiclient.Error
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tt.wantStatus, apiErr.Status)
			require.Equal(t, tt.wantMessage, apiErr.Message)
			require.Equal(t, "oho", apiErr.Service)
			require.Empty(t, b.sleeps.Waits(), "4xx is final: no retry")
		})
	}
}

func TestContactsService_Update_onlyTagsLeavesTheRest(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	require.NoError(t, c.Contacts.Create(t.Context(), createRequest()))

	err := c.Contacts.Update(t.Context(), key, oho.ContactUpdateRequest{Tags: new([]string{"VIP", "ใหม่"})})
	require.NoError(t, err)

	got, ok := b.srv.Contact(fakeKey(key))
	require.True(t, ok)
	require.Equal(t, []string{"VIP", "ใหม่"}, got.Tags, "replaced whole, not merged")
	require.Equal(t, emojiName, got.DisplayName)
	require.Equal(t, emojiName, got.FirstName)
	require.Equal(t, "hello@oho.chat", got.Email)
	require.Equal(t, []string{"ติดตามสินค้า"}, got.Labels)
	require.Len(t, got.Attributes, 2)
}

func TestContactsService_Update_fields(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	require.NoError(t, c.Contacts.Create(t.Context(), createRequest()))
	longName := strings.Repeat("𝒇", 500) // 1000 UTF-16 units: over the create limit, within the update limit

	err := c.Contacts.Update(t.Context(), key, oho.ContactUpdateRequest{
		DisplayName: new(longName),
		Gender:      new(oho.GenderNotSay),
		Age:         new(99),
		BirthDate:   new("2000-02-29"),
		Attributes:  new([]oho.Attribute{{DisplayName: "customer_group", Value: oho.AttributeValue{Text: "Gold"}}}),
		Labels:      new([]string(nil)),
	})
	require.NoError(t, err)

	got, ok := b.srv.Contact(fakeKey(key))
	require.True(t, ok)
	require.Equal(t, longName, got.DisplayName)
	require.Equal(t, "not_say", got.Gender)
	require.Equal(t, 99, got.Age)
	require.Equal(t, "2000-02-29", got.BirthDate)
	require.Equal(t, []ohotest.Attribute{{DisplayName: "customer_group", Value: ohotest.AttributeValue{Text: "Gold"}}}, got.Attributes)
	require.Empty(t, got.Labels, "a present nil list clears")
	require.Equal(t, []string{"ลูกค้าประจำ", "VIP"}, got.Tags)
	require.Equal(t, emojiName, got.FirstName)
}

func TestContactUpdateRequest_MarshalJSON(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		give oho.ContactUpdateRequest
		want string
	}{
		{name: "Empty", give: oho.ContactUpdateRequest{}, want: `{}`},
		{name: "OnlyTags", give: oho.ContactUpdateRequest{Tags: new([]string{"VIP"})}, want: `{"tags":["VIP"]}`},
		{name: "NilTagsClear", give: oho.ContactUpdateRequest{Tags: new([]string(nil))}, want: `{"tags":[]}`},
		{name: "NilAttributesClear", give: oho.ContactUpdateRequest{Attributes: new([]oho.Attribute(nil))}, want: `{"attributes":[]}`},
		{name: "NilLabelsClear", give: oho.ContactUpdateRequest{Labels: new([]string(nil))}, want: `{"labels":[]}`},
		{name: "EmptyStringIsSent", give: oho.ContactUpdateRequest{LastName: new("")}, want: `{"last_name":""}`},
		{
			name: "Everything",
			give: oho.ContactUpdateRequest{
				DisplayName: new("d"), FirstName: new("f"), LastName: new("l"), Phone: new("0987654321"),
				Email: new("a@b.co"), Country: new("ไทย"), City: new("เชียงใหม่"), Gender: new(oho.GenderMale),
				Age: new(24), BirthDate: new("1999-11-29"),
				Attributes: new([]oho.Attribute{{DisplayName: "n", Value: oho.AttributeValue{Text: "v"}}}),
				Tags:       new([]string{"t"}), Labels: new([]string{"l"}),
			},
			want: `{"display_name":"d","first_name":"f","last_name":"l","phone":"0987654321","email":"a@b.co",
				"country":"ไทย","city":"เชียงใหม่","gender":"male","age":24,"birth_date":"1999-11-29",
				"attributes":[{"display_name":"n","value":{"text":"v"}}],"tags":["t"],"labels":["l"]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.give)
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(got))
		})
	}
}

func TestContactsService_retries(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		seed       bool // the contact exists before the call
		giveStatus int
		giveAfter  time.Duration
		give       func(ctx context.Context, c *oho.Client) error
		wantSleeps func(t *testing.T, got []time.Duration)
	}{
		{
			name: "CreateAfter503", giveStatus: 503,
			give: func(ctx context.Context, c *oho.Client) error { return c.Contacts.Create(ctx, createRequest()) },
			wantSleeps: func(t *testing.T, got []time.Duration) {
				require.Len(t, got, 2)
			},
		},
		{
			name: "UpdateAfter429WaitsRetryAfter", seed: true, giveStatus: 429, giveAfter: 3 * time.Second,
			give: func(ctx context.Context, c *oho.Client) error {
				return c.Contacts.Update(ctx, key, oho.ContactUpdateRequest{Tags: new([]string{"x"})})
			},
			wantSleeps: func(t *testing.T, got []time.Duration) {
				require.Equal(t, []time.Duration{3 * time.Second, 3 * time.Second}, got)
			},
		},
		{
			name: "GetAfter500", seed: true, giveStatus: 500,
			give: func(ctx context.Context, c *oho.Client) error { _, err := c.Contacts.Get(ctx, key); return err },
			wantSleeps: func(t *testing.T, got []time.Duration) {
				require.Len(t, got, 2)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, b := setup(t)
			if tt.seed {
				b.srv.Seed(ohotest.Contact{SocialProfile: ohotest.SocialProfile{Platform: "line", PlatformID: key.PlatformID, ID: key.UserID}})
			}
			b.srv.RejectNext(2, tt.giveStatus, tt.giveAfter)

			require.NoError(t, tt.give(t.Context(), c))

			tt.wantSleeps(t, b.sleeps.Waits())
			reqs := b.srv.Requests()
			require.Len(t, reqs, 3)
			require.Equal(t, tt.giveStatus, reqs[0].Status)
			require.Equal(t, tt.giveStatus, reqs[1].Status)
			require.Less(t, reqs[2].Status, 300)
			b.mu.Lock()
			defer b.mu.Unlock()
			require.Len(t, b.infos, 3, "observer sees every attempt")
			require.Equal(t, 3, b.infos[2].Attempt)
		})
	}
}

func TestContactsService_Get_givesUpAsUnavailable(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.RejectNext(10, http.StatusServiceUnavailable, 0)

	_, err := c.Contacts.Get(t.Context(), key)

	require.ErrorIs(t, err, apiclient.ErrUnavailable)
	require.Equal(t, 4, b.srv.Count(http.MethodGet), "MaxAttempts")
}

func TestContactsService_Get_wrongAPIKey(t *testing.T) {
	t.Parallel()
	srv := ohotest.NewServer(t, ohotest.Options{APIKey: apiKey})
	c, err := oho.New(oho.Config{BaseURL: srv.URL, APIKey: "wrong"})
	require.NoError(t, err)

	_, err = c.Contacts.Get(t.Context(), key)

	require.ErrorIs(t, err, apiclient.ErrUnauthorized)
	var apiErr *apiclient.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "You do not have valid permission", apiErr.Message)
	require.Equal(t, 1, srv.Count(http.MethodGet), "401 is not retried")
}

func TestContactsService_Get_escapesPathSegments(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	k := oho.Key{Platform: oho.Facebook, PlatformID: "page/1?x=#", UserID: "user 1/2"}
	b.srv.Seed(ohotest.Contact{SocialProfile: ohotest.SocialProfile{Platform: "facebook", PlatformID: k.PlatformID, ID: k.UserID}, DisplayName: "escaped"})

	got, err := c.Contacts.Get(t.Context(), k)

	require.NoError(t, err)
	require.Equal(t, "escaped", got.DisplayName)
	require.Equal(t, []string{"GET /contact/facebook/page%2F1%3Fx=%23/user/user%201%2F2"}, requestLines(b.srv))
}

func TestContactsService_incompleteKey(t *testing.T) {
	t.Parallel()
	c, b := setup(t)

	_, err := c.Contacts.Get(t.Context(), oho.Key{Platform: oho.LINE, UserID: "U1"})
	require.ErrorContains(t, err, "incomplete key")
	err = c.Contacts.Update(t.Context(), oho.Key{}, oho.ContactUpdateRequest{})
	require.ErrorContains(t, err, "incomplete key")
	req := createRequest()
	req.SocialProfile.ID = ""
	require.ErrorContains(t, c.Contacts.Create(t.Context(), req), "incomplete key")

	require.Empty(t, b.srv.Requests(), "nothing sent")
}

func TestClient_neverLogsAPIKey(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := t.Context()
	b.srv.RejectNext(1, http.StatusTooManyRequests, time.Second)

	require.NoError(t, c.Contacts.Create(ctx, createRequest()))
	_, err := c.Contacts.Get(ctx, key)
	require.NoError(t, err)
	require.NoError(t, c.Contacts.Update(ctx, key, oho.ContactUpdateRequest{Tags: new([]string{"x"})}))
	_, err = c.Contacts.Get(ctx, oho.Key{Platform: oho.LINE, PlatformID: "p", UserID: "missing"})
	require.ErrorIs(t, err, apiclient.ErrNotFound)
	require.NotContains(t, err.Error(), apiKey)

	entries := b.hook.AllEntries()
	require.GreaterOrEqual(t, len(entries), 5, "one debug line per attempt, so the check below has something to check")
	for _, e := range entries {
		line, err := e.String()
		require.NoError(t, err)
		require.NotContains(t, line, apiKey)
		for k, v := range e.Data {
			require.NotContains(t, fmt.Sprint(v), apiKey, "field %s", k)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		give    oho.Config
		wantErr string
	}{
		{name: "DefaultBaseURL", give: oho.Config{APIKey: "k"}},
		{name: "TrailingSlash", give: oho.Config{APIKey: "k", BaseURL: "http://127.0.0.1:1/"}},
		{name: "MissingAPIKey", give: oho.Config{}, wantErr: "APIKey is required"},
		{name: "RelativeBaseURL", give: oho.Config{APIKey: "k", BaseURL: "api.developer.oho.chat"}, wantErr: "want http(s)://host"},
		{name: "BaseURLWithQuery", give: oho.Config{APIKey: "k", BaseURL: "https://x.example/?a=1"}, wantErr: "must not have a query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := oho.New(tt.give)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Nil(t, c)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, c.Contacts)
		})
	}
}

// requestLines returns the fake's log as "METHOD /path" lines.
func requestLines(srv *ohotest.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		out = append(out, r.String())
	}
	return out
}
