package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine/collab"
)

// The store is the log of engine/collab's authority: each cell's source is
// a document whose checkpoint is draft_cells.source at doc_version, and
// whose accepted changes are rows of doc_changes, unique on (cell_id,
// version), so that on PostgreSQL the database decides which of two
// processes wins a version.
var _ collab.Log = (*Store)(nil)

// Notification channels on PostgreSQL (LISTEN/NOTIFY between processes).
const (
	ChannelDoc      = "opsbook_doc"      // "flowID cellID version": changes stored
	ChannelFlow     = "opsbook_flow"     // "flowID": the draft's structure changed
	ChannelPresence = "opsbook_presence" // a presence message (JSON)
	ChannelApproval = "opsbook_approval" // "runID cell decisions process": a decision that left the approval open
)

// LoadDoc returns a cell document's checkpoint and the changes after it.
// A cell that does not exist is collab.ErrGone.
func (s *Store) LoadDoc(ctx context.Context, flowID, cellID string) (collab.Snapshot, error) {
	var m cellModel
	err := s.rdb.NewSelect().Model(&m).Column("source", "doc_version").
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? = ?", bun.Ident("id"), cellID).
		Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return collab.Snapshot{}, fmt.Errorf("load document of cell %s: %w", cellID, collab.ErrGone)
	}
	if err != nil {
		return collab.Snapshot{}, wrap(err, "load document of cell %s", cellID)
	}
	rows, err := s.DocChangesSince(ctx, flowID, cellID, m.DocVersion)
	if err != nil {
		return collab.Snapshot{}, err
	}
	return collab.Snapshot{Source: m.Source, Version: m.DocVersion, Changes: rows}, nil
}

// DocChangesSince returns a cell document's changes after version, in order.
func (s *Store) DocChangesSince(ctx context.Context, flowID, cellID string, version int) ([]collab.Stored, error) {
	var ms []docChangeModel
	err := s.rdb.NewSelect().Model(&ms).
		Column("version", "changes", "client_id", "user_id", "at").
		Where("? = ?", bun.Ident("cell_id"), cellID).
		Where("? > ?", bun.Ident("version"), version).
		Order("version").
		Scan(ctx)
	if err != nil {
		return nil, wrap(err, "changes of cell %s since %d", cellID, version)
	}
	out := make([]collab.Stored, len(ms))
	for i, m := range ms {
		out[i] = collab.Stored{Version: m.Version, Changes: []byte(m.Changes), ClientID: m.ClientID, UserID: fromNull(m.UserID), At: m.At.UTC()}
	}
	return out, nil
}

// AppendDoc stores consecutive changes of a cell document in one
// transaction, with a checkpoint when cp is set, records their authors as
// the cell's editors, and (on PostgreSQL) notifies the other processes. A
// version already taken is collab.ErrConflict; a cell that no longer exists
// is collab.ErrGone. Nothing is stored then.
func (s *Store) AppendDoc(ctx context.Context, flowID, cellID string, changes []collab.Stored, cp *collab.Checkpoint) error {
	if len(changes) == 0 {
		return nil
	}
	rows := make([]docChangeModel, len(changes))
	edits := map[string]int{}
	for i, c := range changes {
		rows[i] = docChangeModel{FlowID: flowID, CellID: cellID, Version: c.Version, Changes: string(c.Changes),
			ClientID: c.ClientID, UserID: nullString(c.UserID), At: c.At.UTC().Truncate(time.Microsecond)}
		if c.UserID != "" {
			edits[c.UserID]++
		}
	}
	last := changes[len(changes)-1]
	if s.postgres() {
		return s.appendDocPG(ctx, flowID, cellID, rows, edits, last, cp)
	}
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
			if errors.Is(mapErr(err), ErrAlreadyExists) {
				return fmt.Errorf("%w: %w", collab.ErrConflict, err)
			}
			return err
		}
		q := tx.NewUpdate().Model((*cellModel)(nil)).
			Set("? = ?", bun.Ident("updated_at"), last.At.UTC().Truncate(time.Microsecond)).
			Where("? = ?", bun.Ident("flow_id"), flowID).
			Where("? = ?", bun.Ident("id"), cellID)
		if last.UserID != "" {
			q = q.Set("? = ?", bun.Ident("updated_by"), last.UserID)
		}
		if cp != nil {
			q = q.Set("? = ?", bun.Ident("source"), cp.Source).Set("? = ?", bun.Ident("doc_version"), cp.Version)
		}
		res, err := q.Exec(ctx)
		if err := affected(res, err); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("cell %s: %w", cellID, collab.ErrGone)
			}
			return err
		}
		for user, n := range edits {
			if err := addEdits(ctx, tx, flowID, cellID, user, n, last.At); err != nil {
				return err
			}
			// The co-authors of the next version (SaveVersion).
			if err := recordEdit(ctx, tx, flowID, user, last.At.UTC().Truncate(time.Microsecond)); err != nil {
				return err
			}
		}
		return s.notifyTx(ctx, tx, ChannelDoc, flowID+" "+cellID+" "+strconv.Itoa(last.Version))
	})
	if err != nil && !errors.Is(err, collab.ErrConflict) && !errors.Is(err, collab.ErrGone) {
		return wrap(err, "append changes to cell %s", cellID)
	}
	return err
}

