package server

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/store"
)

// Open sockets and streams hold their credential: each is a grant, kept in
// the server's book by session, token, user and workspace. A credential
// change (store.CredChange, from this process's store at once or from
// another process over LISTEN/NOTIFY) ends or re-ranks the grants it
// touches in memory, so every socket message is checked against the
// current role without a query; a periodic re-check against the store
// catches a notification that was lost.

// Reasons a grant ends, shown to the person in the socket's close frame
// (at most 123 bytes).
const (
	reasonTokenRevoked   = "this API token was revoked"
	reasonTokenExpired   = "this API token has expired"
	reasonSignedOut      = "you were signed out; sign in again"
	reasonSessionExpired = "your session has expired; sign in again"
	reasonPassword       = "your password was changed; sign in again"
	reasonRemoved        = "you are no longer a member of this workspace"
)

// grant is one open socket's or stream's hold on a credential in a
// workspace. Its methods are safe on a nil grant (a share link's stream
// has none): it never ends.
type grant struct {
	s         *Server
	user      string
	session   string      // session id, or "" for a token
	token     string      // token id, or ""
	tokenRole engine.Role // a token's own role: the grant never exceeds it
	ws        string
	request   string // the socket's request id, for the lines its re-checks log
	// min is the least role the socket needs to stay open; with
	// lowerCloses, any lowering closes it (a notebook page's controls were
	// drawn for the role it had).
	min         engine.Role
	lowerCloses bool

	mu     sync.Mutex
	role   engine.Role // "" once ended
	reason string
	dead   chan struct{}
	tick   clock.Timer // the next re-check against the store (Config.CredRecheck)
	expiry clock.Timer // the credential's expiry, or nil
}

// grantBook is the server's open grants.
type grantBook struct {
	mu sync.Mutex
	m  map[*grant]struct{}
	// gen counts credential changes seen, so a grant taken after a change
	// that raced its request's authentication checks the store once.
	gen atomic.Uint64
}

func (b *grantBook) add(g *grant) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[*grant]struct{}{}
	}
	b.m[g] = struct{}{}
}

func (b *grantBook) remove(g *grant) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, g)
}

func (b *grantBook) all() []*grant {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*grant, 0, len(b.m))
	for g := range b.m {
		out = append(out, g)
	}
	return out
}

