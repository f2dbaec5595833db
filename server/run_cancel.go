package server

import (
	"net/http"

	"github.com/opsbook/opsbook/engine"
)

// POST /runs/{id}/cancel: the run page's Cancel button (runners and up).
func (s *Server) runCancelPage(w http.ResponseWriter, r *http.Request) error {
	run, _, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleRunner)
	if err != nil {
		return err
	}
	if ok, _ := s.runs.Cancel(r.Context(), run.ID, ""); !run.Status.Done() && ok {
		s.auditIn(r.Context(), r, run.WorkspaceID, actRunCanceled, "run "+run.ID, "from the run page")
	}
	http.Redirect(w, r, "/runs/"+run.ID, http.StatusSeeOther)
	return nil
}
