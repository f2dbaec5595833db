package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// TestFlowArchive: an archived flow leaves the flow list (a toggle shows
// it with Unarchive), every start path refuses it with a message naming
// the archived state, its runs stay; unarchiving brings it all back.
func TestFlowArchive(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	hooked := f.addFlow("hooked", hookedFlow(0))
	_, hookTok := f.makeHook(f.ws.ID, hooked.ID, f.users["owner"].ID)
	_, formTok := f.makeShare(store.ShareForm, func(sh *store.Share) { sh.FlowID = hooked.ID })

	// Only an owner archives.
	body(t, f.do("editor", "POST", "/w/acme/flows/hooked/archive", ""), http.StatusForbidden)
	body(t, f.do("owner", "POST", "/w/acme/flows/hooked/archive", ""), http.StatusSeeOther)

	list := body(t, f.do("viewer", "GET", "/w/acme", ""), http.StatusOK)
	if strings.Contains(list, `data-flow="hooked"`) || !strings.Contains(list, `data-flow="hello"`) {
		t.Fatalf("the flow list shows the archived flow, or hides another:\n%s", list)
	}
	if !strings.Contains(list, "Show archived flows (1)") {
		t.Fatal("the flow list offers no way to see archived flows")
	}
	all := body(t, f.do("owner", "GET", "/w/acme?archived=1", ""), http.StatusOK)
	if !strings.Contains(all, `data-flow="hooked"`) || !strings.Contains(all, "/w/acme/flows/hooked/unarchive") {
		t.Fatalf("show archived: no row with Unarchive:\n%s", all)
	}
	out := f.apiJSON("viewer", "GET", "/api/v1/flows", "", http.StatusOK)
	if flows, _ := out["flows"].([]any); len(flows) != 1 {
		t.Fatalf("API flows list = %v, want hello alone", out)
	}
	out = f.apiJSON("viewer", "GET", "/api/v1/flows?archived=1", "", http.StatusOK)
	if flows, _ := out["flows"].([]any); len(flows) != 2 {
		t.Fatalf("API flows list with archived = %v", out)
	}

	// Every way in refuses, saying why.
	before := f.countRuns(hooked.ID)
	out = f.apiJSON("owner", "POST", "/api/v1/flows/hooked/runs", `{"inputs":{}}`, http.StatusConflict)
	if code, _, msg := apiErr(out); code != "archived" || !strings.Contains(msg, "archived") {
		t.Fatalf("API start of an archived flow = %v", out)
	}
	out, _ = f.hookPost("/hooks/"+hookTok, `{}`, http.StatusConflict)
	if code, _, _ := apiErr(out); code != "archived" {
		t.Fatalf("webhook of an archived flow = %v", out)
	}
	page := body(t, f.do("", "POST", "/s/"+formTok, "who=x"), http.StatusConflict)
	if !strings.Contains(page, "archived") {
		t.Fatalf("form link of an archived flow does not say it is archived:\n%.2000s", page)
	}
	c, err := f.dial("owner", "/w/acme/flows/hooked/ws")
	must(t, err)
	readUntil(t, c, isType("hello"))
	must(t, c.WriteMessage(websocket.TextMessage, []byte(`{"t":"run","id":"7","mode":"all","inputs":{}}`)))
	msgs := readUntil(t, c, func(m map[string]any) bool { return m["t"] == "error" || m["t"] == "started" })
	if last := msgs[len(msgs)-1]; last["t"] != "error" || !strings.Contains(last["message"].(string), "archived") {
		t.Fatalf("notebook run of an archived flow = %v", last)
	}
	if got := f.countRuns(hooked.ID); got != before {
		t.Fatalf("an archived flow got %d new run(s)", got-before)
	}
	pub, err := f.st.PublishedFlows(ctx)
	must(t, err)
	for _, p := range pub {
		if p.ID == hooked.ID {
			t.Fatal("the schedule still sees the archived flow")
		}
	}
	nb := body(t, f.do("owner", "GET", "/w/acme/flows/hooked", ""), http.StatusOK)
	if !strings.Contains(nb, "data-flow-archived") {
		t.Fatal("the notebook of an archived flow does not say it is archived")
	}

	body(t, f.do("owner", "POST", "/w/acme/flows/hooked/unarchive", ""), http.StatusSeeOther)
	if list := body(t, f.do("viewer", "GET", "/w/acme", ""), http.StatusOK); !strings.Contains(list, `data-flow="hooked"`) {
		t.Fatal("an unarchived flow is not listed")
	}
	f.hookPost("/hooks/"+hookTok, `{}`, http.StatusAccepted)
	entries, err := f.st.Audit(ctx, store.AuditQuery{WorkspaceID: f.ws.ID, Action: "flow."})
	must(t, err)
	var acts []string
	for _, e := range entries {
		acts = append(acts, e.Action+" "+e.Target)
	}
	if got := strings.Join(acts, ","); !strings.Contains(got, "flow.archived flow hooked") || !strings.Contains(got, "flow.unarchived flow hooked") {
		t.Fatalf("audit = %s", got)
	}
}

