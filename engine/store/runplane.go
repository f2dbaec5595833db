package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine"
)

// Channels of the run plane (PostgreSQL NOTIFY). Payloads carry ids, never
// events: an event may exceed NOTIFY's 8000 bytes; readers fetch it.
const (
	// ChannelEvents: "RUN SEQ FLOW", a run's events up to SEQ are stored.
	ChannelEvents = "opsbook_events"
	// ChannelRuns: "RUN FLOW", a run was made (queued or skipped).
	ChannelRuns = "opsbook_runs"
	// ChannelCancel: "RUN", someone asked to cancel a running run.
	ChannelCancel = "opsbook_cancel"
)

// unfinished are the statuses of a run that has not ended.
var unfinished = []string{string(engine.RunQueued), string(engine.RunRunning), string(engine.RunWaiting)}

// A Dispatcher hands runs to workers: the queue. DispatchTx makes the runs
// claimable as part of tx (a durable queue inserts its jobs there, so a
// run is dispatched exactly when the transaction commits); Dispatched is
// told after the commit (an in-memory queue hands them over now).
type Dispatcher interface {
	DispatchTx(ctx context.Context, tx *sql.Tx, runIDs []string) error
	Dispatched(runIDs []string)
}

// SetDispatcher sets the queue that runs are dispatched to. Without one,
// dispatched runs simply wait, queued (a web-only process still enqueues
// through a dispatcher of its own).
func (s *Store) SetDispatcher(d Dispatcher) { s.dispatcher = d }

func (s *Store) dispatchTx(ctx context.Context, tx bun.Tx, ids []string) error {
	if s.dispatcher == nil || len(ids) == 0 {
		return nil
	}
	return s.dispatcher.DispatchTx(ctx, tx.Tx, ids)
}

func (s *Store) dispatched(ids []string) {
	if s.dispatcher != nil && len(ids) > 0 {
		s.dispatcher.Dispatched(ids)
	}
}

// RunRequest is what a run was asked beyond its files and inputs: only
// some cells (a notebook's "run cell"), with the others' results; for a
// re-run of a failed run, which run (RerunOf), from which cell (From), and
// where each cell it does not execute ran (Reused).
type RunRequest struct {
	// Via says where a run was started from when it matters to the people
	// who read run lists: ViaForm.
	Via     string                     `json:"via,omitempty"`
	Cells   []string                   `json:"cells,omitempty"`
	Prior   map[string]json.RawMessage `json:"prior,omitempty"`
	RerunOf string                     `json:"rerun_of,omitempty"`
	From    string                     `json:"from,omitempty"`
	Reused  map[string]ReusedCell      `json:"reused,omitempty"`
}

// ReusedCell is a cell a re-run takes from an earlier run instead of
// executing it: the run it executed in (the re-run's RerunOf, or the run
// that one took it from) and how it ended there. Its result is in Prior.
type ReusedCell struct {
	Run    string            `json:"run"`
	Status engine.CellStatus `json:"status"`
}

// ViaForm is RunRequest.Via of a run started from a form link.
const ViaForm = "form"

// Enqueued is what EnqueueRun did.
type Enqueued struct {
	Run Run
	// Blocking is, for a run ended skipped, the id of a run that holds
	// the flow's slot.
	Blocking string
	// Cancel is, for overlap cancel, the run to cancel to make room.
	Cancel string
}

