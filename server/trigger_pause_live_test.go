package server

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
)

// TestBrowserPauseLive: two editors have a flow's notebook open with its
// Schedule panel; when one pauses the trigger (a form post), the other's
// panel shows it paused, and offers Resume, without a reload; and back
// again when it is resumed.
func TestBrowserPauseLive(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, adaTok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	_, bobTok := s.member("bob", "Bob Builder", engine.RoleEditor)
	fl := &engine.Flow{Name: "Nightly", Triggers: []engine.Trigger{{Cron: "0 6 * * *"}}, Cells: []engine.Cell{
		{Name: "hi", Kind: engine.KindShell, File: "hi.sh", Source: "echo hi\n"},
	}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.CreateFlow(context.Background(), s.ws.ID, "nightly", fl, ada.ID, storeFiles(files), flow.Hash(fl)); err != nil {
		t.Fatal(err)
	}
	a := newBrowser(t, s)
	a.signIn(adaTok)
	b := a.another(true)
	b.signIn(bobTok)
	row := `[data-trigger="cron 0 6 * * * UTC"]`
	for _, tb := range []*tab{a, b} {
		tb.open("/w/acme/flows/nightly", `#notebook[data-flow="nightly"]`)
		tb.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
		tb.do("open the schedule", chromedp.Click(chromedp.CSS(`#schedule > summary`)))
		tb.wait("the trigger active", `document.querySelector('`+row+`')?.dataset.paused === 'false'`)
	}
	// A mark on Bob's page that a reload would wipe.
	eval[bool](b, `(window.notReloaded = true)`)

	a.submit(row + ` button[data-trigger-pause="pause"]`)
	b.wait("paused in Bob's tab", `document.querySelector('`+row+`')?.dataset.paused === 'true' && !!document.querySelector('`+row+` button[data-trigger-pause="resume"]') && document.querySelector('`+row+` [data-trigger-state]').textContent === 'Paused'`)
	a.wait("Ada's notebook back", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	a.submit(row + ` button[data-trigger-pause="resume"]`)
	b.wait("active again in Bob's tab", `document.querySelector('`+row+`')?.dataset.paused === 'false' && !!document.querySelector('`+row+` button[data-trigger-pause="pause"]')`)
	if !eval[bool](b, `window.notReloaded === true`) {
		t.Errorf("Bob's page was reloaded%s", b.state())
	}
}
