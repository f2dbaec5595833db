package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// MaxHookName bounds a webhook token's name, in bytes.
const MaxHookName = 100

// Hook is a webhook token of a flow (migration 0011). Hash is the sha256
// hex of the token; the token itself is never stored.
type Hook struct {
	ID          string
	WorkspaceID string
	FlowID      string
	Name        string
	Hash        string
	CreatedBy   string // user id; "" once that user is deleted
	CreatedAt   time.Time
	LastUsedAt  time.Time // zero: never used
	RevokedAt   time.Time // zero: not revoked
}

type hookModel struct {
	bun.BaseModel `bun:"table:hooks"`

	ID          string     `bun:"id,pk"`
	WorkspaceID string     `bun:"workspace_id"`
	FlowID      string     `bun:"flow_id"`
	Name        string     `bun:"name"`
	Hash        string     `bun:"hash"`
	CreatedBy   *string    `bun:"created_by"`
	CreatedAt   time.Time  `bun:"created_at"`
	LastUsedAt  *time.Time `bun:"last_used_at"`
	RevokedAt   *time.Time `bun:"revoked_at"`
}

func hookOf(m *hookModel) Hook {
	return Hook{
		ID: m.ID, WorkspaceID: m.WorkspaceID, FlowID: m.FlowID, Name: m.Name, Hash: m.Hash,
		CreatedBy: fromNull(m.CreatedBy), CreatedAt: m.CreatedAt.UTC(),
		LastUsedAt: toTime(m.LastUsedAt), RevokedAt: toTime(m.RevokedAt),
	}
}

// CreateHook stores a webhook token; ID and CreatedAt are filled in. A
// taken hash is ErrAlreadyExists; a missing hash or a name longer than
// MaxHookName is ErrInvalid.
func (s *Store) CreateHook(ctx context.Context, h Hook) (Hook, error) {
	switch {
	case h.Hash == "":
		return Hook{}, fmt.Errorf("create hook: a hash is needed: %w", ErrInvalid)
	case len(h.Name) > MaxHookName:
		return Hook{}, fmt.Errorf("create hook: name of %d bytes: %w: at most %d", len(h.Name), ErrInvalid, MaxHookName)
	}
	m := hookModel{
		ID: NewID("h"), WorkspaceID: h.WorkspaceID, FlowID: h.FlowID, Name: h.Name, Hash: h.Hash,
		CreatedBy: nullString(h.CreatedBy), CreatedAt: s.timeNow(),
	}
	if _, err := s.db.NewInsert().Model(&m).Exec(ctx); err != nil {
		return Hook{}, wrap(err, "create hook of flow %s", h.FlowID)
	}
	return hookOf(&m), nil
}

// HookByHash finds a webhook token that is not revoked by the sha256 hex
// of its value, and records it as used (at most once a minute). A revoked
// token is ErrNotFound, as one that never existed. The lookup is by the
// hash's unique index, so its time does not depend on how much of a guess
// matches a real token.
func (s *Store) HookByHash(ctx context.Context, hash string) (Hook, error) {
	now := s.timeNow()
	var m hookModel
	err := s.rdb.NewSelect().Model(&m).
		Where("? = ?", bun.Ident("hash"), hash).
		Where("? IS NULL", bun.Ident("revoked_at")).
		Scan(ctx)
	if err != nil {
		return Hook{}, wrap(err, "hook")
	}
	if m.LastUsedAt == nil || now.Sub(*m.LastUsedAt) >= touchEvery {
		_, err := s.db.NewUpdate().Model((*hookModel)(nil)).
			Set("? = ?", bun.Ident("last_used_at"), now).
			Where("? = ?", bun.Ident("id"), m.ID).
			Exec(ctx)
		if err != nil {
			return Hook{}, wrap(err, "touch hook %s", m.ID)
		}
		m.LastUsedAt = &now
	}
	return hookOf(&m), nil
}

// Hook reads a webhook token by id, revoked ones too.
func (s *Store) Hook(ctx context.Context, id string) (Hook, error) {
	var m hookModel
	if err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("id"), id).Scan(ctx); err != nil {
		return Hook{}, wrap(err, "hook %s", id)
	}
	return hookOf(&m), nil
}

// HooksOfFlow lists a flow's webhook tokens that are not revoked, newest
// first.
func (s *Store) HooksOfFlow(ctx context.Context, flowID string) ([]Hook, error) {
	var ms []hookModel
	err := s.rdb.NewSelect().Model(&ms).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Where("? IS NULL", bun.Ident("revoked_at")).
		Order("created_at DESC", "id DESC").
		Scan(ctx)
	if err != nil {
		return nil, wrap(err, "hooks of flow %s", flowID)
	}
	out := make([]Hook, len(ms))
	for i := range ms {
		out[i] = hookOf(&ms[i])
	}
	return out, nil
}

// RevokeHook revokes a webhook token at once. Revoking a revoked token is
// not an error (its first revocation time stays); an unknown id is
// ErrNotFound.
func (s *Store) RevokeHook(ctx context.Context, id string) error {
	res, err := s.db.NewUpdate().Model((*hookModel)(nil)).
		Set("? = COALESCE(?, ?)", bun.Ident("revoked_at"), bun.Ident("revoked_at"), s.timeNow()).
		Where("? = ?", bun.Ident("id"), id).
		Exec(ctx)
	return wrap(affected(res, err), "revoke hook %s", id)
}
