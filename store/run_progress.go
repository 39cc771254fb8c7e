package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RunProgress is the progress of a running step on one credential's quota
// (table run_progress).
type RunProgress struct {
	RunID      int64
	Step       string
	Credential string // oho, line/<channel id>, okeybot/<channel name>, omnichat
	// DoneUnits and TotalUnits are the step's units of work (Unit:
	// "contacts" or "windows") finished and chosen.
	DoneUnits, TotalUnits int64
	Unit                  string
	// Requests were made so far; RequestsLeft are still to make (an
	// estimate), which take SecondsLeft at RatePerSecond.
	Requests, RequestsLeft int64
	SecondsLeft            float64
	RatePerSecond          float64
	UpdatedAt              time.Time
}

// SaveRunProgress replaces the progress rows of ps's steps with ps: one
// statement for the batch (the step's other credentials' rows stay).
func (s *Store) SaveRunProgress(ctx context.Context, ps []RunProgress) error {
	if len(ps) == 0 {
		return nil
	}
	var b strings.Builder
	args := make([]any, 0, len(ps)*11)
	b.WriteString(`INSERT INTO run_progress (run_id, step, credential, done_units, total_units, unit, requests, requests_left,
		seconds_left, rate_per_second, updated_at) VALUES `)
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, p.RunID, p.Step, p.Credential, p.DoneUnits, p.TotalUnits, p.Unit, p.Requests, p.RequestsLeft,
			p.SecondsLeft, p.RatePerSecond, p.UpdatedAt)
	}
	b.WriteString(` ON CONFLICT (run_id, step, credential) DO UPDATE SET done_units = excluded.done_units,
		total_units = excluded.total_units, unit = excluded.unit, requests = excluded.requests,
		requests_left = excluded.requests_left, seconds_left = excluded.seconds_left,
		rate_per_second = excluded.rate_per_second, updated_at = excluded.updated_at`)
	if err := s.db.WithContext(ctx).Exec(b.String(), args...).Error; err != nil {
		return fmt.Errorf("save run progress: %w", err)
	}
	return nil
}

// ClearRunProgress deletes the progress rows of a step of a run (once it ended).
func (s *Store) ClearRunProgress(ctx context.Context, runID int64, step string) error {
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM run_progress WHERE run_id = ? AND step = ?`, runID, step).Error; err != nil {
		return fmt.Errorf("clear run progress of run %d: %w", runID, err)
	}
	return nil
}

// RunningProgress returns the progress rows of the runs still running, by
// run, step and credential.
func (s *Store) RunningProgress(ctx context.Context) ([]RunProgress, error) {
	var rows []RunProgress
	err := s.db.WithContext(ctx).Raw(`
		SELECT p.run_id, p.step, p.credential, p.done_units, p.total_units, p.unit, p.requests, p.requests_left,
		       p.seconds_left, p.rate_per_second, p.updated_at
		FROM run_progress p JOIN sync_runs r ON r.id = p.run_id
		WHERE r.status = 'running'
		ORDER BY p.run_id, p.step, p.credential`).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("read run progress: %w", err)
	}
	return rows, nil
}
