package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"crmsync/clients/omnichat"
	"crmsync/config"
	"crmsync/store"
	"crmsync/sync/schedule"
)

// statusFlags are the flags of crmsync status.
type statusFlags struct {
	json bool
}

func statusCommand() *command {
	return &command{
		name: "status", summary: "Show each job's last run and next tick, pull windows pending or failed, and push rejections of the last 24h (exit 1 when a job's last run failed)",
		setFlags: func(fs *flag.FlagSet) any {
			f := &statusFlags{}
			fs.BoolVar(&f.json, "json", false, "print JSON for scripts instead of tables")
			return f
		},
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, opts any) error {
			f := opts.(*statusFlags)
			if fs.NArg() > 0 {
				return usagef("unexpected argument %q", fs.Arg(0))
			}
			cfg, err := e.config(config.WithoutSecrets()) // status calls no API
			if err != nil {
				return err
			}
			st, err := e.openMigratedStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := schedule.BuildStatus(ctx, st, cfg, time.Now())
			if err != nil {
				return err
			}
			ps, err := buildPullStatus(ctx, st, cfg)
			if err != nil {
				return err
			}
			prog, err := st.RunningProgress(ctx)
			if err != nil {
				return err
			}
			running := buildRunningProgress(prog)
			if f.json {
				err = writeStatusJSON(e.stdout, statusWithPull{Status: s, Pull: ps, Running: running})
			} else if err = writeStatusTable(e.stdout, s); err == nil {
				if err = writeRunningProgress(e.stdout, running, cfg.Location()); err == nil {
					err = writePullStatus(e.stdout, ps, cfg.Location())
				}
			}
			if err != nil {
				return err
			}
			return statusExit(s)
		},
	}
}

