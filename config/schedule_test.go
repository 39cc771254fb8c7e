package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/config"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func TestParseSchedule_next(t *testing.T) {
	t.Parallel()
	bkk := mustLoc(t, "Asia/Bangkok")
	// 2026-03-02 10:07:30 UTC = 17:07:30 in Bangkok (a Monday).
	now := time.Date(2026, 3, 2, 10, 7, 30, 0, time.UTC)
	tests := []struct {
		name     string
		give     string
		loc      *time.Location
		wantNext string // RFC 3339 in the schedule's zone
		wantPrev string
	}{
		{"EveryQuarterHour", "*/15 * * * *", time.UTC, "2026-03-02T10:15:00Z", "2026-03-02T10:00:00Z"},
		{"ListOfMinutes", "5,35 * * * *", time.UTC, "2026-03-02T10:35:00Z", "2026-03-02T10:05:00Z"},
		{"ConfiguredZone", "0 9 * * *", bkk, "2026-03-03T09:00:00+07:00", "2026-03-02T09:00:00+07:00"},
		{"CronTZOverridesZone", "CRON_TZ=Asia/Bangkok 0 18 * * *", time.UTC, "2026-03-02T18:00:00+07:00", "2026-03-01T18:00:00+07:00"},
		{"TZPrefix", "TZ=UTC 0 18 * * *", bkk, "2026-03-02T18:00:00Z", "2026-03-01T18:00:00Z"},
		{"Weekdays", "30 8 * * 1-5", time.UTC, "2026-03-03T08:30:00Z", "2026-03-02T08:30:00Z"},
		{"Hourly", "@hourly", time.UTC, "2026-03-02T11:00:00Z", "2026-03-02T10:00:00Z"},
		{"Daily", "@daily", bkk, "2026-03-03T00:00:00+07:00", "2026-03-02T00:00:00+07:00"},
		{"Weekly", "@weekly", time.UTC, "2026-03-08T00:00:00Z", "2026-03-01T00:00:00Z"},
		{"Monthly", "@monthly", time.UTC, "2026-04-01T00:00:00Z", "2026-03-01T00:00:00Z"},
		{"Yearly", "@yearly", time.UTC, "2027-01-01T00:00:00Z", "2026-01-01T00:00:00Z"},
		{"EveryIsAligned", "@every 15m", time.UTC, "2026-03-02T10:15:00Z", "2026-03-02T10:00:00Z"},
		{"EveryOddIntervalCountsFromEpoch", "@every 7m", time.UTC, "2026-03-02T10:10:00Z", "2026-03-02T10:03:00Z"},
		{"EveryDayInZone", "@every 24h", bkk, "2026-03-03T00:00:00+07:00", "2026-03-02T00:00:00+07:00"},
		{"EveryDayCronTZ", "CRON_TZ=Asia/Bangkok @every 24h", time.UTC, "2026-03-03T00:00:00+07:00", "2026-03-02T00:00:00+07:00"},
		{"EverySecond", "@every 1s", time.UTC, "2026-03-02T10:07:31Z", "2026-03-02T10:07:30Z"},
		{"SpacesAround", "  @every 1h  ", time.UTC, "2026-03-02T11:00:00Z", "2026-03-02T10:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec, err := config.ParseSchedule(tt.give, tt.loc)
			require.NoError(t, err)
			require.Equal(t, tt.give, spec.String())
			require.Equal(t, tt.wantNext, spec.Next(now).Format(time.RFC3339))
			require.Equal(t, tt.wantPrev, spec.Prev(now).Format(time.RFC3339))
			// Next is strictly after, Prev at or before: from a tick itself.
			tick := spec.Prev(now)
			require.True(t, spec.Prev(tick).Equal(tick), "Prev of a tick is the tick")
			require.True(t, spec.Next(tick).After(tick))
		})
	}
}

func TestParseSchedule_errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, give, wantErr string
	}{
		{"Empty", "", "empty schedule"},
		{"Blank", "   ", "empty schedule"},
		{"SixFields", "0 */5 * * * *", "expected exactly 5 fields, found 6"},
		{"FourFields", "* * * *", "expected exactly 5 fields, found 4"},
		{"MinuteOutOfRange", "61 * * * *", "above maximum (59)"},
		{"BadMonth", "0 0 1 13 *", "above maximum (12)"},
		{"Words", "every day", "expected exactly 5 fields"},
		{"UnknownDescriptor", "@fortnightly", `unknown descriptor "@fortnightly" (use @hourly, @daily, @weekly, @monthly, @yearly or @every <duration>)`},
		{"EveryWithoutDuration", "@every", `@every : "" is not a duration`},
		{"EveryBadDuration", "@every soon", `@every soon: "soon" is not a duration such as 15m or 1h30m`},
		{"EverySubSecond", "@every 500ms", "@every 500ms: the interval must be a whole number of seconds, at least 1s"},
		{"EveryFraction", "@every 1500ms", "the interval must be a whole number of seconds"},
		{"EveryNegative", "@every -5m", "at least 1s"},
		{"UnknownZone", "CRON_TZ=Mars/Olympus 0 9 * * *", `unknown time zone "Mars/Olympus" in CRON_TZ=`},
		{"ZoneOnly", "CRON_TZ=Asia/Bangkok", "nothing after CRON_TZ=Asia/Bangkok"},
		{"EmptyZone", "CRON_TZ= 0 9 * * *", `unknown time zone "" in CRON_TZ=`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec, err := config.ParseSchedule(tt.give, time.UTC)
			require.ErrorContains(t, err, tt.wantErr)
			require.Nil(t, spec)
		})
	}
}

func TestSpec_Due(t *testing.T) {
	t.Parallel()
	spec, err := config.ParseSchedule("*/15 * * * *", time.UTC)
	require.NoError(t, err)
	at := func(h, m, s int) time.Time { return time.Date(2026, 3, 2, h, m, s, 0, time.UTC) }
	tests := []struct {
		name        string
		lastOK, now time.Time
		want        bool
	}{
		{"NeverSucceeded", time.Time{}, at(10, 7, 0), true},
		{"WithinPeriod", at(10, 0, 1), at(10, 14, 59), false},
		{"TickMissed", at(10, 0, 1), at(10, 15, 0), true},
		{"ManyTicksMissed", at(4, 0, 1), at(10, 7, 0), true},
		{"ManualRunBetweenTicks", at(10, 9, 0), at(10, 14, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, spec.Due(tt.lastOK, tt.now))
		})
	}
}

func TestSpec_Prev_sparseSchedule(t *testing.T) {
	t.Parallel()
	// 29 February only: the previous tick is years back.
	spec, err := config.ParseSchedule("0 12 29 2 *", time.UTC)
	require.NoError(t, err)
	now := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	require.Equal(t, "2024-02-29T12:00:00Z", spec.Prev(now).Format(time.RFC3339))
	require.Equal(t, "2028-02-29T12:00:00Z", spec.Next(now).Format(time.RFC3339))
}
