package omnichat_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
)

func TestDecodeSystemUser(t *testing.T) {
	t.Parallel()
	one, seven, yes := 1, 7, true

	tests := []struct {
		name      string
		give      string
		want      func(u omnichat.SystemUser)
		wantError string
	}{
		{
			name: "DocumentExample",
			give: `{"team":"Omnichat","username":"1d9e3925","email":"john.doe@omnichat.ai","phone":"+85212345678",
				"profilePicture":"https://x/1.png","available":true,"status":1,"role":7,"name":"John Doe","employeeCode":"E0001",
				"shops":[{"id":"60fd","code":"A01","name":"Shop A01","categories":[]}]}`,
			want: func(u omnichat.SystemUser) {
				u.Raw = nil
				require.Equal(t, omnichat.SystemUser{
					Username: "1d9e3925", Team: "Omnichat", Email: "john.doe@omnichat.ai", Phone: "+85212345678",
					ProfilePicture: "https://x/1.png", Available: &yes, Status: &one, Role: &seven, Name: "John Doe",
					EmployeeCode: "E0001", Shops: []omnichat.Shop{{ID: "60fd", Code: "A01", Name: "Shop A01", Categories: json.RawMessage(`[]`)}},
				}, u)
			},
		},
		{
			name: "NullsAsInTheSecondExample",
			give: `{"team":"Omnichat","username":"e525","email":"peter.pan@omnichat.ai","phone":null,"profilePicture":null,
				"available":null,"status":null,"role":null,"name":"Peter Pan","employeeCode":null,"shops":null}`,
			want: func(u omnichat.SystemUser) {
				require.Equal(t, "e525", u.Username)
				require.Empty(t, u.Phone)
				require.Nil(t, u.Available)
				require.Nil(t, u.Status)
				require.Nil(t, u.Role)
				require.Nil(t, u.Shops)
			},
		},
		{
			name: "OnlyTheUsername",
			give: `{"username":" u-1 "}`,
			want: func(u omnichat.SystemUser) {
				require.Equal(t, "u-1", u.Username)
				require.Empty(t, u.Email)
				require.Nil(t, u.Shops)
			},
		},
		{
			name: "NumbersAndStringsMixed",
			give: `{"username":12345,"status":"1","role":7.0,"available":"false","employeeCode":42,"shops":[{"id":7,"code":null}]}`,
			want: func(u omnichat.SystemUser) {
				require.Equal(t, "12345", u.Username)
				require.Equal(t, 1, *u.Status)
				require.Equal(t, 7, *u.Role)
				require.False(t, *u.Available)
				require.Equal(t, "42", u.EmployeeCode)
				require.Equal(t, []omnichat.Shop{{ID: "7"}}, u.Shops)
			},
		},
		{name: "MissingUsername", give: `{"email":"a@b.c","username":null}`, wantError: "missing username"},
		{name: "StatusNotAnInteger", give: `{"username":"u","status":"active"}`, wantError: `status "active": want an integer`},
		{name: "RoleFraction", give: `{"username":"u","role":1.5}`, wantError: `role 1.5: want an integer`},
		{name: "EmailIsAnObject", give: `{"username":"u","email":{"a":1}}`, wantError: `email {"a":1}: `},
		{name: "ShopsIsAString", give: `{"username":"u","shops":"A01"}`, wantError: `shops "A01": want an array of shops`},
		{name: "ShopIsAString", give: `{"username":"u","shops":[{"id":"1"},"A01"]}`, wantError: `shops[1] "A01": want an object`},
		{name: "ShopNameIsAnArray", give: `{"username":"u","shops":[{"name":["x"]}]}`, wantError: `shops[0].name ["x"]: `},
		{name: "AvailableNotABoolean", give: `{"username":"u","available":"sometimes"}`, wantError: `available "sometimes": `},
		{name: "NotAnObject", give: `["u"]`, wantError: "want a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := omnichat.DecodeSystemUser(json.RawMessage(tt.give))
			if tt.wantError != "" {
				require.ErrorContains(t, err, tt.wantError)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tt.give, string(u.Raw))
			tt.want(u)
		})
	}
}

