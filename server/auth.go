package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

const (
	sessionCookie = "opsbook_session"
	sessionTTL    = 30 * 24 * time.Hour
)

// principal is who is making a request.
type principal struct {
	User store.User
	// Token is set when the request came with an API token; the token's
	// workspace and role then bound what it can do.
	Token *store.Token
	// Session is set when the request came with a session cookie.
	Session *store.Session
	// gen is the count of credential changes seen before the credential
	// was looked up (credwatch.go).
	gen uint64
}

type ctxKey int

const principalKey ctxKey = 1

func withPrincipal(ctx context.Context, p *principal) context.Context {
	if p != nil {
		noteUser(ctx, p.User.ID)
	}
	return context.WithValue(ctx, principalKey, p)
}

func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey).(*principal)
	return p
}

// credentialFinder finds whose API token or session cookie a request carries.
type credentialFinder interface {
	TokenByHash(ctx context.Context, hash string) (store.Token, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	SessionUser(ctx context.Context, tokenHash string) (store.User, store.Session, error)
}

var _ credentialFinder = (*store.Store)(nil)

// sessionKeeper starts and ends browser sessions.
type sessionKeeper interface {
	CreateSession(ctx context.Context, userID, tokenHash string, expires time.Time) (store.Session, error)
	DeleteSession(ctx context.Context, tokenHash string) error
}

var _ sessionKeeper = (*store.Store)(nil)

// memberChecker finds a workspace and a person's role in it.
type memberChecker interface {
	WorkspaceBySlug(ctx context.Context, slug string) (store.Workspace, error)
	Member(ctx context.Context, wsID, userID string) (engine.Role, error)
}

var _ memberChecker = (*store.Store)(nil)

// authenticate finds the principal of a request from its bearer token or
// session cookie. It never fails the request: handlers decide.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		gen := s.grants.gen.Load()
		if h := r.Header.Get("Authorization"); h != "" {
			tok, ok := strings.CutPrefix(h, "Bearer ")
			if ok {
				t, err := s.stores.credentials.TokenByHash(ctx, account.TokenHash(strings.TrimSpace(tok)))
				if err == nil {
					if u, err := s.stores.credentials.UserByID(ctx, t.UserID); err == nil {
						next.ServeHTTP(w, r.WithContext(withPrincipal(ctx, &principal{User: u, Token: &t, gen: gen})))
						return
					}
				}
			}
			// A bad token is an anonymous request; API handlers answer 401.
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			u, sess, err := s.stores.credentials.SessionUser(ctx, account.TokenHash(c.Value))
			if err == nil {
				next.ServeHTTP(w, r.WithContext(withPrincipal(ctx, &principal{User: u, Session: &sess, gen: gen})))
				return
			}
			if !errors.Is(err, store.ErrNotFound) {
				s.log.ErrorContext(ctx, "session lookup", "err", err)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// startSession signs the user in on this browser.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	token, hash := account.NewToken("")
	exp := time.Now().Add(sessionTTL)
	if _, err := s.stores.sessions.CreateSession(r.Context(), u.ID, hash, exp); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(r),
	})
	return nil
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.stores.sessions.DeleteSession(r.Context(), account.TokenHash(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(r)})
}

// access is what a principal may do in a workspace.
type access struct {
	Workspace store.Workspace
	Role      engine.Role
}

// errForbidden and errUnauthorized map to 403 and 401 (or a sign-in
// redirect for pages).
var (
	errUnauthorized = errors.New("sign in first")
	errForbidden    = errors.New("your role does not allow this")
	errNotFound     = errors.New("not found")
)

// workspaceAccess checks that the principal is a member of the workspace
// with at least min role. Members of other workspaces get errNotFound, so
// a workspace's existence is not revealed.
func (s *Server) workspaceAccess(ctx context.Context, wsSlug string, min engine.Role) (access, error) {
	p := principalFrom(ctx)
	if p == nil {
		return access{}, errUnauthorized
	}
	ws, err := s.stores.access.WorkspaceBySlug(ctx, wsSlug)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return access{}, errNotFound
		}
		return access{}, err
	}
	return s.accessTo(ctx, ws, min)
}

func (s *Server) accessTo(ctx context.Context, ws store.Workspace, min engine.Role) (access, error) {
	p := principalFrom(ctx)
	if p == nil {
		return access{}, errUnauthorized
	}
	role, err := s.stores.access.Member(ctx, ws.ID, p.User.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return access{}, errNotFound
		}
		return access{}, err
	}
	if p.Token != nil {
		if p.Token.WorkspaceID != ws.ID {
			return access{}, errNotFound
		}
		// A token never has more rights than its owner has now.
		role = role.Lower(p.Token.Role)
	}
	if !role.AtLeast(min) {
		return access{Workspace: ws, Role: role}, errForbidden
	}
	return access{Workspace: ws, Role: role}, nil
}
