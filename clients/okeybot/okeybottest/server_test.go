package okeybottest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/okeybot/okeybottest"
)

const (
	token      = "tok-plain"
	viberToken = "tok-viber"
)

var start = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// setup starts a fake with one plain and one Viber channel on a manual clock.
func setup(t *testing.T, opts okeybottest.Options) (*okeybottest.Server, *okeybottest.Clock) {
	t.Helper()
	clock := okeybottest.NewClock(start)
	opts.Channels = append(opts.Channels,
		okeybottest.Channel{Token: token},
		okeybottest.Channel{Token: viberToken, Viber: true})
	opts.NowFunc = clock.Now
	return okeybottest.NewServer(t, opts), clock
}

// reply is a decoded response.
type reply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// send makes one raw HTTP request to the fake, so these tests do not depend
// on the client under test.
func send(t *testing.T, srv *okeybottest.Server, tok, method, path string, body any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	require.NoError(t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	require.NoError(t, json.Unmarshal(raw, &out.Body), "body %s", raw)
	return out
}

func fields(n int) map[string]any {
	fs := make([]map[string]any, n)
	for i := range fs {
		fs[i] = map[string]any{"name": fmt.Sprintf("f%02d", i), "value": fmt.Sprintf("v%02d", i)}
	}
	return map[string]any{"custom_fields": fs}
}

func tags(n int) map[string]any {
	ts := make([]string, n)
	for i := range ts {
		ts[i] = fmt.Sprintf("tag%02d", i)
	}
	return map[string]any{"tags": ts}
}

func errorBody(msg string) map[string]any {
	return map[string]any{"status": "error", "message": msg, "data": []any{}}
}

func TestServer_ServeHTTP_authentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give func(*http.Request)
	}{
		{"MissingHeader", func(*http.Request) {}},
		{"UnknownToken", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }},
		{"EmptyBearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }},
		{"WrongScheme", func(r *http.Request) { r.Header.Set("Authorization", "Basic "+token) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := setup(t, okeybottest.Options{})
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/contact/1", nil)
			require.NoError(t, err)
			tt.give(req)
			resp, err := http.DefaultTransport.RoundTrip(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var body map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))

			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			require.Equal(t, errorBody("API Token is invalid."), body)
			require.Equal(t, 1, srv.Unauthorized())
			require.Zero(t, srv.Calls(token))
		})
	}
}

func TestServer_ServeHTTP_customFieldLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		give       any
		wantStatus int
		wantMsg    string
	}{
		{"CreateOneField", http.MethodPost, fields(1), http.StatusOK, ""},
		{"CreateThirtyFields", http.MethodPost, fields(30), http.StatusOK, ""},
		{"CreateThirtyOneFields", http.MethodPost, fields(31), http.StatusForbidden, "Maximum 30 custom fields per request."},
		{"CreateNoFields", http.MethodPost, fields(0), http.StatusForbidden, "The custom fields field is required."},
		{"CreateNoBody", http.MethodPost, nil, http.StatusForbidden, "The request body must be JSON with custom_fields."},
		{"UpdateThirtyFields", http.MethodPut, fields(30), http.StatusOK, ""},
		{"UpdateThirtyOneFields", http.MethodPut, fields(31), http.StatusForbidden, "Maximum 30 custom fields per request."},
		{"UpdateNamelessField", http.MethodPut, map[string]any{"custom_fields": []any{map[string]any{"value": "x"}}},
			http.StatusForbidden, "custom_fields.0.name is required."},
		{"UpdateObjectValue", http.MethodPut, map[string]any{"custom_fields": []any{map[string]any{"name": "a", "value": map[string]any{}}}},
			http.StatusForbidden, "custom_fields.0.value must be a string, number or boolean."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := setup(t, okeybottest.Options{})
			seeded := srv.Seed(token, okeybottest.Contact{CustomFields: map[string]string{"keep": "me"}})
			path := "/v1/contact"
			if tt.method == http.MethodPut {
				path += "/" + seeded[0].ID
			}

			got := send(t, srv, token, tt.method, path, tt.give)

			require.Equal(t, tt.wantStatus, got.Status, got.Raw)
			if tt.wantMsg != "" {
				require.Equal(t, errorBody(tt.wantMsg), got.Body)
				require.Len(t, srv.Contacts(token), 1, "a refused request changes nothing")
				c, _ := srv.Contact(token, seeded[0].ID)
				require.Equal(t, map[string]string{"keep": "me"}, c.CustomFields)
				return
			}
			data, ok := got.Body["data"].(map[string]any)
			require.True(t, ok, got.Raw)
			id, ok := data["id"].(string)
			require.True(t, ok, got.Raw)
			c, found := srv.Contact(token, id)
			require.True(t, found)
			require.Equal(t, "v00", c.CustomFields["f00"])
		})
	}
}

