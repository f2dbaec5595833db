package server

// Browser tests: chromedp drives Debian's headless chromium against a real
// server on a SQLite store, through the DOM hooks of docs/PROTOCOL.md.
// They need chromium (OPSBOOK_CHROMIUM, default /usr/bin/chromium); CI
// installs it, and a missing browser is a failure, never a skip.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/store"
)

// browserWait bounds one wait for something the page should show.
const browserWait = 10 * time.Second

// studio is a server on its own SQLite store, for one browser test.
type studio struct {
	t   *testing.T
	st  *store.Store
	srv *Server
	url string
	ws  store.Workspace
}

// newStudio starts a server with an empty store: no user, no workspace.
func newStudio(t *testing.T) *studio {
	t.Helper()
	st, data := openStore(t, testDB)
	srv := New(Config{Store: st, DataDir: data, Sandbox: &sandbox.Config{}})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.CloseSockets()
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	return &studio{t: t, st: st, srv: srv, url: ts.URL}
}

// workspace creates the workspace "acme" that member adds users to.
func (s *studio) workspace() store.Workspace {
	s.t.Helper()
	ws, err := s.st.CreateWorkspace(context.Background(), "acme", "Acme")
	if err != nil {
		s.t.Fatal(err)
	}
	s.ws = ws
	return ws
}

// member creates a user with a role in the workspace and returns a session
// token for it.
func (s *studio) member(name, display string, role engine.Role) (store.User, string) {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.st.CreateUser(ctx, name, display, testHash)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.st.AddMember(ctx, s.ws.ID, u.ID, role); err != nil {
		s.t.Fatal(err)
	}
	tok, hash := account.NewToken("")
	if _, err := s.st.CreateSession(ctx, u.ID, hash, time.Now().Add(time.Hour)); err != nil {
		s.t.Fatal(err)
	}
	return u, tok
}

// flow stores a flow of the workspace, made of cells, by author.
func (s *studio) flow(slug, name string, author store.User, cells ...engine.Cell) store.FlowSummary {
	s.t.Helper()
	for i := range cells {
		if cells[i].File == "" {
			cells[i].File = cells[i].Name + cells[i].Kind.Ext()
		}
	}
	fl := &engine.Flow{Name: name, Cells: cells}
	files, err := flow.Files(fl)
	if err != nil {
		s.t.Fatal(err)
	}
	fs, err := s.st.CreateFlow(context.Background(), s.ws.ID, slug, fl, author.ID, storeFiles(files), flow.Hash(fl))
	if err != nil {
		s.t.Fatal(err)
	}
	return fs
}

// versions counts a flow's stored versions.
func (s *studio) versions(flowID string) int {
	s.t.Helper()
	vs, err := s.st.Versions(context.Background(), flowID)
	if err != nil {
		s.t.Fatal(err)
	}
	return len(vs)
}

// source returns the stored draft source of a flow's cell.
func (s *studio) source(flowID, cell string) string {
	s.t.Helper()
	d, err := s.st.Draft(context.Background(), flowID)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, c := range d.Flow.Cells {
		if c.Name == cell {
			return c.Source
		}
	}
	s.t.Fatalf("flow %s has no cell %s", flowID, cell)
	return ""
}

