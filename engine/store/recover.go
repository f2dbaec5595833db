package store

import (
	"context"

	"github.com/uptrace/bun"
)

// RenameWorkspace changes a workspace's display name.
func (s *Store) RenameWorkspace(ctx context.Context, id, name string) error {
	res, err := s.db.NewUpdate().Model((*workspaceModel)(nil)).
		Set("? = ?", bun.Ident("name"), name).
		Where("? = ?", bun.Ident("id"), id).Exec(ctx)
	return wrap(affected(res, err), "rename workspace %s", id)
}