func TestServer_ServeHTTP_rejectStatusConfigurable(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{RejectStatus: http.StatusUnprocessableEntity})
	got := send(t, srv, token, http.MethodPost, "/v1/contact", fields(31))
	require.Equal(t, http.StatusUnprocessableEntity, got.Status)
	require.Equal(t, errorBody("Maximum 30 custom fields per request."), got.Body)
}

func TestServer_ServeHTTP_updateMergesByName(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{})
	c := srv.Seed(token, okeybottest.Contact{CustomFields: map[string]string{"firstName": "Mahin", "lastName": "Dar"}})[0]

	got := send(t, srv, token, http.MethodPut, "/v1/contact/"+c.ID, map[string]any{"custom_fields": []any{
		map[string]any{"name": "firstName", "value": "Muhammad Mahin"},
		map[string]any{"name": "vip", "value": true},
		map[string]any{"name": "age", "value": 41},
	}})

	require.Equal(t, http.StatusOK, got.Status, got.Raw)
	require.Equal(t, map[string]any{"data": map[string]any{"id": c.ID}}, got.Body)
	stored, ok := srv.Contact(token, c.ID)
	require.True(t, ok)
	require.Equal(t, map[string]string{
		"firstName": "Muhammad Mahin", "lastName": "Dar", "vip": "TRUE", "age": "41",
	}, stored.CustomFields)
}

func TestServer_ServeHTTP_tagLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		give       any
		wantStatus int
		wantMsg    string
	}{
		{"AddTenTags", http.MethodPost, tags(10), http.StatusOK, "Contact Tags have been added successfully."},
		{"AddElevenTags", http.MethodPost, tags(11), http.StatusForbidden, "Maximum 10 tags per request."},
		{"AddNoTags", http.MethodPost, tags(0), http.StatusForbidden, "The tags field is required."},
		{"RemoveTenTags", http.MethodDelete, tags(10), http.StatusOK, "Contact Tags deleted successfully."},
		{"RemoveElevenTags", http.MethodDelete, tags(11), http.StatusForbidden, "Maximum 10 tags per request."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := setup(t, okeybottest.Options{})
			c := srv.Seed(token, okeybottest.Contact{Tags: []string{"tag00", "old"}})[0]

			got := send(t, srv, token, tt.method, "/v1/contact/"+c.ID+"/tags", tt.give)

			require.Equal(t, tt.wantStatus, got.Status, got.Raw)
			if tt.wantStatus != http.StatusOK {
				require.Equal(t, errorBody(tt.wantMsg), got.Body)
				stored, _ := srv.Contact(token, c.ID)
				require.Equal(t, []string{"tag00", "old"}, stored.Tags, "a refused request changes nothing")
				return
			}
			require.Equal(t, map[string]any{"status": "success", "message": tt.wantMsg, "data": []any{}}, got.Body)
		})
	}
}

