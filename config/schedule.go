package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts standard 5-field expressions and descriptors;
// ParseSchedule adds the zone prefix and @every handling.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// maxLookBack bounds Prev's search for an earlier tick.
const maxLookBack = 5 * 366 * 24 * time.Hour

// Spec is a parsed job schedule. It implements cron.Schedule.
type Spec struct {
	expr  string
	loc   *time.Location
	every time.Duration // > 0 for @every
	cron  cron.Schedule // nil for @every
}

// ParseSchedule parses a job schedule. It is the one parser of schedules:
// Load validates jobs[].schedule with it and the scheduler runs on it.
//
// A schedule is:
//
//   - a standard 5-field cron expression ("*/15 * * * *", "5,35 8-20 * * 1-5");
//   - a descriptor: @hourly, @daily (@midnight), @weekly, @monthly, @yearly
//     (@annually), or @every <duration> (@every 15m, @every 1h30m);
//   - either one prefixed by CRON_TZ=<IANA zone> (or TZ=<zone>), which
//     overrides loc for this schedule.
//
// loc is the zone of schedules without a prefix (config timezone).
//
// @every D ticks at the multiples of D counted from 1970-01-01 00:00 in the
// schedule's zone (at that moment's UTC offset), not D after the process
// started: @every 15m fires at :00, :15, :30 and :45, a restart does not
// shift the ticks, and replicas tick at the same instants, so a tick is one
// identifiable unit of work (see Runner and sync_runs.scheduled_for). D must
// be a whole number of seconds, at least 1s.
func ParseSchedule(expr string, loc *time.Location) (*Spec, error) {
	if loc == nil {
		loc = time.UTC
	}
	s := &Spec{expr: expr, loc: loc}
	rest := strings.TrimSpace(expr)
	if rest == "" {
		return nil, errors.New(`empty schedule (a cron expression such as "*/15 * * * *" or "@every 15m")`)
	}
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if !strings.HasPrefix(rest, prefix) {
			continue
		}
		zone, after, _ := strings.Cut(rest[len(prefix):], " ")
		z, err := time.LoadLocation(zone)
		if err != nil || zone == "" {
			return nil, fmt.Errorf("unknown time zone %q in %s (use an IANA name such as Asia/Bangkok)", zone, prefix)
		}
		s.loc = z
		rest = strings.TrimSpace(after)
		if rest == "" {
			return nil, fmt.Errorf("nothing after %s%s: write the schedule after the zone, e.g. %s%s 0 9 * * *", prefix, zone, prefix, zone)
		}
		break
	}
	if d, ok := strings.CutPrefix(rest, "@every"); ok {
		d = strings.TrimSpace(d)
		every, err := time.ParseDuration(d)
		if err != nil {
			return nil, fmt.Errorf("@every %s: %q is not a duration such as 15m or 1h30m", d, d)
		}
		if every < time.Second || every%time.Second != 0 {
			return nil, fmt.Errorf("@every %s: the interval must be a whole number of seconds, at least 1s", d)
		}
		s.every = every
		return s, nil
	}
	sched, err := parser.Parse(rest)
	if err != nil {
		if strings.HasPrefix(rest, "@") {
			return nil, fmt.Errorf("unknown descriptor %q (use @hourly, @daily, @weekly, @monthly, @yearly or @every <duration>)", rest)
		}
		return nil, fmt.Errorf("%q: %v", rest, err)
	}
	if ss, ok := sched.(*cron.SpecSchedule); ok {
		ss.Location = s.loc
	}
	s.cron = sched
	return s, nil
}

// String returns the expression as written.
func (s *Spec) String() string { return s.expr }

// Location returns the zone the schedule is evaluated in.
func (s *Spec) Location() *time.Location { return s.loc }

// Next returns the first tick strictly after t, in the schedule's zone. It
// returns the zero time when there is none within five years.
func (s *Spec) Next(t time.Time) time.Time {
	if s.every > 0 {
		step := int64(s.every / time.Second)
		local, off := localSeconds(t, s.loc)
		n := floorDiv(local, step)*step + step
		return time.Unix(n-off, 0).In(s.loc)
	}
	return s.cron.Next(t.In(s.loc))
}

// Prev returns the last tick at or before t, or the zero time when there is
// none within five years.
func (s *Spec) Prev(t time.Time) time.Time {
	if s.every > 0 {
		step := int64(s.every / time.Second)
		local, off := localSeconds(t, s.loc)
		return time.Unix(floorDiv(local, step)*step-off, 0).In(s.loc)
	}
	// Look back in doubling steps until a tick falls in (t-d, t], then walk
	// forward to the last one: at most a few Next calls per step.
	for d := time.Minute; d <= maxLookBack; d *= 2 {
		n := s.cron.Next(t.Add(-d).In(s.loc))
		if n.IsZero() {
			return time.Time{}
		}
		if n.After(t) {
			continue
		}
		for {
			m := s.cron.Next(n)
			if m.IsZero() || m.After(t) {
				return n
			}
			n = m
		}
	}
	return time.Time{}
}

// Due reports whether a tick fell after lastOK and at or before now: the
// job missed at least one period since it last succeeded. A job that never
// succeeded (lastOK zero) is due.
func (s *Spec) Due(lastOK, now time.Time) bool {
	if lastOK.IsZero() {
		return true
	}
	n := s.Next(lastOK)
	return !n.IsZero() && !n.After(now)
}

// localSeconds returns t's Unix seconds shifted by loc's UTC offset at t,
// and that offset.
func localSeconds(t time.Time, loc *time.Location) (local, offset int64) {
	_, off := t.In(loc).Zone()
	return t.Unix() + int64(off), int64(off)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
