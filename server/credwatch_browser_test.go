package server

import (
	"context"
	"net/url"
	"testing"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
)

// TestBrowserSignedOutElsewhere: signing out in one browser tab ends the
// notebook socket of that session in another; the page says why, offers a
// reload, and does not reconnect.
func TestBrowserSignedOutElsewhere(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, adaTok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	s.flow("shared", "Shared", ada, engine.Cell{Name: "hi", Kind: engine.KindShell, Source: "echo hi\n"})
	b := newBrowser(t, s)
	b.signIn(adaTok)
	b.open("/w/acme/flows/shared", cellSel("hi", ".cm-content"))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	// The same session signs out (another tab of this browser).
	if err := s.st.DeleteSession(context.Background(), account.TokenHash(adaTok)); err != nil {
		t.Fatal(err)
	}
	b.wait("the reason, shown", `document.querySelector('[data-ended]')?.textContent.includes(`+jsString(reasonSignedOut)+`)`)
	b.wait("no reconnecting", `document.querySelector('[data-conn]')?.dataset.conn === 'done'`)
	if href := eval[string](b, `document.querySelector('[data-ended] a').getAttribute('href')`); href != s.url+"/w/acme/flows/shared" {
		if u, err := url.Parse(href); err != nil || u.Path != "/w/acme/flows/shared" {
			t.Errorf("the reload link goes to %q", href)
		}
	}
}