// appendDocSQL is AppendDoc on PostgreSQL as one statement: one round trip
// and an implicit transaction, instead of BEGIN, five statements and COMMIT
// while the document's lock is held (at 200 pushes/s on one cell those
// round trips were what queued; BENCHMARKS.md). The cell row is updated
// first, and every other part depends on it, so a deleted cell stores
// nothing; a version already taken fails the whole statement on the unique
// key (cell_id, version), so nothing is stored then either. pg_notify is
// delivered at commit, so the other processes hear only of stored changes.
// MATERIALIZED keeps the notification from being optimized away.
const appendDocSQL = `WITH cell AS (
	UPDATE draft_cells SET
		updated_at = $8,
		updated_by = COALESCE($9, updated_by),
		source = CASE WHEN $10::integer IS NULL THEN source ELSE $11 END,
		doc_version = COALESCE($10::integer, doc_version)
	WHERE flow_id = $1 AND id = $2
	RETURNING id
), ins AS (
	INSERT INTO doc_changes (flow_id, cell_id, version, changes, client_id, user_id, at)
	SELECT $1, $2, c.version, c.changes, c.client_id, c.user_id, c.at
	FROM unnest($3::integer[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]) AS c (version, changes, client_id, user_id, at)
	WHERE EXISTS (SELECT FROM cell)
	RETURNING version
), editors AS (
	INSERT INTO cell_editors (flow_id, cell_id, user_id, edits, first_at, last_at)
	SELECT $1, $2, e.user_id, e.edits, $8, $8
	FROM unnest($12::text[], $13::integer[]) AS e (user_id, edits)
	WHERE EXISTS (SELECT FROM cell)
	ON CONFLICT (flow_id, cell_id, user_id) DO UPDATE SET edits = cell_editors.edits + EXCLUDED.edits, last_at = EXCLUDED.last_at
), draft AS (
	INSERT INTO draft_edits (flow_id, user_id, at)
	SELECT $1, e.user_id, $8 FROM unnest($12::text[]) AS e (user_id)
	WHERE EXISTS (SELECT FROM cell)
	ON CONFLICT (flow_id, user_id) DO UPDATE SET at = EXCLUDED.at
), note AS MATERIALIZED (
	SELECT pg_notify($14, $15) FROM cell
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM note)`

func (s *Store) appendDocPG(ctx context.Context, flowID, cellID string, rows []docChangeModel, edits map[string]int, last collab.Stored, cp *collab.Checkpoint) error {
	n := len(rows)
	versions, changes, clients, users, ats := make([]int32, n), make([]string, n), make([]string, n), make([]*string, n), make([]time.Time, n)
	for i, r := range rows {
		versions[i], changes[i], clients[i], ats[i] = int32(r.Version), r.Changes, r.ClientID, r.At
		users[i] = r.UserID
	}
	editors, counts := make([]string, 0, len(edits)), make([]int32, 0, len(edits))
	for u, c := range edits {
		editors, counts = append(editors, u), append(counts, int32(c))
	}
	var by *string
	if last.UserID != "" {
		by = &last.UserID
	}
	var cpVersion *int32
	var cpSource string
	if cp != nil {
		v := int32(cp.Version)
		cpVersion, cpSource = &v, cp.Source
	}
	var stored, noted int64
	err := s.pool.QueryRow(ctx, appendDocSQL, flowID, cellID, versions, changes, clients, users, ats,
		last.At.UTC().Truncate(time.Microsecond), by, cpVersion, cpSource, editors, counts,
		s.Channel(ChannelDoc), flowID+" "+cellID+" "+strconv.Itoa(last.Version)).Scan(&stored, &noted)
	switch {
	case err != nil:
		if errors.Is(mapErr(err), ErrAlreadyExists) {
			return fmt.Errorf("%w: %w", collab.ErrConflict, err)
		}
		return wrap(err, "append changes to cell %s", cellID)
	case noted == 0:
		return fmt.Errorf("cell %s: %w", cellID, collab.ErrGone)
	case stored != int64(n):
		return fmt.Errorf("append changes to cell %s: stored %d of %d", cellID, stored, n)
	}
	return nil
}

