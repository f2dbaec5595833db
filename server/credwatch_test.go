package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/store"
)

// closeWithin is how soon a socket must close after its credential ends.
const closeWithin = time.Second

// dialAs opens a WebSocket to base+path with a bearer token or a session
// cookie (whichever is given), from base's origin.
func dialAs(t *testing.T, base, path, token, cookie string) *websocket.Conn {
	t.Helper()
	h := http.Header{"Origin": {base}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if cookie != "" {
		h.Set("Cookie", sessionCookie+"="+cookie)
	}
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+path, h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectClosed reads until the socket closes and checks it closed with a
// policy close whose reason contains want, within d of start.
func expectClosed(t *testing.T, c *websocket.Conn, start time.Time, d time.Duration, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := c.ReadMessage()
		if err == nil {
			if strings.Contains(string(data), `"t":"ack"`) || strings.Contains(string(data), `"t":"started"`) {
				t.Fatalf("a message was accepted after the credential ended: %s", data)
			}
			continue
		}
		took := time.Since(start)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, want) {
			t.Fatalf("socket ended with %v; want a policy close saying %q", err, want)
		}
		if took > d {
			t.Fatalf("closed after %v; want within %v", took, d)
		}
		t.Logf("closed %v after the change: %q", took.Round(time.Millisecond), ce.Text)
		return
	}
}

// attempt sends what an attacker would on a socket whose credential just
// ended: a flow.update and a run.
func attempt(c *websocket.Conn) {
	c.WriteJSON(map[string]any{"t": "flow.update", "id": "u1", "name": "Hijacked"})
	c.WriteJSON(map[string]any{"t": "run", "id": "r1", "mode": "all"})
}

