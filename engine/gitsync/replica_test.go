package gitsync

import (
	"context"
	"errors"
	"testing"

	"github.com/opsbook/opsbook/engine/flow"
)

// TestTwoClones: two syncers with clones of their own (two replicas) on
// one remote. One that lacks the other's commit knows it (HasCommit,
// RemoteHead), and after a fetch and MarkSynced at that commit it commits
// on top with no conflict; Forget makes a flow never synced again.
func TestTwoClones(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	files, _ := fixture(t, "../../testdata/flows/etl-orders")
	remote := bareRemote(t)
	a, b := setup(t, remote, "flows"), setup(t, remote, "flows")
	if a.RemoteHead() != "" || len(a.Bases()) != 0 {
		t.Fatalf("an empty remote: head %q, bases %v", a.RemoteHead(), a.Bases())
	}
	h1, err := a.Commit(ctx, "etl-orders", files, ada, "First", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.RemoteHead() != h1 || a.Bases()["etl-orders"] != h1 || !a.HasCommit(h1) {
		t.Fatalf("after a commit: head %q, bases %v", a.RemoteHead(), a.Bases())
	}
	if b.HasCommit(h1) || b.RemoteHead() != "" || b.HasCommit("not a hash") {
		t.Fatal("the other clone claims a commit it never fetched")
	}
	// What the server does with the record: fetch, then take the base.
	if err := b.MarkSynced(ctx, "etl-orders", h1); err == nil {
		t.Fatal("MarkSynced at a commit the clone lacks succeeded")
	}
	if err := b.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.HasCommit(h1) || b.RemoteHead() != h1 {
		t.Fatalf("after a fetch: head %q", b.RemoteHead())
	}
	if err := b.MarkSynced(ctx, "etl-orders", h1); err != nil {
		t.Fatal(err)
	}
	changed := append([]flow.File(nil), files...)
	changed[len(changed)-1].Data = append(append([]byte(nil), changed[len(changed)-1].Data...), "\n-- changed on b\n"...)
	h2, err := b.Commit(ctx, "etl-orders", changed, grace, "Second, on the other clone", nil)
	if err != nil {
		t.Fatalf("a commit on the other clone after taking the record: %v", err)
	}
	if h2 == h1 {
		t.Fatal("no new commit")
	}

	// Forget: the flow is as never synced, so git's differing folder is a
	// conflict, not something to overwrite.
	if err := a.Forget("etl-orders"); err != nil {
		t.Fatal(err)
	}
	if err := a.Forget("etl-orders"); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Bases()["etl-orders"]; ok {
		t.Fatal("Forget kept the base")
	}
	if err := a.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, "etl-orders", files, ada, "Over it", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("a commit of a forgotten flow over git's folder: %v; want a conflict", err)
	}
}
