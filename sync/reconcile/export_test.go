package reconcile

import "context"

// WithAfterStep returns a context under which a run calls f after each of
// its logged steps, inside its transaction (named as logged, e.g. "links
// applied").
func WithAfterStep(ctx context.Context, f func(ctx context.Context, step string)) context.Context {
	return context.WithValue(ctx, afterStepKey{}, f)
}

// NormalisePhones is normalisePhones, for tests.
var NormalisePhones = normalisePhones