// untouched checks that the flow kept its name and no run started.
func untouched(t *testing.T, f *fixture, runsBefore int) {
	t.Helper()
	ctx := context.Background()
	d, err := f.st.Draft(ctx, f.flow.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Flow.Name != "Hello" {
		t.Fatalf("the flow was renamed to %q after the credential ended", d.Flow.Name)
	}
	runs, err := f.st.RunsOfFlow(ctx, f.flow.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != runsBefore {
		t.Fatalf("%d runs after the credential ended; want %d", len(runs), runsBefore)
	}
}

func runCount(t *testing.T, f *fixture) int {
	t.Helper()
	runs, err := f.st.RunsOfFlow(context.Background(), f.flow.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(runs)
}

func tokenID(t *testing.T, f *fixture, role string) string {
	t.Helper()
	toks, err := f.st.Tokens(context.Background(), f.users[role].ID)
	if err != nil || len(toks) == 0 {
		t.Fatalf("tokens of %s: %v", role, err)
	}
	return toks[0].ID
}

// signIn signs a user in through the form and returns the session cookie.
func signIn(t *testing.T, f *fixture, name string) string {
	t.Helper()
	resp := f.do("", "POST", "/signin", url.Values{"name": {name}, "password": {"correct horse battery"}}.Encode())
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("sign-in as %s: status %d, no session cookie", name, resp.StatusCode)
	return ""
}

// TestCredentialEndsNotebookSocket: each way a credential ends or loses
// its rights closes an open notebook socket within a second, and what it
// sends after is neither stored nor run.
func TestCredentialEndsNotebookSocket(t *testing.T) {
	const nb = "/w/acme/flows/hello/ws"
	cases := []struct {
		name string
		// open returns two sockets of one credential and the change that
		// ends it.
		open func(t *testing.T, f *fixture) (idle, busy *websocket.Conn, change func())
		want string
	}{
		{"token revoked", func(t *testing.T, f *fixture) (*websocket.Conn, *websocket.Conn, func()) {
			c := dialAs(t, f.ts.URL, nb, f.tokens["editor"], "")
			d := dialAs(t, f.ts.URL, nb, f.tokens["editor"], "")
			return c, d, func() {
				resp := f.do("editor", "POST", "/w/acme/tokens/"+tokenID(t, f, "editor")+"/revoke", "")
				resp.Body.Close()
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("revoke: %d", resp.StatusCode)
				}
			}
		}, reasonTokenRevoked},
		{"signed out", func(t *testing.T, f *fixture) (*websocket.Conn, *websocket.Conn, func()) {
			c := dialAs(t, f.ts.URL, nb, "", f.cookies["editor"])
			d := dialAs(t, f.ts.URL, nb, "", f.cookies["editor"])
			return c, d, func() {
				resp := f.do("editor", "POST", "/signout", "")
				resp.Body.Close()
			}
		}, reasonSignedOut},
		{"password changed", func(t *testing.T, f *fixture) (*websocket.Conn, *websocket.Conn, func()) {
			other := signIn(t, f, "editor")
			c := dialAs(t, f.ts.URL, nb, "", other)
			d := dialAs(t, f.ts.URL, nb, "", other)
			return c, d, func() {
				resp := f.do("editor", "POST", "/account/password", url.Values{"current": {"correct horse battery"}, "password": {"a new horse battery"}, "password_again": {"a new horse battery"}}.Encode())
				resp.Body.Close()
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("change password: %d", resp.StatusCode)
				}
			}
		}, reasonPassword},
		{"member removed", func(t *testing.T, f *fixture) (*websocket.Conn, *websocket.Conn, func()) {
			c := dialAs(t, f.ts.URL, nb, f.tokens["editor"], "")
			d := dialAs(t, f.ts.URL, nb, f.tokens["editor"], "")
			return c, d, func() {
				resp := f.do("owner", "POST", "/w/acme/members/editor/remove", "")
				resp.Body.Close()
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("remove: %d", resp.StatusCode)
				}
			}
		}, reasonRemoved},
		{"role lowered", func(t *testing.T, f *fixture) (*websocket.Conn, *websocket.Conn, func()) {
			c := dialAs(t, f.ts.URL, nb, "", f.cookies["editor"])
			d := dialAs(t, f.ts.URL, nb, "", f.cookies["editor"])
			return c, d, func() {
				resp := f.do("owner", "POST", "/w/acme/members", url.Values{"name": {"editor"}, "role": {"viewer"}}.Encode())
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("change role: %d", resp.StatusCode)
				}
			}
		}, "your role changed to viewer; reload the page"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, testDB)
			before := runCount(t, f)
			idle, busy, change := tc.open(t, f)
			readUntil(t, idle, isType("hello"))
			readUntil(t, busy, isType("hello"))
			change()
			start := time.Now() // the change is made once its request is answered
			attempt(busy)
			// The idle socket is closed by the server, unasked.
			expectClosed(t, idle, start, closeWithin, tc.want)
			expectClosed(t, busy, start, closeWithin, tc.want)
			untouched(t, f, before)
		})
	}
}

// TestCredentialKeepsOthers: a password change keeps the browser that
// made it; a raised role is taken without closing the socket.
func TestCredentialKeepsOthers(t *testing.T) {
	f := setup(t, testDB)
	mine := dialAs(t, f.ts.URL, "/w/acme/flows/hello/ws", "", f.cookies["viewer"])
	readUntil(t, mine, isType("hello"))
	resp := f.do("viewer", "POST", "/account/password", url.Values{"current": {"correct horse battery"}, "password": {"a new horse battery"}, "password_again": {"a new horse battery"}}.Encode())
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change password: %d", resp.StatusCode)
	}
	mine.WriteJSON(map[string]any{"t": "ping", "id": "p1"})
	readUntil(t, mine, isType("ack"))
	mine.WriteJSON(map[string]any{"t": "flow.update", "id": "u1", "name": "Renamed"})
	if m := readUntil(t, mine, isType("error")); !strings.Contains(m[len(m)-1]["message"].(string), "viewer") {
		t.Fatalf("a viewer's flow.update: %v", m[len(m)-1])
	}
	if err := f.st.AddMember(context.Background(), f.ws.ID, f.users["viewer"].ID, engine.RoleEditor); err != nil {
		t.Fatal(err)
	}
	mine.WriteJSON(map[string]any{"t": "flow.update", "id": "u2", "name": "Renamed"})
	readUntil(t, mine, func(m map[string]any) bool { return m["t"] == "ack" && m["id"] == "u2" })
	if n := f.srv.grants.count(); n != 1 {
		t.Fatalf("%d grants open; want 1", n)
	}
	mine.Close()
	deadline := time.Now().Add(5 * time.Second)
	for f.srv.grants.count() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the closed socket's grant was not released")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// slowRun starts a run that goes on until the test ends.
