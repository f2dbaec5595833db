package store

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

var retentionTests = []struct {
	name string
	fn   func(t *testing.T, s *Store)
}{
	{"RetentionSettings", testRetentionSettings},
	{"PruneRunLogs", testPruneRunLogs},
	{"PruneWhileReading", testPruneWhileReading},
	{"DeleteRuns", testDeleteRuns},
	{"DeleteRunsKeepsResults", testDeleteRunsKeepsResults},
}

func testRetentionSettings(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	g, err := s.RetentionOf(ctx, fx.ws.ID)
	ok(t, err)
	if g.KeepRunsDays != 0 || g.KeepLogsDays != 90 || g.WorkspaceID != fx.ws.ID {
		t.Fatalf("default retention = %+v", g)
	}
	isErr(t, s.SetRetention(ctx, Retention{WorkspaceID: fx.ws.ID, KeepLogsDays: -1}), ErrInvalid)
	isErr(t, s.SetRetention(ctx, Retention{WorkspaceID: fx.ws.ID, KeepRunsDays: MaxRetentionDays + 1}), ErrInvalid)
	ok(t, s.SetRetention(ctx, Retention{WorkspaceID: fx.ws.ID, KeepRunsDays: 400, KeepLogsDays: 0, UpdatedBy: fx.user.ID}))
	g, err = s.RetentionOf(ctx, fx.ws.ID)
	ok(t, err)
	if g.KeepRunsDays != 400 || g.KeepLogsDays != 0 || g.UpdatedBy != fx.user.ID || g.UpdatedAt.IsZero() {
		t.Fatalf("retention = %+v", g)
	}
	other, err := s.CreateWorkspace(ctx, "other", "Other")
	ok(t, err)
	all, err := s.Retentions(ctx)
	ok(t, err)
	got := map[string]Retention{}
	for _, r := range all {
		got[r.WorkspaceID] = r
	}
	if len(all) != 2 || got[fx.ws.ID].KeepRunsDays != 400 || got[other.ID].KeepLogsDays != 90 {
		t.Fatalf("Retentions = %+v", all)
	}
}

// finishedRun stores a run of two cells that wrote logs lines each
// (fetch and notify interleaved, one event a line), finished at at.
func finishedRun(t *testing.T, s *Store, fx fixture, at time.Time, logs int) Run {
	t.Helper()
	ctx := context.Background()
	r := newRun(t, s, fx)
	evs := []engine.Event{
		{Type: engine.EventRunStarted, At: at, Cells: []string{"fetch", "notify"}},
		{Type: engine.EventCellStarted, At: at, Cell: "fetch", Attempt: 1},
		{Type: engine.EventCellStarted, At: at, Cell: "notify", Attempt: 1},
	}
	for i := range logs {
		cell := []string{"fetch", "notify"}[i%2]
		evs = append(evs, engine.Event{Type: engine.EventCellLog, At: at, Cell: cell, Stream: engine.StreamStdout, Lines: []string{cell + " line"}})
	}
	evs = append(evs,
		engine.Event{Type: engine.EventCellFinished, At: at, Cell: "fetch", Status: "succeeded", Attempts: 1},
		engine.Event{Type: engine.EventCellFinished, At: at, Cell: "notify", Status: "succeeded", Attempts: 1},
		engine.Event{Type: engine.EventRunFinished, At: at, Status: "succeeded"})
	ok(t, s.AppendEvents(ctx, r.ID, evs))
	return r
}

