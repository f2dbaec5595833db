package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine"
)

// Retention is how long a workspace keeps its runs and their logs, set by
// its owners. 0 days keeps them forever.
type Retention struct {
	WorkspaceID  string
	KeepRunsDays int // a finished run's record: its events, cells and shares
	KeepLogsDays int // a finished run's log lines (cell.log events)
	UpdatedAt    time.Time
	UpdatedBy    string // user id; "" when unknown or never set
}

// DefaultRetention is what a workspace whose owners never chose keeps:
// run records forever, log lines 90 days.
var DefaultRetention = Retention{KeepRunsDays: 0, KeepLogsDays: 90}

// MaxRetentionDays bounds a retention setting (100 years).
const MaxRetentionDays = 36500

type retentionModel struct {
	bun.BaseModel `bun:"table:retention_settings"`

	WorkspaceID  string    `bun:"workspace_id,pk"`
	KeepRunsDays int       `bun:"keep_runs_days"`
	KeepLogsDays int       `bun:"keep_logs_days"`
	UpdatedAt    time.Time `bun:"updated_at"`
	UpdatedBy    *string   `bun:"updated_by"`
}

// SetRetention stores a workspace's retention, replacing any. Days outside
// 0…MaxRetentionDays are ErrInvalid.
func (s *Store) SetRetention(ctx context.Context, g Retention) error {
	for _, d := range []int{g.KeepRunsDays, g.KeepLogsDays} {
		if d < 0 || d > MaxRetentionDays {
			return fmt.Errorf("set retention: %w: days are 0 (forever) to %d", ErrInvalid, MaxRetentionDays)
		}
	}
	m := retentionModel{WorkspaceID: g.WorkspaceID, KeepRunsDays: g.KeepRunsDays, KeepLogsDays: g.KeepLogsDays,
		UpdatedAt: s.timeNow(), UpdatedBy: nullString(g.UpdatedBy)}
	q := s.db.NewInsert().Model(&m).On("CONFLICT (workspace_id) DO UPDATE")
	for _, c := range []string{"keep_runs_days", "keep_logs_days", "updated_at", "updated_by"} {
		q = q.Set("? = EXCLUDED.?", bun.Ident(c), bun.Ident(c))
	}
	_, err := q.Exec(ctx)
	return wrap(err, "set retention of workspace %s", g.WorkspaceID)
}

// RetentionOf reads a workspace's retention: DefaultRetention when its
// owners never set one.
func (s *Store) RetentionOf(ctx context.Context, wsID string) (Retention, error) {
	var m retentionModel
	err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("workspace_id"), wsID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		g := DefaultRetention
		g.WorkspaceID = wsID
		return g, nil
	}
	if err != nil {
		return Retention{}, wrap(err, "retention of workspace %s", wsID)
	}
	return fromRetentionModel(m), nil
}

func fromRetentionModel(m retentionModel) Retention {
	g := Retention{WorkspaceID: m.WorkspaceID, KeepRunsDays: m.KeepRunsDays, KeepLogsDays: m.KeepLogsDays, UpdatedAt: m.UpdatedAt.UTC()}
	if m.UpdatedBy != nil {
		g.UpdatedBy = *m.UpdatedBy
	}
	return g
}

// Retentions is every workspace's retention, the defaults for those
// without settings, in workspace id order.
func (s *Store) Retentions(ctx context.Context) ([]Retention, error) {
	var rows []struct {
		ID           string
		KeepRunsDays *int
		KeepLogsDays *int
	}
	err := s.rdb.NewRaw(`SELECT w.id, r.keep_runs_days, r.keep_logs_days
		FROM workspaces AS w LEFT JOIN retention_settings AS r ON r.workspace_id = w.id
		ORDER BY w.id`).Scan(ctx, &rows)
	if err != nil {
		return nil, wrap(err, "retention of every workspace")
	}
	out := make([]Retention, len(rows))
	for i, r := range rows {
		out[i] = DefaultRetention
		out[i].WorkspaceID = r.ID
		if r.KeepRunsDays != nil {
			out[i].KeepRunsDays, out[i].KeepLogsDays = *r.KeepRunsDays, *r.KeepLogsDays
		}
	}
	return out, nil
}

// RunsWithLogsBefore lists up to limit finished runs of a workspace,
// oldest first, that ended before t and whose log lines are still kept.
func (s *Store) RunsWithLogsBefore(ctx context.Context, wsID string, t time.Time, limit int) ([]string, error) {
	var ids []string
	err := s.rdb.NewSelect().Model((*runModel)(nil)).Column("id").
		Where("? = ?", bun.Ident("workspace_id"), wsID).
		Where("? IS NOT NULL", bun.Ident("finished_at")).
		Where("? < ?", bun.Ident("finished_at"), t.UTC()).
		Where("? IS NULL", bun.Ident("logs_pruned_at")).
		Where("? NOT IN (?)", bun.Ident("status"), bun.List(unfinished)).
		OrderExpr("finished_at, id").Limit(int64(limit)).Scan(ctx, &ids)
	return ids, wrap(err, "runs of workspace %s with logs before %s", wsID, t.Format(time.RFC3339))
}

