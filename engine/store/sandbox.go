package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// SandboxSettings are a workspace's limits for its cells' sandboxes,
// set by its owners. Zero means no limit.
type SandboxSettings struct {
	WorkspaceID string
	MaxProcs    int64 // processes of a run's cells
	MaxFiles    int64 // open files per process
	MaxFileSize int64 // bytes per file written
	MaxMemory   int64 // bytes of address space per process
	// HostLoopback lets cells reach the server's loopback: its port, and
	// a database listening there.
	HostLoopback bool
	UpdatedAt    time.Time
	UpdatedBy    string // user id; "" when unknown
}

type sandboxSettingsModel struct {
	bun.BaseModel `bun:"table:sandbox_settings"`

	WorkspaceID  string    `bun:"workspace_id,pk"`
	MaxProcs     int64     `bun:"max_procs"`
	MaxFiles     int64     `bun:"max_files"`
	MaxFileSize  int64     `bun:"max_file_size"`
	MaxMemory    int64     `bun:"max_memory"`
	HostLoopback bool      `bun:"host_loopback"`
	UpdatedAt    time.Time `bun:"updated_at"`
	UpdatedBy    *string   `bun:"updated_by"`
}

// SetSandboxSettings stores a workspace's sandbox settings, replacing any.
// Negative limits are ErrInvalid.
func (s *Store) SetSandboxSettings(ctx context.Context, g SandboxSettings) error {
	if g.MaxProcs < 0 || g.MaxFiles < 0 || g.MaxFileSize < 0 || g.MaxMemory < 0 {
		return fmt.Errorf("set sandbox settings: %w: limits are 0 (none) or more", ErrInvalid)
	}
	m := sandboxSettingsModel{WorkspaceID: g.WorkspaceID, MaxProcs: g.MaxProcs, MaxFiles: g.MaxFiles,
		MaxFileSize: g.MaxFileSize, MaxMemory: g.MaxMemory, HostLoopback: g.HostLoopback,
		UpdatedAt: s.timeNow(), UpdatedBy: nullString(g.UpdatedBy)}
	q := s.db.NewInsert().Model(&m).On("CONFLICT (workspace_id) DO UPDATE")
	for _, c := range []string{"max_procs", "max_files", "max_file_size", "max_memory", "host_loopback", "updated_at", "updated_by"} {
		q = q.Set("? = EXCLUDED.?", bun.Ident(c), bun.Ident(c))
	}
	_, err := q.Exec(ctx)
	return wrap(err, "set sandbox settings of workspace %s", g.WorkspaceID)
}

// SandboxSettings reads a workspace's sandbox settings; ErrNotFound when
// its owners never set them (the defaults apply).
func (s *Store) SandboxSettings(ctx context.Context, wsID string) (SandboxSettings, error) {
	var m sandboxSettingsModel
	err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("workspace_id"), wsID).Scan(ctx)
	if err != nil {
		return SandboxSettings{}, wrap(err, "sandbox settings of workspace %s", wsID)
	}
	g := SandboxSettings{WorkspaceID: m.WorkspaceID, MaxProcs: m.MaxProcs, MaxFiles: m.MaxFiles,
		MaxFileSize: m.MaxFileSize, MaxMemory: m.MaxMemory, HostLoopback: m.HostLoopback, UpdatedAt: m.UpdatedAt.UTC()}
	if m.UpdatedBy != nil {
		g.UpdatedBy = *m.UpdatedBy
	}
	return g, nil
}
