package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine"
)

// insertChunk bounds the rows of one INSERT, so a huge batch does not make a
// huge statement.
const insertChunk = 500

// AppendEvents stores a batch of a run's events in one transaction, and
// applies them to the run and its cell runs in the same transaction:
// run.started → running and started_at (and a pending row for each of its
// Cells); cell.started → running and the attempt; cell.finished → status,
// attempts, duration, result; run.finished → status, finished_at, duration,
// error; cell.log → log_bytes grows by the lines' bytes plus a newline each.
//
// Each event's Run must be runID or empty. Events with Seq 0 are numbered
// after the last seq stored or seen in the batch, in place in events. A seq
// stored before is ErrAlreadyExists, and then nothing of the batch is kept;
// an unknown run is ErrNotFound.
func (s *Store) AppendEvents(ctx context.Context, runID string, events []engine.Event) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		switch events[i].Run {
		case runID:
		case "":
			events[i].Run = runID
		default:
			return fmt.Errorf("append events to run %s: event %d belongs to run %s", runID, i, events[i].Run)
		}
	}
	var promoted []string
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		if s.postgres() {
			// The flow's row before the run's when the batch ends the run
			// (lockFlowOf); the run's row before any event, as EndRun does,
			// so that the two never wait on each other's rows or index
			// entries, and seqs are numbered one batch at a time.
			for i := range events {
				if events[i].Type == engine.EventRunFinished {
					if err := lockFlowOf(ctx, tx, runID); err != nil {
						return err
					}
					break
				}
			}
			if _, err := tx.NewRaw("SELECT id FROM runs WHERE id = ? FOR NO KEY UPDATE", runID).Exec(ctx); err != nil {
				return err
			}
		}
		if err := numberEvents(ctx, tx, runID, events); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, runID, events); err != nil {
			return err
		}
		var err error
		if promoted, err = s.applyEvents(ctx, tx, runID, events); err != nil {
			return err
		}
		return s.notifyEvents(ctx, tx, runID, events[len(events)-1].Seq, finalStatus(events))
	})
	if err != nil {
		return wrap(err, "append %d events to run %s", len(events), runID)
	}
	s.dispatched(promoted)
	return nil
}

func numberEvents(ctx context.Context, tx bun.Tx, runID string, events []engine.Event) error {
	need := false
	for i := range events {
		if events[i].Seq == 0 {
			need = true
			break
		}
	}
	if !need {
		return nil
	}
	last, err := lastSeq(ctx, tx, runID)
	if err != nil {
		return err
	}
	for i := range events {
		if events[i].Seq == 0 {
			last++
			events[i].Seq = last
		} else {
			last = max(last, events[i].Seq)
		}
	}
	return nil
}