func slowRun(t *testing.T, f *fixture) string {
	t.Helper()
	ctx := context.Background()
	fl := &engine.Flow{Name: "Slow", Cells: []engine.Cell{{Name: "wait", Kind: engine.KindShell, File: "wait.sh", Source: "echo started; sleep 30\n"}}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := f.st.CreateFlow(ctx, f.ws.ID, "slow", fl, f.users["owner"].ID, storeFiles(files), flow.Hash(fl))
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.srv.runs.Start(ctx, StartRequest{Workspace: f.ws, FlowID: fs.ID, FlowSlug: "slow", Flow: fl, Version: 1, StartedBy: f.users["owner"]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.srv.runs.Cancel(context.Background(), r.ID, "")
		f.waitRun(r.ID)
	})
	return r.ID
}

// TestCredentialEndsRunStreams: the run page's socket, the API's WebSocket
// and its server-sent events end with their credential.
func TestCredentialEndsRunStreams(t *testing.T) {
	f := setup(t, testDB)
	run := slowRun(t, f)
	page := dialAs(t, f.ts.URL, "/runs/"+run+"/ws", "", f.cookies["viewer"])
	api := dialAs(t, f.ts.URL, "/api/v1/runs/"+run+"/events", f.tokens["runner"], "")
	for _, c := range []*websocket.Conn{page, api} {
		readUntil(t, c, func(m map[string]any) bool { return eventType(m) == "run.started" })
	}
	req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/runs/"+run+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["viewer"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SSE: %d", resp.StatusCode)
	}
	sse := bufio.NewReader(resp.Body)
	for {
		l, err := sse.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "event: run.started") {
			break
		}
	}

	start := time.Now()
	r := f.do("viewer", "POST", "/signout", "")
	r.Body.Close()
	expectClosed(t, page, start, closeWithin, reasonSignedOut)

	start = time.Now()
	if err := f.st.RevokeToken(context.Background(), tokenID(t, f, "runner")); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, api, start, closeWithin, reasonTokenRevoked)

	start = time.Now()
	if err := f.st.RevokeToken(context.Background(), tokenID(t, f, "viewer")); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(sse)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > closeWithin {
		t.Fatalf("SSE ended %v after the revocation", took)
	}
	if !strings.Contains(string(rest), "event: error\ndata: {\"error\":{\"code\":\"unauthorized\",\"message\":\""+reasonTokenRevoked+"\"}}") {
		t.Fatalf("SSE ended with %q", rest)
	}
}

// TestTokenExpiry: an expired token answers 401 exactly like a revoked
// one, and its open socket closes when it expires.
func TestTokenExpiry(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	expires := time.Now().Add(3 * time.Second)
	tok, err := account.CreateTokenExpiring(ctx, f.st, "editor", "acme", "short", "", expires)
	if err != nil {
		t.Fatal(err)
	}
	get := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/flows", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(tok); code != http.StatusOK {
		t.Fatalf("before expiry: %d %s", code, body)
	}
	c := dialAs(t, f.ts.URL, "/w/acme/flows/hello/ws", tok, "")
	readUntil(t, c, isType("hello"))
	expectClosed(t, c, expires, closeWithin, reasonTokenExpired)
	code, body := get(tok)
	if err := f.st.RevokeToken(ctx, tokenID(t, f, "viewer")); err != nil {
		t.Fatal(err)
	}
	rcode, rbody := get(f.tokens["viewer"])
	if code != http.StatusUnauthorized || code != rcode || body != rbody {
		t.Fatalf("expired: %d %s; revoked: %d %s", code, body, rcode, rbody)
	}
	// The settings page lists it as expired.
	page := f.do("editor", "GET", "/w/acme/settings", "")
	b, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(b), ">expired</span>") {
		t.Errorf("the settings page does not show the token as expired")
	}
	// A socket cannot be opened with it either.
	h := http.Header{"Origin": {f.ts.URL}, "Authorization": {"Bearer " + tok}}
	if _, resp, err := websocket.DefaultDialer.Dial(f.wsURL("/w/acme/flows/hello/ws"), h); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("socket with an expired token: %v", err)
	}
}

