package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/store"
)

// deployFlow is a dry run, an approval of it by approvers, and a final
// step that says who approved.
func deployFlow(approvers []string, needed int) *engine.Flow {
	return &engine.Flow{Name: "Deploy", Cells: []engine.Cell{
		{Name: "dry", Kind: engine.KindExpr, File: "dry.expr", Source: "3"},
		{Name: "approve", Kind: engine.KindApproval, File: "approve.md", Source: "Restart **{{ cells.dry.value }}** hosts?\n",
			Approvers: approvers, Approvals: needed, Inputs: []engine.Input{{Name: "ticket", Required: true}}},
		{Name: "final", Kind: engine.KindExpr, File: "final.expr", Source: `cells.approve.by + " " + cells.approve.inputs.ticket`},
	}}
}

// waitStatus waits until the run has status st.
func (f *fixture) waitStatus(id string, st engine.RunStatus) store.Run {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := f.st.Run(context.Background(), id)
		if err == nil && r.Status == st {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("run %s is not %s after 30s", id, st)
	return store.Run{}
}

// TestApprovalFromTheStudio: a run waits at its approval cell; only its
// approvers (and owners) decide, each once, from the run page's form or
// the API; two approvals close it and the run finishes after it; a
// closed approval says who decided; decisions are audited; a rejection
// fails the run with its comment; a waiting run can be canceled.
func TestApprovalFromTheStudio(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("deploy", deployFlow([]string{"editor", "user:runner"}, 2))
	ctx := context.Background()

	// The notebook opens a flow with an approval cell.
	body(t, f.do("editor", "GET", "/w/"+f.ws.Slug+"/flows/deploy", ""), http.StatusOK)
	id := f.startRun("deploy", "{}", "")
	f.waitStatus(id, engine.RunWaiting)
	page := body(t, f.do("editor", "GET", "/runs/"+id, ""), http.StatusOK)
	for _, want := range []string{"Restart <strong>3</strong> hosts?", `data-approval="waiting"`, `action="/runs/` + id + `/approvals/approve"`, `name="input.ticket"`, "Waiting for a decision"} {
		if !strings.Contains(page, want) {
			t.Errorf("the editor's run page lacks %q", want)
		}
	}
	page = body(t, f.do("viewer", "GET", "/runs/"+id, ""), http.StatusOK)
	if strings.Contains(page, "data-approve") || !strings.Contains(page, "Only its approvers decide: editor, user:runner.") {
		t.Error("a viewer is offered the decision")
	}
	path := "/runs/" + id + "/approvals/approve"
	// A viewer is not among the approvers.
	body(t, f.do("viewer", "POST", path, "decision=approve&input.ticket=T-1"), http.StatusForbidden)
	// The form is checked before the decision counts.
	f.apiJSON("editor", "POST", "/api/v1"+path, `{"approve":true}`, http.StatusUnprocessableEntity)
	// The editor approves from the run page; then once only.
	body(t, f.do("editor", "POST", path, "decision=approve&comment=dry+run+looks+right&input.ticket=T-1"), http.StatusSeeOther)
	body(t, f.do("editor", "POST", path, "decision=approve&input.ticket=T-1"), http.StatusConflict)
	if r := f.waitStatus(id, engine.RunWaiting); r.Status != engine.RunWaiting {
		t.Fatal("one approval of two let the run go on")
	}
	// The second approval, by the user it names, through the API.
	out := f.apiJSON("runner", "POST", "/api/v1"+path, `{"approve":true,"comment":"go","inputs":{"ticket":"T-2"}}`, http.StatusOK)
	if out["status"] != store.ApprovalApproved {
		t.Fatalf("approval %v", out)
	}
	r := f.waitRun(id)
	if r.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %s", r.Status, r.Error)
	}
	page = body(t, f.do("viewer", "GET", "/runs/"+id, ""), http.StatusOK)
	for _, want := range []string{"editor, runner T-2", "dry run looks right", "approved"} {
		if !strings.Contains(page, want) {
			t.Errorf("the finished run's page lacks %q", want)
		}
	}
	// Closed: the answer says who decided and when.
	resp := f.apiJSON("owner", "POST", "/api/v1"+path, `{"approve":false}`, http.StatusConflict)
	if e, _ := resp["error"].(map[string]any); e == nil || !strings.Contains(e["message"].(string), "approved by runner at ") {
		t.Errorf("closed approval: %v", resp)
	}
	entries, err := f.st.Audit(ctx, store.AuditQuery{WorkspaceID: f.ws.ID, Action: actApprovalDecided})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].ActorName != "runner" || !strings.Contains(entries[1].Detail, "approved approve: dry run looks right") {
		b, _ := json.Marshal(entries)
		t.Errorf("audit %s", b)
	}

	// Rejected with a comment: the run fails saying so.
	id = f.startRun("deploy", "{}", "")
	f.waitStatus(id, engine.RunWaiting)
	body(t, f.do("owner", "POST", "/runs/"+id+"/approvals/approve", "decision=reject&comment=not+on+a+Friday"), http.StatusSeeOther)
	if r := f.waitRun(id); r.Status != engine.RunFailed || !strings.Contains(r.Error, "rejected by owner: not on a Friday") {
		t.Fatalf("rejected run %s: %q", r.Status, r.Error)
	}

	// Canceled while it waits.
	id = f.startRun("deploy", "{}", "")
	f.waitStatus(id, engine.RunWaiting)
	f.apiJSON("runner", "POST", "/api/v1/runs/"+id+"/cancel", "", http.StatusAccepted)
	if r := f.waitRun(id); r.Status != engine.RunCanceled {
		t.Fatalf("canceled run is %s", r.Status)
	}
}

