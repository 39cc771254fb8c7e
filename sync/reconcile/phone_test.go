package reconcile_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/store"
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

func TestNormalisePhones_inOrderOnEveryWorker(t *testing.T) {
	t.Parallel()
	var raws []string
	for i := range 10_000 {
		switch i % 3 {
		case 0:
			raws = append(raws, fmt.Sprintf("08%08d", 10000000+i))
		case 1:
			raws = append(raws, fmt.Sprintf("668%08d", 10000000+i))
		default:
			raws = append(raws, fmt.Sprintf("x%d", i))
		}
	}
	for _, workers := range []int{0, 1, 3} {
		var got []store.PhoneNumber
		for p := range reconcile.NormalisePhones(raws, "TH", workers) {
			got = append(got, p)
		}
		require.Len(t, got, len(raws))
		for i, p := range got {
			require.Equal(t, store.PhoneNumber{Raw: raws[i], E164: reconcile.NormalisePhone(raws[i], "TH")}, p, "workers %d, phone %d", workers, i)
		}
		// Stopping early ends the workers (the race detector and the leak
		// check of TestMain watch them).
		n := 0
		for range reconcile.NormalisePhones(raws, "TH", workers) {
			if n++; n == 10 {
				break
			}
		}
		require.Equal(t, 10, n)
	}
	require.Empty(t, slices.Collect(reconcile.NormalisePhones(nil, "TH", 2)))
}