// TestCredentialRecheck: a change the server was not told of (another
// process on the same SQLite file, such as an opsbook command) is caught
// by the periodic check against the store.
func TestCredentialRecheck(t *testing.T) {
	ctx := context.Background()
	st, data := openStore(t, "sqlite")
	srv := New(Config{Store: st, DataDir: data, Logger: testLogger(t), CredRecheck: 200 * time.Millisecond})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.CloseSockets()
		ts.Close()
		srv.Stop(context.Background())
	})
	ws, err := st.CreateWorkspace(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, "ed", "Ed", testHash)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddMember(ctx, ws.ID, u.ID, engine.RoleEditor); err != nil {
		t.Fatal(err)
	}
	fl := &engine.Flow{Name: "Hello", Cells: []engine.Cell{{Name: "answer", Kind: engine.KindExpr, File: "answer.expr", Source: "40 + 2\n"}}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateFlow(ctx, ws.ID, "hello", fl, u.ID, storeFiles(files), flow.Hash(fl)); err != nil {
		t.Fatal(err)
	}
	tok, err := account.CreateToken(ctx, st, "ed", "acme", "t", "")
	if err != nil {
		t.Fatal(err)
	}
	c := dialAs(t, ts.URL, "/w/acme/flows/hello/ws", tok, "")
	readUntil(t, c, isType("hello"))
	other, err := store.Open(ctx, store.Config{Data: data, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	toks, err := other.Tokens(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := other.RevokeToken(ctx, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c, start, time.Second, reasonTokenRevoked)
}

// TestCredentialTwoProcesses: two servers on one PostgreSQL schema; a
// credential ended through one closes its sockets on the other within a
// second (LISTEN/NOTIFY), and nothing sent after is stored.
func TestCredentialTwoProcesses(t *testing.T) {
	t.Parallel()
	f := setup(t, "postgres")
	ctx := context.Background()
	dsn, _ := storeDSN.Load(f.st)
	st2, err := storeOpen(ctx, dsn.(string))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	srv2 := New(Config{Store: st2, DataDir: t.TempDir(), Logger: testLogger(t)})
	if err := srv2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(srv2.Handler())
	t.Cleanup(func() {
		srv2.CloseSockets()
		ts2.Close()
		srv2.Stop(context.Background())
	})
	const nb = "/w/acme/flows/hello/ws"
	before := runCount(t, f)

	// On the second server, one socket that stays idle (closed by the
	// notification) and one that tries to change the flow and run it
	// right after the change on the first.
	for _, tc := range []struct {
		name, token, cookie string
		change              func()
		want                string
	}{
		{"token revoked", f.tokens["editor"], "", func() {
			resp := f.do("editor", "POST", "/w/acme/tokens/"+tokenID(t, f, "editor")+"/revoke", "")
			resp.Body.Close()
		}, reasonTokenRevoked},
		{"signed out", "", f.cookies["owner"], func() {
			resp := f.do("owner", "POST", "/signout", "")
			resp.Body.Close()
		}, reasonSignedOut},
		{"role lowered", "", f.cookies["runner"], func() {
			if err := f.st.AddMember(ctx, f.ws.ID, f.users["runner"].ID, engine.RoleViewer); err != nil {
				t.Fatal(err)
			}
		}, "your role changed to viewer"},
		{"member removed", f.tokens["owner"], "", func() {
			if err := f.st.RemoveMember(ctx, f.ws.ID, f.users["owner"].ID); err != nil {
				t.Fatal(err)
			}
		}, reasonRemoved},
	} {
		t.Log(tc.name)
		idle := dialAs(t, ts2.URL, nb, tc.token, tc.cookie)
		busy := dialAs(t, ts2.URL, nb, tc.token, tc.cookie)
		readUntil(t, idle, isType("hello"))
		readUntil(t, busy, isType("hello"))
		tc.change()
		start := time.Now()
		attempt(busy)
		expectClosed(t, idle, start, closeWithin, tc.want)
		expectClosed(t, busy, start, closeWithin, tc.want)
	}
	untouched(t, f, before)
}

// TestSessionExpiry: a session's socket closes when the session expires.
func TestSessionExpiry(t *testing.T) {
	f := setup(t, testDB)
	tok, hash := account.NewToken("")
	expires := time.Now().Add(3 * time.Second)
	if _, err := f.st.CreateSession(context.Background(), f.users["editor"].ID, hash, expires); err != nil {
		t.Fatal(err)
	}
	c := dialAs(t, f.ts.URL, "/w/acme/flows/hello/ws", "", tok)
	readUntil(t, c, isType("hello"))
	expectClosed(t, c, expires, closeWithin, reasonSessionExpired)
}

// TestTokenCreateExpiry: the settings form creates a token with an expiry,
// shown in the list; a bad expiry is refused with what to give.
func TestTokenCreateExpiry(t *testing.T) {
	f := setup(t, testDB)
	resp := f.do("editor", "POST", "/w/acme/tokens", url.Values{"name": {"ci"}, "role": {"runner"}, "expires": {"720h"}}.Encode())
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "data-secret") {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	toks, err := f.st.Tokens(context.Background(), f.users["editor"].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Now().Add(720 * time.Hour)
	if got := toks[0].ExpiresAt; toks[0].Name != "ci" || got.Before(want.Add(-time.Minute)) || got.After(want) {
		t.Fatalf("token %q expires %v; want about %v", toks[0].Name, got, want)
	}
	if !strings.Contains(string(b), `<time datetime="`+toks[0].ExpiresAt.UTC().Format(engine.TimeFormat)+`"`) {
		t.Errorf("the list does not show the expiry")
	}
	for _, bad := range []string{"forever", "-1h", "30s", "100000h"} {
		resp := f.do("editor", "POST", "/w/acme/tokens", url.Values{"name": {"ci2"}, "role": {"runner"}, "expires": {bad}}.Encode())
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "e.g. 720h for 30 days") {
			t.Errorf("expires=%s: %d", bad, resp.StatusCode)
		}
	}
}

// TestMemberRemoveLastOwner: the settings page removes members, but never
// the workspace's last owner; the removal is in the audit log.
func TestMemberRemoveLastOwner(t *testing.T) {
	f := setup(t, testDB)
	resp := f.do("owner", "POST", "/w/acme/members/owner/remove", "")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), "make someone else owner first") {
		t.Fatalf("removing the last owner: %d %s", resp.StatusCode, b)
	}
	resp = f.do("owner", "POST", "/w/acme/members/viewer/remove", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove viewer: %d", resp.StatusCode)
	}
	if _, err := f.st.Member(context.Background(), f.ws.ID, f.users["viewer"].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("viewer still a member: %v", err)
	}
	resp = f.do("owner", "POST", "/w/acme/members/viewer/remove", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("remove again: %d", resp.StatusCode)
	}
	entries, err := f.st.Audit(context.Background(), store.AuditQuery{WorkspaceID: f.ws.ID, Action: actMemberRemoved})
	if err != nil || len(entries) != 1 || entries[0].Target != "user viewer" {
		t.Fatalf("audit: %+v %v", entries, err)
	}
}

// BenchmarkGrantRecheck is what a run or structure message on a notebook
// socket pays to check its credential in the database (a token's grant:
// the token and the membership).
func BenchmarkGrantRecheck(b *testing.B) {
	for _, dialect := range []string{testDB} {
		b.Run(dialect, func(b *testing.B) {
			f := setup(b, dialect)
			ctx := context.Background()
			toks, err := f.st.Tokens(ctx, f.users["editor"].ID)
			if err != nil {
				b.Fatal(err)
			}
			g, err := f.srv.hold(withPrincipal(ctx, &principal{User: f.users["editor"], Token: &toks[0]}), access{Workspace: f.ws, Role: engine.RoleEditor}, engine.RoleViewer, true)
			if err != nil {
				b.Fatal(err)
			}
			defer g.release()
			b.ResetTimer()
			for b.Loop() {
				g.recheck(ctx)
			}
			if g.Role() != engine.RoleEditor {
				b.Fatalf("role %q", g.Role())
			}
		})
	}
}
