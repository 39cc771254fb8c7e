package omnichat_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/clients/omnichat"
)

func TestPageCursor_Advance(t *testing.T) {
	t.Parallel()
	type page struct {
		received, total int
		hasTotal        bool
	}
	type step struct {
		wantMore, wantRestarted bool
		wantPage, wantSize      int // the cursor after the page
	}
	tests := []struct {
		name        string
		first, size int
		pages       []page
		want        []step
	}{
		{
			name: "FullPagesUpToTotal", first: 1, size: 100,
			pages: []page{{100, 250, true}, {100, 250, true}, {50, 250, true}},
			want:  []step{{true, false, 2, 100}, {true, false, 3, 100}, {false, false, 3, 100}},
		},
		{
			name: "ServerServesTwentyOfAHundred", first: 1, size: 100,
			pages: []page{{20, 45, true}, {20, 45, true}, {5, 45, true}},
			want:  []step{{true, false, 2, 20}, {true, false, 3, 20}, {false, false, 3, 20}},
		},
		{
			name: "ShortPageWithoutTotalIsTheLast", first: 1, size: 100,
			pages: []page{{100, 0, false}, {20, 0, false}},
			want:  []step{{true, false, 2, 100}, {false, false, 2, 100}},
		},
		{
			name: "TotalOfZeroWithRowsIsNoTotal", first: 1, size: 100,
			pages: []page{{100, 0, true}, {3, 0, true}},
			want:  []step{{true, false, 2, 100}, {false, false, 2, 100}},
		},
		{
			name: "ShortAfterFullIsTheEndEvenWithRowsMissing", first: 1, size: 100,
			pages: []page{{100, 300, true}, {80, 300, true}},
			want:  []step{{true, false, 2, 100}, {false, false, 2, 100}},
		},
		{
			name: "EmptyPage", first: 1, size: 100,
			pages: []page{{0, 100, true}},
			want:  []step{{false, false, 1, 100}},
		},
		{
			name: "ResumedCursorTrustsItsSize", first: 4, size: 20,
			pages: []page{{7, 100, true}},
			want:  []step{{false, false, 4, 20}},
		},
		{
			name: "SmallerCapOffTheBoundaryRestarts", first: 1, size: 100,
			pages: []page{{30, 100, true}, {20, 100, true}, {20, 100, true}},
			want:  []step{{true, false, 2, 30}, {true, true, 1, 20}, {true, false, 2, 20}},
		},
		{
			name: "PageReachingTotalEndsEvenWhenFull", first: 1, size: 50,
			pages: []page{{50, 50, true}},
			want:  []step{{false, false, 1, 50}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := omnichat.NewPageCursor(tt.first, tt.size)
			for i, p := range tt.pages {
				more, restarted := c.Advance(p.received, p.total, p.hasTotal)
				w := tt.want[i]
				require.Equal(t, w.wantMore, more, "page %d: more", i+1)
				require.Equal(t, w.wantRestarted, restarted, "page %d: restarted", i+1)
				require.Equal(t, w.wantPage, c.Page, "page %d: next page", i+1)
				require.Equal(t, w.wantSize, c.Size, "page %d: next size", i+1)
			}
		})
	}

	c := omnichat.NewPageCursor(0, 0)
	require.Equal(t, 1, c.Page)
	require.Equal(t, omnichat.DefaultPageSize, c.Size)
	require.Zero(t, c.Offset())
}
