package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// saveFromDialog saves a version from the notebook's dialog, as a person
// does with the toolbar's button.
func (b *tab) saveFromDialog(message string) {
	b.t.Helper()
	b.do("open the save dialog", chromedp.Click(chromedp.CSS(`[data-action="save-version"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#version-dialog input[name="message"]`)),
		chromedp.SendKeys(chromedp.CSS(`#version-dialog input[name="message"]`), message),
		chromedp.Click(chromedp.CSS(`#version-dialog button[type="submit"]`)))
}

// chipIs is a JavaScript condition: the notebook's git chip shows status.
func chipIs(status string) string {
	return `document.querySelector('.flow-head [data-git-status]')?.dataset.gitStatus === ` + jsString(status)
}

// toastHas is a JavaScript condition: a toast on the page contains text.
func toastHas(text string) string {
	return `[...document.querySelectorAll('#toasts .toast')].some((t) => t.textContent.includes(` + jsString(text) + `))`
}

// TestBrowserGitSaveConflict: a save whose push hits a conflict says so
// in its toast and turns the git chip to "conflict" at once, in the tab
// that saved and in another tab with the notebook open, with no reload; a
// save that commits says it was pushed and shows "in sync".
func TestBrowserGitSaveConflict(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada", engine.RoleEditor)
	fs := s.flow("hello", "Hello", ada, engine.Cell{Name: "greet", Kind: engine.KindShell, Source: "echo hi\n"})
	remote := bareRepo(t)
	if err := s.st.SetGitSettings(context.Background(), store.GitSettings{WorkspaceID: s.ws.ID, Remote: remote, Branch: "main"}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, s)
	b.signIn(tok)
	const live = `document.querySelector('[data-conn]')?.dataset.conn === 'open'`
	b.open("/w/acme/flows/hello", "[data-conn]")
	b.wait("the notebook's socket", live)
	other := b.another(false)
	other.open("/w/acme/flows/hello", "[data-conn]")
	other.wait("the other tab's socket", live)

	b.typeInto("greet", "# first ")
	b.saveFromDialog("Into git")
	b.wait("the toast says the version was pushed", toastHas("Saved v2 and pushed it to git"))
	b.wait("the chip shows in sync", chipIs("in_sync"))
	other.wait("the other tab's chip shows in sync", chipIs("in_sync"))

	// Someone changes the flow in git meanwhile.
	eve := cloneOf(t, remote)
	eve.write("hello/greet.sh", "echo from git\n")
	eve.commitPush("Eve's greeting")

	b.typeInto("greet", "# second ")
	deadline := time.Now().Add(browserWait)
	for !strings.Contains(s.source(fs.ID, "greet"), "# second") {
		if time.Now().After(deadline) {
			t.Fatalf("the edit was not stored: %q", s.source(fs.ID, "greet"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.saveFromDialog("Ours")
	b.wait("the toast says the save hit a conflict", toastHas("Saved v3 here, but not in git")+` && `+toastHas("conflict"))
	if eval[bool](b, toastHas("Saved v3 and pushed")) {
		t.Fatal("the toast says v3 was pushed")
	}
	b.wait("the chip shows the conflict", chipIs("conflict"))
	if href := eval[string](b, `document.querySelector('.flow-head [data-git-status]').getAttribute('href') || ''`); href != "/w/acme/flows/hello/git" {
		t.Fatalf("the conflict chip links to %q, want the compare page", href)
	}
	other.wait("the other tab's chip shows the conflict", chipIs("conflict"))
	if n := s.versions(fs.ID); n != 3 {
		t.Fatalf("versions = %d, want 3", n)
	}
}

// TestBrowserRestoreAsksFirst: with unsaved edits in the draft, restore
// asks before anything is lost, and its first choice saves the draft as a
// version, then restores.
func TestBrowserRestoreAsksFirst(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada", engine.RoleEditor)
	fs := s.flow("hello", "Hello", ada, engine.Cell{Name: "greet", Kind: engine.KindShell, Source: "echo hi\n"})
	ctx := context.Background()
	d, err := s.st.Draft(ctx, fs.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.UpdateCellSource(ctx, fs.ID, d.Cells[0].ID, "echo unsaved work\n", ada.ID); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/hello/versions", `tr[data-version="1"]`)
	b.do("press restore", chromedp.Click(chromedp.CSS(`[data-restore-confirm="1"] summary`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-restore-confirm="1"] [data-restore-save-first]`)))
	if s.source(fs.ID, "greet") != "echo unsaved work\n" {
		t.Fatal("pressing restore replaced the draft before asking")
	}
	b.submit(`[data-restore-confirm="1"] [data-restore-save-first]`)
	b.wait("the notice", `document.querySelector('.notice')?.textContent.includes('Saved the draft as v2 first.')`)
	if got := s.source(fs.ID, "greet"); got != "echo hi\n" {
		t.Fatalf("draft after the restore = %q", got)
	}
	v2, err := s.st.Version(ctx, fs.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	kept := false
	for _, f := range v2.Files {
		kept = kept || strings.Contains(string(f.Data), "echo unsaved work")
	}
	if !kept {
		t.Fatalf("v2 does not hold the unsaved edit: %q", v2.Files)
	}
}

// TestBrowserFirstSaveIsV1: a flow made in the studio has no version; the
// first save says "Saved v1", and saving again with nothing changed says
// so and makes no v2.
func TestBrowserFirstSaveIsV1(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	_, tok := s.member("ada", "Ada", engine.RoleEditor)
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme", `form[action="/w/acme/flows"]`)
	b.do("name the flow", chromedp.SendKeys(chromedp.CSS(`form[action="/w/acme/flows"] input[name="name"]`), "Fresh"))
	b.submit(`form[action="/w/acme/flows"] button[type="submit"]`)
	b.do("the notebook", chromedp.WaitReady(chromedp.CSS(`#notebook[data-flow="fresh"]`)))
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	fs, err := s.st.FlowBySlug(context.Background(), s.ws.ID, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.versions(fs.ID); n != 0 {
		t.Fatalf("a new flow has %d versions, want none", n)
	}
	b.saveFromDialog("First")
	b.wait("the toast says v1", toastHas("Saved v1."))
	b.saveFromDialog("Again")
	b.wait("the toast says nothing changed", toastHas("Nothing changed since v1"))
	if eval[bool](b, toastHas("Saved v2")) {
		t.Fatal("saving unchanged content says Saved v2")
	}
	if n := s.versions(fs.ID); n != 1 {
		t.Fatalf("versions = %d, want 1", n)
	}
}