// TestFlowDelete: the confirmation names what goes; a wrong slug and an
// active run are refused; deleting removes the flow, its runs, versions,
// shares and hooks, keeps the audit log, and closes open notebooks with
// the reason.
func TestFlowDelete(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	runShare, _ := f.makeShare(store.ShareRun, nil)
	formShare, _ := f.makeShare(store.ShareForm, nil)
	hook, _ := f.makeHook(f.ws.ID, f.flow.ID, f.users["owner"].ID)

	page := body(t, f.do("owner", "GET", "/w/acme/flows/hello/delete", ""), http.StatusOK)
	for _, want := range []string{"1 version", "1 run,", "2 share links", "1 webhook", `name="confirm"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the confirmation does not say %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "data-delete-git") {
		t.Fatal("the confirmation talks of git in a workspace without git")
	}

	// A wrong slug deletes nothing and says so on the form.
	page = body(t, f.do("owner", "POST", "/w/acme/flows/hello/delete", "confirm=Hello"), http.StatusUnprocessableEntity)
	if !strings.Contains(page, "type the flow") {
		t.Fatalf("wrong slug: no explanation:\n%s", page)
	}
	if _, err := f.st.FlowByID(ctx, f.flow.ID); err != nil {
		t.Fatalf("a wrong slug deleted the flow: %v", err)
	}

	// A run that has not ended blocks the delete until it is canceled.
	slow := f.addFlow("slow", &engine.Flow{Name: "Slow", Cells: []engine.Cell{
		{Name: "wait", Kind: engine.KindShell, File: "wait.sh", Source: "sleep 30\n"},
	}})
	run := f.startRun("slow", "{}", "")
	page = body(t, f.do("owner", "POST", "/w/acme/flows/slow/delete", "confirm=slow"), http.StatusConflict)
	if !strings.Contains(page, "cancel it first") {
		t.Fatalf("active run: no explanation:\n%s", page)
	}
	if _, err := f.st.FlowByID(ctx, slow.ID); err != nil {
		t.Fatalf("a flow with an active run was deleted: %v", err)
	}
	f.apiJSON("owner", "POST", "/api/v1/runs/"+run+"/cancel", "", http.StatusAccepted)
	f.waitRun(run)
	body(t, f.do("owner", "POST", "/w/acme/flows/slow/delete", "confirm=slow"), http.StatusSeeOther)

	// An open notebook is told why it closes.
	c, err := f.dial("editor", "/w/acme/flows/hello/ws")
	must(t, err)
	readUntil(t, c, isType("hello"))

	body(t, f.do("editor", "POST", "/w/acme/flows/hello/delete", "confirm=hello"), http.StatusForbidden)
	body(t, f.do("owner", "POST", "/w/acme/flows/hello/delete", "confirm=hello"), http.StatusSeeOther)

	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "deleted") {
			t.Fatalf("the notebook socket ended with %v, want a close naming the delete", err)
		}
		break
	}

	_, err = f.st.FlowByID(ctx, f.flow.ID)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("flow after delete: %v", err)
	}
	if _, err := f.st.Run(ctx, f.run); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("run after delete: %v", err)
	}
	for _, id := range []string{runShare.ID, formShare.ID} {
		if _, err := f.st.Share(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("share %s after delete: %v", id, err)
		}
	}
	if _, err := f.st.Hook(ctx, hook.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("hook after delete: %v", err)
	}
	body(t, f.do("owner", "GET", "/w/acme/flows/hello", ""), http.StatusNotFound)
	body(t, f.do("owner", "GET", "/runs/"+f.run, ""), http.StatusNotFound)

	// The audit log keeps what happened, the delete included.
	entries, err := f.st.Audit(ctx, store.AuditQuery{WorkspaceID: f.ws.ID})
	must(t, err)
	var deleted, started bool
	for _, e := range entries {
		if e.Action == "flow.deleted" && e.Target == "flow hello" && strings.Contains(e.Detail, "1 run(s), 2 share link(s), 1 webhook(s)") {
			deleted = true
		}
		if e.Action == "share.created" || e.Action == "run.started" {
			started = true
		}
	}
	if !deleted || !started {
		t.Fatalf("audit after delete = %+v", entries)
	}
}

// TestFlowDeleteGit: in a workspace that keeps its flows in git, the
// confirmation says the repository is not touched.
func TestFlowDeleteGit(t *testing.T) {
	f := setup(t, testDB)
	must(t, f.st.SetGitSettings(context.Background(), store.GitSettings{WorkspaceID: f.ws.ID, Remote: t.TempDir(), Branch: "main"}))
	page := body(t, f.do("owner", "GET", "/w/acme/flows/hello/delete", ""), http.StatusOK)
	if !strings.Contains(page, "data-delete-git") || !strings.Contains(page, "git repository is not touched") {
		t.Fatalf("no word on git:\n%s", page)
	}
}
