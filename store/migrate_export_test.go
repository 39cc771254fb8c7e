package store

import (
	"context"
	"fmt"
)

// MigrateDownTo rolls the database back to migration version v (its Down
// sections, newest first), for tests of a migration's data move.
func (s *Store) MigrateDownTo(ctx context.Context, v int64) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	if _, err := p.DownTo(ctx, v); err != nil {
		return fmt.Errorf("migrate down to %d: %w", v, err)
	}
	return nil
}