func TestSystemUsersService_List_documentExample(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	require.NoError(t, b.srv.SeedSystemUsersFixture("system_users.json"))

	p, err := c.SystemUsers.List(t.Context(), omnichat.SystemUserListOptions{})

	require.NoError(t, err)
	require.Empty(t, p.Bad)
	require.Len(t, p.SystemUsers, 2)
	john, peter := p.SystemUsers[0], p.SystemUsers[1]
	require.Equal(t, "1d9e3925-f08c-4236-92ef-b4c5394c9a14", john.Username)
	require.Equal(t, "john.doe@omnichat.ai", john.Email)
	require.Equal(t, "E0001", john.EmployeeCode)
	require.Equal(t, []omnichat.Shop{{ID: "60fd8409892243037e17f1d2", Code: "A01", Name: "Shop A01", Categories: json.RawMessage(`[]`)}}, john.Shops)
	require.Equal(t, "Peter Pan", peter.Name)
	require.Nil(t, peter.Shops)
	require.Equal(t, []string{"GET /v1/system-users"}, b.srv.Requests(), "the first request is exactly the documented one")
}

func TestSystemUsersService_Pages(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name         string
		users        int
		ignorePaging bool
		pageSize     int // the fake's own page size; 0 = 20
		wantRequests []string
	}{
		{
			name: "ServerPagesSilently", users: 45,
			wantRequests: []string{"GET /v1/system-users", "GET /v1/system-users?page=2", "GET /v1/system-users?page=3", "GET /v1/system-users?page=4"},
		},
		{
			name: "ServerPagesAtExactMultiple", users: 40,
			wantRequests: []string{"GET /v1/system-users", "GET /v1/system-users?page=2", "GET /v1/system-users?page=3"},
		},
		{
			name: "ServerIgnoresPaging", users: 45, ignorePaging: true,
			wantRequests: []string{"GET /v1/system-users", "GET /v1/system-users?page=2"},
		},
		{
			name: "ServerPagesByOne", users: 3, pageSize: 1,
			wantRequests: []string{"GET /v1/system-users", "GET /v1/system-users?page=2", "GET /v1/system-users?page=3", "GET /v1/system-users?page=4"},
		},
		{name: "NoUsers", users: 0, wantRequests: []string{"GET /v1/system-users"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, b := setup(t)
			b.srv.SeedSystemUsers(omnichattest.SystemUsers(tt.users)...)
			b.srv.SetSystemUsersPaging(tt.ignorePaging, tt.pageSize)

			var got []string
			for u, err := range c.SystemUsers.All(t.Context()) {
				require.NoError(t, err)
				got = append(got, u.Username)
			}

			want := make([]string, 0, tt.users)
			for i := range tt.users {
				want = append(want, fmt.Sprintf("agent-%04d", i+1))
			}
			if tt.users == 0 {
				want = nil
			}
			require.Equal(t, want, got, "every user once, in order")
			require.Equal(t, tt.wantRequests, b.srv.Requests())
		})
	}
}

func TestSystemUsersService_Pages_badRows(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.SetSystemUsersPaging(true, 0) // every page repeats the list, bad rows too
	b.srv.SeedSystemUsersJSON(
		json.RawMessage(`{"username":"u1","email":"u1@example.com"}`),
		json.RawMessage(`{"email":"nobody@example.com"}`),
		json.RawMessage(`{"username":"u2","status":"active"}`),
	)

	var pages []*omnichat.SystemUserPage
	for p, err := range c.SystemUsers.Pages(t.Context()) {
		require.NoError(t, err)
		pages = append(pages, p)
	}

	require.Len(t, pages, 1, "the repeated page adds nothing and ends the listing")
	require.Len(t, pages[0].SystemUsers, 1)
	var reasons []string
	for _, bad := range pages[0].Bad {
		reasons = append(reasons, bad.Reason)
	}
	require.Equal(t, []string{"missing username", `status "active": want an integer`}, reasons)
	require.Len(t, b.srv.Requests(), 2)
}

func TestSystemUsersService_Pages_onlyBadRowsStillPage(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.SetSystemUsersPaging(false, 1)
	b.srv.SeedSystemUsersJSON(json.RawMessage(`{"name":"a"}`), json.RawMessage(`{"name":"b"}`), json.RawMessage(`{"username":"u3"}`))

	bad, good := 0, 0
	for p, err := range c.SystemUsers.Pages(t.Context()) {
		require.NoError(t, err)
		bad += len(p.Bad)
		good += len(p.SystemUsers)
	}

	require.Equal(t, 2, bad, "a page of bad rows is new and the listing goes on")
	require.Equal(t, 1, good)
}

func TestSystemUsersService_Pages_errorEndsTheListing(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.srv.SeedSystemUsers(omnichattest.SystemUsers(3)...)
	b.srv.FailNext(10, 401)

	n := 0
	var last error
	for _, err := range c.SystemUsers.Pages(t.Context()) {
		n++
		last = err
	}

	require.Equal(t, 1, n)
	require.ErrorContains(t, last, "list omnichat system users page 1")
}
