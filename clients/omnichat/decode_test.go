package omnichat_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
	"crmsync/contact"
)

func TestDecodeContact(t *testing.T) {
	t.Parallel()
	const base = `"channel":{"platform":"line","channelId":"165"},"id":"U1"`

	tests := []struct {
		name      string
		give      string
		want      func(c omnichat.Contact) // checks on a good row
		wantError string
	}{
		{
			name: "AttributeValuesOfAnyType",
			give: `{` + base + `,"customAttributes":[
				{"key":"AGE","value":42,"type":"number","displayName":"Age"},
				{"key":"RATIO","value":0.5,"type":"NUMBER"},
				{"key":"OPT_IN","value":false,"type":"boolean"},
				{"key":"EMPTY","value":null,"type":"text"},
				{"key":"","value":"dropped"},
				{"key":"OBJ","value":{"a": 1}}]}`,
			want: func(c omnichat.Contact) {
				require.Equal(t, []omnichat.CustomAttribute{
					{Key: "AGE", Value: "42", Type: contact.AttrNumber, DisplayName: "Age"},
					{Key: "RATIO", Value: "0.5", Type: contact.AttrNumber},
					{Key: "OPT_IN", Value: "false", Type: contact.AttrBoolean},
					{Key: "EMPTY", Value: "", Type: contact.AttrText},
					{Key: "OBJ", Value: `{"a":1}`},
				}, c.CustomAttributes)
			},
		},
		{
			name: "WebsiteIsWebchat",
			give: `{"channel":{"platform":"Website","channelId":"webchat"},"id":"w1"}`,
			want: func(c omnichat.Contact) { require.Equal(t, contact.Webchat, c.Platform) },
		},
		{
			name: "NumbersWhereStringsExpected",
			give: `{"channel":{"platform":"whatsapp","channelId":85290000001},"id":88690000000,"phone":88690000000,"memberId":9431}`,
			want: func(c omnichat.Contact) {
				require.Equal(t, "85290000001", c.ChannelID)
				require.Equal(t, "88690000000", c.ID)
				require.Equal(t, "9431", c.MemberID)
			},
		},
		{
			name: "TimestampAsStringAndNulls",
			give: `{` + base + `,"updatedAt":"1604650656053","lastMessageTime":null,"agentBindTime":null,"status":"true","tags":["VIP",null,""]}`,
			want: func(c omnichat.Contact) {
				require.Equal(t, time.UnixMilli(1604650656053).UTC(), c.UpdatedAt)
				require.True(t, c.LastMessageTime.IsZero())
				require.True(t, c.Status)
				require.Equal(t, []string{"VIP"}, c.Tags)
			},
		},
		{
			name: "UnknownPlatformKept",
			give: `{"channel":{"platform":"Telegram","channelId":"t"},"id":"1"}`,
			want: func(c omnichat.Contact) { require.Equal(t, contact.Platform("telegram"), c.Platform) },
		},
		{name: "LastMillisecondOf9999", give: `{` + base + `,"updatedAt":253402300799999}`, want: func(c omnichat.Contact) { require.Equal(t, 9999, c.UpdatedAt.Year()) }},
		{name: "AfterYear9999", give: `{` + base + `,"updatedAt":253402300800000}`, wantError: "updatedAt: out of range (epoch milliseconds from 1970 to 9999), got a number 253402300800000"},
		{name: "FractionalMillis", give: `{` + base + `,"updatedAt":1.5}`, wantError: "updatedAt: want epoch milliseconds (a whole number), got a number 1.5"},
		{name: "MissingChannelID", give: `{"channel":{"platform":"line"},"id":"U1"}`, wantError: "channel.channelId: missing (absent)"},
		{name: "StatusNotBoolean", give: `{` + base + `,"status":"maybe"}`, wantError: `status: want a boolean, got a string "maybe"`},
		{name: "IDIsObject", give: `{"channel":{"platform":"line","channelId":"1"},"id":{}}`, wantError: "id: want a string, number or boolean, got an object {}"},
		{name: "Null", give: `null`, wantError: "row: want a JSON object, got null"},
		{name: "Truncated", give: `{"id":"U1"`, wantError: "row: invalid JSON (unexpected end of JSON input)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := omnichat.DecodeContact(json.RawMessage(tt.give))
			if tt.wantError != "" {
				require.ErrorContains(t, err, tt.wantError)
				return
			}
			require.NoError(t, err)
			require.Equal(t, json.RawMessage(tt.give), got.Raw)
			tt.want(got)
		})
	}
}

