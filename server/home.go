package server

import (
	"context"
	"net/http"

	"github.com/opsbook/opsbook/engine/store"
)

// homeStore is what the home page reads.
type homeStore interface {
	CountUsers(ctx context.Context) (int, error)
	WorkspacesOf(ctx context.Context, userID string) ([]store.Membership, error)
}

var _ homeStore = (*store.Store)(nil)

// GET /
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	n, err := s.stores.home.CountUsers(r.Context())
	if err != nil {
		return err
	}
	if n == 0 {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return nil
	}
	p := principalFrom(r.Context())
	if p == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return nil
	}
	ms, err := s.stores.home.WorkspacesOf(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return errorf(http.StatusForbidden, "no_workspace", "", "you are not a member of any workspace yet; ask an owner to invite you")
	}
	http.Redirect(w, r, "/w/"+ms[0].Workspace.Slug, http.StatusSeeOther)
	return nil
}
