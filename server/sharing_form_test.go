package server

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/opsbook/opsbook/engine"
)

func formFlow() *engine.Flow {
	return &engine.Flow{Name: "Double it", Description: "Doubles a number.", Inputs: []engine.Input{
		{Name: "n", Type: engine.InputNumber, Required: true, Description: "The number to double"},
		{Name: "loud", Type: engine.InputBoolean, Default: false, Description: "Shout the answer"},
		{Name: "day", Type: engine.InputDate, Description: "Any day"},
		{Name: "env", Type: engine.InputSelect, Options: []string{"prod", "dev"}, Default: "dev"},
		{Name: "note", Type: engine.InputString},
	}, Cells: []engine.Cell{
		{Name: "double", Kind: engine.KindExpr, File: "double.expr", Source: "inputs.n * 2\n"},
	}}
}

// fieldMessage is the message shown beside a form's field.
func fieldMessage(doc *html.Node, name string) string {
	field := find(doc, byAttr("data-field", name))
	if field == nil {
		return "<no field>"
	}
	if e := find(field, byAttr("id", "err-"+name)); e != nil {
		return textOf(e)
	}
	return ""
}

func TestRunForm(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("double", formFlow())
	out := f.apiJSON("editor", "POST", "/api/v1/flows/double/forms", `{"runs_per_hour":2}`, http.StatusCreated)
	path := out["url"].(string)[strings.Index(out["url"].(string), "/s/"):]

	page := body(t, f.do("", "GET", path, ""), http.StatusOK)
	doc := parseHTML(t, page)
	for name, typ := range map[string]string{"n": "number", "loud": "checkbox", "day": "date", "note": "text"} {
		in := find(doc, byAttr("name", "in."+name))
		if in == nil || in.Data != "input" {
			t.Fatalf("no input for %s", name)
		}
		if got, _ := attr(in, "type"); got != typ {
			t.Errorf("input %s has type %q, want %q", name, got, typ)
		}
	}
	if sel := find(doc, byAttr("name", "in.env")); sel == nil || sel.Data != "select" || !strings.Contains(render(sel), `<option value="dev" selected="">dev</option>`) {
		t.Errorf("select env: %v", sel)
	}
	if !strings.Contains(page, "The number to double") || !strings.Contains(page, "no version of this flow is published yet") {
		t.Error("the form lacks a description or which version it runs")
	}

	// Wrong types: each message beside its field; nothing runs.
	resp := f.do("", "POST", path, "in.n=three&in.day=31%2F01%2F2025&in.env=qa")
	doc = parseHTML(t, body(t, resp, http.StatusUnprocessableEntity))
	for name, want := range map[string]string{"n": "is not a number", "day": "YYYY-MM-DD", "env": "not one of the options"} {
		if msg := fieldMessage(doc, name); !strings.Contains(msg, want) {
			t.Errorf("field %s: message %q, want it to say %q", name, msg, want)
		}
	}
	if v, _ := attr(find(doc, byAttr("name", "in.n")), "value"); v != "three" {
		t.Errorf("the form forgot what was typed: %q", v)
	}
	// Required and undeclared inputs.
	doc = parseHTML(t, body(t, f.do("", "POST", path, "in.note=x"), http.StatusUnprocessableEntity))
	if msg := fieldMessage(doc, "n"); !strings.Contains(msg, "required") {
		t.Errorf("required n: %q", msg)
	}
	page = body(t, f.do("", "POST", path, "in.n=2&in.admin=true"), http.StatusUnprocessableEntity)
	if !strings.Contains(page, `this form has no input &#34;admin&#34;`) {
		t.Errorf("an undeclared input was not refused:\n%.2000s", page)
	}
	runs, _ := f.st.RunsOfFlow(t.Context(), mustFlow(t, f, "double"), 10)
	if len(runs) != 0 {
		t.Fatalf("%d runs started by refused forms", len(runs))
	}

	// A good form starts a run and leads to its link.
	resp = f.do("", "POST", path, "in.n=21&in.loud=true&in.day=2025-01-31")
	body(t, resp, http.StatusSeeOther)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/s/") || loc == path {
		t.Fatalf("Location %q", loc)
	}
	runs, _ = f.st.RunsOfFlow(t.Context(), mustFlow(t, f, "double"), 10)
	if len(runs) != 1 || runs[0].Version != 1 || !strings.Contains(string(runs[0].Inputs), `"n":21`) || !strings.Contains(string(runs[0].Inputs), `"loud":true`) {
		t.Fatalf("runs = %+v", runs)
	}
	f.waitRun(runs[0].ID)
	page = body(t, f.do("", "GET", loc, ""), http.StatusOK)
	if !strings.Contains(page, "<code class=\"v\">42</code>") || !strings.Contains(page, "Finished in ") {
		t.Errorf("the run's page lacks the result 42:\n%.3000s", page)
	}
	// The second run is allowed, the third is over the limit of 2 an hour.
	body(t, f.do("", "POST", path, "in.n=1"), http.StatusSeeOther)
	page = body(t, f.do("", "POST", path, "in.n=1"), http.StatusTooManyRequests)
	if !strings.Contains(page, "runs for this hour") {
		t.Error("the rate limit says nothing")
	}
}

func mustFlow(t *testing.T, f *fixture, slug string) string {
	t.Helper()
	fs, err := f.st.FlowBySlug(t.Context(), f.ws.ID, slug)
	if err != nil {
		t.Fatal(err)
	}
	return fs.ID
}

// TestRunFormSignIn: a members-only form sends visitors to sign in and
// runs as the member who is signed in.
func TestRunFormSignIn(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("double", formFlow())
	out := f.apiJSON("editor", "POST", "/api/v1/flows/double/forms", `{"require_signin":true,"runs_per_hour":0}`, http.StatusCreated)
	path := out["url"].(string)[strings.Index(out["url"].(string), "/s/"):]
	page := body(t, f.do("", "GET", path, ""), http.StatusOK)
	if !strings.Contains(page, "Sign in") || strings.Contains(page, `name="in.n"`) {
		t.Error("a members-only form shows its fields to a visitor")
	}
	resp := f.do("", "POST", path, "in.n=1")
	body(t, resp, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/signin?next=") {
		t.Fatalf("anonymous POST went to %q", loc)
	}
	body(t, f.do("outsider", "POST", path, "in.n=1"), http.StatusForbidden)
	resp = f.do("viewer", "POST", path, "in.n=1")
	body(t, resp, http.StatusSeeOther)
	runs, _ := f.st.RunsOfFlow(t.Context(), mustFlow(t, f, "double"), 10)
	if len(runs) != 1 || runs[0].StartedBy != f.users["viewer"].ID {
		t.Fatalf("runs = %+v; want one started by the signed-in member", runs)
	}
}
