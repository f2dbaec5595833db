package store

import (
	"context"
	"fmt"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/uptrace/bun"
)

// CreateWorkspace adds a workspace; a taken slug is ErrAlreadyExists.
func (s *Store) CreateWorkspace(ctx context.Context, slug, name string) (Workspace, error) {
	m := workspaceModel{ID: NewID("w"), Slug: slug, Name: name, CreatedAt: s.timeNow()}
	if _, err := s.db.NewInsert().Model(&m).Exec(ctx); err != nil {
		return Workspace{}, wrap(err, "create workspace %q", slug)
	}
	return workspaceOf(&m), nil
}

// WorkspaceBySlug finds a workspace by slug.
func (s *Store) WorkspaceBySlug(ctx context.Context, slug string) (Workspace, error) {
	var m workspaceModel
	err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("slug"), slug).Scan(ctx)
	if err != nil {
		return Workspace{}, wrap(err, "workspace %q", slug)
	}
	return workspaceOf(&m), nil
}

// WorkspaceByID finds a workspace by id.
func (s *Store) WorkspaceByID(ctx context.Context, id string) (Workspace, error) {
	var m workspaceModel
	err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("id"), id).Scan(ctx)
	if err != nil {
		return Workspace{}, wrap(err, "workspace %s", id)
	}
	return workspaceOf(&m), nil
}

func workspaceOf(m *workspaceModel) Workspace {
	return Workspace{ID: m.ID, Slug: m.Slug, Name: m.Name, CreatedAt: m.CreatedAt.UTC()}
}

// AddMember makes a user a member of a workspace with a role, or changes
// the role of a member. An unknown workspace or user is ErrNotFound.
func (s *Store) AddMember(ctx context.Context, wsID, userID string, role engine.Role) error {
	if !role.Valid() {
		return fmt.Errorf("add member: role %q: %w: want owner, editor, runner or viewer", role, ErrInvalid)
	}
	m := memberModel{WorkspaceID: wsID, UserID: userID, Role: role, CreatedAt: s.timeNow()}
	_, err := s.db.NewInsert().Model(&m).
		On("CONFLICT (workspace_id, user_id) DO UPDATE").
		Set("? = EXCLUDED.?", bun.Ident("role"), bun.Ident("role")).
		Exec(ctx)
	if err != nil {
		return wrap(err, "add user %s to workspace %s", userID, wsID)
	}
	// The role may have changed: open sockets of this member take it now.
	s.credChanged(ctx, CredChange{Kind: CredMember, WorkspaceID: wsID, UserID: userID, Role: role})
	return nil
}

// Member is the role of a user in a workspace; ErrNotFound when the user is
// no member.
func (s *Store) Member(ctx context.Context, wsID, userID string) (engine.Role, error) {
	var role engine.Role
	err := s.rdb.NewSelect().Model((*memberModel)(nil)).Column("role").
		Where("? = ?", bun.Ident("workspace_id"), wsID).
		Where("? = ?", bun.Ident("user_id"), userID).
		Scan(ctx, &role)
	if err != nil {
		return "", wrap(err, "member %s of workspace %s", userID, wsID)
	}
	return role, nil
}

// Members lists the members of a workspace by user name.
func (s *Store) Members(ctx context.Context, wsID string) ([]Member, error) {
	var rows []struct {
		ID           string
		Name         string
		DisplayName  string
		PasswordHash string
		CreatedAt    time.Time
		Role         engine.Role
		JoinedAt     time.Time
	}
	err := s.rdb.NewRaw(`SELECT u.id, u.name, u.display_name, u.password_hash, u.created_at,
		m.role, m.created_at AS joined_at
		FROM members AS m JOIN users AS u ON u.id = m.user_id
		WHERE m.workspace_id = ? ORDER BY u.name`, wsID).Scan(ctx, &rows)
	if err != nil {
		return nil, wrap(err, "members of workspace %s", wsID)
	}
	out := make([]Member, len(rows))
	for i, r := range rows {
		out[i] = Member{
			User: User{
				ID: r.ID, Name: r.Name, DisplayName: r.DisplayName,
				PasswordHash: r.PasswordHash, CreatedAt: r.CreatedAt.UTC(),
			},
			Role:      r.Role,
			CreatedAt: r.JoinedAt.UTC(),
		}
	}
	return out, nil
}

// WorkspacesOf lists the workspaces a user belongs to, by slug.
func (s *Store) WorkspacesOf(ctx context.Context, userID string) ([]Membership, error) {
	var rows []struct {
		ID        string
		Slug      string
		Name      string
		CreatedAt time.Time
		Role      engine.Role
	}
	err := s.rdb.NewRaw(`SELECT w.id, w.slug, w.name, w.created_at, m.role
		FROM members AS m JOIN workspaces AS w ON w.id = m.workspace_id
		WHERE m.user_id = ? ORDER BY w.slug`, userID).Scan(ctx, &rows)
	if err != nil {
		return nil, wrap(err, "workspaces of user %s", userID)
	}
	out := make([]Membership, len(rows))
	for i, r := range rows {
		out[i] = Membership{
			Workspace: Workspace{ID: r.ID, Slug: r.Slug, Name: r.Name, CreatedAt: r.CreatedAt.UTC()},
			Role:      r.Role,
		}
	}
	return out, nil
}

