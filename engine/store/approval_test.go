package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// testApprovals: an approval is asked once per run and cell; people
// decide once each; N approvals close it approved, one rejection closes
// it rejected; a closed or expired approval takes no decision and says
// who decided; the sweeper applies on_timeout once; deleting the run
// deletes its approvals.
func testApprovals(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	bo, err := s.CreateUser(ctx, "bo", "Bo", "")
	ok(t, err)
	r, err := s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1})
	ok(t, err)

	a, err := s.AskApproval(ctx, Approval{RunID: r.ID, Cell: "approve", Message: "Deploy?", Approvers: []string{"editor", "user:bo"}, Needed: 2, LinkHash: "lh1"})
	ok(t, err)
	if !strings.HasPrefix(a.ID, "ap_") || a.Status != ApprovalWaiting || a.Needed != 2 || a.OnTimeout != engine.OnTimeoutReject ||
		strings.Join(a.Approvers, ",") != "editor,user:bo" || !a.Deadline.IsZero() || a.LinkHash != "lh1" || !a.CreatedAt.Equal(s.timeNow()) {
		t.Fatalf("AskApproval = %+v", a)
	}
	// Asked again (a worker reaching the cell again): the same approval.
	again, err := s.AskApproval(ctx, Approval{RunID: r.ID, Cell: "approve", Message: "other"})
	ok(t, err)
	if again.ID != a.ID || again.Message != "Deploy?" {
		t.Fatalf("AskApproval again = %+v", again)
	}
	_, err = s.AskApproval(ctx, Approval{RunID: "r_nowhere", Cell: "approve"})
	if err == nil {
		t.Fatal("an approval of no run was stored")
	}
	_, err = s.AskApproval(ctx, Approval{RunID: r.ID, Cell: "big", Message: strings.Repeat("x", MaxApprovalMessage+1)})
	isErr(t, err, ErrTooLarge)

	// The first approval of two.
	clk.add(time.Minute)
	got, err := s.DecideApproval(ctx, a.ID, ApprovalDecision{UserID: fx.user.ID, Who: "ada", Approved: true, Comment: "ok", Inputs: map[string]any{"ticket": "OPS-1"}})
	ok(t, err)
	if got.Status != ApprovalWaiting || len(got.Decisions) != 1 || got.Approvals() != 1 || !got.DecidedBy(fx.user.ID) {
		t.Fatalf("after one approval: %+v", got)
	}
	d := got.Decisions[0]
	if d.UserID != fx.user.ID || d.Who != "ada" || !d.At.Equal(s.timeNow()) || !d.Approved || d.Comment != "ok" || d.Inputs["ticket"] != "OPS-1" {
		t.Fatalf("decision = %+v", d)
	}
	// A person decides once.
	_, err = s.DecideApproval(ctx, a.ID, ApprovalDecision{UserID: fx.user.ID, Who: "ada", Approved: true})
	isErr(t, err, ErrAlreadyExists)
	_, err = s.DecideApproval(ctx, a.ID, ApprovalDecision{UserID: bo.ID, Who: "bo", Approved: true, Comment: strings.Repeat("c", MaxApprovalComment+1)})
	isErr(t, err, ErrTooLarge)
	_, err = s.DecideApproval(ctx, a.ID, ApprovalDecision{UserID: bo.ID, Approved: true})
	isErr(t, err, ErrInvalid)
	_, err = s.DecideApproval(ctx, "ap_nowhere", ApprovalDecision{Who: "x", Approved: true})
	isErr(t, err, ErrNotFound)

	// The second person's approval closes it.
	clk.add(time.Minute)
	got, err = s.DecideApproval(ctx, a.ID, ApprovalDecision{UserID: bo.ID, Who: "bo", Approved: true})
	ok(t, err)
	if got.Status != ApprovalApproved || !got.DecidedAt.Equal(s.timeNow()) || got.Approvals() != 2 {
		t.Fatalf("after two approvals: %+v", got)
	}
	ch := got.Choices()
	if len(ch) != 2 || ch[0].By != "ada" || ch[1].By != "bo" || ch[1].At != s.timeNow().Format(time.RFC3339) {
		t.Fatalf("Choices = %+v", ch)
	}
	// Closed: a link holder's click says who decided.
	got, err = s.DecideApproval(ctx, a.ID, ApprovalDecision{Who: "link holder", IP: "192.0.2.7", Approved: false})
	isErr(t, err, ErrApprovalClosed)
	if got.Status != ApprovalApproved || len(got.Decisions) != 2 {
		t.Fatalf("closed approval returned %+v", got)
	}

	// One rejection decides, and a link holder's decision keeps the address.
	rj, err := s.AskApproval(ctx, Approval{RunID: r.ID, Cell: "second", Approvers: []string{"link"}, Needed: 3})
	ok(t, err)
	got, err = s.DecideApproval(ctx, rj.ID, ApprovalDecision{Who: "link holder", IP: "192.0.2.7", Comment: "not today"})
	ok(t, err)
	if got.Status != ApprovalRejected || got.Choices()[0].By != "link holder (192.0.2.7)" || got.Choices()[0].Comment != "not today" {
		t.Fatalf("rejected: %+v", got)
	}

	// Timeouts: the sweeper applies on_timeout to what is past its
	// deadline, once; a person is too late after it.
	r2, err := s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1})
	ok(t, err)
	dl := s.timeNow().Add(time.Hour)
	tr, err := s.AskApproval(ctx, Approval{RunID: r2.ID, Cell: "a", Approvers: []string{"editor"}, Deadline: dl})
	ok(t, err)
	ta, err := s.AskApproval(ctx, Approval{RunID: r2.ID, Cell: "b", Approvers: []string{"editor"}, Needed: 2, Deadline: dl, OnTimeout: engine.OnTimeoutApprove})
	ok(t, err)
	later, err := s.AskApproval(ctx, Approval{RunID: r2.ID, Cell: "c", Approvers: []string{"editor"}, Deadline: dl.Add(time.Hour)})
	ok(t, err)
	if !tr.Deadline.Equal(dl.Truncate(time.Microsecond)) {
		t.Fatalf("deadline %v, want %v", tr.Deadline, dl)
	}
	_, err = s.DecideApproval(ctx, ta.ID, ApprovalDecision{UserID: fx.user.ID, Who: "ada", Approved: true})
	ok(t, err)
	exp, err := s.ExpireApprovals(ctx, s.timeNow())
	ok(t, err)
	if len(exp) != 0 {
		t.Fatalf("expired before the deadline: %+v", exp)
	}
	clk.add(time.Hour)
	_, err = s.DecideApproval(ctx, tr.ID, ApprovalDecision{UserID: bo.ID, Who: "bo", Approved: true})
	isErr(t, err, ErrApprovalClosed)
	exp, err = s.ExpireApprovals(ctx, s.timeNow())
	ok(t, err)
	if len(exp) == 2 && exp[0].Cell == "b" {
		exp[0], exp[1] = exp[1], exp[0]
	}
	if len(exp) != 2 || exp[0].Cell != "a" || exp[0].Status != ApprovalRejected || exp[1].Status != ApprovalApproved {
		t.Fatalf("ExpireApprovals = %+v", exp)
	}
	last := exp[1].Decisions[len(exp[1].Decisions)-1]
	if last.Who != "timeout" || last.UserID != "" || !strings.Contains(last.Comment, "on_timeout: approve") {
		t.Fatalf("timeout decision = %+v", last)
	}
	exp, err = s.ExpireApprovals(ctx, s.timeNow())
	ok(t, err)
	if len(exp) != 0 {
		t.Fatalf("expired twice: %+v", exp)
	}
	if got, err := s.Approval(ctx, later.ID); err != nil || got.Status != ApprovalWaiting {
		t.Fatalf("a later deadline: %+v, %v", got, err)
	}

	list, err := s.RunApprovals(ctx, r.ID)
	ok(t, err)
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != rj.ID || len(list[0].Decisions) != 2 {
		t.Fatalf("RunApprovals = %+v", list)
	}
	_, err = s.RunApproval(ctx, r.ID, "nope")
	isErr(t, err, ErrNotFound)

	// The run's record goes, and its approvals with it.
	_, err = s.EndRun(ctx, r2.ID, engine.RunCanceled, "canceled")
	ok(t, err)
	ok(t, s.DeleteRun(ctx, r2.ID, func(context.Context) error { return nil }))
	if _, err := s.Approval(ctx, tr.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an approval outlived its run: %v", err)
	}
}

