package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// checkRunnable refuses a run of a flow that is gone (ErrNotFound) or
// archived (ErrArchived). On PostgreSQL it locks the flow's row, so an
// archive or a delete waits for the run's transaction and then sees it.
func checkRunnable(ctx context.Context, tx bun.Tx, postgres bool, flowID string) error {
	q := "SELECT archived_at FROM flows WHERE id = ?"
	if postgres {
		q += " FOR UPDATE"
	}
	var at sql.NullTime
	if err := tx.NewRaw(q, flowID).Scan(ctx, &at); err != nil {
		return fmt.Errorf("flow %s: %w", flowID, err)
	}
	if at.Valid {
		return fmt.Errorf("flow %s: %w since %s", flowID, ErrArchived, at.Time.UTC().Format(time.RFC3339))
	}
	return nil
}

// ArchiveFlow archives a flow: it stays with its runs, versions and
// shares, but is refused by every start (ErrArchived from EnqueueRun) and
// left out of the schedule. Archiving an archived flow keeps its first
// date. An unknown flow is ErrNotFound.
func (s *Store) ArchiveFlow(ctx context.Context, flowID string) error {
	return s.setArchived(ctx, flowID, true)
}

// UnarchiveFlow brings an archived flow back. An unknown flow is
// ErrNotFound.
func (s *Store) UnarchiveFlow(ctx context.Context, flowID string) error {
	return s.setArchived(ctx, flowID, false)
}

func (s *Store) setArchived(ctx context.Context, flowID string, archived bool) error {
	q := "UPDATE flows SET archived_at = NULL WHERE id = ?"
	args := []any{flowID}
	if archived {
		q = "UPDATE flows SET archived_at = COALESCE(archived_at, ?) WHERE id = ?"
		args = []any{s.timeNow(), flowID}
	}
	res, err := s.db.NewRaw(q, args...).Exec(ctx)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = ErrNotFound
		}
	}
	verb := "unarchive"
	if archived {
		verb = "archive"
	}
	return wrap(err, "%s flow %s", verb, flowID)
}

// FlowContents counts what deleting a flow removes with it.
type FlowContents struct {
	Versions int // saved versions
	Runs     int // runs, with their cells' results and events
	Shares   int // share links, live or revoked
	Hooks    int // webhooks
	Active   int // runs not ended (queued, running, waiting)
}

// CountFlowContents counts a flow's versions, runs, shares and hooks, and
// the runs of it that have not ended.
func (s *Store) CountFlowContents(ctx context.Context, flowID string) (FlowContents, error) {
	var c FlowContents
	err := s.rdb.NewRaw(`SELECT
	(SELECT COUNT(*) FROM versions WHERE flow_id = ?) AS versions,
	(SELECT COUNT(*) FROM runs WHERE flow_id = ?) AS runs,
	(SELECT COUNT(*) FROM shares WHERE flow_id = ?) AS shares,
	(SELECT COUNT(*) FROM hooks WHERE flow_id = ?) AS hooks,
	(SELECT COUNT(*) FROM runs WHERE flow_id = ? AND status IN (?)) AS active`,
		flowID, flowID, flowID, flowID, flowID, bun.List(unfinished)).Scan(ctx, &c.Versions, &c.Runs, &c.Shares, &c.Hooks, &c.Active)
	return c, wrap(err, "count what flow %s holds", flowID)
}

// DeleteFlow removes a flow and everything that belongs to it — its
// draft, versions, runs (with their results and events), shares, hooks,
// edit history and schedule claims — and returns what it counted before.
// It refuses (ErrActive) while a run of the flow has not ended. The audit
// log is not touched: its entries hold names, not references.
func (s *Store) DeleteFlow(ctx context.Context, flowID string) (FlowContents, error) {
	var c FlowContents
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		if s.postgres() {
			// Waits for a run being enqueued (checkRunnable locks the row too).
			if _, err := tx.NewRaw("SELECT id FROM flows WHERE id = ? FOR UPDATE", flowID).Exec(ctx); err != nil {
				return err
			}
		}
		err := tx.NewRaw(`SELECT
	(SELECT COUNT(*) FROM versions WHERE flow_id = ?) AS versions,
	(SELECT COUNT(*) FROM runs WHERE flow_id = ?) AS runs,
	(SELECT COUNT(*) FROM shares WHERE flow_id = ?) AS shares,
	(SELECT COUNT(*) FROM hooks WHERE flow_id = ?) AS hooks,
	(SELECT COUNT(*) FROM runs WHERE flow_id = ? AND status IN (?)) AS active`,
			flowID, flowID, flowID, flowID, flowID, bun.List(unfinished)).Scan(ctx, &c.Versions, &c.Runs, &c.Shares, &c.Hooks, &c.Active)
		if err != nil {
			return err
		}
		if c.Active > 0 {
			return fmt.Errorf("%d run(s): %w", c.Active, ErrActive)
		}
		// Every table that names the flow deletes its rows with it (ON
		// DELETE CASCADE): draft cells and edits, versions, runs and what
		// hangs on them, shares, hooks, git state, cron claims.
		res, err := tx.NewRaw("DELETE FROM flows WHERE id = ?", flowID).Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrActive) {
		return FlowContents{}, wrap(err, "delete flow %s", flowID)
	}
	if err != nil {
		return c, fmt.Errorf("delete flow %s: %w", flowID, err)
	}
	return c, nil
}
