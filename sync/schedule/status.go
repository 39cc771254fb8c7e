package schedule

import (
	"context"
	"time"

	"crmsync/config"
	"crmsync/store"
)

// Status is what `crmsync status` shows: each job's last run and next tick,
// pull windows per stream, and push rejections met recently. Its JSON form
// (--json) is a stable contract for scripts.
type Status struct {
	GeneratedAt time.Time       `json:"generated_at"`
	TimeZone    string          `json:"time_zone"`
	Jobs        []JobStatus     `json:"jobs"`
	Windows     []StreamStatus  `json:"windows"`
	Rejections  RejectionStatus `json:"push_rejections"`
}

// JobStatus is one job's state.
type JobStatus struct {
	Job      string `json:"job"`
	Schedule string `json:"schedule,omitempty"` // "" for a job no longer (or never) in the configuration
	InConfig bool   `json:"in_config"`
	// LastRun is the newest run that was not skipped (possibly still
	// running); null when the job never ran.
	LastRun *RunStatus `json:"last_run"`
	// LastResult is the status of the newest finished run (ok, failed or
	// interrupted); "" when none finished.
	LastResult string `json:"last_result"`
	// LastError is the error of the newest finished run, when it failed or
	// was interrupted.
	LastError string     `json:"last_error,omitempty"`
	LastOKAt  *time.Time `json:"last_ok_at"`
	NextRunAt *time.Time `json:"next_run_at"` // null for jobs not in the configuration
	// Failed is true when the newest finished run failed: status exits 1.
	Failed bool `json:"failed"`
}

// RunStatus is one recorded run.
type RunStatus struct {
	ID              int64           `json:"id"`
	Trigger         string          `json:"trigger"`
	Status          string          `json:"status"`
	ScheduledFor    *time.Time      `json:"scheduled_for"`
	StartedAt       time.Time       `json:"started_at"`
	FinishedAt      *time.Time      `json:"finished_at"`
	DurationSeconds *float64        `json:"duration_seconds"` // null while running or when the process died
	Error           string          `json:"error,omitempty"`
	Counts          store.RunCounts `json:"counts"`
	// Steps is each step's status (ok, failed, skipped, interrupted,
	// not_started, running); absent for runs recorded before steps had one.
	Steps store.StepStatuses `json:"steps,omitempty"`
	Host  string             `json:"host"`
}

// StreamStatus is the pull windows of one stream.
type StreamStatus struct {
	Stream  string `json:"stream"`
	Pending int64  `json:"pending"`
	Running int64  `json:"running"`
	Failed  int64  `json:"failed"`
	// OldestGap is the earliest window not done; null when all are done.
	OldestGap *GapStatus `json:"oldest_gap"`
	// CompleteUntil: data before it is pulled in every scope.
	CompleteUntil *time.Time `json:"complete_until"`
	LagSeconds    *float64   `json:"lag_seconds"` // now - complete_until
	LastError     string     `json:"last_error,omitempty"`
}

