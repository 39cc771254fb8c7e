package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// JobRuns summarises one job's runs for `crmsync status`.
type JobRuns struct {
	Job string
	// Last is the newest run that was not skipped (it may be running);
	// ID 0 when there is none.
	Last RunRecord
	// LastFinished is the newest run that ended ok, failed or interrupted;
	// ID 0 when there is none. Its status decides whether the job is failing.
	LastFinished RunRecord
	// LastOK is when the newest ok run started; zero when none.
	LastOK time.Time
}

// JobRunSummaries returns, for every job with a run recorded, its last run,
// last finished run and last success, ordered by job name.
func (s *Store) JobRunSummaries(ctx context.Context) ([]JobRuns, error) {
	var last, finished []runRow
	if err := s.db.WithContext(ctx).Raw(`SELECT DISTINCT ON (job) ` + runColumns + ` FROM sync_runs
		WHERE status <> 'skipped' ORDER BY job, started_at DESC, id DESC`).Scan(&last).Error; err != nil {
		return nil, fmt.Errorf("last runs: %w", err)
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT DISTINCT ON (job) ` + runColumns + ` FROM sync_runs
		WHERE status IN ('ok', 'failed', 'interrupted') ORDER BY job, started_at DESC, id DESC`).Scan(&finished).Error; err != nil {
		return nil, fmt.Errorf("last finished runs: %w", err)
	}
	var oks []struct {
		Job  string    `gorm:"column:job"`
		Last time.Time `gorm:"column:last"`
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT job, max(started_at) AS last FROM sync_runs
		WHERE status = 'ok' GROUP BY job`).Scan(&oks).Error; err != nil {
		return nil, fmt.Errorf("last successful runs: %w", err)
	}

	byJob := map[string]*JobRuns{}
	get := func(job string) *JobRuns {
		if j, ok := byJob[job]; ok {
			return j
		}
		j := &JobRuns{Job: job}
		byJob[job] = j
		return j
	}
	for _, r := range last {
		rec, err := r.toRecord()
		if err != nil {
			return nil, err
		}
		get(r.Job).Last = rec
	}
	for _, r := range finished {
		rec, err := r.toRecord()
		if err != nil {
			return nil, err
		}
		get(r.Job).LastFinished = rec
	}
	for _, o := range oks {
		get(o.Job).LastOK = o.Last
	}
	out := make([]JobRuns, 0, len(byJob))
	for _, j := range byJob {
		out = append(out, *j)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Job < out[k].Job })
	return out, nil
}

// WindowGap is the oldest pull window of a stream not done yet.
type WindowGap struct {
	Scope      string
	Start, End time.Time
	Status     string // pending, running or failed
}

// StreamWindows summarises the pull windows of one stream.
type StreamWindows struct {
	Stream                   string
	Pending, Running, Failed int64
	// GaveUp counts windows given up (no run reads them again unless
	// asked); DataGaps the windows done short of totalElements, and
	// MissingRows the rows they miss together.
	GaveUp, DataGaps, MissingRows int64
	// OldestGap is the earliest window not done (nil when every window is
	// done): data before its start is complete for its scope.
	OldestGap *WindowGap
	// CompleteUntil is the time up to which the stream's data is complete in
	// every scope: the smallest, over scopes, of the oldest unfinished
	// window's start, or else of the newest done window's end. Zero when the
	// stream has no window yet. Windows given up and data gaps do not hold
	// it back (they are counted apart, so the lag keeps saying whether the
	// pull keeps up).
	CompleteUntil time.Time
	// LastError is the error of the most recently failed window ("" if none).
	LastError string
}

