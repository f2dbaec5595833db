package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
)

// setupUnsandboxed is setup (without its flow and run) whose cells run as
// this test's processes, without a sandbox: they can leave marks outside
// their run's folder that outlive the run.
func setupUnsandboxed(t *testing.T, dialect string) *fixture {
	t.Helper()
	ctx := context.Background()
	st, data := openStore(t, dialect)
	f := serveFixture(t, st, Config{DataDir: data}, false)
	for _, role := range []string{"owner", "editor", "runner", "viewer"} {
		u, err := st.CreateUser(ctx, role, role, testHash)
		if err != nil {
			t.Fatal(err)
		}
		f.users[role] = u
		if err := st.AddMember(ctx, f.ws.ID, u.ID, engine.Role(role)); err != nil {
			t.Fatal(err)
		}
		tok, hash := account.NewToken("")
		if _, err := st.CreateSession(ctx, u.ID, hash, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		f.cookies[role] = tok
		if f.tokens[role], err = account.CreateToken(ctx, st, role, "", "test", ""); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

const rerunSecret = "s3cret-rerun-token-value"

// TestRerunFromFailedCell: a re-run of a failed run executes from the
// failed cell on, on the version and inputs of the failed run (though the
// flow was saved again since), with the cells above taken from it: the
// first cell does not run again (its counter file keeps one line), the
// second reads cells.first.… from the failed run, and a secret the first
// cell's result held stays masked for the cells that read it.
func TestRerunFromFailedCell(t *testing.T) {
	f := setupUnsandboxed(t, testDB)
	ctx := context.Background()
	dir := t.TempDir()
	counter, fixed := filepath.Join(dir, "count"), filepath.Join(dir, "fixed")
	if _, err := f.st.SetSecret(ctx, f.ws.ID, "API_TOKEN", f.srv.box.Seal(rerunSecret, secret.Context(f.ws.ID, "API_TOKEN")), ""); err != nil {
		t.Fatal(err)
	}
	v1 := &engine.Flow{Name: "Retry", Inputs: []engine.Input{{Name: "n", Type: engine.InputNumber, Default: 1}}, Cells: []engine.Cell{
		{Name: "first", Kind: engine.KindShell, File: "first.sh", Source: "echo x >> '" + counter + "'\n" +
			"echo \"count=$(wc -l < '" + counter + "')\" >> \"$OPSBOOK_OUTPUT\"\n" +
			"echo \"tok={{ secrets.API_TOKEN }}\" >> \"$OPSBOOK_OUTPUT\"\n" +
			"echo first ran with {{ inputs.n }}\n"},
		{Name: "second", Kind: engine.KindShell, File: "second.sh", Source: "test -f '" + fixed + "' || { echo not fixed yet >&2; exit 1; }\n" +
			"echo \"first said {{ cells.first.outputs.count }} and {{ cells.first.outputs.tok }} for {{ inputs.n }}\"\n" +
			"echo \"my own {{ secrets.API_TOKEN }}\"\n"},
		{Name: "third", Kind: engine.KindExpr, File: "third.expr", Source: "inputs.n * 10\n"},
	}}
	fs := f.addFlow("retry", v1)
	failed := f.startRun("retry", `{"n": 7}`, "30s")
	r1 := f.waitRun(failed)
	if r1.Status != engine.RunFailed {
		t.Fatalf("first run %s: %s (%s); want failed at cell second", failed, r1.Status, r1.Error)
	}

	// The flow is edited and saved as v2 meanwhile: v2's second cell would
	// fail another way, and its first cell would not count.
	v2 := *v1
	v2.Cells = []engine.Cell{
		{Name: "first", Kind: engine.KindShell, File: "first.sh", Source: "echo v2 first\n"},
		{Name: "second", Kind: engine.KindShell, File: "second.sh", Source: "echo v2 code; exit 3\n"},
		v1.Cells[2],
	}
	files, err := flow.Files(&v2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateVersion(ctx, fs.ID, store.Version{Message: "v2", Author: f.users["owner"].ID, Hash: flow.Hash(&v2), Files: storeFiles(files)}); err != nil {
		t.Fatal(err)
	}

	// A viewer may not re-run; a runner may.
	f.apiJSON("viewer", "POST", "/api/v1/runs/"+failed+"/rerun", "", http.StatusForbidden)
	if err := os.WriteFile(fixed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out := f.apiJSON("runner", "POST", "/api/v1/runs/"+failed+"/rerun", `{"wait":"30s"}`, http.StatusCreated)
	again, _ := out["id"].(string)
	r2 := f.waitRun(again)
	if r2.Status != engine.RunSucceeded {
		t.Fatalf("re-run %s: %s (%s); want succeeded", again, r2.Status, r2.Error)
	}
	out = f.apiJSON("runner", "GET", "/api/v1/runs/"+again, "", http.StatusOK)
	if out["rerun_of"] != failed || out["rerun_from"] != "second" || out["version"] != float64(1) || out["hash"] != r1.Hash {
		t.Errorf("re-run: rerun_of %v from %v, version %v hash %v; want %s from second, version 1 hash %s", out["rerun_of"], out["rerun_from"], out["version"], out["hash"], failed, r1.Hash)
	}
	if string(r2.Inputs) != string(r1.Inputs) {
		t.Errorf("re-run inputs %s; want the failed run's %s", r2.Inputs, r1.Inputs)
	}
	cells := map[string]map[string]any{}
	var order []string
	for _, c := range out["cells"].([]any) {
		m := c.(map[string]any)
		cells[m["name"].(string)] = m
		order = append(order, m["name"].(string))
	}
	if strings.Join(order, " ") != "first second third" {
		t.Errorf("re-run cells %v; want first second third", order)
	}
	if c := cells["first"]; c["reused_from"] != failed || c["status"] != "succeeded" {
		t.Errorf("cell first of the re-run: %v; want reused from %s, succeeded", c, failed)
	}
	for _, name := range []string{"second", "third"} {
		if c := cells[name]; c["reused_from"] != nil || c["status"] != "succeeded" {
			t.Errorf("cell %s of the re-run: %v; want run again, succeeded", name, c)
		}
	}
	if res, _ := json.Marshal(cells["third"]["result"]); string(res) != `{"value":70}` {
		t.Errorf("third = %s; want 70 (input n=7 kept)", res)
	}
	if b, _ := os.ReadFile(counter); strings.Count(string(b), "x") != 1 {
		t.Errorf("counter file %q: the first cell ran again", b)
	}

	// What the second cell saw of the first, and said: the failed run's
	// values, the secret masked as it was.
	log := body(t, f.do("runner", "GET", "/api/v1/runs/"+again+"/log?cell=second", ""), http.StatusOK)
	if !strings.Contains(log, "first said 1 and *** for 7") || !strings.Contains(log, "my own ***") {
		t.Errorf("second cell's log in the re-run:\n%s", log)
	}
	if log := body(t, f.do("runner", "GET", "/api/v1/runs/"+again+"/log?cell=first", ""), http.StatusOK); !strings.Contains(log, "first ran with 7") {
		t.Errorf("the reused cell's log is the failed run's; got %q", log)
	}
	evs, err := f.st.Events(ctx, again, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if strings.Contains(string(e.Data), rerunSecret) {
			t.Errorf("the re-run's event leaks the secret: %s", e.Data)
		}
		var ev engine.Event
		json.Unmarshal(e.Data, &ev)
		if ev.Cell == "first" {
			t.Errorf("the re-run executed cell first: %s", e.Data)
		}
	}
	api := body(t, f.do("runner", "GET", "/api/v1/runs/"+again, ""), http.StatusOK)
	page := body(t, f.do("runner", "GET", "/runs/"+again, ""), http.StatusOK)
	for what, text := range map[string]string{"API answer": api, "run page": page} {
		if strings.Contains(text, rerunSecret) {
			t.Errorf("the re-run's %s leaks the secret", what)
		}
	}
	if !strings.Contains(page, `data-reused-from="`+failed+`"`) || !strings.Contains(page, "first ran with 7") || !strings.Contains(page, `href="/runs/`+failed+`"`) {
		t.Errorf("the re-run's page does not show cell first reused from %s with its output:\n%.3000s", failed, page)
	}

	// The failed run's page offers the re-run to runners, not to viewers;
	// the succeeded re-run's page does not.
	p := body(t, f.do("runner", "GET", "/runs/"+failed, ""), http.StatusOK)
	if !strings.Contains(p, "Re-run from <span data-rerun-cell>second</span>") {
		t.Errorf("the failed run's page has no Re-run from second button")
	}
	if !strings.Contains(p, `href="/runs/`+again+`"`) {
		t.Errorf("the failed run's page does not link to its re-run %s", again)
	}
	if out := f.apiJSON("runner", "GET", "/api/v1/runs/"+failed, "", http.StatusOK); toJSON(out["reruns"]) != `["`+again+`"]` {
		t.Errorf("the failed run's reruns: %v; want [%s]", out["reruns"], again)
	}
	if r2.RerunOf != failed {
		t.Errorf("the stored re-run's RerunOf = %q; want %s", r2.RerunOf, failed)
	}
	if p := body(t, f.do("viewer", "GET", "/runs/"+failed, ""), http.StatusOK); strings.Contains(p, `data-action="rerun"`) {
		t.Errorf("a viewer is offered a re-run")
	}
	if strings.Contains(page, `data-action="rerun"`) {
		t.Errorf("a succeeded run offers a re-run")
	}
}

// TestRerunRefused: only a run that ended failed or canceled is re-run;
// anything else is a 409 that says what to do instead.
func TestRerunRefused(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	r, err := f.st.Run(ctx, f.run)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != engine.RunSucceeded {
		t.Fatalf("fixture run: %s", r.Status)
	}
	mk := func(st engine.RunStatus) string {
		nr, err := f.st.CreateRun(ctx, store.Run{WorkspaceID: f.ws.ID, FlowID: f.flow.ID, Version: 1, Hash: r.Hash, Files: r.Files, Status: st, Inputs: r.Inputs})
		if err != nil {
			t.Fatal(err)
		}
		return nr.ID
	}
	for _, tc := range []struct {
		run, want string
	}{
		{f.run, "succeeded, so there is nothing to re-run"},
		{mk(engine.RunRunning), "has not ended"},
		{mk(engine.RunQueued), "has not ended"},
		{mk(engine.RunSkipped), "was skipped"},
	} {
		out := f.apiJSON("runner", "POST", "/api/v1/runs/"+tc.run+"/rerun", "", http.StatusConflict)
		msg, _ := out["error"].(map[string]any)["message"].(string)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("re-run of %s: %q; want %q", tc.run, msg, tc.want)
		}
		body(t, f.do("runner", "POST", "/runs/"+tc.run+"/rerun", ""), http.StatusConflict)
	}
	f.apiJSON("runner", "POST", "/api/v1/runs/r_nope/rerun", "", http.StatusNotFound)
}

// TestBrowserRerunButton: a runner watches a run fail; its page then offers
// "Re-run from second" without a reload; the click lands on the new run's
// page, which shows cell first as reused from the failed run (its output,
// a link there) and runs second again live. Opened after it ended, the
// re-run's own page offers the button from the server.
func TestBrowserRerunButton(t *testing.T) {
	s := newStudio(t)
	ws := s.workspace()
	ada, _ := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	rob, tok := s.member("rob", "Rob Runner", engine.RoleRunner)
	fs := s.flow("flaky", "Flaky", ada,
		engine.Cell{Name: "first", Kind: engine.KindShell, Source: "echo first-out\necho n=41 >> \"$OPSBOOK_OUTPUT\"\n"},
		// Waits for the test's go-ahead in its run's folder, then fails.
		engine.Cell{Name: "second", Kind: engine.KindShell, Source: "echo \"second saw {{ cells.first.outputs.n }}\"\nfor i in $(seq 1 600); do [ -f go ] && break; sleep 0.05; done\nexit 1\n"},
	)
	release := func(run string) {
		t.Helper()
		for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if err := os.WriteFile(filepath.Join(s.srv.runs.pool.RunDir(), run, "work", "go"), nil, 0o600); err == nil {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("run %s: its working directory never appeared", run)
			}
		}
	}
	d, err := s.st.Draft(context.Background(), fs.ID)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.srv.runs.Start(context.Background(), StartRequest{Workspace: ws, FlowID: fs.ID, FlowSlug: fs.Slug, Flow: d.Flow, Version: 1, StartedBy: rob})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/runs/"+first.ID, `main#run`)
	btn := `.run-actions [data-action="rerun"]`
	visible := `(document.querySelector(` + jsString(btn) + `)?.offsetParent ?? null) !== null`
	if eval[bool](b, visible) {
		t.Fatalf("a run that goes on offers a re-run%s", b.state())
	}
	b.wait("the page live", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	release(first.ID)
	b.wait("the run failed", `document.querySelector('main#run').dataset.status === 'failed'`)
	b.wait("the re-run button", visible)
	if txt := eval[string](b, `document.querySelector(`+jsString(btn)+`).textContent`); strings.TrimSpace(txt) != "Re-run from second" {
		t.Fatalf("the failed run's button says %q; want Re-run from second%s", txt, b.state())
	}
	if r := s.lastRun(fs.ID); r.ID != first.ID || r.Status != engine.RunFailed {
		t.Fatalf("the first run: %s %s", r.ID, r.Status)
	}
	b.submit(btn)
	b.wait("the new run's page", `document.querySelector('main#run')?.dataset.run !== `+jsString(first.ID))
	again := eval[string](b, `document.querySelector('main#run').dataset.run`)
	b.wait("second ran again with first's value", outputHas("second", "second saw 41"))
	release(again)
	b.wait("the re-run to end", `document.querySelector('main#run').dataset.status === 'failed'`)
	check := func(when string) {
		t.Helper()
		if eval[string](b, jsCell("first", "[data-reused-from]")+`?.dataset.reusedFrom ?? ''`) != first.ID {
			t.Errorf("%s: cell first is not marked reused from %s%s", when, first.ID, b.state())
		}
		// The page's script takes over the rendered output in an animation
		// frame: wait for it rather than read it at once.
		b.wait(when+": the reused cell's output and status from the failed run", outputHas("first", "first-out")+` && `+statusIs("first", "succeeded"))
		if eval[string](b, `document.querySelector('[data-rerun-of] a')?.getAttribute('href') ?? ''`) != "/runs/"+first.ID {
			t.Errorf("%s: the re-run's page does not link to the run it re-runs%s", when, b.state())
		}
	}
	check("live")
	s.lastRun(fs.ID)
	b.open("/runs/"+again, `main#run`)
	check("reloaded")
	if !eval[bool](b, visible) || !strings.Contains(eval[string](b, `document.querySelector(`+jsString(btn)+`).textContent`), "Re-run from second") {
		t.Errorf("the failed re-run's page does not offer Re-run from second%s", b.state())
	}
	// The link on the reused cell leads to the failed run's page.
	b.follow(cellSel("first", "[data-reused-from] a"))
	b.wait("the failed run's page", `document.querySelector('main#run')?.dataset.run === `+jsString(first.ID))
	if r, err := s.st.Run(context.Background(), again); err != nil || r.Version != 1 {
		t.Errorf("re-run %s: %+v, %v", again, r, err)
	}
}

// TestRerunGraphAndCanceled: in graph order a re-run executes the cells
// that did not end well and those depending on them, and takes the others
// (however late in the flow) from the failed run; a canceled run is re-run
// from the cell that was canceled.
func TestRerunGraphAndCanceled(t *testing.T) {
	f := setupUnsandboxed(t, testDB)
	dir := t.TempDir()
	counter, fixed := filepath.Join(dir, "count"), filepath.Join(dir, "fixed")
	f.addFlow("graph", &engine.Flow{Name: "Graph", Order: engine.OrderGraph, Cells: []engine.Cell{
		{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "echo a >> '" + counter + "'\necho v=5 >> \"$OPSBOOK_OUTPUT\"\n"},
		{Name: "b", Kind: engine.KindShell, File: "b.sh", Source: "test -f '" + fixed + "'\n"},
		{Name: "c", Kind: engine.KindExpr, File: "c.expr", Source: "cells.b.exit_code + 100\n"},
		{Name: "d", Kind: engine.KindExpr, File: "d.expr", Source: "cells.a.outputs.v + \"!\"\n"},
	}})
	failed := f.startRun("graph", `{}`, "30s")
	if r := f.waitRun(failed); r.Status != engine.RunFailed {
		t.Fatalf("graph run: %s (%s); want failed", r.Status, r.Error)
	}
	must(t, os.WriteFile(fixed, nil, 0o600))
	out := f.apiJSON("editor", "POST", "/api/v1/runs/"+failed+"/rerun", `{"wait":"30s"}`, http.StatusCreated)
	again := out["id"].(string)
	f.waitRun(again)
	out = f.apiJSON("editor", "GET", "/api/v1/runs/"+again, "", http.StatusOK)
	got := map[string]string{}
	for _, c := range out["cells"].([]any) {
		m := c.(map[string]any)
		from, _ := m["reused_from"].(string)
		res, _ := json.Marshal(m["result"])
		got[m["name"].(string)] = m["status"].(string) + " " + from + " " + string(res)
	}
	want := map[string]string{
		"a": "succeeded " + failed + ` {"exit_code":0,"outputs":{"v":"5"},"stdout":""}`,
		"b": `succeeded  {"exit_code":0,"outputs":{},"stdout":""}`,
		"c": `succeeded  {"value":100}`,
		"d": "succeeded " + failed + ` {"value":"5!"}`,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("re-run cell %s: %s; want %s", name, got[name], w)
		}
	}
	if out["status"] != "succeeded" || out["rerun_from"] != "b" {
		t.Errorf("re-run: %v from %v; want succeeded from b", out["status"], out["rerun_from"])
	}
	if b, _ := os.ReadFile(counter); string(b) != "a\n" {
		t.Errorf("counter %q: cell a ran again", b)
	}

	// Canceled while its second cell waits: re-run from that cell.
	gate := filepath.Join(dir, "gate")
	f.addFlow("slow", &engine.Flow{Name: "Slow", Cells: []engine.Cell{
		{Name: "one", Kind: engine.KindShell, File: "one.sh", Source: "echo one >> '" + counter + "'\n"},
		{Name: "two", Kind: engine.KindShell, File: "two.sh", Source: "for i in $(seq 1 600); do [ -f '" + gate + "' ] && exit 0; sleep 0.05; done; exit 1\n"},
	}})
	slow := f.startRun("slow", `{}`, "")
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		cells, err := f.st.CellRuns(context.Background(), slow)
		must(t, err)
		if len(cells) == 2 && cells[1].Status == engine.CellRunning {
			break
		}
		if time.Now().After(end) {
			t.Fatal("cell two never started")
		}
	}
	f.apiJSON("runner", "POST", "/api/v1/runs/"+slow+"/cancel", "", http.StatusAccepted)
	if r := f.waitRun(slow); r.Status != engine.RunCanceled {
		t.Fatalf("slow run: %s; want canceled", r.Status)
	}
	must(t, os.WriteFile(gate, nil, 0o600))
	out = f.apiJSON("runner", "POST", "/api/v1/runs/"+slow+"/rerun", `{"wait":"30s"}`, http.StatusCreated)
	if r := f.waitRun(out["id"].(string)); r.Status != engine.RunSucceeded {
		t.Errorf("re-run of the canceled run: %s (%s)", r.Status, r.Error)
	}
	if out["rerun_from"] != "two" {
		t.Errorf("re-run of the canceled run from %v; want two", out["rerun_from"])
	}
	if b, _ := os.ReadFile(counter); string(b) != "a\none\n" {
		t.Errorf("counter %q: cell one ran again", b)
	}
}
