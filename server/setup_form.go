package server

import (
	"context"
	"net/http"

	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// userCounter tells whether the studio has anyone yet: setup is only for
// the first, and sign-in leads to setup until then.
type userCounter interface {
	CountUsers(ctx context.Context) (int, error)
}

var _ userCounter = (*store.Store)(nil)

// GET /setup — only while nobody has an account.
func (s *Server) setupForm(w http.ResponseWriter, r *http.Request) error {
	n, err := s.stores.users.CountUsers(r.Context())
	if err != nil {
		return err
	}
	if n > 0 {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, http.StatusOK, views.SetupPage(views.SetupProps{Page: s.pageOf(r, "Welcome", "", ""), Workspace: "My team"}))
}
