package omnichat_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/contact"
)

// vendorTime is the timestamp the vendor's examples use.
var vendorTime = time.UnixMilli(1604650656053).UTC()

func TestContactsService_List_vendorExample(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	require.NoError(t, b.srv.SeedFixture(omnichattest.StreamContacts, "contacts_line.json"))
	opts := omnichat.ContactListOptions{
		Platform:      contact.LINE,
		UpdatedAfter:  vendorTime.Add(-time.Hour),
		UpdatedBefore: vendorTime.Add(time.Hour),
		PageSize:      100,
	}

	page, err := c.Contacts.List(t.Context(), opts)

	require.NoError(t, err)
	require.Empty(t, page.Bad)
	require.Equal(t, 3, page.TotalElements)
	require.Len(t, page.Contacts, 3)
	byName := map[string]omnichat.Contact{}
	for _, ct := range page.Contacts {
		byName[ct.Name] = ct
	}
	alan := byName["Alan"]
	require.NotEmpty(t, alan.Raw)
	alan.Raw = nil
	require.Equal(t, omnichat.Contact{
		Platform:        contact.LINE,
		ChannelID:       "165000000",
		ID:              "U2bd582c37356d37cb6d46a823de3a908",
		Name:            "Alan",
		LastMessageTime: vendorTime,
		SubscribedAt:    vendorTime,
		UnsubscribedAt:  vendorTime,
		UpdatedAt:       vendorTime,
		Tags:            []string{"VIP", "Sports"},
		CustomAttributes: []omnichat.CustomAttribute{
			{Key: "MEMBER_TIER", Value: "GOLD", Type: contact.AttrText, DisplayName: "Member Tier"},
			{Key: "GENDER", Value: "M", Type: contact.AttrText, DisplayName: "Gender"},
		},
		Status:   true,
		Note:     "new customer",
		Email:    "test@email.com",
		Phone:    "886966633355",
		MemberID: "9431",
	}, alan)
	mary := byName["Mary"]
	require.Equal(t, "Mary", mary.Name)
	require.True(t, mary.UpdatedAt.IsZero(), "the vendor's example has no updatedAt")
	require.Empty(t, mary.MemberID)
	require.Equal(t, "Sales Ken", mary.AgentName)
	require.Equal(t, vendorTime, mary.AgentBindTime)
	require.Equal(t, contact.Identity{Platform: contact.LINE, ChannelID: "165000002", UserID: "U2bd582c37356d37cb6d46a823de3a444"}, byName["Peter"].Identity())
	require.Equal(t, []string{fmt.Sprintf("GET /v1/contacts?page=1&pageSize=100&platform=line&updatedAfter=%d&updatedBefore=%d",
		opts.UpdatedAfter.UnixMilli(), opts.UpdatedBefore.UnixMilli())}, b.srv.Requests())
}

