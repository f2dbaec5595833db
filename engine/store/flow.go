package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine"
)

// CreateFlow adds a flow to a workspace in one transaction: the flow's row,
// its draft cells, and version 1 made of files (the flow exported as plain
// files) and their hash, authored by userID. A taken slug or a repeated
// cell name is ErrAlreadyExists; a source over MaxSourceSize is ErrTooLarge.
func (s *Store) CreateFlow(ctx context.Context, wsID, slug string, f *engine.Flow, userID string, files []File, hash string) (FlowSummary, error) {
	return s.createFlow(ctx, wsID, slug, f, Version{Author: userID, Files: files, Hash: hash}, true)
}

// CreateDraftFlow adds a flow to a workspace with f as its draft and no
// version yet: the studio's "New flow". Its first saved version is v1.
// Errors are CreateFlow's.
func (s *Store) CreateDraftFlow(ctx context.Context, wsID, slug string, f *engine.Flow, userID string) (FlowSummary, error) {
	return s.createFlow(ctx, wsID, slug, f, Version{Author: userID}, false)
}

// createFlow is CreateFlow with v's Message, Author, Files and Hash as
// version 1, or with no version when withVersion is false.
func (s *Store) createFlow(ctx context.Context, wsID, slug string, f *engine.Flow, v Version, withVersion bool) (FlowSummary, error) {
	userID := v.Author
	for i := range f.Cells {
		if err := checkSource(f.Cells[i].Name, f.Cells[i].Source); err != nil {
			return FlowSummary{}, fmt.Errorf("create flow %q: %w", slug, err)
		}
	}
	inputs, err := encodeInputs(f.Inputs)
	if err != nil {
		return FlowSummary{}, fmt.Errorf("create flow %q: %w", slug, err)
	}
	now := s.timeNow()
	fm := flowModel{
		ID:          NewID("f"),
		WorkspaceID: wsID,
		Slug:        slug,
		Name:        f.Name,
		Description: f.Description,
		Order:       string(f.Order),
		Inputs:      inputs,
		Triggers:    encodeTriggers(f.Triggers),
		Settings:    encodeSettings(f),
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	cells := make([]cellModel, len(f.Cells))
	for i := range f.Cells {
		cells[i] = newCellModel(fm.ID, i, &f.Cells[i], userID, now)
	}
	vm := versionModel{
		FlowID:    fm.ID,
		Number:    1,
		Message:   v.Message,
		Author:    nullString(userID),
		Coauthors: "[]",
		Hash:      v.Hash,
		Files:     encodeFiles(v.Files),
		CreatedAt: now,
	}
	versions := 0
	if withVersion {
		versions = 1
	}
	err = s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&fm).Exec(ctx); err != nil {
			return err
		}
		if len(cells) > 0 {
			if _, err := tx.NewInsert().Model(&cells).Exec(ctx); err != nil {
				return err
			}
		}
		if !withVersion {
			return nil
		}
		_, err := tx.NewInsert().Model(&vm).Exec(ctx)
		return err
	})
	if err != nil {
		return FlowSummary{}, wrap(err, "create flow %q", slug)
	}
	return FlowSummary{
		ID: fm.ID, WorkspaceID: wsID, Slug: slug, Name: fm.Name, Description: fm.Description,
		Order: f.Order, Versions: versions, Cells: len(cells), CreatedAt: now, UpdatedAt: now,
	}, nil
}

func newCellModel(flowID string, pos int, c *engine.Cell, userID string, now time.Time) cellModel {
	return cellModel{
		FlowID:    flowID,
		ID:        NewID("c"),
		Position:  pos,
		Name:      c.Name,
		Kind:      string(c.Kind),
		Source:    c.Source,
		Options:   encodeOptions(c),
		UpdatedAt: now,
		UpdatedBy: nullString(userID),
	}
}

func checkSource(cell, source string) error {
	if len(source) > MaxSourceSize {
		return fmt.Errorf("cell %q: source of %d bytes: %w (the limit is %d bytes): move data to a file or a connection",
			cell, len(source), ErrTooLarge, MaxSourceSize)
	}
	return nil
}

// flowSelect reads flow summaries; %s is the WHERE condition.
const flowSelect = `SELECT f.id, f.workspace_id, f.slug, f.name, f.description, f.? AS flow_order,
	f.published_version, f.created_at, f.updated_at, f.archived_at,
	(SELECT COALESCE(MAX(v.number), 0) FROM versions AS v WHERE v.flow_id = f.id) AS versions,
	(SELECT COUNT(*) FROM draft_cells AS dc WHERE dc.flow_id = f.id) AS cells,
	r.id AS last_run_id, r.status AS last_run_status, r.created_at AS last_run_at
FROM flows AS f
LEFT JOIN runs AS r ON r.id = (
	SELECT r2.id FROM runs AS r2 WHERE r2.flow_id = f.id
	ORDER BY r2.created_at DESC, r2.id DESC LIMIT 1)
WHERE %s
ORDER BY f.slug`

