package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// userFinder finds who is signing in.
type userFinder interface {
	UserByName(ctx context.Context, name string) (store.User, error)
}

var _ userFinder = (*store.Store)(nil)

// POST /signin
func (s *Server) signinSave(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	// Names are stored lower-case (account.CheckUserName): "Alice" is alice.
	name := strings.ToLower(strings.TrimSpace(r.PostFormValue("name")))
	next := safeNext(r.PostFormValue("next"))
	addr := limitKey(requestClient(r).Addr)
	wait, err := s.signins.wait(r.Context(), s.clock.Now(), addr, name)
	if err != nil {
		return err
	}
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		return s.render(w, r, http.StatusTooManyRequests, views.SignInPage(views.SignInProps{Page: s.pageOf(r, "Sign in", "", ""), Name: name, Next: next,
			Error: fmt.Sprintf("too many failed sign-ins; try again in %s, or ask an owner to reset your password", secondsWords(wait))}))
	}
	u, err := s.stores.signin.UserByName(r.Context(), name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || !account.PasswordMatches(u.PasswordHash, r.PostFormValue("password")) {
		if err != nil {
			// Spend the same time as a real check, so names are not revealed.
			account.PasswordMatches(dummyHash(), r.PostFormValue("password"))
		}
		s.signins.failed(r.Context(), s.clock.Now(), addr, name)
		s.auditEntry(r.Context(), r, store.AuditEntry{ActorID: u.ID, ActorName: truncate(name, 100), Action: actSignInFailed})
		return s.render(w, r, http.StatusUnauthorized, views.SignInPage(views.SignInProps{Page: s.pageOf(r, "Sign in", "", ""), Name: name, Next: next, Error: "that name and password do not match"}))
	}
	s.signins.succeeded(r.Context(), s.clock.Now(), addr, name)
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	s.auditEntry(r.Context(), r, store.AuditEntry{ActorID: u.ID, ActorName: u.Name, Action: actSignIn})
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// dummyHash is made at the first sign-in of an unknown name, not at
// package init: every opsbook command (and each run's sandbox launcher,
// which is this binary) would otherwise pay ~58 ms of bcrypt at start.
var dummyHash = sync.OnceValue(func() string {
	h, _ := account.HashPassword("not a real password, only for timing")
	return h
})

// secondsWords says a wait in whole seconds or minutes, rounded up.
func secondsWords(d time.Duration) string {
	switch s := int((d + time.Second - 1) / time.Second); {
	case s <= 1:
		return "a second"
	case s < 90:
		return fmt.Sprintf("%d seconds", s)
	default:
		return fmt.Sprintf("%d minutes", (s+59)/60)
	}
}
