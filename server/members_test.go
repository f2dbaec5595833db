package server

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine/store"
)

// TestSignInAnyCase: names are stored lower-case, and sign-in takes the
// typed name in any case; failures in any case count against one name.
func TestSignInAnyCase(t *testing.T) {
	f := setup(t, testDB)
	for _, typed := range []string{"Editor", "EDITOR", "  eDiToR "} {
		resp := f.do("", "POST", "/signin", url.Values{"name": {typed}, "password": {"correct horse battery"}}.Encode())
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("sign in as %q: status %d; want 303", typed, resp.StatusCode)
		}
	}
	for i := 0; i < pairBackoff.free; i++ {
		typed := []string{"Owner", "OWNER", "owner"}[i%3]
		resp := f.do("", "POST", "/signin", url.Values{"name": {typed}, "password": {"wrong"}}.Encode())
		resp.Body.Close()
	}
	resp := f.do("", "POST", "/signin", url.Values{"name": {"oWNER"}, "password": {"correct horse battery"}}.Encode())
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after %d failures in mixed case: status %d; want 429", pairBackoff.free, resp.StatusCode)
	}
}

// TestInviteAnyCase: an owner typing "Dana" invites dana.
func TestInviteAnyCase(t *testing.T) {
	f := setup(t, testDB)
	resp := f.do("owner", "POST", "/w/acme/members", url.Values{"name": {"Dana"}, "role": {"viewer"}}.Encode())
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invite Dana: %d", resp.StatusCode)
	}
	if !strings.Contains(string(b), "dana") {
		t.Fatal("the page does not name dana")
	}
	if _, err := f.st.UserByName(t.Context(), "dana"); err != nil {
		t.Fatalf("dana: %v", err)
	}
}

// TestMemberRoleRoute: only an owner changes a role; a bad role, a
// non-member and the last owner's demotion are refused.
func TestMemberRoleRoute(t *testing.T) {
	f := setup(t, testDB)
	cases := []struct {
		as, name, role string
		want           int
	}{
		{"editor", "viewer", "owner", http.StatusForbidden},
		{"runner", "viewer", "owner", http.StatusForbidden},
		{"viewer", "viewer", "owner", http.StatusForbidden},
		{"outsider", "viewer", "owner", http.StatusNotFound},
		{"", "viewer", "owner", http.StatusUnauthorized},
		{"owner", "viewer", "boss", http.StatusUnprocessableEntity},
		{"owner", "outsider", "viewer", http.StatusNotFound},
		{"owner", "nobody", "viewer", http.StatusNotFound},
		{"owner", "owner", "editor", http.StatusConflict},
		{"owner", "Viewer", "runner", http.StatusSeeOther},
	}
	for _, tc := range cases {
		resp := f.do(tc.as, "POST", "/w/acme/members/"+tc.name+"/role", url.Values{"role": {tc.role}}.Encode())
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s sets %s to %s: %d; want %d", tc.as, tc.name, tc.role, resp.StatusCode, tc.want)
		}
	}
	roles := map[string]string{"owner": "owner", "editor": "editor", "runner": "runner", "viewer": "runner"}
	for name, want := range roles {
		if got, err := f.st.Member(t.Context(), f.ws.ID, f.users[name].ID); err != nil || string(got) != want {
			t.Errorf("%s is %q (%v); want %s", name, got, err, want)
		}
	}
	// The owner is demoted once there is another owner; then that one
	// can no longer be.
	for _, step := range []struct {
		name, role string
		want       int
	}{{"editor", "owner", http.StatusSeeOther}, {"owner", "viewer", http.StatusSeeOther}} {
		resp := f.do("owner", "POST", "/w/acme/members/"+step.name+"/role", "role="+step.role)
		resp.Body.Close()
		if resp.StatusCode != step.want {
			t.Fatalf("%s to %s: %d; want %d", step.name, step.role, resp.StatusCode, step.want)
		}
	}
	resp := f.do("editor", "POST", "/w/acme/members/editor/role", "role=viewer")
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("the last owner demotes themself: %d; want 409", resp.StatusCode)
	}
	// Nor through the invite form, which also changes roles.
	resp = f.do("editor", "POST", "/w/acme/members", "name=editor&role=viewer")
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("the last owner demoted by the invite form: %d; want 409", resp.StatusCode)
	}
	entries, err := f.st.Audit(t.Context(), store.AuditQuery{WorkspaceID: f.ws.ID, Action: actMemberRole})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, e := range entries {
		details = append(details, e.Target+": "+e.Detail)
	}
	got := strings.Join(details, "; ")
	for _, want := range []string{"user viewer: viewer → runner", "user editor: editor → owner", "user owner: owner → viewer"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit %q lacks %q", got, want)
		}
	}
	if len(entries) != 3 {
		t.Errorf("%d role entries; want 3: %s", len(entries), got)
	}
}

