package server

import (
	"net/http"

	"github.com/opsbook/opsbook/engine"
)

// POST /w/{ws}/shares/{id}/revoke (editor)
func (s *Server) shareRevoke(w http.ResponseWriter, r *http.Request) error {
	sh, a, err := s.shareAccess(r.Context(), r.PathValue("id"), engine.RoleViewer)
	if err != nil {
		return err
	}
	if a.Workspace.Slug != r.PathValue("ws") {
		return errNotFound
	}
	if !a.Role.AtLeast(engine.RoleEditor) {
		return errForbidden
	}
	if err := s.revokeShare(r.Context(), r, sh); err != nil {
		return err
	}
	fs, err := s.stores.shareLinks.FlowByID(r.Context(), sh.FlowID)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/flows/"+fs.Slug+"/shares", http.StatusSeeOther)
	return nil
}

// DELETE /api/v1/shares/{id} (editor): 204, also when already revoked.
func (s *Server) apiRevokeShare(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.apiWorkspace(r, engine.RoleViewer); err != nil {
		return err
	}
	sh, _, err := s.shareAccess(r.Context(), r.PathValue("id"), engine.RoleEditor)
	if err != nil {
		return err
	}
	if err := s.revokeShare(r.Context(), r, sh); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