func TestServer_ServeHTTP_tagsAddAndRemove(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{})
	c := srv.Seed(token, okeybottest.Contact{Tags: []string{"a"}})[0]
	path := "/v1/contact/" + c.ID + "/tags"

	require.Equal(t, http.StatusOK, send(t, srv, token, http.MethodPost, path, map[string]any{"tags": []string{"a", "b", "c"}}).Status)
	require.Equal(t, http.StatusOK, send(t, srv, token, http.MethodPost, path, map[string]any{"tags": []string{"b"}}).Status)
	require.Equal(t, http.StatusOK, send(t, srv, token, http.MethodDelete, path, map[string]any{"tags": []string{"a", "zzz"}}).Status)

	stored, ok := srv.Contact(token, c.ID)
	require.True(t, ok)
	require.Equal(t, []string{"b", "c"}, stored.Tags)
}

func TestServer_ServeHTTP_missingContact(t *testing.T) {
	t.Parallel()
	requests := []struct {
		name   string
		method string
		path   string
		body   any
	}{
		{"Get", http.MethodGet, "/v1/contact/404", nil},
		{"Update", http.MethodPut, "/v1/contact/404", fields(1)},
		{"AddTags", http.MethodPost, "/v1/contact/404/tags", tags(1)},
		{"RemoveTags", http.MethodDelete, "/v1/contact/404/tags", tags(1)},
	}
	tests := []struct {
		name       string
		give       int // Options.MissingStatus
		wantStatus int
	}{
		{"DefaultIsTheDocumentedGeneral403", 0, http.StatusForbidden},
		{"Or404", http.StatusNotFound, http.StatusNotFound},
	}
	for _, tt := range tests {
		for _, rq := range requests {
			t.Run(tt.name+"/"+rq.name, func(t *testing.T) {
				t.Parallel()
				srv, _ := setup(t, okeybottest.Options{MissingStatus: tt.give})
				got := send(t, srv, token, rq.method, rq.path, rq.body)
				require.Equal(t, tt.wantStatus, got.Status)
				require.Equal(t, errorBody("Contact not found."), got.Body)
			})
		}
	}
}

func TestServer_Delete(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{})
	cs := srv.Seed(token, okeybottest.Contact{}, okeybottest.Contact{})
	require.True(t, srv.Delete(token, cs[0].ID))
	require.False(t, srv.Delete(token, cs[0].ID), "already gone")
	require.False(t, srv.Delete("unknown", cs[1].ID))

	require.Equal(t, http.StatusForbidden, send(t, srv, token, http.MethodGet, "/v1/contact/"+cs[0].ID, nil).Status)
	require.Equal(t, http.StatusOK, send(t, srv, token, http.MethodGet, "/v1/contact/"+cs[1].ID, nil).Status)
	require.Equal(t, []string{cs[1].ID}, []string{srv.Contacts(token)[0].ID})
	require.Len(t, srv.Contacts(token), 1)
}

func TestServer_RefuseToken(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{})
	c := srv.Seed(token, okeybottest.Contact{})[0]
	srv.RefuseToken(token, http.StatusForbidden)
	got := send(t, srv, token, http.MethodGet, "/v1/contact/by_custom_field?name=a&value=b", nil)
	require.Equal(t, http.StatusForbidden, got.Status)
	require.Equal(t, errorBody("Message String"), got.Body)
	require.Equal(t, http.StatusOK, send(t, srv, viberToken, http.MethodGet, "/v1/contact/by_custom_field?name=a&value=b", nil).Status,
		"other tokens are served")
	srv.RefuseToken(token, 0)
	require.Equal(t, http.StatusOK, send(t, srv, token, http.MethodGet, "/v1/contact/"+c.ID, nil).Status)
	require.Equal(t, 2, srv.Calls(token))
}

func TestServer_Edit(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{})
	c := srv.Seed(token, okeybottest.Contact{CustomFields: map[string]string{"name": "A", "email": "a@x"}, Tags: []string{"t"}})[0]

	require.True(t, srv.Edit(token, c.ID, func(c *okeybottest.Contact) {
		c.CustomFields["name"] = "Agent's edit"
		c.CustomFields["email"] = "" // cleared
		c.Tags = append(c.Tags, "by agent", "t", "")
	}))
	require.False(t, srv.Edit(token, "nope", func(*okeybottest.Contact) {}))

	got, ok := srv.Contact(token, c.ID)
	require.True(t, ok)
	require.Equal(t, map[string]string{"name": "Agent's edit"}, got.CustomFields)
	require.Equal(t, []string{"t", "by agent"}, got.Tags[:2])
	require.Zero(t, srv.Calls(token), "an edit in Okeybot's inbox is not an API call")
}

