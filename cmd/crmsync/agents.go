package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"crmsync/metrics"
	"crmsync/store"
	"crmsync/sync/pull"
	"crmsync/sync/schedule"
)

// pullAgentsStep is the pull_agents step: it makes conversations.quiet_gap
// and timezone the settings conversations and their weekly rollups are built
// with (rebuilding what a change affects), reads the Omnichat system users,
// and prunes emptied rollup rows.
func pullAgentsStep(p *pull.Puller, st *store.Store, m *metrics.Registry, settings store.ConversationSettings) schedule.StepFunc {
	return func(ctx context.Context, run *schedule.Run) (schedule.Counts, error) {
		ch, err := st.SetConversationSettings(ctx, settings)
		if err != nil {
			return nil, err
		}
		switch {
		case ch.GapChanged:
			run.Log.WithFields(logrus.Fields{"quiet_gap": settings.QuietGap.String(), "timezone": settings.TimeZone,
				"conversations": ch.Conversations}).Info("conversations rebuilt with the new quiet gap")
		case ch.ZoneChanged:
			run.Log.WithField("timezone", settings.TimeZone).Info("weekly response times recounted in the new time zone")
		}
		pruned, err := st.PruneConversationWeeks(ctx)
		if err != nil {
			return nil, err
		}
		c, err := p.SystemUsers(ctx, pull.RunOptions{RunID: run.ID, StoppingFunc: run.Stopping})
		m.AddRowsUpserted("omnichat_system_users", int(c.Inserted+c.Updated))
		if errors.Is(err, pull.ErrStopped) {
			err = fmt.Errorf("%w: %w", schedule.ErrInterrupted, err)
		}
		counts := schedule.Counts(c.Map())
		counts[schedule.CountRequests] = int64(c.Requests)
		counts["conversations_rebuilt"] = ch.Conversations
		counts["rollup_rows_pruned"] = pruned
		return counts, err
	}
}