// lastRun waits until the flow's latest run is finished and stored.
func (s *studio) lastRun(flowID string) store.Run {
	s.t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		runs, err := s.st.RunsOfFlow(context.Background(), flowID, 1)
		if err != nil {
			s.t.Fatal(err)
		}
		if len(runs) == 1 && runs[0].Status.Done() && (s.srv.runs.pool == nil || s.srv.runs.pool.Done(runs[0].ID) == nil) {
			return runs[0]
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("flow %s: no finished run after %s (runs: %+v)", flowID, browserWait, runs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// chromium returns the browser binary, failing the test when it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv("OPSBOOK_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the browser tests need chromium at %s (set OPSBOOK_CHROMIUM to another path); install it with `apt-get install -y chromium` (CI does): %v", path, err)
	}
	return path
}

// tab is one browser tab of a test, with what the page reported.
type tab struct {
	t   *testing.T
	ctx context.Context
	url string

	mu         sync.Mutex
	dialogs    []string // messages of alert/confirm/prompt dialogs
	exceptions []string // uncaught exceptions of the page's scripts
}

// newBrowser starts chromium for one test (a fresh profile) and returns its
// first tab. Further tabs come from (*tab).another.
func newBrowser(t *testing.T, s *studio) *tab {
	t.Helper()
	exe := chromium(t)
	// A generous bound for the whole test, so a hung browser cannot hang CI.
	root, cancelRoot := context.WithTimeout(context.Background(), 90*time.Second)
	alloc, cancelAlloc := chromedp.NewExecAllocator(root,
		chromedp.ExecPath(exe), chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1000),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelRoot()
	})
	return startTab(t, ctx, s.url)
}

// another opens a tab of the same browser; isolated gives it a browser
// context of its own (its own cookies), as a second person would have.
func (b *tab) another(isolated bool) *tab {
	b.t.Helper()
	var opts []chromedp.ContextOption
	if isolated {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(b.ctx, opts...)
	b.t.Cleanup(cancel)
	return startTab(b.t, ctx, b.url)
}

func startTab(t *testing.T, ctx context.Context, url string) *tab {
	t.Helper()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &tab{t: t, ctx: ctx, url: url}
	// Any dialog is recorded and dismissed, so a script that slipped
	// through shows up as a failure rather than a hung page.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			b.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				text := m.Text
				if m.Stack != nil {
					for _, f := range m.Stack.CallFrames {
						text += fmt.Sprintf("\n\t%s (%d:%d)", f.FunctionName, f.LineNumber, f.ColumnNumber)
					}
				}
				b.exceptions = append(b.exceptions, text)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	return b
}

// signIn gives the tab's browser context a session cookie.
func (b *tab) signIn(token string) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, network.SetCookie, network.SetCookieParams{
		Name: sessionCookie, Value: token, URL: b.url, Path: "/", HTTPOnly: new(true), SameSite: network.CookieSameSiteLax,
	})
	if err != nil {
		b.t.Fatalf("set the session cookie: %v", err)
	}
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.state())
	}
}

// open navigates to a path of the studio and waits for sel.
func (b *tab) open(path, sel string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.url+path), chromedp.WaitReady(chromedp.CSS(sel)))
}

// submit clicks sel and waits for the page it leads to.
func (b *tab) submit(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("submit with %s: %v%s", sel, err, b.state())
	}
}

// follow clicks the link sel as the page holds it at that moment and waits
// for the page it leads to. (A click by selector can land on a node the
// page's script has just drawn anew — the notebook redraws its run banners
// when its socket says hello — and then nothing navigates.)
func (b *tab) follow(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	click := `(() => { const a = document.querySelector(` + jsString(sel) + `); if (!a) return false; a.click(); return true; })()`
	var found bool
	act := chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		var err error
		found, err = chromedp.Evaluate[bool](click)(ctx, tg)
		return chromedp.Void{}, err
	})
	if _, err := chromedp.RunResponse(ctx, act); err != nil || !found {
		b.t.Fatalf("follow %s (found %v): %v%s", sel, found, err, b.state())
	}
}

// eval evaluates a JavaScript expression and decodes its value into T.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v%s", expr, err, b.state())
	}
	return v
}

// wait waits until the expression is truthy, re-checking it on every change
// of the DOM (the page's state is all in the DOM).
func (b *tab) wait(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait+2*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void]("!!("+expr+")",
		chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(browserWait)))
	if err != nil {
		b.t.Fatalf("waiting for %s: %v%s", what, err, b.state())
	}
}

