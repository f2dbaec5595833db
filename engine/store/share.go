package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Kinds of share link.
const (
	ShareRun  = "run"  // shows one run, read-only and live
	ShareForm = "form" // a form that starts runs of a flow
)

// Share is a share link. Hash is the sha256 hex of the link's token; the
// token itself is never stored.
type Share struct {
	ID            string
	WorkspaceID   string
	FlowID        string
	RunID         string // "" for a form link
	Kind          string // ShareRun or ShareForm
	Hash          string
	ShowCode      bool
	RequireSignIn bool // form links: only signed-in members may run
	RunsPerHour   int  // form links: 0 means no limit
	CreatedBy     string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	RevokedAt     time.Time // zero: not revoked
	Views         int64
	LastViewedAt  time.Time // zero: never opened
}

// Live reports whether the link still works at now.
func (sh Share) Live(now time.Time) bool {
	return sh.RevokedAt.IsZero() && now.Before(sh.ExpiresAt)
}

type shareModel struct {
	bun.BaseModel `bun:"table:shares"`

	ID            string     `bun:"id,pk"`
	WorkspaceID   string     `bun:"workspace_id"`
	FlowID        string     `bun:"flow_id"`
	RunID         *string    `bun:"run_id"`
	Kind          string     `bun:"kind"`
	Hash          string     `bun:"hash"`
	ShowCode      bool       `bun:"show_code"`
	RequireSignIn bool       `bun:"require_signin"`
	RunsPerHour   int        `bun:"runs_per_hour"`
	CreatedBy     *string    `bun:"created_by"`
	CreatedAt     time.Time  `bun:"created_at"`
	ExpiresAt     time.Time  `bun:"expires_at"`
	RevokedAt     *time.Time `bun:"revoked_at"`
	Views         int64      `bun:"views"`
	LastViewedAt  *time.Time `bun:"last_viewed_at"`
}

func shareOf(m *shareModel) Share {
	return Share{
		ID: m.ID, WorkspaceID: m.WorkspaceID, FlowID: m.FlowID, RunID: fromNull(m.RunID),
		Kind: m.Kind, Hash: m.Hash, ShowCode: m.ShowCode, RequireSignIn: m.RequireSignIn,
		RunsPerHour: m.RunsPerHour, CreatedBy: fromNull(m.CreatedBy), CreatedAt: m.CreatedAt.UTC(),
		ExpiresAt: m.ExpiresAt.UTC(), RevokedAt: toTime(m.RevokedAt), Views: m.Views,
		LastViewedAt: toTime(m.LastViewedAt),
	}
}

// CreateShare stores a share link; ID and CreatedAt are filled in. A run
// link needs RunID, a form link must not have one.
func (s *Store) CreateShare(ctx context.Context, sh Share) (Share, error) {
	switch {
	case sh.Kind == ShareRun && sh.RunID == "", sh.Kind == ShareForm && sh.RunID != "":
		return Share{}, fmt.Errorf("create share: kind %s with run %q: %w", sh.Kind, sh.RunID, ErrInvalid)
	case sh.Kind != ShareRun && sh.Kind != ShareForm:
		return Share{}, fmt.Errorf("create share: kind %q: %w: want run or form", sh.Kind, ErrInvalid)
	case sh.Hash == "" || sh.ExpiresAt.IsZero():
		return Share{}, fmt.Errorf("create share: a hash and an expiry are needed: %w", ErrInvalid)
	}
	m := shareModel{
		ID: NewID("s"), WorkspaceID: sh.WorkspaceID, FlowID: sh.FlowID, RunID: nullString(sh.RunID),
		Kind: sh.Kind, Hash: sh.Hash, ShowCode: sh.ShowCode, RequireSignIn: sh.RequireSignIn,
		RunsPerHour: max(sh.RunsPerHour, 0), CreatedBy: nullString(sh.CreatedBy), CreatedAt: s.timeNow(),
		ExpiresAt: sh.ExpiresAt.UTC().Truncate(time.Microsecond),
	}
	if _, err := s.db.NewInsert().Model(&m).Exec(ctx); err != nil {
		return Share{}, wrap(err, "create %s share of flow %s", sh.Kind, sh.FlowID)
	}
	return shareOf(&m), nil
}

// ShareByHash finds a live share link by the sha256 hex of its token. A
// revoked or expired link is ErrNotFound, as one that never existed.
func (s *Store) ShareByHash(ctx context.Context, hash string) (Share, error) {
	var m shareModel
	err := s.rdb.NewSelect().Model(&m).
		Where("? = ?", bun.Ident("hash"), hash).
		Where("? IS NULL", bun.Ident("revoked_at")).
		Where("? > ?", bun.Ident("expires_at"), s.timeNow()).
		Scan(ctx)
	if err != nil {
		return Share{}, wrap(err, "share")
	}
	return shareOf(&m), nil
}

// Share reads a share link by id, revoked and expired ones too.
func (s *Store) Share(ctx context.Context, id string) (Share, error) {
	var m shareModel
	if err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("id"), id).Scan(ctx); err != nil {
		return Share{}, wrap(err, "share %s", id)
	}
	return shareOf(&m), nil
}

// SharesOfFlow lists a flow's share links, newest first, revoked and
// expired ones too.
func (s *Store) SharesOfFlow(ctx context.Context, flowID string) ([]Share, error) {
	var ms []shareModel
	err := s.rdb.NewSelect().Model(&ms).
		Where("? = ?", bun.Ident("flow_id"), flowID).
		Order("created_at DESC", "id DESC").
		Scan(ctx)
	if err != nil {
		return nil, wrap(err, "shares of flow %s", flowID)
	}
	out := make([]Share, len(ms))
	for i := range ms {
		out[i] = shareOf(&ms[i])
	}
	return out, nil
}

// RevokeShare revokes a link at once. Revoking a revoked link is not an
// error; an unknown id is ErrNotFound.
func (s *Store) RevokeShare(ctx context.Context, id string) error {
	res, err := s.db.NewUpdate().Model((*shareModel)(nil)).
		Set("? = COALESCE(?, ?)", bun.Ident("revoked_at"), bun.Ident("revoked_at"), s.timeNow()).
		Where("? = ?", bun.Ident("id"), id).
		Exec(ctx)
	return wrap(affected(res, err), "revoke share %s", id)
}

// CountShareView adds one to a link's view count.
func (s *Store) CountShareView(ctx context.Context, id string) error {
	res, err := s.db.NewUpdate().Model((*shareModel)(nil)).
		Set("? = ? + 1", bun.Ident("views"), bun.Ident("views")).
		Set("? = ?", bun.Ident("last_viewed_at"), s.timeNow()).
		Where("? = ?", bun.Ident("id"), id).
		Exec(ctx)
	return wrap(affected(res, err), "count a view of share %s", id)
}