func insertEvents(ctx context.Context, tx bun.Tx, runID string, events []engine.Event) error {
	// Encode every line into one buffer and convert it to a string once:
	// each row's data is a substring of it, not a copy.
	var buf []byte
	ends := make([]int, len(events))
	for i := range events {
		buf = events[i].AppendJSON(buf)
		ends[i] = len(buf)
	}
	all := string(buf)
	rows := make([]eventModel, len(events))
	start := 0
	for i := range events {
		rows[i] = eventModel{
			RunID: runID,
			Seq:   events[i].Seq,
			Type:  string(events[i].Type),
			Cell:  events[i].Cell,
			Data:  all[start:ends[i]],
		}
		start = ends[i]
	}
	for len(rows) > 0 {
		n := min(len(rows), insertChunk)
		chunk := rows[:n]
		if _, err := tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// nextPosition puts a cell first known from its events after the others.
const nextPosition = `(SELECT COALESCE(MAX(p.position) + 1, 0) FROM cell_runs AS p WHERE p.run_id = ?)`

// applyEvents applies events to the run and its cells (see AppendEvents).
// run.started and run.finished change only a run that has not ended (a
// late one never flips a final status); run.finished moves the flow's
// waiting runs up: it returns the runs it dispatched.
func (s *Store) applyEvents(ctx context.Context, tx bun.Tx, runID string, events []engine.Event) ([]string, error) {
	var promoted []string
	cells := map[string]*cellFold{}
	var cellOrder []string
	var logCells []string
	logBytes := map[string]int64{}
	for i := range events {
		e := &events[i]
		at := e.At.UTC().Truncate(time.Microsecond)
		var err error
		switch e.Type {
		case engine.EventRunStarted:
			// A run ended before its worker's first batch came (canceled
			// just after the claim) stays ended, and gets no pending cells.
			var res sql.Result
			res, err = tx.NewUpdate().Model((*runModel)(nil)).
				Set("? = ?", bun.Ident("status"), string(engine.RunRunning)).
				Set("? = ?", bun.Ident("started_at"), at).
				Where("? = ?", bun.Ident("id"), runID).
				Where("? IN (?)", bun.Ident("status"), bun.List(unfinished)).
				Exec(ctx)
			var n int64
			if err == nil {
				n, err = res.RowsAffected()
			}
			if err == nil && n > 0 && len(e.Cells) > 0 {
				rows := make([]cellRunModel, len(e.Cells))
				for j, name := range e.Cells {
					rows[j] = cellRunModel{RunID: runID, Position: j, Name: name, Status: string(engine.CellPending)}
				}
				_, err = tx.NewInsert().Model(&rows).
					On("CONFLICT (run_id, name) DO UPDATE").
					Set("? = EXCLUDED.?", bun.Ident("position"), bun.Ident("position")).
					Exec(ctx)
			}
		case engine.EventApprovalRequested:
			// The cell waits; the run waits once its worker is done with
			// it (SuspendRun).
			c := cells[e.Cell]
			if c == nil {
				c = &cellFold{name: e.Cell}
				cells[e.Cell] = c
				cellOrder = append(cellOrder, e.Cell)
			}
			c.status, c.attempts = string(engine.CellWaiting), max(c.attempts, 1)
		case engine.EventCellStarted, engine.EventCellFinished:
			// Folded per cell, stored in one statement after the loop.
			c := cells[e.Cell]
			if c == nil {
				c = &cellFold{name: e.Cell}
				cells[e.Cell] = c
				cellOrder = append(cellOrder, e.Cell)
			}
			c.add(e, at)
		case engine.EventCellLog:
			if _, ok := logBytes[e.Cell]; !ok {
				logCells = append(logCells, e.Cell)
			}
			for _, l := range e.Lines {
				logBytes[e.Cell] += int64(len(l)) + 1
			}
		case engine.EventRunFinished:
			var flows []runModel
			_, err = tx.NewUpdate().Model((*runModel)(nil)).
				Set("? = ?", bun.Ident("status"), e.Status).
				Set("? = ?", bun.Ident("finished_at"), at).
				Set("? = ?", bun.Ident("duration_ms"), e.DurationMS).
				Set("? = ?", bun.Ident("error"), e.Error).
				Set("? = NULL", bun.Ident("lease_until")).
				Where("? = ?", bun.Ident("id"), runID).
				Where("? IN (?)", bun.Ident("status"), bun.List(unfinished)).
				Returning("flow_id").
				Exec(ctx, &flows)
			// Every end may free a slot: a run started before its flow
			// had a limit holds one too.
			if err == nil && len(flows) == 1 {
				var ids []string
				ids, err = s.promote(ctx, tx, flows[0].FlowID)
				promoted = append(promoted, ids...)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("apply %s event %d: %w", e.Type, e.Seq, err)
		}
	}
	if err := upsertCells(ctx, tx, runID, cellOrder, cells); err != nil {
		return nil, err
	}
	for _, cell := range logCells {
		_, err := tx.NewRaw(`INSERT INTO cell_runs AS c (run_id, position, name, status, log_bytes)
			VALUES (?, `+nextPosition+`, ?, ?, ?)
			ON CONFLICT (run_id, name) DO UPDATE SET log_bytes = c.log_bytes + EXCLUDED.log_bytes`,
			runID, runID, cell, string(engine.CellRunning), logBytes[cell]).Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("add log bytes of cell %q: %w", cell, err)
		}
	}
	return promoted, nil
}

// Events reads a run's events with seq > since, in seq order; limit <= 0
// reads them all.
func (s *Store) Events(ctx context.Context, runID string, since int64, limit int) ([]StoredEvent, error) {
	evs, err := s.events(ctx, runID, "", since, limit)
	return evs, wrap(err, "events of run %s", runID)
}

// LogEvents reads the cell.log events of one cell of a run with seq >
// since, in seq order; limit <= 0 reads them all.
func (s *Store) LogEvents(ctx context.Context, runID, cell string, since int64, limit int) ([]StoredEvent, error) {
	evs, err := s.events(ctx, runID, cell, since, limit)
	return evs, wrap(err, "log of cell %q of run %s", cell, runID)
}

func (s *Store) events(ctx context.Context, runID, cell string, since int64, limit int) ([]StoredEvent, error) {
	var ms []eventModel
	q := s.rdb.NewSelect().Model(&ms).
		Where("? = ?", bun.Ident("run_id"), runID).
		Where("? > ?", bun.Ident("seq"), since).
		Order("seq")
	if cell != "" {
		q = q.Where("? = ?", bun.Ident("type"), string(engine.EventCellLog)).
			Where("? = ?", bun.Ident("cell"), cell)
	}
	if limit > 0 {
		q = q.Limit(int64(limit))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]StoredEvent, len(ms))
	for i, m := range ms {
		out[i] = StoredEvent{
			Seq:  m.Seq,
			Type: engine.EventType(m.Type),
			Cell: m.Cell,
			Data: json.RawMessage(m.Data),
		}
	}
	return out, nil
}

// LastSeq is the seq of a run's last stored event; 0 when none is stored.
func (s *Store) LastSeq(ctx context.Context, runID string) (int64, error) {
	var n int64
	err := s.rdb.NewSelect().Model((*eventModel)(nil)).
		ColumnExpr("COALESCE(MAX(?), 0)", bun.Ident("seq")).
		Where("? = ?", bun.Ident("run_id"), runID).
		Scan(ctx, &n)
	return n, wrap(err, "last event of run %s", runID)
}

func lastSeq(ctx context.Context, tx bun.Tx, runID string) (int64, error) {
	var n int64
	err := tx.NewSelect().Model((*eventModel)(nil)).
		ColumnExpr("COALESCE(MAX(?), 0)", bun.Ident("seq")).
		Where("? = ?", bun.Ident("run_id"), runID).
		Scan(ctx, &n)
	return n, err
}

// LatestResults is, for each cell name of a flow, the result of its most
// recent succeeded cell run in any run of the flow: the notebook's "kernel
// state", what a cell run alone sees of the cells above it.
func (s *Store) LatestResults(ctx context.Context, flowID string) (map[string]json.RawMessage, error) {
	var rows []struct {
		Name   string
		Result string
	}
	err := s.rdb.NewRaw(`SELECT name, result FROM (
		SELECT c.name, c.result, ROW_NUMBER() OVER (
			PARTITION BY c.name
			ORDER BY COALESCE(c.finished_at, r.created_at) DESC, r.created_at DESC, r.id DESC) AS n
		FROM cell_runs AS c JOIN runs AS r ON r.id = c.run_id
		WHERE r.flow_id = ? AND c.status = ? AND c.result IS NOT NULL) AS latest
		WHERE n = 1`, flowID, string(engine.CellSucceeded)).Scan(ctx, &rows)
	if err != nil {
		return nil, wrap(err, "latest results of flow %s", flowID)
	}
	out := make(map[string]json.RawMessage, len(rows))
	for _, r := range rows {
		out[r.Name] = json.RawMessage(r.Result)
	}
	return out, nil
}

// cellFold is what a batch's cell.started and cell.finished events say of
// one cell, folded in order: the state its row ends in.
type cellFold struct {
	name       string
	status     string
	attempts   int
	startedAt  *time.Time // the batch's first start
	finishedAt *time.Time // the batch's last finish
	duration   int64
	result     *string
}

func (c *cellFold) add(e *engine.Event, at time.Time) {
	if e.Type == engine.EventCellStarted {
		c.status, c.attempts = string(engine.CellRunning), e.Attempt
		if c.startedAt == nil {
			c.startedAt = &at
		}
		return
	}
	c.status, c.attempts, c.finishedAt, c.duration, c.result = e.Status, e.Attempts, &at, e.DurationMS, nil
	if len(e.Result) > 0 {
		r := string(e.Result)
		c.result = &r
	}
}

// upsertCells stores the folded cells of a batch in one statement: a row
// keeps its first start; a finish in the batch sets the finish, duration
// and result, a start alone leaves the earlier ones; a cell first known
// here goes after the others.
func upsertCells(ctx context.Context, tx bun.Tx, runID string, order []string, cells map[string]*cellFold) error {
	if len(order) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO cell_runs AS c (run_id, position, name, status, attempts, started_at, finished_at, duration_ms, result) VALUES `)
	args := make([]any, 0, len(order)*9)
	for i, name := range order {
		c := cells[name]
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(`(?, ` + nextPosition + ` + ?, ?, ?, ?, ?, ?, ?, ?)`)
		args = append(args, runID, runID, i, c.name, c.status, c.attempts, c.startedAt, c.finishedAt, c.duration, c.result)
	}
	q.WriteString(` ON CONFLICT (run_id, name) DO UPDATE SET status = EXCLUDED.status, attempts = EXCLUDED.attempts,
		started_at = COALESCE(c.started_at, EXCLUDED.started_at),
		finished_at = COALESCE(EXCLUDED.finished_at, c.finished_at),
		duration_ms = CASE WHEN EXCLUDED.finished_at IS NULL THEN c.duration_ms ELSE EXCLUDED.duration_ms END,
		result = CASE WHEN EXCLUDED.finished_at IS NULL THEN c.result ELSE EXCLUDED.result END`)
	if _, err := tx.NewRaw(q.String(), args...).Exec(ctx); err != nil {
		return fmt.Errorf("store the cells of %d events: %w", len(order), err)
	}
	return nil
}