type flowRow struct {
	ID               string
	WorkspaceID      string
	Slug             string
	Name             string
	Description      string
	FlowOrder        string
	PublishedVersion *int
	CreatedAt        time.Time
	UpdatedAt        time.Time
	ArchivedAt       *time.Time
	Versions         int
	Cells            int
	LastRunID        *string
	LastRunStatus    *string
	LastRunAt        *time.Time
}

func (r *flowRow) summary() FlowSummary {
	f := FlowSummary{
		ID:            r.ID,
		WorkspaceID:   r.WorkspaceID,
		Slug:          r.Slug,
		Name:          r.Name,
		Description:   r.Description,
		Order:         engine.Order(r.FlowOrder),
		Versions:      r.Versions,
		Cells:         r.Cells,
		CreatedAt:     r.CreatedAt.UTC(),
		UpdatedAt:     r.UpdatedAt.UTC(),
		LastRunID:     fromNull(r.LastRunID),
		LastRunStatus: engine.RunStatus(fromNull(r.LastRunStatus)),
		LastRunAt:     toTime(r.LastRunAt),
		ArchivedAt:    toTime(r.ArchivedAt),
	}
	if r.PublishedVersion != nil {
		f.PublishedVersion = *r.PublishedVersion
	}
	return f
}

// Flows lists the flows of a workspace by slug, each with its last run,
// archived ones included (ArchivedAt says which).
func (s *Store) Flows(ctx context.Context, wsID string) ([]FlowSummary, error) {
	var rows []flowRow
	q := fmt.Sprintf(flowSelect, "f.workspace_id = ?")
	if err := s.rdb.NewRaw(q, bun.Ident("order"), wsID).Scan(ctx, &rows); err != nil {
		return nil, wrap(err, "flows of workspace %s", wsID)
	}
	out := make([]FlowSummary, len(rows))
	for i := range rows {
		out[i] = rows[i].summary()
	}
	return out, nil
}

// FlowBySlug finds a flow of a workspace by slug.
func (s *Store) FlowBySlug(ctx context.Context, wsID, slug string) (FlowSummary, error) {
	var row flowRow
	q := fmt.Sprintf(flowSelect, "f.workspace_id = ? AND f.slug = ?")
	if err := s.rdb.NewRaw(q, bun.Ident("order"), wsID, slug).Scan(ctx, &row); err != nil {
		return FlowSummary{}, wrap(err, "flow %q", slug)
	}
	return row.summary(), nil
}

// FlowByID finds a flow by id.
func (s *Store) FlowByID(ctx context.Context, id string) (FlowSummary, error) {
	var row flowRow
	q := fmt.Sprintf(flowSelect, "f.id = ?")
	if err := s.rdb.NewRaw(q, bun.Ident("order"), id).Scan(ctx, &row); err != nil {
		return FlowSummary{}, wrap(err, "flow %s", id)
	}
	return row.summary(), nil
}

// Draft is the live state of a flow: its settings and cells in order.
// It is read in one snapshot: a cell's checkpoint and the changes after it
// are two queries, and a checkpoint committed between them would leave the
// old checkpoint's text with none of the changes after it.
func (s *Store) Draft(ctx context.Context, flowID string) (Draft, error) {
	var d Draft
	err := s.snapshot(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		d, err = readDraft(ctx, tx, flowID)
		return err
	})
	return d, err
}

// readDraft reads a draft in a transaction (a snapshot, or a writer's).
func readDraft(ctx context.Context, db bun.IDB, flowID string) (Draft, error) {
	var fm flowModel
	err := db.NewSelect().Model(&fm).Where("? = ?", bun.Ident("id"), flowID).Scan(ctx)
	if err != nil {
		return Draft{}, wrap(err, "draft of flow %s", flowID)
	}
	var cms []cellModel
	err = db.NewSelect().Model(&cms).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Order("position", "name").
		Scan(ctx)
	if err != nil {
		return Draft{}, wrap(err, "cells of flow %s", flowID)
	}
	f := &engine.Flow{Name: fm.Name, Description: fm.Description, Order: engine.Order(fm.Order)}
	if f.Inputs, err = decodeInputs(fm.Inputs); err != nil {
		return Draft{}, fmt.Errorf("draft of flow %s: %w", flowID, err)
	}
	if f.Triggers, err = decodeTriggers(fm.Triggers); err != nil {
		return Draft{}, fmt.Errorf("draft of flow %s: %w", flowID, err)
	}
	if err := decodeSettings(fm.Settings, f); err != nil {
		return Draft{}, fmt.Errorf("draft of flow %s: %w", flowID, err)
	}
	d := Draft{FlowID: flowID, Flow: f, Cells: make([]DraftCell, len(cms))}
	f.Cells = make([]engine.Cell, len(cms))
	versions := make([]int, len(cms))
	for i, m := range cms {
		c := &f.Cells[i]
		c.Name, c.Kind, c.Source = m.Name, engine.Kind(m.Kind), m.Source
		if err := decodeOptions(m.Options, c); err != nil {
			return Draft{}, fmt.Errorf("draft of flow %s, cell %q: %w", flowID, m.Name, err)
		}
		d.Cells[i] = DraftCell{ID: m.ID, UpdatedAt: m.UpdatedAt.UTC(), UpdatedBy: fromNull(m.UpdatedBy)}
		versions[i] = m.DocVersion
	}
	// Sources are checkpoints: bring them up to the latest change.
	if err := foldChanges(ctx, db, &d, versions); err != nil {
		return Draft{}, err
	}
	return d, nil
}

