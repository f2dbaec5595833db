package server

import (
	"net/http"

	"github.com/opsbook/opsbook/engine"
)

// GET /runs/{id}/ws?since=N
func (s *Server) runSocket(w http.ResponseWriter, r *http.Request) error {
	run, a, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleViewer)
	if err != nil {
		return err
	}
	since, err := sinceParam(r)
	if err != nil {
		return err
	}
	g, err := s.hold(r.Context(), a, engine.RoleViewer, false)
	if err != nil {
		return err
	}
	s.streamRunWS(w, r, run.ID, since, false, g)
	return nil
}
