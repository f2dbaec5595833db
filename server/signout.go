package server

import "net/http"

// POST /signout
func (s *Server) signout(w http.ResponseWriter, r *http.Request) error {
	s.endSession(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}
