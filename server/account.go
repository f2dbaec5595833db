package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// passwordSetter changes a password, keeping one session signed in.
type passwordSetter interface {
	SetPassword(ctx context.Context, userID, passwordHash, keep string) error
}

var _ passwordSetter = (*store.Store)(nil)

// GET /account: the signed-in person's account.
func (s *Server) account(w http.ResponseWriter, r *http.Request) error {
	if principalFrom(r.Context()) == nil {
		return errUnauthorized
	}
	return s.render(w, r, http.StatusOK, views.AccountPage(views.AccountProps{
		Page: s.pageOf(r, "Your account", "", ""), Done: r.URL.Query().Get("done") != "",
		MustChange: principalFrom(r.Context()).User.MustChangePassword,
	}))
}

// POST /account/password: change one's own password (the current one
// first); every other browser of theirs is signed out.
func (s *Server) accountPassword(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if p == nil {
		return errUnauthorized
	}
	if p.Token != nil {
		return errorf(http.StatusForbidden, "forbidden", "", "an API token cannot change a password")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	// The current password is a second place to guess one (with a stolen
	// session): it shares the sign-in form's limits for this name.
	addr := limitKey(requestClient(r).Addr)
	wait, err := s.signins.wait(r.Context(), s.clock.Now(), addr, p.User.Name)
	if err != nil {
		return err
	}
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		return s.render(w, r, http.StatusTooManyRequests, views.AccountPage(views.AccountProps{Page: s.pageOf(r, "Your account", "", ""),
			Errors: map[string]string{"current": fmt.Sprintf("too many wrong passwords; try again in %s", secondsWords(wait))}}))
	}
	errs := map[string]string{}
	pw := r.PostFormValue("password")
	if !account.PasswordMatches(p.User.PasswordHash, r.PostFormValue("current")) {
		errs["current"] = "that is not your current password"
		s.signins.failed(r.Context(), s.clock.Now(), addr, p.User.Name)
	}
	if msg := account.CheckPassword(pw); msg != "" {
		errs["password"] = msg
	} else if pw != r.PostFormValue("password_again") {
		errs["password_again"] = "the two passwords differ"
	}
	if len(errs) > 0 {
		return s.render(w, r, http.StatusUnprocessableEntity, views.AccountPage(views.AccountProps{Page: s.pageOf(r, "Your account", "", ""), Errors: errs}))
	}
	hash, err := account.HashPassword(pw)
	if err != nil {
		return err
	}
	keep := ""
	if c, err := r.Cookie(sessionCookie); err == nil {
		keep = account.TokenHash(c.Value)
	}
	if err := s.stores.password.SetPassword(r.Context(), p.User.ID, hash, keep); err != nil {
		return err
	}
	s.auditIn(r.Context(), r, "", actPasswordChanged, "user "+p.User.Name, "")
	http.Redirect(w, r, "/account?done=1", http.StatusSeeOther)
	return nil
}
