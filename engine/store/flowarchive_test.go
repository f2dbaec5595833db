package store

import (
	"context"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

var flowArchiveTests = []struct {
	name string
	fn   func(t *testing.T, s *Store)
}{
	{"ArchiveFlow", testArchiveFlow},
	{"DeleteFlow", testDeleteFlow},
}

func testArchiveFlow(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	ok(t, s.Publish(ctx, fx.flow.ID, 1))
	_, err := s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1}, 0, engine.OverlapQueue)
	ok(t, err)

	ok(t, s.ArchiveFlow(ctx, fx.flow.ID))
	at := s.timeNow()
	clk.add(time.Hour)
	ok(t, s.ArchiveFlow(ctx, fx.flow.ID)) // keeps the first date
	f, err := s.FlowBySlug(ctx, fx.ws.ID, "nightly")
	ok(t, err)
	if !f.ArchivedAt.Equal(at.Truncate(time.Microsecond)) {
		t.Fatalf("ArchivedAt = %v, want %v", f.ArchivedAt, at)
	}
	fs, err := s.Flows(ctx, fx.ws.ID)
	ok(t, err)
	if len(fs) != 1 || fs[0].ArchivedAt.IsZero() {
		t.Fatalf("Flows = %+v", fs)
	}
	// Refused by every start, with or without a concurrency limit.
	for _, limit := range []int{0, 1} {
		_, err = s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID}, limit, engine.OverlapQueue)
		isErr(t, err, ErrArchived)
	}
	// Out of the schedule.
	pub, err := s.PublishedFlows(ctx)
	ok(t, err)
	if len(pub) != 0 {
		t.Fatalf("PublishedFlows lists an archived flow: %+v", pub)
	}
	// Runs and versions stay.
	rs, err := s.RunsOfFlow(ctx, fx.flow.ID, 0)
	ok(t, err)
	if len(rs) != 1 {
		t.Fatalf("runs of an archived flow = %d", len(rs))
	}

	ok(t, s.UnarchiveFlow(ctx, fx.flow.ID))
	f, err = s.FlowByID(ctx, fx.flow.ID)
	ok(t, err)
	if !f.ArchivedAt.IsZero() {
		t.Fatalf("unarchived flow: ArchivedAt = %v", f.ArchivedAt)
	}
	_, err = s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID}, 1, engine.OverlapQueue)
	ok(t, err)
	pub, err = s.PublishedFlows(ctx)
	ok(t, err)
	if len(pub) != 1 {
		t.Fatalf("PublishedFlows after unarchive = %+v", pub)
	}

	isErr(t, s.ArchiveFlow(ctx, "f_nowhere"), ErrNotFound)
	isErr(t, s.UnarchiveFlow(ctx, "f_nowhere"), ErrNotFound)
}

func testDeleteFlow(t *testing.T, s *Store) {
	ctx := context.Background()
	setClock(s)
	fx := setup(t, s)
	other, err := s.CreateFlow(ctx, fx.ws.ID, "other", sampleFlow(), fx.user.ID, sampleFiles, "hash1")
	ok(t, err)
	_, err = s.CreateVersion(ctx, fx.flow.ID, Version{Author: fx.user.ID, Files: sampleFiles, Hash: "hash2"})
	ok(t, err)
	e, err := s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1}, 0, engine.OverlapQueue)
	ok(t, err)
	ok(t, s.AppendEvents(ctx, e.Run.ID, []engine.Event{{Type: engine.EventRunStarted, Seq: 1, At: s.timeNow()}}))
	_, err = s.CreateShare(ctx, Share{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, RunID: e.Run.ID, Kind: ShareRun, Hash: "sh1", ExpiresAt: s.timeNow().Add(time.Hour)})
	ok(t, err)
	_, err = s.CreateShare(ctx, Share{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Kind: ShareForm, Hash: "sh2", ExpiresAt: s.timeNow().Add(time.Hour)})
	ok(t, err)
	_, err = s.CreateHook(ctx, Hook{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Hash: "hk1"})
	ok(t, err)
	otherRun, err := s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: other.ID, Version: 1}, 0, engine.OverlapQueue)
	ok(t, err)
	_, err = s.AppendAudit(ctx, AuditEntry{WorkspaceID: fx.ws.ID, ActorName: "ada", Action: "run.started", Target: "run " + e.Run.ID})
	ok(t, err)

	c, err := s.CountFlowContents(ctx, fx.flow.ID)
	ok(t, err)
	if c.Versions != 2 || c.Runs != 1 || c.Shares != 2 || c.Hooks != 1 || c.Active != 1 {
		t.Fatalf("CountFlowContents = %+v", c)
	}

	// Refused while a run has not ended.
	_, err = s.DeleteFlow(ctx, fx.flow.ID)
	isErr(t, err, ErrActive)
	if _, err := s.FlowByID(ctx, fx.flow.ID); err != nil {
		t.Fatalf("a refused delete removed the flow: %v", err)
	}
	_, err = s.EndRun(ctx, e.Run.ID, engine.RunCanceled, "canceled")
	ok(t, err)

	got, err := s.DeleteFlow(ctx, fx.flow.ID)
	ok(t, err)
	if got != (FlowContents{Versions: 2, Runs: 1, Shares: 2, Hooks: 1}) {
		t.Fatalf("DeleteFlow = %+v", got)
	}
	_, err = s.FlowByID(ctx, fx.flow.ID)
	isErr(t, err, ErrNotFound)
	_, err = s.Run(ctx, e.Run.ID)
	isErr(t, err, ErrNotFound)
	for _, table := range []string{"versions", "runs", "shares", "hooks", "draft_cells"} {
		var n int
		ok(t, s.rdb.NewRaw("SELECT COUNT(*) FROM "+table+" WHERE flow_id = ?", fx.flow.ID).Scan(ctx, &n))
		if n != 0 {
			t.Fatalf("%s of the deleted flow: %d rows", table, n)
		}
	}
	var n int
	ok(t, s.rdb.NewRaw("SELECT COUNT(*) FROM run_events WHERE run_id = ?", e.Run.ID).Scan(ctx, &n))
	if n != 0 {
		t.Fatalf("events of the deleted flow's run: %d", n)
	}
	// The other flow and its run stay; the audit log keeps its entry.
	if _, err := s.FlowByID(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, otherRun.Run.ID); err != nil {
		t.Fatal(err)
	}
	entries, err := s.Audit(ctx, AuditQuery{WorkspaceID: fx.ws.ID})
	ok(t, err)
	if len(entries) != 1 || entries[0].Target != "run "+e.Run.ID {
		t.Fatalf("audit after delete = %+v", entries)
	}

	_, err = s.DeleteFlow(ctx, fx.flow.ID)
	isErr(t, err, ErrNotFound)
}
