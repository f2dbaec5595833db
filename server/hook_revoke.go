package server

import (
	"net/http"

	"github.com/opsbook/opsbook/engine"
)

// POST /w/{ws}/hooks/{id}/revoke (editor)
func (s *Server) hookRevokePage(w http.ResponseWriter, r *http.Request) error {
	h, a, err := s.hookAccess(r.Context(), r.PathValue("id"), engine.RoleViewer)
	if err != nil {
		return err
	}
	if a.Workspace.Slug != r.PathValue("ws") {
		return errNotFound
	}
	if !a.Role.AtLeast(engine.RoleEditor) {
		return errForbidden
	}
	if err := s.revokeHook(r.Context(), r, h); err != nil {
		return err
	}
	fs, err := s.stores.hooks.FlowByID(r.Context(), h.FlowID)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/flows/"+fs.Slug+"/shares#webhooks", http.StatusSeeOther)
	return nil
}

// DELETE /api/v1/hooks/{id} (editor): 204, also when already revoked.
func (s *Server) apiRevokeHook(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.apiWorkspace(r, engine.RoleViewer); err != nil {
		return err
	}
	h, _, err := s.hookAccess(r.Context(), r.PathValue("id"), engine.RoleEditor)
	if err != nil {
		return err
	}
	if err := s.revokeHook(r.Context(), r, h); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
