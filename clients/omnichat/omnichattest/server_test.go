package omnichattest_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/contact"
)

// day0 is the start of the test data.
var day0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// ms formats t as the epoch-ms query value.
func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// response is what get returns.
type response struct {
	status int
	header http.Header
	body   string
}

// get sends GET path to srv with the given bearer token ("" sends none).
func get(t *testing.T, srv *omnichattest.Server, path, token string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// page is a decoded page of raw rows.
type page struct {
	Content       []json.RawMessage `json:"content"`
	TotalElements int               `json:"totalElements"`
}

// decodePage decodes a 200 page body.
func decodePage(t *testing.T, r response) page {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, r.body)
	var p page
	require.NoError(t, json.Unmarshal([]byte(r.body), &p))
	return p
}

// ids returns the "id" of every row.
func ids(t *testing.T, rows []json.RawMessage) []string {
	t.Helper()
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		var v struct{ ID string }
		require.NoError(t, json.Unmarshal(r, &v))
		out = append(out, v.ID)
	}
	return out
}

// noLimit are options without rate limiting, for tests that do not test it.
var noLimit = omnichattest.Options{RateLimit: omnichattest.RateLimitOff}

func TestServer_refusals(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, noLimit)
	tok := omnichattest.DefaultToken
	week := day0.Add(7 * 24 * time.Hour)
	longer := week.Add(time.Millisecond)
	tooLong := `{"errorCode":"INVALID_REQUEST_PARAMETERS","message":"The date range between after and before cannot exceed 7 days."}` + "\n"

	tests := []struct {
		name       string
		give       string
		token      string
		wantStatus int
		wantBody   string // exact body when set
		wantCode   string
	}{
		{name: "NoToken", give: "/v1/channels", wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "WrongToken", give: "/v1/channels", token: "nope", wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "UnknownPath", give: "/v1/nothing", token: tok, wantStatus: 404, wantCode: "NOT_FOUND"},
		{name: "ContactsWithoutPlatform", give: "/v1/contacts?updatedAfter=" + ms(day0) + "&updatedBefore=" + ms(week), token: tok, wantStatus: 400, wantCode: "INVALID_REQUEST_PARAMETERS"},
		{name: "ContactsUnknownPlatform", give: "/v1/contacts?platform=website&updatedAfter=" + ms(day0) + "&updatedBefore=" + ms(week), token: tok, wantStatus: 400, wantCode: "INVALID_REQUEST_PARAMETERS"},
		{name: "ContactsWithoutWindow", give: "/v1/contacts?platform=line", token: tok, wantStatus: 400, wantCode: "INVALID_REQUEST_PARAMETERS"},
		{name: "ContactsWindowTooLong", give: "/v1/contacts?platform=line&updatedAfter=" + ms(day0) + "&updatedBefore=" + ms(longer), token: tok, wantStatus: 400, wantBody: tooLong},
		{name: "TaggingLogsWindowTooLong", give: "/v1/tagging-logs/records?taggedAfter=" + ms(day0) + "&taggedBefore=" + ms(longer), token: tok, wantStatus: 400, wantBody: tooLong},
		{name: "MessagesWindowTooLong", give: "/v1/messages?platform=line&after=" + ms(day0) + "&before=" + ms(longer), token: tok, wantStatus: 400, wantBody: tooLong},
		{name: "MessagesWithoutPlatform", give: "/v1/messages?after=" + ms(day0) + "&before=" + ms(week), token: tok, wantStatus: 400, wantCode: "INVALID_REQUEST_PARAMETERS"},
		{name: "MessagesWithoutBefore", give: "/v1/messages?platform=line&after=" + ms(day0), token: tok, wantStatus: 400, wantCode: "INVALID_REQUEST_PARAMETERS"},
		{name: "TaggingLogsWithoutWindow", give: "/v1/tagging-logs/records", token: tok, wantStatus: 400, wantCode: "INVALID_REQUEST_PARAMETERS"},
		{name: "InvertedWindow", give: "/v1/tagging-logs/records?taggedAfter=" + ms(week) + "&taggedBefore=" + ms(day0), token: tok, wantStatus: 400, wantCode: "INVALID_REQUEST_PARAMETERS"},
		{name: "PageSizeOverMax", give: "/v1/messages?platform=line&pageSize=101&after=" + ms(day0) + "&before=" + ms(week), token: tok, wantStatus: 400, wantCode: "INVALID_REQUEST_PARAMETERS"},
		{name: "PageSizeZero", give: "/v1/messages?platform=line&pageSize=0&after=" + ms(day0) + "&before=" + ms(week), token: tok, wantStatus: 400, wantCode: "INVALID_REQUEST_PARAMETERS"},
		{name: "PageZero", give: "/v1/messages?platform=line&page=0&after=" + ms(day0) + "&before=" + ms(week), token: tok, wantStatus: 400, wantCode: "INVALID_REQUEST_PARAMETERS"},
		{name: "ExactlySevenDaysAccepted", give: "/v1/messages?platform=line&pageSize=100&after=" + ms(day0) + "&before=" + ms(week), token: tok, wantStatus: 200, wantBody: `{"content":[],"totalElements":0}`},
		{name: "ContactsByUserWithoutWindow", give: "/v1/contacts?platform=line&userId=U1", token: tok, wantStatus: 200, wantBody: `{"content":[],"totalElements":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := get(t, srv, tt.give, tt.token)
			require.Equal(t, tt.wantStatus, got.status, got.body)
			if tt.wantBody != "" {
				require.Equal(t, tt.wantBody, got.body)
			}
			if tt.wantCode != "" {
				var e struct{ ErrorCode, Message string }
				require.NoError(t, json.Unmarshal([]byte(got.body), &e))
				require.Equal(t, tt.wantCode, e.ErrorCode)
				require.NotEmpty(t, e.Message)
			}
		})
	}
}

func TestServer_methodNotAllowed(t *testing.T) {
	t.Parallel()
	srv := omnichattest.New(noLimit)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/contacts", nil)
	req.Header.Set("Authorization", "Bearer "+omnichattest.DefaultToken)
	rec := httptest.NewRecorder()

	srv.Handler().ServeHTTP(rec, req)

	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	require.Equal(t, []string{"POST /v1/contacts"}, srv.Requests())
}

func TestServer_rateLimit(t *testing.T) {
	t.Parallel()
	clock := omnichattest.NewClock(day0)
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: 2, NowFunc: clock.Now})

	statuses := func(n int, wantRetryAfter string) []int {
		var out []int
		for range n {
			r := get(t, srv, "/v1/channels", omnichattest.DefaultToken)
			out = append(out, r.status)
			if r.status == http.StatusTooManyRequests {
				require.Equal(t, wantRetryAfter, r.header.Get("Retry-After"))
				require.JSONEq(t, `{"errorCode":"TOO_MANY_REQUESTS","message":"Too many requests."}`, r.body)
			}
		}
		return out
	}

	require.Equal(t, []int{200, 200, 429, 429}, statuses(4, "2"), "the span [t, t+1s] holds both: retry after more than 1 s")
	require.Equal(t, 2, srv.RateLimited())
	clock.Advance(500 * time.Millisecond)
	require.Equal(t, []int{429}, statuses(1, "1"), "a token bucket would have refilled one; a sliding second has not")
	clock.Advance(500*time.Millisecond + time.Nanosecond)
	require.Equal(t, []int{200, 200, 429}, statuses(3, "2"), "both arrivals left the span")
	require.Equal(t, 4, srv.RateLimited())
	require.Equal(t, 8, srv.RequestCount())

	srv.SetRateLimit(omnichattest.RateLimitOff)
	require.Equal(t, []int{200, 200, 200}, statuses(3, ""))
}

func TestServer_rateLimit_defaultIsVendorLimit(t *testing.T) {
	t.Parallel()
	clock := omnichattest.NewClock(day0)
	srv := omnichattest.NewServer(t, omnichattest.Options{NowFunc: clock.Now})

	var statuses []int
	for i := range 42 {
		clock.Set(day0.Add(time.Duration(i) * 25 * time.Millisecond)) // exactly 40/s
		statuses = append(statuses, get(t, srv, "/v1/channels", omnichattest.DefaultToken).status)
	}

	require.Equal(t, http.StatusTooManyRequests, statuses[40], "the 41st, at 1.000 s, puts 41 in the closed second [0, 1 s]")
	require.Equal(t, 1, srv.RateLimited())
	require.Equal(t, http.StatusOK, statuses[41])
}

// Paced with the client's headroom the fake refuses nothing, even with
// arrival jitter; paced at the limit exactly, jitter gets requests refused.
func TestServer_rateLimit_arrivalJitter(t *testing.T) {
	t.Parallel()
	refused := func(spacing time.Duration) int {
		clock := omnichattest.NewClock(day0)
		srv := omnichattest.NewServer(t, omnichattest.Options{NowFunc: clock.Now, ArrivalJitter: 4 * time.Millisecond})
		for i := range 400 {
			clock.Set(day0.Add(time.Duration(i) * spacing))
			get(t, srv, "/v1/channels", omnichattest.DefaultToken)
		}
		return srv.RateLimited()
	}
	require.Positive(t, refused(25*time.Millisecond), "40/s exactly with 4 ms of jitter")
	require.Zero(t, refused(25641*time.Microsecond), "39/s: apiclient.Pace with its default headroom")
}

func TestServer_RateLimitedShare(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff, RateLimitedShare: 0.3, Seed: 7})
	for range 1000 {
		r := get(t, srv, "/v1/channels", omnichattest.DefaultToken)
		if r.status == http.StatusTooManyRequests {
			require.Equal(t, "1", r.header.Get("Retry-After"))
		}
	}
	require.InDelta(t, 300, srv.RateLimited(), 50, "about 30% of the answers")
}

func TestServer_Refuse(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, noLimit)
	srv.Refuse(http.StatusBadRequest, omnichattest.WindowStarting(omnichattest.StreamMessages, day0))
	week := ms(day0.Add(7 * 24 * time.Hour))

	for range 2 {
		r := get(t, srv, "/v1/messages?platform=line&after="+ms(day0)+"&before="+week, omnichattest.DefaultToken)
		require.Equal(t, http.StatusBadRequest, r.status)
		require.Contains(t, r.body, "INVALID_REQUEST_PARAMETERS")
	}
	later := ms(day0.Add(time.Hour))
	require.Equal(t, http.StatusOK, get(t, srv, "/v1/messages?platform=line&after="+later+"&before="+week, omnichattest.DefaultToken).status)
	require.Equal(t, http.StatusOK, get(t, srv, "/v1/tagging-logs/records?taggedAfter="+ms(day0)+"&taggedBefore="+week, omnichattest.DefaultToken).status)
}

func TestServer_channelsListOnlyDocumentedPlatforms(t *testing.T) {
	t.Parallel()
	seed := func(srv *omnichattest.Server) {
		for _, c := range []omnichat.Channel{
			{Platform: contact.Webchat, ChannelID: "webchat", ChannelName: "Team"},
			{Platform: contact.LINE, ChannelID: "1657703186", ChannelName: "LINE shop"},
			{Platform: contact.Facebook, ChannelID: "104512345678901", ChannelName: "Page"},
			{Platform: contact.WhatsApp, ChannelID: "66812340000", ChannelName: "WhatsApp"},
		} {
			srv.SeedChannels(c)
		}
		srv.SeedContacts(omnichat.Contact{Platform: contact.Facebook, ChannelID: "104512345678901", ID: "PSID1", UpdatedAt: day0.Add(time.Hour)})
	}
	platforms := func(body string) []string {
		var rows []struct{ Platform string }
		require.NoError(t, json.Unmarshal([]byte(body), &rows))
		var out []string
		for _, r := range rows {
			out = append(out, r.Platform)
		}
		return out
	}

	srv := omnichattest.NewServer(t, noLimit)
	seed(srv)
	require.Equal(t, []string{"webchat", "line"}, platforms(get(t, srv, "/v1/channels", omnichattest.DefaultToken).body))
	r := get(t, srv, "/v1/contacts?platform=facebook&updatedAfter="+ms(day0)+"&updatedBefore="+ms(day0.Add(24*time.Hour)), omnichattest.DefaultToken)
	require.Contains(t, r.body, `"PSID1"`, "an unlisted platform's contacts are still served")

	all := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff, ListEveryPlatform: true})
	seed(all)
	require.Equal(t, []string{"webchat", "line", "facebook", "whatsapp"}, platforms(get(t, all, "/v1/channels", omnichattest.DefaultToken).body))
}

func TestServer_taggingLogPagesCappedSilently(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cap      int
		wantRows []int // rows of pages 1, 2, 3 at pageSize 100
	}{
		{name: "DefaultCapIsTheDefaultPageSize", wantRows: []int{20, 20, 0}}, // rows 20–99 are on no page at size 100
		{name: "NoCap", cap: -1, wantRows: []int{100, 30, 0}},
		{name: "CapOf50", cap: 50, wantRows: []int{50, 30, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff, TaggingLogPageCap: tt.cap})
			for i := range 130 {
				srv.SeedTaggingLogs(omnichat.TaggingLog{Time: day0.Add(time.Duration(i) * time.Minute), Platform: contact.LINE,
					ChannelID: "1", UserID: fmt.Sprintf("U%03d", i), Tag: "VIP", Source: "bot"})
			}
			var got []int
			for page := 1; page <= 3; page++ {
				r := get(t, srv, fmt.Sprintf("/v1/tagging-logs/records?taggedAfter=%s&taggedBefore=%s&page=%d&pageSize=100",
					ms(day0), ms(day0.Add(24*time.Hour)), page), omnichattest.DefaultToken)
				require.Equal(t, http.StatusOK, r.status)
				var p struct {
					Content       []json.RawMessage
					TotalElements int
				}
				require.NoError(t, json.Unmarshal([]byte(r.body), &p))
				require.Equal(t, 130, p.TotalElements)
				got = append(got, len(p.Content))
			}
			require.Equal(t, tt.wantRows, got, "page n holds rows (n−1)·pageSize onwards, at most the cap")
		})
	}
}

func TestServer_FailNext(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name          string
		give          int
		wantCode      string
		wantRetry     string
		wantRateLimit int
	}{
		{name: "ServiceUnavailable", give: 503, wantCode: "INTERNAL_SERVER_ERROR"},
		{name: "TooManyRequests", give: 429, wantCode: "TOO_MANY_REQUESTS", wantRetry: "1", wantRateLimit: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := omnichattest.NewServer(t, noLimit)
			srv.FailNext(2, tt.give)

			for range 2 {
				r := get(t, srv, "/v1/channels", omnichattest.DefaultToken)
				require.Equal(t, tt.give, r.status)
				require.Equal(t, tt.wantRetry, r.header.Get("Retry-After"))
				require.Contains(t, r.body, tt.wantCode)
			}
			require.Equal(t, 200, get(t, srv, "/v1/channels", omnichattest.DefaultToken).status)
			require.Equal(t, tt.wantRateLimit, srv.RateLimited())
		})
	}
}

func TestServer_latency(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var waits []time.Duration
	srv := omnichattest.NewServer(t, omnichattest.Options{
		RateLimit: omnichattest.RateLimitOff,
		Latency:   250 * time.Millisecond,
		SleepFunc: func(_ context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			waits = append(waits, d)
			return nil
		},
	})

	get(t, srv, "/v1/channels", omnichattest.DefaultToken)
	get(t, srv, "/v1/channels", omnichattest.DefaultToken)

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []time.Duration{250 * time.Millisecond, 250 * time.Millisecond}, waits)
}

func TestServer_Requests(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff, MaxRequestLog: 3})

	for i := range 10 {
		get(t, srv, fmt.Sprintf("/v1/channels?n=%d", i), omnichattest.DefaultToken)
	}

	require.Equal(t, []string{"GET /v1/channels?n=7", "GET /v1/channels?n=8", "GET /v1/channels?n=9"}, srv.Requests())
	require.Equal(t, 10, srv.RequestCount())
}

func TestServer_channels(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff, ListEveryPlatform: true})
	require.NoError(t, srv.SeedFixture(omnichattest.StreamChannels, "channels.json"))
	srv.SeedChannels(omnichat.Channel{Platform: contact.Facebook, ChannelID: "202104673972398", ChannelName: "Page"})

	r := get(t, srv, "/v1/channels", omnichattest.DefaultToken)

	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `[
		{"platform":"webchat","channelId":"webchat","channelName":"Team name"},
		{"platform":"line","channelId":"1657703186","channelName":"LINE Channel Name"},
		{"platform":"facebook","channelId":"202104673972398","channelName":"Page"}]`, r.body)
}

func TestServer_contactsWindowAndPaging(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, noLimit)
	// Five contacts at day0+0h..4h, and two sharing day0+2h, ordered by id.
	for i := range 5 {
		srv.SeedContacts(omnichat.Contact{Platform: contact.LINE, ChannelID: "165", ID: fmt.Sprintf("U%d", i), UpdatedAt: day0.Add(time.Duration(i) * time.Hour)})
	}
	srv.SeedContacts(
		omnichat.Contact{Platform: contact.LINE, ChannelID: "165", ID: "U2a", UpdatedAt: day0.Add(2 * time.Hour)},
		omnichat.Contact{Platform: contact.Facebook, ChannelID: "fb", ID: "F1", UpdatedAt: day0.Add(2 * time.Hour)},
		omnichat.Contact{Platform: contact.LINE, ChannelID: "166", ID: "U9", UpdatedAt: day0.Add(2 * time.Hour)},
	)
	// A newer version of U0 replaces the old one and moves it to 4h30.
	srv.SeedContacts(omnichat.Contact{Platform: contact.LINE, ChannelID: "165", ID: "U0", Name: "new", UpdatedAt: day0.Add(4*time.Hour + 30*time.Minute)})

	tests := []struct {
		name      string
		give      string
		wantIDs   []string
		wantTotal int
	}{
		{name: "AfterInclusiveBeforeExclusive", give: "platform=line&channelId=165&updatedAfter=" + ms(day0.Add(time.Hour)) + "&updatedBefore=" + ms(day0.Add(3*time.Hour)), wantIDs: []string{"U1", "U2", "U2a"}, wantTotal: 3},
		{name: "PlatformOnly", give: "platform=line&updatedAfter=" + ms(day0) + "&updatedBefore=" + ms(day0.Add(24*time.Hour)), wantIDs: []string{"U1", "U2", "U2a", "U9", "U3", "U4", "U0"}, wantTotal: 7},
		{name: "SecondPage", give: "platform=line&page=2&pageSize=3&updatedAfter=" + ms(day0) + "&updatedBefore=" + ms(day0.Add(24*time.Hour)), wantIDs: []string{"U9", "U3", "U4"}, wantTotal: 7},
		{name: "PastTheEnd", give: "platform=line&page=4&pageSize=3&updatedAfter=" + ms(day0) + "&updatedBefore=" + ms(day0.Add(24*time.Hour)), wantIDs: []string{}, wantTotal: 7},
		{name: "ByUser", give: "platform=line&userId=U0", wantIDs: []string{"U0"}, wantTotal: 1},
		{name: "Facebook", give: "platform=facebook&updatedAfter=" + ms(day0) + "&updatedBefore=" + ms(day0.Add(24*time.Hour)), wantIDs: []string{"F1"}, wantTotal: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := decodePage(t, get(t, srv, "/v1/contacts?"+tt.give, omnichattest.DefaultToken))
			require.Equal(t, tt.wantIDs, ids(t, p.Content))
			require.Equal(t, tt.wantTotal, p.TotalElements)
		})
	}
}

func TestServer_taggingLogsZone(t *testing.T) {
	t.Parallel()
	bangkok, err := time.LoadLocation("Asia/Bangkok")
	require.NoError(t, err)
	srv := omnichattest.NewServer(t, omnichattest.Options{RateLimit: omnichattest.RateLimitOff, Location: bangkok})
	require.NoError(t, srv.SeedFixture(omnichattest.StreamTaggingLogs, "tagging_logs.json")) // "2023-01-03T12:32:12"
	at := time.Date(2023, 1, 3, 5, 32, 12, 0, time.UTC)                                      // the same instant

	tests := []struct {
		name  string
		after time.Time
		want  int
	}{
		{name: "WindowAroundBangkokInstant", after: at, want: 1},
		{name: "WindowAroundUTCReading", after: time.Date(2023, 1, 3, 12, 32, 12, 0, time.UTC), want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := decodePage(t, get(t, srv, "/v1/tagging-logs/records?taggedAfter="+ms(tt.after)+"&taggedBefore="+ms(tt.after.Add(time.Second)), omnichattest.DefaultToken))
			require.Len(t, p.Content, tt.want)
			require.Equal(t, tt.want, p.TotalElements)
		})
	}
}

func TestServer_Drift(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, noLimit)
	for i := range 10 {
		srv.SeedMessages(omnichat.Message{Platform: contact.LINE, ChannelID: "165", ID: fmt.Sprintf("m%02d", i), Time: day0.Add(time.Duration(i+1) * time.Minute)})
	}
	srv.Drift(omnichattest.StreamMessages, 1, 2)
	q := "/v1/messages?platform=line&pageSize=4&after=" + ms(day0) + "&before=" + ms(day0.Add(time.Hour)) + "&page="

	p1 := decodePage(t, get(t, srv, q+"1", omnichattest.DefaultToken))
	p2 := decodePage(t, get(t, srv, q+"2", omnichattest.DefaultToken))

	require.Equal(t, []string{"m00", "m01", "m02", "m03"}, ids(t, p1.Content))
	require.Equal(t, 10, p1.TotalElements)
	require.Equal(t, []string{"m02", "m03", "m04", "m05"}, ids(t, p2.Content), "two rows shifted in: duplicates")
	require.Equal(t, 12, p2.TotalElements)
	require.Equal(t, 12, srv.Len(omnichattest.StreamMessages))
}

func TestServer_SeedJSON(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		stream  omnichattest.Stream
		give    string
		wantErr string
	}{
		{name: "ContactWithoutTime", stream: omnichattest.StreamContacts, give: `{"channel":{"platform":"line","channelId":"1"},"id":"U1"}`, wantErr: "no usable updatedAt"},
		{name: "ContactByLastMessageTime", stream: omnichattest.StreamContacts, give: `{"channel":{"platform":"line","channelId":"1"},"id":"U1","lastMessageTime":1604650656053}`},
		{name: "MessageWithoutTime", stream: omnichattest.StreamMessages, give: `{"id":"m"}`, wantErr: "no usable time"},
		{name: "TaggingLogBadTime", stream: omnichattest.StreamTaggingLogs, give: `{"time":"yesterday"}`, wantErr: "tagging time"},
		{name: "NotAnObject", stream: omnichattest.StreamMessages, give: `42`, wantErr: "not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := omnichattest.New(noLimit)
			err := srv.SeedJSON(tt.stream, json.RawMessage(tt.give))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Equal(t, 0, srv.Len(tt.stream))
				return
			}
			require.NoError(t, err)
			require.Equal(t, 1, srv.Len(tt.stream))
		})
	}
}

func TestServer_SeedFixture(t *testing.T) {
	t.Parallel()

	tests := []struct {
		give   string
		stream omnichattest.Stream
		want   int
	}{
		{give: "channels.json", stream: omnichattest.StreamChannels, want: 2},
		{give: "contacts_line.json", stream: omnichattest.StreamContacts, want: 3},
		{give: "contacts_facebook.json", stream: omnichattest.StreamContacts, want: 1},
		{give: "contacts_instagram.json", stream: omnichattest.StreamContacts, want: 1},
		{give: "contacts_whatsapp.json", stream: omnichattest.StreamContacts, want: 1},
		{give: "contacts_webchat.json", stream: omnichattest.StreamContacts, want: 1},
		{give: "messages_whatsapp.json", stream: omnichattest.StreamMessages, want: 7},
		{give: "tagging_logs.json", stream: omnichattest.StreamTaggingLogs, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			srv := omnichattest.New(noLimit)
			require.NoError(t, srv.SeedFixture(tt.stream, tt.give))
			require.Equal(t, tt.want, srv.Len(tt.stream))
		})
	}
	require.Nil(t, omnichattest.Fixture("nope.json"))
}

func TestServer_MessageSource(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, noLimit)
	from := day0
	require.NoError(t, srv.SeedMessageSource(omnichattest.MessageSource{
		N: 1_000_000, From: from, To: from.Add(100 * 24 * time.Hour), Platform: contact.LINE, ChannelID: "165",
	}))
	// 10,000 messages a day, one every 8.64 s; a 7-day window holds 70,000.
	after := from.Add(10 * 24 * time.Hour)
	q := "/v1/messages?platform=line&channelId=165&pageSize=100&after=" + ms(after) + "&before=" + ms(after.Add(7*24*time.Hour))

	first := decodePage(t, get(t, srv, q+"&page=1", omnichattest.DefaultToken))
	last := decodePage(t, get(t, srv, q+"&page=700", omnichattest.DefaultToken))
	past := decodePage(t, get(t, srv, q+"&page=701", omnichattest.DefaultToken))
	other := decodePage(t, get(t, srv, "/v1/messages?platform=facebook&after="+ms(after)+"&before="+ms(after.Add(time.Hour)), omnichattest.DefaultToken))

	require.Equal(t, 70_000, first.TotalElements)
	require.Len(t, first.Content, 100)
	require.Equal(t, "gen-165-100000", ids(t, first.Content)[0])
	m, err := omnichat.DecodeMessage(first.Content[0])
	require.NoError(t, err)
	require.Equal(t, after, m.Time)
	require.Equal(t, "user-0000", m.CustomerUserID)
	require.Equal(t, "gen-165-169999", ids(t, last.Content)[99])
	require.Empty(t, past.Content)
	require.Empty(t, other.Content)
	require.Equal(t, 1_000_000, srv.Len(omnichattest.StreamMessages))
}

func TestServer_MessageSource_invalid(t *testing.T) {
	t.Parallel()
	srv := omnichattest.New(noLimit)

	tests := []struct {
		name string
		give omnichattest.MessageSource
	}{
		{name: "NoMessages", give: omnichattest.MessageSource{From: day0, To: day0.Add(time.Hour), Platform: "line", ChannelID: "1"}},
		{name: "EmptySpan", give: omnichattest.MessageSource{N: 1, From: day0, To: day0, Platform: "line", ChannelID: "1"}},
		{name: "NoChannel", give: omnichattest.MessageSource{N: 1, From: day0, To: day0.Add(time.Hour), Platform: "line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Error(t, srv.SeedMessageSource(tt.give))
		})
	}
}

// TestServer_MessageSource_mergedPaging checks offset paging over stored
// messages and several generators against a plain merge of all rows.
func TestServer_MessageSource_mergedPaging(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, noLimit)
	rnd := rand.New(rand.NewPCG(1, 2))
	type msg struct {
		id  string
		at  time.Time
		src int
		pos int
	}
	var all []msg
	// Stored messages, some at the same millisecond as generated ones.
	for i := range 60 {
		at := day0.Add(time.Duration(rnd.IntN(3600)) * time.Second)
		id := fmt.Sprintf("s%03d", i)
		srv.SeedMessages(omnichat.Message{Platform: contact.LINE, ChannelID: "A", ID: id, Time: at})
		all = append(all, msg{id: id, at: at})
	}
	specs := []omnichattest.MessageSource{
		{N: 100, From: day0, To: day0.Add(time.Hour), Platform: contact.LINE, ChannelID: "A"},
		{N: 37, From: day0.Add(10 * time.Minute), To: day0.Add(50 * time.Minute), Platform: contact.LINE, ChannelID: "B"},
		{N: 120, From: day0, To: day0.Add(time.Hour), Platform: contact.LINE, ChannelID: "C"},
		{N: 50, From: day0, To: day0.Add(time.Hour), Platform: contact.Facebook, ChannelID: "D"}, // filtered out
	}
	for g, sp := range specs {
		require.NoError(t, srv.SeedMessageSource(sp))
		if sp.Platform != contact.LINE {
			continue
		}
		span := sp.To.UnixMilli() - sp.From.UnixMilli()
		for i := range sp.N {
			at := time.UnixMilli(sp.From.UnixMilli() + span*int64(i)/int64(sp.N)).UTC()
			all = append(all, msg{id: fmt.Sprintf("gen-%s-%d", sp.ChannelID, i), at: at, src: g + 1, pos: i})
		}
	}
	after, before := day0.Add(5*time.Minute), day0.Add(55*time.Minute)
	var want []string
	slices.SortStableFunc(all, func(a, b msg) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.src, b.src), cmp.Compare(a.pos, b.pos), strings.Compare(a.id, b.id))
	})
	for _, m := range all {
		if !m.at.Before(after) && m.at.Before(before) {
			want = append(want, m.id)
		}
	}

	var got []string
	for pageNo := 1; ; pageNo++ {
		p := decodePage(t, get(t, srv, fmt.Sprintf("/v1/messages?platform=line&pageSize=7&page=%d&after=%s&before=%s", pageNo, ms(after), ms(before)), omnichattest.DefaultToken))
		require.Equal(t, len(want), p.TotalElements)
		if len(p.Content) == 0 {
			break
		}
		got = append(got, ids(t, p.Content)...)
	}
	require.Equal(t, want, got)
}

func TestServer_concurrentUse(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, noLimit)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			srv.SeedContacts(omnichat.Contact{Platform: contact.LINE, ChannelID: "1", ID: fmt.Sprintf("U%d", i), UpdatedAt: day0})
			get(t, srv, "/v1/contacts?platform=line&updatedAfter="+ms(day0)+"&updatedBefore="+ms(day0.Add(time.Hour)), omnichattest.DefaultToken)
			_ = srv.Requests()
		})
	}
	wg.Wait()
	require.Equal(t, 8, srv.RequestCount())
	require.Equal(t, 8, srv.Len(omnichattest.StreamContacts))
}
