package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
)

// plainFlow is a flow as a support lead would get it as a form: labelled
// inputs, a note, a step that only logs (a very long line), a wide table.
func plainFlow() *engine.Flow {
	var row []string
	for i := range 8 {
		row = append(row, `"a_rather_long_column_name_`+strconv.Itoa(i)+`": "a-value-with-no-space-to-break-at-`+strings.Repeat("x", 30)+`"`)
	}
	return &engine.Flow{Name: "Refund a customer", Description: "Refunds an order and tells its owner.", Inputs: []engine.Input{
		{Name: "owner_email", Type: engine.InputString, Required: true, Label: "Owner's e-mail", Description: "Who is told about the refund", Placeholder: "ana@example.com"},
		{Name: "urgent", Type: engine.InputBoolean, Label: "Urgent"},
		{Name: "note", Type: engine.InputString},
	}, Cells: []engine.Cell{
		{Name: "intro", Kind: engine.KindMarkdown, File: "intro.md", Source: "# Refund\n\nThe order is refunded in full.\n"},
		{Name: "load_orders", Kind: engine.KindShell, File: "load_orders.sh", Source: "printf 'y%.0s' $(seq 1 500); echo\n"},
		{Name: "orders", Kind: engine.KindExpr, File: "orders.expr", Source: "[{" + strings.Join(row, ", ") + "}]\n"},
	}}
}

// fitsPhone fails when the page scrolls sideways at the phone's width.
func fitsPhone(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	must(t, err)
	if w > 390 {
		wide := evalStr(t, ctx, `[...document.querySelectorAll('body *')].filter((n) => n.getBoundingClientRect().right > 391).slice(0, 5).map((n) => n.tagName + '.' + n.className + ' ' + Math.round(n.getBoundingClientRect().right)).join('; ')`)
		t.Errorf("%s is %d px wide on a 390 px phone; too wide: %s", what, w, wide)
	}
}

