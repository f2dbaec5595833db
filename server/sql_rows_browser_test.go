package server

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
)

// TestBrowserSQLRowsOnce: an SQL cell's row count is said once, in its
// log, not again under its table: live in the notebook, and on the run
// page the server renders.
func TestBrowserSQLRowsOnce(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	fs := s.flow("rows", "Rows", ada,
		engine.Cell{Name: "q", Kind: engine.KindSQL, Source: "select 1 as n union all select 2\n"},
	)
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/rows", cellSel("q", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	b.do("run all", chromedp.Click(chromedp.CSS(`.toolbar [data-action="run-all"]`)))
	b.wait("the table", statusIs("q", "succeeded")+` && !!`+jsCell("q", "table.data")+` && `+outputHas("q", "2 rows"))
	count := `(` + jsCell("q", "[data-output]") + `.innerText.match(/2 rows/g) || []).length`
	if n := eval[int](b, count); n != 1 {
		t.Errorf("the notebook says \"2 rows\" %d times; want once%s", n, b.state())
	}
	run := s.lastRun(fs.ID)
	b.open("/runs/"+run.ID, `main#run`)
	b.wait("the run page's table", `!!`+jsCell("q", "table.data"))
	if n := eval[int](b, count); n != 1 {
		t.Errorf("the run page says \"2 rows\" %d times; want once%s", n, b.state())
	}
	if txt := eval[string](b, jsCell("q", "[data-output]")+`.innerText`); !strings.Contains(txt, "2 rows") {
		t.Errorf("the run page's log lacks the count:\n%s", txt)
	}
}