// testApprovalResume: a claimed run whose cell asked for an approval is
// suspended (waiting, no worker, its flow's slot held); deciding the
// approval makes it queued and dispatched again, asked to run its
// unfinished cells with the finished ones' results. An approval decided
// before the worker suspends the run sends it on at once.
func testApprovalResume(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	start := func() string {
		e, err := s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1}, 1, engine.OverlapQueue)
		ok(t, err)
		_, claimed, err := s.ClaimRun(ctx, e.Run.ID, "w1", time.Now().Add(time.Minute))
		ok(t, err)
		if !claimed {
			t.Fatal("not claimed")
		}
		now := time.Now()
		ok(t, s.AppendEvents(ctx, e.Run.ID, []engine.Event{
			{Type: engine.EventRunStarted, At: now, Cells: []string{"dry", "approve", "final"}},
			{Type: engine.EventCellStarted, At: now, Cell: "dry", Attempt: 1},
			{Type: engine.EventCellFinished, At: now, Cell: "dry", Status: "succeeded", Attempts: 1, Result: json.RawMessage(`{"value":3}`)},
			{Type: engine.EventCellStarted, At: now, Cell: "approve", Attempt: 1},
			{Type: engine.EventApprovalRequested, At: now, Cell: "approve", Status: "waiting"},
		}))
		return e.Run.ID
	}
	id := start()
	a, err := s.AskApproval(ctx, Approval{RunID: id, Cell: "approve", Approvers: []string{"editor"}})
	ok(t, err)
	waits, err := s.SuspendRun(ctx, id, "w2")
	ok(t, err)
	if waits {
		t.Fatal("another worker suspended the run")
	}
	waits, err = s.SuspendRun(ctx, id, "w1")
	ok(t, err)
	r, err := s.Run(ctx, id)
	ok(t, err)
	if !waits || r.Status != engine.RunWaiting || r.Worker != "" || !r.LeaseUntil.IsZero() {
		t.Fatalf("suspended: %v, %+v", waits, r)
	}
	// The flow allows one run at once: a waiting run holds the slot.
	e2, err := s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1}, 1, engine.OverlapQueue)
	ok(t, err)
	if e2.Run.Dispatched {
		t.Fatal("a second run was dispatched past the waiting one's slot")
	}
	cells, err := s.CellRuns(ctx, id)
	ok(t, err)
	if len(cells) != 3 || cells[1].Status != engine.CellWaiting || cells[2].Status != engine.CellPending {
		t.Fatalf("cells %+v", cells)
	}

	_, err = s.DecideApproval(ctx, a.ID, ApprovalDecision{UserID: fx.user.ID, Who: "ada", Approved: true})
	ok(t, err)
	r, err = s.Run(ctx, id)
	ok(t, err)
	var req RunRequest
	ok(t, json.Unmarshal(r.Request, &req))
	if r.Status != engine.RunQueued || !r.Dispatched || strings.Join(req.Cells, ",") != "approve,final" || string(req.Prior["dry"]) != `{"value":3}` {
		t.Fatalf("resumed: %s, dispatched %v, request %+v", r.Status, r.Dispatched, req)
	}
	_, claimed, err := s.ClaimRun(ctx, id, "w2", time.Now().Add(time.Minute))
	ok(t, err)
	if !claimed {
		t.Fatal("the resumed run was not claimed")
	}
	_, err = s.EndRun(ctx, id, engine.RunSucceeded, "")
	ok(t, err)

	// Decided before the worker suspends it: it goes on at once.
	r2, err := s.Run(ctx, e2.Run.ID)
	ok(t, err)
	if !r2.Dispatched {
		t.Fatal("the queued run was not dispatched when the slot freed")
	}
	_, claimed, err = s.ClaimRun(ctx, e2.Run.ID, "w1", time.Now().Add(time.Minute))
	ok(t, err)
	if !claimed {
		t.Fatal("not claimed")
	}
	_, err = s.EndRun(ctx, e2.Run.ID, engine.RunSucceeded, "")
	ok(t, err)
	id = start()
	a, err = s.AskApproval(ctx, Approval{RunID: id, Cell: "approve", Approvers: []string{"editor"}})
	ok(t, err)
	_, err = s.DecideApproval(ctx, a.ID, ApprovalDecision{UserID: fx.user.ID, Who: "ada"})
	ok(t, err)
	waits, err = s.SuspendRun(ctx, id, "w1")
	ok(t, err)
	r, err = s.Run(ctx, id)
	ok(t, err)
	if waits || r.Status != engine.RunQueued || !r.Dispatched {
		t.Fatalf("decided early: waits %v, run %+v", waits, r)
	}
}