func TestDecodeMessage(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		give      string
		wantText  *string
		wantError string
	}{
		{name: "NullMessage", give: `{"id":"m1","time":1604647464032,"message":null,"senderType":"AI-Chat"}`},
		{name: "AbsentMessage", give: `{"id":"m1","time":1604647464032}`},
		{name: "EmptyMessage", give: `{"id":"m1","time":1604647464032,"message":""}`, wantText: new("")},
		{name: "MissingTime", give: `{"id":"m1"}`, wantError: "time: missing (absent)"},
		{name: "ZeroTime", give: `{"id":"m1","time":0}`, wantError: "time: out of range (epoch milliseconds from 1970 to 9999), got a number 0"},
		{name: "MissingID", give: `{"time":1604647464032}`, wantError: "id: missing (absent)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := omnichat.DecodeMessage(json.RawMessage(tt.give))
			if tt.wantError != "" {
				require.ErrorContains(t, err, tt.wantError)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantText, got.Message)
			require.Equal(t, time.UnixMilli(1604647464032).UTC(), got.Time)
		})
	}
}

func TestParseTaggingTime(t *testing.T) {
	t.Parallel()
	bangkok, err := time.LoadLocation("Asia/Bangkok")
	require.NoError(t, err)

	tests := []struct {
		name      string
		give      string
		want      time.Time
		wantError string
	}{
		{name: "ZoneLessInLocation", give: "2023-01-03T12:32:12", want: time.Date(2023, 1, 3, 5, 32, 12, 0, time.UTC)},
		{name: "Fraction", give: "2023-01-03T12:32:12.250", want: time.Date(2023, 1, 3, 5, 32, 12, 250e6, time.UTC)},
		{name: "SpaceSeparated", give: "2023-01-03 12:32:12", want: time.Date(2023, 1, 3, 5, 32, 12, 0, time.UTC)},
		{name: "ExplicitZoneWins", give: "2023-01-03T12:32:12Z", want: time.Date(2023, 1, 3, 12, 32, 12, 0, time.UTC)},
		{name: "DateOnly", give: "2023-01-03", wantError: `want YYYY-MM-DDThh:mm:ss, got "2023-01-03"`},
		{name: "Empty", give: "", wantError: "missing time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := omnichat.ParseTaggingTime(tt.give, bangkok)
			if tt.wantError != "" {
				require.ErrorContains(t, err, tt.wantError)
				return
			}
			require.NoError(t, err)
			require.True(t, tt.want.Equal(got), "want %v, got %v", tt.want, got)
		})
	}
}

// Every reason a malformed contact is refused with names the field and the
// value (issue 12: 7 of 16 said only "want a boolean, got a string").
func TestDecodeContact_reasonNamesTheFieldAndTheValue(t *testing.T) {
	t.Parallel()
	const base = `"channel":{"platform":"line","channelId":"165"},"id":"U1"`
	tests := []struct {
		give string
		want string
	}{
		{`{` + base + `,"status":"maybe"}`, `status: want a boolean, got a string "maybe"`},
		{`{` + base + `,"status":{"a":1}}`, `status: want a boolean, got an object {"a":1}`},
		{`{` + base + `,"updatedAt":"yesterday"}`, `updatedAt: want epoch milliseconds (a whole number), got a string "yesterday"`},
		{`{` + base + `,"updatedAt":1.5}`, `updatedAt: want epoch milliseconds (a whole number), got a number 1.5`},
		{`{` + base + `,"updatedAt":0}`, `updatedAt: out of range (epoch milliseconds from 1970 to 9999), got a number 0`},
		{`{` + base + `,"lastMessageTime":-7}`, `lastMessageTime: out of range (epoch milliseconds from 1970 to 9999), got a number -7`},
		{`{` + base + `,"tags":"VIP"}`, `tags: want an array, got a string "VIP"`},
		{`{` + base + `,"tags":[{"name":"VIP"}]}`, `tags: want a string, number or boolean, got an object {"name":"VIP"}`},
		{`{` + base + `,"customAttributes":{"key":"a"}}`, `customAttributes: want an array, got an object {"key":"a"}`},
		{`{` + base + `,"customAttributes":["GOLD"]}`, `customAttributes: want an object, got a string "GOLD"`},
		{`{` + base + `,"customAttributes":[{"key":{"k":1},"value":"x"}]}`, `customAttributes.key: want a string, number or boolean, got an object {"k":1}`},
		{`{` + base + `,"name":["Somchai"]}`, `name: want a string, number or boolean, got an array ["Somchai"]`},
		{`{"channel":"line","id":"U1"}`, `channel: want an object, got a string "line"`},
		{`{"channel":{"platform":"line","channelId":"  "},"id":"U1"}`, `channel.channelId: missing, got a string "  "`},
		{`{"channel":{"platform":"line","channelId":"165"},"id":null}`, `id: missing, got null`},
		{`"just text"`, `row: want a JSON object, got a string "just text"`},
	}
	require.Len(t, tests, 16)
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			_, err := omnichat.DecodeContact(json.RawMessage(tt.give))
			require.EqualError(t, err, tt.want)
		})
	}

	long := `{` + base + `,"status":"` + strings.Repeat("ก", 100) + `"}`
	_, err := omnichat.DecodeContact(json.RawMessage(long))
	require.EqualError(t, err, `status: want a boolean, got a string "`+strings.Repeat("ก", 59)+`…`, "a long value is cut")
}