func addEdits(ctx context.Context, tx bun.Tx, flowID, cellID, userID string, n int, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	_, err := tx.NewRaw(`INSERT INTO cell_editors (flow_id, cell_id, user_id, edits, first_at, last_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (flow_id, cell_id, user_id) DO UPDATE SET edits = cell_editors.edits + EXCLUDED.edits, last_at = EXCLUDED.last_at`,
		flowID, cellID, userID, n, at, at).Exec(ctx)
	return err
}

// CheckpointDoc records a cell document's text at a version, unless the
// checkpoint kept is as recent already (another process made it).
func (s *Store) CheckpointDoc(ctx context.Context, flowID, cellID string, cp collab.Checkpoint) error {
	if err := checkSource(cellID, cp.Source); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, err := s.db.NewUpdate().Model((*cellModel)(nil)).
		Set("? = ?", bun.Ident("source"), cp.Source).
		Set("? = ?", bun.Ident("doc_version"), cp.Version).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? = ?", bun.Ident("id"), cellID).
		Where("? < ?", bun.Ident("doc_version"), cp.Version).
		Exec(ctx)
	return wrap(err, "checkpoint cell %s", cellID)
}

// foldChanges brings the sources of d's cells up to their latest change:
// the changes recorded after each checkpoint are applied (at most a
// checkpoint's worth, so this stays cheap however long the history).
func foldChanges(ctx context.Context, db bun.IDB, d *Draft, versions []int) error {
	if len(d.Cells) == 0 {
		return nil
	}
	var rows []struct {
		CellID  string `bun:"cell_id"`
		Version int    `bun:"version"`
		Changes string `bun:"changes"`
	}
	err := db.NewRaw(`SELECT dc.cell_id, dc.version, dc.changes
FROM draft_cells AS c JOIN doc_changes AS dc ON dc.cell_id = c.id AND dc.version > c.doc_version
WHERE c.flow_id = ?
ORDER BY dc.cell_id, dc.version`, d.FlowID).Scan(ctx, &rows)
	if err != nil {
		return wrap(err, "changes of the draft of flow %s", d.FlowID)
	}
	index := map[string]int{}
	for i, c := range d.Cells {
		index[c.ID] = i
		d.Cells[i].Version = versions[i]
	}
	texts := map[string]collab.Text{}
	for _, r := range rows {
		i, ok := index[r.CellID]
		if !ok || r.Version != d.Cells[i].Version+1 {
			continue // not the next change (cannot happen in one snapshot)
		}
		t, ok := texts[r.CellID]
		if !ok {
			t = collab.TextOf(d.Flow.Cells[i].Source)
		}
		cs, err := collab.ParseChangeSet([]byte(r.Changes))
		if err == nil {
			t, err = cs.Apply(t)
		}
		if err != nil {
			return fmt.Errorf("draft of flow %s: cell %q, change %d: %w", d.FlowID, d.Flow.Cells[i].Name, r.Version, err)
		}
		texts[r.CellID] = t
		d.Cells[i].Version = r.Version
	}
	for id, t := range texts {
		d.Flow.Cells[index[id]].Source = t.String()
	}
	return nil
}

// DeletedCell is a cell deleted from a draft, kept so it can be restored.
type DeletedCell struct {
	ID        string
	Name      string
	DeletedAt time.Time
	DeletedBy string // user id
}

// DeletedCellByID returns a deleted cell of a flow; ErrNotFound if there is
// none with that id.
func (s *Store) DeletedCellByID(ctx context.Context, flowID, cellID string) (DeletedCell, error) {
	var m deletedCellModel
	err := s.rdb.NewSelect().Model(&m).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? = ?", bun.Ident("id"), cellID).
		Scan(ctx)
	if err != nil {
		return DeletedCell{}, wrap(err, "deleted cell %s", cellID)
	}
	return DeletedCell{ID: m.ID, Name: m.Name, DeletedAt: m.DeletedAt.UTC(), DeletedBy: fromNull(m.DeletedBy)}, nil
}