func TestServer_ServeHTTP_methodNotAllowed(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{})
	c := srv.Seed(token, okeybottest.Contact{})[0]
	got := send(t, srv, token, http.MethodPatch, "/v1/contact/"+c.ID, fields(1))
	require.Equal(t, http.StatusMethodNotAllowed, got.Status)
	require.Equal(t, errorBody("405 Method Not Allowed."), got.Body)
}

func TestServer_ServeHTTP_rateLimit(t *testing.T) {
	t.Parallel()
	srv, clock := setup(t, okeybottest.Options{})
	c := srv.Seed(token, okeybottest.Contact{})[0]
	get := func() reply { return send(t, srv, token, http.MethodGet, "/v1/contact/"+c.ID, nil) }

	for i := range 100 {
		got := get()
		require.Equal(t, http.StatusOK, got.Status, "call %d", i+1)
		clock.Advance(100 * time.Millisecond) // 100 calls within 10s
	}
	got := get() // the 101st call within the minute
	require.Equal(t, http.StatusTooManyRequests, got.Status)
	require.Equal(t, errorBody("Too many requests"), got.Body)
	require.Empty(t, got.Header.Get("Retry-After"), "the document promises no Retry-After")
	for _, h := range []string{"X-Ratelimit-Limit", "X-Ratelimit-Remaining"} {
		require.Empty(t, got.Header.Get(h), "no undocumented header a client could come to rely on")
	}
	require.Equal(t, 1, srv.RateLimited(token))

	other := send(t, srv, viberToken, http.MethodGet, "/v1/contact/"+base64.StdEncoding.EncodeToString([]byte("x")), nil)
	require.Equal(t, http.StatusForbidden, other.Status, "another token has its own quota: the request reached the contact lookup")

	clock.Advance(50 * time.Second) // exactly 60s after the first call: the closed span still holds it
	require.Equal(t, http.StatusTooManyRequests, get().Status)

	clock.Advance(time.Nanosecond) // the first call is now out of every span ending now
	require.Equal(t, http.StatusOK, get().Status)
	require.Equal(t, http.StatusTooManyRequests, get().Status, "only one slot freed so far")

	clock.Advance(time.Minute)
	require.Equal(t, http.StatusOK, get().Status)
	require.Equal(t, 3, srv.RateLimited(token))
	require.Equal(t, 3, srv.TotalRateLimited())
	require.Equal(t, 105, srv.Calls(token))
}

func TestServer_ServeHTTP_rateScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		give        okeybottest.RateScope
		wantSecond  int // status of the other token's first call once the first token used the quota
		wantLimited int
	}{
		{"PerTokenByDefault", okeybottest.PerToken, http.StatusOK, 0},
		{"PerAccount", okeybottest.PerAccount, http.StatusTooManyRequests, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := setup(t, okeybottest.Options{RateLimit: 3, RateScope: tt.give})
			a := srv.Seed(token, okeybottest.Contact{})[0]
			b := srv.Seed("tok-third", okeybottest.Contact{})[0]
			for range 3 {
				require.Equal(t, http.StatusOK, send(t, srv, token, http.MethodGet, "/v1/contact/"+a.ID, nil).Status)
			}
			require.Equal(t, tt.wantSecond, send(t, srv, "tok-third", http.MethodGet, "/v1/contact/"+b.ID, nil).Status)
			require.Equal(t, tt.wantLimited, srv.RateLimited("tok-third"))
		})
	}
}

