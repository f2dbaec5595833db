package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestLinksOnBaseURL: every absolute link the studio hands out — share
// and form links, webhook URLs (API and hooks page), the run a webhook
// started — is built on --base-url, not on the host the request came to
// (behind a proxy, that is the proxy's upstream address).
func TestLinksOnBaseURL(t *testing.T) {
	t.Parallel()
	const base = "https://ops.example.com"
	u, err := ParseBaseURL(base)
	if err != nil {
		t.Fatal(err)
	}
	f := setupWith(t, testDB, Config{HTTP: HTTPConfig{BaseURL: u}})
	urlOf := func(resp *http.Response, want int, path ...string) string {
		t.Helper()
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s: %s", resp.Status, b)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		for _, k := range path {
			v = v.(map[string]any)[k]
		}
		s, _ := v.(string)
		return s
	}
	f.addFlow("hooked", hookedFlow(0))
	share := urlOf(f.do("owner", "POST", "/api/v1/runs/"+f.run+"/shares", "{}"), http.StatusCreated, "url")
	form := urlOf(f.do("owner", "POST", "/api/v1/flows/hello/forms", "{}"), http.StatusCreated, "url")
	hook := urlOf(f.do("owner", "POST", "/api/v1/flows/hooked/hooks", "{}"), http.StatusCreated, "url")
	for what, got := range map[string]string{"share link": share, "form link": form} {
		if !strings.HasPrefix(got, base+"/s/") {
			t.Errorf("%s %q is not on the base URL", what, got)
		}
	}
	if !strings.HasPrefix(hook, base+"/hooks/") {
		t.Fatalf("webhook URL %q is not on the base URL", hook)
	}
	started := urlOf(f.do("", "POST", strings.TrimPrefix(hook, base), `{"who":"proxy"}`, "Content-Type", "application/json"), http.StatusAccepted, "run", "url")
	if !strings.HasPrefix(started, base+"/runs/r_") {
		t.Errorf("the run a webhook started is at %q, not on the base URL", started)
	}
	resp := f.do("editor", "POST", "/w/acme/flows/hooked/hooks", "name=deploys")
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), base+"/hooks/") || strings.Contains(string(page), f.ts.URL+"/hooks/") {
		t.Errorf("the hooks page does not show the webhook on the base URL (%s)", resp.Status)
	}
}
