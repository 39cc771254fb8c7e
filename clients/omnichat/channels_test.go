package omnichat_test

import (
	"encoding/json"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
	"crmsync/clients/omnichat/omnichattest"
	"crmsync/contact"
)

func TestChannelsService_List(t *testing.T) {
	t.Parallel()
	c, b := setup(t, omnichattest.Options{ListEveryPlatform: true})
	require.NoError(t, b.srv.SeedFixture(omnichattest.StreamChannels, "channels.json"))
	require.NoError(t, b.srv.SeedJSON(omnichattest.StreamChannels,
		json.RawMessage(`{"platform":"website","channelId":"webchat2","channelName":"Old web"}`),
		json.RawMessage(`{"platform":"facebook","channelId":202104673972398,"channelName":null}`),
	))

	got, err := c.Channels.List(t.Context())

	require.NoError(t, err)
	require.Len(t, got, 4)
	for i := range got {
		require.NotEmpty(t, got[i].Raw)
		got[i].Raw = nil
	}
	require.Equal(t, []omnichat.Channel{
		{Platform: contact.Webchat, ChannelID: "webchat", ChannelName: "Team name"},
		{Platform: contact.LINE, ChannelID: "1657703186", ChannelName: "LINE Channel Name"},
		{Platform: contact.Webchat, ChannelID: "webchat2", ChannelName: "Old web"},
		{Platform: contact.Facebook, ChannelID: "202104673972398"},
	}, got)
	require.Equal(t, []string{"GET /v1/channels"}, b.srv.Requests())
}

func TestChannelsService_List_unusableRowSkipped(t *testing.T) {
	t.Parallel()
	srv := omnichattest.NewServer(t, omnichattest.Options{ListEveryPlatform: true})
	require.NoError(t, srv.SeedJSON(omnichattest.StreamChannels,
		json.RawMessage(`{"platform":"line","channelId":"1"}`),
		json.RawMessage(`{"platform":"line"}`),
		json.RawMessage(`"junk"`),
	))
	log, hook := test.NewNullLogger()
	c, err := omnichat.New(omnichat.Config{BaseURL: srv.URL, Token: omnichattest.DefaultToken, Log: log})
	require.NoError(t, err)

	got, err := c.Channels.List(t.Context())

	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "1", got[0].ChannelID)
	var reasons []string
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			reasons = append(reasons, e.Data["reason"].(string))
		}
	}
	require.Equal(t, []string{"channelId: missing (absent)", `row: want a JSON object, got a string "junk"`}, reasons)
}
