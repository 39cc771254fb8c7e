package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"crmsync/config"
)

func TestParse_conversations(t *testing.T) {
	t.Parallel()
	agents := "jobs:\n  - name: agents\n    schedule: \"@hourly\"\n    steps: [pull_agents]\n"

	tests := []struct {
		name    string
		give    string
		env     map[string]string
		want    time.Duration
		wantErr string
	}{
		{name: "Default", give: agents, env: map[string]string{"OMNICHAT_TOKEN": "t"}, want: 24 * time.Hour},
		{name: "Set", give: "conversations:\n  quiet_gap: 8h\n" + agents, env: map[string]string{"OMNICHAT_TOKEN": "t"}, want: 8 * time.Hour},
		{name: "TooShort", give: "conversations:\n  quiet_gap: 30s\n", wantErr: "bad.yaml:2: conversations.quiet_gap: 30s is outside 1m..720h or not whole seconds"},
		{name: "TooLong", give: "conversations:\n  quiet_gap: 721h\n", wantErr: "bad.yaml:2: conversations.quiet_gap: 721h0m0s is outside 1m..720h"},
		{name: "Fraction", give: "conversations:\n  quiet_gap: 90.5s\n", wantErr: "bad.yaml:2: conversations.quiet_gap: 1m30.5s is outside 1m..720h or not whole seconds"},
		{name: "UnknownKey", give: "conversations:\n  gap: 8h\n", wantErr: "bad.yaml:2: conversations.gap: unknown key"},
		{name: "PullAgentsNeedsTheToken", give: agents, wantErr: "bad.yaml: omnichat.token: missing: set OMNICHAT_TOKEN (a job pulls from Omnichat)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Parse("bad.yaml", []byte(tt.give), env(tt.env))
			if tt.wantErr != "" {
				var ce *config.Error
				require.True(t, errors.As(err, &ce), "got %v", err)
				require.True(t, strings.HasPrefix(ce.Problems[0].String(), tt.wantErr), "got %q", ce.Problems[0].String())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, cfg.Conversations.QuietGap)
			require.True(t, cfg.Uses(config.StepPullAgents))
		})
	}
}
