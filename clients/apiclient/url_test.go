package apiclient_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
)

func TestParseBaseURL(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		give    string
		want    string
		wantErr string
	}{
		{name: "EmptyTakesDefault", give: "", want: "https://api.example.com/v1"},
		{name: "TrailingSlashTrimmed", give: "http://127.0.0.1:1/api/", want: "http://127.0.0.1:1/api"},
		{name: "Relative", give: "api.example.com", wantErr: "want http(s)://host"},
		{name: "OtherScheme", give: "ftp://api.example.com", wantErr: "want http(s)://host"},
		{name: "Query", give: "https://api.example.com?x=1", wantErr: "must not have a query"},
		{name: "Fragment", give: "https://api.example.com#x", wantErr: "must not have a query or fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := apiclient.ParseBaseURL(tt.give, "https://api.example.com/v1/")
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, u.String())
		})
	}
}

func TestJoinSegments(t *testing.T) {
	t.Parallel()

	base, err := apiclient.ParseBaseURL("https://api.example.com/v1", "")
	require.NoError(t, err)

	u := apiclient.JoinSegments(base, "contact", "a/b?c", "..", "ไทย")

	require.Equal(t, "https://api.example.com/v1/contact/a%2Fb%3Fc/../%E0%B9%84%E0%B8%97%E0%B8%A2", u.String())
	require.Equal(t, "/v1/contact/a/b?c/../ไทย", u.Path)
	require.Equal(t, "https://api.example.com/v1", base.String(), "base unchanged")
}
