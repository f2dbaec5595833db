package store

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// The methods no other part of the suite called; each runs on both
// databases through runSuite.
var coverageTests = []struct {
	name string
	fn   func(t *testing.T, s *Store)
}{
	{"ResealSecrets", testResealSecrets},
	{"PublishedFlows", testPublishedFlows},
	{"UnfinishedRuns", testUnfinishedRuns},
	{"RenameWorkspace", testRenameWorkspace},
	{"RerunsOf", testRerunsOf},
	{"CreateInvitedUser", testCreateInvitedUser},
}

// testCreateInvitedUser: an invited user must change the first password,
// read back by name and by id; setting a password clears it; a name taken
// is refused and the first user is left as it was.
func testCreateInvitedUser(t *testing.T, s *Store) {
	ctx := context.Background()
	u, err := s.CreateInvitedUser(ctx, "ivy", "Ivy Invited", "hash-1")
	ok(t, err)
	if !u.MustChangePassword {
		t.Fatal("an invited user need not change the first password")
	}
	for _, get := range []func() (User, error){
		func() (User, error) { return s.UserByName(ctx, "ivy") },
		func() (User, error) { return s.UserByID(ctx, u.ID) },
	} {
		got, err := get()
		ok(t, err)
		if !got.MustChangePassword || got.DisplayName != "Ivy Invited" || got.PasswordHash != "hash-1" {
			t.Fatalf("read back %+v", got)
		}
	}
	if _, err := s.CreateInvitedUser(ctx, "ivy", "Another", "hash-2"); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("a second ivy: %v; want ErrAlreadyExists", err)
	}
	ok(t, s.SetPassword(ctx, u.ID, "hash-3", ""))
	got, err := s.UserByID(ctx, u.ID)
	ok(t, err)
	if got.MustChangePassword || got.PasswordHash != "hash-3" {
		t.Fatalf("after a new password: %+v", got)
	}
	plain, err := s.CreateUser(ctx, "pat", "Pat", "hash")
	ok(t, err)
	if plain.MustChangePassword {
		t.Fatal("a user made by CreateUser must change the password")
	}
}

// testRerunsOf: a run enqueued as a re-run keeps the run it re-runs, and
// that run lists its re-runs, newest first.
func testRerunsOf(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	clk := setClock(s)
	failed, err := s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1, Status: engine.RunFailed})
	ok(t, err)
	var ids []string
	for range 2 {
		clk.add(time.Second)
		enq, err := s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1, RerunOf: failed.ID}, 0, engine.OverlapQueue)
		ok(t, err)
		ids = append([]string{enq.Run.ID}, ids...)
	}
	r, err := s.Run(ctx, ids[0])
	ok(t, err)
	if r.RerunOf != failed.ID {
		t.Fatalf("re-run's RerunOf = %q, want %s", r.RerunOf, failed.ID)
	}
	if again, err := s.Run(ctx, failed.ID); err != nil || again.RerunOf != "" {
		t.Fatalf("a run that is no re-run: RerunOf %q, %v", again.RerunOf, err)
	}
	got, err := s.RerunsOf(ctx, failed.ID)
	ok(t, err)
	if !reflect.DeepEqual(got, ids) {
		t.Fatalf("RerunsOf = %v, want %v", got, ids)
	}
	if got, err := s.RerunsOf(ctx, ids[0]); err != nil || len(got) != 0 {
		t.Fatalf("RerunsOf a run never re-run = %v, %v", got, err)
	}
}

// sealedWith is a stand-in for a value sealed by key id (the store reads
// only the key id of a sealed value).
func sealedWith(id, v string) string { return "ob1:" + id + ":" + v }

// testResealSecrets: a rotation re-seals every secret not sealed with the
// new key, in every workspace, retires the keys it met, and then refuses
// values sealed with them; a failing re-seal changes nothing.
func testResealSecrets(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	other, err := s.CreateWorkspace(ctx, "other", "Other")
	ok(t, err)
	for _, sec := range []struct{ ws, name, sealed string }{
		{fx.ws.ID, "A", sealedWith("k1", "a")},
		{fx.ws.ID, "B", sealedWith("k2", "b")},
		{fx.ws.ID, "C", "legacy-c"}, // sealed before keys had ids
		{other.ID, "A", sealedWith("k3", "oa")},
	} {
		_, err := s.SetSecret(ctx, sec.ws, sec.name, sec.sealed, "")
		ok(t, err)
	}
	ids, err := s.SealedKeyIDs(ctx)
	ok(t, err)
	if want := map[string]int{"k1": 1, "k2": 1, "": 1, "k3": 1}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("SealedKeyIDs = %v, want %v", ids, want)
	}

	_, err = s.ResealSecrets(ctx, "", nil)
	isErr(t, err, ErrInvalid)

	// A re-seal that fails half way leaves every secret as it was.
	calls := 0
	_, err = s.ResealSecrets(ctx, "k3", func(wsID, name, sealed string) (string, error) {
		if calls++; calls == 2 {
			return "", errors.New("cannot open")
		}
		return sealedWith("k3", sealed), nil
	})
	if err == nil || !strings.Contains(err.Error(), "cannot open") {
		t.Fatalf("failing re-seal: err = %v", err)
	}
	ids, err = s.SealedKeyIDs(ctx)
	ok(t, err)
	if want := map[string]int{"k1": 1, "k2": 1, "": 1, "k3": 1}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("after a failed rotation SealedKeyIDs = %v, want %v", ids, want)
	}

	// The rotation to k3: what k3 sealed is left alone.
	var seen []string
	n, err := s.ResealSecrets(ctx, "k3", func(wsID, name, sealed string) (string, error) {
		seen = append(seen, wsID+"/"+name)
		return sealedWith("k3", strings.TrimPrefix(sealed, "ob1:")), nil
	})
	ok(t, err)
	if want := []string{fx.ws.ID + "/A", fx.ws.ID + "/B", fx.ws.ID + "/C"}; n != 3 || !reflect.DeepEqual(seen, want) {
		t.Fatalf("ResealSecrets = %d, re-sealed %v, want %v", n, seen, want)
	}
	ids, err = s.SealedKeyIDs(ctx)
	ok(t, err)
	if want := map[string]int{"k3": 4}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("after the rotation SealedKeyIDs = %v, want %v", ids, want)
	}
	got, err := s.SealedSecrets(ctx, fx.ws.ID, []string{"B"})
	ok(t, err)
	if got["B"] != sealedWith("k3", "k2:b") {
		t.Fatalf("B = %q", got["B"])
	}

	// The keys it met are retired: a server still sealing with one is told.
	_, err = s.SetSecret(ctx, fx.ws.ID, "D", sealedWith("k1", "d"), "")
	isErr(t, err, ErrKeyRetired)
	_, err = s.SetSecret(ctx, fx.ws.ID, "D", sealedWith("k3", "d"), "")
	ok(t, err)

	// Nothing left to re-seal; bringing back k1 makes it current again.
	n, err = s.ResealSecrets(ctx, "k3", func(string, string, string) (string, error) {
		t.Fatal("re-sealed a secret already sealed with the key")
		return "", nil
	})
	ok(t, err)
	if n != 0 {
		t.Fatalf("second ResealSecrets = %d", n)
	}
	n, err = s.ResealSecrets(ctx, "k1", func(_, _, sealed string) (string, error) {
		return sealedWith("k1", sealed), nil
	})
	ok(t, err)
	if n != 5 {
		t.Fatalf("ResealSecrets back to k1 = %d, want 5", n)
	}
	_, err = s.SetSecret(ctx, fx.ws.ID, "E", sealedWith("k1", "e"), "")
	ok(t, err)
	_, err = s.SetSecret(ctx, fx.ws.ID, "E", sealedWith("k3", "e"), "")
	isErr(t, err, ErrKeyRetired)
}

