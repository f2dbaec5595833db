package store

import (
	"context"
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// ScheduledFlow is a flow with a published version: the one its triggers run.
type ScheduledFlow struct {
	ID               string `bun:"id"`
	WorkspaceID      string `bun:"workspace_id"`
	Slug             string `bun:"slug"`
	PublishedVersion int    `bun:"published_version"`
}

// PublishedFlows lists every flow, in every workspace, that has a published
// version.
func (s *Store) PublishedFlows(ctx context.Context) ([]ScheduledFlow, error) {
	var out []ScheduledFlow
	err := s.rdb.NewRaw("SELECT id, workspace_id, slug, published_version FROM flows WHERE published_version IS NOT NULL ORDER BY id").Scan(ctx, &out)
	return out, wrap(err, "published flows")
}

type cronFireModel struct {
	bun.BaseModel `bun:"table:cron_fires"`

	FlowID string    `bun:"flow_id,pk"`
	FireAt time.Time `bun:"fire_at,pk"`
	RunID  string    `bun:"run_id"`
}

// ClaimCronFire records that a flow's schedule fired at a minute. It reports
// false when someone (another server on the same database) already did.
func (s *Store) ClaimCronFire(ctx context.Context, flowID string, at time.Time) (bool, error) {
	_, err := s.db.NewInsert().Model(&cronFireModel{FlowID: flowID, FireAt: at.UTC().Truncate(time.Minute)}).Exec(ctx)
	if err != nil {
		if errors.Is(mapErr(err), ErrAlreadyExists) {
			return false, nil
		}
		return false, wrap(err, "claim the schedule of flow %s at %s", flowID, at.Format(time.RFC3339))
	}
	return true, nil
}
