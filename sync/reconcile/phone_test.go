package reconcile_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/sync/reconcile"
)

func TestNormalisePhone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give, region, want string
	}{
		{"0812345678", "TH", "+66812345678"},
		{"66812345678", "TH", "+66812345678"},
		{"+66812345678", "TH", "+66812345678"},
		{" 081-234-5678 ", "TH", "+66812345678"},
		{"(081) 234 5678", "TH", "+66812345678"},
		{"021234567", "TH", "+6621234567"},
		{"886966633355", "TH", "+886966633355"}, // Omnichat's international digits without +
		{"0966633355", "TW", "+886966633355"},
		{"0212", "TH", ""},
		{"12", "TH", ""},
		{"", "TH", ""},
		{"call me", "TH", ""},
		{"081234567x", "TH", ""},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, reconcile.NormalisePhone(tt.give, tt.region))
		})
	}
}
