package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"crmsync/metrics"
	"crmsync/store"
	"crmsync/sync/pull"
	"crmsync/sync/schedule"
)

// pullAgentsStep is the pull_agents step: it makes conversations.quiet_gap
// the gap conversations are cut with (rebuilding them all when it changed),
// then reads the Omnichat system users.
func pullAgentsStep(p *pull.Puller, st *store.Store, m *metrics.Registry, gap time.Duration) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		changed, rebuilt, err := st.SetConversationGap(ctx, gap)
		if err != nil {
			return nil, err
		}
		if changed {
			run.Log.WithFields(logrus.Fields{"quiet_gap": gap.String(), "conversations": rebuilt}).Info("conversations rebuilt with the new quiet gap")
		}
		c, err := p.SystemUsers(ctx, pull.RunOptions{RunID: run.ID, StoppingFunc: run.Stopping})
		m.AddRowsUpserted("omnichat_system_users", int(c.Inserted+c.Updated))
		if errors.Is(err, pull.ErrStopped) {
			err = fmt.Errorf("%w: %w", schedule.ErrInterrupted, err)
		}
		counts := schedule.Counts(c.Map())
		counts[schedule.CountRequests] = int64(c.Requests)
		counts["conversations_rebuilt"] = rebuilt
		return counts, err
	}
}
