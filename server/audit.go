package server

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/opsbook/opsbook/engine/store"
)

// Audit actions: everything that changes or reveals something. Versions
// (saved, published, restored) are recorded by their handlers through
// s.audit with "version.saved", "version.published" and "version.restored".
const (
	actSignIn          = "signin"
	actSignInFailed    = "signin.failed"
	actRunStarted      = "run.started"
	actRunCanceled     = "run.canceled"
	actShareCreated    = "share.created"
	actShareRevoked    = "share.revoked"
	actShareOpened     = "share.opened"
	actHookCreated     = "hook.created"
	actHookRevoked     = "hook.revoked"
	actSecretCreated   = "secret.created"
	actSecretChanged   = "secret.changed"
	actSecretDeleted   = "secret.deleted"
	actSecretUsed      = "secret.used"
	actMemberAdded     = "member.added"
	actMemberRole      = "member.role_changed"
	actMemberRemoved   = "member.removed"
	actTokenCreated    = "token.created"
	actTokenRevoked    = "token.revoked"
	actAuditRead       = "audit.read"
	actFlowCreated     = "flow.created"
	actPasswordChanged = "password.changed"
	maxUserAgentBytes  = 300
)

// auditActions lists the actions, for the activity page's filter.
var auditActions = []string{
	actSignIn, actSignInFailed, actRunStarted, actRunCanceled, actShareCreated, actShareRevoked,
	actHookCreated, actHookRevoked,
	actShareOpened, actSecretCreated, actSecretChanged, actSecretDeleted, actSecretUsed,
	actMemberAdded, actMemberRole, actMemberRemoved, actTokenCreated, actTokenRevoked,
	actFlowCreated, actPasswordChanged, "version.saved", "version.published", "version.restored",
	actGitConfigured, actGitPulled, actGitResolved, actSandboxConfigured,
	actFlowArchived, actFlowUnarchived, actFlowDeleted, actApprovalDecided,
}

// auditWriter appends to the audit log, finding the {ws} of the path.
type auditWriter interface {
	WorkspaceBySlug(ctx context.Context, slug string) (store.Workspace, error)
	AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
}

var _ auditWriter = (*store.Store)(nil)

// audit records an action of the request's principal in the request's
// workspace: the {ws} of the path, else the API token's workspace. target
// names what the action was done to ("run r_…", "flow nightly v3"); detail
// is free text. A failure to record is logged, never shown to the user.
func (s *Server) audit(ctx context.Context, r *http.Request, action, target, detail string) {
	wsID := ""
	if slug := r.PathValue("ws"); slug != "" {
		if ws, err := s.stores.audit.WorkspaceBySlug(ctx, slug); err == nil {
			wsID = ws.ID
		}
	} else if p := principalFrom(r.Context()); p != nil && p.Token != nil {
		wsID = p.Token.WorkspaceID
	}
	s.auditIn(ctx, r, wsID, action, target, detail)
}

// auditIn records an action in a given workspace ("" for none).
func (s *Server) auditIn(ctx context.Context, r *http.Request, wsID, action, target, detail string) {
	e := store.AuditEntry{WorkspaceID: wsID, Action: action, Target: target, Detail: detail}
	if p := principalFrom(r.Context()); p != nil {
		e.ActorID, e.ActorName = p.User.ID, p.User.Name
		if p.Token != nil {
			e.Detail = strings.TrimSpace(e.Detail + " (API token " + p.Token.Name + ")")
		}
	}
	s.auditEntry(ctx, r, e)
}

// auditEntry fills where the request came from and appends e.
func (s *Server) auditEntry(ctx context.Context, r *http.Request, e store.AuditEntry) {
	if r != nil {
		e.IP = clientIP(r)
		e.UserAgent = truncate(r.UserAgent(), maxUserAgentBytes)
	}
	// The entry is written even when the request was canceled meanwhile.
	if _, err := s.stores.audit.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.ErrorContext(ctx, "audit", "action", e.Action, "target", e.Target, "err", err)
	}
}

// auditOpened records that a link was opened, once per link and client
// address an hour: the audit log is never pruned, so a link opened in a
// loop must not fill it. Who opened what, from where, stays in it.
func (s *Server) auditOpened(ctx context.Context, r *http.Request, link string, e store.AuditEntry) {
	if ok, _ := s.limits.take(ctx, "opened:"+link+":"+clientIP(r), 1, s.clock.Now()); ok {
		s.auditEntry(ctx, r, e)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