// count is how many grants are open (tests).
func (b *grantBook) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// hold takes a grant for a socket the request's principal opens with
// access a; release it when the socket ends. A credential that ended
// meanwhile is errUnauthorized.
func (s *Server) hold(ctx context.Context, a access, min engine.Role, lowerCloses bool) (*grant, error) {
	p := principalFrom(ctx)
	if p == nil {
		return nil, errUnauthorized
	}
	g := &grant{s: s, user: p.User.ID, ws: a.Workspace.ID, min: min, lowerCloses: lowerCloses, role: a.Role, dead: make(chan struct{}), request: logattr.RequestOf(ctx)}
	var expires time.Time
	if p.Token != nil {
		g.token, g.tokenRole, expires = p.Token.ID, p.Token.Role, p.Token.ExpiresAt
	}
	if p.Session != nil {
		g.session, expires = p.Session.ID, p.Session.ExpiresAt
	}
	s.grants.add(g)
	if p.gen != s.grants.gen.Load() {
		// A credential changed since this request was authenticated.
		g.recheck(ctx)
	}
	if g.Role() == "" {
		g.release()
		return nil, errUnauthorized
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.role == "" {
		return g, nil // ended just now: its socket closes at once
	}
	if !expires.IsZero() {
		why := reasonSessionExpired
		if g.token != "" {
			why = reasonTokenExpired
		}
		g.expiry = s.clock.AfterFunc(expires.Sub(s.clock.Now()), func() { g.end(why) })
	}
	// Spread over a quarter of the interval, so sockets opened together
	// (a crowd on one run page) do not all query the store at once.
	every := s.cfg.CredRecheck
	every += rand.N(every/4 + 1)
	g.tick = s.clock.AfterFunc(every, func() {
		c, cancel := context.WithTimeout(logattr.WithRequest(context.Background(), g.request), 10*time.Second)
		defer cancel()
		g.recheck(c)
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.role != "" && g.tick != nil {
			g.tick.Reset(every)
		}
	})
	return g, nil
}

// stopTimers stops the grant's timers; g.mu is held.
func (g *grant) stopTimers() {
	if g.tick != nil {
		g.tick.Stop()
		g.tick = nil
	}
	if g.expiry != nil {
		g.expiry.Stop()
		g.expiry = nil
	}
}

// Role is the grant's current role; "" once it ended.
func (g *grant) Role() engine.Role {
	if g == nil {
		return engine.RoleViewer
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.role
}

// Dead is closed when the grant ends (nil for a nil grant: never).
func (g *grant) Dead() <-chan struct{} {
	if g == nil {
		return nil
	}
	return g.dead
}

// Reason says why the grant ended.
func (g *grant) Reason() string {
	if g == nil {
		return ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reason
}

// end ends the grant: its socket closes with reason.
func (g *grant) end(reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.endLocked(reason)
}

func (g *grant) endLocked(reason string) {
	if g.role == "" {
		return
	}
	g.role, g.reason = "", reason
	close(g.dead)
	g.stopTimers()
}

// release forgets the grant once its socket has ended.
func (g *grant) release() {
	if g == nil {
		return
	}
	g.s.grants.remove(g)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopTimers()
}

// setRole takes a member's new role in the grant's workspace ("" when they
// were removed), bounded by a token's own role.
func (g *grant) setRole(member engine.Role) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.role == "" {
		return
	}
	role := member
	if g.token != "" {
		role = role.Lower(g.tokenRole)
	}
	switch {
	case member == "" || !role.AtLeast(g.min):
		g.endLocked(reasonRemoved)
	case g.lowerCloses && !role.AtLeast(g.role):
		g.endLocked("your role changed to " + string(role) + "; reload the page")
	default:
		g.role = role
	}
}

// grantChecker is what re-checking an open socket's credential reads.
type grantChecker interface {
	TokenByID(ctx context.Context, id string) (store.Token, error)
	SessionUser(ctx context.Context, tokenHash string) (store.User, store.Session, error)
	Member(ctx context.Context, wsID, userID string) (engine.Role, error)
}

var _ grantChecker = (*store.Store)(nil)

// recheck checks the grant against the store: the token or session still
// there, the membership and its role. A store that does not answer ends
// nothing (the next check tries again).
func (g *grant) recheck(ctx context.Context) {
	s := g.s
	if g.Role() == "" {
		return
	}
	if g.token != "" {
		t, err := s.stores.recheck.TokenByID(ctx, g.token)
		switch {
		case errors.Is(err, store.ErrNotFound), err == nil && !t.RevokedAt.IsZero():
			g.end(reasonTokenRevoked)
			return
		case err == nil && !t.Live(time.Now()):
			g.end(reasonTokenExpired)
			return
		case err != nil:
			s.log.WarnContext(ctx, "re-check an open socket's token", "err", err)
			return
		}
	}
	if g.session != "" {
		_, _, err := s.stores.recheck.SessionUser(ctx, g.session)
		switch {
		case errors.Is(err, store.ErrNotFound):
			g.end(reasonSignedOut)
			return
		case err != nil:
			s.log.WarnContext(ctx, "re-check an open socket's session", "err", err)
			return
		}
	}
	role, err := s.stores.recheck.Member(ctx, g.ws, g.user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		g.setRole("")
	case err != nil:
		s.log.WarnContext(ctx, "re-check an open socket's membership", "err", err)
	default:
		g.setRole(role)
	}
}

// onCredChange applies a credential change to the open grants, in memory.
func (s *Server) onCredChange(c store.CredChange) {
	s.grants.gen.Add(1)
	for _, g := range s.grants.all() {
		switch c.Kind {
		case store.CredToken:
			if g.token != "" && g.token == c.ID {
				g.end(reasonTokenRevoked)
			}
		case store.CredSession:
			if g.session != "" && g.session == c.ID {
				g.end(reasonSignedOut)
			}
		case store.CredPassword:
			if g.session != "" && g.user == c.UserID && g.session != c.Keep {
				g.end(reasonPassword)
			}
		case store.CredMember:
			if g.user == c.UserID && g.ws == c.WorkspaceID {
				g.setRole(c.Role)
			}
		}
	}
}

// recheckAll checks every open grant against the store: after the
// listener for other processes' changes reconnected, some may be lost.
func (s *Server) recheckAll(ctx context.Context) {
	s.grants.gen.Add(1)
	for _, g := range s.grants.all() {
		g.recheck(ctx)
	}
}
