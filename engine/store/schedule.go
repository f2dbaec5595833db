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

// ClaimCronFire records that a flow's schedule fired at a tick (a whole
// minute; tests tick every second). It reports false when someone (another
// server on the same database) already did. The claim holds as long as its
// row is kept: see PruneCronFires.
func (s *Store) ClaimCronFire(ctx context.Context, flowID string, at time.Time) (bool, error) {
	_, err := s.db.NewInsert().Model(&cronFireModel{FlowID: flowID, FireAt: at.UTC().Truncate(time.Second)}).Exec(ctx)
	if err != nil {
		if errors.Is(mapErr(err), ErrAlreadyExists) {
			return false, nil
		}
		return false, wrap(err, "claim the schedule of flow %s at %s", flowID, at.Format(time.RFC3339))
	}
	return true, nil
}

// PruneCronFires deletes the claims of ticks more than keep ago and says
// how many it deleted. A tick whose claim is gone could be claimed again,
// so keep must be longer than the latest a scheduler still claims a tick
// (plus the clocks' skew between servers).
func (s *Store) PruneCronFires(ctx context.Context, keep time.Duration) (int64, error) {
	before := s.timeNow().Add(-keep)
	res, err := s.db.NewDelete().Model((*cronFireModel)(nil)).Where("? < ?", bun.Ident("fire_at"), before).Exec(ctx)
	if err != nil {
		return 0, wrap(err, "prune the schedules' claims before %s", before.Format(time.RFC3339))
	}
	n, err := res.RowsAffected()
	return n, wrap(err, "prune the schedules' claims")
}
