package server

import (
	"context"
	"fmt"
	"github.com/opsbook/opsbook/engine/store"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
)

// withCookie gives a browser context the session cookie of one of the
// fixture's roles.
func (f *fixture) withCookie(t *testing.T, ctx context.Context, role string) {
	t.Helper()
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: sessionCookie, Value: f.cookies[role], URL: f.ts.URL, Path: "/", HTTPOnly: new(true), SameSite: network.CookieSameSiteLax,
	})
	must(t, err)
}

// holdWorker starts a run that occupies the fixture's one worker until the
// returned function is called.
func (f *fixture) holdWorker(t *testing.T) (release func()) {
	t.Helper()
	f.addFlow("hold", &engine.Flow{Name: "Hold", Cells: []engine.Cell{
		{Name: "gate", Kind: engine.KindShell, File: "gate.sh", Source: "for i in $(seq 1 600); do [ -f go ] && break; sleep 0.05; done\n"},
	}})
	run := f.startRun("hold", "{}", "")
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r, err := f.st.Run(context.Background(), run)
		must(t, err)
		if r.Status == engine.RunRunning {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the holding run never started")
		}
	}
	return func() {
		os.MkdirAll(filepath.Join(f.srv.runs.pool.RunDir(), run, "work"), 0o700)
		must(t, os.WriteFile(filepath.Join(f.srv.runs.pool.RunDir(), run, "work", "go"), nil, 0o600))
	}
}

