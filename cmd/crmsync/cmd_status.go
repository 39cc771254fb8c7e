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

	"crmsync/config"
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
			st, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := requireSchema(ctx, st); err != nil {
				return err
			}
			s, err := schedule.BuildStatus(ctx, st, cfg, time.Now())
			if err != nil {
				return err
			}
			if f.json {
				err = writeStatusJSON(e.stdout, s)
			} else {
				err = writeStatusTable(e.stdout, s)
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

func writeStatusJSON(w io.Writer, s schedule.Status) error {
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