func testPruneRunLogs(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	day := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	r := finishedRun(t, s, fx, day, 2*PruneBatch+7) // 3 batches
	before, err := s.Events(ctx, r.ID, 0, 0)
	ok(t, err)
	_, err = s.AppendAudit(ctx, AuditEntry{WorkspaceID: fx.ws.ID, ActorName: "ada", Action: "run.started", Target: "run " + r.ID})
	ok(t, err)

	ids, err := s.RunsWithLogsBefore(ctx, fx.ws.ID, day.Add(time.Hour), 10)
	ok(t, err)
	if len(ids) != 1 || ids[0] != r.ID {
		t.Fatalf("RunsWithLogsBefore = %v", ids)
	}
	ids, err = s.RunsWithLogsBefore(ctx, fx.ws.ID, day, 10)
	ok(t, err)
	if len(ids) != 0 {
		t.Fatalf("RunsWithLogsBefore its end = %v", ids)
	}
	// An unfinished run keeps its logs.
	live := newRun(t, s, fx)
	ok(t, s.AppendEvents(ctx, live.ID, []engine.Event{{Type: engine.EventCellLog, At: day, Cell: "fetch", Lines: []string{"x"}}}))
	_, err = s.PruneRunLogs(ctx, live.ID, day, nil)
	isErr(t, err, ErrInvalid)

	pauses := 0
	pruneDay := time.Date(2025, 4, 2, 3, 0, 0, 0, time.UTC)
	n, err := s.PruneRunLogs(ctx, r.ID, pruneDay, func(context.Context) error { pauses++; return nil })
	ok(t, err)
	if n != 2*PruneBatch+7-2 || pauses < 3 {
		t.Fatalf("deleted %d in %d batches", n, pauses)
	}
	after, err := s.Events(ctx, r.ID, 0, 0)
	ok(t, err)
	// Every other event stays with its seq; each cell keeps one marker at
	// its first log seq, which names the range it stands for.
	firstLog := map[string]int64{}
	lastLog := map[string]int64{}
	var kept []StoredEvent
	for _, e := range before {
		if e.Type != engine.EventCellLog {
			kept = append(kept, e)
			continue
		}
		if firstLog[e.Cell] == 0 {
			firstLog[e.Cell] = e.Seq
			kept = append(kept, e)
		}
		lastLog[e.Cell] = e.Seq
	}
	if len(after) != len(kept) {
		t.Fatalf("%d events after the prune, want %d", len(after), len(kept))
	}
	for i, e := range after {
		if e.Seq != kept[i].Seq || e.Type != kept[i].Type || e.Cell != kept[i].Cell {
			t.Fatalf("event %d = %d %s %s, want %d %s %s", i, e.Seq, e.Type, e.Cell, kept[i].Seq, kept[i].Type, kept[i].Cell)
		}
		if e.Type != engine.EventCellLog {
			if string(e.Data) != string(kept[i].Data) {
				t.Fatalf("event %d changed: %s", e.Seq, e.Data)
			}
			continue
		}
		var m engine.Event
		ok(t, json.Unmarshal(e.Data, &m))
		want := LogsPrunedText(firstLog[e.Cell], lastLog[e.Cell], PruneBatch+4-int(firstLog[e.Cell]%2), pruneDay)
		if m.Stream != engine.StreamPruned || m.Seq != e.Seq || len(m.Lines) != 1 || m.Lines[0] != want || !strings.Contains(want, "2025-04-02") {
			t.Fatalf("marker of %s = %s, want %q", e.Cell, e.Data, want)
		}
	}
	logs, err := s.LogEvents(ctx, r.ID, "fetch", 0, 0)
	ok(t, err)
	if len(logs) != 1 || logs[0].Seq != firstLog["fetch"] {
		t.Fatalf("fetch's log after the prune = %+v", logs)
	}
	crs, err := s.CellRuns(ctx, r.ID)
	ok(t, err)
	if crs[0].LogBytes >= 200 || crs[0].LogBytes == 0 {
		t.Fatalf("log bytes after the prune = %d", crs[0].LogBytes)
	}
	last, err := s.LastSeq(ctx, r.ID)
	ok(t, err)
	if last != before[len(before)-1].Seq {
		t.Fatalf("last seq %d, was %d", last, before[len(before)-1].Seq)
	}
	ids, err = s.RunsWithLogsBefore(ctx, fx.ws.ID, pruneDay, 10)
	ok(t, err)
	if len(ids) != 0 {
		t.Fatalf("a pruned run is listed again: %v", ids)
	}
	// Again (an interrupted prune resumed): the markers stay as they were.
	n, err = s.PruneRunLogs(ctx, r.ID, pruneDay.Add(24*time.Hour), nil)
	ok(t, err)
	again, err := s.Events(ctx, r.ID, 0, 0)
	ok(t, err)
	if n != 0 || len(again) != len(after) || string(again[3].Data) != string(after[3].Data) {
		t.Fatalf("a second prune deleted %d, changed %s", n, again[3].Data)
	}
	audit, err := s.Audit(ctx, AuditQuery{WorkspaceID: fx.ws.ID})
	ok(t, err)
	if len(audit) != 1 {
		t.Fatalf("audit after the prune = %+v", audit)
	}
}

