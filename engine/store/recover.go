package store

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine"
)

// RenameWorkspace changes a workspace's display name.
func (s *Store) RenameWorkspace(ctx context.Context, id, name string) error {
	res, err := s.db.NewUpdate().Model((*workspaceModel)(nil)).
		Set("? = ?", bun.Ident("name"), name).
		Where("? = ?", bun.Ident("id"), id).Exec(ctx)
	return wrap(affected(res, err), "rename workspace %s", id)
}

// FailUnfinishedRuns marks runs still queued or running as failed, with the
// reason, and their unfinished cells as canceled. A server calls it at start:
// the processes of such runs died with the previous server. It returns how
// many runs it changed.
func (s *Store) FailUnfinishedRuns(ctx context.Context, reason string) (int64, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		now := s.timeNow()
		unfinished := []string{string(engine.RunQueued), string(engine.RunRunning)}
		res, err := tx.NewUpdate().Model((*cellRunModel)(nil)).
			Set("? = ?", bun.Ident("status"), string(engine.CellCanceled)).
			Where("? IN (?)", bun.Ident("status"), bun.In([]string{string(engine.CellPending), string(engine.CellRunning)})).
			Where("? IN (SELECT ? FROM ? WHERE ? IN (?))", bun.Ident("run_id"), bun.Ident("id"), bun.Ident("runs"), bun.Ident("status"), bun.In(unfinished)).
			Exec(ctx)
		if err != nil {
			return err
		}
		_ = res
		res, err = tx.NewUpdate().Model((*runModel)(nil)).
			Set("? = ?", bun.Ident("status"), string(engine.RunFailed)).
			Set("? = ?", bun.Ident("finished_at"), now).
			Set("? = ?", bun.Ident("error"), reason).
			Where("? IN (?)", bun.Ident("status"), bun.In(unfinished)).
			Exec(ctx)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, wrap(err, "fail unfinished runs")
}
