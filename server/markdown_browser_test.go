package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// markdownRequests is a JavaScript expression: how many times the page
// asked the markdown route at path to render.
func markdownRequests(path string) string {
	return `performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname === ` + jsString(path) + `).length`
}

// TestBrowserMarkdownPreview: a markdown cell's preview is the server's
// rendering (GFM strikethrough and autolinks with rel=nofollow, which only
// goldmark and bluemonday make; raw HTML dropped), in the typist's page when she leaves the editor and
// in a viewer's page as she types, asked for once the edits pause rather
// than at every change.
func TestBrowserMarkdownPreview(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, adaTok := s.member("ada", "Ada Lovelace", engine.RoleEditor)
	_, vicTok := s.member("vic", "Vic Viewer", engine.RoleViewer)
	s.flow("notes", "Notes", ada, engine.Cell{Name: "notes", Kind: engine.KindMarkdown, Source: "# Start\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"})
	a := newBrowser(t, s)
	a.signIn(adaTok)
	v := a.another(true)
	v.signIn(vicTok)
	const route = "/w/acme/flows/notes/markdown"
	for _, tb := range []*tab{a, v} {
		tb.open("/w/acme/flows/notes", cellSel("notes", "[data-markdown] h1"))
		tb.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
		if n := eval[int](tb, markdownRequests(route)); n != 0 {
			t.Errorf("the page asked for %d renderings of markdown the server had rendered", n)
		}
	}
	// Vic's page counts the edits it is sent.
	eval[bool](v, `(() => {
		const nb = document.getElementById('notebook').notebook;
		const on = nb.onCollab.bind(nb);
		window.updates = 0;
		nb.onCollab = (m) => { if (m.t === 'collab.updates') window.updates++; return on(m); };
		return true;
	})()`)
	settled := `(() => {
		const c = [...document.getElementById('notebook').notebook.cells.values()].find((c) => c.section.dataset.cell === 'notes');
		return c.preview.shown === c.editor.text && !c.preview.ctrl && c.editor.text.includes('onerror=alert(1)>');
	})()`
	rendered := jsCell("notes", "[data-markdown] table td") + `?.textContent === '1' && ` +
		jsCell("notes", "[data-markdown] del") + `?.textContent === 'old' && ` +
		jsCell("notes", `[data-markdown] a[href="http://www.example.com"][rel~="nofollow"]`) + ` !== null && ` +
		jsCell("notes", "[data-markdown] h1") + `?.textContent === 'Start' && !` + jsCell("notes", "[data-markdown]") + `.hidden`

	a.do("open the editor", chromedp.Click(chromedp.CSS(cellSel("notes", "[data-markdown]"))))
	a.wait("the editor", `!`+jsCell("notes", "[data-editor]")+`.hidden`)
	// One line (the driver's Enter makes two line breaks), after the table.
	a.typeInto("notes", "~~old~~ www.example.com <img src=x onerror=alert(1)>")
	v.wait("Vic's preview of Ada's typing, rendered by the server", rendered+` && `+settled)
	asked, updates := eval[int](v, markdownRequests(route)), eval[int](v, `window.updates`)
	// How many updates the typing makes depends on the machine's load
	// (keys typed within one collaboration tick travel together), so only
	// the bound is checked here; the burst below checks the pause.
	if asked < 1 || asked > updates {
		t.Errorf("Vic's page asked for %d renderings for %d edits; want at least one, and no more than the edits", asked, updates)
	}
	// A burst of edits closer together than the pause asks once, for the
	// last text. (How many of the typed edits above fell within one pause
	// depends on the machine's load, so the burst is made here.)
	eval[bool](v, `(() => {
		const c = [...document.getElementById('notebook').notebook.cells.values()].find((c) => c.section.dataset.cell === 'notes');
		for (let i = 1; i <= 5; i++) c.preview.update(c.editor.text + '\n\nburst ' + i, 250);
		return true;
	})()`)
	v.wait("the burst's last text, rendered", jsCell("notes", "[data-markdown]")+`.textContent.includes('burst 5')`)
	if n := eval[int](v, markdownRequests(route)) - asked; n != 1 {
		t.Errorf("a burst of 5 edits within the pause asked for %d renderings; want 1", n)
	}

	a.do("leave the editor", chromedp.Click(chromedp.CSS(`[data-flow-name]`)))
	a.wait("Ada's preview, rendered by the server", rendered+` && `+settled+` && `+jsCell("notes", "[data-editor]")+`.hidden`)
	if n := eval[int](a, markdownRequests(route)); n < 1 {
		t.Errorf("Ada's page showed the preview without asking the server")
	}
	for who, tb := range map[string]*tab{"Ada": a, "Vic": v} {
		if bad := eval[int](tb, `document.querySelectorAll('[data-markdown] img, [onerror]').length`); bad != 0 {
			t.Errorf("%s's preview made %d elements of raw HTML", who, bad)
		}
		tb.mu.Lock()
		if len(tb.dialogs) > 0 {
			t.Errorf("%s's page opened dialogs: %q", who, tb.dialogs)
		}
		tb.mu.Unlock()
	}
}