func TestContactsService_List_badRowsKeptApart(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	at := day0.Add(time.Hour)
	good := func(id, extra string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"channel":{"platform":"line","channelId":"165"},"id":%q,"updatedAt":%d%s}`, id, at.UnixMilli(), extra))
	}
	raw := func(js string) omnichattest.RawRow {
		return omnichattest.RawRow{JSON: json.RawMessage(js), At: at, Platform: "line", ChannelID: "165"}
	}
	require.NoError(t, b.srv.SeedJSON(omnichattest.StreamContacts,
		good("U1", ""),
		good("U3", `,"tags":"VIP"`),
		good("U4", `,"lastMessageTime":-5`),
		good("U5", `,"subscribedAt":253402300800000`),
		good("U6", `,"name":null,"note":null,"email":null,"phone":null,"memberId":"","tags":null,"customAttributes":null,"status":null,"subscribedAt":0`),
	))
	require.NoError(t, b.srv.SeedRaw(omnichattest.StreamContacts,
		raw(`{"channel":{"platform":"line","channelId":"165"},"name":"no id","updatedAt":1}`),
		raw(`{"channel":{"platform":"line","channelId":"165"},"id":"U7","updatedAt":-1}`),
		raw(`{"channel":{"platform":"line","channelId":"165"},"id":"U8","updatedAt":0}`),
		raw(`{"channel":{"platform":"line","channelId":"165"},"id":"U9","updatedAt":"soon"}`),
		raw(`{"id":"U10","updatedAt":1}`),
		raw(`[1,2]`),
	))

	page, err := c.Contacts.List(t.Context(), omnichat.ContactListOptions{
		Platform: contact.LINE, UpdatedAfter: day0, UpdatedBefore: day0.Add(24 * time.Hour), PageSize: 100,
	})

	require.NoError(t, err)
	require.Equal(t, 11, page.TotalElements)
	var gotIDs []string
	for _, c := range page.Contacts {
		gotIDs = append(gotIDs, c.ID)
	}
	require.Equal(t, []string{"U1", "U6"}, gotIDs)
	u6 := page.Contacts[1]
	require.Empty(t, u6.Name)
	require.Empty(t, u6.MemberID)
	require.Nil(t, u6.Tags)
	require.False(t, u6.Status)
	require.True(t, u6.SubscribedAt.IsZero())

	reasons := map[string]bool{}
	for _, bad := range page.Bad {
		require.NotEmpty(t, bad.Raw)
		reasons[bad.Reason] = true
	}
	require.Len(t, page.Bad, 9)
	for _, want := range []string{
		`tags: want an array, got a string "VIP"`,
		"lastMessageTime: out of range (epoch milliseconds from 1970 to 9999), got a number -5",
		"subscribedAt: out of range (epoch milliseconds from 1970 to 9999), got a number 253402300800000",
		"id: missing (absent)",
		"updatedAt: out of range (epoch milliseconds from 1970 to 9999), got a number -1",
		"updatedAt: out of range (epoch milliseconds from 1970 to 9999), got a number 0",
		`updatedAt: want epoch milliseconds (a whole number), got a string "soon"`,
		"channel.platform: missing (absent)",
		"row: want a JSON object, got an array [1,2]",
	} {
		require.True(t, reasons[want], "missing reason %q in %v", want, reasons)
	}
}

func TestContactsService_All(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name         string
		give         int // contacts in the window
		pageSize     int
		wantRequests int
	}{
		{name: "StopsAtTotalElements", give: 200, pageSize: 100, wantRequests: 2},
		{name: "StopsOnShortPage", give: 250, pageSize: 100, wantRequests: 3},
		{name: "EmptyWindowOneRequest", give: 0, pageSize: 100, wantRequests: 1},
		{name: "DefaultPageSize", give: 45, pageSize: 0, wantRequests: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, b := setup(t)
			for i := range tt.give {
				b.srv.SeedContacts(omnichat.Contact{Platform: contact.LINE, ChannelID: "165", ID: fmt.Sprintf("U%04d", i), UpdatedAt: day0.Add(time.Duration(i) * time.Minute)})
			}
			b.srv.SeedContacts(omnichat.Contact{Platform: contact.LINE, ChannelID: "165", ID: "outside", UpdatedAt: day0.Add(7 * 24 * time.Hour)})
			opts := omnichat.ContactListOptions{Platform: contact.LINE, UpdatedAfter: day0, UpdatedBefore: day0.Add(7 * 24 * time.Hour), PageSize: tt.pageSize}
			before := opts

			var got []string
			for ct, err := range c.Contacts.All(t.Context(), opts) {
				require.NoError(t, err)
				got = append(got, ct.ID)
			}

			require.Len(t, got, tt.give)
			for i, id := range got {
				require.Equal(t, fmt.Sprintf("U%04d", i), id)
			}
			require.Len(t, b.srv.Requests(), tt.wantRequests)
			require.Equal(t, before, opts, "options are never mutated")
		})
	}
}

func TestContactsService_Pages_fromLaterPage(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	for i := range 50 {
		b.srv.SeedContacts(omnichat.Contact{Platform: contact.LINE, ChannelID: "165", ID: fmt.Sprintf("U%04d", i), UpdatedAt: day0.Add(time.Duration(i) * time.Second)})
	}

	var pages []int
	for p, err := range c.Contacts.Pages(t.Context(), omnichat.ContactListOptions{Platform: contact.LINE, UpdatedAfter: day0, UpdatedBefore: day0.Add(time.Hour), Page: 2, PageSize: 25}) {
		require.NoError(t, err)
		pages = append(pages, len(p.Contacts))
		require.Equal(t, "U0025", p.Contacts[0].ID)
	}

	require.Equal(t, []int{25}, pages)
	require.Len(t, b.srv.Requests(), 1)
}

func TestContactsService_Pages_drift(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	for i := range 50 {
		b.srv.SeedContacts(omnichat.Contact{Platform: contact.LINE, ChannelID: "165", ID: fmt.Sprintf("U%04d", i), UpdatedAt: day0.Add(time.Duration(i+1) * time.Second)})
	}
	b.srv.Drift(omnichattest.StreamContacts, 1, 5)

	seen := map[string]int{}
	var rows, lastTotal int
	for p, err := range c.Contacts.Pages(t.Context(), omnichat.ContactListOptions{Platform: contact.LINE, UpdatedAfter: day0, UpdatedBefore: day0.Add(time.Hour), PageSize: 20}) {
		require.NoError(t, err)
		for _, ct := range p.Contacts {
			seen[ct.ID]++
			rows++
		}
		lastTotal = p.TotalElements
	}

	// Offset paging under drift: the pages add up to the new total, but five
	// rows came twice and the five new ones never came, so the caller sees
	// fewer distinct rows than totalElements and must read the window again.
	require.Equal(t, 55, lastTotal)
	require.Equal(t, 55, rows)
	require.Len(t, seen, 50)
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	require.Equal(t, 5, dups)
	require.Equal(t, 55, b.srv.Len(omnichattest.StreamContacts))
}

func TestContactsService_List_userID(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.SeedContacts(
		omnichat.Contact{Platform: contact.LINE, ChannelID: "165", ID: "U1", UpdatedAt: day0},
		omnichat.Contact{Platform: contact.LINE, ChannelID: "165", ID: "U2", UpdatedAt: day0},
	)

	page, err := c.Contacts.List(t.Context(), omnichat.ContactListOptions{Platform: contact.LINE, ChannelID: "165", UserID: "U2"})

	require.NoError(t, err)
	require.Len(t, page.Contacts, 1)
	require.Equal(t, "U2", page.Contacts[0].ID)
	require.Equal(t, []string{"GET /v1/contacts?channelId=165&page=1&pageSize=20&platform=line&userId=U2"}, b.srv.Requests())
}

func TestContact_MarshalJSON_roundTrip(t *testing.T) {
	t.Parallel()
	give := omnichat.Contact{
		Platform: contact.Webchat, ChannelID: "webchat", ID: "02f9", Name: "˚♡̴ 𝒇𝒂𝒏𝒈", UpdatedAt: vendorTime,
		Tags: []string{"VIP"},
		CustomAttributes: []omnichat.CustomAttribute{
			{Key: "AGE", Value: "42", Type: contact.AttrNumber, DisplayName: "Age"},
			{Key: "OPT_IN", Value: "true", Type: contact.AttrBoolean, DisplayName: "Opt in"},
			{Key: "BAD_NUM", Value: "n/a", Type: contact.AttrNumber},
		},
		Status: true, Phone: "886966633355",
	}

	b, err := json.Marshal(give)
	require.NoError(t, err)
	got, err := omnichat.DecodeContact(b)
	require.NoError(t, err)

	require.Contains(t, string(b), `"value":42`)
	require.Contains(t, string(b), `"value":true`)
	require.Contains(t, string(b), `"updatedAt":`+strconv.FormatInt(vendorTime.UnixMilli(), 10))
	require.Equal(t, json.RawMessage(b), got.Raw)
	got.Raw = nil
	require.Equal(t, give, got)
}
