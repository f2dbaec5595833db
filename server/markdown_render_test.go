package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine/store"
)

// TestMarkdownRoutes: the markdown routes answer what Markdown renders —
// the page's rendering, sanitized — to whoever can see the flow, the run
// or the link, and refuse what is too large or not text.
func TestMarkdownRoutes(t *testing.T) {
	f := setup(t, testDB)
	_, runTok := f.makeShare(store.ShareRun, nil)
	revoked, revokedTok := f.makeShare(store.ShareRun, nil)
	if err := f.st.RevokeShare(context.Background(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	src := "# Title\n\n~~gone~~ <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n| a |\n|---|\n| 1 |\n"
	post := func(role, path, body string) (int, map[string]any) {
		t.Helper()
		resp := f.do(role, "POST", path, body, "Content-Type", "text/markdown; charset=utf-8")
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	routes := []struct{ role, path string }{
		{"viewer", "/w/acme/flows/hello/markdown"},
		{"viewer", "/runs/" + f.run + "/markdown"},
		{"", "/s/" + runTok + "/markdown"},
	}
	for _, rt := range routes {
		t.Run(rt.path, func(t *testing.T) {
			status, out := post(rt.role, rt.path, src)
			html, _ := out["html"].(string)
			if status != http.StatusOK || html != Markdown(src) {
				t.Fatalf("status %d, %v; want 200 and Markdown's rendering %q", status, out, Markdown(src))
			}
			for _, want := range []string{"<h1>Title</h1>", "<del>gone</del>", "<table>", "<td>1</td>"} {
				if !strings.Contains(html, want) {
					t.Errorf("not rendered as the server renders markdown: %q lacks %q", html, want)
				}
			}
			for _, bad := range []string{"<script", "javascript:", "onerror"} {
				if strings.Contains(html, bad) {
					t.Errorf("unsafe HTML %q in %q", bad, html)
				}
			}
			if status, out := post(rt.role, rt.path, ""); status != http.StatusOK || out["html"] != "" {
				t.Errorf("empty markdown: %d %v; want 200 and no HTML", status, out)
			}
			if status, out := post(rt.role, rt.path, strings.Repeat("a", store.MaxSourceSize)); status != http.StatusOK || !strings.HasPrefix(out["html"].(string), "<p>aaa") {
				t.Errorf("a cell's worth of markdown: %d; want 200 and its rendering", status)
			}
			if status, _ := post(rt.role, rt.path, strings.Repeat("a", store.MaxSourceSize+1)); status != http.StatusRequestEntityTooLarge {
				t.Errorf("over a cell's size: %d; want 413", status)
			}
			status, out = post(rt.role, rt.path, "caf\xe9")
			if msg, _ := out["error"].(map[string]any); status != http.StatusBadRequest || !strings.Contains(msg["message"].(string), "UTF-8") {
				t.Errorf("not UTF-8: %d %v; want 400 saying so", status, out)
			}
		})
	}
	// A body too large whose length is not announced is cut by the route.
	req, _ := http.NewRequest("POST", f.ts.URL+"/w/acme/flows/hello/markdown", io.MultiReader(strings.NewReader(strings.Repeat("b", store.MaxSourceSize)), strings.NewReader("b")))
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: f.cookies["viewer"]})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || out["error"] == nil {
		t.Errorf("chunked body over 1 MiB: %d %v; want 413 with an error", resp.StatusCode, out)
	}
	if status, _ := post("", "/s/"+revokedTok+"/markdown", "# x"); status != http.StatusNotFound {
		t.Errorf("a revoked link renders: %d; want 404", status)
	}
}
