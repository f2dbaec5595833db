package server

import (
	"net/http"
	"strings"
	"testing"
)

// formPath makes a form link of a flow and returns its path.
func (f *fixture) formPath(slug string) string {
	f.t.Helper()
	out := f.apiJSON("editor", "POST", "/api/v1/flows/"+slug+"/forms", `{}`, http.StatusCreated)
	u := out["url"].(string)
	return u[strings.Index(u, "/s/"):]
}

// TestFormRunPlain: a form's run says where it came from in run lists and
// on its page (not "a trigger"); its result page offers Run again only to
// the browser that sent the form, as a link to that form filled with what
// was asked; a form link prefills declared inputs from its query only.
func TestFormRunPlain(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("double", formFlow())
	form := f.formPath("double")

	resp := f.do("", "POST", form, "in.n=21&in.note=hello")
	body(t, resp, http.StatusSeeOther)
	result := resp.Header.Get("Location")
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == formCookie {
			cookie = c
		}
	}
	if cookie == nil || cookie.Path != result || !cookie.HttpOnly || cookie.Value != strings.TrimPrefix(form, "/s/") {
		t.Fatalf("form cookie = %+v; want the form's token, HttpOnly, for %s only", cookie, result)
	}
	runs, _ := f.st.RunsOfFlow(t.Context(), mustFlow(t, f, "double"), 10)
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	f.waitRun(runs[0].ID)

	list := body(t, f.do("viewer", "GET", "/w/"+f.ws.Slug+"/runs", ""), http.StatusOK)
	row := find(parseHTML(t, list), byAttr("data-run", runs[0].ID))
	if row == nil || !strings.Contains(textOf(row), "started from a form link") || strings.Contains(textOf(row), "a trigger") {
		t.Errorf("the run list's row of a form run: %q", textOf(row))
	}
	page := body(t, f.do("viewer", "GET", "/runs/"+runs[0].ID, ""), http.StatusOK)
	if !strings.Contains(page, "Someone with a form link") || strings.Contains(page, "a trigger") {
		t.Error("the run page does not say the run came from a form link")
	}

	// Without the cookie (a forwarded link): no Run again.
	page = body(t, f.do("", "GET", result, ""), http.StatusOK)
	if strings.Contains(page, "data-run-again") {
		t.Error("a result page offers Run again to a browser that did not send the form")
	}
	// A cookie naming a form of another flow: none either.
	f.addFlow("other", formFlow())
	other := f.formPath("other")
	page = body(t, f.do("", "GET", result, "", "Cookie", formCookie+"="+strings.TrimPrefix(other, "/s/")), http.StatusOK)
	if strings.Contains(page, "data-run-again") {
		t.Error("Run again leads to a form of another flow")
	}
	// The browser that sent it: Run again, the form with what was asked.
	doc := parseHTML(t, body(t, f.do("", "GET", result, "", "Cookie", formCookie+"="+cookie.Value), http.StatusOK))
	again := find(doc, byAttr("data-run-again", ""))
	if again == nil {
		t.Fatal("no Run again for the browser that sent the form")
	}
	if a, _ := attr(again, "action"); a != form {
		t.Errorf("Run again goes to %q, want %q", a, form)
	}
	for name, want := range map[string]string{"in.n": "21", "in.note": "hello", "in.loud": "false"} {
		if v, _ := attr(find(again, byAttr("name", name)), "value"); v != want {
			t.Errorf("Run again sends %s=%q, want %q", name, v, want)
		}
	}
	doc = parseHTML(t, body(t, f.do("", "GET", form+"?in.n=21&in.note=hello&in.admin=1&in.loud=true", ""), http.StatusOK))
	if v, _ := attr(find(doc, byAttr("name", "in.n")), "value"); v != "21" {
		t.Errorf("prefilled n = %q", v)
	}
	if _, checked := attr(find(doc, byAttr("name", "in.loud")), "checked"); !checked {
		t.Error("prefilled loud is not ticked")
	}
	if find(doc, byAttr("name", "in.admin")) != nil {
		t.Error("an undeclared input was prefilled")
	}
}

// TestFormArchived: an archived flow's form link says so and offers no
// Run; sending it anyway starts nothing.
func TestFormArchived(t *testing.T) {
	f := setup(t, testDB)
	fs := f.addFlow("double", formFlow())
	form := f.formPath("double")
	if err := f.st.ArchiveFlow(t.Context(), fs.ID); err != nil {
		t.Fatal(err)
	}
	page := body(t, f.do("", "GET", form, ""), http.StatusOK)
	if !strings.Contains(page, "data-archived") || strings.Contains(page, `data-action="run-form"`) || strings.Contains(page, `name="in.n"`) {
		t.Errorf("an archived flow's form:\n%.3000s", page)
	}
	page = body(t, f.do("", "POST", form, "in.n=2"), http.StatusConflict)
	if !strings.Contains(page, "archived") {
		t.Errorf("POST to an archived flow's form:\n%.3000s", page)
	}
	runs, _ := f.st.RunsOfFlow(t.Context(), fs.ID, 10)
	if len(runs) != 0 {
		t.Fatalf("%d runs of an archived flow", len(runs))
	}
}
