package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// GitHead is a workspace's remote branch head as the last replica to
// push, pull or fetch saw it: another replica whose clone lacks Commit
// knows its clone is behind.
type GitHead struct {
	WorkspaceID string
	Remote      string
	Branch      string
	Commit      string
	UpdatedAt   time.Time
}

type gitHeadModel struct {
	bun.BaseModel `bun:"table:git_heads"`

	WorkspaceID string    `bun:"workspace_id,pk"`
	Remote      string    `bun:"remote"`
	Branch      string    `bun:"branch"`
	Commit      string    `bun:"git_commit"`
	UpdatedAt   time.Time `bun:"updated_at"`
}

// SetGitHead records a workspace's remote head.
func (s *Store) SetGitHead(ctx context.Context, h GitHead) error {
	m := gitHeadModel{WorkspaceID: h.WorkspaceID, Remote: h.Remote, Branch: h.Branch, Commit: h.Commit, UpdatedAt: s.timeNow()}
	_, err := s.db.NewInsert().Model(&m).
		On("CONFLICT (workspace_id) DO UPDATE").
		Set("? = EXCLUDED.?", bun.Ident("remote"), bun.Ident("remote")).
		Set("? = EXCLUDED.?", bun.Ident("branch"), bun.Ident("branch")).
		Set("? = EXCLUDED.?", bun.Ident("git_commit"), bun.Ident("git_commit")).
		Set("? = EXCLUDED.?", bun.Ident("updated_at"), bun.Ident("updated_at")).
		Exec(ctx)
	return wrap(err, "record the git head of workspace %s", h.WorkspaceID)
}

// GitHeadOf reads a workspace's recorded remote head; ErrNotFound when
// none was recorded.
func (s *Store) GitHeadOf(ctx context.Context, wsID string) (GitHead, error) {
	var m gitHeadModel
	if err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("workspace_id"), wsID).Scan(ctx); err != nil {
		return GitHead{}, wrap(err, "git head of workspace %s", wsID)
	}
	return GitHead{WorkspaceID: m.WorkspaceID, Remote: m.Remote, Branch: m.Branch, Commit: m.Commit, UpdatedAt: m.UpdatedAt.UTC()}, nil
}