// TestBrowserApproveOnRunPage: the run page opened while the run goes
// shows the approval's form once the run waits, without a manual
// reload; an editor fills it in and approves, and the page follows the
// run to its end with the decision trail next to the cell.
func TestBrowserApproveOnRunPage(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("deploy", deployFlow([]string{"editor"}, 1))
	run := f.startRun("deploy", "{}", "")
	b := browser(t)
	f.withCookie(t, b, "editor")
	must(t, chromedp.Do(b, chromedp.Navigate(f.ts.URL+"/runs/"+run), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	waitJS(t, b, `!!document.querySelector('[data-approve]') && document.querySelector('main#run').dataset.status === 'waiting'`, 30*time.Second)
	if msg := evalStr(t, b, `document.querySelector('[data-approval-message]').textContent`); !strings.Contains(msg, "Restart 3 hosts?") {
		t.Fatalf("message %q", msg)
	}
	must(t, chromedp.Do(b,
		chromedp.SendKeys(chromedp.CSS(`input[name="input.ticket"]`), "OPS-77"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="comment"]`), "looks right"),
		chromedp.Click(chromedp.CSS(`[data-approve]`)),
	))
	// The form posts and the run page comes back with the trail.
	must(t, chromedp.Do(b, chromedp.WaitVisible(chromedp.CSS(`[data-approval-trail]`))))
	waitJS(t, b, `document.querySelector('main#run') && document.querySelector('main#run').dataset.status === 'succeeded'`, 30*time.Second)
	waitJS(t, b, `(document.querySelector('[data-approval-trail]')||{}).textContent?.includes('looks right')`, 30*time.Second)
	if r := f.waitRun(run); r.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %s", r.Status, r.Error)
	}
}

// TestApprovalHoldsNoWorker: on a server with one worker, a run waiting
// for an approval lets another flow's run through.
func TestApprovalHoldsNoWorker(t *testing.T) {
	f := setupWith(t, testDB, Config{Workers: 1})
	f.addFlow("deploy", deployFlow([]string{"editor"}, 1))
	f.addFlow("other", &engine.Flow{Name: "Other", Cells: []engine.Cell{{Name: "hi", Kind: engine.KindShell, File: "hi.sh", Source: "echo hi\n"}}})
	waiting := f.startRun("deploy", "{}", "")
	f.waitStatus(waiting, engine.RunWaiting)
	other := f.startRun("other", "{}", "30s")
	if r := f.waitRun(other); r.Status != engine.RunSucceeded {
		t.Fatalf("the other run: %s: %s", r.Status, r.Error)
	}
	if r := f.waitStatus(waiting, engine.RunWaiting); r.Worker != "" {
		t.Fatalf("the waiting run is held by %q", r.Worker)
	}
	f.apiJSON("editor", "POST", "/api/v1/runs/"+waiting+"/approvals/approve", `{"approve":true,"inputs":{"ticket":"T"}}`, http.StatusOK)
	if r := f.waitRun(waiting); r.Status != engine.RunSucceeded {
		t.Fatalf("resumed: %s: %s", r.Status, r.Error)
	}
}

// TestApprovalTimeout: nobody decides; once the studio's clock passes the
// approval's timeout, its on_timeout decides (reject fails the run,
// approve lets it go on), recorded as decided by "timeout".
func TestApprovalTimeout(t *testing.T) {
	clk := clock.NewFake(time.Now())
	f := setupWith(t, testDB, Config{Clock: clk})
	for _, on := range []engine.OnTimeout{engine.OnTimeoutReject, engine.OnTimeoutApprove} {
		fl := deployFlow([]string{"editor"}, 1)
		fl.Cells[1].Timeout, fl.Cells[1].OnTimeout = 24*time.Hour, on
		fl.Cells[1].Inputs[0].Required = false
		slug := "deploy-" + string(on)
		f.addFlow(slug, fl)
		id := f.startRun(slug, "{}", "")
		f.waitStatus(id, engine.RunWaiting)
		clk.Advance(23 * time.Hour)
		if ap, err := f.st.RunApproval(context.Background(), id, "approve"); err != nil || ap.Status != store.ApprovalWaiting {
			t.Fatalf("before its timeout: %+v, %v", ap, err)
		}
		clk.Advance(2 * time.Hour)
		r := f.waitRun(id)
		want := engine.RunFailed
		if on == engine.OnTimeoutApprove {
			want = engine.RunSucceeded
		}
		if r.Status != want {
			t.Fatalf("on_timeout %s: run %s: %s", on, r.Status, r.Error)
		}
		ap, err := f.st.RunApproval(context.Background(), id, "approve")
		if err != nil || len(ap.Decisions) != 1 || ap.Decisions[0].Who != "timeout" {
			t.Fatalf("on_timeout %s: approval %+v, %v", on, ap, err)
		}
	}
}

// TestApprovalWaitingNotified: a run that stops at an approval tells the
// destinations its flow names for `waiting`, with a link to the approval on
// the run's page built on the studio's origin; the sender delivers it.
func TestApprovalWaitingNotified(t *testing.T) {
	f := setupWith(t, testDB, Config{NotifyEvery: 50 * time.Millisecond})
	ctx := context.Background()
	h := newHookRecorder(t)
	sealSecret(t, f.st, f.srv.box, f.ws.ID, "OPS_HOOK", h.URL)
	f.srv.SetPublicOrigin("https://studio.test")
	if _, err := f.st.CreateDestination(ctx, store.Destination{WorkspaceID: f.ws.ID, Name: "ops", Kind: store.DestWebhook, SecretName: "OPS_HOOK", Format: store.FormatGeneric, Events: []engine.NotifyEvent{engine.NotifyFailed}}); err != nil {
		t.Fatal(err)
	}
	fl := deployFlow([]string{"editor"}, 1)
	fl.Notify = []engine.Notify{{To: "ops", On: []engine.NotifyEvent{engine.NotifyWaiting}}}
	f.addFlow("deploy", fl)
	id := f.startRun("deploy", "{}", "")
	f.waitStatus(id, engine.RunWaiting)
	want := `"decision_url":"https://studio.test/runs/` + id + `#cell-approve"`
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := h.received()
		if len(got) == 1 && strings.Contains(got[0], want) && strings.Contains(got[0], `"event":"waiting"`) {
			break
		}
		if time.Now().After(deadline) || len(got) > 1 {
			t.Fatalf("the webhook received %q; want one waiting notification with %s", got, want)
		}
	}
	// The sender marks the delivery sent just after the webhook answered.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ds, err := f.st.RunDeliveries(ctx, id)
		if err == nil && len(ds) == 1 && ds[0].Event == engine.NotifyWaiting && ds[0].Status == store.DeliverySent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery log %+v, %v", ds, err)
		}
	}
}

// TestBrowserApprovalVoteLive: an approval that needs two approvals; the
// first decision, made elsewhere, shows in the trail of a run page that
// is open, without the page reloading, and the approval still waits.
func TestBrowserApprovalVoteLive(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("deploy", deployFlow([]string{"editor"}, 2))
	run := f.startRun("deploy", "{}", "")
	b := browser(t)
	f.withCookie(t, b, "editor")
	must(t, chromedp.Do(b, chromedp.Navigate(f.ts.URL+"/runs/"+run), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	waitJS(t, b, `!!document.querySelector('[data-approve]') && document.querySelector('main#run').dataset.status === 'waiting'`, 30*time.Second)
	evalStr(t, b, `window.__sameTab = 'yes'`)
	body(t, f.do("owner", "POST", "/runs/"+run+"/approvals/approve", "decision=approve&input.ticket=OPS-1&comment=first+of+two"), http.StatusSeeOther)
	waitJS(t, b, `(document.querySelector('[data-approval-trail]')||{}).textContent?.includes('first of two')`, 30*time.Second)
	// The trail shows what the decider filled in, beside the comment.
	if trail := evalStr(t, b, `document.querySelector('[data-approval-trail]').textContent`); !strings.Contains(trail, "(ticket: OPS-1)") || !strings.Contains(trail, "“first of two”") {
		t.Errorf("the trail does not show the form's values: %q", trail)
	}
	if evalStr(t, b, `String(window.__sameTab === 'yes' && document.querySelector('[data-approval]').dataset.approval === 'waiting' && !!document.querySelector('[data-approve]'))`) != "true" {
		t.Fatal("the page reloaded, or the approval does not wait for the second decision any more")
	}
}

// TestApprovalStatusToFlowViewers: the flow's viewers (the notebook's
// run list) are told when a run starts waiting and when it runs again
// after the decision, and the run's own stream says it goes on
// (run.resumed).
func TestApprovalStatusToFlowViewers(t *testing.T) {
	f := setup(t, testDB)
	fl := f.addFlow("deploy", deployFlow([]string{"editor"}, 1))
	sub := f.srv.hub.Subscribe(flowTopic(fl.ID), 1000)
	defer f.srv.hub.Unsubscribe(flowTopic(fl.ID), sub)
	id := f.startRun("deploy", "{}", "")
	f.waitStatus(id, engine.RunWaiting)
	body(t, f.do("owner", "POST", "/runs/"+id+"/approvals/approve", "decision=approve&input.ticket=OPS-1"), http.StatusSeeOther)
	if r := f.waitRun(id); r.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %s", r.Status, r.Error)
	}
	var statuses, events []string
	for len(sub.C) > 0 {
		m := <-sub.C
		var msg struct {
			T     string       `json:"t"`
			Run   RunInfo      `json:"run"`
			Event engine.Event `json:"event"`
		}
		if err := json.Unmarshal(m.Data, &msg); err != nil || m.Run != id {
			continue
		}
		switch msg.T {
		case "run":
			statuses = append(statuses, msg.Run.Status)
		case "event":
			events = append(events, string(msg.Event.Type))
		}
	}
	got := strings.Join(statuses, " ")
	if !strings.Contains(got, "running waiting running") {
		t.Errorf("the flow's viewers were told %q", got)
	}
	if !strings.Contains(strings.Join(events, " "), "approval.requested run.resumed") {
		t.Errorf("events %v", events)
	}
}

// TestApprovalWakesWaitingCaller: an API caller that starts a run with
// "wait" gets its answer when the run stops to wait for an approval,
// showing it waiting, not when its wait is over (10 minutes).
func TestApprovalWakesWaitingCaller(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("deploy", deployFlow([]string{"editor"}, 1))
	got := make(chan *http.Response, 1)
	go func() {
		got <- f.do("owner", "POST", "/api/v1/flows/deploy/runs", `{"inputs":{},"wait":"10m"}`)
	}()
	select {
	case resp := <-got:
		var out map[string]any
		if err := json.Unmarshal([]byte(body(t, resp, http.StatusCreated)), &out); err != nil || out["status"] != string(engine.RunWaiting) {
			t.Fatalf("answered with the run %v (%v)", out, err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the caller still sleeps though the run waits for people")
	}
}

// TestBrowserNotebookApprovalCell: the notebook's "+" offers an approval
// cell, whose empty editor says what to write, and its options panel sets
// approvers, approvals, timeout and on_timeout, stored in the draft and
// shown again after a reload.
func TestBrowserNotebookApprovalCell(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, adaTok := s.member("ada", "Ada Lovelace", engine.RoleEditor)
	fl := s.flow("gate", "Gate", ada, engine.Cell{Name: "first", Kind: engine.KindShell, Source: "echo 1\n"})
	b := newBrowser(t, s)
	b.signIn(adaTok)
	b.open("/w/acme/flows/gate", cellSel("first", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	b.do("open the + under first", chromedp.Click(chromedp.CSS(cellSel("first", `[data-action="insert-menu"]`))))
	b.do("insert an approval cell", chromedp.Click(chromedp.CSS(cellSel("first", `[data-action="insert-cell"][data-kind="approval"]`))))
	b.wait("an approval cell after first", `document.querySelectorAll('section[data-cell-id]').length === 2 && document.querySelectorAll('section[data-cell-id]')[1].dataset.kind === 'approval'`)
	gate := eval[string](b, `document.querySelectorAll('section[data-cell-id]')[1].dataset.cell`)
	b.wait("the approval hint", placeholderOf(gate)+`.includes('The run waits here')`)

	b.do("open the options", chromedp.Click(chromedp.CSS(cellSel(gate, `[data-action="options"]`))))
	opt := func(name string) string { return cellSel(gate, `[data-options] [name="`+name+`"]`) }
	b.do("set the approval's options",
		chromedp.SetValue(chromedp.CSS(opt("approvers")), "editor, user:ana"),
		chromedp.SetValue(chromedp.CSS(opt("approvals")), "2"),
		chromedp.SetValue(chromedp.CSS(opt("timeout")), "1h"),
		chromedp.SetValue(chromedp.CSS(opt("on_timeout")), "approve"),
		chromedp.Click(chromedp.CSS(cellSel(gate, `[data-options] button[type="submit"]`))),
	)
	deadline := time.Now().Add(browserWait)
	for {
		d, err := s.st.Draft(context.Background(), fl.ID)
		if err == nil && len(d.Flow.Cells) == 2 {
			c := d.Flow.Cells[1]
			if strings.Join(c.Approvers, ",") == "editor,user:ana" && c.Approvals == 2 && c.Timeout == time.Hour && c.OnTimeout == engine.OnTimeoutApprove {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the draft's approval cell is %+v%s", d.Flow.Cells, b.state())
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.do("reload", chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(cellSel(gate, ".cm-content"))))
	b.do("open the options", chromedp.Click(chromedp.CSS(cellSel(gate, `[data-action="options"]`))))
	b.wait("the options shown again", `document.querySelector(`+jsString(opt("approvers"))+`)?.value === 'editor, user:ana' && document.querySelector(`+jsString(opt("approvals"))+`).value === '2' && document.querySelector(`+jsString(opt("on_timeout"))+`).value === 'approve' && document.querySelector(`+jsString(opt("timeout"))+`).value === '1h'`)
}
