package config

import "time"

// StepPullAgents reads the Omnichat system users (the agents) and applies
// the conversations settings.
const StepPullAgents = "pull_agents"

// Limits of conversations.quiet_gap.
const (
	DefaultQuietGap = 24 * time.Hour
	MinQuietGap     = time.Minute
	MaxQuietGap     = 30 * 24 * time.Hour
)

// Conversations configures how chat history is cut into conversations
// (the conversations table, docs/analysts.md).
type Conversations struct {
	// QuietGap: a customer message opens a conversation when the customer
	// sent nothing in the room for this long. Default 24h, 1m..720h. The
	// pull_agents step applies a change, rebuilding every conversation.
	QuietGap time.Duration `yaml:"quiet_gap"`
}

// setDefaults fills the zero values of c.
func (c *Conversations) setDefaults() {
	if c.QuietGap == 0 {
		c.QuietGap = DefaultQuietGap
	}
}

// validateConversations records the problems of c.Conversations.
func (l *loader) validateConversations(c *Config) {
	if g := c.Conversations.QuietGap; g < MinQuietGap || g > MaxQuietGap || g%time.Second != 0 {
		l.addf("conversations.quiet_gap", "%s is outside 1m..720h or not whole seconds", g)
	}
}
