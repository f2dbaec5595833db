package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine"
)

// DefaultListLimit is how many runs a list returns when asked for limit <= 0.
const DefaultListLimit = 100

// CreateRun stores a new run. Empty ID, Status, Inputs and CreatedAt become
// NewID("r"), queued, {} and now; the stored run is returned.
func (s *Store) CreateRun(ctx context.Context, r Run) (Run, error) {
	if r.ID == "" {
		r.ID = NewID("r")
	}
	if r.Status == "" {
		r.Status = engine.RunQueued
	}
	if len(r.Inputs) == 0 {
		r.Inputs = json.RawMessage("{}")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.timeNow()
	}
	m := runModel{
		ID:          r.ID,
		WorkspaceID: r.WorkspaceID,
		FlowID:      r.FlowID,
		Version:     r.Version,
		Hash:        r.Hash,
		Status:      string(r.Status),
		Inputs:      string(r.Inputs),
		Files:       encodeFiles(r.Files),
		StartedBy:   nullString(r.StartedBy),
		CreatedAt:   r.CreatedAt.UTC().Truncate(time.Microsecond),
		StartedAt:   fromTime(r.StartedAt),
		FinishedAt:  fromTime(r.FinishedAt),
		DurationMS:  r.DurationMS,
		Error:       r.Error,
		Worker:      r.Worker,
		LeaseUntil:  fromTime(r.LeaseUntil),
		Dispatched:  true,
		ConcLimit:   r.ConcLimit,
		Request:     string(r.Request),
		RerunOf:     nullString(r.RerunOf),
	}
	if m.Request == "" {
		m.Request = "{}"
	}
	if _, err := s.db.NewInsert().Model(&m).Exec(ctx); err != nil {
		return Run{}, wrap(err, "create run of flow %s", r.FlowID)
	}
	return runOf(&m, true)
}

// Run reads a run with its files.
func (s *Store) Run(ctx context.Context, id string) (Run, error) {
	var m runModel
	err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("id"), id).Scan(ctx)
	if err != nil {
		return Run{}, wrap(err, "run %s", id)
	}
	r, err := runOf(&m, true)
	if err != nil {
		return Run{}, fmt.Errorf("run %s: %w", id, err)
	}
	return r, nil
}

// RunsOfFlow lists a flow's runs, newest first, without their Files; limit
// <= 0 means DefaultListLimit.
func (s *Store) RunsOfFlow(ctx context.Context, flowID string, limit int) ([]Run, error) {
	rs, err := s.runs(ctx, "flow_id", flowID, limit)
	return rs, wrap(err, "runs of flow %s", flowID)
}

// RunsOfWorkspace lists a workspace's runs, newest first, without their
// Files; limit <= 0 means DefaultListLimit.
func (s *Store) RunsOfWorkspace(ctx context.Context, wsID string, limit int) ([]Run, error) {
	rs, err := s.runs(ctx, "workspace_id", wsID, limit)
	return rs, wrap(err, "runs of workspace %s", wsID)
}

