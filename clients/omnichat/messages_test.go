package omnichat_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/contact"
)

func TestMessagesService_List_vendorExample(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	require.NoError(t, b.srv.SeedFixture(omnichattest.StreamMessages, "messages_whatsapp.json"))
	at := time.UnixMilli(1604647464032).UTC()

	page, err := c.Messages.List(t.Context(), omnichat.MessageListOptions{Platform: contact.WhatsApp, ChannelID: "85290000001", After: at, Before: at.Add(time.Millisecond), PageSize: 100})

	require.NoError(t, err)
	require.Empty(t, page.Bad)
	require.Equal(t, 7, page.TotalElements)
	byID := map[string]omnichat.Message{}
	for _, m := range page.Messages {
		require.NotEmpty(t, m.Raw)
		m.Raw = nil
		byID[m.ID] = m
	}
	hello := "hello"
	require.Equal(t, omnichat.Message{
		Platform: contact.WhatsApp, ChannelID: "85290000001",
		RoomID: "wh18695d48-5788-4d0a-a02c-9522a996258c-85290000002", CustomerUserID: "85290000002",
		ID: "mid-1", SenderType: "customer", SenderName: "Peter", SenderUserID: "85290000002", SenderPhone: "85290000002",
		Time: at, MessageType: "text", MessageStatus: "delivered", Message: &hello,
	}, byID["mid-1"])
	photo := byID["mid-2"]
	require.Nil(t, photo.Message)
	require.Equal(t, "https://example.com/83b4f48c4229.png", *photo.MediaURL)
	bot := byID["mid-6"]
	require.Equal(t, "bot", bot.SenderType)
	require.Empty(t, bot.SenderPhone)
	require.Equal(t, "agent", byID["0031ab01-93b1-480a-9270-83b4f48c4229"].SenderType)
	require.Equal(t, []string{fmt.Sprintf("GET /v1/messages?after=%d&before=%d&channelId=85290000001&page=1&pageSize=100&platform=whatsapp",
		at.UnixMilli(), at.UnixMilli()+1)}, b.srv.Requests())
}

func TestMessagesService_All_generated(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	// 1,000 messages over 10 days, one every 864 s.
	require.NoError(t, b.srv.SeedMessageSource(omnichattest.MessageSource{N: 1000, From: day0, To: day0.Add(10 * 24 * time.Hour), Platform: contact.LINE, ChannelID: "165"}))
	after := day0.Add(24 * time.Hour)

	var got []omnichat.Message
	for m, err := range c.Messages.All(t.Context(), omnichat.MessageListOptions{Platform: contact.LINE, After: after, Before: after.Add(7 * 24 * time.Hour), PageSize: 100}) {
		require.NoError(t, err)
		got = append(got, m)
	}

	require.Len(t, got, 700)
	for k, m := range got {
		i := 100 + k
		require.Equal(t, fmt.Sprintf("gen-165-%d", i), m.ID)
		require.Equal(t, day0.Add(time.Duration(i)*864*time.Second), m.Time)
	}
	require.Len(t, b.srv.Requests(), 7, "stops at totalElements without an extra empty page")
}

func TestMessagesService_List_refusals(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		give omnichat.MessageListOptions
	}{
		{name: "WindowOverSevenDays", give: omnichat.MessageListOptions{Platform: contact.LINE, After: day0, Before: day0.Add(7*24*time.Hour + time.Second)}},
		{name: "NoPlatform", give: omnichat.MessageListOptions{After: day0, Before: day0.Add(time.Hour)}},
		{name: "NoWindow", give: omnichat.MessageListOptions{Platform: contact.LINE}},
		{name: "PageSizeOverMax", give: omnichat.MessageListOptions{Platform: contact.LINE, After: day0, Before: day0.Add(time.Hour), PageSize: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t)

			_, err := c.Messages.List(t.Context(), tt.give)

			var apiErr *apiclient.Error
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, 400, apiErr.Status)
			require.Equal(t, "INVALID_REQUEST_PARAMETERS", apiErr.Code)
			require.ErrorIs(t, err, apiclient.ErrRejected)
		})
	}
}

func TestMessagesService_All_stopsOnError(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	for i := range 30 {
		b.srv.SeedMessages(omnichat.Message{Platform: contact.LINE, ChannelID: "165", ID: fmt.Sprintf("m%02d", i), Time: day0.Add(time.Duration(i) * time.Second)})
	}

	var n int
	var lastErr error
	for _, err := range c.Messages.All(t.Context(), omnichat.MessageListOptions{Platform: contact.LINE, After: day0, Before: day0.Add(time.Hour), PageSize: 10}) {
		if err != nil {
			lastErr = err
			continue
		}
		n++
		if n == 10 {
			b.srv.FailNext(10, 400) // the second page is refused
		}
	}

	require.Equal(t, 10, n)
	require.ErrorIs(t, lastErr, apiclient.ErrRejected)
	require.ErrorContains(t, lastErr, "list omnichat messages page 2")
}
