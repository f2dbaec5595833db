package server

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// TestBrowserNotebookFormAndNotify: an editor changes an approval cell's
// form in its Options panel (a label, a new input) and the flow's
// notifications in the flow settings (a destination, two events), and the
// draft has both; a viewer sees them and cannot change them.
func TestBrowserNotebookFormAndNotify(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ctx := context.Background()
	if _, err := s.st.CreateDestination(ctx, store.Destination{WorkspaceID: s.ws.ID, Name: "ops", Kind: store.DestWebhook, SecretName: "OPS_HOOK", Format: store.FormatGeneric, Events: []engine.NotifyEvent{engine.NotifyFailed}}); err != nil {
		t.Fatal(err)
	}
	ada, adaTok := s.member("ada", "Ada Lovelace", engine.RoleEditor)
	_, vicTok := s.member("vic", "Vic Viewer", engine.RoleViewer)
	fl := s.flow("gate", "Gate", ada,
		engine.Cell{Name: "first", Kind: engine.KindShell, Source: "echo 1\n"},
		engine.Cell{Name: "approve", Kind: engine.KindApproval, Source: "Go on?\n", Approvers: []string{"editor"}, Inputs: []engine.Input{{Name: "ticket", Required: true}}})
	b := newBrowser(t, s)
	b.signIn(adaTok)
	b.open("/w/acme/flows/gate", cellSel("approve", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	// The approval cell's form.
	b.do("open the options", chromedp.Click(chromedp.CSS(cellSel("approve", `[data-action="options"]`))))
	row := func(n int, key string) string {
		return cellSel("approve", `[data-approval-form] [data-inputs-rows] tr:nth-child(`+itoa(n)+`) [data-in="`+key+`"]`)
	}
	b.wait("the form's ticket input", `document.querySelector(`+jsString(row(1, "name"))+`)?.value === 'ticket'`)
	b.do("label the ticket, add a number input",
		chromedp.SetValue(chromedp.CSS(row(1, "label")), "Change ticket"),
		chromedp.Click(chromedp.CSS(cellSel("approve", `[data-approval-form] [data-action="add-input"]`))),
		chromedp.SetValue(chromedp.CSS(row(2, "name")), "hosts"),
		chromedp.SetValue(chromedp.CSS(row(2, "type")), "number"),
		chromedp.SetValue(chromedp.CSS(row(2, "default")), "3"),
		chromedp.Click(chromedp.CSS(cellSel("approve", `[data-options] button[type="submit"]`))),
	)
	wantForm := []engine.Input{{Name: "ticket", Label: "Change ticket", Required: true}, {Name: "hosts", Type: engine.InputNumber, Default: int64(3)}}

	// The flow's notifications.
	b.do("open the flow settings", chromedp.Click(chromedp.CSS(`details.flow-settings:not(#schedule) > summary`)))
	// The destination field offers the workspace's destinations.
	b.do("add a destination", chromedp.Click(chromedp.CSS(`[data-flow-form] [data-action="add-notify"]`)))
	if got := eval[[]string](b, `[...(document.querySelector('[data-notify-rows] tr:nth-child(1) [data-notify="to"]')?.list?.options ?? [])].map((o) => o.value)`); !reflect.DeepEqual(got, []string{"ops"}) {
		t.Errorf("the destination field offers %q, want [ops]%s", got, b.state())
	}
	if hint := eval[string](b, `document.querySelector('[data-flow-form] [data-notify-known]')?.textContent ?? ''`); !strings.Contains(hint, "destinations: ops.") {
		t.Errorf("the flow settings name the destinations as %q, want ops", hint)
	}
	b.do("ops on failed and waiting",
		chromedp.SetValue(chromedp.CSS(`[data-notify-rows] tr:nth-child(1) [data-notify="to"]`), "ops"),
		chromedp.Click(chromedp.CSS(`[data-notify-rows] tr:nth-child(1) [data-notify-on="failed"]`)),
		chromedp.Click(chromedp.CSS(`[data-notify-rows] tr:nth-child(1) [data-notify-on="waiting"]`)),
		chromedp.Click(chromedp.CSS(`[data-flow-form] button[type="submit"]`)),
	)
	wantNotify := []engine.Notify{{To: "ops", On: []engine.NotifyEvent{engine.NotifyFailed, engine.NotifyWaiting}}}

	var d store.Draft
	for deadline := time.Now().Add(browserWait); ; {
		var err error
		d, err = s.st.Draft(ctx, fl.ID)
		if err == nil && reflect.DeepEqual(d.Flow.Cells[1].Inputs, wantForm) && reflect.DeepEqual(d.Flow.Notify, wantNotify) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the draft has the form %+v and notify %+v; want %+v and %+v%s", d.Flow.Cells[1].Inputs, d.Flow.Notify, wantForm, wantNotify, b.state())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A viewer sees both, read-only, with nothing to apply.
	v := b.another(true)
	v.signIn(vicTok)
	v.open("/w/acme/flows/gate", cellSel("approve", ".cm-content"))
	v.wait("the viewer's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	v.do("open the options", chromedp.Click(chromedp.CSS(cellSel("approve", `[data-action="options"]`))))
	v.wait("the form, read-only", `document.querySelector(`+jsString(row(1, "label"))+`)?.value === 'Change ticket' && document.querySelector(`+jsString(row(1, "label"))+`).readOnly && !document.querySelector(`+jsString(cellSel("approve", `[data-approval-form] [data-action="add-input"]`))+`) && !document.querySelector(`+jsString(cellSel("approve", `[data-options] button[type="submit"]`))+`)`)
	if n := eval[int](v, `document.querySelectorAll('#notify-destinations option').length`); n != 0 {
		t.Errorf("a viewer's page lists %d destinations, want none (only editors pick them)", n)
	}
	v.wait("notify, read-only", `document.querySelector('[data-notify-rows] [data-notify="to"]')?.value === 'ops' && document.querySelector('[data-notify-rows] [data-notify="to"]').readOnly && document.querySelector('[data-notify-rows] [data-notify-on="waiting"]').checked && document.querySelector('[data-notify-rows] [data-notify-on="waiting"]').disabled && !document.querySelector('[data-flow-form] [data-action="add-notify"]')`)
}
