package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/opsbook/opsbook/engine/store"
)

const (
	sessionCookie = "opsbook_session"
	sessionTTL    = 30 * 24 * time.Hour
	// bcryptCost is bcrypt's default: about 50 ms a check on this machine.
	bcryptCost = bcrypt.DefaultCost
)

// HashPassword hashes a password for storage.
func HashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// PasswordMatches reports whether pw matches the stored hash.
func PasswordMatches(hash, pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// NewToken returns a random token (256 bits, URL-safe) and its sha256 hex,
// which is what the store keeps.
func NewToken(prefix string) (token, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, TokenHash(token)
}

// TokenHash is the stored form of a token.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// roleRank orders roles: a higher rank can do everything a lower one can.
var roleRank = map[string]int{store.RoleViewer: 1, store.RoleRunner: 2, store.RoleEditor: 3, store.RoleOwner: 4}

// atLeast reports whether role has the rights of min.
func atLeast(role, min string) bool { return roleRank[role] >= roleRank[min] && roleRank[role] > 0 }

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
	return context.WithValue(ctx, principalKey, p)
}

func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey).(*principal)
	return p
}

// authenticate finds the principal of a request from its bearer token or
// session cookie. It never fails the request: handlers decide.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		gen := s.grants.gen.Load()
		if h := r.Header.Get("Authorization"); h != "" {
			tok, ok := strings.CutPrefix(h, "Bearer ")
			if ok {
				t, err := s.store.TokenByHash(ctx, TokenHash(strings.TrimSpace(tok)))
				if err == nil {
					if u, err := s.store.UserByID(ctx, t.UserID); err == nil {
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
			u, sess, err := s.store.SessionUser(ctx, TokenHash(c.Value))
			if err == nil {
				next.ServeHTTP(w, r.WithContext(withPrincipal(ctx, &principal{User: u, Session: &sess, gen: gen})))
				return
			}
			if !errors.Is(err, store.ErrNotFound) {
				s.log.Error("session lookup", "err", err)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// startSession signs the user in on this browser.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	token, hash := NewToken("")
	exp := time.Now().Add(sessionTTL)
	if _, err := s.store.CreateSession(r.Context(), u.ID, hash, exp); err != nil {
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
		s.store.DeleteSession(r.Context(), TokenHash(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(r)})
}

// access is what a principal may do in a workspace.
type access struct {
	Workspace store.Workspace
	Role      string
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
func (s *Server) workspaceAccess(ctx context.Context, wsSlug, min string) (access, error) {
	p := principalFrom(ctx)
	if p == nil {
		return access{}, errUnauthorized
	}
	ws, err := s.store.WorkspaceBySlug(ctx, wsSlug)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return access{}, errNotFound
		}
		return access{}, err
	}
	return s.accessTo(ctx, ws, min)
}

func (s *Server) accessTo(ctx context.Context, ws store.Workspace, min string) (access, error) {
	p := principalFrom(ctx)
	if p == nil {
		return access{}, errUnauthorized
	}
	role, err := s.store.Member(ctx, ws.ID, p.User.ID)
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
		if roleRank[p.Token.Role] < roleRank[role] {
			role = p.Token.Role
		}
	}
	if !atLeast(role, min) {
		return access{Workspace: ws, Role: role}, errForbidden
	}
	return access{Workspace: ws, Role: role}, nil
}
