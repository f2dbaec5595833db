package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
)

// chartBars is a JavaScript expression: how many bars the cell's chart draws.
func chartBars(cell string) string {
	return `document.querySelectorAll(` + jsString(cellSel(cell, "[data-chart]:not([hidden]) .chart-svg rect")) + `).length`
}

// eqMarks is a JavaScript expression: how many "= " marks the cell's result shows.
func eqMarks(cell string) string {
	return `[...document.querySelectorAll(` + jsString(cellSel(cell, ".result .muted")) + `)].filter(e => e.textContent === '= ').length`
}

// TestBrowserNotebookChart: a cell whose result is a series shows the same
// chart in the notebook as on the run page: live, while a later cell still
// runs, and after a reload.
func TestBrowserNotebookChart(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	// The gate is a file in the run's working directory.
	fs := s.flow("sales", "Sales", ada,
		engine.Cell{Name: "sales", Kind: engine.KindExpr, Source: `[{"day": "mon", "total": 3}, {"day": "tue", "total": 5}, {"day": "wed", "total": 4}]` + "\n"},
		engine.Cell{Name: "wait", Kind: engine.KindShell, Source: "echo waiting\nfor i in $(seq 1 300); do [ -f go ] && break; sleep 0.1; done\necho done\n"},
		engine.Cell{Name: "plain", Kind: engine.KindExpr, Source: `"not a series"` + "\n"},
	)
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/sales", cellSel("sales", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	if n := eval[int](b, chartBars("sales")); n != 0 {
		t.Fatalf("a chart of %d bars before any run", n)
	}

	b.do("run all", chromedp.Click(chromedp.CSS(`.toolbar [data-action="run-all"]`)))
	// Live: the chart is drawn from the cell's event while the run goes on.
	b.wait("the chart while the next cell runs", chartBars("sales")+` === 3 && `+statusIs("wait", "running"))
	if title := eval[string](b, jsCell("sales", "[data-chart] svg title")+`?.textContent ?? ''`); title != "Chart of total" {
		t.Errorf("the chart's title is %q, want %q", title, "Chart of total")
	}
	runs, err := s.st.RunsOfFlow(context.Background(), fs.ID, 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("the running run: %v, %v", runs, err)
	}
	if err := os.WriteFile(filepath.Join(s.srv.runs.pool.RunDir(), runs[0].ID, "work", "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b.wait("the run's end", statusIs("plain", "succeeded")+` && `+statusIs("wait", "succeeded"))
	run := s.lastRun(fs.ID)
	if run.Status != engine.RunSucceeded {
		t.Fatalf("the run ended %s (%s)", run.Status, run.Error)
	}
	for _, cell := range []string{"wait", "plain"} {
		if n := eval[int](b, `document.querySelectorAll(`+jsString(cellSel(cell, "[data-chart] svg"))+`).length`); n != 0 {
			t.Errorf("cell %s, whose result is no series, shows %d charts", cell, n)
		}
	}

	// "=" stands before one value, never above a table: live as the server
	// renders it after a reload.
	marks := func(when string) {
		t.Helper()
		for cell, want := range map[string]int{"sales": 0, "plain": 1} {
			if n := eval[int](b, eqMarks(cell)); n != want {
				t.Errorf("%s: cell %s shows %d \"=\" marks, want %d", when, cell, n, want)
			}
		}
	}
	marks("live")

	// After a reload: drawn from the result the server rendered.
	b.do("reload", chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(cellSel("sales", ".cm-content"))))
	b.wait("the chart after a reload", chartBars("sales")+` === 3`)
	marks("after a reload")
	notebook := eval[string](b, jsCell("sales", "[data-chart] svg")+`.outerHTML`)

	// The run page draws the very same chart.
	b.open("/runs/"+run.ID, "#run")
	b.wait("the run page's chart", chartBars("sales")+` === 3`)
	if page := eval[string](b, jsCell("sales", "[data-chart] svg")+`.outerHTML`); page != notebook {
		t.Errorf("the run page's chart differs from the notebook's:\n%s\n%s", page, notebook)
	}

}