// RestoreCell puts a deleted cell back where it was (or last), with its
// text and history, renamed when another cell took its name meanwhile. It
// returns the cell's name; ErrNotFound when there is nothing to restore.
func (s *Store) RestoreCell(ctx context.Context, flowID, cellID, userID string) (string, error) {
	var name string
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		var m deletedCellModel
		err := tx.NewSelect().Model(&m).
			Where("? = ?", bun.Ident("flow_id"), flowID).
			Where("? = ?", bun.Ident("id"), cellID).
			Scan(ctx)
		if err != nil {
			return err
		}
		var names []string
		if err := tx.NewSelect().Model((*cellModel)(nil)).Column("name").
			Where("? = ?", bun.Ident("flow_id"), flowID).Scan(ctx, &names); err != nil {
			return err
		}
		name = m.Name
		taken := map[string]bool{}
		for _, n := range names {
			taken[n] = true
		}
		for i := 2; taken[name]; i++ {
			name = m.Name + "_" + strconv.Itoa(i)
		}
		n := len(names)
		pos := min(m.Position, n)
		if err := shift(ctx, tx, flowID, pos, n, +1); err != nil {
			return err
		}
		now := s.timeNow()
		cm := cellModel{FlowID: flowID, ID: m.ID, Position: pos, Name: name, Kind: m.Kind, Source: m.Source,
			Options: m.Options, UpdatedAt: now, UpdatedBy: nullString(userID), DocVersion: m.DocVersion}
		if _, err := tx.NewInsert().Model(&cm).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*deletedCellModel)(nil)).
			Where("? = ?", bun.Ident("flow_id"), flowID).
			Where("? = ?", bun.Ident("id"), cellID).Exec(ctx); err != nil {
			return err
		}
		return touchFlow(ctx, tx, flowID, now)
	})
	if err != nil {
		return "", wrap(err, "restore cell %s", cellID)
	}
	return name, nil
}

// DraftEditors returns the users who edited the draft's cells since a time
// (zero: ever), most edits first: the co-authors of the next version.
func (s *Store) DraftEditors(ctx context.Context, flowID string, since time.Time) ([]string, error) {
	var ids []string
	q := s.rdb.NewSelect().Model((*cellEditorModel)(nil)).Column("user_id").
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Group("user_id").
		OrderExpr("SUM(edits) DESC, user_id")
	if !since.IsZero() {
		q = q.Where("? > ?", bun.Ident("last_at"), since.UTC().Truncate(time.Microsecond))
	}
	if err := q.Scan(ctx, &ids); err != nil {
		return nil, wrap(err, "editors of flow %s", flowID)
	}
	return ids, nil
}

// CellEdits is how many changes a user made to a cell of the draft.
type CellEdits struct {
	CellID, UserID  string
	Edits           int
	FirstAt, LastAt time.Time
}

// DraftEdits lists who edited which cell of the draft.
func (s *Store) DraftEdits(ctx context.Context, flowID string) ([]CellEdits, error) {
	var ms []cellEditorModel
	if err := s.rdb.NewSelect().Model(&ms).Where("? = ?", bun.Ident("flow_id"), flowID).
		Order("cell_id", "user_id").Scan(ctx); err != nil {
		return nil, wrap(err, "edits of flow %s", flowID)
	}
	out := make([]CellEdits, len(ms))
	for i, m := range ms {
		out[i] = CellEdits{CellID: m.CellID, UserID: m.UserID, Edits: m.Edits, FirstAt: m.FirstAt.UTC(), LastAt: m.LastAt.UTC()}
	}
	return out, nil
}

// Channel is the PostgreSQL channel of a notification channel's name
// (ChannelDoc…): the name itself in the public schema, else the name and
// the schema, so that stores in other schemas of the same database (other
// studios, parallel tests) neither hear nor wake each other.
func (s *Store) Channel(name string) string {
	if s.schema == "" {
		return name
	}
	ch := name + "@" + s.schema
	if len(ch) > 63 { // PostgreSQL's longest identifier
		sum := sha256.Sum256([]byte(s.schema))
		ch = name + "@" + hex.EncodeToString(sum[:8])
	}
	return ch
}