// EnqueueRun stores a new run and dispatches it, in one transaction, unless
// the flow is at its concurrency limit: then by overlap the run waits
// (queued, dispatched when a slot frees), ends skipped at once, or waits
// while the oldest running run is to be canceled (Enqueued.Cancel; the
// caller cancels it). limit 0 means no limit.
func (s *Store) EnqueueRun(ctx context.Context, r Run, limit int, overlap engine.Overlap) (Enqueued, error) {
	if r.ID == "" {
		r.ID = NewID("r")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.timeNow()
	}
	r.Status, r.ConcLimit, r.Dispatched = engine.RunQueued, limit, true
	var out Enqueued
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := checkRunnable(ctx, tx, s.postgres(), r.FlowID); err != nil {
			return err
		}
		if limit > 0 {
			active, err := s.lockActive(ctx, tx, r.FlowID)
			if err != nil {
				return err
			}
			if len(active) >= limit {
				switch overlap {
				case engine.OverlapSkip:
					r.Status, r.FinishedAt = engine.RunSkipped, r.CreatedAt
					out.Blocking = active[0].ID
					r.Error = fmt.Sprintf("skipped: the flow allows %d run(s) at once and run %s is still going", limit, active[0].ID)
				case engine.OverlapCancel:
					r.Dispatched = false
					out.Cancel = active[0].ID
				default:
					r.Dispatched = false
				}
			}
		}
		m := runModelOf(r)
		m.Dispatched = r.Dispatched
		if _, err := tx.NewInsert().Model(&m).Exec(ctx); err != nil {
			return err
		}
		if r.Status == engine.RunQueued && r.Dispatched {
			if err := s.dispatchTx(ctx, tx, []string{r.ID}); err != nil {
				return fmt.Errorf("dispatch: %w", err)
			}
		}
		return s.notifyTx(ctx, tx, ChannelRuns, r.ID+" "+r.FlowID)
	})
	if err != nil {
		return Enqueued{}, wrap(err, "enqueue run of flow %s", r.FlowID)
	}
	if r.Status == engine.RunQueued && r.Dispatched {
		s.dispatched([]string{r.ID})
	}
	out.Run, err = runOf(ptr(runModelOf(r)), true)
	out.Run.Dispatched = r.Dispatched
	return out, err
}

func ptr[T any](v T) *T { return &v }

func runModelOf(r Run) runModel {
	m := runModel{
		ID: r.ID, WorkspaceID: r.WorkspaceID, FlowID: r.FlowID, Version: r.Version, Hash: r.Hash,
		Status: string(r.Status), Inputs: string(r.Inputs), Files: encodeFiles(r.Files),
		StartedBy: nullString(r.StartedBy), CreatedAt: r.CreatedAt.UTC().Truncate(time.Microsecond),
		StartedAt: fromTime(r.StartedAt), FinishedAt: fromTime(r.FinishedAt), DurationMS: r.DurationMS,
		Error: r.Error, Worker: r.Worker, LeaseUntil: fromTime(r.LeaseUntil), Dispatched: r.Dispatched,
		ConcLimit: r.ConcLimit, Request: string(r.Request), RerunOf: nullString(r.RerunOf),
	}
	if m.Inputs == "" {
		m.Inputs = "{}"
	}
	if m.Request == "" {
		m.Request = "{}"
	}
	return m
}

// lockActive locks the flow against other starts and ends (PostgreSQL: its
// row; SQLite's writes are one at a time already) and lists its runs that
// hold a slot: running, waiting, or queued and dispatched, oldest first.
func (s *Store) lockActive(ctx context.Context, tx bun.Tx, flowID string) ([]runModel, error) {
	if s.postgres() {
		if _, err := tx.NewRaw("SELECT id FROM flows WHERE id = ? FOR UPDATE", flowID).Exec(ctx); err != nil {
			return nil, fmt.Errorf("lock flow %s: %w", flowID, err)
		}
	}
	var ms []runModel
	err := tx.NewSelect().Model(&ms).Column("id", "status", "dispatched", "conc_limit", "created_at").
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? IN (?)", bun.Ident("status"), bun.List(unfinished)).
		Order("created_at", "id").Scan(ctx)
	if err != nil {
		return nil, err
	}
	active := ms[:0:0]
	for _, m := range ms {
		if m.Status != string(engine.RunQueued) || m.Dispatched {
			active = append(active, m)
		}
	}
	// Running and waiting runs first: they are the ones to cancel or name.
	var first, rest []runModel
	for _, m := range active {
		if m.Status == string(engine.RunQueued) {
			rest = append(rest, m)
		} else {
			first = append(first, m)
		}
	}
	return append(first, rest...), nil
}