// UpdateCellSource replaces the source of one draft cell, recorded as one
// change of the cell's document (engine/collab) so that editors of the
// cell follow it, and as its checkpoint.
func (s *Store) UpdateCellSource(ctx context.Context, flowID, cellID, source, userID string) error {
	if err := checkSource(cellID, source); err != nil {
		return fmt.Errorf("update cell source: %w", err)
	}
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.replaceSource(ctx, tx, flowID, cellID, source, userID); err != nil {
			return err
		}
		return recordEdit(ctx, tx, flowID, userID, s.timeNow())
	})
	return wrap(err, "update source of cell %s", cellID)
}

// UpdateCell changes a draft cell's name, kind and options (c's File,
// Timeout, Retries, RetryDelay, If, Needs, Connection, Env and
// ContinueOnError). The source is left alone: it changes through
// UpdateCellSource. A name taken by another cell is ErrAlreadyExists.
func (s *Store) UpdateCell(ctx context.Context, flowID, cellID string, c engine.Cell, userID string) error {
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		now := s.timeNow()
		res, err := tx.NewUpdate().Model((*cellModel)(nil)).
			Set("? = ?", bun.Ident("name"), c.Name).
			Set("? = ?", bun.Ident("kind"), string(c.Kind)).
			Set("? = ?", bun.Ident("options"), encodeOptions(&c)).
			Set("? = ?", bun.Ident("updated_at"), now).
			Set("? = ?", bun.Ident("updated_by"), nullString(userID)).
			Where("? = ?", bun.Ident("flow_id"), flowID).
			Where("? = ?", bun.Ident("id"), cellID).
			Exec(ctx)
		if err := affected(res, err); err != nil {
			return err
		}
		if err := recordEdit(ctx, tx, flowID, userID, now); err != nil {
			return err
		}
		return touchFlow(ctx, tx, flowID, now)
	})
	return wrap(err, "update cell %s", cellID)
}

// InsertCell adds a cell to the draft at position (clamped to 0…number of
// cells), moving the cells from there down by one, and returns the new
// cell's id.
func (s *Store) InsertCell(ctx context.Context, flowID string, position int, c engine.Cell, userID string) (string, error) {
	if err := checkSource(c.Name, c.Source); err != nil {
		return "", fmt.Errorf("insert cell: %w", err)
	}
	var id string
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		now := s.timeNow()
		if err := touchFlow(ctx, tx, flowID, now); err != nil {
			return err
		}
		n, err := cellCount(ctx, tx, flowID)
		if err != nil {
			return err
		}
		position = min(max(position, 0), n)
		if err := shift(ctx, tx, flowID, position, n, +1); err != nil {
			return err
		}
		m := newCellModel(flowID, position, &c, userID, now)
		id = m.ID
		if _, err = tx.NewInsert().Model(&m).Exec(ctx); err != nil {
			return err
		}
		return recordEdit(ctx, tx, flowID, userID, now)
	})
	if err != nil {
		return "", wrap(err, "insert cell %q", c.Name)
	}
	return id, nil
}

// DeleteCell removes a cell from the draft, closing the gap it leaves. The
// cell is kept, with its text and history, for RestoreCell.
func (s *Store) DeleteCell(ctx context.Context, flowID, cellID string) error {
	return s.DeleteCellBy(ctx, flowID, cellID, "")
}

// DeleteCellBy is DeleteCell recording who deleted the cell.
func (s *Store) DeleteCellBy(ctx context.Context, flowID, cellID, userID string) error {
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		pos, err := s.deleteCellTx(ctx, tx, flowID, cellID, userID)
		if err != nil {
			return err
		}
		_, err = tx.NewDelete().Model((*cellModel)(nil)).
			Where("? = ?", bun.Ident("flow_id"), flowID).
			Where("? = ?", bun.Ident("id"), cellID).
			Exec(ctx)
		if err != nil {
			return err
		}
		if err := shift(ctx, tx, flowID, pos+1, -1, -1); err != nil {
			return err
		}
		return touchFlow(ctx, tx, flowID, s.timeNow())
	})
	return wrap(err, "delete cell %s", cellID)
}