// notifyTx sends a notification to the other processes when tx commits
// (PostgreSQL; nothing on SQLite, where one process serves).
func (s *Store) notifyTx(ctx context.Context, tx bun.Tx, channel, payload string) error {
	if !s.postgres() {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_notify(?, ?)", s.Channel(channel), payload)
	return err
}

// Notify sends a notification to the other processes (PostgreSQL only;
// payloads are limited to 8000 bytes).
func (s *Store) Notify(ctx context.Context, channel, payload string) error {
	if !s.postgres() {
		return nil
	}
	_, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", s.Channel(channel), payload)
	return wrap(err, "notify %s", channel)
}

// Notice is one notification from another process.
type Notice struct {
	Channel string
	Payload string
}

// DocNotice reads a ChannelDoc payload.
func (n Notice) DocNotice() (flowID, cellID string, version int, ok bool) {
	f := strings.Fields(n.Payload)
	if len(f) != 3 {
		return "", "", 0, false
	}
	v, err := strconv.Atoi(f[2])
	return f[0], f[1], v, err == nil
}

// Listen delivers the notifications of channels to fn, one at a time, until
// ctx ends, holding one pool connection (PostgreSQL; on SQLite it just
// waits for ctx). A lost connection is reopened; ready (if not nil) is
// called each time listening (re)starts, so callers can catch up on what
// they may have missed.
func (s *Store) Listen(ctx context.Context, channels []string, ready func(), fn func(Notice)) error {
	if !s.postgres() {
		<-ctx.Done()
		return nil
	}
	for {
		err := s.listenOnce(ctx, channels, ready, fn)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("listen for notifications: reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, channels []string, ready func(), fn func(Notice)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that listened must not go back to the pool.
	defer func() { conn.Conn().Close(context.Background()); conn.Release() }()
	names := make(map[string]string, len(channels)) // PostgreSQL's channel → ours
	for _, ch := range channels {
		names[s.Channel(ch)] = ch
		if _, err := conn.Exec(ctx, "LISTEN "+quoteIdent(s.Channel(ch))); err != nil {
			return err
		}
	}
	if ready != nil {
		ready()
	}
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(Notice{Channel: names[n.Channel], Payload: n.Payload})
	}
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// replaceSource records a whole new text for a cell as one change of its
// document (the diff from the current text), in tx.
func (s *Store) replaceSource(ctx context.Context, tx bun.Tx, flowID, cellID, source, userID string) error {
	var m cellModel
	err := tx.NewSelect().Model(&m).Column("source", "doc_version").
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? = ?", bun.Ident("id"), cellID).
		Scan(ctx)
	if err != nil {
		return err
	}
	var ms []docChangeModel
	if err := tx.NewSelect().Model(&ms).Column("version", "changes").
		Where("? = ?", bun.Ident("cell_id"), cellID).
		Where("? > ?", bun.Ident("version"), m.DocVersion).
		Order("version").Scan(ctx); err != nil {
		return err
	}
	text, version := collab.TextOf(m.Source), m.DocVersion
	for _, r := range ms {
		cs, err := collab.ParseChangeSet([]byte(r.Changes))
		if err == nil {
			text, err = cs.Apply(text)
		}
		if err != nil {
			return fmt.Errorf("change %d: %w", r.Version, err)
		}
		version = r.Version
	}
	neu := collab.TextOf(source)
	cs := collab.Diff(text, neu)
	now := s.timeNow()
	if !cs.IsEmpty() {
		raw, _ := cs.MarshalJSON()
		version++
		row := docChangeModel{FlowID: flowID, CellID: cellID, Version: version, Changes: string(raw), ClientID: "server", UserID: nullString(userID), At: now}
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		if userID != "" {
			if err := addEdits(ctx, tx, flowID, cellID, userID, 1, now); err != nil {
				return err
			}
		}
	}
	q := tx.NewUpdate().Model((*cellModel)(nil)).
		Set("? = ?", bun.Ident("source"), source).
		Set("? = ?", bun.Ident("doc_version"), version).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? = ?", bun.Ident("id"), cellID)
	if !cs.IsEmpty() {
		// Only a real change names who made it.
		q = q.Set("? = ?", bun.Ident("updated_at"), now).Set("? = ?", bun.Ident("updated_by"), nullString(userID))
	}
	if _, err = q.Exec(ctx); err != nil {
		return err
	}
	return s.notifyTx(ctx, tx, ChannelDoc, flowID+" "+cellID+" "+strconv.Itoa(version))
}

// deleteCellTx moves a cell to deleted_cells, in tx.
func (s *Store) deleteCellTx(ctx context.Context, tx bun.Tx, flowID, cellID, userID string) (int, error) {
	var m cellModel
	err := tx.NewSelect().Model(&m).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? = ?", bun.Ident("id"), cellID).
		Scan(ctx)
	if err != nil {
		return 0, err
	}
	// A tombstone of the same id (deleted, restored, deleted again) is replaced.
	if _, err := tx.NewDelete().Model((*deletedCellModel)(nil)).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? = ?", bun.Ident("id"), cellID).Exec(ctx); err != nil {
		return 0, err
	}
	dm := deletedCellModel{FlowID: flowID, ID: cellID, Position: m.Position, Name: m.Name, Kind: m.Kind, Source: m.Source,
		Options: m.Options, DocVersion: m.DocVersion, DeletedAt: s.timeNow(), DeletedBy: nullString(userID)}
	if _, err := tx.NewInsert().Model(&dm).Exec(ctx); err != nil {
		return 0, err
	}
	return m.Position, nil
}
