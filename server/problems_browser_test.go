package server

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
)

// problemsOf is a JavaScript expression for the problems shown under a
// cell's editor, one a line.
func problemsOf(cell string) string {
	return `(` + jsCell(cell, "[data-problems]") + `?.innerText ?? '')`
}

// setText replaces a cell's text as if it were typed (a local edit, sent
// like keystrokes): typing `'` or `{` key by key would bring the editor's
// closing brackets.
func setText(cell, text string) string {
	return `(() => { const nb = document.querySelector('#notebook').notebook; const c = nb.cellByName(` + jsString(cell) + `);
		const v = c.editor.view; v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: ` + jsString(text) + ` } }); return true; })()`
}

// TestBrowserProblemsOnTheCell: a half-written cell does not stop ▶ Run on
// another; its problem shows under it as it is typed, named by the cell
// (never by the file behind it) with its spot marked in the editor, and
// goes away once fixed; a run that needs the broken cell says which cell
// and line stop it.
func TestBrowserProblemsOnTheCell(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	fs := s.flow("lint", "Lint", ada,
		engine.Cell{Name: "fine", Kind: engine.KindExpr, Source: "40 + 2"},
		engine.Cell{Name: "bad", Kind: engine.KindExpr, Source: ""},
		engine.Cell{Name: "report", Kind: engine.KindShell, Source: "echo ok\n"},
	)
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/lint", cellSel("bad", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	// Typed: the problem appears on the cell, its spot marked.
	b.typeInto("bad", "cells.nonexistent.value + 1")
	b.wait("the problem under cell bad", problemsOf("bad")+`.includes('cell bad, line 1, column 1: unknown cell "nonexistent"')`)
	if got := eval[string](b, jsCell("bad", ".cm-problem")+`?.textContent ?? ''`); got != "cells.nonexistent.value" {
		t.Errorf("the marked spot in cell bad is %q, want cells.nonexistent.value%s", got, b.state())
	}
	if !eval[bool](b, jsCell("bad", ".cm-line.cm-problem-line")+` !== null`) {
		t.Errorf("the line of the problem is not marked%s", b.state())
	}
	if got := eval[string](b, problemsOf("fine")+` + `+problemsOf("report")); got != "" {
		t.Errorf("cells without problems show %q", got)
	}

	// ▶ Run on the fine cell runs, the other one's problem notwithstanding.
	b.do("run cell fine", chromedp.Click(chromedp.CSS(cellSel("fine", `[data-action="run-cell"]`))))
	b.wait("cell fine's 42", statusIs("fine", "succeeded")+` && `+outputHas("fine", "42"))
	if run := s.lastRun(fs.ID); run.Status != engine.RunSucceeded {
		t.Fatalf("the run of cell fine ended %s: %s", run.Status, run.Error)
	}
	errorToasts := `[...document.querySelectorAll('#toasts .toast-error')].map((n) => n.textContent).join('\n')`
	if got := eval[string](b, errorToasts); got != "" {
		t.Errorf("running cell fine showed the error %q", got)
	}

	// A refused placeholder: named by its cell, at its line and column.
	eval[bool](b, setText("report", "echo ok\necho 'id {{ run.id }}'\n"))
	b.wait("the placeholder's problem under cell report", problemsOf("report")+`.includes('cell report, line 2, column 10: a placeholder inside')`)
	if got := eval[string](b, jsCell("report", ".cm-problem")+`?.dataset.problemAt ?? ''`); got != "2:10" {
		t.Errorf("the marked spot in cell report is at %q, want 2:10%s", got, b.state())
	}
	if got := eval[string](b, jsCell("report", ".cm-problem")+`?.textContent ?? ''`); got != "{{ run.id }}" {
		t.Errorf("the marked spot in cell report is %q, want the placeholder {{ run.id }}%s", got, b.state())
	}

	// Run all needs every cell: refused, saying which cell and where.
	b.do("run all", chromedp.Click(chromedp.CSS(`.toolbar [data-action="run-all"]`)))
	b.wait("the refusal naming the cell", errorToasts+`.includes('cell bad, line 1, column 1: unknown cell')`)
	if got := eval[string](b, `document.body.innerText`); strings.Contains(got, "bad.expr") || strings.Contains(got, "report.sh") {
		t.Errorf("the page names a file the studio does not show:\n%.2000s", got)
	}

	// Fixed: the problems go.
	eval[bool](b, setText("bad", "cells.fine.value + 1"))
	eval[bool](b, setText("report", "echo ok\necho \"id {{ run.id }}\"\n"))
	b.wait("no problem left", jsCell("bad", "[data-problems]")+` === null && `+jsCell("report", "[data-problems]")+` === null && document.querySelector('.cm-problem') === null`)

	// A cell that fails as it runs, at a spot in its source: the error says
	// the line and column, and the spot is marked.
	eval[bool](b, setText("bad", "\n  cells.fine.value.x.y"))
	b.wait("the text stored", `!document.querySelector('#notebook').notebook.cellByName('bad').inflight && document.querySelector('#notebook').notebook.cellByName('bad').editor.sendable().length === 0`)
	b.do("run cell bad", chromedp.Click(chromedp.CSS(cellSel("bad", `[data-action="run-cell"]`))))
	b.wait("cell bad failed at line 2", statusIs("bad", "failed")+` && `+outputHas("bad", "line 2, column 20: "))
	b.wait("the failing spot marked", jsCell("bad", ".cm-problem")+`?.dataset.problemAt === '2:20'`)
	if got := eval[string](b, jsCell("bad", ".cm-problem")+`.textContent`); got != "x.y" {
		t.Errorf("the failing spot marked is %q, want x.y%s", got, b.state())
	}
	if eval[bool](b, outputHas("bad", "bad.expr")) {
		t.Errorf("the cell's error names its file%s", b.state())
	}
}