// WindowSummaries returns one summary per stream that has windows, ordered
// by stream. Split windows (replaced by their halves) are not counted.
func (s *Store) WindowSummaries(ctx context.Context) ([]StreamWindows, error) {
	var counts []struct {
		Stream        string     `gorm:"column:stream"`
		Pending       int64      `gorm:"column:pending"`
		Running       int64      `gorm:"column:running"`
		Failed        int64      `gorm:"column:failed"`
		GaveUp        int64      `gorm:"column:gave_up"`
		DataGaps      int64      `gorm:"column:data_gaps"`
		MissingRows   int64      `gorm:"column:missing_rows"`
		CompleteUntil *time.Time `gorm:"column:complete_until"`
	}
	err := s.db.WithContext(ctx).Raw(`
		WITH per_scope AS (
			SELECT stream, scope,
			       count(*) FILTER (WHERE status = 'pending') AS pending,
			       count(*) FILTER (WHERE status = 'running') AS running,
			       count(*) FILTER (WHERE status = 'failed')  AS failed,
			       count(*) FILTER (WHERE status = 'gave_up') AS gave_up,
			       count(*) FILTER (WHERE status = 'done' AND missing_rows > 0) AS data_gaps,
			       COALESCE(sum(missing_rows) FILTER (WHERE status = 'done'), 0) AS missing_rows,
			       COALESCE(min(window_start) FILTER (WHERE status IN ('pending', 'running', 'failed')),
			                max(window_end)   FILTER (WHERE status = 'done')) AS complete_until
			FROM sync_windows
			GROUP BY stream, scope
		)
		SELECT stream, sum(pending)::bigint AS pending, sum(running)::bigint AS running,
		       sum(failed)::bigint AS failed, sum(gave_up)::bigint AS gave_up, sum(data_gaps)::bigint AS data_gaps,
		       sum(missing_rows)::bigint AS missing_rows, min(complete_until) AS complete_until
		FROM per_scope GROUP BY stream ORDER BY stream`).Scan(&counts).Error
	if err != nil {
		return nil, fmt.Errorf("window summaries: %w", err)
	}
	var gaps []struct {
		Stream     string    `gorm:"column:stream"`
		Scope      string    `gorm:"column:scope"`
		Start      time.Time `gorm:"column:window_start"`
		End        time.Time `gorm:"column:window_end"`
		Status     string    `gorm:"column:status"`
		LastError  *string   `gorm:"column:last_error"`
		IsGap      bool      `gorm:"column:is_gap"`
		IsLastFail bool      `gorm:"column:is_last_fail"`
	}
	err = s.db.WithContext(ctx).Raw(`
		(SELECT DISTINCT ON (stream) stream, scope, window_start, window_end, status, last_error,
		        true AS is_gap, false AS is_last_fail
		 FROM sync_windows WHERE status IN ('pending', 'running', 'failed')
		 ORDER BY stream, window_start, window_end, scope)
		UNION ALL
		(SELECT DISTINCT ON (stream) stream, scope, window_start, window_end, status, last_error,
		        false, true
		 FROM sync_windows WHERE status = 'failed'
		 ORDER BY stream, updated_at DESC, id DESC)`).Scan(&gaps).Error
	if err != nil {
		return nil, fmt.Errorf("window gaps: %w", err)
	}
	out := make([]StreamWindows, 0, len(counts))
	idx := map[string]int{}
	for _, c := range counts {
		sw := StreamWindows{Stream: c.Stream, Pending: c.Pending, Running: c.Running, Failed: c.Failed,
			GaveUp: c.GaveUp, DataGaps: c.DataGaps, MissingRows: c.MissingRows}
		if c.CompleteUntil != nil {
			sw.CompleteUntil = *c.CompleteUntil
		}
		idx[c.Stream] = len(out)
		out = append(out, sw)
	}
	for _, g := range gaps {
		i, ok := idx[g.Stream]
		if !ok {
			continue
		}
		if g.IsGap {
			out[i].OldestGap = &WindowGap{Scope: g.Scope, Start: g.Start, End: g.End, Status: g.Status}
		}
		if g.IsLastFail && g.LastError != nil {
			out[i].LastError = *g.LastError
		}
	}
	return out, nil
}

// WindowNote is one pull window that needs an operator's eye: given up,
// or done with a data gap.
type WindowNote struct {
	Stream, Scope string
	Start, End    time.Time
	Attempts      int
	TotalElements int64 // -1 when unknown
	MissingRows   int64 // the data gap of a done window
	Reason        string
}

// PlatformCoverage says how the pull covers one platform.
type PlatformCoverage struct {
	Platform string
	// Listed and Unlisted count its channels in omnichat_channels: listed by
	// the latest GET /v1/channels, and known only from rows.
	Listed, Unlisted int64
	// Contacts and Messages say how the newest window of each stream read
	// the platform: "channels" (one scope per listed channel), "platform"
	// (one request per window without channelId), or "" (not pulled yet).
	Contacts, Messages string
}

// Coverage of a platform by a stream (PlatformCoverage.Contacts, .Messages).
const (
	CoveredPerChannel  = "channels"
	CoveredPerPlatform = "platform"
)

// PullHealth is what needs an operator's eye in the pull: the windows given
// up, the data gaps, and how each platform is covered.
type PullHealth struct {
	GaveUp   []WindowNote // by stream and start, at most the number asked
	DataGaps []WindowNote // by stream and start, at most the number asked
	Coverage []PlatformCoverage
}

