package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// TestAuditTrail does each audited action and finds it in the log, with
// who and from where; then the filters of the API and the activity page.
func TestAuditTrail(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("slow", longFlow())
	ua := "audit-test/1.0"
	post := func(role, path, form string, want int) {
		t.Helper()
		body(t, f.do(role, "POST", path, form, "User-Agent", ua), want)
	}
	post("", "/signin", "name=editor&password=correct+horse+battery", http.StatusSeeOther)
	post("", "/signin", "name=editor&password=wrong", http.StatusUnauthorized)
	post("owner", "/w/acme/members", "name=newbie&role=viewer", http.StatusOK)
	post("owner", "/w/acme/members", "name=newbie&role=runner", http.StatusOK)
	post("owner", "/w/acme/secrets", "name=API_KEY&value=value-one", http.StatusOK)
	post("owner", "/w/acme/secrets", "name=API_KEY&value=value-two", http.StatusOK)
	post("owner", "/w/acme/secrets/API_KEY/delete", "", http.StatusSeeOther)
	post("viewer", "/w/acme/tokens", "name=ci&role=viewer", http.StatusOK)
	toks, _ := f.st.Tokens(t.Context(), f.users["viewer"].ID)
	for _, tk := range toks {
		if tk.Name == "ci" {
			post("viewer", "/w/acme/tokens/"+tk.ID+"/revoke", "", http.StatusSeeOther)
		}
	}
	run := f.startRun("slow", "{}", "")
	f.apiJSON("owner", "POST", "/api/v1/runs/"+run+"/cancel", "", http.StatusAccepted)
	id, path := f.shareRun(run, false)
	body(t, f.do("", "GET", path, "", "User-Agent", ua), http.StatusOK)
	f.apiJSON("editor", "DELETE", "/api/v1/shares/"+id, "", http.StatusNoContent)

	out := f.apiJSON("owner", "GET", "/api/v1/audit?limit=1000", "", http.StatusOK)
	seen := map[string]map[string]any{}
	for _, e := range out["entries"].([]any) {
		m := e.(map[string]any)
		if _, ok := seen[m["action"].(string)]; !ok {
			seen[m["action"].(string)] = m
		}
	}
	want := map[string]string{
		actSignIn: "editor", actSignInFailed: "editor", actMemberAdded: "owner", actMemberRole: "owner",
		actSecretCreated: "owner", actSecretChanged: "owner", actSecretDeleted: "owner",
		actTokenCreated: "viewer", actTokenRevoked: "viewer", actRunStarted: "owner", actRunCanceled: "owner",
		actShareCreated: "editor", actShareOpened: "link holder", actShareRevoked: "editor",
	}
	for action, who := range want {
		e := seen[action]
		if e == nil {
			t.Errorf("no %s in the audit log", action)
			continue
		}
		if e["user"] != who || e["ip"] != "127.0.0.1" || e["at"] == "" {
			t.Errorf("%s: %v; want by %s from 127.0.0.1", action, e, who)
		}
	}
	if e := seen[actShareOpened]; e != nil && e["user_agent"] != ua {
		t.Errorf("share.opened user agent = %v", e["user_agent"])
	}
	if e := seen[actMemberRole]; e != nil && !strings.Contains(e["detail"].(string), "viewer → runner") {
		t.Errorf("role change detail = %v", e["detail"])
	}
	if strings.Contains(toJSON(out), "wrong") || strings.Contains(toJSON(out), `"two"`) {
		t.Error("the audit log holds a password or a secret")
	}

	// Filters.
	for q, check := range map[string]func([]any) bool{
		"action=share.created": func(es []any) bool {
			return len(es) == 1 && es[0].(map[string]any)["action"] == actShareCreated
		},
		"action=secret.": func(es []any) bool { return len(es) == 3 },
		"user=viewer": func(es []any) bool {
			for _, e := range es {
				if e.(map[string]any)["user"] != "viewer" {
					return false
				}
			}
			return len(es) == 2
		},
		"since=" + time.Now().Add(48*time.Hour).Format(time.DateOnly):                            func(es []any) bool { return len(es) == 0 },
		"until=" + time.Now().Add(-48*time.Hour).Format(time.DateOnly):                           func(es []any) bool { return len(es) == 0 },
		"since=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)) + "&limit=2": func(es []any) bool { return len(es) == 2 },
	} {
		es := f.apiJSON("owner", "GET", "/api/v1/audit?"+q, "", http.StatusOK)["entries"].([]any)
		if !check(es) {
			t.Errorf("audit?%s = %s", q, toJSON(es))
		}
	}
	// Another workspace sees none of it.
	if es := f.apiJSON("outsider", "GET", "/api/v1/audit", "", http.StatusOK)["entries"].([]any); len(es) != 0 {
		t.Errorf("another workspace's owner sees %d entries", len(es))
	}
	// The activity page, filtered.
	page := body(t, f.do("owner", "GET", "/w/acme/activity?action=share.revoked&user=editor", ""), http.StatusOK)
	doc := parseHTML(t, page)
	rows := 0
	walk(doc, func(n *html.Node) {
		if v, ok := attr(n, "data-action"); ok && n.Data == "tr" {
			rows++
			if v != actShareRevoked {
				t.Errorf("filtered page shows %s", v)
			}
		}
	})
	if rows != 1 {
		t.Errorf("activity page shows %d rows, want 1", rows)
	}
	body(t, f.do("owner", "GET", "/w/acme/activity?since=nope", ""), http.StatusBadRequest)
}