// TestBrowserRunProse: a markdown cell that finishes while a run page is
// open shows the text it ran with, rendered by the server, on the studio's
// run page and on a run link's page.
func TestBrowserRunProse(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("prose", &engine.Flow{Name: "Prose", Cells: []engine.Cell{
		{Name: "gate", Kind: engine.KindShell, File: "gate.sh", Source: "for i in $(seq 1 300); do [ -f go ] && break; echo waiting $i; sleep 0.1; done\n"},
		{Name: "summary", Kind: engine.KindMarkdown, File: "summary.md", Source: "# Report\n\nexit {{ cells.gate.exit_code }}\n\n| a |\n|---|\n| ~~1~~ |\n"},
	}})
	run := f.startRun("prose", "{}", "")
	defer f.srv.runs.Cancel(context.Background(), run, "")
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		evs, _ := f.st.Events(context.Background(), run, 0, 0)
		if strings.Contains(eventsText(evs), "waiting 1") {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the gate cell never wrote")
		}
	}
	b := browser(t)
	must(t, chromedp.Do(b, chromedp.Navigate(f.ts.URL+"/signin?next=/runs/"+run),
		chromedp.SetValue(chromedp.CSS(`input[name="name"]`), "viewer"),
		chromedp.SetValue(chromedp.CSS(`input[name="password"]`), "correct horse battery"),
		chromedp.Submit(chromedp.CSS(`input[name="password"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main#run`)),
	))
	_, tok := f.makeShare(store.ShareRun, func(sh *store.Share) { sh.RunID = run })
	p := private(t, b)
	must(t, chromedp.Do(p, chromedp.Navigate(f.ts.URL+"/s/"+tok), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	prose := `document.querySelector('section[data-cell="summary"] [data-prose]')`
	pages := []struct {
		name, route string
		ctx         context.Context
	}{{"run page", "/runs/" + run + "/markdown", b}, {"link page", "/s/" + tok + "/markdown", p}}
	for _, pg := range pages {
		waitJS(t, pg.ctx, `document.querySelector('[data-conn]').textContent === 'live'`, 30*time.Second)
		if got := evalStr(t, pg.ctx, prose+`.textContent`); !strings.Contains(got, "{{ cells.gate.exit_code }}") {
			t.Fatalf("%s: before the cell ran, the prose is %q; want its source", pg.name, got)
		}
	}
	must(t, os.WriteFile(filepath.Join(f.srv.runs.pool.RunDir(), run, "work", "go"), nil, 0o600))
	for _, pg := range pages {
		waitJS(t, pg.ctx, `document.querySelector('main#run').dataset.status === 'succeeded'`, 20*time.Second)
		waitJS(t, pg.ctx, prose+`.textContent.includes('exit 0') && `+prose+`.querySelector('h1')?.textContent === 'Report' && `+prose+`.querySelector('td del')?.textContent === '1'`, 30*time.Second)
		if n := evalStr(t, pg.ctx, `String(`+markdownRequests(pg.route)+`)`); n != "1" {
			t.Errorf("%s: asked %s for %s renderings; want 1", pg.name, pg.route, n)
		}
	}
}
