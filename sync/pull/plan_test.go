package pull

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/store"
)

// monday is a grid point of both the 24-hour and the 7-day grid.
var monday = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)

func span(from, to time.Time) store.Span { return store.Span{Start: from, End: to} }

func TestPlan(t *testing.T) {
	t.Parallel()
	const week = 7 * 24 * time.Hour
	d := func(n int) time.Time { return monday.AddDate(0, 0, n) }
	tests := []struct {
		name    string
		from    time.Time
		to      time.Time
		size    time.Duration
		covered []store.Span
		want    []store.Span
	}{
		{"Empty", d(1), d(1), week, nil, nil},
		{"Backwards", d(2), d(1), week, nil, nil},
		{"OneDayWindows", d(0), d(3), 24 * time.Hour, nil, []store.Span{span(d(0), d(1)), span(d(1), d(2)), span(d(2), d(3))}},
		{"AlignedToTheGrid", d(0).Add(17 * time.Hour), d(2).Add(3 * time.Hour), 24 * time.Hour, nil,
			[]store.Span{span(d(0).Add(17*time.Hour), d(1)), span(d(1), d(2)), span(d(2), d(2).Add(3*time.Hour))}},
		{"WeeksRunMondayToMonday", d(-3), d(9), week, nil, []store.Span{span(d(-3), d(0)), span(d(0), d(7)), span(d(7), d(9))}},
		{"SizeCappedAtSevenDays", d(0), d(14), 30 * 24 * time.Hour, nil, []store.Span{span(d(0), d(7)), span(d(7), d(14))}},
		{"CoveredPartsSkipped", d(0), d(4), 24 * time.Hour, []store.Span{span(d(1), d(2)), span(d(0).Add(-time.Hour), d(0).Add(time.Hour))},
			[]store.Span{span(d(0).Add(time.Hour), d(1)), span(d(2), d(3)), span(d(3), d(4))}},
		{"FullyCovered", d(1), d(2), 24 * time.Hour, []store.Span{span(d(0), d(3))}, nil},
		{"OverlappingCovers", d(0), d(3), 24 * time.Hour, []store.Span{span(d(0), d(2)), span(d(1), d(2).Add(time.Hour))},
			[]store.Span{span(d(2).Add(time.Hour), d(3))}},
		{"BeforeTheAnchor", GridAnchor.Add(-36 * time.Hour), GridAnchor, 24 * time.Hour, nil,
			[]store.Span{span(GridAnchor.Add(-36*time.Hour), GridAnchor.Add(-24*time.Hour)), span(GridAnchor.Add(-24*time.Hour), GridAnchor)}},
		{"MillisecondPrecision", d(0).Add(1500 * time.Microsecond), d(0).Add(time.Hour), 24 * time.Hour, nil,
			[]store.Span{span(d(0).Add(time.Millisecond), d(0).Add(time.Hour))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Plan(tt.from, tt.to, tt.size, tt.covered))
		})
	}
}

func TestPlan_sixtyDaysBecomeNineWindows(t *testing.T) {
	t.Parallel()
	from := monday
	to := from.AddDate(0, 0, 60)
	got := Plan(from, to, MaxWindow, nil)
	require.Len(t, got, 9)
	require.Equal(t, from, got[0].Start)
	require.Equal(t, to, got[len(got)-1].End)
	for i, s := range got {
		require.LessOrEqual(t, s.End.Sub(s.Start), MaxWindow, "window %d", i)
		if i > 0 {
			require.Equal(t, got[i-1].End, s.Start, "windows must tile the range")
		}
	}
	require.Equal(t, got, Plan(from, to, MaxWindow, nil), "re-planning gives the same windows")
}

func TestPlan_anyRangeIsTiledByWindowsOfAtMostSize(t *testing.T) {
	t.Parallel()
	sizes := []time.Duration{17 * time.Minute, 90 * time.Minute, 24 * time.Hour, 5 * 24 * time.Hour, MaxWindow}
	for i := range 200 {
		from := monday.Add(time.Duration(i*7919) * time.Minute)
		to := from.Add(time.Duration(i*104729) * time.Second) // up to about 240 days
		size := sizes[i%len(sizes)]
		got := Plan(from, to, size, nil)
		at := from
		for _, s := range got {
			require.Equal(t, at, s.Start)
			require.True(t, s.End.After(s.Start))
			require.LessOrEqual(t, s.End.Sub(s.Start), size)
			at = s.End
		}
		require.Equal(t, to.After(from), len(got) > 0)
		if len(got) > 0 {
			require.Equal(t, to, at)
		}
	}
}

func TestHalves(t *testing.T) {
	t.Parallel()
	h, ok := halves(span(monday, monday.Add(3*time.Hour+1*time.Second)))
	require.True(t, ok)
	require.Equal(t, span(monday, monday.Add(90*time.Minute)), h[0])
	require.Equal(t, span(monday.Add(90*time.Minute), monday.Add(3*time.Hour+time.Second)), h[1])

	_, ok = halves(span(monday, monday.Add(2*MinSplit-time.Second)))
	require.False(t, ok, "a window shorter than 2·MinSplit is not split")
}
