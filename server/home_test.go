package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// fakeHome is a homeStore without a database: the page's small interface
// lets its every branch be tried, failures included.
type fakeHome struct {
	users     int
	countErr  error
	ms        []store.Membership
	memberErr error
}

func (f fakeHome) CountUsers(context.Context) (int, error) { return f.users, f.countErr }
func (f fakeHome) WorkspacesOf(context.Context, string) ([]store.Membership, error) {
	return f.ms, f.memberErr
}

func TestHome(t *testing.T) {
	t.Parallel()
	down := errors.New("database down")
	acme := store.Membership{Workspace: store.Workspace{Slug: "acme"}, Role: engine.RoleViewer}
	ops := store.Membership{Workspace: store.Workspace{Slug: "ops"}, Role: engine.RoleOwner}
	for _, tc := range []struct {
		name     string
		st       fakeHome
		signedIn bool
		to       string // the redirect; "" when an error is returned
		err      error  // the error returned (errors.Is), when not an apiError
		status   int    // the apiError's status
	}{
		{name: "nobody yet", st: fakeHome{}, to: "/setup"},
		{name: "nobody yet, whoever asks", st: fakeHome{}, signedIn: true, to: "/setup"},
		{name: "anonymous", st: fakeHome{users: 3}, to: "/signin"},
		{name: "a member", st: fakeHome{users: 3, ms: []store.Membership{acme, ops}}, signedIn: true, to: "/w/acme"},
		{name: "in no workspace", st: fakeHome{users: 3}, signedIn: true, status: http.StatusForbidden},
		{name: "users unreadable", st: fakeHome{countErr: down}, signedIn: true, err: down},
		{name: "workspaces unreadable", st: fakeHome{users: 3, memberErr: down}, signedIn: true, err: down},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &Server{stores: handlerStores{home: tc.st}}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.signedIn {
				r = r.WithContext(withPrincipal(r.Context(), &principal{User: store.User{ID: "u1", Name: "ana"}}))
			}
			w := httptest.NewRecorder()
			err := s.home(w, r)
			var ae *apiError
			switch {
			case tc.to != "":
				if err != nil || w.Code != http.StatusSeeOther || w.Header().Get("Location") != tc.to {
					t.Errorf("got %d to %q, err %v; want 303 to %s", w.Code, w.Header().Get("Location"), err, tc.to)
				}
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Errorf("err %v, want %v", err, tc.err)
				}
			case !errors.As(err, &ae) || ae.Status != tc.status:
				t.Errorf("err %v, want an error with status %d", err, tc.status)
			}
		})
	}
}