// TestBrowserOptionProblemsAtTheField: a problem in a cell's options (its
// `if:` expression, an `env:` value) has no spot in the editor, so the
// notebook shows it at that option's field in the options panel, counts it
// on the Options button, and clears it once the option is fixed.
func TestBrowserOptionProblemsAtTheField(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	s.flow("opts", "Options", ada,
		engine.Cell{Name: "total", Kind: engine.KindExpr, Source: "42\n"},
		engine.Cell{Name: "cond", Kind: engine.KindExpr, Source: "1\n", If: "cells.nope.value > 1"},
		engine.Cell{Name: "envs", Kind: engine.KindShell, Source: "echo \"$DAY\"\n", Env: []engine.EnvVar{{Name: "DAY", Value: "{{ inputs.day }}"}}},
	)
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/opts", cellSel("cond", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	at := func(cell, option string) string {
		return `(` + jsCell(cell, `[data-options] [data-problem-for="`+option+`"]`) + `?.textContent ?? '')`
	}
	optionsBtn := func(cell string) string { return jsCell(cell, `[data-action="options"]`) }
	b.wait("the Options buttons counting the problems", optionsBtn("cond")+`?.dataset.optionProblems === '1' && `+optionsBtn("envs")+`?.dataset.optionProblems === '1'`)
	if got := eval[string](b, optionsBtn("total")+`.dataset.optionProblems ?? ''`); got != "" {
		t.Errorf("the Options button of a cell without problems says %q", got)
	}
	// The list under the editor still names them, and the button stays a button.
	if got := eval[string](b, problemsOf("cond")); !strings.Contains(got, `cell cond, option if: unknown cell "nope"`) {
		t.Errorf("the problems under cond's editor: %q", got)
	}
	if got := eval[string](b, `document.querySelector(`+jsString(cellSel("cond", "[data-problems]"))+`).tagName + ' ' + `+optionsBtn("cond")+`.textContent`); got != "UL Options" {
		t.Errorf("the problems list and the Options button: %q, want UL Options", got)
	}

	b.do("open cond's options", chromedp.Click(chromedp.CSS(cellSel("cond", `[data-action="options"]`))))
	b.wait("the if problem at its field", at("cond", "if")+`.includes('unknown cell "nope"')`)
	if got := eval[string](b, at("cond", "env")+` + `+at("cond", "needs")); got != "" {
		t.Errorf("other fields of cond's options show %q", got)
	}
	if got := eval[string](b, jsCell("cond", `[data-options] input[name="if"]`)+`.getAttribute('aria-invalid')`); got != "true" {
		t.Errorf("the if field's aria-invalid = %q, want true", got)
	}
	b.do("open envs' options", chromedp.Click(chromedp.CSS(cellSel("envs", `[data-action="options"]`))))
	b.wait("the env problem at its field", at("envs", "env")+`.includes('unknown input "day"')`)
	if got := eval[string](b, at("envs", "if")); got != "" {
		t.Errorf("the if field of envs shows %q", got)
	}

	// Fixed in the panel: the problem leaves the field and the button.
	b.do("fix the if", chromedp.SetValue(chromedp.CSS(cellSel("cond", `[data-options] input[name="if"]`)), "cells.total.value > 1"))
	b.do("apply", chromedp.Click(chromedp.CSS(cellSel("cond", `[data-options] button[type="submit"]`))))
	b.wait("the if problem gone", at("cond", "if")+` === '' && `+optionsBtn("cond")+`.dataset.optionProblems === undefined`)
	if got := eval[string](b, at("envs", "env")); !strings.Contains(got, `unknown input "day"`) {
		t.Errorf("the env problem of envs went with cond's fix: %q", got)
	}
}