// TestBrowserRunPageBeforeFirstEvent: a run page (and a share page of the
// same run) opened while the run waits for a worker shows each cell's
// output once the run starts, without a reload, and a link to each cell's
// whole log once it has output.
func TestBrowserRunPageBeforeFirstEvent(t *testing.T) {
	f := setupWith(t, testDB, Config{Workers: 1})
	f.addFlow("later", &engine.Flow{Name: "Later", Cells: []engine.Cell{
		{Name: "first", Kind: engine.KindShell, File: "first.sh", Source: "echo first-line\n"},
		{Name: "second", Kind: engine.KindExpr, File: "second.expr", Source: "40 + 2\n"},
	}})
	release := f.holdWorker(t)
	run := f.startRun("later", "{}", "")
	_, share := f.shareRun(run, false)

	b := browser(t)
	f.withCookie(t, b, "viewer")
	p := private(t, b)
	must(t, chromedp.Do(b, chromedp.Navigate(f.ts.URL+"/runs/"+run), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	must(t, chromedp.Do(p, chromedp.Navigate(f.ts.URL+share), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	for _, ctx := range []context.Context{b, p} {
		if st := evalStr(t, ctx, `document.querySelector('main#run').dataset.status`); st != "queued" {
			t.Fatalf("the page was opened when the run was %s; the test needs it queued", st)
		}
	}
	release()
	for name, ctx := range map[string]context.Context{"run page": b, "share page": p} {
		waitJS(t, ctx, `document.querySelector('main#run').dataset.status === 'succeeded'`, 30*time.Second)
		waitJS(t, ctx, `(document.querySelector('section[data-cell="first"] [data-output]')?.textContent ?? '').includes('first-line')`, 5*time.Second)
		waitJS(t, ctx, `(document.querySelector('section[data-cell="second"] [data-result]')?.textContent ?? '').includes('42')`, 5*time.Second)
		// The output is short (not cut), and came live: the whole log is
		// offered all the same.
		if n := evalStr(t, ctx, `String(document.querySelectorAll('section[data-cell="first"] a[download][href$="/log?cell=first"]:not([hidden])').length)`); n != "1" {
			t.Errorf("%s: %s links to the first cell's whole log, want 1", name, n)
		}
	}
}

// TestBrowserHugeOutputHeadAndTail: a cell that writes far more lines than
// a page keeps, then an error on stderr, then fails. The live page shows
// its first lines, a row counting the lines not shown with a link to the
// whole log, and its last lines with the error; a reload shows the same.
// (The live page used to stop at 10 MB of lines and never show the end.)
func TestBrowserHugeOutputHeadAndTail(t *testing.T) {
	f := setup(t, testDB)
	const n = 60000 // 200-byte lines: 12 MB, past the old 10 MB cut
	f.addFlow("huge", &engine.Flow{Name: "Huge", Cells: []engine.Cell{
		{Name: "loud", Kind: engine.KindShell, File: "loud.sh", Source: fmt.Sprintf("for i in $(seq 1 600); do [ -f go ] && break; sleep 0.05; done\nseq 1 %d | sed 's/$/ %s/'\nsleep 0.3\necho 'the end went wrong' >&2\nexit 3\n", n, strings.Repeat("x", 190))},
	}})
	run := f.startRun("huge", "{}", "")
	b := browser(t)
	f.withCookie(t, b, "viewer")
	must(t, chromedp.Do(b, chromedp.Navigate(f.ts.URL+"/runs/"+run), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	// Every line comes live: the cell writes once the page is connected.
	waitJS(t, b, `document.querySelector('[data-conn]').dataset.conn === 'open'`, 20*time.Second)
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := os.WriteFile(filepath.Join(f.srv.runs.pool.RunDir(), run, "work", "go"), nil, 0o600); err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the run's working directory never appeared")
		}
	}
	waitJS(t, b, `document.querySelector('main#run').dataset.status === 'failed'`, 60*time.Second)
	f.waitRun(run)

	lines := `document.querySelector('section[data-cell="loud"] [data-lines]')`
	type view struct {
		Rows, Omitted, First, Last, Gap, Link string
	}
	// scroll scrolls the list and waits for the frame that draws its rows.
	scroll := func(ctx context.Context, top string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](lines+`.scrollTop = `+top+`; new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))`, chromedp.EvalAwaitPromise))
		must(t, err)
	}
	look := func(ctx context.Context) view {
		t.Helper()
		// The list shows only the rows in view: scroll to each part.
		var v view
		// The end first: the error on stderr, the last line.
		scroll(ctx, `1e9`)
		waitJS(t, ctx, lines+`.textContent.includes('the end went wrong')`, 5*time.Second)
		v.Last = evalStr(t, ctx, `[...`+lines+`.querySelectorAll('.ln')].slice(-2).map((l) => l.className + ':' + l.textContent.slice(0, 18)).join('|')`)
		waitJS(t, ctx, lines+`.dataset.omitted !== undefined`, 5*time.Second)
		v.Rows = evalStr(t, ctx, lines+`.dataset.rows`)
		v.Omitted = evalStr(t, ctx, lines+`.dataset.omitted`)
		scroll(ctx, `0`)
		waitJS(t, ctx, `!!`+lines+`.querySelector('.ln')`, 5*time.Second)
		v.First = evalStr(t, ctx, lines+`.querySelector('.ln').textContent.slice(0, 8)`)
		scroll(ctx, `1000 * `+lines+`.querySelector('.ln').getBoundingClientRect().height - 40`)
		waitJS(t, ctx, `!!`+lines+`.querySelector('.ln-gap')`, 5*time.Second)
		v.Gap = evalStr(t, ctx, lines+`.querySelector('.ln-gap').textContent`)
		v.Link = evalStr(t, ctx, `new URL(`+lines+`.querySelector('.ln-gap a[download]').href).pathname`)
		return v
	}
	live := look(b)
	want := view{
		Rows:    "2000",
		Omitted: fmt.Sprint(n + 1 - 2000),
		First:   "1 xxxxxx",
		Last:    fmt.Sprintf("ln:%d xxxxxxxxxxxx|ln ln-err:the end went wrong", n),
		Gap:     fmt.Sprintf("%d lines not shown — download the whole log", n+1-2000),
		Link:    "/runs/" + run + "/log",
	}
	if live != want {
		t.Errorf("live page:\n got %+v\nwant %+v", live, want)
	}
	// The exit is said once, as the error: "exit status 3", never also
	// as a result's "exit code 3".
	exitSaid := func(ctx context.Context, when string) {
		t.Helper()
		text := evalStr(t, ctx, `document.querySelector('section[data-cell="loud"] [data-output]').innerText`)
		if strings.Count(text, "exit status 3") != 1 || strings.Contains(text, "exit code") {
			t.Errorf("%s: the cell says %q about its exit", when, text[max(0, len(text)-300):])
		}
	}
	exitSaid(b, "live")
	if link := evalStr(t, b, `document.querySelector('section[data-cell="loud"] [data-log-link]')?.getAttribute('href') ?? ''`); !strings.Contains(link, "/runs/"+run+"/log?cell=loud") {
		t.Errorf("the live page's whole-log link is %q", link)
	}
	must(t, chromedp.Do(b, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	if again := look(b); again != want {
		t.Errorf("after a reload:\n got %+v\nwant %+v", again, want)
	}
	exitSaid(b, "after a reload")
}

// TestBrowserRunPageBuildsCellsFromEvents: a page that rendered no section
// for a cell (here: a run whose files the page cannot read, opened before
// its first event) builds the cell from the events and shows its output,
// result and timeline row live.
func TestBrowserRunPageBuildsCellsFromEvents(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	r, err := f.st.CreateRun(ctx, store.Run{WorkspaceID: f.ws.ID, FlowID: f.flow.ID, Version: 1, Inputs: []byte(`{}`)})
	must(t, err)
	b := browser(t)
	f.withCookie(t, b, "viewer")
	must(t, chromedp.Do(b, chromedp.Navigate(f.ts.URL+"/runs/"+r.ID), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	if n := evalStr(t, b, `String(document.querySelectorAll('section[data-cell]').length)`); n != "0" {
		t.Fatalf("the page rendered %s cells; the test needs none", n)
	}
	waitJS(t, b, `document.querySelector('[data-conn]').dataset.conn === 'open'`, 30*time.Second)
	at := time.Now()
	for i, e := range []engine.Event{
		{Type: engine.EventRunStarted, Cells: []string{"greet", "answer"}},
		{Type: engine.EventCellStarted, Cell: "greet", Attempt: 1},
		{Type: engine.EventCellLog, Cell: "greet", Stream: engine.StreamStdout, Lines: []string{"hello from the events"}},
		{Type: engine.EventCellFinished, Cell: "greet", Status: "succeeded", Attempts: 1, DurationMS: 5},
		{Type: engine.EventCellStarted, Cell: "answer", Attempt: 1},
		{Type: engine.EventCellFinished, Cell: "answer", Status: "succeeded", Attempts: 1, Result: []byte(`{"value":42}`)},
	} {
		e.Run, e.Seq, e.At = r.ID, int64(i+1), at
		f.srv.runs.Event(r.ID, f.flow.ID, &e, e.AppendJSON(nil))
	}
	waitJS(t, b, `(document.querySelector('section[data-cell="greet"] [data-output]')?.textContent ?? '').includes('hello from the events')`, 5*time.Second)
	waitJS(t, b, `document.querySelector('section[data-cell="greet"] [data-status]')?.dataset.status === 'succeeded'`, 5*time.Second)
	waitJS(t, b, `(document.querySelector('section[data-cell="answer"] [data-result]')?.textContent ?? '').includes('42')`, 5*time.Second)
	if got := evalStr(t, b, `[...document.querySelectorAll('section[data-cell]')].map((s) => s.dataset.cell).join(',') + ' ' + document.querySelectorAll('[data-tl]').length + ' ' + document.querySelector('[data-progress-text]').textContent`); got != "greet,answer 2 2 of 2 cells done" {
		t.Errorf("the page shows %q; want the two cells in order, two timeline rows, 2 of 2 done", got)
	}
	if link := evalStr(t, b, `document.querySelector('section[data-cell="greet"] [data-log-link]')?.getAttribute('href') ?? ''`); link != "/runs/"+r.ID+"/log?cell=greet" {
		t.Errorf("the built cell's whole-log link is %q", link)
	}
}

// TestBrowserShareRevokedWhileWatched: a share page watching a running run
// says the link was revoked when it is, and stops: no "reconnecting", no
// ticking. A page that was offline when the link went (its socket refused
// before it opens) says so too.
func TestBrowserShareRevokedWhileWatched(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("slow", &engine.Flow{Name: "Slow", Cells: []engine.Cell{
		{Name: "wait", Kind: engine.KindShell, File: "wait.sh", Source: "for i in $(seq 1 600); do [ -f go ] && break; echo waiting $i; sleep 0.1; done\n"},
	}})
	run := f.startRun("slow", "{}", "")
	defer f.srv.runs.Cancel(context.Background(), run, "")
	id, path := f.shareRun(run, false)
	id2, path2 := f.shareRun(run, false)
	b := browser(t)
	p := private(t, b)
	must(t, chromedp.Do(p, chromedp.Navigate(f.ts.URL+path), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	waitJS(t, p, `document.querySelector('[data-conn]').dataset.conn === 'open'`, 30*time.Second)
	waitJS(t, p, `(document.querySelector('section[data-cell="wait"] [data-lines]')?.textContent ?? '').includes('waiting')`, 20*time.Second)
	f.apiJSON("editor", "DELETE", "/api/v1/shares/"+id, "", http.StatusNoContent)
	waitJS(t, p, `document.body.innerText.toLowerCase().includes('link was revoked')`, 30*time.Second)
	tl := `document.querySelector('[data-tl="wait"] .tl-dur').textContent`
	before := evalStr(t, p, tl)
	time.Sleep(2500 * time.Millisecond)
	if after := evalStr(t, p, tl); after != before {
		t.Errorf("after the revocation the timer went on: %q → %q", before, after)
	}
	if got := evalStr(t, p, `document.querySelector('[data-conn]').dataset.conn + ': ' + document.querySelector('[data-conn]').textContent`); !strings.HasPrefix(got, "ended: This link was revoked") {
		t.Errorf("the page's connection state says %q once its link was revoked", got)
	}

	// Offline when the link goes: the page's socket drops, and every
	// attempt to reconnect is refused.
	q := private(t, b)
	must(t, chromedp.Do(q, chromedp.Navigate(f.ts.URL+path2), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	waitJS(t, q, `document.querySelector('[data-conn]').dataset.conn === 'open'`, 30*time.Second)
	must(t, f.st.RevokeShare(context.Background(), id2)) // no socket is told
	f.srv.CloseSockets()
	waitJS(t, q, `document.body.innerText.includes('revoked')`, 15*time.Second)
	if got := evalStr(t, q, `document.querySelector('[data-conn]').dataset.conn + ': ' + document.querySelector('[data-conn]').textContent`); !strings.HasPrefix(got, "ended: ") || !strings.Contains(got, "revoked") {
		t.Errorf("the offline page's connection state says %q once its link was revoked", got)
	}
}
