package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// setupStore is what the first start writes: the owner and their
// workspace.
type setupStore interface {
	userCounter
	account.UserAdder
	RenameWorkspace(ctx context.Context, id, name string) error
}

var _ setupStore = (*store.Store)(nil)

// POST /setup creates the owner, their workspace, and signs them in.
func (s *Server) setupSave(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	n, err := s.stores.setup.CountUsers(r.Context())
	if err != nil {
		return err
	}
	if n > 0 {
		return errorf(http.StatusForbidden, "setup_done", "", "this studio already has an owner; sign in instead")
	}
	props := views.SetupProps{
		Page: s.pageOf(r, "Welcome", "", ""), Name: strings.TrimSpace(r.PostFormValue("name")),
		Display: strings.TrimSpace(r.PostFormValue("display")), Workspace: strings.TrimSpace(r.PostFormValue("workspace")),
		Errors: map[string]string{},
	}
	pw := r.PostFormValue("password")
	if msg := account.CheckUserName(props.Name); msg != "" {
		props.Errors["name"] = msg
	}
	if msg := account.CheckPassword(pw); msg != "" {
		props.Errors["password"] = msg
	} else if pw != r.PostFormValue("password_again") {
		props.Errors["password_again"] = "the two passwords differ"
	}
	wsSlug := engine.Slugify(props.Workspace)
	if wsSlug == "" {
		props.Errors["workspace"] = "name your team's workspace, e.g. Platform"
	}
	if len(props.Errors) > 0 {
		return s.render(w, r, http.StatusUnprocessableEntity, views.SetupPage(props))
	}
	display := props.Display
	if display == "" {
		display = props.Name
	}
	u, ws, err := account.AddUser(r.Context(), s.stores.setup, props.Name, display, pw, wsSlug, engine.RoleOwner)
	if err != nil {
		return err
	}
	if props.Workspace != ws.Slug {
		s.stores.setup.RenameWorkspace(r.Context(), ws.ID, props.Workspace)
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	s.auditEntry(r.Context(), r, store.AuditEntry{WorkspaceID: ws.ID, ActorID: u.ID, ActorName: u.Name, Action: actMemberAdded, Target: "user " + u.Name, Detail: "as owner, at first start"})
	http.Redirect(w, r, "/w/"+ws.Slug, http.StatusSeeOther)
	return nil
}