// A client that spaces calls exactly at the limit (600 ms for 100 a minute)
// puts 101 calls in a closed span of 60 s; one a hair slower meets 429s as
// soon as arrivals jitter; one paced with headroom does not.
func TestServer_ServeHTTP_arrivalJitter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		spacing     time.Duration
		jitter      time.Duration
		wantLimited bool
	}{
		{"ExactSpacingFillsAClosedSpan", 600 * time.Millisecond, 0, true},
		{"AHairSlowerNoJitter", 601 * time.Millisecond, 0, false},
		{"HalfAPercentSlowerWithJitter", 603 * time.Millisecond, time.Second, true}, // tolerates 300 ms
		{"HeadroomWithJitter", 615 * time.Millisecond, time.Second, false},          // tolerates 1.5 s (apiclient.DefaultHeadroom)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, clock := setup(t, okeybottest.Options{ArrivalJitter: tt.jitter, JitterSeed: 3})
			c := srv.Seed(token, okeybottest.Contact{})[0]
			for range 400 {
				send(t, srv, token, http.MethodGet, "/v1/contact/"+c.ID, nil)
				clock.Advance(tt.spacing)
			}
			require.Equal(t, tt.wantLimited, srv.RateLimited(token) > 0, "429s: %d", srv.RateLimited(token))
		})
	}
}

func TestServer_ServeHTTP_rateLimitCountsEveryAcceptedCall(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{RateLimit: 3})
	// A refused body and a missing contact are API calls too.
	require.Equal(t, http.StatusForbidden, send(t, srv, token, http.MethodPost, "/v1/contact", fields(31)).Status)
	require.Equal(t, http.StatusForbidden, send(t, srv, token, http.MethodGet, "/v1/contact/1", nil).Status)
	require.Equal(t, http.StatusOK, send(t, srv, token, http.MethodPost, "/v1/contact", fields(1)).Status)
	require.Equal(t, http.StatusTooManyRequests, send(t, srv, token, http.MethodPost, "/v1/contact", fields(1)).Status)
	require.Len(t, srv.Contacts(token), 1)
}

func TestServer_ServeHTTP_byCustomFieldPages(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{PerPage: 4})
	for i := range 10 {
		srv.Seed(token, okeybottest.Contact{CustomFields: map[string]string{"city": "Lima", "n": fmt.Sprint(i)}})
	}
	srv.Seed(token, okeybottest.Contact{CustomFields: map[string]string{"city": "Cusco"}})
	base := srv.URL + "/v1/contact/by_custom_field"

	tests := []struct {
		name      string
		givePage  string
		wantNs    []any
		wantPrev  any
		wantNext  any
		wantFrom  any
		wantTo    any
		wantPage  float64
		wantTotal float64
	}{
		{"FirstPage", "", []any{"0", "1", "2", "3"}, nil, base + "?page=2", 1.0, 4.0, 1, 10},
		{"MiddlePage", "2", []any{"4", "5", "6", "7"}, base + "?page=1", base + "?page=3", 5.0, 8.0, 2, 10},
		{"LastPage", "3", []any{"8", "9"}, base + "?page=2", nil, 9.0, 10.0, 3, 10},
		{"PastTheEnd", "4", []any{}, base + "?page=3", nil, nil, nil, 4, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := url.Values{"name": {"city"}, "value": {"Lima"}}
			if tt.givePage != "" {
				q.Set("page", tt.givePage)
			}
			got := send(t, srv, token, http.MethodGet, "/v1/contact/by_custom_field?"+q.Encode(), nil)
			require.Equal(t, http.StatusOK, got.Status, got.Raw)

			ns := []any{}
			for _, d := range got.Body["data"].([]any) {
				ns = append(ns, d.(map[string]any)["custom_fields"].(map[string]any)["n"])
			}
			require.Equal(t, tt.wantNs, ns)
			require.Equal(t, map[string]any{
				"first": base + "?page=1", "last": base + "?page=3", "prev": tt.wantPrev, "next": tt.wantNext,
			}, got.Body["links"])
			require.Equal(t, map[string]any{
				"current_page": tt.wantPage, "from": tt.wantFrom, "last_page": 3.0, "path": base,
				"per_page": 4.0, "to": tt.wantTo, "total": tt.wantTotal,
			}, got.Body["meta"])
		})
	}
}

