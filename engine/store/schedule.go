package store

import (
	"context"
	"errors"
	"fmt"
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
// version and is not archived.
func (s *Store) PublishedFlows(ctx context.Context) ([]ScheduledFlow, error) {
	var out []ScheduledFlow
	err := s.rdb.NewRaw("SELECT id, workspace_id, slug, published_version FROM flows WHERE published_version IS NOT NULL AND archived_at IS NULL ORDER BY id").Scan(ctx, &out)
	return out, wrap(err, "published flows")
}

type cronFireModel struct {
	bun.BaseModel `bun:"table:cron_fires"`

	FlowID     string    `bun:"flow_id,pk"`
	TriggerKey string    `bun:"trigger_key,pk"`
	FireAt     time.Time `bun:"fire_at,pk"`
	RunID      string    `bun:"run_id"`
}

// ClaimCronFire records that a flow's cron trigger (named by its
// engine.Trigger.Key, at most MaxTriggerKey bytes) fired at a tick (a whole
// minute; tests tick every second). It reports false when someone (another
// server on the same database) already did. Each trigger of a flow is
// claimed apart (migration 0020), so two due at once both fire. The claim
// holds as long as its row is kept: see PruneCronFires.
func (s *Store) ClaimCronFire(ctx context.Context, flowID, triggerKey string, at time.Time) (bool, error) {
	if triggerKey == "" || len(triggerKey) > MaxTriggerKey {
		return false, fmt.Errorf("claim the schedule of flow %s: the trigger's key must be 1 to %d bytes", flowID, MaxTriggerKey)
	}
	_, err := s.db.NewInsert().Model(&cronFireModel{FlowID: flowID, TriggerKey: triggerKey, FireAt: at.UTC().Truncate(time.Second)}).Exec(ctx)
	if err != nil {
		if errors.Is(mapErr(err), ErrAlreadyExists) {
			return false, nil
		}
		return false, wrap(err, "claim the schedule %q of flow %s at %s", triggerKey, flowID, at.Format(time.RFC3339))
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

// MaxTriggerKey bounds a paused trigger's key, in bytes.
const MaxTriggerKey = 300

// TriggerPause is a paused trigger of a flow (migration 0015).
type TriggerPause struct {
	Key      string // engine.Trigger.Key
	PausedBy string // user id; "" once that user is deleted
	PausedAt time.Time
}

type triggerPauseModel struct {
	bun.BaseModel `bun:"table:trigger_pauses"`

	FlowID   string    `bun:"flow_id,pk"`
	Key      string    `bun:"trigger_key,pk"`
	PausedBy *string   `bun:"paused_by"`
	PausedAt time.Time `bun:"paused_at"`
}

// PauseTrigger pauses the trigger of a flow named by key; pausing a paused
// trigger keeps who paused it first. An empty key, or one longer than
// MaxTriggerKey, is ErrInvalid; an unknown flow is ErrNotFound.
func (s *Store) PauseTrigger(ctx context.Context, flowID, key, userID string) error {
	if key == "" || len(key) > MaxTriggerKey {
		return fmt.Errorf("pause trigger: key of %d bytes: %w: 1 to %d", len(key), ErrInvalid, MaxTriggerKey)
	}
	m := triggerPauseModel{FlowID: flowID, Key: key, PausedBy: nullString(userID), PausedAt: s.timeNow()}
	_, err := s.db.NewInsert().Model(&m).On("CONFLICT (flow_id, trigger_key) DO NOTHING").Exec(ctx)
	return wrap(err, "pause trigger %q of flow %s", key, flowID)
}

// ResumeTrigger ends the pause of a flow's trigger; it reports whether the
// trigger was paused.
func (s *Store) ResumeTrigger(ctx context.Context, flowID, key string) (bool, error) {
	res, err := s.db.NewDelete().Model((*triggerPauseModel)(nil)).
		Where("? = ? AND ? = ?", bun.Ident("flow_id"), flowID, bun.Ident("trigger_key"), key).Exec(ctx)
	if err != nil {
		return false, wrap(err, "resume trigger %q of flow %s", key, flowID)
	}
	n, err := res.RowsAffected()
	return n > 0, wrap(err, "resume trigger %q of flow %s", key, flowID)
}

// TriggerPauses returns the paused triggers of a flow by key.
func (s *Store) TriggerPauses(ctx context.Context, flowID string) (map[string]TriggerPause, error) {
	var ms []triggerPauseModel
	err := s.rdb.NewSelect().Model(&ms).Where("? = ?", bun.Ident("flow_id"), flowID).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "paused triggers of flow %s", flowID)
	}
	out := make(map[string]TriggerPause, len(ms))
	for _, m := range ms {
		out[m.Key] = TriggerPause{Key: m.Key, PausedBy: fromNull(m.PausedBy), PausedAt: m.PausedAt.UTC()}
	}
	return out, nil
}
