package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// settingsStore is what the settings page's members and tokens read and write.
type settingsStore interface {
	Members(ctx context.Context, wsID string) ([]store.Member, error)
	Member(ctx context.Context, wsID, userID string) (engine.Role, error)
	CreateInvitedUser(ctx context.Context, name, displayName, passwordHash string) (store.User, error)
	AddMember(ctx context.Context, wsID, userID string, role engine.Role) error
	Tokens(ctx context.Context, userID string) ([]store.Token, error)
	RevokeToken(ctx context.Context, id string) error
	account.TokenMaker
}

var _ settingsStore = (*store.Store)(nil)

func (s *Server) settingsProps(r *http.Request, a access) (views.SettingsProps, error) {
	ctx := r.Context()
	props := views.SettingsProps{
		Page: s.pageOf(r, "Settings", a.Workspace.Slug, "settings"), CanManage: a.Role == engine.RoleOwner,
		InviteRole: engine.RoleEditor, TokenRole: a.Role,
		InviteErrors: map[string]string{}, TokenErrors: map[string]string{},
	}
	members, err := s.stores.settings.Members(ctx, a.Workspace.ID)
	if err != nil {
		return props, err
	}
	for _, m := range members {
		props.Members = append(props.Members, views.Member{Name: m.User.Name, Display: m.User.DisplayName, Role: m.Role})
	}
	p := principalFrom(ctx)
	toks, err := s.stores.settings.Tokens(ctx, p.User.ID)
	if err != nil {
		return props, err
	}
	for _, t := range toks {
		if t.WorkspaceID != a.Workspace.ID || !t.RevokedAt.IsZero() {
			continue
		}
		props.Tokens = append(props.Tokens, views.Token{ID: t.ID, Name: t.Name, Role: t.Role, CreatedBy: p.User.Name, CreatedAt: t.CreatedAt, LastUsed: t.LastUsedAt,
			Expires: t.ExpiresAt, Expired: !t.ExpiresAt.IsZero() && !time.Now().Before(t.ExpiresAt)})
	}
	if err := s.secretsSection(r, a, &props); err != nil {
		return props, err
	}
	if err := s.sandboxSection(r, a, &props); err != nil {
		return props, err
	}
	if err := s.retentionSection(r, a, &props); err != nil {
		return props, err
	}
	if err := s.notifySection(r, a, &props); err != nil {
		return props, err
	}
	return props, s.gitSection(r, a, &props)
}

// GET /w/{ws}/settings
func (s *Server) settings(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleViewer)
	if err != nil {
		return err
	}
	props, err := s.settingsProps(r, a)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.SettingsPage(props))
}

// POST /w/{ws}/members (owner): invite a person by creating their account
// with a one-time password shown once, or change a member's role.
func (s *Server) memberAdd(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleOwner)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	props, err := s.settingsProps(r, a)
	if err != nil {
		return err
	}
	// Names are stored lower-case; sign-in takes them in any case.
	props.InviteName = strings.ToLower(strings.TrimSpace(r.PostFormValue("name")))
	props.InviteRole = engine.Role(r.PostFormValue("role"))
	if msg := account.CheckUserName(props.InviteName); msg != "" {
		props.InviteErrors["name"] = msg
	}
	if !props.InviteRole.Valid() {
		props.InviteErrors["role"] = "choose owner, editor, runner or viewer"
	}
	if len(props.InviteErrors) > 0 {
		return s.render(w, r, http.StatusUnprocessableEntity, views.SettingsPage(props))
	}
	ctx := r.Context()
	var before engine.Role
	u, err := s.stores.settings.UserByName(ctx, props.InviteName)
	switch {
	case err == nil:
		// An existing account: add them, or change their role.
		before, _ = s.stores.settings.Member(ctx, a.Workspace.ID, u.ID)
		members, err := s.stores.settings.Members(ctx, a.Workspace.ID)
		if err != nil {
			return err
		}
		var ae *apiError
		if err := lastOwnerStays(members, u, props.InviteRole); errors.As(err, &ae) {
			props.InviteErrors["role"] = ae.Message
			return s.render(w, r, http.StatusConflict, views.SettingsPage(props))
		}
	case errors.Is(err, store.ErrNotFound):
		pw := oneTimePassword()
		hash, err := account.HashPassword(pw)
		if err != nil {
			return err
		}
		if u, err = s.stores.settings.CreateInvitedUser(ctx, props.InviteName, props.InviteName, hash); err != nil {
			return err
		}
		props.NewUser = &views.NewUser{Name: u.Name, Password: pw}
	default:
		return err
	}
	if err := s.stores.settings.AddMember(ctx, a.Workspace.ID, u.ID, props.InviteRole); err != nil {
		return err
	}
	switch before {
	case "":
		s.audit(ctx, r, actMemberAdded, "user "+u.Name, "as "+string(props.InviteRole))
	case props.InviteRole:
	default:
		s.audit(ctx, r, actMemberRole, "user "+u.Name, string(before)+" → "+string(props.InviteRole))
	}
	fresh, err := s.settingsProps(r, a)
	if err != nil {
		return err
	}
	fresh.NewUser = props.NewUser
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusOK, views.SettingsPage(fresh))
}