// MoveCell moves a cell to position (clamped to the cells there are),
// shifting the cells between its old and new places.
func (s *Store) MoveCell(ctx context.Context, flowID, cellID string, position int) error {
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		old, err := cellPosition(ctx, tx, flowID, cellID)
		if err != nil {
			return err
		}
		n, err := cellCount(ctx, tx, flowID)
		if err != nil {
			return err
		}
		position = min(max(position, 0), n-1)
		if position == old {
			return nil
		}
		if position < old {
			err = shift(ctx, tx, flowID, position, old-1, +1)
		} else {
			err = shift(ctx, tx, flowID, old+1, position, -1)
		}
		if err != nil {
			return err
		}
		_, err = tx.NewUpdate().Model((*cellModel)(nil)).
			Set("? = ?", bun.Ident("position"), position).
			Where("? = ?", bun.Ident("flow_id"), flowID).
			Where("? = ?", bun.Ident("id"), cellID).
			Exec(ctx)
		if err != nil {
			return err
		}
		return touchFlow(ctx, tx, flowID, s.timeNow())
	})
	return wrap(err, "move cell %s", cellID)
}

// FlowSettings are the keys of a flow that UpdateFlowSettings changes: what
// the notebook's flow settings edit. The others (network, concurrency)
// stay as they are.
type FlowSettings struct {
	Name        string
	Description string
	Order       engine.Order
	Inputs      []engine.Input
	Triggers    []engine.Trigger
	Notify      []engine.Notify
}

// UpdateFlowSettings changes a flow's settings; its cells are left alone.
func (s *Store) UpdateFlowSettings(ctx context.Context, flowID string, fs FlowSettings) error {
	in, err := encodeInputs(fs.Inputs)
	if err != nil {
		return fmt.Errorf("update flow %s: %w", flowID, err)
	}
	err = s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		// notify shares flows.settings with keys this does not change:
		// read them in the same transaction, so none is lost to a
		// concurrent change.
		var raw string
		q := tx.NewSelect().Model((*flowModel)(nil)).Column("settings").Where("? = ?", bun.Ident("id"), flowID)
		if s.postgres() {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx, &raw); err != nil {
			return err
		}
		var kept engine.Flow
		if err := decodeSettings(raw, &kept); err != nil {
			return err
		}
		kept.Notify = fs.Notify
		res, err := tx.NewUpdate().Model((*flowModel)(nil)).
			Set("? = ?", bun.Ident("name"), fs.Name).
			Set("? = ?", bun.Ident("description"), fs.Description).
			Set("? = ?", bun.Ident("order"), string(fs.Order)).
			Set("? = ?", bun.Ident("inputs"), in).
			Set("? = ?", bun.Ident("triggers"), encodeTriggers(fs.Triggers)).
			Set("? = ?", bun.Ident("settings"), encodeSettings(&kept)).
			Set("? = ?", bun.Ident("updated_at"), s.timeNow()).
			Where("? = ?", bun.Ident("id"), flowID).
			Exec(ctx)
		return affected(res, err)
	})
	return wrap(err, "update flow %s", flowID)
}

// touchFlow records a change of the flow's structure; ErrNotFound when the
// flow does not exist.
func touchFlow(ctx context.Context, tx bun.Tx, flowID string, now time.Time) error {
	res, err := tx.NewUpdate().Model((*flowModel)(nil)).
		Set("? = ?", bun.Ident("updated_at"), now).
		Where("? = ?", bun.Ident("id"), flowID).
		Exec(ctx)
	return affected(res, err)
}

func cellCount(ctx context.Context, tx bun.Tx, flowID string) (int, error) {
	n, err := tx.NewSelect().Model((*cellModel)(nil)).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Count(ctx)
	return int(n), err
}

func cellPosition(ctx context.Context, tx bun.Tx, flowID, cellID string) (int, error) {
	var pos int
	err := tx.NewSelect().Model((*cellModel)(nil)).Column("position").
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? = ?", bun.Ident("id"), cellID).
		Scan(ctx, &pos)
	return pos, err
}

// shift adds by to the positions from..to (to < 0: no upper bound).
func shift(ctx context.Context, tx bun.Tx, flowID string, from, to, by int) error {
	q := tx.NewUpdate().Model((*cellModel)(nil)).
		Set("? = ? + ?", bun.Ident("position"), bun.Ident("position"), by).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? >= ?", bun.Ident("position"), from)
	if to >= 0 {
		q = q.Where("? <= ?", bun.Ident("position"), to)
	}
	_, err := q.Exec(ctx)
	return err
}