// TestBrowserPlainPhone: the form, its result page and a share page fit a
// 390 px phone (a long hash, long values, a wide table, a long log line);
// the result page speaks plainly (labels, one sentence, no run id, no
// kinds, details folded) and offers Run again, which reopens the form
// filled as before.
func TestBrowserPlainPhone(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("refund", plainFlow())
	out := f.apiJSON("editor", "POST", "/api/v1/flows/refund/forms", `{}`, http.StatusCreated)
	b := browser(t)
	p := private(t, b)
	must(t, chromedp.Do(p, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)))

	// The form: labels, placeholder, help, a required marker.
	must(t, chromedp.Do(p, chromedp.Navigate(out["url"].(string)), chromedp.WaitVisible(chromedp.CSS(`form.run-form`))))
	fitsPhone(t, p, "the form")
	if got := evalStr(t, p, `document.querySelector('label[for="in-owner_email"]').textContent.trim()`); !strings.HasPrefix(got, "Owner's e-mail") || !strings.HasSuffix(got, "*") {
		t.Errorf("label of owner_email = %q", got)
	}
	if got := evalStr(t, p, `document.querySelector('#in-owner_email').placeholder + '|' + document.querySelector('#in-owner_email').required + '|' + document.querySelector('#help-owner_email').textContent`); got != "ana@example.com|true|Who is told about the refund" {
		t.Errorf("owner_email placeholder|required|help = %q", got)
	}
	text := evalStr(t, p, `document.querySelector('main').innerText`)
	if strings.Contains(text, "owner_email") || strings.Contains(text, "(required)") {
		t.Errorf("the form shows raw names:\n%s", text)
	}
	if !strings.Contains(text, "note") {
		t.Errorf("an input without a label is not shown by its name:\n%s", text)
	}

	email := "someone.with.a.very.long.address." + strings.Repeat("z", 120) + "@example.com"
	must(t, chromedp.Do(p,
		chromedp.SetValue(chromedp.CSS(`#in-owner_email`), email),
		chromedp.Click(chromedp.CSS(`#in-urgent`)),
		chromedp.Click(chromedp.CSS(`button[data-action="run-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main#run`)),
	))
	waitJS(t, p, `document.querySelector('main#run').dataset.status === 'succeeded'`, 30*time.Second)
	waitJS(t, p, `document.querySelector('[data-run-sentence]').textContent.startsWith('Finished')`, 5*time.Second)
	fitsPhone(t, p, "the form's result page")
	runID := evalStr(t, p, `document.querySelector('main#run').dataset.run`)

	// Plain: the sentence, what was asked by label, the results; no run id,
	// no kinds, no hash outside the folded details.
	if got := evalStr(t, p, `document.querySelector('[data-run-sentence]').textContent`); !strings.HasPrefix(got, "Finished in ") || !strings.HasSuffix(got, " — all 3 steps succeeded.") {
		t.Errorf("sentence = %q", got)
	}
	if got := evalStr(t, p, `document.querySelector('[data-flow-description]').textContent`); got != "Refunds an order and tells its owner." {
		t.Errorf("description = %q", got)
	}
	asked := evalStr(t, p, `document.querySelector('[data-asked]').innerText`)
	for _, want := range []string{"Owner's e-mail", email, "Urgent", "Yes"} {
		if !strings.Contains(asked, want) {
			t.Errorf("What was asked lacks %q:\n%s", want, asked)
		}
	}
	visible := evalStr(t, p, `(() => { const m = document.querySelector('main').cloneNode(true); m.querySelector('[data-run-details]').remove(); m.querySelectorAll('[hidden]').forEach((n) => n.remove()); return m.textContent; })()`)
	for _, bad := range []string{runID, "draft", "shell", "expr", "markdown", "trigger", "owner_email"} {
		if strings.Contains(visible, bad) {
			t.Errorf("the plain page shows %q outside its details:\n%s", bad, visible)
		}
	}
	if got := evalStr(t, p, `[...document.querySelectorAll('main > section[data-cell]')].map((s) => s.dataset.cell).join(',')`); got != "intro,orders" {
		t.Errorf("results shown = %q; want the prose and the table, the log folded away", got)
	}
	if got := evalStr(t, p, `String(document.querySelector('[data-run-details]').open) + ' ' + String(!!document.querySelector('[data-run-details] section[data-cell="load_orders"]')) + ' ' + String(!!document.querySelector('[data-run-details] [data-timeline]'))`); got != "false true true" {
		t.Errorf("details open, log step and timeline inside = %q", got)
	}
	// Unfolded, the details fit too: the hash wraps, the log line scrolls in its box.
	must(t, chromedp.Do(p, chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-run-details]').open = true`)))
	if h := evalStr(t, p, `document.querySelector('[data-run-details] .hash').textContent`); len(h) != 64 {
		t.Errorf("hash = %q", h)
	}
	fitsPhone(t, p, "the result page with its details open")

	// Run again: the form, filled as before.
	must(t, chromedp.Do(p,
		chromedp.Click(chromedp.CSS(`button[data-action="run-again"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.run-form`)),
	))
	if got := evalStr(t, p, `document.querySelector('#in-owner_email').value + '|' + document.querySelector('#in-urgent').checked`); got != email+"|true" {
		t.Errorf("Run again filled %q", got)
	}
	fitsPhone(t, p, "the refilled form")

	// A run link shared from the studio: plain too, and no Run again.
	_, path := f.shareRun(runID, false)
	q := private(t, b)
	must(t, chromedp.Do(q, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(f.ts.URL+path), chromedp.WaitVisible(chromedp.CSS(`main#run`))))
	must(t, chromedp.Do(q, chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-run-details]').open = true`)))
	fitsPhone(t, q, "a share page")
	if n := evalStr(t, q, `String(document.querySelectorAll('[data-run-again]').length)`); n != "0" {
		t.Errorf("a share link made in the studio offers Run again")
	}
}

// TestBrowserInputLabelPanel: the notebook's inputs panel edits an input's
// label and placeholder; they are stored in the draft, shown again after a
// reload, and the Run dialog uses them.
func TestBrowserInputLabelPanel(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	fs := s.flow("refund", "Refund", ada, engine.Cell{Name: "show", Kind: engine.KindExpr, Source: "inputs.owner_email\n"})
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/refund", `#notebook[data-flow="refund"]`)
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	b.do("add an input",
		chromedp.Click(chromedp.CSS(`details.flow-settings > summary`)),
		chromedp.Click(chromedp.CSS(`[data-action="add-input"]`)),
		chromedp.SetValue(chromedp.CSS(`[data-inputs-rows] tr:last-child [data-in="name"]`), "owner_email"),
		chromedp.SetValue(chromedp.CSS(`[data-inputs-rows] tr:last-child [data-in="label"]`), "Owner's e-mail"),
		chromedp.SetValue(chromedp.CSS(`[data-inputs-rows] tr:last-child [data-in="placeholder"]`), "ana@example.com"),
		chromedp.Click(chromedp.CSS(`[data-flow-form] button[type="submit"]`)),
	)
	var got engine.Input
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		d, err := s.st.Draft(context.Background(), fs.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Flow.Inputs) == 1 {
			got = d.Flow.Inputs[0]
			break
		}
		if time.Now().After(end) {
			t.Fatal("the input was not stored")
		}
	}
	if got.Name != "owner_email" || got.Label != "Owner's e-mail" || got.Placeholder != "ana@example.com" {
		t.Fatalf("stored input = %+v", got)
	}
	b.open("/w/acme/flows/refund", `#notebook[data-flow="refund"]`)
	if v := eval[string](b, `(() => { const i = JSON.parse(document.getElementById('draft').textContent).inputs[0]; return i.label + '|' + i.placeholder; })()`); v != "Owner's e-mail|ana@example.com" {
		t.Errorf("the page's draft gives label|placeholder %q", v)
	}
	b.wait("the panel after a reload", `document.querySelector('[data-inputs-rows] [data-in="label"]')?.value === "Owner's e-mail"`)
	b.do("open the Run dialog", chromedp.Click(chromedp.CSS(`.toolbar [data-action="run-all"]`)))
	b.wait("the Run dialog", `document.querySelector('#run-dialog [name="owner_email"]') !== null`)
	if v := eval[string](b, `document.querySelector('#run-dialog [name="owner_email"]').placeholder + '|' + document.querySelector('#run-dialog').innerText.includes("Owner's e-mail")`); v != "ana@example.com|true" {
		t.Errorf("the Run dialog's field: %q", v)
	}
}