func (s *Store) runs(ctx context.Context, column, value string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	var ms []runModel
	err := s.rdb.NewSelect().Model(&ms).ExcludeColumn("files").
		Where("? = ?", bun.Ident(column), value).
		Order("created_at DESC", "id DESC").
		Limit(int64(limit)).
		Scan(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Run, len(ms))
	for i := range ms {
		if out[i], err = runOf(&ms[i], false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RerunsOf lists the ids of the runs that re-run run id, newest first (at
// most 20).
func (s *Store) RerunsOf(ctx context.Context, id string) ([]string, error) {
	var ids []string
	err := s.rdb.NewSelect().Model((*runModel)(nil)).Column("id").
		Where("? = ?", bun.Ident("rerun_of"), id).
		Order("created_at DESC", "id DESC").Limit(20).Scan(ctx, &ids)
	return ids, wrap(err, "re-runs of run %s", id)
}

// UpdateRun sets a run's status, and those of u's other fields that are not
// zero.
func (s *Store) UpdateRun(ctx context.Context, id string, u RunUpdate) error {
	q := s.db.NewUpdate().Model((*runModel)(nil)).
		Set("? = ?", bun.Ident("status"), string(u.Status)).
		Where("? = ?", bun.Ident("id"), id)
	if !u.StartedAt.IsZero() {
		q = q.Set("? = ?", bun.Ident("started_at"), fromTime(u.StartedAt))
	}
	if !u.FinishedAt.IsZero() {
		q = q.Set("? = ?", bun.Ident("finished_at"), fromTime(u.FinishedAt))
	}
	if u.DurationMS != 0 {
		q = q.Set("? = ?", bun.Ident("duration_ms"), u.DurationMS)
	}
	if u.Error != "" {
		q = q.Set("? = ?", bun.Ident("error"), u.Error)
	}
	res, err := q.Exec(ctx)
	return wrap(affected(res, err), "update run %s", id)
}

func runOf(m *runModel, files bool) (Run, error) {
	r := Run{
		ID:          m.ID,
		WorkspaceID: m.WorkspaceID,
		FlowID:      m.FlowID,
		Version:     m.Version,
		Hash:        m.Hash,
		Status:      engine.RunStatus(m.Status),
		Inputs:      json.RawMessage(m.Inputs),
		StartedBy:   fromNull(m.StartedBy),
		CreatedAt:   m.CreatedAt.UTC(),
		StartedAt:   toTime(m.StartedAt),
		FinishedAt:  toTime(m.FinishedAt),
		DurationMS:  m.DurationMS,
		Error:       m.Error,
		Worker:      m.Worker,
		LeaseUntil:  toTime(m.LeaseUntil),
		Dispatched:  m.Dispatched,
		ConcLimit:   m.ConcLimit,
		Request:     json.RawMessage(m.Request),
		RerunOf:     fromNull(m.RerunOf),
	}
	if files {
		var err error
		if r.Files, err = decodeFiles(m.Files); err != nil {
			return Run{}, err
		}
	}
	return r, nil
}

// UpsertCellRun stores a cell run, replacing every field of an existing one
// with the same run and name.
func (s *Store) UpsertCellRun(ctx context.Context, c CellRun) error {
	m := cellRunModel{
		RunID:      c.RunID,
		Position:   c.Position,
		Name:       c.Name,
		Kind:       string(c.Kind),
		Status:     string(c.Status),
		Attempts:   c.Attempts,
		StartedAt:  fromTime(c.StartedAt),
		FinishedAt: fromTime(c.FinishedAt),
		DurationMS: c.DurationMS,
		LogBytes:   c.LogBytes,
		LogCut:     c.LogCut,
	}
	if m.Status == "" {
		m.Status = string(engine.CellPending)
	}
	if len(c.Result) > 0 {
		r := string(c.Result)
		m.Result = &r
	}
	q := s.db.NewInsert().Model(&m).On("CONFLICT (run_id, name) DO UPDATE")
	for _, col := range []string{"position", "kind", "status", "attempts", "started_at",
		"finished_at", "duration_ms", "result", "log_bytes", "log_cut"} {
		q = q.Set("? = EXCLUDED.?", bun.Ident(col), bun.Ident(col))
	}
	_, err := q.Exec(ctx)
	return wrap(err, "store cell run %q of run %s", c.Name, c.RunID)
}

// CellRuns lists the cells of a run in position order.
func (s *Store) CellRuns(ctx context.Context, runID string) ([]CellRun, error) {
	var ms []cellRunModel
	err := s.rdb.NewSelect().Model(&ms).
		Where("? = ?", bun.Ident("run_id"), runID).
		Order("position", "name").
		Scan(ctx)
	if err != nil {
		return nil, wrap(err, "cells of run %s", runID)
	}
	out := make([]CellRun, len(ms))
	for i, m := range ms {
		out[i] = CellRun{
			RunID:      m.RunID,
			Position:   m.Position,
			Name:       m.Name,
			Kind:       engine.Kind(m.Kind),
			Status:     engine.CellStatus(m.Status),
			Attempts:   m.Attempts,
			StartedAt:  toTime(m.StartedAt),
			FinishedAt: toTime(m.FinishedAt),
			DurationMS: m.DurationMS,
			LogBytes:   m.LogBytes,
			LogCut:     m.LogCut,
		}
		if m.Result != nil {
			out[i].Result = json.RawMessage(*m.Result)
		}
	}
	return out, nil
}