// testPublishedFlows: every flow with a published version, in every
// workspace, and only those.
func testPublishedFlows(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	got, err := s.PublishedFlows(ctx)
	ok(t, err)
	if len(got) != 0 {
		t.Fatalf("PublishedFlows before publishing = %+v", got)
	}
	other, err := s.CreateWorkspace(ctx, "other", "Other")
	ok(t, err)
	f2, err := s.CreateFlow(ctx, other.ID, "weekly", sampleFlow(), fx.user.ID, sampleFiles, "hash2")
	ok(t, err)
	_, err = s.CreateFlow(ctx, fx.ws.ID, "draft-only", sampleFlow(), fx.user.ID, sampleFiles, "hash3")
	ok(t, err)
	_, err = s.CreateVersion(ctx, fx.flow.ID, Version{Author: fx.user.ID, Files: sampleFiles, Hash: "hash4"})
	ok(t, err)
	ok(t, s.Publish(ctx, fx.flow.ID, 2))
	ok(t, s.Publish(ctx, f2.ID, 1))
	got, err = s.PublishedFlows(ctx)
	ok(t, err)
	want := []ScheduledFlow{
		{ID: fx.flow.ID, WorkspaceID: fx.ws.ID, Slug: "nightly", PublishedVersion: 2},
		{ID: f2.ID, WorkspaceID: other.ID, Slug: "weekly", PublishedVersion: 1},
	}
	if want[0].ID > want[1].ID {
		want[0], want[1] = want[1], want[0]
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PublishedFlows = %+v, want %+v", got, want)
	}
}

// testUnfinishedRuns: a flow's queued, running and waiting runs, oldest
// first; not its ended runs, nor another flow's.
func testUnfinishedRuns(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	clk := setClock(s)
	f2, err := s.CreateFlow(ctx, fx.ws.ID, "other", sampleFlow(), fx.user.ID, sampleFiles, "hash2")
	ok(t, err)
	var ids []string
	for _, st := range []engine.RunStatus{engine.RunWaiting, engine.RunQueued, engine.RunRunning, engine.RunQueued} {
		r, err := s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1, Status: st})
		ok(t, err)
		ids = append(ids, r.ID)
		clk.add(time.Second)
	}
	_, err = s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: f2.ID, Version: 1})
	ok(t, err)
	done, err := s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1, Status: engine.RunSucceeded})
	ok(t, err)
	ended, err := s.EndRun(ctx, ids[3], engine.RunCanceled, "test")
	ok(t, err)
	if !ended {
		t.Fatal("EndRun did not end a queued run")
	}
	got, err := s.UnfinishedRuns(ctx, fx.flow.ID)
	ok(t, err)
	if want := ids[:3]; !reflect.DeepEqual(got, want) {
		t.Fatalf("UnfinishedRuns = %v, want %v (not %s, ended)", got, want, done.ID)
	}
	got, err = s.UnfinishedRuns(ctx, "f_nowhere")
	ok(t, err)
	if len(got) != 0 {
		t.Fatalf("UnfinishedRuns of no flow = %v", got)
	}
}

// testRenameWorkspace: the name changes, the slug does not; an unknown
// workspace is not found.
func testRenameWorkspace(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	ok(t, s.RenameWorkspace(ctx, fx.ws.ID, "Operations"))
	got, err := s.WorkspaceBySlug(ctx, fx.ws.Slug)
	ok(t, err)
	if got.ID != fx.ws.ID || got.Name != "Operations" {
		t.Fatalf("after RenameWorkspace: %+v", got)
	}
	isErr(t, s.RenameWorkspace(ctx, "w_nowhere", "X"), ErrNotFound)
}
