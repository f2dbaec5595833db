package worker

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// approvalCells are a deploy-like flow: a dry run, an approval of it, and
// a final step that says what the approval gave it.
func approvalCells(mod func(c *engine.Cell)) []engine.Cell {
	ap := engine.Cell{Name: "approve", Kind: engine.KindApproval, File: "approve.md", Source: "Deploy {{ cells.dry.value }} hosts?\n", Approvers: []string{"editor"},
		Inputs: []engine.Input{{Name: "ticket"}}}
	if mod != nil {
		mod(&ap)
	}
	return []engine.Cell{
		{Name: "dry", Kind: engine.KindExpr, File: "dry.expr", Source: "3"},
		ap,
		{Name: "final", Kind: engine.KindExpr, File: "final.expr", Source: `cells.approve.by + " " + cells.approve.inputs.ticket + " " + string(cells.dry.value)`},
	}
}

func cellStatuses(t *testing.T, f *fixture, id string) map[string]engine.CellStatus {
	t.Helper()
	evs, err := f.st.Events(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]engine.CellStatus{}
	var seq int64
	starts, ends := 0, 0
	for _, se := range evs {
		var e engine.Event
		if err := json.Unmarshal(se.Data, &e); err != nil {
			t.Fatal(err)
		}
		seq++
		if e.Seq != seq {
			t.Fatalf("seq %d after %d: events are not gap-free", e.Seq, seq-1)
		}
		switch e.Type {
		case engine.EventRunStarted:
			starts++
			for _, c := range e.Cells {
				st[c] = engine.CellPending
			}
		case engine.EventApprovalRequested:
			st[e.Cell] = engine.CellWaiting
		case engine.EventCellFinished:
			st[e.Cell] = engine.CellStatus(e.Status)
		case engine.EventRunFinished:
			ends++
		}
	}
	if starts != 1 || ends > 1 {
		t.Fatalf("%d run.started and %d run.finished", starts, ends)
	}
	return st
}

func finalValue(t *testing.T, f *fixture, id string) string {
	t.Helper()
	evs, err := f.st.Events(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, se := range evs {
		var e engine.Event
		json.Unmarshal(se.Data, &e)
		if e.Type == engine.EventCellFinished && e.Cell == "final" {
			var r engine.ExprResult
			json.Unmarshal(e.Result, &r)
			s, _ := r.Value.(string)
			return s
		}
	}
	return ""
}

// TestApprovalWaitsWithoutAWorker: a run that reaches an approval cell
// waits in the store, holding no worker; decided, any worker takes it
// again and it goes on after the approval with the earlier results.
func TestApprovalWaitsWithoutAWorker(t *testing.T) {
	f := newFixture(t)
	p := f.pool(t, Config{})
	ctx := context.Background()
	id := f.enqueue(t, "deploy", approvalCells(nil)...)
	if err := p.Execute(ctx, id); err != nil {
		t.Fatal(err)
	}
	r := f.run(t, id)
	if r.Status != engine.RunWaiting || r.Worker != "" || !r.LeaseUntil.IsZero() || p.Busy() != 0 {
		t.Fatalf("run %s, worker %q, lease %v, busy %d", r.Status, r.Worker, r.LeaseUntil, p.Busy())
	}
	if st := cellStatuses(t, f, id); st["dry"] != engine.CellSucceeded || st["approve"] != engine.CellWaiting || st["final"] != engine.CellPending {
		t.Fatalf("cells %v", st)
	}
	ap, err := f.st.RunApproval(ctx, id, "approve")
	if err != nil {
		t.Fatal(err)
	}
	if ap.Message != "Deploy 3 hosts?\n" || ap.Status != store.ApprovalWaiting || !ap.Deadline.IsZero() {
		t.Fatalf("approval %+v", ap)
	}

	// While it waits, another flow's run has the one worker.
	other := f.enqueue(t, "other", engine.Cell{Name: "x", Kind: engine.KindExpr, File: "x.expr", Source: "1"})
	if err := p.Execute(ctx, other); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, other); r.Status != engine.RunSucceeded {
		t.Fatalf("the other run: %s", r.Status)
	}

	if _, err := f.st.DecideApproval(ctx, ap.ID, store.ApprovalDecision{UserID: f.user.ID, Who: "ada", Approved: true, Inputs: map[string]any{"ticket": "OPS-9"}}); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, id); r.Status != engine.RunQueued || !r.Dispatched {
		t.Fatalf("decided: run %s, dispatched %v", r.Status, r.Dispatched)
	}
	// Another process's worker takes it.
	p2 := f.pool(t, Config{ID: "w_other"})
	if err := p2.Execute(ctx, id); err != nil {
		t.Fatal(err)
	}
	r = f.run(t, id)
	if r.Status != engine.RunSucceeded {
		t.Fatalf("resumed run %s: %s", r.Status, r.Error)
	}
	if st := cellStatuses(t, f, id); st["approve"] != engine.CellSucceeded || st["final"] != engine.CellSucceeded {
		t.Fatalf("cells %v", st)
	}
	if v := finalValue(t, f, id); v != "ada OPS-9 3" {
		t.Errorf("the final step saw %q", v)
	}
	resumedAfterWait(t, f, id, "Deploy 3 hosts?")
}

