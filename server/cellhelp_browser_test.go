package server

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/opsbook/opsbook/engine"
)

// cellNames is a JavaScript expression: the notebook's cell names in order.
const cellNames = `[...document.querySelectorAll('section[data-cell-id]')].map((s) => s.dataset.cell).join(',')`

// placeholderOf is a JavaScript expression: the hint a cell's editor shows.
func placeholderOf(cell string) string {
	return `(` + jsCell(cell, ".cm-placeholder") + `?.textContent ?? '')`
}

// TestBrowserKeyboardHelp: `?` outside a text field opens a list of the
// notebook's shortcuts; typed in a cell it is a character like any other.
func TestBrowserKeyboardHelp(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, adaTok := s.member("ada", "Ada Lovelace", engine.RoleEditor)
	s.flow("keys", "Keys", ada, engine.Cell{Name: "hello", Kind: engine.KindShell, Source: "echo hi\n"})
	b := newBrowser(t, s)
	b.signIn(adaTok)
	b.open("/w/acme/flows/keys", cellSel("hello", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	b.do("press ?", chromedp.Click(chromedp.CSS(`[data-flow-name]`)), chromedp.KeyEvent("?"))
	b.wait("the keyboard help", `document.getElementById('shortcuts-dialog')?.open === true`)
	help := eval[string](b, `document.getElementById('shortcuts-dialog').innerText`)
	for _, want := range []string{"Keyboard shortcuts", "Ctrl/⌘ + Enter", "Run all cells", "Shift + Enter", "Ctrl/⌘ + S", "Save a numbered version", "Alt + ↑", "Ctrl/⌘ + Z"} {
		if !strings.Contains(help, want) {
			t.Errorf("the keyboard help does not say %q:\n%s", want, help)
		}
	}
	b.do("Escape", chromedp.KeyEvent(kb.Escape))
	b.wait("the help closed", `document.getElementById('shortcuts-dialog') === null`)

	// In a cell, ? is text.
	b.do("type ? in the cell", chromedp.Click(chromedp.CSS(cellSel("hello", ".cm-line"))), chromedp.KeyEvent(kb.End), chromedp.KeyEvent("?"))
	b.wait("the ? in the cell's text", editorText("hello")+`.startsWith('echo hi?')`)
	if open := eval[bool](b, `document.getElementById('shortcuts-dialog') !== null`); open {
		t.Errorf("typing ? in a cell opened the keyboard help")
	}
}

// TestBrowserInsertCell: the "+" under a cell inserts a cell of the chosen
// kind right after it (under the last cell: at the end), stored in that
// place, and an empty cell shows a hint for its kind; a viewer has no "+".
func TestBrowserInsertCell(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, adaTok := s.member("ada", "Ada Lovelace", engine.RoleEditor)
	_, vicTok := s.member("vic", "Vic Viewer", engine.RoleViewer)
	fl := s.flow("plus", "Plus", ada,
		engine.Cell{Name: "first", Kind: engine.KindShell, Source: "echo 1\n"},
		engine.Cell{Name: "last", Kind: engine.KindShell, Source: "echo 2\n"})
	b := newBrowser(t, s)
	b.signIn(adaTok)
	b.open("/w/acme/flows/plus", cellSel("last", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	b.do("open the + under first", chromedp.Click(chromedp.CSS(cellSel("first", `[data-action="insert-menu"]`))))
	b.wait("the kinds", `!`+jsCell("first", "[data-insert-kinds]")+`.hidden`)
	b.do("insert a python cell", chromedp.Click(chromedp.CSS(cellSel("first", `[data-action="insert-cell"][data-kind="python"]`))))
	b.wait("a python cell between first and last", `(() => {
		const names = `+cellNames+`.split(',');
		return names.length === 3 && names[0] === 'first' && names[2] === 'last' &&
			document.querySelectorAll('section[data-cell-id]')[1].dataset.kind === 'python';
	})()`)
	mid := eval[string](b, `document.querySelectorAll('section[data-cell-id]')[1].dataset.cell`)
	b.wait("the python hint in the new, empty cell", placeholderOf(mid)+`.includes('python3 script')`)

	b.do("open the + under last", chromedp.Click(chromedp.CSS(cellSel("last", `[data-action="insert-menu"]`))))
	b.do("insert a sql cell", chromedp.Click(chromedp.CSS(cellSel("last", `[data-action="insert-cell"][data-kind="sql"]`))))
	b.wait("a sql cell at the end", `(() => {
		const ss = document.querySelectorAll('section[data-cell-id]');
		return ss.length === 4 && ss[2].dataset.cell === 'last' && ss[3].dataset.kind === 'sql';
	})()`)
	end := eval[string](b, `document.querySelectorAll('section[data-cell-id]')[3].dataset.cell`)
	b.wait("the sql hint", placeholderOf(end)+`.includes('scratch database')`)
	// A cell with text shows no hint; the hint follows a change of kind.
	if h := eval[string](b, placeholderOf("first")); h != "" {
		t.Errorf("a cell with text shows the hint %q", h)
	}
	eval[bool](b, `(() => {
		const sel = document.querySelector(`+jsString(cellSel(end, `[data-field="kind"]`))+`);
		sel.value = 'expr';
		sel.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`)
	b.wait("the expr hint", placeholderOf(end)+`.includes('One expression')`)

	// Stored in that order: a fresh page shows the same.
	d, err := s.st.Draft(context.Background(), fl.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range d.Flow.Cells {
		names = append(names, c.Name)
	}
	if got, want := strings.Join(names, ","), "first,"+mid+",last,"+end; got != want {
		t.Errorf("the stored draft's cells are %s, want %s", got, want)
	}

	v := b.another(true)
	v.signIn(vicTok)
	v.open("/w/acme/flows/plus", cellSel("last", ".cm-content"))
	v.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	if n := eval[int](v, `document.querySelectorAll('[data-action="insert-menu"]').length`); n != 0 {
		t.Errorf("a viewer's notebook has %d + buttons", n)
	}
}

// TestBrowserViewerCtrlS: Ctrl+S from someone who may not save versions
// says so (it called a function the page does not have, so nothing was
// said and the page threw), and the page's rights come from the server.
func TestBrowserViewerCtrlS(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, _ := s.member("ada", "Ada Lovelace", engine.RoleEditor)
	_, vicTok := s.member("vic", "Vic Viewer", engine.RoleViewer)
	s.flow("keys", "Keys", ada, engine.Cell{Name: "hello", Kind: engine.KindShell, Source: "echo hi\n"})
	v := newBrowser(t, s)
	v.signIn(vicTok)
	v.open("/w/acme/flows/keys", cellSel("hello", ".cm-content"))
	v.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	if got := eval[string](v, `document.getElementById('notebook').dataset.canEdit + ',' + document.getElementById('notebook').dataset.canRun`); got != "false,false" {
		t.Errorf("a viewer's page says can edit, can run = %s", got)
	}
	eval[bool](v, `(() => { window.__errs = []; window.addEventListener('error', (e) => window.__errs.push(e.message)); return true; })()`)
	v.do("Ctrl+S", chromedp.Click(chromedp.CSS(`[data-flow-name]`)), chromedp.KeyEvent("s", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	v.wait("a toast saying why", `[...document.querySelectorAll('#toasts .toast')].some((t) => t.textContent.includes('needs the editor role'))`)
	if errs := eval[string](v, `window.__errs.join('; ')`); errs != "" {
		t.Errorf("Ctrl+S threw: %s", errs)
	}
}
