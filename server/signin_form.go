package server

import (
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/opsbook/opsbook/views"
)

// GET /signin
func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) error {
	if n, err := s.stores.users.CountUsers(r.Context()); err == nil && n == 0 {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, http.StatusOK, views.SignInPage(views.SignInProps{Page: s.pageOf(r, "Sign in", "", ""), Next: safeNext(r.URL.Query().Get("next"))}))
}

// safeNext keeps a post-sign-in redirect on this site: next must be a path
// of the studio — one "/" and then neither a second "/" nor a backslash
// (browsers read "//" and "/\" as the start of another host) — with no
// backslash and no control character anywhere, raw or percent-encoded:
// browsers drop tabs and newlines from a URL ("/<tab>/evil" becomes
// "//evil") and read a backslash as "/". Anything else becomes "/".
func safeNext(next string) string {
	if len(next) > 2048 || !sameOriginPath(next) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	// The decoded forms: the path (where no studio path has an empty
	// segment), and the whole of it (query, fragment).
	whole, err := url.PathUnescape(next)
	if err != nil || !sameOriginPath(u.Path) || strings.Contains(u.Path, "//") || !sameOriginPath(whole) {
		return "/"
	}
	return next
}

// sameOriginPath reports whether p starts with exactly one "/" and holds
// no backslash and nothing unprintable (controls, line separators, bidi
// marks, bad UTF-8).
func sameOriginPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
		return false
	}
	for _, r := range p {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}