// lockFlowOf locks the row of a run's flow (PostgreSQL). Whatever ends a
// run takes it before the run's row: promote changes waiting runs under
// it, so an end holding a run while it waits for the flow would deadlock
// with a promotion, or with a cancel of that run.
func lockFlowOf(ctx context.Context, tx bun.Tx, runID string) error {
	_, err := tx.NewRaw(`SELECT f.id FROM flows AS f JOIN runs AS r ON r.flow_id = f.id
		WHERE r.id = ? FOR UPDATE OF f`, runID).Exec(ctx)
	return err
}

// promote dispatches the flow's waiting runs (queued, not dispatched) that
// now fit under their limit, oldest first, in tx.
func (s *Store) promote(ctx context.Context, tx bun.Tx, flowID string) ([]string, error) {
	if s.postgres() {
		if _, err := tx.NewRaw("SELECT id FROM flows WHERE id = ? FOR UPDATE", flowID).Exec(ctx); err != nil {
			return nil, err
		}
	}
	var ms []runModel
	err := tx.NewSelect().Model(&ms).Column("id", "status", "dispatched", "conc_limit").
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? IN (?)", bun.Ident("status"), bun.List(unfinished)).
		Order("created_at", "id").Scan(ctx)
	if err != nil {
		return nil, err
	}
	active := 0
	for _, m := range ms {
		if m.Status != string(engine.RunQueued) || m.Dispatched {
			active++
		}
	}
	var ids []string
	for _, m := range ms {
		if m.Status == string(engine.RunQueued) && !m.Dispatched && active < max(m.ConcLimit, 1) {
			ids = append(ids, m.ID)
			active++
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := tx.NewUpdate().Model((*runModel)(nil)).Set("? = TRUE", bun.Ident("dispatched")).
		Where("? IN (?)", bun.Ident("id"), bun.List(ids)).Exec(ctx); err != nil {
		return nil, err
	}
	return ids, s.dispatchTx(ctx, tx, ids)
}

// ClaimRun makes a dispatched queued run running, held by worker until
// until. It reports false (and no error) when the run is not queued any
// more: canceled while it waited, or claimed before (a job delivered
// twice); and when it still waits for its flow's slot (a stray job must
// not pass the concurrency gate). A run is never claimed twice.
func (s *Store) ClaimRun(ctx context.Context, id, worker string, until time.Time) (Run, bool, error) {
	now := s.timeNow()
	var ms []runModel
	_, err := s.db.NewUpdate().Model((*runModel)(nil)).
		Set("? = ?", bun.Ident("status"), string(engine.RunRunning)).
		Set("? = ?", bun.Ident("worker"), worker).
		Set("? = ?", bun.Ident("lease_until"), until.UTC().Truncate(time.Microsecond)).
		// A run that waited for an approval keeps its first start.
		Set("? = COALESCE(?, ?)", bun.Ident("started_at"), bun.Ident("started_at"), now).
		Where("? = ?", bun.Ident("id"), id).
		Where("? = ?", bun.Ident("status"), string(engine.RunQueued)).
		Where("? = TRUE", bun.Ident("dispatched")).
		Returning("*").
		Exec(ctx, &ms)
	if err != nil {
		return Run{}, false, wrap(err, "claim run %s", id)
	}
	if len(ms) == 0 {
		return Run{}, false, nil
	}
	r, err := runOf(&ms[0], true)
	if err != nil {
		return Run{}, false, fmt.Errorf("claim run %s: %w", id, err)
	}
	return r, true, nil
}

// RenewLeases extends the leases of the running runs worker holds to until,
// and lists them: a run the worker thinks it holds but that is not listed
// was taken from it (its lease expired and it was ended "worker lost").
func (s *Store) RenewLeases(ctx context.Context, worker string, until time.Time) ([]string, error) {
	var ids []string
	_, err := s.db.NewUpdate().Model((*runModel)(nil)).
		Set("? = ?", bun.Ident("lease_until"), until.UTC().Truncate(time.Microsecond)).
		Where("? = ?", bun.Ident("worker"), worker).
		Where("? = ?", bun.Ident("status"), string(engine.RunRunning)).
		Returning("id").Exec(ctx, &ids)
	return ids, wrap(err, "renew the leases of worker %s", worker)
}

// EndRun ends a run that has not ended yet, when its status is one of from
// (all unfinished statuses when from is empty): its unfinished cells end
// (pending → canceled, running → status), a run.finished event with status
// and reason is stored after its last event (so every viewer sees the end),
// and the flow's waiting runs move up. It reports whether it ended the run;
// false when it had ended already or was in another status.
func (s *Store) EndRun(ctx context.Context, id string, status engine.RunStatus, reason string, from ...engine.RunStatus) (bool, error) {
	return s.endRun(ctx, id, status, reason, from, nil)
}

// endRun is EndRun with an extra condition on the locked row.
func (s *Store) endRun(ctx context.Context, id string, status engine.RunStatus, reason string, from []engine.RunStatus, cond func(m *runModel) bool) (bool, error) {
	allowed := unfinished
	if len(from) > 0 {
		allowed = nil
		for _, f := range from {
			allowed = append(allowed, string(f))
		}
	}
	ended := false
	var promoted []string
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		var m runModel
		q := tx.NewSelect().Model(&m).ExcludeColumn("files", "inputs", "request").Where("? = ?", bun.Ident("id"), id)
		if s.postgres() {
			if err := lockFlowOf(ctx, tx, id); err != nil {
				return err
			}
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return err
		}
		if !contains(allowed, m.Status) || (cond != nil && !cond(&m)) {
			return nil
		}
		var cells []cellRunModel
		if err := tx.NewSelect().Model(&cells).Column("name", "status", "attempts").
			Where("? = ?", bun.Ident("run_id"), id).
			Where("? IN (?)", bun.Ident("status"), bun.List([]string{string(engine.CellPending), string(engine.CellRunning), string(engine.CellWaiting)})).
			Order("position").Scan(ctx); err != nil {
			return err
		}
		now := s.timeNow()
		var evs []engine.Event
		cellStatus := string(engine.CellCanceled)
		if status == engine.RunFailed {
			cellStatus = string(engine.CellFailed)
		}
		for _, c := range cells {
			st := string(engine.CellCanceled)
			if c.Status != string(engine.CellPending) {
				st = cellStatus
			}
			evs = append(evs, engine.Event{Type: engine.EventCellFinished, Run: id, At: now, Cell: c.Name, Status: st, Attempts: c.Attempts, Error: reason})
		}
		var dur int64
		if m.StartedAt != nil {
			dur = now.Sub(*m.StartedAt).Milliseconds()
		}
		evs = append(evs, engine.Event{Type: engine.EventRunFinished, Run: id, At: now, Status: string(status), DurationMS: dur, Error: reason})
		if err := numberEvents(ctx, tx, id, evs); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, id, evs); err != nil {
			return err
		}
		var err error
		if promoted, err = s.applyEvents(ctx, tx, id, evs); err != nil {
			return err
		}
		ended = true
		return s.notifyEvents(ctx, tx, id, evs[len(evs)-1].Seq, string(status))
	})
	if err != nil {
		return false, wrap(err, "end run %s", id)
	}
	s.dispatched(promoted)
	return ended, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ReapLost ends the running runs whose lease expired before now as failed,
