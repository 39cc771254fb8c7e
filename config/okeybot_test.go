package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"crmsync/clients/apiclient"
	"crmsync/config"
)

func TestParse_okeybotRateAndConflicts(t *testing.T) {
	t.Parallel()
	base := "okeybot:\n  channels:\n    - name: shop\n      token: ${T}\n      sources: [line]\n"
	mapping := "mapping:\n  okeybot:\n    custom_fields: [{from: phone, name: phone}]\n"
	e := env(map[string]string{"T": "tok"})

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		cfg, err := config.Parse("jobs.yaml", []byte(base+mapping), e)
		require.NoError(t, err)
		require.Equal(t, 100, cfg.Okeybot.RatePerMinute)
		require.InDelta(t, apiclient.DefaultHeadroom, cfg.Okeybot.RateHeadroom, 0, "config's default is apiclient's")
		require.Equal(t, "token", cfg.Okeybot.RateScope)
		require.False(t, cfg.Okeybot.DetectConflicts)
		require.Equal(t, "source", string(cfg.Mapper().OkeybotOnConflict()))
	})
	t.Run("Set", func(t *testing.T) {
		t.Parallel()
		give := "okeybot:\n  rate_headroom: 0.05\n  rate_scope: account\n  detect_conflicts: true\n  channels:\n    - name: shop\n      token: ${T}\n      sources: [line]\n" +
			mapping + "    on_conflict: destination\n"
		cfg, err := config.Parse("jobs.yaml", []byte(give), e)
		require.NoError(t, err)
		require.InDelta(t, 0.05, cfg.Okeybot.RateHeadroom, 0)
		require.Equal(t, "account", cfg.Okeybot.RateScope)
		require.True(t, cfg.Okeybot.DetectConflicts)
		require.Equal(t, "destination", string(cfg.Mapper().OkeybotOnConflict()))
	})

	tests := []struct {
		name    string
		give    string
		wantErr string
	}{
		{"ScopeUnknown", "okeybot:\n  rate_scope: channel\n",
			`bad.yaml:2: okeybot.rate_scope: "channel" is not one of token, account (what Okeybot's 100 calls a minute are counted over)`},
		{"HeadroomTooLarge", "okeybot:\n  rate_headroom: 0.6\n", `bad.yaml:2: okeybot.rate_headroom: 0.6 is outside 0 < headroom <= 0.5`},
		{"HeadroomNegative", "okeybot:\n  rate_headroom: -0.1\n", `bad.yaml:2: okeybot.rate_headroom: -0.1 is outside 0 < headroom <= 0.5`},
		{"DetectNotABool", "okeybot:\n  detect_conflicts: sometimes\n", `bad.yaml:2: okeybot.detect_conflicts: "sometimes" is not`},
		{"OnConflictUnknown", "mapping:\n  okeybot:\n    on_conflict: crmsync\n",
			`bad.yaml:3: mapping.okeybot.on_conflict: "crmsync" is not one of source, destination`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse("bad.yaml", []byte(tt.give), env(nil))
			var ce *config.Error
			require.True(t, errors.As(err, &ce), "%v", err)
			require.True(t, strings.HasPrefix(ce.Problems[0].String(), tt.wantErr), "got %q", ce.Problems[0].String())
		})
	}
}
