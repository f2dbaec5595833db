package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// AuditEntry is one line of the audit log: who did what, when and from
// where. The log is append-only: the store has no method to change or
// remove an entry, and the database refuses UPDATE and DELETE.
type AuditEntry struct {
	ID          int64
	At          time.Time
	WorkspaceID string // "" for actions outside a workspace (a sign-in)
	ActorID     string // user id; "" for a share-link holder or an unknown name
	ActorName   string // the user's name, or what identifies the actor
	Action      string // e.g. "run.started", "share.revoked"
	Target      string // what it was done to, e.g. "run r_…"
	Detail      string
	IP          string
	UserAgent   string
}

type auditModel struct {
	bun.BaseModel `bun:"table:audit_log"`

	ID          int64     `bun:"id,pk,autoincrement"`
	At          time.Time `bun:"at"`
	WorkspaceID string    `bun:"workspace_id"`
	ActorID     string    `bun:"actor_id"`
	ActorName   string    `bun:"actor_name"`
	Action      string    `bun:"action"`
	Target      string    `bun:"target"`
	Detail      string    `bun:"detail"`
	IP          string    `bun:"ip"`
	UserAgent   string    `bun:"user_agent"`
}

// AppendAudit adds an entry; At is now when zero.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	if e.At.IsZero() {
		e.At = s.timeNow()
	}
	m := auditModel{
		At: e.At.UTC().Truncate(time.Microsecond), WorkspaceID: e.WorkspaceID, ActorID: e.ActorID,
		ActorName: e.ActorName, Action: e.Action, Target: e.Target, Detail: e.Detail, IP: e.IP, UserAgent: e.UserAgent,
	}
	if _, err := s.db.NewInsert().Model(&m).Returning("id").Exec(ctx); err != nil {
		return AuditEntry{}, wrap(err, "append audit %s", e.Action)
	}
	e.ID = m.ID
	e.At = m.At
	return e, nil
}

// AuditQuery filters the audit log of a workspace.
type AuditQuery struct {
	WorkspaceID string
	Action      string // exact action, or a prefix ending in "." ("share.")
	User        string // the actor's name
	Since       time.Time
	Until       time.Time // exclusive
	Before      int64     // entries with a smaller id (paging); 0: from the newest
	Limit       int       // 0: 200; at most 1000
}

// Audit lists a workspace's audit entries, newest first. The entries of a
// workspace are those made in it, and the sign-ins of its members.
func (s *Store) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 200
	}
	limit = min(limit, 1000)
	var ms []auditModel
	sel := s.rdb.NewSelect().Model(&ms).
		WhereGroup(" AND ", func(sq *bun.SelectQuery) *bun.SelectQuery {
			return sq.Where("? = ?", bun.Ident("workspace_id"), q.WorkspaceID).
				// A member's workspace-less actions (sign-ins) since they
				// joined: not what they did before, or elsewhere earlier.
				WhereOr("? = '' AND EXISTS (SELECT 1 FROM members AS m WHERE m.workspace_id = ? AND m.user_id = ? AND m.created_at <= ?)",
					bun.Ident("workspace_id"), q.WorkspaceID, bun.Ident("actor_id"), bun.Ident("at"))
		})
	if q.Action != "" {
		if q.Action[len(q.Action)-1] == '.' {
			sel = sel.Where("substr(?, 1, ?) = ?", bun.Ident("action"), len(q.Action), q.Action)
		} else {
			sel = sel.Where("? = ?", bun.Ident("action"), q.Action)
		}
	}
	if q.User != "" {
		sel = sel.Where("? = ?", bun.Ident("actor_name"), q.User)
	}
	if !q.Since.IsZero() {
		sel = sel.Where("? >= ?", bun.Ident("at"), q.Since.UTC())
	}
	if !q.Until.IsZero() {
		sel = sel.Where("? < ?", bun.Ident("at"), q.Until.UTC())
	}
	if q.Before > 0 {
		sel = sel.Where("? < ?", bun.Ident("id"), q.Before)
	}
	if err := sel.Order("id DESC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, wrap(err, "audit log of workspace %s", q.WorkspaceID)
	}
	out := make([]AuditEntry, len(ms))
	for i, m := range ms {
		out[i] = AuditEntry{ID: m.ID, At: m.At.UTC(), WorkspaceID: m.WorkspaceID, ActorID: m.ActorID, ActorName: m.ActorName,
			Action: m.Action, Target: m.Target, Detail: m.Detail, IP: m.IP, UserAgent: m.UserAgent}
	}
	return out, nil
}
