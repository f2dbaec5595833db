package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// credTests join the suite both databases run (suite_test.go).
func init() {
	credTests = []struct {
		name string
		fn   func(t *testing.T, s *Store)
	}{
		{"TokenExpiry", testTokenExpiry},
		{"CredChanges", testCredChanges},
	}
}

var credTests []struct {
	name string
	fn   func(t *testing.T, s *Store)
}

// testTokenExpiry: a token with an expiry works until then and is refused
// after, like a revoked one; TokenByID still finds it, not Live.
func testTokenExpiry(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	u, err := s.CreateUser(ctx, "ada", "", "")
	ok(t, err)
	ws, err := s.CreateWorkspace(ctx, "ops", "Ops")
	ok(t, err)
	exp := s.timeNow().Add(time.Hour)
	tok, err := s.CreateToken(ctx, Token{UserID: u.ID, WorkspaceID: ws.ID, Name: "ci", Hash: "h1", Role: engine.RoleRunner, ExpiresAt: exp})
	ok(t, err)
	if !tok.ExpiresAt.Equal(exp) {
		t.Fatalf("CreateToken ExpiresAt = %v, want %v", tok.ExpiresAt, exp)
	}
	clk.add(time.Second)
	never, err := s.CreateToken(ctx, Token{UserID: u.ID, WorkspaceID: ws.ID, Name: "laptop", Hash: "h2", Role: engine.RoleRunner})
	ok(t, err)
	_, err = s.CreateToken(ctx, Token{UserID: u.ID, WorkspaceID: ws.ID, Name: "past", Hash: "h3", Role: engine.RoleRunner, ExpiresAt: s.timeNow()})
	isErr(t, err, ErrInvalid)

	got, err := s.TokenByHash(ctx, "h1")
	ok(t, err)
	if !got.ExpiresAt.Equal(exp) || !got.Live(s.timeNow()) {
		t.Fatalf("TokenByHash = %+v", got)
	}
	list, err := s.Tokens(ctx, u.ID)
	ok(t, err)
	if len(list) != 2 || !list[1].ExpiresAt.Equal(exp) || !list[0].ExpiresAt.IsZero() {
		t.Fatalf("Tokens = %+v", list)
	}

	clk.add(time.Hour - time.Second - time.Microsecond)
	_, err = s.TokenByHash(ctx, "h1")
	ok(t, err)
	clk.add(time.Microsecond)
	_, err = s.TokenByHash(ctx, "h1")
	isErr(t, err, ErrNotFound)
	_, err = s.TokenByHash(ctx, "h2")
	ok(t, err)

	byID, err := s.TokenByID(ctx, tok.ID)
	ok(t, err)
	if byID.Live(s.timeNow()) || byID.Name != "ci" {
		t.Fatalf("TokenByID of the expired token = %+v (live %v)", byID, byID.Live(s.timeNow()))
	}
	ok(t, s.RevokeToken(ctx, never.ID))
	byID, err = s.TokenByID(ctx, never.ID)
	ok(t, err)
	if byID.Live(s.timeNow()) || byID.RevokedAt.IsZero() {
		t.Fatalf("TokenByID of the revoked token = %+v", byID)
	}
	_, err = s.TokenByID(ctx, "t_nope")
	isErr(t, err, ErrNotFound)
}

// testCredChanges: every change that ends or changes a credential is told
// to this process's watchers before the method returns, and on PostgreSQL
// to every listener of ChannelCred.
func testCredChanges(t *testing.T, s *Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	u, err := s.CreateUser(ctx, "ada", "", "")
	ok(t, err)
	ws, err := s.CreateWorkspace(ctx, "ops", "Ops")
	ok(t, err)
	tok, err := s.CreateToken(ctx, Token{UserID: u.ID, WorkspaceID: ws.ID, Name: "ci", Hash: "h1", Role: engine.RoleRunner})
	ok(t, err)
	_, err = s.CreateSession(ctx, u.ID, "sess1", s.timeNow().Add(time.Hour))
	ok(t, err)

	var local []CredChange
	stop := s.WatchCredentials(func(c CredChange) { local = append(local, c) })
	remote := make(chan CredChange, 16)
	if s.Dialect() == DialectPostgres {
		ready := make(chan struct{})
		// Every test's notices reach every listener: keep this user's.
		go s.Listen(ctx, []string{ChannelCred}, func() { close(ready) }, func(n Notice) {
			if c, okk := n.CredChange(); okk && (c.UserID == u.ID || c.ID == tok.ID || c.ID == "sess1") {
				remote <- c
			}
		})
		<-ready
	}
	want := []CredChange{
		{Kind: CredMember, WorkspaceID: ws.ID, UserID: u.ID, Role: engine.RoleEditor},
		{Kind: CredMember, WorkspaceID: ws.ID, UserID: u.ID, Role: engine.RoleViewer},
		{Kind: CredToken, ID: tok.ID},
		{Kind: CredSession, ID: "sess1"},
		{Kind: CredPassword, UserID: u.ID, Keep: "sess2"},
		{Kind: CredMember, WorkspaceID: ws.ID, UserID: u.ID},
	}
	ok(t, s.AddMember(ctx, ws.ID, u.ID, engine.RoleEditor))
	ok(t, s.AddMember(ctx, ws.ID, u.ID, engine.RoleViewer))
	ok(t, s.RevokeToken(ctx, tok.ID))
	ok(t, s.DeleteSession(ctx, "sess1"))
	ok(t, s.SetPassword(ctx, u.ID, "h", "sess2"))
	ok(t, s.RemoveMember(ctx, ws.ID, u.ID))
	// Failures change nothing and tell nothing.
	isErr(t, s.RevokeToken(ctx, tok.ID), ErrNotFound)
	isErr(t, s.DeleteSession(ctx, "sess1"), ErrNotFound)
	isErr(t, s.RemoveMember(ctx, ws.ID, u.ID), ErrNotFound)
	if len(local) != len(want) {
		t.Fatalf("watcher got %+v, want %+v", local, want)
	}
	for i := range want {
		if local[i] != want[i] {
			t.Errorf("change %d = %+v, want %+v", i, local[i], want[i])
		}
	}
	stop()
	ok(t, s.AddMember(ctx, ws.ID, u.ID, engine.RoleEditor))
	if len(local) != len(want) {
		t.Fatalf("a stopped watcher was called: %+v", local[len(want):])
	}
	if s.Dialect() != DialectPostgres {
		return
	}
	want = append(want, CredChange{Kind: CredMember, WorkspaceID: ws.ID, UserID: u.ID, Role: engine.RoleEditor})
	for i, w := range want {
		select {
		case c := <-remote:
			if c != w {
				t.Errorf("notice %d = %+v, want %+v", i, c, w)
			}
		case <-ctx.Done():
			t.Fatalf("notice %d (%+v) never came", i, w)
		}
	}
	if _, okk := (Notice{Payload: "token t_1"}).CredChange(); okk {
		t.Error("a short payload was read")
	}
	if c, okk := (Notice{Payload: (CredChange{Kind: CredSession, ID: strings.Repeat("a", 64)}).Payload()}).CredChange(); !okk || c.ID != strings.Repeat("a", 64) {
		t.Errorf("round trip: %+v %v", c, okk)
	}
}