// RunsBefore lists up to limit finished runs of a workspace, oldest first,
// created before t, except each flow's last run (the flow's history starts
// from it) and a run holding a cell's newest succeeded result in its flow
// (the notebook's "kernel state", LatestResults, reads it: a ▶ Run of one
// cell must still see the results of the cells above).
func (s *Store) RunsBefore(ctx context.Context, wsID string, t time.Time, limit int) ([]string, error) {
	var ids []string
	err := s.rdb.NewRaw(`SELECT r.id FROM runs AS r
		WHERE r.workspace_id = ? AND r.created_at < ? AND r.status NOT IN (?)
		AND EXISTS (SELECT 1 FROM runs AS l WHERE l.flow_id = r.flow_id
			AND (l.created_at > r.created_at OR (l.created_at = r.created_at AND l.id > r.id)))
		AND NOT EXISTS (SELECT 1 FROM cell_runs AS c
			WHERE c.run_id = r.id AND c.status = ? AND c.result IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM cell_runs AS n JOIN runs AS nr ON nr.id = n.run_id
				WHERE nr.flow_id = r.flow_id AND n.name = c.name AND n.status = ? AND n.result IS NOT NULL
				AND (nr.created_at > r.created_at OR (nr.created_at = r.created_at AND nr.id > r.id))))
		ORDER BY r.created_at, r.id LIMIT ?`, wsID, t.UTC(), bun.List(unfinished),
		string(engine.CellSucceeded), string(engine.CellSucceeded), limit).Scan(ctx, &ids)
	return ids, wrap(err, "runs of workspace %s before %s", wsID, t.Format(time.RFC3339))
}

// Pause is called between two batches of a prune: it yields to the
// studio's own work, and its error (the context's end) stops the prune.
type Pause func(ctx context.Context) error

// PruneBatch is how many rows one transaction of a prune deletes: short
// transactions, so that a run's writers and readers never wait long.
const PruneBatch = 500

// LogsPrunedText is the line a pruned cell's log shows where its lines
// were: from seq first to seq last, n events, pruned on day.
func LogsPrunedText(first, last int64, n int, day time.Time) string {
	return fmt.Sprintf("── log lines pruned on %s: events %d–%d (%d) of this cell's output are no longer kept ──",
		day.UTC().Format(time.DateOnly), first, last, n)
}

// PruneRunLogs deletes a finished run's log lines, keeping every other
// event and every seq's meaning: each cell's first cell.log event becomes
// one marker (stream engine.StreamPruned, LogsPrunedText as its line) that
// stands for the cell's log events up to its last, which are deleted in
// batches of PruneBatch rows, one short transaction each, with pause
// between. The cell's log_bytes becomes the marker's. Safe to call again
// after an interruption: a marker written before is kept. It returns how
// many events were deleted; a run not finished is ErrInvalid.
func (s *Store) PruneRunLogs(ctx context.Context, runID string, at time.Time, pause Pause) (int, error) {
	keep, err := s.markLogsPruned(ctx, runID, at)
	if err != nil {
		return 0, wrap(err, "prune the logs of run %s", runID)
	}
	n, err := s.deleteEvents(ctx, runID, true, keep, pause)
	if err != nil {
		return n, wrap(err, "prune the logs of run %s", runID)
	}
	_, err = s.db.NewUpdate().Model((*runModel)(nil)).
		Set("logs_pruned_at = ?", at.UTC().Truncate(time.Microsecond)).
		Where("? = ?", bun.Ident("id"), runID).Exec(ctx)
	return n, wrap(err, "prune the logs of run %s", runID)
}

