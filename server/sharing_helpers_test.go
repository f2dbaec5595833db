package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/store"
)

// addFlow stores a flow (as version 1) in the fixture's workspace.
func (f *fixture) addFlow(slug string, fl *engine.Flow) store.FlowSummary {
	f.t.Helper()
	files, err := flow.Files(fl)
	if err != nil {
		f.t.Fatal(err)
	}
	fs, err := f.st.CreateFlow(context.Background(), f.ws.ID, slug, fl, f.users["owner"].ID, storeFiles(files), flow.Hash(fl))
	if err != nil {
		f.t.Fatal(err)
	}
	return fs
}

// body reads a response's body and checks its status.
func body(t testing.TB, resp *http.Response, want int) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d\n%.600s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, b)
	}
	return string(b)
}

// apiJSON sends a JSON API request as role and decodes the answer.
func (f *fixture) apiJSON(role, method, path, reqBody string, want int) map[string]any {
	f.t.Helper()
	resp := f.do(role, method, path, reqBody)
	b := body(f.t, resp, want)
	var out map[string]any
	if strings.TrimSpace(b) != "" {
		if err := json.Unmarshal([]byte(b), &out); err != nil {
			f.t.Fatalf("%s %s: not JSON: %s", method, path, b)
		}
	}
	return out
}

// startRun starts a run of slug through the API as owner, waiting up to wait.
func (f *fixture) startRun(slug, inputs, wait string) string {
	f.t.Helper()
	out := f.apiJSON("owner", "POST", "/api/v1/flows/"+slug+"/runs", `{"inputs":`+inputs+`,"wait":"`+wait+`"}`, http.StatusCreated)
	id, _ := out["id"].(string)
	if id == "" {
		f.t.Fatalf("no run id in %v", out)
	}
	return id
}

// shareRun makes a link to a run through the API and returns its path.
func (f *fixture) shareRun(run string, showCode bool) (id, path string) {
	f.t.Helper()
	b := `{"show_code":false}`
	if showCode {
		b = `{"show_code":true}`
	}
	out := f.apiJSON("editor", "POST", "/api/v1/runs/"+run+"/shares", b, http.StatusCreated)
	u, _ := out["url"].(string)
	i := strings.Index(u, "/s/")
	if i < 0 {
		f.t.Fatalf("share url %q", u)
	}
	return out["id"].(string), u[i:]
}

// parseHTML parses a page, failing the test when it does not parse.
func parseHTML(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// walk calls fn for every element.
func walk(n *html.Node, fn func(*html.Node)) {
	if n.Type == html.ElementNode {
		fn(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// textOf is an element's text.
func textOf(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return b.String()
}

// find returns the first element for which match is true.
func find(root *html.Node, match func(*html.Node) bool) *html.Node {
	var out *html.Node
	walk(root, func(n *html.Node) {
		if out == nil && match(n) {
			out = n
		}
	})
	return out
}

func byAttr(key, val string) func(*html.Node) bool {
	return func(n *html.Node) bool { v, ok := attr(n, key); return ok && v == val }
}

// checkInert fails when a page holds anything that could run.
func checkInert(t *testing.T, name, page string) {
	t.Helper()
	for _, p := range activeParts(parseHTML(t, page)) {
		t.Errorf("%s: %s", name, p)
	}
}

// activeParts lists what could run in a page: a script other than our
// bundle, an event-handler attribute, a javascript: URL, or an element
// that embeds another document.
func activeParts(doc *html.Node) []string {
	var out []string
	walk(doc, func(n *html.Node) {
		switch n.Data {
		case "script":
			src, _ := attr(n, "src")
			typ, _ := attr(n, "type")
			if !strings.HasPrefix(src, "/static/") && typ != "application/json" {
				out = append(out, "a script that is not ours: "+render(n))
			}
		case "iframe", "object", "embed", "frame", "base":
			out = append(out, "a <"+n.Data+"> element: "+render(n))
		case "meta":
			if _, ok := attr(n, "http-equiv"); ok {
				out = append(out, "a meta http-equiv: "+render(n))
			}
		}
		for _, a := range n.Attr {
			k := strings.ToLower(a.Key)
			v := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
			if strings.HasPrefix(k, "on") {
				out = append(out, "event-handler attribute "+a.Key+" on <"+n.Data+">")
			}
			if (k == "href" || k == "src" || k == "action" || k == "formaction" || k == "xlink:href") && (strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:text/html") || strings.HasPrefix(v, "vbscript:")) {
				out = append(out, "a script URL "+a.Key+"="+a.Val+" on <"+n.Data+">")
			}
		}
	})
	return out
}

func render(n *html.Node) string {
	var b strings.Builder
	html.Render(&b, n)
	return b.String()
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
