package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Secret describes a workspace secret, never its value.
type Secret struct {
	WorkspaceID string
	Name        string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	UpdatedBy   string // user id; "" when unknown
}

type secretModel struct {
	bun.BaseModel `bun:"table:secrets"`

	WorkspaceID string    `bun:"workspace_id,pk"`
	Name        string    `bun:"name,pk"`
	Sealed      string    `bun:"sealed"`
	CreatedAt   time.Time `bun:"created_at"`
	UpdatedAt   time.Time `bun:"updated_at"`
	UpdatedBy   *string   `bun:"updated_by"`
}

// SetSecret stores a secret's sealed value (the store never sees it in
// clear), creating or replacing it; created reports which. A value sealed
// with a key a rotation retired is ErrKeyRetired.
func (s *Store) SetSecret(ctx context.Context, wsID, name, sealed, by string) (created bool, err error) {
	now := s.timeNow()
	err = s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.checkSealedKey(ctx, tx, sealed); err != nil {
			return err
		}
		n, err := tx.NewSelect().Model((*secretModel)(nil)).
			Where("? = ?", bun.Ident("workspace_id"), wsID).
			Where("? = ?", bun.Ident("name"), name).
			Count(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			created = true
			_, err = tx.NewInsert().Model(&secretModel{WorkspaceID: wsID, Name: name, Sealed: sealed, CreatedAt: now, UpdatedAt: now, UpdatedBy: nullString(by)}).Exec(ctx)
			return err
		}
		_, err = tx.NewUpdate().Model((*secretModel)(nil)).
			Set("? = ?", bun.Ident("sealed"), sealed).
			Set("? = ?", bun.Ident("updated_at"), now).
			Set("? = ?", bun.Ident("updated_by"), nullString(by)).
			Where("? = ?", bun.Ident("workspace_id"), wsID).
			Where("? = ?", bun.Ident("name"), name).
			Exec(ctx)
		return err
	})
	return created, wrap(err, "set secret %s of workspace %s", name, wsID)
}

// Secrets lists a workspace's secrets by name, without their values.
func (s *Store) Secrets(ctx context.Context, wsID string) ([]Secret, error) {
	var ms []secretModel
	err := s.rdb.NewSelect().Model(&ms).
		Column("workspace_id", "name", "created_at", "updated_at", "updated_by").
		Where("? = ?", bun.Ident("workspace_id"), wsID).
		Order("name").
		Scan(ctx)
	if err != nil {
		return nil, wrap(err, "secrets of workspace %s", wsID)
	}
	out := make([]Secret, len(ms))
	for i, m := range ms {
		out[i] = Secret{WorkspaceID: m.WorkspaceID, Name: m.Name, CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(), UpdatedBy: fromNull(m.UpdatedBy)}
	}
	return out, nil
}

// SealedSecrets returns the sealed values of a workspace's secrets by name:
// the named ones, or all when names is nil. Unknown names are left out.
func (s *Store) SealedSecrets(ctx context.Context, wsID string, names []string) (map[string]string, error) {
	out := map[string]string{}
	if names != nil && len(names) == 0 {
		return out, nil
	}
	var ms []secretModel
	q := s.rdb.NewSelect().Model(&ms).Where("? = ?", bun.Ident("workspace_id"), wsID)
	if names != nil {
		q = q.Where("? IN (?)", bun.Ident("name"), bun.List(names))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrap(err, "read secrets of workspace %s", wsID)
	}
	for _, m := range ms {
		out[m.Name] = m.Sealed
	}
	return out, nil
}

// DeleteSecret removes a secret; ErrNotFound when there is none.
func (s *Store) DeleteSecret(ctx context.Context, wsID, name string) error {
	res, err := s.db.NewDelete().Model((*secretModel)(nil)).
		Where("? = ?", bun.Ident("workspace_id"), wsID).
		Where("? = ?", bun.Ident("name"), name).
		Exec(ctx)
	return wrap(affected(res, err), "delete secret %s of workspace %s", name, wsID)
}