// resumedAfterWait checks the events of a run that waited once and went
// on: one run.resumed (status running) right after the wait, and the
// approval's message in its log once.
func resumedAfterWait(t *testing.T, f *fixture, id, message string) {
	t.Helper()
	evs, err := f.st.Events(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var types []engine.EventType
	resumed, shown, waitedAt := 0, 0, -1
	for i, se := range evs {
		var e engine.Event
		if err := json.Unmarshal(se.Data, &e); err != nil {
			t.Fatal(err)
		}
		types = append(types, e.Type)
		switch e.Type {
		case engine.EventApprovalRequested:
			waitedAt = i
		case engine.EventRunResumed:
			resumed++
			if i != waitedAt+1 || e.Status != string(engine.RunRunning) {
				t.Errorf("run.resumed at %d (status %q); the wait at %d", i, e.Status, waitedAt)
			}
		case engine.EventCellLog:
			for _, l := range e.Lines {
				if strings.Contains(l, message) {
					shown++
				}
			}
		}
	}
	if resumed != 1 || shown != 1 {
		t.Errorf("%d run.resumed, the message shown %d times: %v", resumed, shown, types)
	}
}

func TestApprovalRejectTimeoutCancel(t *testing.T) {
	f := newFixture(t)
	p := f.pool(t, Config{})
	ctx := context.Background()
	wait := func(id string) store.Approval {
		t.Helper()
		if err := p.Execute(ctx, id); err != nil {
			t.Fatal(err)
		}
		if r := f.run(t, id); r.Status != engine.RunWaiting {
			t.Fatalf("run %s: %s", r.Status, r.Error)
		}
		ap, err := f.st.RunApproval(ctx, id, "approve")
		if err != nil {
			t.Fatal(err)
		}
		return ap
	}

	// Rejected with a comment: the approval cell fails, and the run.
	id := f.enqueue(t, "rejected", approvalCells(nil)...)
	ap := wait(id)
	if _, err := f.st.DecideApproval(ctx, ap.ID, store.ApprovalDecision{UserID: f.user.ID, Who: "ada", Comment: "not on a Friday"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Execute(ctx, id); err != nil {
		t.Fatal(err)
	}
	r := f.run(t, id)
	if r.Status != engine.RunFailed || !strings.Contains(r.Error, "rejected by ada: not on a Friday") {
		t.Fatalf("rejected: run %s: %q", r.Status, r.Error)
	}
	if st := cellStatuses(t, f, id); st["approve"] != engine.CellFailed || st["final"] != engine.CellSkipped {
		t.Fatalf("cells %v", st)
	}

	// Timeouts, by the sweeper's clock: reject and approve.
	for _, on := range []engine.OnTimeout{engine.OnTimeoutReject, engine.OnTimeoutApprove} {
		id := f.enqueue(t, "timeout-"+string(on), approvalCells(func(c *engine.Cell) { c.Timeout, c.OnTimeout = time.Hour, on })...)
		ap := wait(id)
		if ap.Deadline.IsZero() || ap.OnTimeout != on {
			t.Fatalf("approval %+v", ap)
		}
		if exp, err := f.st.ExpireApprovals(ctx, time.Now().Add(59*time.Minute)); err != nil || len(exp) != 0 {
			t.Fatalf("expired early: %v, %v", exp, err)
		}
		if exp, err := f.st.ExpireApprovals(ctx, time.Now().Add(61*time.Minute)); err != nil || len(exp) != 1 {
			t.Fatalf("ExpireApprovals: %v, %v", exp, err)
		}
		if err := p.Execute(ctx, id); err != nil {
			t.Fatal(err)
		}
		r := f.run(t, id)
		want := engine.RunFailed
		if on == engine.OnTimeoutApprove {
			want = engine.RunSucceeded
			if v := finalValue(t, f, id); !strings.HasPrefix(v, "timeout ") {
				t.Errorf("the final step saw %q", v)
			}
		}
		if r.Status != want {
			t.Errorf("on_timeout %s: run %s: %s", on, r.Status, r.Error)
		}
	}

	// Canceled while it waits: it ends, and no decision brings it back.
	id = f.enqueue(t, "canceled", approvalCells(nil)...)
	ap = wait(id)
	if ok, err := f.st.EndRun(ctx, id, engine.RunCanceled, "canceled while it waited for an approval", engine.RunWaiting); err != nil || !ok {
		t.Fatalf("EndRun: %v, %v", ok, err)
	}
	if _, err := f.st.DecideApproval(ctx, ap.ID, store.ApprovalDecision{UserID: f.user.ID, Who: "ada", Approved: true}); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, id); r.Status != engine.RunCanceled {
		t.Fatalf("canceled run is %s", r.Status)
	}
	if st := cellStatuses(t, f, id); st["approve"] != engine.CellCanceled || st["final"] != engine.CellCanceled {
		t.Fatalf("cells %v", st)
	}
}

// endCounter is an Observer that notes the runs' ends.
type endCounter struct {
	mu   sync.Mutex
	ends []engine.RunStatus
}

func (c *endCounter) RunEnded(_, _ string, status engine.RunStatus, _ time.Duration) {
	c.mu.Lock()
	c.ends = append(c.ends, status)
	c.mu.Unlock()
}

func (c *endCounter) CellEnded(engine.Kind, string, time.Duration) {}

func (c *endCounter) seen() []engine.RunStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]engine.RunStatus(nil), c.ends...)
}

// TestApprovalWaitIsNoEnd: the metrics count a run that waits for an
// approval once, when it ends after the decision, never as a run that
// ended "waiting".
func TestApprovalWaitIsNoEnd(t *testing.T) {
	f := newFixture(t)
	obs := &endCounter{}
	p := f.pool(t, Config{Observe: obs})
	ctx := context.Background()
	id := f.enqueue(t, "deploy", approvalCells(nil)...)
	if err := p.Execute(ctx, id); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, id); r.Status != engine.RunWaiting {
		t.Fatalf("run %s", r.Status)
	}
	if got := obs.seen(); len(got) != 0 {
		t.Fatalf("a waiting run was counted as ended: %v", got)
	}
	ap, err := f.st.RunApproval(ctx, id, "approve")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DecideApproval(ctx, ap.ID, store.ApprovalDecision{UserID: f.user.ID, Who: "ada", Approved: true, Inputs: map[string]any{"ticket": "OPS-9"}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Execute(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := obs.seen(); len(got) != 1 || got[0] != engine.RunSucceeded {
		t.Fatalf("counted %v; want one succeeded", got)
	}
}
