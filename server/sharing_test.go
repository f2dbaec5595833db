package server

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// dialAnon opens a WebSocket with no cookie, as a share link's visitor.
func (f *fixture) dialAnon(path string) (*websocket.Conn, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(f.ts.URL, "http") + path
	h := http.Header{}
	h.Set("Origin", f.ts.URL)
	c, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err == nil {
		f.t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// readPastPing sends a ping after what was written on c and reads until
// its pong: a server reads a socket in order, so by then it has read and
// handled every message sent before, and a test can assert they had no
// effect without sleeping. c cannot be read again afterwards.
func readPastPing(t *testing.T, c *websocket.Conn) {
	t.Helper()
	errPong := errors.New("pong")
	c.SetPongHandler(func(string) error { return errPong })
	if err := c.WriteControl(websocket.PingMessage, []byte("past"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			if errors.Is(err, errPong) {
				return
			}
			t.Fatalf("no pong to a ping: %v", err)
		}
	}
}

func TestShareLink(t *testing.T) {
	f := setup(t, testDB)
	id, path := f.shareRun(f.run, false)
	token := strings.TrimPrefix(path, "/s/")
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) < 16 {
		t.Fatalf("token %q: want at least 128 random bits, base64url (%v)", token, err)
	}
	sh, err := f.st.Share(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if sh.Hash == token || sh.Hash != account.TokenHash(token) {
		t.Fatalf("stored %q for token %q: want its sha256, never the token", sh.Hash, token)
	}
	if d := time.Until(sh.ExpiresAt); d < 167*time.Hour || d > 169*time.Hour {
		t.Fatalf("expires in %v; want the 7-day default", d)
	}

	page := body(t, f.do("", "GET", path, ""), http.StatusOK)
	for _, want := range []string{"Finished in ", `role="progressbar"`, "hello world", "Succeeded", "data-socket=\"/s/" + token + "/ws?since="} {
		if !strings.Contains(page, want) {
			t.Errorf("share page lacks %q", want)
		}
	}
	for _, code := range []string{"{{ inputs.who }}", "40 + 2", "The code that ran", "/w/acme", "Sign out"} {
		if strings.Contains(page, code) {
			t.Errorf("share page with code hidden shows %q", code)
		}
	}
	doc := parseHTML(t, page)
	if n := find(doc, byAttr("data-log-base", "/s/"+token+"/log")); n == nil {
		t.Error("share page does not point its log links at the link's own log")
	}
	body(t, f.do("", "GET", path, ""), http.StatusOK)
	list := f.apiJSON("viewer", "GET", "/api/v1/flows/hello/shares", "", http.StatusOK)
	views := -1.0
	for _, s := range list["shares"].([]any) {
		if m := s.(map[string]any); m["id"] == id {
			views = m["views"].(float64)
		}
	}
	if views != 2 {
		t.Errorf("views = %v, want 2", views)
	}
	page = body(t, f.do("editor", "GET", "/w/acme/flows/hello/shares", ""), http.StatusOK)
	if n := find(parseHTML(t, page), byAttr("data-share-id", id)); n == nil || !strings.Contains(render(n), `<td data-views="">2</td>`) {
		t.Errorf("the flow's links page does not show the link with its 2 views")
	}

	// With code: the code is there.
	_, withCode := f.shareRun(f.run, true)
	page = body(t, f.do("", "GET", withCode, ""), http.StatusOK)
	if !strings.Contains(page, "{{ inputs.who }}") {
		t.Error("share page with show_code hides the code")
	}

	// The studio's Share button makes a link and shows it once.
	resp := f.do("editor", "POST", "/runs/"+f.run+"/shares", "expires_in=24h&show_code=on")
	page = body(t, resp, http.StatusCreated)
	n := find(parseHTML(t, page), byAttr("data-share-url", ""))
	if n == nil {
		t.Fatal("no new link on the run page")
	}
	u, _ := attr(n, "value")
	pu, err := url.Parse(u)
	if err != nil || !strings.HasPrefix(pu.Path, "/s/") {
		t.Fatalf("link %q", u)
	}
	body(t, f.do("", "GET", pu.Path, ""), http.StatusOK)
}

// TestShareGoneIsUniform: a guessed, an expired and a revoked link get the
// same 404 with the same body, on the page, its log and its socket.
func TestShareGoneIsUniform(t *testing.T) {
	f := setup(t, testDB)
	guessed, _ := account.NewToken(shareTokenPrefix)
	_, expired := f.makeShare(store.ShareRun, func(s *store.Share) { s.ExpiresAt = time.Now().Add(-time.Second) })
	revokedID, revoked := f.shareRun(f.run, false)
	revoked = strings.TrimPrefix(revoked, "/s/")
	body(t, f.do("", "GET", "/s/"+revoked, ""), http.StatusOK)
	f.apiJSON("editor", "DELETE", "/api/v1/shares/"+revokedID, "", http.StatusNoContent)
	_, expiredForm := f.makeShare(store.ShareForm, func(s *store.Share) { s.ExpiresAt = time.Now().Add(-time.Second) })

	for _, suffix := range []string{"", "/log?cell=greet", "/ws"} {
		var bodies []string
		for _, tok := range []string{guessed, expired, revoked, "short", strings.Repeat("x", 200)} {
			bodies = append(bodies, body(t, f.do("", "GET", "/s/"+tok+suffix, ""), http.StatusNotFound))
		}
		for i, b := range bodies[1:] {
			if b != bodies[0] {
				t.Errorf("GET /s/…%s: answer %d differs from a guessed token's:\n%s\n---\n%s", suffix, i+1, b, bodies[0])
			}
		}
	}
	guessForm := body(t, f.do("", "POST", "/s/"+guessed, "in.who=x"), http.StatusNotFound)
	expForm := body(t, f.do("", "POST", "/s/"+expiredForm, "in.who=x"), http.StatusNotFound)
	if guessForm != expForm {
		t.Errorf("POST to an expired form differs from a guessed one")
	}
	if _, resp, err := f.dialAnon("/s/" + revoked + "/ws"); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("socket of a revoked link: %v %v", resp, err)
	}
}

// longFlow sleeps between lines so a run stays open for sockets.
func longFlow() *engine.Flow {
	return &engine.Flow{Name: "Slow", Cells: []engine.Cell{
		{Name: "tick", Kind: engine.KindShell, File: "tick.sh", Source: "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 0.5; done\n"},
	}}
}

// TestShareRevokeClosesSocket: revoking a link ends its open sockets at once.
func TestShareRevokeClosesSocket(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("slow", longFlow())
	run := f.startRun("slow", "{}", "")
	defer f.srv.runs.Cancel(context.Background(), run, "")
	id, path := f.shareRun(run, false)
	c, _, err := f.dialAnon(path + "/ws?since=0")
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, c, func(m map[string]any) bool { return eventType(m) == "cell.log" })
	start := time.Now()
	f.apiJSON("editor", "DELETE", "/api/v1/shares/"+id, "", http.StatusNoContent)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errorsAs(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
			t.Fatalf("socket ended with %v; want a policy-violation close for the revoked link", err)
		}
		break
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("socket closed %v after the revocation; want at once", d)
	}
	if r, _ := f.st.Run(context.Background(), run); r.Status.Done() {
		t.Fatal("the run ended before the socket was closed: the test proves nothing")
	}
	// Messages a visitor sends are ignored: a run message starts nothing.
	_, path2 := f.shareRun(run, false)
	c2, _, err := f.dialAnon(path2 + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	slow := mustFlow(t, f, "slow") // the shared run's flow
	before, _ := f.st.RunsOfFlow(context.Background(), slow, 100)
	if err := c2.WriteJSON(map[string]any{"t": "run", "mode": "all"}); err != nil {
		t.Fatal(err)
	}
	readPastPing(t, c2) // the server has read, and handled, the message
	after, _ := f.st.RunsOfFlow(context.Background(), slow, 100)
	if len(after) != len(before) {
		t.Fatal("a message on a share socket started a run")
	}
}

// TestShareExpiryClosesSocket: a link's open socket ends when it expires.
func TestShareExpiryClosesSocket(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("slow", longFlow())
	run := f.startRun("slow", "{}", "")
	defer f.srv.runs.Cancel(context.Background(), run, "")
	tok, hash := account.NewToken(shareTokenPrefix)
	if _, err := f.st.CreateShare(context.Background(), store.Share{WorkspaceID: f.ws.ID, FlowID: mustFlow(t, f, "slow"), RunID: run, Kind: store.ShareRun, Hash: hash, ExpiresAt: time.Now().Add(1500 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	c, _, err := f.dialAnon("/s/" + tok + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(4 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errorsAs(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
				t.Fatalf("socket ended with %v; want a policy-violation close at expiry", err)
			}
			break
		}
	}
	if r, _ := f.st.Run(context.Background(), run); r.Status.Done() {
		t.Fatal("the run ended first: the test proves nothing")
	}
}