// PullHealth reads the pull's windows given up and data gaps (at most limit
// of each) and the coverage of every platform seen in windows or channels.
func (s *Store) PullHealth(ctx context.Context, limit int) (PullHealth, error) {
	var out PullHealth
	var notes []struct {
		Stream        string    `gorm:"column:stream"`
		Scope         string    `gorm:"column:scope"`
		Start         time.Time `gorm:"column:window_start"`
		End           time.Time `gorm:"column:window_end"`
		Status        string    `gorm:"column:status"`
		Attempts      int       `gorm:"column:attempts"`
		TotalElements *int64    `gorm:"column:total_elements"`
		MissingRows   int64     `gorm:"column:missing_rows"`
		LastError     *string   `gorm:"column:last_error"`
	}
	err := s.db.WithContext(ctx).Raw(`
		(SELECT stream, scope, window_start, window_end, status, attempts, total_elements, missing_rows, last_error
		 FROM sync_windows WHERE status = 'gave_up' ORDER BY stream, window_start, scope LIMIT ?)
		UNION ALL
		(SELECT stream, scope, window_start, window_end, status, attempts, total_elements, missing_rows, last_error
		 FROM sync_windows WHERE status = 'done' AND missing_rows > 0 ORDER BY stream, window_start, scope LIMIT ?)`,
		limit, limit).Scan(&notes).Error
	if err != nil {
		return PullHealth{}, fmt.Errorf("pull windows given up and data gaps: %w", err)
	}
	for _, n := range notes {
		wn := WindowNote{Stream: n.Stream, Scope: n.Scope, Start: n.Start, End: n.End, Attempts: n.Attempts,
			TotalElements: -1, MissingRows: n.MissingRows}
		if n.TotalElements != nil {
			wn.TotalElements = *n.TotalElements
		}
		if n.LastError != nil {
			wn.Reason = *n.LastError
		}
		if n.Status == string(WindowGaveUp) {
			out.GaveUp = append(out.GaveUp, wn)
		} else {
			out.DataGaps = append(out.DataGaps, wn)
		}
	}
	err = s.db.WithContext(ctx).Raw(`
		WITH w AS (
			SELECT DISTINCT ON (stream, split_part(scope, '/', 1))
			       stream, split_part(scope, '/', 1) AS platform, strpos(scope, '/') > 0 AS per_channel
			FROM sync_windows
			WHERE stream IN ('contacts', 'messages') AND scope <> '' AND status <> 'split'
			ORDER BY stream, split_part(scope, '/', 1), window_end DESC, (strpos(scope, '/') > 0) DESC
		), c AS (
			SELECT platform, count(*) FILTER (WHERE listed) AS listed, count(*) FILTER (WHERE NOT listed) AS unlisted
			FROM omnichat_channels GROUP BY platform
		), p AS (SELECT platform FROM w UNION SELECT platform FROM c)
		SELECT p.platform, COALESCE(c.listed, 0) AS listed, COALESCE(c.unlisted, 0) AS unlisted,
		       COALESCE((SELECT CASE WHEN per_channel THEN ? ELSE ? END FROM w WHERE w.stream = 'contacts' AND w.platform = p.platform), '') AS contacts,
		       COALESCE((SELECT CASE WHEN per_channel THEN ? ELSE ? END FROM w WHERE w.stream = 'messages' AND w.platform = p.platform), '') AS messages
		FROM p LEFT JOIN c USING (platform) ORDER BY p.platform`,
		CoveredPerChannel, CoveredPerPlatform, CoveredPerChannel, CoveredPerPlatform).Scan(&out.Coverage).Error
	if err != nil {
		return PullHealth{}, fmt.Errorf("pull coverage: %w", err)
	}
	return out, nil
}

// ReasonCount is how many refusals share one reason.
type ReasonCount struct {
	Reason string
	Count  int64
}

// DestinationRejections summarises the push refusals of one destination
// met since a time.
type DestinationRejections struct {
	Destination string
	// Records is how many distinct refusals (push_rejections rows) were met
	// since then: recorded, or met again (last_seen_at).
	Records int64
	// New is how many of them were first recorded since then.
	New int64
	// TopReasons are the most frequent reasons among Records, most frequent
	// first (ties by reason), at most the number asked for.
	TopReasons []ReasonCount
}

// RejectionSummaries returns the push refusals met since since, per
// destination (ordered by destination), with up to top reasons each.
func (s *Store) RejectionSummaries(ctx context.Context, since time.Time, top int) ([]DestinationRejections, error) {
	var rows []struct {
		Destination string `gorm:"column:destination"`
		Reason      string `gorm:"column:reason"`
		Records     int64  `gorm:"column:records"`
		New         int64  `gorm:"column:new"`
	}
	err := s.db.WithContext(ctx).Raw(`
		SELECT destination, reason, count(*) AS records,
		       count(*) FILTER (WHERE created_at >= ?) AS new
		FROM push_rejections
		WHERE last_seen_at >= ? OR created_at >= ?
		GROUP BY destination, reason
		ORDER BY destination, records DESC, reason`, since, since, since).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("push rejections since %s: %w", since.Format(time.RFC3339), err)
	}
	var out []DestinationRejections
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].Destination != r.Destination {
			out = append(out, DestinationRejections{Destination: r.Destination})
		}
		d := &out[len(out)-1]
		d.Records += r.Records
		d.New += r.New
		if len(d.TopReasons) < top {
			d.TopReasons = append(d.TopReasons, ReasonCount{Reason: r.Reason, Count: r.Records})
		}
	}
	return out, nil
}