// state describes the page, for a failure message.
func (b *tab) state() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const main = document.querySelector('main');
		const toasts = [...document.querySelectorAll('#toasts .toast')].map((t) => t.textContent);
		const cells = [...document.querySelectorAll('section[data-cell]')].map((s) =>
			s.dataset.cell + ' [' + (s.querySelector('[data-status]')?.dataset.status ?? '?') + '] ' +
			JSON.stringify((s.querySelector('[data-output]')?.textContent ?? '').slice(0, 300)));
		return location.href + '\n  conn: ' + (document.querySelector('[data-conn]')?.dataset.conn ?? '-') +
			'\n  toasts: ' + JSON.stringify(toasts) + '\n  cells:\n    ' + cells.join('\n    ') +
			'\n  main: ' + (main ? main.innerText.slice(0, 1500) : document.body.innerText.slice(0, 1500));
	})()`))
	if err != nil {
		return "\n(page state unavailable: " + err.Error() + ")"
	}
	return "\npage: " + s
}

// jsString quotes s for JavaScript source.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// cellSel is the CSS selector of a cell's part (PROTOCOL.md hooks).
func cellSel(cell, part string) string {
	sel := `section[data-cell=` + jsString(cell) + `]`
	if part != "" {
		sel += " " + part
	}
	return sel
}

// jsCell is a JavaScript expression for a cell's part, or null.
func jsCell(cell, part string) string {
	return `document.querySelector(` + jsString(cellSel(cell, part)) + `)`
}

// outputHas is a JavaScript condition: the cell's output contains text.
func outputHas(cell, text string) string {
	return `(` + jsCell(cell, "[data-output]") + `?.textContent ?? '').includes(` + jsString(text) + `)`
}

// statusIs is a JavaScript condition: the cell's status is status.
func statusIs(cell, status string) string {
	return jsCell(cell, "[data-status]") + `?.dataset.status === ` + jsString(status)
}

// editorText is a JavaScript expression for the text a cell's editor shows.
func editorText(cell string) string {
	return `[...document.querySelectorAll(` + jsString(cellSel(cell, ".cm-content .cm-line")) + `)].map((l) => l.textContent).join('\n')`
}

// typeInto types text into a cell's CodeMirror editor, key by key.
func (b *tab) typeInto(cell, text string) {
	b.t.Helper()
	b.do("type into "+cell, chromedp.SendKeys(chromedp.CSS(cellSel(cell, ".cm-content")), text))
}

// TestBrowserFirstStart: a fresh studio sends the first visitor to /setup;
// the form creates the owner and the workspace and lands on its flows page,
// signed in.
func TestBrowserFirstStart(t *testing.T) {
	s := newStudio(t)
	b := newBrowser(t, s)

	b.open("/", `form[action="/setup"]`)
	if loc := eval[string](b, `location.pathname`); loc != "/setup" {
		t.Fatalf("the first visit to / should land on /setup, got %s", loc)
	}
	b.do("fill the setup form",
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "ada"),
		chromedp.SendKeys(chromedp.CSS(`input[name="display"]`), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "correct horse battery"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password_again"]`), "correct horse battery"),
		chromedp.SetValue(chromedp.CSS(`input[name="workspace"]`), "Acme Ops"),
	)
	b.submit(`form[action="/setup"] button[type="submit"]`)
	b.do("the flows page", chromedp.WaitReady(chromedp.CSS(`form[action="/w/acme-ops/flows"]`)))
	if loc := eval[string](b, `location.pathname`); loc != "/w/acme-ops" {
		t.Fatalf("after setup: at %s, want /w/acme-ops", loc)
	}
	if title := eval[string](b, `document.title`); !strings.Contains(title, "Acme Ops") {
		t.Errorf("the flows page's title %q does not name the workspace", title)
	}
	if who := eval[string](b, `document.querySelector('.topbar .display')?.textContent ?? ''`); who != "Ada Lovelace" {
		t.Errorf("the top bar shows %q, want the owner signed in as Ada Lovelace", who)
	}
	// The session cookie is HttpOnly: page scripts cannot read it.
	if c := eval[string](b, `document.cookie`); strings.Contains(c, sessionCookie) {
		t.Errorf("the session cookie is readable from scripts: %q", c)
	}
	// Setup is over: it now leads to sign-in.
	b.open("/setup", "main")
	if loc := eval[string](b, `location.pathname`); loc == "/setup" {
		t.Errorf("/setup is still open after the owner was created")
	}
	u, err := s.st.UserByName(context.Background(), "ada")
	if err != nil {
		t.Fatalf("the owner was not stored: %v", err)
	}
	ms, err := s.st.WorkspacesOf(context.Background(), u.ID)
	if err != nil || len(ms) != 1 || ms[0].Role != engine.RoleOwner || ms[0].Workspace.Name != "Acme Ops" {
		t.Errorf("ada's workspaces: %+v, %v; want owner of Acme Ops", ms, err)
	}
}

