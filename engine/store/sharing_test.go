package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// The sharing suite (share links, secrets, audit log) runs in runSuite's
// table through sharingTests, on both databases.
var sharingTests = []struct {
	name string
	fn   func(t *testing.T, s *Store)
}{
	{"Shares", testShares},
	{"Secrets", testSecrets},
	{"Audit", testAudit},
	{"AuditAppendOnly", testAuditAppendOnly},
}

func testShares(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	run, err := s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1})
	ok(t, err)
	exp := s.timeNow().Add(7 * 24 * time.Hour)
	sh, err := s.CreateShare(ctx, Share{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, RunID: run.ID, Kind: ShareRun, Hash: "h1", ExpiresAt: exp, CreatedBy: fx.user.ID, ShowCode: true})
	ok(t, err)
	if !strings.HasPrefix(sh.ID, "s_") || sh.RunID != run.ID || !sh.ShowCode || !sh.ExpiresAt.Equal(exp) || !sh.Live(s.timeNow()) {
		t.Fatalf("CreateShare = %+v", sh)
	}
	_, err = s.CreateShare(ctx, Share{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, RunID: run.ID, Kind: ShareRun, Hash: "h1", ExpiresAt: exp})
	isErr(t, err, ErrAlreadyExists)
	_, err = s.CreateShare(ctx, Share{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Kind: ShareRun, Hash: "h9", ExpiresAt: exp})
	isErr(t, err, ErrInvalid)
	_, err = s.CreateShare(ctx, Share{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Kind: "page", Hash: "h9", ExpiresAt: exp})
	isErr(t, err, ErrInvalid)
	clk.add(time.Second)
	form, err := s.CreateShare(ctx, Share{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Kind: ShareForm, Hash: "h2", ExpiresAt: exp.Add(-time.Hour), RequireSignIn: true, RunsPerHour: 5})
	ok(t, err)

	got, err := s.ShareByHash(ctx, "h1")
	ok(t, err)
	if got != sh {
		t.Fatalf("ShareByHash =\n %+v\nwant %+v", got, sh)
	}
	_, err = s.ShareByHash(ctx, "nope")
	isErr(t, err, ErrNotFound)

	ok(t, s.CountShareView(ctx, sh.ID))
	ok(t, s.CountShareView(ctx, sh.ID))
	isErr(t, s.CountShareView(ctx, "s_nope"), ErrNotFound)
	list, err := s.SharesOfFlow(ctx, fx.flow.ID)
	ok(t, err)
	if len(list) != 2 || list[0].ID != form.ID || list[1].Views != 2 || list[1].LastViewedAt.IsZero() || !list[0].RequireSignIn || list[0].RunsPerHour != 5 {
		t.Fatalf("SharesOfFlow = %+v", list)
	}

	// Expired: gone for ShareByHash, still listed.
	clk.add(7*24*time.Hour - 30*time.Minute - time.Second)
	_, err = s.ShareByHash(ctx, "h2")
	isErr(t, err, ErrNotFound)
	_, err = s.ShareByHash(ctx, "h1")
	ok(t, err)

	// Revoked: gone at once; revoking twice is fine.
	ok(t, s.RevokeShare(ctx, sh.ID))
	_, err = s.ShareByHash(ctx, "h1")
	isErr(t, err, ErrNotFound)
	first, err := s.Share(ctx, sh.ID)
	ok(t, err)
	clk.add(time.Minute)
	ok(t, s.RevokeShare(ctx, sh.ID))
	again, err := s.Share(ctx, sh.ID)
	ok(t, err)
	if first.RevokedAt.IsZero() || !again.RevokedAt.Equal(first.RevokedAt) {
		t.Fatalf("revoked at %v, then %v", first.RevokedAt, again.RevokedAt)
	}
	isErr(t, s.RevokeShare(ctx, "s_nope"), ErrNotFound)
	_, err = s.Share(ctx, "s_nope")
	isErr(t, err, ErrNotFound)
}

func testSecrets(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	other, err := s.CreateWorkspace(ctx, "other", "Other")
	ok(t, err)
	created, err := s.SetSecret(ctx, fx.ws.ID, "API_KEY", "sealed1", fx.user.ID)
	ok(t, err)
	if !created {
		t.Fatal("first SetSecret did not create")
	}
	created, err = s.SetSecret(ctx, fx.ws.ID, "API_KEY", "sealed2", fx.user.ID)
	ok(t, err)
	if created {
		t.Fatal("second SetSecret created")
	}
	_, err = s.SetSecret(ctx, fx.ws.ID, "CONNECTION_WAREHOUSE", "sealed3", "")
	ok(t, err)
	_, err = s.SetSecret(ctx, other.ID, "API_KEY", "other", "")
	ok(t, err)
	_, err = s.SetSecret(ctx, "w_nowhere", "X", "x", "")
	isErr(t, err, ErrNotFound)

	list, err := s.Secrets(ctx, fx.ws.ID)
	ok(t, err)
	if len(list) != 2 || list[0].Name != "API_KEY" || list[0].UpdatedBy != fx.user.ID || list[1].Name != "CONNECTION_WAREHOUSE" || list[1].UpdatedBy != "" {
		t.Fatalf("Secrets = %+v", list)
	}
	all, err := s.SealedSecrets(ctx, fx.ws.ID, nil)
	ok(t, err)
	if len(all) != 2 || all["API_KEY"] != "sealed2" {
		t.Fatalf("SealedSecrets(all) = %v", all)
	}
	some, err := s.SealedSecrets(ctx, fx.ws.ID, []string{"API_KEY", "MISSING"})
	ok(t, err)
	if len(some) != 1 || some["API_KEY"] != "sealed2" {
		t.Fatalf("SealedSecrets(some) = %v", some)
	}
	none, err := s.SealedSecrets(ctx, fx.ws.ID, []string{})
	ok(t, err)
	if len(none) != 0 {
		t.Fatalf("SealedSecrets(none) = %v", none)
	}
	ok(t, s.DeleteSecret(ctx, fx.ws.ID, "API_KEY"))
	isErr(t, s.DeleteSecret(ctx, fx.ws.ID, "API_KEY"), ErrNotFound)
	left, err := s.SealedSecrets(ctx, other.ID, nil)
	ok(t, err)
	if left["API_KEY"] != "other" {
		t.Fatalf("another workspace's secret changed: %v", left)
	}
}