// statusExit is a failedRunError naming the jobs whose last run failed.
func statusExit(s schedule.Status) error {
	var failed []string
	for _, j := range s.Jobs {
		if j.Failed {
			failed = append(failed, j.Job)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return failedRunError{fmt.Sprintf("last run failed: %s", strings.Join(failed, ", "))}
}

// writeStatusJSON writes s (a schedule.Status, or one with the pull's part)
// as indented JSON.
func writeStatusJSON(w io.Writer, s any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

const statusTime = "2006-01-02 15:04:05"

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(statusTime)
}

func fmtSeconds(s *float64) string {
	if s == nil {
		return "-"
	}
	return (time.Duration(*s * float64(time.Second))).Round(time.Second).String()
}

// shorten puts text on one line and cuts it to max characters.
func shorten(text string, max int) string {
	text = strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	r := []rune(text)
	return string(r[:max-1]) + "…"
}

// writeStatusTable prints the status as tables, for people.
func writeStatusTable(w io.Writer, s schedule.Status) error {
	var b strings.Builder
	fmt.Fprintf(&b, "crmsync status at %s (%s)\n\n", s.GeneratedAt.Format(statusTime), s.TimeZone)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tLAST RUN\tTRIGGER\tRESULT\tDURATION\tLAST OK\tNEXT RUN")
	var errs []string
	for _, j := range s.Jobs {
		last, trigger, result, dur := "never", "-", "-", "-"
		if r := j.LastRun; r != nil {
			last, trigger, result, dur = r.StartedAt.Format(statusTime), r.Trigger, r.Status, fmtSeconds(r.DurationSeconds)
			if r.Status == schedule.StatusFailed && r.FinishedAt == nil {
				result = "failed (died)"
			}
			if r.Status == "running" && j.LastResult != "" {
				result = "running (last " + j.LastResult + ")"
			}
		}
		next := fmtTime(j.NextRunAt)
		if !j.InConfig {
			next = "not in config"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Job, last, trigger, result, dur, fmtTime(j.LastOKAt), next)
		if j.LastError != "" {
			errs = append(errs, fmt.Sprintf("  %s (%s): %s", j.Job, j.LastResult, shorten(j.LastError, 160)))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if len(errs) > 0 {
		b.WriteString("\nLast errors:\n")
		b.WriteString(strings.Join(errs, "\n"))
		b.WriteString("\n")
	}

	b.WriteString("\n")
	if len(s.Windows) == 0 {
		b.WriteString("Pull windows: none yet\n")
	} else {
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "STREAM\tPENDING\tRUNNING\tFAILED\tCOMPLETE UNTIL\tLAG\tOLDEST GAP")
		var werrs []string
		for _, ws := range s.Windows {
			gap := "-"
			if g := ws.OldestGap; g != nil {
				scope := g.Scope
				if scope == "" {
					scope = "all"
				}
				gap = fmt.Sprintf("%s %s → %s (%s)", scope, g.Start.Format(statusTime), g.End.Format(statusTime), g.Status)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", ws.Stream, ws.Pending, ws.Running, ws.Failed,
				fmtTime(ws.CompleteUntil), fmtSeconds(ws.LagSeconds), gap)
			if ws.LastError != "" {
				werrs = append(werrs, fmt.Sprintf("  %s: %s", ws.Stream, shorten(ws.LastError, 160)))
			}
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
		if len(werrs) > 0 {
			b.WriteString("\nLast window errors:\n")
			b.WriteString(strings.Join(werrs, "\n"))
			b.WriteString("\n")
		}
	}

	b.WriteString("\n")
	r := s.Rejections
	if r.Total == 0 {
		fmt.Fprintf(&b, "Push rejections since %s: none\n", r.Since.Format(statusTime))
	} else {
		fmt.Fprintf(&b, "Push rejections since %s: %d\n", r.Since.Format(statusTime), r.Total)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DESTINATION\tRECORDS\tNEW\tTOP REASONS")
		for _, d := range r.ByDestination {
			reasons := make([]string, 0, len(d.TopReasons))
			for _, rc := range d.TopReasons {
				reasons = append(reasons, fmt.Sprintf("%s (%d)", shorten(rc.Reason, 60), rc.Count))
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", d.Destination, d.Records, d.New, strings.Join(reasons, "; "))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

// statusWithPull is status --json: the schedule's status and, under "pull",
// what needs an operator's eye in the pull.
type statusWithPull struct {
	schedule.Status
	Pull pullStatus `json:"pull"`
	// Running is the progress of the push steps and backfill streams
	// running now, per credential (run_progress); empty when none runs.
	Running []runningProgress `json:"running"`
}

// pullStatus is the pull's part of crmsync status: per stream the windows
// given up and the data gaps, which windows they are, and how each platform
// is covered. Its JSON form is part of status --json.
type pullStatus struct {
	Streams   []pullStreamStatus `json:"streams"`
	GaveUp    []windowNote       `json:"windows_gave_up"`
	DataGaps  []windowNote       `json:"data_gaps"`
	Platforms []platformCoverage `json:"platforms"`
}

// pullStreamStatus counts what needs an eye in one stream.
type pullStreamStatus struct {
	Stream      string `json:"stream"`
	GaveUp      int64  `json:"windows_gave_up"`
	DataGaps    int64  `json:"data_gaps"`
	MissingRows int64  `json:"missing_rows"`
}

// windowNote is one window given up or done with a data gap.
type windowNote struct {
	Stream        string    `json:"stream"`
	Scope         string    `json:"scope"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Attempts      int       `json:"attempts"`
	TotalElements int64     `json:"total_elements"` // -1 when unknown
	MissingRows   int64     `json:"missing_rows"`
	Reason        string    `json:"reason"`
}

// platformCoverage says how one platform's contacts and messages are
// pulled: "channels" (per channel GET /v1/channels lists), "platform" (the
// whole platform without channelId: the list names none of its channels),
// or "" (not pulled yet).
type platformCoverage struct {
	Platform         string `json:"platform"`
	Configured       bool   `json:"configured"` // in omnichat.platforms
	Contacts         string `json:"contacts"`
	Messages         string `json:"messages"`
	ListedChannels   int64  `json:"listed_channels"`
	UnlistedChannels int64  `json:"channels_seen_only_in_rows"`
}

// pullStatusLimit is how many windows given up and data gaps status lists.
const pullStatusLimit = 20

// buildPullStatus reads the pull's part of the status.
func buildPullStatus(ctx context.Context, st *store.Store, cfg *config.Config) (pullStatus, error) {
	ps := pullStatus{Streams: []pullStreamStatus{}, GaveUp: []windowNote{}, DataGaps: []windowNote{}, Platforms: []platformCoverage{}}
	sums, err := st.WindowSummaries(ctx)
	if err != nil {
		return ps, err
	}
	for _, w := range sums {
		ps.Streams = append(ps.Streams, pullStreamStatus{Stream: w.Stream, GaveUp: w.GaveUp, DataGaps: w.DataGaps, MissingRows: w.MissingRows})
	}
	h, err := st.PullHealth(ctx, pullStatusLimit)
	if err != nil {
		return ps, err
	}
	loc := cfg.Location()
	note := func(n store.WindowNote) windowNote {
		return windowNote{Stream: n.Stream, Scope: n.Scope, Start: n.Start.In(loc), End: n.End.In(loc), Attempts: n.Attempts,
			TotalElements: n.TotalElements, MissingRows: n.MissingRows, Reason: n.Reason}
	}
	for _, n := range h.GaveUp {
		ps.GaveUp = append(ps.GaveUp, note(n))
	}
	for _, n := range h.DataGaps {
		ps.DataGaps = append(ps.DataGaps, note(n))
	}
	seen := map[string]bool{}
	for _, p := range cfg.Omnichat.Platforms {
		name := string(omnichat.ParsePlatform(p))
		pc := platformCoverage{Platform: name, Configured: true}
		for _, c := range h.Coverage {
			if c.Platform == name {
				pc.Contacts, pc.Messages, pc.ListedChannels, pc.UnlistedChannels = c.Contacts, c.Messages, c.Listed, c.Unlisted
			}
		}
		ps.Platforms = append(ps.Platforms, pc)
		seen[name] = true
	}
	for _, c := range h.Coverage {
		if !seen[c.Platform] {
			ps.Platforms = append(ps.Platforms, platformCoverage{Platform: c.Platform, Contacts: c.Contacts, Messages: c.Messages,
				ListedChannels: c.Listed, UnlistedChannels: c.Unlisted})
		}
	}
	return ps, nil
}

// coverageText says in words how a stream covers a platform.
func coverageText(how string) string {
	switch how {
	case store.CoveredPerChannel:
		return "per channel"
	case store.CoveredPerPlatform:
		return "whole platform"
	}
	return "not pulled yet"
}

// writePlatformCoverage prints one line per platform: how its contacts and
// messages are pulled and what the channel list says of it.
func writePlatformCoverage(w io.Writer, platforms []platformCoverage, indent string) {
	if len(platforms) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%sPlatforms (GET /v1/channels documents only LINE and webchat channels; a platform it lists none of is pulled whole, without channelId):\n", indent)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%sPLATFORM\tCONTACTS\tMESSAGES\tCHANNELS LISTED\tCHANNELS SEEN ONLY IN ROWS\n", indent)
	for _, p := range platforms {
		name := p.Platform
		if !p.Configured {
			name += " (not in omnichat.platforms)"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%d\t%d\n", indent, name, coverageText(p.Contacts), coverageText(p.Messages), p.ListedChannels, p.UnlistedChannels)
	}
	_ = tw.Flush() // a strings.Builder does not fail
	_, _ = io.WriteString(w, b.String())
}

// writePullStatus prints the pull's part of the status: the platforms'
// coverage, the windows given up and the data gaps.
func writePullStatus(w io.Writer, ps pullStatus, loc *time.Location) error {
	var b strings.Builder
	b.WriteString("\n")
	writePlatformCoverage(&b, ps.Platforms, "")
	scope := func(s string) string {
		if s == "" {
			return "all"
		}
		return s
	}
	var gaveUp, gaps, missing int64
	for _, s := range ps.Streams {
		gaveUp, gaps, missing = gaveUp+s.GaveUp, gaps+s.DataGaps, missing+s.MissingRows
	}
	if gaveUp == 0 {
		b.WriteString("\nPull windows given up: none\n")
	} else {
		fmt.Fprintf(&b, "\nPull windows given up: %d (no run reads them again; crmsync backfill --retry-gave-up tries them)\n", gaveUp)
		for _, n := range ps.GaveUp {
			fmt.Fprintf(&b, "  %s %s %s → %s, %d attempts: %s\n", n.Stream, scope(n.Scope),
				n.Start.In(loc).Format(statusTime), n.End.In(loc).Format(statusTime), n.Attempts, shorten(n.Reason, 160))
		}
	}
	if gaps == 0 {
		b.WriteString("Pull data gaps: none\n")
	} else {
		fmt.Fprintf(&b, "Pull data gaps: %d windows done with %d rows fewer than Omnichat's totalElements (crmsync backfill --reread-gaps reads them again)\n", gaps, missing)
		for _, n := range ps.DataGaps {
			fmt.Fprintf(&b, "  %s %s %s → %s: %d of %d rows missing\n", n.Stream, scope(n.Scope),
				n.Start.In(loc).Format(statusTime), n.End.In(loc).Format(statusTime), n.MissingRows, n.TotalElements)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}