// markLogsPruned writes each cell's marker, in one transaction, and
// returns the markers' seqs.
func (s *Store) markLogsPruned(ctx context.Context, runID string, at time.Time) (map[int64]bool, error) {
	keep := map[int64]bool{}
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		var status string
		if err := tx.NewSelect().Model((*runModel)(nil)).Column("status").
			Where("? = ?", bun.Ident("id"), runID).Scan(ctx, &status); err != nil {
			return err
		}
		if !engine.RunStatus(status).Done() {
			return fmt.Errorf("%w: the run is %s; only a finished run's logs are pruned", ErrInvalid, status)
		}
		var cells []struct {
			Cell  string
			First int64
			Last  int64
			N     int
		}
		err := tx.NewRaw(`SELECT cell, MIN(seq) AS first, MAX(seq) AS last, COUNT(*) AS n FROM run_events
			WHERE run_id = ? AND type = ? GROUP BY cell`, runID, string(engine.EventCellLog)).Scan(ctx, &cells)
		if err != nil {
			return err
		}
		for _, c := range cells {
			keep[c.First] = true
			var m eventModel
			if err := tx.NewSelect().Model(&m).Where("run_id = ? AND seq = ?", runID, c.First).Scan(ctx); err != nil {
				return err
			}
			var old engine.Event
			if json.Unmarshal([]byte(m.Data), &old) == nil && old.Stream == engine.StreamPruned {
				continue // marked before an interruption
			}
			e := engine.Event{Type: engine.EventCellLog, Run: runID, Seq: c.First, At: at.UTC(), Cell: c.Cell,
				Stream: engine.StreamPruned, Lines: []string{LogsPrunedText(c.First, c.Last, c.N, at)}}
			data := string(e.AppendJSON(nil))
			if _, err := tx.NewUpdate().Model((*eventModel)(nil)).Set("data = ?", data).
				Where("run_id = ? AND seq = ?", runID, c.First).Exec(ctx); err != nil {
				return err
			}
			if _, err := tx.NewUpdate().Model((*cellRunModel)(nil)).Set("log_bytes = ?", len(e.Lines[0])+1).
				Where("run_id = ? AND name = ?", runID, c.Cell).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	return keep, err
}

// deleteEvents deletes a run's events (only its cell.log ones when logs),
// except the seqs in keep, in ascending seq, PruneBatch rows a transaction.
func (s *Store) deleteEvents(ctx context.Context, runID string, logs bool, keep map[int64]bool, pause Pause) (int, error) {
	var after int64
	total := 0
	for {
		var seqs []int64
		q := s.db.NewSelect().Model((*eventModel)(nil)).Column("seq").
			Where("run_id = ? AND seq > ?", runID, after).Order("seq").Limit(int64(PruneBatch + len(keep)))
		if logs {
			q = q.Where("? = ?", bun.Ident("type"), string(engine.EventCellLog))
		}
		if err := q.Scan(ctx, &seqs); err != nil {
			return total, err
		}
		if len(seqs) == 0 {
			return total, nil
		}
		after = seqs[len(seqs)-1]
		del := seqs[:0]
		for _, q := range seqs {
			if !keep[q] {
				del = append(del, q)
			}
		}
		if len(del) > 0 {
			res, err := s.db.NewDelete().Model((*eventModel)(nil)).
				Where("run_id = ? AND seq IN (?)", runID, bun.List(del)).Exec(ctx)
			if err != nil {
				return total, err
			}
			n, _ := res.RowsAffected()
			total += int(n)
		}
		if pause != nil {
			if err := pause(ctx); err != nil {
				return total, err
			}
		}
	}
}

// DeleteRun deletes a finished run's record: its events in batches of
// PruneBatch (pause between), then the run with its cells and share links.
// The audit log keeps what it said of the run. A run not finished is
// ErrInvalid; one gone already, ErrNotFound.
func (s *Store) DeleteRun(ctx context.Context, runID string, pause Pause) error {
	var status string
	err := s.db.NewSelect().Model((*runModel)(nil)).Column("status").Where("? = ?", bun.Ident("id"), runID).Scan(ctx, &status)
	if err != nil {
		return wrap(err, "delete run %s", runID)
	}
	if !engine.RunStatus(status).Done() {
		return fmt.Errorf("delete run %s: %w: it is %s", runID, ErrInvalid, status)
	}
	if _, err := s.deleteEvents(ctx, runID, false, nil, pause); err != nil {
		return wrap(err, "delete run %s", runID)
	}
	res, err := s.db.NewDelete().Model((*runModel)(nil)).Where("? = ?", bun.Ident("id"), runID).
		Where("? NOT IN (?)", bun.Ident("status"), bun.List(unfinished)).Exec(ctx)
	return wrap(affected(res, err), "delete run %s", runID)
}

// DiskUse is what a workspace's runs keep in the database.
type DiskUse struct {
	Runs     int64 // run records
	LogBytes int64 // bytes of their log lines kept (a newline each), from the cells' running totals
}

// DiskUseOf sums a workspace's runs and their cells' stored log bytes: the
// running totals AppendEvents keeps, so it reads one row per cell run,
// not one per event.
func (s *Store) DiskUseOf(ctx context.Context, wsID string) (DiskUse, error) {
	var d DiskUse
	err := s.rdb.NewRaw(`SELECT
		(SELECT COUNT(*) FROM runs WHERE workspace_id = ?) AS runs,
		(SELECT COALESCE(SUM(c.log_bytes), 0) FROM cell_runs AS c JOIN runs AS r ON r.id = c.run_id WHERE r.workspace_id = ?) AS log_bytes`,
		wsID, wsID).Scan(ctx, &d.Runs, &d.LogBytes)
	return d, wrap(err, "disk used by workspace %s", wsID)
}