// TestBrowserNotebookRun: create a flow from the flows page, add a shell
// and an expr cell with the toolbar, type their code, run all, watch the
// output arrive while the cell runs, reload and find sources and output,
// then open the run page.
func TestBrowserNotebookRun(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	_, tok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	b := newBrowser(t, s)
	b.signIn(tok)

	b.open("/w/acme", `form[action="/w/acme/flows"]`)
	b.do("name the flow", chromedp.SendKeys(chromedp.CSS(`form[action="/w/acme/flows"] input[name="name"]`), "Nightly report"))
	b.submit(`form[action="/w/acme/flows"] button[type="submit"]`)
	b.do("the notebook", chromedp.WaitReady(chromedp.CSS(`#notebook[data-flow="nightly-report"]`)))
	fs, err := s.st.FlowBySlug(context.Background(), s.ws.ID, "nightly-report")
	if err != nil {
		t.Fatalf("the flow was not created: %v", err)
	}
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	// Add a shell cell, then an expr cell, with the toolbar.
	for _, kind := range []string{"shell", "expr"} {
		b.do("add a "+kind+" cell",
			chromedp.SetValue(chromedp.CSS(`[data-add-kind]`), kind),
			chromedp.Click(chromedp.CSS(`.toolbar [data-action="add-cell"]`)),
		)
		b.wait("the new "+kind+" cell", jsCell(kind, ".cm-content")+` !== null`)
	}
	const shellSrc = "for i in 1 2 3; do echo line $i; sleep 0.3; done"
	const exprSrc = "1 + 41"
	b.typeInto("shell", shellSrc)
	b.typeInto("expr", exprSrc)
	if got := eval[string](b, editorText("shell")); got != shellSrc {
		t.Fatalf("the shell editor shows %q, want %q", got, shellSrc)
	}

	b.do("run all", chromedp.Click(chromedp.CSS(`.toolbar [data-action="run-all"]`)))
	// Live: the first line is on screen while the cell still runs.
	b.wait("line 1 while the shell cell runs", outputHas("shell", "line 1")+` && `+statusIs("shell", "running"))
	b.wait("line 3 and success", outputHas("shell", "line 3")+` && `+statusIs("shell", "succeeded"))
	b.wait("the expr cell's 42", statusIs("expr", "succeeded")+` && `+outputHas("expr", "42"))
	run := s.lastRun(fs.ID)
	if run.Status != engine.RunSucceeded {
		t.Fatalf("the run ended %s (%s), want succeeded", run.Status, run.Error)
	}

	// Autosave: the sources are stored, and a reload shows them and the
	// last run's output, rendered by the server.
	if got := s.source(fs.ID, "shell"); got != shellSrc {
		t.Errorf("stored shell source %q, want %q", got, shellSrc)
	}
	if got := s.source(fs.ID, "expr"); got != exprSrc {
		t.Errorf("stored expr source %q, want %q", got, exprSrc)
	}
	b.do("reload", chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(cellSel("expr", ".cm-content"))))
	for cell, src := range map[string]string{"shell": shellSrc, "expr": exprSrc} {
		if got := eval[string](b, editorText(cell)); got != src {
			t.Errorf("after a reload the %s editor shows %q, want %q", cell, got, src)
		}
	}
	// The page's script takes over the rendered output in an animation
	// frame: wait for it rather than read it at once.
	b.wait("after a reload, the shell cell's last output", outputHas("shell", "line 1")+` && `+outputHas("shell", "line 3")+` && `+statusIs("shell", "succeeded"))
	b.wait("after a reload, the expr cell's 42", outputHas("expr", "42")+` && `+statusIs("expr", "succeeded"))

	// The run page, from the banner's link.
	link := `[data-runs] [data-run-id=` + jsString(run.ID) + `] a[href]`
	b.wait("the link to the run", `document.querySelector(`+jsString(link)+`) !== null`)
	b.follow(link)
	b.do("the run page", chromedp.WaitReady(chromedp.CSS(`#run`)))
	if loc := eval[string](b, `location.pathname`); loc != "/runs/"+run.ID {
		t.Fatalf("the link led to %s, want /runs/%s", loc, run.ID)
	}
	if st := eval[string](b, `document.querySelector('#run').dataset.status`); st != "succeeded" {
		t.Errorf("the run page says %q, want succeeded", st)
	}
	for cell, src := range map[string]string{"shell": shellSrc, "expr": exprSrc} {
		if !eval[bool](b, statusIs(cell, "succeeded")) {
			t.Errorf("the run page's %s cell is not succeeded%s", cell, b.state())
		}
		if got := eval[string](b, jsCell(cell, ".code-block code")+`?.textContent ?? ''`); got != src {
			t.Errorf("the run page shows the code of %s as %q, want %q", cell, got, src)
		}
	}
	// The page's script takes over the rendered output (windowing it) in an
	// animation frame: wait for it rather than read it at once.
	b.wait("the run page's output", outputHas("shell", "line 3")+` && `+outputHas("expr", "42"))
	if who := eval[string](b, `document.querySelector('#run .meta dd')?.textContent ?? ''`); who != "Ada Lovelace" {
		t.Errorf("the run page says it was started by %q, want Ada Lovelace", who)
	}
}