func testAudit(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	stranger, err := s.CreateUser(ctx, "eve", "", "")
	ok(t, err)
	add := func(e AuditEntry) AuditEntry {
		t.Helper()
		got, err := s.AppendAudit(ctx, e)
		ok(t, err)
		clk.add(time.Minute)
		return got
	}
	signin := add(AuditEntry{ActorID: fx.user.ID, ActorName: "ada", Action: "signin", IP: "10.0.0.1", UserAgent: "test"})
	if signin.ID == 0 || signin.At.IsZero() {
		t.Fatalf("AppendAudit = %+v", signin)
	}
	add(AuditEntry{ActorID: stranger.ID, ActorName: "eve", Action: "signin"})
	started := add(AuditEntry{WorkspaceID: fx.ws.ID, ActorID: fx.user.ID, ActorName: "ada", Action: "run.started", Target: "run r_1"})
	add(AuditEntry{WorkspaceID: fx.ws.ID, ActorName: "link s_1", Action: "share.opened", Target: "share s_1"})
	add(AuditEntry{WorkspaceID: fx.ws.ID, ActorID: fx.user.ID, ActorName: "ada", Action: "share.revoked", Target: "share s_1"})
	add(AuditEntry{WorkspaceID: "w_other", ActorID: fx.user.ID, ActorName: "ada", Action: "run.started"})

	names := func(es []AuditEntry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Action)
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		name string
		q    AuditQuery
		want string
	}{
		{"all", AuditQuery{}, "share.revoked,share.opened,run.started,signin"},
		{"action", AuditQuery{Action: "run.started"}, "run.started"},
		{"prefix", AuditQuery{Action: "share."}, "share.revoked,share.opened"},
		{"user", AuditQuery{User: "ada"}, "share.revoked,run.started,signin"},
		{"since", AuditQuery{Since: started.At}, "share.revoked,share.opened,run.started"},
		{"until", AuditQuery{Until: started.At}, "signin"},
		{"before", AuditQuery{Before: started.ID}, "signin"},
		{"limit", AuditQuery{Limit: 1}, "share.revoked"},
	}
	for _, c := range cases {
		c.q.WorkspaceID = fx.ws.ID
		got, err := s.Audit(ctx, c.q)
		ok(t, err)
		if names(got) != c.want {
			t.Errorf("%s: Audit = %s, want %s", c.name, names(got), c.want)
		}
	}
	got, err := s.Audit(ctx, AuditQuery{WorkspaceID: fx.ws.ID, Action: "signin"})
	ok(t, err)
	if len(got) != 1 || got[0] != signin {
		t.Fatalf("signin entry = %+v, want %+v", got, signin)
	}
	// A new member's sign-ins from before they joined stay out of the
	// workspace's log; later ones are in it.
	ok(t, s.AddMember(ctx, fx.ws.ID, stranger.ID, engine.RoleViewer))
	clk.add(time.Minute)
	add(AuditEntry{ActorID: stranger.ID, ActorName: "eve", Action: "signin", IP: "10.0.0.9"})
	got, err = s.Audit(ctx, AuditQuery{WorkspaceID: fx.ws.ID, User: "eve"})
	ok(t, err)
	if len(got) != 1 || got[0].IP != "10.0.0.9" {
		t.Fatalf("eve's entries after joining = %+v; want only the sign-in after she joined", got)
	}
}

// testAuditAppendOnly checks that the database itself refuses to change or
// remove audit entries, whoever asks.
func testAuditAppendOnly(t *testing.T, s *Store) {
	ctx := context.Background()
	e, err := s.AppendAudit(ctx, AuditEntry{ActorName: "ada", Action: "signin"})
	ok(t, err)
	if _, err := s.db.ExecContext(ctx, "UPDATE audit_log SET action = 'nothing' WHERE id = ?", e.ID); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("UPDATE of the audit log: %v", err)
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM audit_log"); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("DELETE from the audit log: %v", err)
	}
	if s.postgres() {
		if _, err := s.db.ExecContext(ctx, "TRUNCATE audit_log"); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("TRUNCATE of the audit log: %v", err)
		}
	}
	left, err := s.Audit(ctx, AuditQuery{})
	ok(t, err)
	_ = left
	var action string
	ok(t, s.rdb.NewRaw("SELECT action FROM audit_log WHERE id = ?", e.ID).Scan(ctx, &action))
	if action != "signin" {
		t.Fatalf("entry changed to %q", action)
	}
}
