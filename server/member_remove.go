package server

import (
	"errors"
	"net/http"

	"github.com/opsbook/opsbook/engine/store"
)

// POST /w/{ws}/members/{name}/remove (owner): take a person out of the
// workspace. Their open sockets here close at once, on every server, and
// their API tokens for it stop working. The last owner stays.
func (s *Server) memberRemove(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), store.RoleOwner)
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := s.store.UserByName(ctx, r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	members, err := s.store.Members(ctx, a.Workspace.ID)
	if err != nil {
		return err
	}
	role, owners := "", 0
	for _, m := range members {
		if m.Role == store.RoleOwner {
			owners++
		}
		if m.User.ID == u.ID {
			role = m.Role
		}
	}
	switch {
	case role == "":
		return errNotFound
	case role == store.RoleOwner && owners == 1:
		return errorf(http.StatusConflict, "last_owner", "name", u.Name+" is the workspace's only owner: make someone else owner first")
	}
	if err := s.store.RemoveMember(ctx, a.Workspace.ID, u.ID); err != nil {
		return err
	}
	s.audit(ctx, r, actMemberRemoved, "user "+u.Name, "was "+role)
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/settings", http.StatusSeeOther)
	return nil
}
