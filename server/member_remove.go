package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// memberRemover is what removing a member reads and writes.
type memberRemover interface {
	UserByName(ctx context.Context, name string) (store.User, error)
	Members(ctx context.Context, wsID string) ([]store.Member, error)
	RemoveMember(ctx context.Context, wsID, userID string) error
}

var _ memberRemover = (*store.Store)(nil)

// POST /w/{ws}/members/{name}/remove (owner): take a person out of the
// workspace. Their open sockets here close at once, on every server, and
// their API tokens for it stop working. The last owner stays.
func (s *Server) memberRemove(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleOwner)
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := s.stores.members.UserByName(ctx, r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	members, err := s.stores.members.Members(ctx, a.Workspace.ID)
	if err != nil {
		return err
	}
	var role engine.Role
	owners := 0
	for _, m := range members {
		if m.Role == engine.RoleOwner {
			owners++
		}
		if m.User.ID == u.ID {
			role = m.Role
		}
	}
	switch {
	case role == "":
		return errNotFound
	case role == engine.RoleOwner && owners == 1:
		return errorf(http.StatusConflict, "last_owner", "name", u.Name+" is the workspace's only owner: make someone else owner first")
	}
	if err := s.stores.members.RemoveMember(ctx, a.Workspace.ID, u.ID); err != nil {
		return err
	}
	s.audit(ctx, r, actMemberRemoved, "user "+u.Name, "was "+string(role))
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/settings", http.StatusSeeOther)
	return nil
}