// TestBrowserCancel: a running cell is canceled from the toolbar; the page
// shows it canceled within seconds and the stored run is canceled.
func TestBrowserCancel(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	fs := s.flow("slow", "Slow", ada,
		engine.Cell{Name: "wait", Kind: engine.KindShell, Source: "echo waiting\nsleep 30\necho never\n"},
		engine.Cell{Name: "after", Kind: engine.KindShell, Source: "echo after\n"},
	)
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/slow", cellSel("wait", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	b.do("run all", chromedp.Click(chromedp.CSS(`.toolbar [data-action="run-all"]`)))
	b.wait("the cell running", statusIs("wait", "running")+` && `+outputHas("wait", "waiting"))
	cancel := `.toolbar [data-action="cancel"]`
	b.wait("Cancel enabled", `document.querySelector(`+jsString(cancel)+`)?.disabled === false`)
	start := time.Now()
	b.do("cancel", chromedp.Click(chromedp.CSS(cancel)))
	b.wait("the cell canceled", statusIs("wait", "canceled"))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %s, want a few seconds at most", d)
	}
	run := s.lastRun(fs.ID)
	if run.Status != engine.RunCanceled {
		t.Errorf("the stored run is %s, want canceled", run.Status)
	}
	// Every cell has a final status; the one that never ran did not run.
	b.wait("the later cell's final status", `['skipped', 'canceled'].includes(`+jsCell("after", "[data-status]")+`?.dataset.status)`)
	if eval[bool](b, outputHas("wait", "never")+` || `+outputHas("after", "after")) {
		t.Errorf("cells ran past the cancel%s", b.state())
	}
	b.wait("the run banner canceled", `document.querySelector('[data-runs] [data-run-id=`+jsString(run.ID)+`]')?.dataset.status === 'canceled'`)
	b.wait("Cancel disabled again", `document.querySelector(`+jsString(cancel)+`)?.disabled === true`)
}

