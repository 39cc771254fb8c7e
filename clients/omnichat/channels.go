package omnichat

import (
	"context"
	"encoding/json"
	"fmt"

	"crmsync/contact"
)

// ChannelsService lists the team's channels.
type ChannelsService service

// Channel is one messaging channel of the team.
type Channel struct {
	Platform    contact.Platform // normalised: "website"/"web" become webchat
	ChannelID   string           // LINE channel ID (digits), page ID, ..., "webchat"
	ChannelName string           // channel name; the team name for webchat
	Raw         json.RawMessage  // the row as the API sent it (nil when built in code)
}

// channelWire is Channel as the API spells it.
type channelWire struct {
	Platform    flexString `json:"platform"`
	ChannelID   flexString `json:"channelId"`
	ChannelName flexString `json:"channelName"`
}

// MarshalJSON encodes c as the API does.
func (c Channel) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Platform    string `json:"platform"`
		ChannelID   string `json:"channelId"`
		ChannelName string `json:"channelName"`
	}{string(c.Platform), c.ChannelID, c.ChannelName})
}

// DecodeChannel decodes and validates one channel row; platform and channelId
// are required.
func DecodeChannel(raw json.RawMessage) (Channel, error) {
	if err := requireObject(raw); err != nil {
		return Channel{}, err
	}
	var w channelWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return Channel{}, decodeReason(raw, err)
	}
	c := Channel{
		Platform:    ParsePlatform(string(w.Platform)),
		ChannelID:   trim(w.ChannelID),
		ChannelName: string(w.ChannelName),
		Raw:         raw,
	}
	switch {
	case c.Platform == "":
		return Channel{}, missing(raw, "platform")
	case c.ChannelID == "":
		return Channel{}, missing(raw, "channelId")
	}
	return c, nil
}

// List returns every channel of the team. The API answers with a plain
// array; a row that cannot be used is left out and logged as a warning
// (channel rows carry no personal data).
//
// Omnichat docs: GET /v1/channels ("Channels | Get Channels").
func (s *ChannelsService) List(ctx context.Context) ([]Channel, error) {
	var rows []json.RawMessage
	if err := s.c.get(ctx, "/v1/channels", nil, &rows); err != nil {
		return nil, fmt.Errorf("list omnichat channels: %w", err)
	}
	good, bad := decodeRows(rows, DecodeChannel)
	for _, b := range bad {
		s.c.log.WithField("reason", b.Reason).WithField("row", string(b.Raw)).Warn("omnichat: skipped unusable channel row")
	}
	return good, nil
}
