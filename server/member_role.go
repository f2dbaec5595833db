package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// memberRoleSetter is what changing a member's role reads and writes.
type memberRoleSetter interface {
	UserByName(ctx context.Context, name string) (store.User, error)
	Members(ctx context.Context, wsID string) ([]store.Member, error)
	AddMember(ctx context.Context, wsID, userID string, role engine.Role) error
}

var _ memberRoleSetter = (*store.Store)(nil)

// POST /w/{ws}/members/{name}/role (owner), form role=…: change a
// member's role. Their open sockets here take the new role at once (a
// lower one closes the sockets that need more), and their API tokens are
// capped at it on every use. The last owner is never demoted.
func (s *Server) memberRole(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleOwner)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	role := engine.Role(r.PostFormValue("role"))
	ctx := r.Context()
	u, err := s.stores.memberRole.UserByName(ctx, strings.ToLower(r.PathValue("name")))
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	members, err := s.stores.memberRole.Members(ctx, a.Workspace.ID)
	if err != nil {
		return err
	}
	before := memberRoleIn(members, u.ID)
	if before == "" {
		return errNotFound
	}
	if !role.Valid() {
		return errorf(http.StatusUnprocessableEntity, "bad_role", "role", "choose owner, editor, runner or viewer")
	}
	if err := lastOwnerStays(members, u, role); err != nil {
		return err
	}
	if role != before {
		if err := s.stores.memberRole.AddMember(ctx, a.Workspace.ID, u.ID, role); err != nil {
			return err
		}
		s.audit(ctx, r, actMemberRole, "user "+u.Name, string(before)+" → "+string(role))
	}
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/settings", http.StatusSeeOther)
	return nil
}

// memberRoleIn is the role of user in members; "" when they are none.
func memberRoleIn(members []store.Member, userID string) engine.Role {
	for _, m := range members {
		if m.User.ID == userID {
			return m.Role
		}
	}
	return ""
}

// lastOwnerStays refuses to give the workspace's only owner another role.
func lastOwnerStays(members []store.Member, u store.User, role engine.Role) error {
	if role == engine.RoleOwner || memberRoleIn(members, u.ID) != engine.RoleOwner {
		return nil
	}
	owners := 0
	for _, m := range members {
		if m.Role == engine.RoleOwner {
			owners++
		}
	}
	if owners > 1 {
		return nil
	}
	return errorf(http.StatusConflict, "last_owner", "role", u.Name+" is the workspace's only owner: make someone else owner first")
}