// "worker lost": the process that held them stopped heartbeating (killed,
// or cut off from the database). Runs are never run again: their cells may
// have had effects. It returns the ids it ended.
func (s *Store) ReapLost(ctx context.Context, now time.Time) ([]string, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var ids []string
	err := s.rdb.NewSelect().Model((*runModel)(nil)).Column("id").
		Where("? = ?", bun.Ident("status"), string(engine.RunRunning)).
		Where("(? IS NULL OR ? < ?)", bun.Ident("lease_until"), bun.Ident("lease_until"), now).
		Scan(ctx, &ids)
	if err != nil {
		return nil, wrap(err, "find lost runs")
	}
	var out []string
	var errs []error
	for _, id := range ids {
		ok, err := s.endRun(ctx, id, engine.RunFailed, "worker lost: the process running it stopped (its lease expired); the run is not retried, as its cells may have had effects",
			[]engine.RunStatus{engine.RunRunning}, func(m *runModel) bool { return m.LeaseUntil == nil || m.LeaseUntil.Before(now) })
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			out = append(out, id)
		}
	}
	return out, errors.Join(errs...)
}

// DispatchedQueued lists the queued, dispatched runs, oldest first: an
// in-memory queue starting up hands them to its workers again (nothing of
// them ran).
func (s *Store) DispatchedQueued(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.rdb.NewSelect().Model((*runModel)(nil)).Column("id").
		Where("? = ?", bun.Ident("status"), string(engine.RunQueued)).
		Where("? = TRUE", bun.Ident("dispatched")).
		Order("created_at", "id").Scan(ctx, &ids)
	return ids, wrap(err, "queued runs")
}