// testApprovalDraft: an approval cell's options (approvers, approvals,
// on_timeout, its form) live in the draft as the manifest has them, so a
// version saved from the draft keeps them.
func testApprovalDraft(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	def := &engine.Flow{Name: "Deploy", Cells: []engine.Cell{{
		Name: "approve", Kind: engine.KindApproval, File: "approve.md", Source: "Go?\n",
		Approvers: []string{"editor", "user:ana"}, Approvals: 2, Timeout: time.Hour, OnTimeout: engine.OnTimeoutApprove,
		Inputs: []engine.Input{{Name: "ticket", Required: true, Label: "Ticket"}, {Name: "n", Type: engine.InputNumber, Default: int64(2)}},
	}}}
	f, err := s.CreateFlow(ctx, fx.ws.ID, "deploy", def, fx.user.ID, nil, "h")
	ok(t, err)
	d, err := s.Draft(ctx, f.ID)
	ok(t, err)
	if !reflect.DeepEqual(d.Flow.Cells[0], def.Cells[0]) {
		t.Fatalf("draft cell:\n got %#v\nwant %#v", d.Flow.Cells[0], def.Cells[0])
	}
}

// testApprovalLink: a decision link's hash is set once unless replaced;
// the approval is found by it, closed ones too; a closed approval takes
// no new link; an unknown hash is ErrNotFound.
func testApprovalLink(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	r, err := s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1})
	ok(t, err)
	a, err := s.AskApproval(ctx, Approval{RunID: r.ID, Cell: "approve", Message: "Go?", Approvers: []string{"link"}})
	ok(t, err)
	set, err := s.SetApprovalLink(ctx, a.ID, "h1", false)
	if err != nil || !set {
		t.Fatalf("first link: %v %v", set, err)
	}
	if set, err := s.SetApprovalLink(ctx, a.ID, "h2", false); err != nil || set {
		t.Fatalf("a second mint replaced the first: %v %v", set, err)
	}
	if got, err := s.ApprovalByLinkHash(ctx, "h1"); err != nil || got.ID != a.ID {
		t.Fatalf("by hash h1: %+v %v", got, err)
	}
	if set, err := s.SetApprovalLink(ctx, a.ID, "h3", true); err != nil || !set {
		t.Fatalf("replace: %v %v", set, err)
	}
	if _, err := s.ApprovalByLinkHash(ctx, "h1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the replaced hash still finds it: %v", err)
	}
	_, err = s.DecideApproval(ctx, a.ID, ApprovalDecision{Who: "link holder", IP: "203.0.113.9", Approved: true})
	ok(t, err)
	got, err := s.ApprovalByLinkHash(ctx, "h3")
	if err != nil || got.Status != ApprovalApproved || got.Decisions[0].IP != "203.0.113.9" {
		t.Fatalf("closed by hash: %+v %v", got, err)
	}
	if _, err := s.SetApprovalLink(ctx, a.ID, "h4", true); !errors.Is(err, ErrApprovalClosed) {
		t.Fatalf("a closed approval took a link: %v", err)
	}
}
