package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// ErrStale: the row changed since the caller read it (another process
// wrote a newer generation).
var ErrStale = errors.New("changed since it was read")

// ScratchInfo describes the stored copy of a workspace's scratch
// database: Generation counts its uploads (the first is 1).
type ScratchInfo struct {
	WorkspaceID string
	Generation  int64
	Size        int64
	SHA256      string // hex
	UpdatedAt   time.Time
}

type scratchModel struct {
	bun.BaseModel `bun:"table:scratch_dbs"`

	WorkspaceID string    `bun:"workspace_id,pk"`
	Generation  int64     `bun:"generation"`
	Size        int64     `bun:"size"`
	SHA256      string    `bun:"sha256"`
	Data        []byte    `bun:"data"`
	UpdatedAt   time.Time `bun:"updated_at"`
}

func (m *scratchModel) info() ScratchInfo {
	return ScratchInfo{WorkspaceID: m.WorkspaceID, Generation: m.Generation, Size: m.Size, SHA256: m.SHA256, UpdatedAt: m.UpdatedAt.UTC()}
}

// ScratchInfo reads what is stored of a workspace's scratch database,
// without its data; ErrNotFound when nothing was ever uploaded.
func (s *Store) ScratchInfo(ctx context.Context, wsID string) (ScratchInfo, error) {
	var m scratchModel
	err := s.db.NewSelect().Model(&m).Column("workspace_id", "generation", "size", "sha256", "updated_at").
		Where("? = ?", bun.Ident("workspace_id"), wsID).Scan(ctx)
	if err != nil {
		return ScratchInfo{}, wrap(err, "scratch database of workspace %s", wsID)
	}
	return m.info(), nil
}

// ScratchData reads a workspace's stored scratch database with its data;
// ErrNotFound when nothing was ever uploaded.
func (s *Store) ScratchData(ctx context.Context, wsID string) (ScratchInfo, []byte, error) {
	var m scratchModel
	err := s.db.NewSelect().Model(&m).Where("? = ?", bun.Ident("workspace_id"), wsID).Scan(ctx)
	if err != nil {
		return ScratchInfo{}, nil, wrap(err, "scratch database of workspace %s", wsID)
	}
	return m.info(), m.Data, nil
}

// PutScratch stores data as the next generation of a workspace's scratch
// database, over generation from (0: nothing stored yet), only while
// holder holds the lease named lease: ErrLeaseLost when it does not (an
// expired holder never overwrites its successor's work), ErrStale when the
// stored generation is no longer from. It returns what is now stored.
func (s *Store) PutScratch(ctx context.Context, wsID, lease, holder string, from int64, data []byte, sha256 string) (ScratchInfo, error) {
	m := scratchModel{WorkspaceID: wsID, Generation: from + 1, Size: int64(len(data)), SHA256: sha256, Data: data, UpdatedAt: s.timeNow()}
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		// The lease's row is locked until the end (PostgreSQL; SQLite's
		// write transaction locks the whole file), so it cannot pass to
		// another holder halfway.
		var l leaseModel
		q := tx.NewSelect().Model(&l).Where("? = ?", bun.Ident("name"), lease)
		if s.postgres() {
			q = q.For("UPDATE")
		}
		err := q.Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && l.Holder != holder) {
			return ErrLeaseLost
		}
		if err != nil {
			return err
		}
		// The file goes as a bound parameter through database/sql (bun
		// would write it into the statement's text, twice its size).
		if from == 0 {
			_, err := tx.Tx.ExecContext(ctx, s.bind(`INSERT INTO scratch_dbs (workspace_id, generation, size, sha256, data, updated_at) VALUES (?, ?, ?, ?, ?, ?)`),
				m.WorkspaceID, m.Generation, m.Size, m.SHA256, m.Data, m.UpdatedAt)
			if errors.Is(mapErr(err), ErrAlreadyExists) {
				return ErrStale
			}
			return err
		}
		res, err := tx.Tx.ExecContext(ctx, s.bind(`UPDATE scratch_dbs SET generation = ?, size = ?, sha256 = ?, data = ?, updated_at = ? WHERE workspace_id = ? AND generation = ?`),
			m.Generation, m.Size, m.SHA256, m.Data, m.UpdatedAt, m.WorkspaceID, from)
		if err := affected(res, err); errors.Is(err, ErrNotFound) {
			return ErrStale
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return ScratchInfo{}, wrap(err, "store the scratch database of workspace %s", wsID)
	}
	return m.info(), nil
}

// bind turns a statement's ? placeholders into the driver's own ($1, $2,
// … on PostgreSQL), for statements run on database/sql directly.
func (s *Store) bind(q string) string {
	if !s.postgres() {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
