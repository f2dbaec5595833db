package server

import (
	"net/http"
	"strings"
)

// passwordGate keeps an invited user, still on the first password an owner
// was shown, to their account page until they choose their own: pages
// redirect there, anything else (a form, a socket, the API) is refused.
// Signing out and the favicon stay open.
func (s *Server) passwordGate(next http.Handler) http.Handler {
	refuse := func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusForbidden, "password_change_required", "", "change your first password first (Your account, /account)")
	}
	page, api := s.page(refuse), s.api(refuse)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalFrom(r.Context())
		if p == nil || !p.User.MustChangePassword || passwordGateOpen(r) {
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/"):
			api.ServeHTTP(w, r)
		case (r.Method == http.MethodGet || r.Method == http.MethodHead) && !isSocket(r) && !isData(r):
			http.Redirect(w, r, "/account", http.StatusSeeOther)
		default:
			page.ServeHTTP(w, r)
		}
	})
}

// passwordGateOpen: what someone who must change their password may reach.
func passwordGateOpen(r *http.Request) bool {
	switch r.URL.Path {
	case "/account", "/account/password", "/signout", "/favicon.ico", "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(r.URL.Path, "/static/")
}