// TestMemberRoleEffect: a lowered role reaches the member's API token and
// open notebook socket at once; the settings page offers the change.
func TestMemberRoleEffect(t *testing.T) {
	f := setup(t, testDB)
	page := f.do("owner", "GET", "/w/acme/settings", "")
	b, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(b), `action="/w/acme/members/editor/role"`) {
		t.Fatal("the settings page has no role form for editor")
	}
	api := func() int {
		resp := f.do("editor", "POST", "/api/v1/flows", "not an archive")
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := api(); code != http.StatusBadRequest {
		t.Fatalf("the editor's token before: %d; want 400", code)
	}
	ws := dialAs(t, f.ts.URL, "/w/acme/flows/hello/ws", "", f.cookies["editor"])
	readUntil(t, ws, isType("hello"))
	resp := f.do("owner", "POST", "/w/acme/members/editor/role", "role=viewer")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change role: %d", resp.StatusCode)
	}
	start := time.Now()
	if code := api(); code != http.StatusForbidden {
		t.Errorf("the editor's token after becoming viewer: %d; want 403", code)
	}
	expectClosed(t, ws, start, closeWithin, "your role changed to viewer; reload the page")
}

// TestInvitedMustChangePassword: a user an owner invited signs in with
// the password the owner was shown, and must choose their own before any
// page, form, socket or API opens; once they have, everything does. A user
// the CLI made (who chose their password) is not asked.
func TestInvitedMustChangePassword(t *testing.T) {
	f := setup(t, testDB)
	resp := f.do("owner", "POST", "/w/acme/members", "name=dana&role=editor")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`data-secret>([^<]+)<`).FindStringSubmatch(string(b))
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("invite: %d, no first password shown", resp.StatusCode)
	}
	first := m[1]
	resp = f.do("", "POST", "/signin", url.Values{"name": {"Dana"}, "password": {first}, "next": {"/w/acme/flows/hello"}}.Encode())
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			cookie = c.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == "" {
		t.Fatalf("sign in with the first password: %d", resp.StatusCode)
	}
	f.cookies["dana"] = cookie
	tok, err := account.CreateToken(t.Context(), f.st, "dana", "acme", "made by an admin", "")
	if err != nil {
		t.Fatal(err)
	}
	f.tokens["dana"] = tok
	blocked := []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/", "", http.StatusSeeOther},
		{"GET", "/w/acme/flows/hello", "", http.StatusSeeOther},
		{"GET", "/w/acme/settings", "", http.StatusSeeOther},
		{"POST", "/w/acme/tokens", "name=mine&role=editor", http.StatusForbidden},
		{"POST", "/w/acme/flows/hello/versions", "message=", http.StatusForbidden},
		{"GET", "/w/acme/flows/hello/ws", "", http.StatusForbidden},
		{"GET", "/api/v1/flows", "", http.StatusForbidden},
	}
	check := func(when string, open bool) {
		t.Helper()
		for _, c := range blocked {
			hdr := []string{}
			if strings.HasSuffix(c.path, "/ws") {
				hdr = []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
			}
			resp := f.do("dana", c.method, c.path, c.body, hdr...)
			resp.Body.Close()
			gated := resp.StatusCode == c.want && (c.want != http.StatusSeeOther || resp.Header.Get("Location") == "/account")
			if open && gated {
				t.Errorf("%s: %s %s still answers %d %s", when, c.method, c.path, resp.StatusCode, resp.Header.Get("Location"))
			}
			if !open && !gated {
				t.Errorf("%s: %s %s answers %d %q; want %d (to /account)", when, c.method, c.path, resp.StatusCode, resp.Header.Get("Location"), c.want)
			}
		}
	}
	check("before the change", false)
	page := f.do("dana", "GET", "/account", "")
	b, _ = io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(string(b), "data-must-change") {
		t.Fatalf("the account page: %d, no notice", page.StatusCode)
	}
	resp = f.do("dana", "POST", "/account/password", url.Values{"current": {first}, "password": {"dana's own pass"}, "password_again": {"dana's own pass"}}.Encode())
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change the first password: %d", resp.StatusCode)
	}
	check("after the change", true)
	page = f.do("dana", "GET", "/account", "")
	b, _ = io.ReadAll(page.Body)
	page.Body.Close()
	if strings.Contains(string(b), "data-must-change") {
		t.Error("the account page still asks for a change")
	}
	// Users made with opsbook user add chose their password.
	u, _, err := account.AddUser(t.Context(), f.st, "erin", "Erin", "erin's own pass", "acme", "editor")
	if err != nil || u.MustChangePassword {
		t.Fatalf("user add: %v, must change %v", err, u.MustChangePassword)
	}
}

// TestMemberRemovedLosesAccess: once removed, a member's signed-in
// browser and API token reach nothing of the workspace, at once.
func TestMemberRemovedLosesAccess(t *testing.T) {
	f := setup(t, testDB)
	paths := []string{"/w/acme/flows/hello", "/w/acme/settings", "/runs/" + f.run, "/api/v1/flows", "/api/v1/flows/hello", "/api/v1/runs/" + f.run}
	for _, p := range paths {
		resp := f.do("editor", "GET", p, "")
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("before: GET %s: %d", p, resp.StatusCode)
		}
	}
	resp := f.do("owner", "POST", "/w/acme/members/editor/remove", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", resp.StatusCode)
	}
	for _, p := range paths {
		resp := f.do("editor", "GET", p, "")
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || resp.StatusCode >= 500 {
			t.Errorf("after: GET %s: %d", p, resp.StatusCode)
		}
	}
}