// notifyEvents tells the other processes that a run's events up to seq
// are stored, with the run's flow (read in the database, not here) and,
// when the batch ended the run, its final status: "RUN SEQ FLOW[ STATUS]".
func (s *Store) notifyEvents(ctx context.Context, tx bun.Tx, runID string, seq int64, final string) error {
	if !s.postgres() {
		return nil
	}
	tail := ""
	if final != "" {
		tail = " " + final
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_notify(?, ? || ' ' || COALESCE((SELECT flow_id FROM runs WHERE id = ?), '') || ?)",
		s.Channel(ChannelEvents), runID+" "+strconv.FormatInt(seq, 10), runID, tail)
	return err
}

// finalStatus is the status of the batch's run.finished, if it has one.
func finalStatus(events []engine.Event) string {
	for i := range events {
		if events[i].Type == engine.EventRunFinished {
			return events[i].Status
		}
	}
	return ""
}

// EventsNotice reads a ChannelEvents payload.
func (n Notice) EventsNotice() (runID string, seq int64, flowID string, ok bool) {
	e, ok := n.RunEvents()
	return e.Run, e.Seq, e.Flow, ok
}

// RunEventsNotice is a ChannelEvents payload read whole.
type RunEventsNotice struct {
	Run  string
	Seq  int64
	Flow string
	// Final is the run's final status when this batch ended it.
	Final engine.RunStatus
}

// RunEvents reads a ChannelEvents payload whole.
func (n Notice) RunEvents() (RunEventsNotice, bool) {
	f := strings.Fields(n.Payload)
	if len(f) < 2 {
		return RunEventsNotice{}, false
	}
	seq, err := strconv.ParseInt(f[1], 10, 64)
	e := RunEventsNotice{Run: f[0], Seq: seq}
	if len(f) > 2 {
		e.Flow = f[2]
	}
	if len(f) > 3 {
		e.Final = engine.RunStatus(f[3])
	}
	return e, err == nil
}

// RunsNotice reads a ChannelRuns payload.
func (n Notice) RunsNotice() (runID, flowID string, ok bool) {
	return strings.Cut(n.Payload, " ")
}

// UnfinishedRuns lists the ids of a flow's runs that have not ended,
// oldest first.
func (s *Store) UnfinishedRuns(ctx context.Context, flowID string) ([]string, error) {
	var ids []string
	err := s.rdb.NewSelect().Model((*runModel)(nil)).Column("id").
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? IN (?)", bun.Ident("status"), bun.List(unfinished)).
		Order("created_at", "id").Scan(ctx, &ids)
	return ids, wrap(err, "unfinished runs of flow %s", flowID)
}

// SQLDB is the database/sql handle writes go through (River inserts its
// jobs through it, in the run's transaction).
func (s *Store) SQLDB() *sql.DB { return s.db.DB }