// TestBrowserTwoTabs: two people on one flow, each in a browser context of
// their own: a run started in one tab streams live into the other, which
// says who started it; and the other way round, where the second run's
// output replaces the first's.
func TestBrowserTwoTabs(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, adaTok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	_, bobTok := s.member("bob", "Bob Builder", engine.RoleEditor)
	s.flow("shared", "Shared", ada,
		engine.Cell{Name: "ticks", Kind: engine.KindShell, Source: "for i in 1 2 3; do echo tick $i; sleep 0.3; done\n"},
	)
	a := newBrowser(t, s)
	a.signIn(adaTok)
	b := a.another(true)
	b.signIn(bobTok)
	for _, tb := range []*tab{a, b} {
		tb.open("/w/acme/flows/shared", cellSel("ticks", ".cm-content"))
		tb.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	}

	banner := func(who, status string) string {
		return `[...document.querySelectorAll('[data-runs] .run-banner')].some((n) => n.dataset.status === ` + jsString(status) +
			` && n.textContent.includes(` + jsString(who+" started a run") + `))`
	}
	// Ada runs everything with the keyboard (Ctrl+Enter); Bob watches.
	a.do("Ctrl+Enter", chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	b.wait("Ada's run, live in Bob's tab", banner("Ada Lovelace", "running")+` && `+outputHas("ticks", "tick 1")+` && `+statusIs("ticks", "running"))
	b.wait("the end of Ada's run in Bob's tab", outputHas("ticks", "tick 3")+` && `+statusIs("ticks", "succeeded")+` && `+banner("Ada Lovelace", "succeeded"))
	a.wait("the end of Ada's run in her tab", outputHas("ticks", "tick 3")+` && `+statusIs("ticks", "succeeded"))

	// Bob runs the cell; Ada sees his run from its start, the old output gone.
	b.do("Bob runs the cell", chromedp.Click(chromedp.CSS(cellSel("ticks", `[data-action="run-cell"]`))))
	a.wait("Bob's run, live in Ada's tab, from a clean output", banner("Bob Builder", "running")+` && `+statusIs("ticks", "running")+
		` && `+outputHas("ticks", "tick 1")+` && !`+outputHas("ticks", "tick 3"))
	a.wait("the end of Bob's run", banner("Bob Builder", "succeeded")+` && `+statusIs("ticks", "succeeded")+` && `+outputHas("ticks", "tick 3"))
	if n := eval[int](a, `(`+jsCell("ticks", "[data-output]")+`.textContent.match(/tick 1/g) || []).length`); n != 1 {
		t.Errorf("Ada's tab shows tick 1 %d times after the second run, want once%s", n, a.state())
	}
}

// TestBrowserSourceTooLarge: a cell source over 1 MiB, pasted into the
// editor or sent straight to the socket, is refused with a message and the
// stored source stays as it was.
func TestBrowserSourceTooLarge(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	const original = "echo small\n"
	fs := s.flow("big", "Big", ada, engine.Cell{Name: "data", Kind: engine.KindShell, Source: original})
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/big", cellSel("data", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	errorToasts := `[...document.querySelectorAll('#toasts .toast-error')].filter((n) => n.textContent.includes('1 MiB')).length`
	// paste pastes text (a JavaScript expression) into the editor the way a
	// person's paste does.
	paste := func(text string) {
		t.Helper()
		b.do("focus the editor", chromedp.Click(chromedp.CSS(cellSel("data", ".cm-content"))))
		taken := eval[bool](b, `(() => {
			const dt = new DataTransfer();
			dt.setData('text/plain', `+text+`);
			const ev = new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true });
			`+jsCell("data", ".cm-content")+`.dispatchEvent(ev);
			return ev.defaultPrevented;
		})()`)
		if !taken {
			t.Fatalf("the editor did not take the paste")
		}
	}
	unchanged := func() {
		t.Helper()
		if got := s.source(fs.ID, "data"); got != original {
			t.Fatalf("the stored source changed to %d bytes", len(got))
		}
	}

	// Under 1 MiB in characters, over it in bytes: the limit is in bytes.
	// The editor refuses the change itself, says so, and keeps the text.
	paste(`'é'.repeat(600000)`)
	b.wait("the refusal of the multi-byte text", errorToasts+` >= 1`)
	if got := eval[string](b, editorText("data")); got != original {
		t.Errorf("the editor took the refused text (%d characters)", len(got))
	}
	unchanged()

	// And well over 1 MiB of ASCII.
	before := eval[int](b, errorToasts)
	paste(`('echo ' + 'x'.repeat(58) + '\n').repeat(16384) + 'y'`)
	b.wait("the refusal of the pasted text", errorToasts+` > `+strconv.Itoa(before))
	if got := eval[string](b, editorText("data")); got != original {
		t.Errorf("the editor took the refused text (%d characters)", len(got))
	}
	unchanged()

	// The server refuses it too, whatever the page does: a message straight
	// to the notebook socket gets an error naming the limit.
	cellID := eval[string](b, jsCell("data", "")+`.dataset.cellId`)
	reply := eval[map[string]any](b, `new Promise((resolve) => {
		const url = new URL(document.getElementById('notebook').dataset.socket, location.href).href.replace(/^http/, 'ws');
		const ws = new WebSocket(url);
		ws.onmessage = (e) => {
			const m = JSON.parse(e.data);
			if (m.t === 'hello') ws.send(JSON.stringify({ t: 'source', id: 'big', cell: `+jsString(cellID)+`, source: 'x'.repeat((1 << 20) + 1) }));
			if (m.id === 'big') { ws.close(); resolve(m); }
		};
		ws.onclose = (e) => resolve({ t: 'closed', code: e.code, reason: e.reason });
	})`)
	if reply["t"] != "error" || reply["field"] != "source" || !strings.Contains(fmt.Sprint(reply["message"]), "1 MiB") {
		t.Errorf("the server answered a source over 1 MiB with %v, want an error on field source naming the 1 MiB limit", reply)
	}
	unchanged()
	// The page's own connection is unharmed.
	if conn := eval[string](b, `document.querySelector('[data-conn]').dataset.conn`); conn != "open" {
		t.Errorf("the page's socket is %s after the refusals, want open", conn)
	}
}

// TestBrowserInert: HTML in a display name, a flow name, cell output, ANSI
// output, results, errors and markdown is shown as text on every page:
// no dialog opens and no element or handler is created from it.
func TestBrowserInert(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	const display = `<img src=x onerror=alert('display')>`
	const flowName = `<script>alert('flow')</script><img src=x onerror=alert('flow')>`
	ada, tok := s.member("ada", display, engine.RoleOwner)
	fs := s.flow("xss", flowName, ada,
		engine.Cell{Name: "notes", Kind: engine.KindMarkdown, Source: "# Notes <script>alert('md')</script>\n\n<img src=x onerror=alert('md')>\n\n[link](javascript:alert('md'))\n"},
		engine.Cell{Name: "out", Kind: engine.KindShell, Source: `echo '<script>alert("out")</script>'
echo '<img src=x onerror=alert("out")>'
printf '\033[31m<img src=x onerror=alert("ansi")>\033[0m\n'
echo 'html=<img src=x onerror=alert("outputs")>' >> "$OPSBOOK_OUTPUT"
`},
		engine.Cell{Name: "res", Kind: engine.KindExpr, Source: `{"k<img src=x onerror=alert('key')>": "<script>alert('value')</script>", "rows": [{"<b onmouseover=alert(1)>": "<img src=x onerror=alert('td')>"}]}` + "\n"},
		engine.Cell{Name: "boom", Kind: engine.KindShell, Source: "echo '<img src=x onerror=alert(\"stderr\")>' >&2\nexit 3\n"},
	)
	b := newBrowser(t, s)
	b.signIn(tok)

	// inert checks the page: nothing from the payloads became markup.
	inert := func(where string) {
		t.Helper()
		bad := eval[[]string](b, `(() => {
			const bad = [];
			document.querySelectorAll('img[src="x"], [onerror], [onmouseover], [onclick], a[href^="javascript:" i]').forEach((n) => bad.push(n.outerHTML.slice(0, 120)));
			[...document.scripts].forEach((s) => { if (!s.src && s.type !== 'application/json') bad.push('inline script: ' + s.textContent.slice(0, 80)); });
			return bad;
		})()`)
		if len(bad) > 0 {
			t.Errorf("%s: markup made from data: %q", where, bad)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.dialogs) > 0 {
			t.Fatalf("%s: dialogs opened: %q", where, b.dialogs)
		}
	}
	hasText := func(where, sel, text string) {
		t.Helper()
		if !eval[bool](b, `[...document.querySelectorAll(`+jsString(sel)+`)].some((n) => n.textContent.includes(`+jsString(text)+`))`) {
			t.Errorf("%s: %s does not show %q as text%s", where, sel, text, b.state())
		}
	}

	b.open("/w/acme/flows/xss", cellSel("out", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	b.do("run all", chromedp.Click(chromedp.CSS(`.toolbar [data-action="run-all"]`)))
	b.wait("the run's end", statusIs("boom", "failed")+` && `+outputHas("boom", `alert("stderr")`))
	b.wait("the results", statusIs("res", "succeeded")+` && `+outputHas("res", "onerror=alert('td')"))
	inert("notebook, live")
	hasText("notebook, live", cellSel("out", "[data-output]"), `<script>alert("out")</script>`)
	hasText("notebook, live", cellSel("out", "[data-output]"), `<img src=x onerror=alert("ansi")>`)
	hasText("notebook, live", cellSel("out", "[data-output]"), `html: "<img src=x onerror=alert(\"outputs\")>"`)
	hasText("notebook, live", cellSel("res", "[data-output]"), `k<img src=x onerror=alert('key')>`)
	hasText("notebook, live", "[data-runs] .run-banner", display+" started a run")
	hasText("notebook, live", "[data-flow-name]", flowName)
	s.lastRun(fs.ID)

	// A cell name with markup is refused, with a message shown as text.
	b.do("rename a cell", chromedp.SetValue(chromedp.CSS(cellSel("out", `[data-field="name"]`)), `<img src=x onerror=alert('name')>`))
	b.do("send the rename", chromedp.Evaluate[chromedp.Void](jsCell("out", `[data-field="name"]`)+`.dispatchEvent(new Event('change', { bubbles: true }))`))
	b.wait("the refusal of the name", `[...document.querySelectorAll('#toasts .toast-error, [data-error-for="name"]')].some((n) => n.textContent.includes('cell name'))`)
	inert("notebook, renamed")

	b.do("reload", chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(cellSel("boom", "[data-output]"))))
	inert("notebook, server-rendered")
	hasText("notebook, server-rendered", cellSel("out", "[data-output]"), `<script>alert("out")</script>`)
	hasText("notebook, server-rendered", cellSel("out", "[data-output]"), `<img src=x onerror=alert("ansi")>`)
	hasText("notebook, server-rendered", cellSel("res", "[data-output]"), `<script>alert('value')</script>`)
	hasText("notebook, server-rendered", cellSel("boom", "[data-output]"), `alert("stderr")`)
	hasText("notebook, server-rendered", "[data-runs] .run-banner", display+" started a run")
	hasText("notebook, server-rendered", "title", flowName)

	run := s.lastRun(fs.ID)
	b.open("/runs/"+run.ID, "#run")
	inert("run page")
	hasText("run page", "#run h1", flowName)
	hasText("run page", "#run .meta dd", display)
	hasText("run page", cellSel("out", ".code-block code"), `echo '<script>alert("out")</script>'`)
	hasText("run page", cellSel("out", "[data-output]"), `<img src=x onerror=alert("out")>`)

	b.open("/w/acme", "table.flows")
	inert("flows page")
	hasText("flows page", "table.flows", flowName)
	b.open("/w/acme/runs", "table.runs-table")
	inert("runs page")
	hasText("runs page", "table.runs-table", display)
}
