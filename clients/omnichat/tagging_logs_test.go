package omnichat_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/contact"
)

func TestTaggingLogsService_List_zoneLessTimeInBangkok(t *testing.T) {
	t.Parallel()
	bangkok, err := time.LoadLocation("Asia/Bangkok")
	require.NoError(t, err)
	c, b := setup(t, omnichattest.Options{Location: bangkok})
	require.NoError(t, b.srv.SeedFixture(omnichattest.StreamTaggingLogs, "tagging_logs.json")) // "2023-01-03T12:32:12", source "Bot"
	instant := time.Date(2023, 1, 3, 5, 32, 12, 0, time.UTC)

	page, err := c.TaggingLogs.List(t.Context(), omnichat.TaggingLogListOptions{TaggedAfter: instant, TaggedBefore: instant.Add(time.Second)})

	require.NoError(t, err)
	require.Empty(t, page.Bad)
	require.Equal(t, 1, page.TotalElements)
	require.Len(t, page.TaggingLogs, 1)
	got := page.TaggingLogs[0]
	require.True(t, instant.Equal(got.Time), "got %v", got.Time)
	require.Equal(t, bangkok, got.Time.Location())
	require.NotEmpty(t, got.Raw)
	got.Raw, got.Time = nil, time.Time{}
	require.Equal(t, omnichat.TaggingLog{
		TimeRaw:   "2023-01-03T12:32:12",
		Platform:  contact.WhatsApp,
		ChannelID: "85211111111",
		UserID:    "85222222222",
		Tag:       "subscribed",
		Source:    "bot",
		MessageID: "wamid.123213123123",
	}, got)
	require.Equal(t, []string{fmt.Sprintf("GET /v1/tagging-logs/records?page=1&pageSize=20&taggedAfter=%d&taggedBefore=%d",
		instant.UnixMilli(), instant.Add(time.Second).UnixMilli())}, b.srv.Requests())
}

func TestTaggingLogsService_List_badRowsKeptApart(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	at := day0.Add(time.Hour)
	raw := func(js string) omnichattest.RawRow {
		return omnichattest.RawRow{JSON: json.RawMessage(js), At: at}
	}
	require.NoError(t, b.srv.SeedRaw(omnichattest.StreamTaggingLogs,
		raw(`{"time":"2025-01-01T01:00:00","platform":"line","channelId":"165","userId":"U1","tag":"VIP","source":"MANUAL"}`),
		raw(`{"time":"yesterday","platform":"line","channelId":"165","userId":"U2","tag":"VIP","source":"bot"}`),
		raw(`{"time":"1969-12-31T23:59:59","platform":"line","channelId":"165","userId":"U3","tag":"VIP"}`),
		raw(`{"time":"2025-01-01T01:00:00","platform":"line","channelId":"165","userId":"U4"}`),
		raw(`{"time":"2025-01-01T01:00:00","platform":"website","channelId":"webchat","userId":"W1","tag":"web","source":null,"messageId":null}`),
	))

	page, err := c.TaggingLogs.List(t.Context(), omnichat.TaggingLogListOptions{TaggedAfter: day0, TaggedBefore: day0.Add(24 * time.Hour)})

	require.NoError(t, err)
	require.Len(t, page.TaggingLogs, 2)
	require.Equal(t, "manual", page.TaggingLogs[0].Source)
	require.Equal(t, at, page.TaggingLogs[0].Time)
	require.Equal(t, contact.Webchat, page.TaggingLogs[1].Platform)
	require.Empty(t, page.TaggingLogs[1].Source)
	require.Empty(t, page.TaggingLogs[1].MessageID)
	var reasons []string
	for _, bad := range page.Bad {
		reasons = append(reasons, bad.Reason)
	}
	require.Equal(t, []string{
		`time: want YYYY-MM-DDThh:mm:ss, got "yesterday"`,
		`time: out of range (1970 to 9999), got "1969-12-31T23:59:59"`,
		"tag: missing (absent)",
	}, reasons)
}

func TestTaggingLogsService_All(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	for i := range 130 {
		b.srv.SeedTaggingLogs(omnichat.TaggingLog{Time: day0.Add(time.Duration(i) * time.Minute), Platform: contact.LINE, ChannelID: "165", UserID: fmt.Sprintf("U%d", i), Tag: "VIP", Source: "bot"})
	}

	n := 0
	for l, err := range c.TaggingLogs.All(t.Context(), omnichat.TaggingLogListOptions{TaggedAfter: day0, TaggedBefore: day0.Add(24 * time.Hour), PageSize: 50}) {
		require.NoError(t, err)
		require.Equal(t, day0.Add(time.Duration(n)*time.Minute), l.Time)
		n++
	}

	require.Equal(t, 130, n)
	// The fake, like a server may, serves at most 20 rows per tagging-log
	// page (no maximum is documented): page 1 at 50 brings 20, and the
	// rest follows at the size served, not at 50 (page 2 at 50 would skip
	// rows 20–49).
	var sizes []string
	for _, r := range b.srv.Requests() {
		u, err := url.Parse(strings.TrimPrefix(r, "GET "))
		require.NoError(t, err)
		sizes = append(sizes, u.Query().Get("page")+"@"+u.Query().Get("pageSize"))
	}
	require.Equal(t, []string{"1@50", "2@20", "3@20", "4@20", "5@20", "6@20", "7@20"}, sizes)
}

func TestTaggingLogsService_List_windowTooLong(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)

	_, err := c.TaggingLogs.List(t.Context(), omnichat.TaggingLogListOptions{TaggedAfter: day0, TaggedBefore: day0.Add(8 * 24 * time.Hour)})

	require.ErrorContains(t, err, "INVALID_REQUEST_PARAMETERS The date range between after and before cannot exceed 7 days.")
}