func TestServer_ServeHTTP_contactShape(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{})
	c := srv.Seed(token, okeybottest.Contact{ID: "1776025372480910"})[0]
	got := send(t, srv, token, http.MethodGet, "/v1/contact/"+c.ID, nil)
	require.Equal(t, http.StatusOK, got.Status)
	require.Equal(t, map[string]any{"data": map[string]any{
		"id": "1776025372480910", "custom_fields": []any{}, "tags": []any{}, "created_at": float64(start.Unix()),
	}}, got.Body, "empty custom_fields arrive as [] the way PHP encodes them")
}

func TestServer_ServeHTTP_viberIDsAreBase64(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{})
	created := send(t, srv, viberToken, http.MethodPost, "/v1/contact", fields(1))
	require.Equal(t, http.StatusOK, created.Status)
	id := created.Body["data"].(map[string]any)["id"].(string)
	require.True(t, strings.ContainsAny(id, "+/="), "generated Viber id %q looks like a real one", id)

	encoded := url.PathEscape(base64.StdEncoding.EncodeToString([]byte(id)))
	require.Equal(t, http.StatusOK, send(t, srv, viberToken, http.MethodGet, "/v1/contact/"+encoded, nil).Status)
	require.Equal(t, http.StatusForbidden, send(t, srv, viberToken, http.MethodGet, "/v1/contact/"+url.PathEscape(id), nil).Status,
		"a raw Viber id is refused")

	plain := srv.Seed(token, okeybottest.Contact{})[0]
	require.Equal(t, http.StatusForbidden,
		send(t, srv, token, http.MethodGet, "/v1/contact/"+base64.StdEncoding.EncodeToString([]byte(plain.ID)), nil).Status,
		"other channels take ids as they are")
	require.Equal(t, "GET /api/v1/contact/"+encoded+" 200", srv.Requests(viberToken)[1].String())
}

func TestServer_FailNext(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{})
	c := srv.Seed(token, okeybottest.Contact{})[0]
	srv.FailNext(http.StatusTooManyRequests, http.StatusServiceUnavailable)
	path := "/v1/contact/" + c.ID

	first := send(t, srv, token, http.MethodGet, path, nil)
	require.Equal(t, http.StatusTooManyRequests, first.Status)
	require.Equal(t, errorBody("Too many requests"), first.Body)
	require.Empty(t, first.Header.Get("Retry-After"), "an injected 429 carries no Retry-After either")
	require.Equal(t, http.StatusServiceUnavailable, send(t, srv, token, http.MethodGet, path, nil).Status)
	require.Equal(t, http.StatusOK, send(t, srv, token, http.MethodGet, path, nil).Status)
	require.Zero(t, srv.RateLimited(token), "injected failures are not rate limiting")
	require.Equal(t, []string{
		"GET /api" + path + " 429", "GET /api" + path + " 503", "GET /api" + path + " 200",
	}, requestStrings(srv.Requests(token)))
}

func TestServer_ServeHTTP_concurrent(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, okeybottest.Options{RateLimit: 1000})
	c := srv.Seed(token, okeybottest.Contact{})[0]
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/contact/"+c.ID+"/tags",
				strings.NewReader(fmt.Sprintf(`{"tags":["t%d"]}`, i)))
			if err != nil {
				return
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	stored, ok := srv.Contact(token, c.ID)
	require.True(t, ok)
	require.Len(t, stored.Tags, 20)
	require.Equal(t, 20, srv.Calls(token))
}

func TestNew_handlerWithoutAPIPrefix(t *testing.T) {
	t.Parallel()
	srv := okeybottest.New(okeybottest.Options{Channels: []okeybottest.Channel{{Token: token}}})
	c := srv.Seed(token, okeybottest.Contact{CustomFields: map[string]string{"a": "b"}})[0]
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/contact/"+c.ID, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `"custom_fields":{"a":"b"}`)
}

func requestStrings(rs []okeybottest.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}