// GapStatus is a window not done yet.
type GapStatus struct {
	Scope  string    `json:"scope"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Status string    `json:"status"`
}

// RejectionStatus is the push refusals met in the last 24 hours.
type RejectionStatus struct {
	Since         time.Time           `json:"since"`
	Total         int64               `json:"total"`
	ByDestination []DestinationStatus `json:"by_destination"`
}

// DestinationStatus is the refusals of one destination.
type DestinationStatus struct {
	Destination string        `json:"destination"`
	Records     int64         `json:"records"` // distinct refusals met
	New         int64         `json:"new"`     // of which first recorded in the period
	TopReasons  []ReasonCount `json:"top_reasons"`
}

// ReasonCount is how many refusals share a reason.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// RejectionWindow is how far back status looks for push rejections.
const RejectionWindow = 24 * time.Hour

// recentJobs is how long a job that is not in the configuration stays in
// the status after its last run (ad-hoc and removed jobs).
const recentJobs = 7 * 24 * time.Hour

// BuildStatus reads the status from st at now: the configured jobs in
// configuration order (next tick from their schedule), then jobs not in the
// configuration that ran in the last 7 days (backfills, removed jobs).
func BuildStatus(ctx context.Context, st *store.Store, cfg *config.Config, now time.Time) (Status, error) {
	loc := cfg.Location()
	out := Status{GeneratedAt: now.In(loc), TimeZone: loc.String(), Jobs: []JobStatus{}, Windows: []StreamStatus{}}
	sums, err := st.JobRunSummaries(ctx)
	if err != nil {
		return Status{}, err
	}
	byJob := map[string]store.JobRuns{}
	for _, s := range sums {
		byJob[s.Job] = s
	}
	for _, j := range cfg.Jobs {
		js := jobStatus(j.Name, byJob[j.Name], loc)
		js.Schedule, js.InConfig = j.Schedule, true
		if spec, err := config.ParseSchedule(j.Schedule, loc); err == nil {
			if n := spec.Next(now); !n.IsZero() {
				n = n.In(loc)
				js.NextRunAt = &n
			}
		}
		out.Jobs = append(out.Jobs, js)
		delete(byJob, j.Name)
	}
	for _, s := range sums {
		if _, extra := byJob[s.Job]; !extra || s.Last.ID == 0 || now.Sub(s.Last.StartedAt) > recentJobs {
			continue
		}
		out.Jobs = append(out.Jobs, jobStatus(s.Job, s, loc))
	}

	wins, err := st.WindowSummaries(ctx)
	if err != nil {
		return Status{}, err
	}
	for _, w := range wins {
		ss := StreamStatus{Stream: w.Stream, Pending: w.Pending, Running: w.Running, Failed: w.Failed, LastError: w.LastError}
		if g := w.OldestGap; g != nil {
			ss.OldestGap = &GapStatus{Scope: g.Scope, Start: g.Start.In(loc), End: g.End.In(loc), Status: g.Status}
		}
		if !w.CompleteUntil.IsZero() {
			c := w.CompleteUntil.In(loc)
			lag := now.Sub(c).Seconds()
			ss.CompleteUntil, ss.LagSeconds = &c, &lag
		}
		out.Windows = append(out.Windows, ss)
	}

	since := now.Add(-RejectionWindow)
	rej, err := st.RejectionSummaries(ctx, since, 3)
	if err != nil {
		return Status{}, err
	}
	out.Rejections = RejectionStatus{Since: since.In(loc), ByDestination: []DestinationStatus{}}
	for _, d := range rej {
		ds := DestinationStatus{Destination: d.Destination, Records: d.Records, New: d.New, TopReasons: []ReasonCount{}}
		for _, r := range d.TopReasons {
			ds.TopReasons = append(ds.TopReasons, ReasonCount{Reason: r.Reason, Count: r.Count})
		}
		out.Rejections.Total += d.Records
		out.Rejections.ByDestination = append(out.Rejections.ByDestination, ds)
	}
	return out, nil
}

// AnyFailed reports whether any job's newest finished run failed.
func (s Status) AnyFailed() bool {
	for _, j := range s.Jobs {
		if j.Failed {
			return true
		}
	}
	return false
}

func jobStatus(name string, s store.JobRuns, loc *time.Location) JobStatus {
	js := JobStatus{Job: name}
	if s.Last.ID != 0 {
		js.LastRun = runStatus(s.Last, loc)
	}
	if s.LastFinished.ID != 0 {
		js.LastResult = s.LastFinished.Status
		js.LastError = s.LastFinished.Error
		js.Failed = s.LastFinished.Status == store.RunFailed
	}
	if !s.LastOK.IsZero() {
		t := s.LastOK.In(loc)
		js.LastOKAt = &t
	}
	return js
}

func runStatus(r store.RunRecord, loc *time.Location) *RunStatus {
	rs := &RunStatus{ID: r.ID, Trigger: r.Trigger, Status: r.Status, StartedAt: r.StartedAt.In(loc), Error: r.Error, Counts: r.Counts,
		Steps: r.Steps, Host: r.Host}
	if rs.Counts == nil {
		rs.Counts = store.RunCounts{}
	}
	if !r.ScheduledFor.IsZero() {
		t := r.ScheduledFor.In(loc)
		rs.ScheduledFor = &t
	}
	if !r.FinishedAt.IsZero() {
		t := r.FinishedAt.In(loc)
		d := r.Duration().Seconds()
		rs.FinishedAt, rs.DurationSeconds = &t, &d
	}
	return rs
}
