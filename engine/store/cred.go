package store

import (
	"context"
	"strings"
	"sync"

	"github.com/opsbook/opsbook/engine"
)

// ChannelCred carries credential changes to the other processes: a token
// revoked, a session ended, a password changed, a membership changed. Open
// sockets of that credential close or take the new role at once.
const ChannelCred = "opsbook_cred"

// Kinds of CredChange.
const (
	CredToken    = "token"    // ID: the token was revoked
	CredSession  = "session"  // ID: the session ended (sign out)
	CredPassword = "password" // UserID: every session of the user but Keep ended
	CredMember   = "member"   // WorkspaceID, UserID: the role is now Role ("" removed)
)

// CredChange is one change to a credential, told to every process.
type CredChange struct {
	Kind        string
	ID          string // token id, or session id (the sha256 hex of its cookie)
	UserID      string
	WorkspaceID string
	Role        engine.Role // CredMember: the new role; "" when removed
	Keep        string      // CredPassword: the session that stays signed in
}

// Payload is the change as a notification's payload: its kind and fields
// separated by spaces, "-" for an empty one.
func (c CredChange) Payload() string {
	f := []string{c.Kind, c.ID, c.UserID, c.WorkspaceID, string(c.Role), c.Keep}
	for i, v := range f {
		if v == "" {
			f[i] = "-"
		}
	}
	return strings.Join(f, " ")
}

// CredChange reads a ChannelCred payload.
func (n Notice) CredChange() (CredChange, bool) {
	f := strings.Fields(n.Payload)
	if len(f) != 6 {
		return CredChange{}, false
	}
	for i, v := range f {
		if v == "-" {
			f[i] = ""
		}
	}
	c := CredChange{Kind: f[0], ID: f[1], UserID: f[2], WorkspaceID: f[3], Role: engine.Role(f[4]), Keep: f[5]}
	switch c.Kind {
	case CredToken, CredSession, CredPassword, CredMember:
		return c, true
	}
	return CredChange{}, false
}

// credWatchers are this process's watchers of credential changes.
type credWatchers struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(CredChange)
}

// WatchCredentials calls fn, synchronously, after each credential change
// this store commits (before the method that made it returns), so a
// server's sockets are closed before the request that revoked their
// credential is answered. Other processes learn of it on ChannelCred.
// fn must not block. stop ends the watch.
func (s *Store) WatchCredentials(fn func(CredChange)) (stop func()) {
	w := &s.creds
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fns == nil {
		w.fns = map[int]func(CredChange){}
	}
	id := w.next
	w.next++
	w.fns[id] = fn
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.fns, id)
	}
}

// credChanged tells this process's watchers and, on PostgreSQL, the other
// processes of a committed credential change. A lost notification is
// caught by the periodic re-check of open sockets.
func (s *Store) credChanged(ctx context.Context, c CredChange) {
	w := &s.creds
	w.mu.Lock()
	fns := make([]func(CredChange), 0, len(w.fns))
	for _, fn := range w.fns {
		fns = append(fns, fn)
	}
	w.mu.Unlock()
	for _, fn := range fns {
		fn(c)
	}
	if err := s.Notify(context.WithoutCancel(ctx), ChannelCred, c.Payload()); err != nil {
		s.log.Warn("notify other processes of a credential change", "kind", c.Kind, "err", err)
	}
}
