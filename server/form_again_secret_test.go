package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine/secret"
)

// TestFormAgainSecret: an input typed into a form that equals a workspace
// secret is shown masked on the result page, and Run again does not send
// it back as *** (nor the secret): it leaves the field to be typed again,
// and says so; the other inputs are carried as typed.
func TestFormAgainSecret(t *testing.T) {
	f := setup(t, testDB)
	const val = "tok-9f8e7d6c5b4a"
	if _, err := f.st.SetSecret(t.Context(), f.ws.ID, "API_TOKEN", f.srv.box.Seal(val, secret.Context(f.ws.ID, "API_TOKEN")), ""); err != nil {
		t.Fatal(err)
	}
	f.addFlow("double", formFlow())
	form := f.formPath("double")
	resp := f.do("", "POST", form, "in.n=21&in.note="+val)
	body(t, resp, http.StatusSeeOther)
	result := resp.Header.Get("Location")
	runs, _ := f.st.RunsOfFlow(t.Context(), mustFlow(t, f, "double"), 10)
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	f.waitRun(runs[0].ID)

	page := body(t, f.do("", "GET", result, "", "Cookie", formCookie+"="+strings.TrimPrefix(form, "/s/")), http.StatusOK)
	if strings.Contains(page, val) {
		t.Fatal("the result page shows the secret")
	}
	doc := parseHTML(t, page)
	again := find(doc, byAttr("data-run-again", ""))
	if again == nil {
		t.Fatal("no Run again for the browser that sent the form")
	}
	if n := find(again, byAttr("name", "in.note")); n != nil {
		v, _ := attr(n, "value")
		t.Errorf("Run again sends in.note=%q; want it left out", v)
	}
	if v, _ := attr(find(again, byAttr("name", "in.n")), "value"); v != "21" {
		t.Errorf("Run again sends in.n=%q; want 21", v)
	}
	if note := find(again, byAttr("data-run-again-masked", "")); note == nil || !strings.Contains(textOf(note), "Type note again") {
		t.Errorf("Run again does not say which input to type again")
	}
}