func oneTimePassword() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// POST /w/{ws}/tokens: a personal API token in this workspace, with at
// most the creator's role; shown once.
func (s *Server) tokenCreate(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleViewer)
	if err != nil {
		return err
	}
	if principalFrom(r.Context()).Token != nil {
		return errorf(http.StatusForbidden, "forbidden", "", "an API token cannot make tokens")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	props, err := s.settingsProps(r, a)
	if err != nil {
		return err
	}
	props.TokenName = strings.TrimSpace(r.PostFormValue("name"))
	props.TokenRole = engine.Role(r.PostFormValue("role"))
	props.TokenExpires = strings.TrimSpace(r.PostFormValue("expires"))
	expires, msg := account.TokenExpiry(props.TokenExpires, time.Now())
	if msg != "" {
		props.TokenErrors["expires"] = msg
	}
	if props.TokenName == "" || len(props.TokenName) > 100 {
		props.TokenErrors["name"] = "name the token after what uses it, e.g. ci-deploy"
	}
	if !props.TokenRole.Valid() {
		props.TokenErrors["role"] = "choose owner, editor, runner or viewer"
	} else if !a.Role.AtLeast(props.TokenRole) {
		props.TokenErrors["role"] = "a token cannot have more rights than you (" + string(a.Role) + ")"
	}
	if len(props.TokenErrors) > 0 {
		return s.render(w, r, http.StatusUnprocessableEntity, views.SettingsPage(props))
	}
	tok, err := account.CreateTokenExpiring(r.Context(), s.stores.settings, principalFrom(r.Context()).User.Name, a.Workspace.Slug, props.TokenName, props.TokenRole, expires)
	if err != nil {
		return err
	}
	detail := "role " + string(props.TokenRole)
	if !expires.IsZero() {
		detail += ", expires " + expires.UTC().Format(time.RFC3339)
	}
	s.audit(r.Context(), r, actTokenCreated, "token "+props.TokenName, detail)
	fresh, err := s.settingsProps(r, a)
	if err != nil {
		return err
	}
	fresh.NewToken = tok
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusOK, views.SettingsPage(fresh))
}

// POST /w/{ws}/tokens/{id}/revoke: revoke one of your own tokens.
func (s *Server) tokenRevoke(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleViewer)
	if err != nil {
		return err
	}
	p := principalFrom(r.Context())
	toks, err := s.stores.settings.Tokens(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.ID == r.PathValue("id") && t.WorkspaceID == a.Workspace.ID {
			if err := s.stores.settings.RevokeToken(r.Context(), t.ID); err != nil {
				return err
			}
			s.audit(r.Context(), r, actTokenRevoked, "token "+t.Name, t.ID)
			http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/settings", http.StatusSeeOther)
			return nil
		}
	}
	return errNotFound
}