func testPruneWhileReading(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	day := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	r := finishedRun(t, s, fx, day, 6*PruneBatch)
	others := 0 // events that are not log lines
	evs, err := s.Events(ctx, r.ID, 0, 0)
	ok(t, err)
	for _, e := range evs {
		if e.Type != engine.EventCellLog {
			others++
		}
	}
	// Readers read the whole run again and again while it is pruned; each
	// read must succeed, in seq order, with every other event in it.
	done := make(chan struct{})
	var reads atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	check := func() error {
		evs, err := s.Events(ctx, r.ID, 0, 0)
		if err != nil {
			return err
		}
		n := 0
		for i, e := range evs {
			if i > 0 && e.Seq <= evs[i-1].Seq {
				t.Errorf("seq %d after %d", e.Seq, evs[i-1].Seq)
			}
			if e.Type != engine.EventCellLog {
				n++
			}
		}
		if n != others {
			t.Errorf("a read during the prune saw %d other events, want %d", n, others)
		}
		reads.Add(1)
		return nil
	}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := check(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Between two batches a read is served too (the prune holds nothing).
	midReads := 0
	_, err = s.PruneRunLogs(ctx, r.ID, day.AddDate(0, 4, 0), func(context.Context) error {
		midReads++
		return check()
	})
	close(done)
	wg.Wait()
	ok(t, err)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if midReads < 6 || reads.Load() < int64(midReads) {
		t.Fatalf("%d reads, %d between batches", reads.Load(), midReads)
	}
}

func testDeleteRuns(t *testing.T, s *Store) {
	ctx := context.Background()
	c := setClock(s)
	fx := setup(t, s)
	start := c.t
	old := finishedRun(t, s, fx, start, 3)
	c.add(time.Hour)
	queued := newRun(t, s, fx) // never finishes
	c.add(time.Hour)
	latest := finishedRun(t, s, fx, c.t, 3)
	c.add(time.Hour)
	_, err := s.AppendAudit(ctx, AuditEntry{WorkspaceID: fx.ws.ID, ActorName: "ada", Action: "run.started", Target: "run " + old.ID})
	ok(t, err)
	_, err = s.CreateShare(ctx, Share{Kind: ShareRun, WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, RunID: old.ID, Hash: "h-old", CreatedBy: fx.user.ID, ExpiresAt: c.t.Add(time.Hour)})
	ok(t, err)

	ids, err := s.RunsBefore(ctx, fx.ws.ID, c.t, 10)
	ok(t, err)
	// Neither the queued run nor the flow's last run.
	if len(ids) != 1 || ids[0] != old.ID {
		t.Fatalf("RunsBefore = %v (old %s, queued %s, latest %s)", ids, old.ID, queued.ID, latest.ID)
	}
	isErr(t, s.DeleteRun(ctx, queued.ID, nil), ErrInvalid)
	ok(t, s.DeleteRun(ctx, old.ID, nil))
	_, err = s.Run(ctx, old.ID)
	isErr(t, err, ErrNotFound)
	evs, err := s.Events(ctx, old.ID, 0, 0)
	ok(t, err)
	if len(evs) != 0 {
		t.Fatalf("%d events of a deleted run", len(evs))
	}
	crs, err := s.CellRuns(ctx, old.ID)
	if err == nil && len(crs) != 0 {
		t.Fatalf("cell runs of a deleted run: %+v", crs)
	}
	isErr(t, s.DeleteRun(ctx, old.ID, nil), ErrNotFound)
	if _, err := s.Run(ctx, latest.ID); err != nil {
		t.Fatalf("the flow's last run: %v", err)
	}
	audit, err := s.Audit(ctx, AuditQuery{WorkspaceID: fx.ws.ID})
	ok(t, err)
	if len(audit) != 1 || audit[0].Target != "run "+old.ID {
		t.Fatalf("audit after deleting the run = %+v", audit)
	}
	d, err := s.DiskUseOf(ctx, fx.ws.ID)
	ok(t, err)
	if d.Runs != 2 || d.LogBytes != int64(len("fetch line\nnotify line\nfetch line\n")) {
		t.Fatalf("disk use = %+v", d)
	}
}

// resultRun stores a finished run in which each of cells succeeded with a
// result.
func resultRun(t *testing.T, s *Store, fx fixture, at time.Time, cells ...string) Run {
	t.Helper()
	r := newRun(t, s, fx)
	evs := []engine.Event{{Type: engine.EventRunStarted, At: at, Cells: cells}}
	for _, c := range cells {
		evs = append(evs, engine.Event{Type: engine.EventCellStarted, At: at, Cell: c, Attempt: 1},
			engine.Event{Type: engine.EventCellFinished, At: at, Cell: c, Status: "succeeded", Attempts: 1, Result: json.RawMessage(`{"from":"` + r.ID + `"}`)})
	}
	evs = append(evs, engine.Event{Type: engine.EventRunFinished, At: at, Status: "succeeded"})
	ok(t, s.AppendEvents(context.Background(), r.ID, evs))
	return r
}

// testDeleteRunsKeepsResults: a run holding a cell's newest result stays,
// so that the notebook's results of the cells above survive the prune.
func testDeleteRunsKeepsResults(t *testing.T, s *Store) {
	ctx := context.Background()
	c := setClock(s)
	fx := setup(t, s)
	a := resultRun(t, s, fx, c.t, "fetch", "notify") // fetch's newest result
	c.add(time.Hour)
	b := resultRun(t, s, fx, c.t, "notify") // superseded by the next
	c.add(time.Hour)
	resultRun(t, s, fx, c.t, "notify") // the flow's last run
	c.add(time.Hour)
	ids, err := s.RunsBefore(ctx, fx.ws.ID, c.t, 10)
	ok(t, err)
	if len(ids) != 1 || ids[0] != b.ID {
		t.Fatalf("RunsBefore = %v, want only %s (a: %s)", ids, b.ID, a.ID)
	}
	ok(t, s.DeleteRun(ctx, b.ID, nil))
	res, err := s.LatestResults(ctx, fx.flow.ID)
	ok(t, err)
	if string(res["fetch"]) != `{"from":"`+a.ID+`"}` {
		t.Fatalf("latest results after the prune = %s", res)
	}
}