// CreateToken stores an API token; ID and CreatedAt are filled in. A taken
// hash is ErrAlreadyExists. A zero ExpiresAt is a token that never expires;
// one in the past is ErrInvalid.
func (s *Store) CreateToken(ctx context.Context, t Token) (Token, error) {
	if !t.Role.Valid() {
		return Token{}, fmt.Errorf("create token: role %q: %w: want owner, editor, runner or viewer", t.Role, ErrInvalid)
	}
	now := s.timeNow()
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return Token{}, fmt.Errorf("create token: expiry %s: %w: it must be in the future", t.ExpiresAt.UTC().Format(time.RFC3339), ErrInvalid)
	}
	m := tokenModel{
		ID:          NewID("t"),
		UserID:      t.UserID,
		WorkspaceID: t.WorkspaceID,
		Name:        t.Name,
		Hash:        t.Hash,
		Role:        t.Role,
		CreatedAt:   now,
		ExpiresAt:   fromTime(t.ExpiresAt),
	}
	if _, err := s.db.NewInsert().Model(&m).Exec(ctx); err != nil {
		return Token{}, wrap(err, "create token %q for user %s", t.Name, t.UserID)
	}
	return tokenOf(&m), nil
}

// TokenByHash finds a token that is neither revoked nor expired by the
// sha256 hex of its value, and records it as used (at most once a minute).
// A revoked or expired token is ErrNotFound, like one that never was.
func (s *Store) TokenByHash(ctx context.Context, hash string) (Token, error) {
	now := s.timeNow()
	var m tokenModel
	err := s.rdb.NewSelect().Model(&m).
		Where("? = ?", bun.Ident("hash"), hash).
		Where("? IS NULL", bun.Ident("revoked_at")).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("? IS NULL", bun.Ident("expires_at")).WhereOr("? > ?", bun.Ident("expires_at"), now)
		}).
		Scan(ctx)
	if err != nil {
		return Token{}, wrap(err, "token")
	}
	if m.LastUsedAt == nil || now.Sub(*m.LastUsedAt) >= touchEvery {
		_, err := s.db.NewUpdate().Model((*tokenModel)(nil)).
			Set("? = ?", bun.Ident("last_used_at"), now).
			Where("? = ?", bun.Ident("id"), m.ID).
			Exec(ctx)
		if err != nil {
			return Token{}, wrap(err, "touch token %s", m.ID)
		}
		m.LastUsedAt = &now
	}
	return tokenOf(&m), nil
}

// TokenByID finds a token by id, revoked and expired ones too (see
// Token.Live).
func (s *Store) TokenByID(ctx context.Context, id string) (Token, error) {
	var m tokenModel
	if err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("id"), id).Scan(ctx); err != nil {
		return Token{}, wrap(err, "token %s", id)
	}
	return tokenOf(&m), nil
}

// Tokens lists a user's tokens, revoked and expired ones too, newest first.
func (s *Store) Tokens(ctx context.Context, userID string) ([]Token, error) {
	var ms []tokenModel
	err := s.rdb.NewSelect().Model(&ms).
		Where("? = ?", bun.Ident("user_id"), userID).
		Order("created_at DESC", "id DESC").
		Scan(ctx)
	if err != nil {
		return nil, wrap(err, "tokens of user %s", userID)
	}
	out := make([]Token, len(ms))
	for i := range ms {
		out[i] = tokenOf(&ms[i])
	}
	return out, nil
}

// RevokeToken revokes a token at once; ErrNotFound when there is no such
// token or it is already revoked.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	res, err := s.db.NewUpdate().Model((*tokenModel)(nil)).
		Set("? = ?", bun.Ident("revoked_at"), s.timeNow()).
		Where("? = ?", bun.Ident("id"), id).
		Where("? IS NULL", bun.Ident("revoked_at")).
		Exec(ctx)
	if err := affected(res, err); err != nil {
		return wrap(err, "revoke token %s", id)
	}
	s.credChanged(ctx, CredChange{Kind: CredToken, ID: id})
	return nil
}

func tokenOf(m *tokenModel) Token {
	return Token{
		ID:          m.ID,
		UserID:      m.UserID,
		WorkspaceID: m.WorkspaceID,
		Name:        m.Name,
		Hash:        m.Hash,
		Role:        m.Role,
		CreatedAt:   m.CreatedAt.UTC(),
		LastUsedAt:  toTime(m.LastUsedAt),
		RevokedAt:   toTime(m.RevokedAt),
		ExpiresAt:   toTime(m.ExpiresAt),
	}
}

// RemoveMember takes a user out of a workspace. Their API tokens for it stop
// working with the membership (access is checked against it on each use),
// and their open sockets close.
func (s *Store) RemoveMember(ctx context.Context, wsID, userID string) error {
	res, err := s.db.NewDelete().Model((*memberModel)(nil)).
		Where("? = ?", bun.Ident("workspace_id"), wsID).
		Where("? = ?", bun.Ident("user_id"), userID).
		Exec(ctx)
	if err := affected(res, err); err != nil {
		return wrap(err, "remove member %s from workspace %s", userID, wsID)
	}
	s.credChanged(ctx, CredChange{Kind: CredMember, WorkspaceID: wsID, UserID: userID})
	return nil
}
