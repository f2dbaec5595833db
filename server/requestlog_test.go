package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/engine/logattr"
)

// logBuf is a log destination tests read while the server writes.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuf) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

// lines are the JSON lines logged so far whose msg is msg.
func (l *logBuf) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, s := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// accessLine waits (up to 10 s: a socket's line comes after it closes) for
// the access line of request id.
func (l *logBuf) accessLine(t *testing.T, id string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, m := range l.lines("request") {
			if m[logattr.KeyRequest] == id {
				return m
			}
		}
	}
	t.Fatalf("no access line for request %s in:\n%s", id, l.String())
	return nil
}

func setupLogged(t *testing.T, trusted ...netip.Prefix) (*fixture, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	f := setupWith(t, testDB, Config{
		Logger: slog.New(slog.NewJSONHandler(lb, nil)),
		HTTP:   HTTPConfig{TrustedProxies: trusted},
	})
	return f, lb
}

// TestRequestIDAndAccessLog: every answer names its request in
// X-Request-Id, and one access line per request says what it was, who made
// it, and under that id.
func TestRequestIDAndAccessLog(t *testing.T) {
	t.Parallel()
	f, lb := setupLogged(t)
	resp := f.do("owner", "GET", "/w/acme?q=secret-query", "")
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if !strings.HasPrefix(id, "q_") {
		t.Fatalf("X-Request-Id = %q, want a new id q_…", id)
	}
	m := lb.accessLine(t, id)
	if m["method"] != "GET" || m["path"] != "/w/acme" || m["status"] != float64(http.StatusOK) || m[logattr.KeyUser] != f.users["owner"].ID {
		t.Errorf("access line %v: want GET /w/acme 200 by the owner", m)
	}
	if b, _ := m["bytes"].(float64); b <= 0 {
		t.Errorf("access line %v: no bytes counted", m)
	}
	if _, ok := m["duration"]; !ok {
		t.Errorf("access line %v: no duration", m)
	}
	if strings.Contains(lb.String(), "secret-query") {
		t.Error("the query string was logged")
	}

	// Not from a trusted proxy: a client's X-Request-Id is not believed.
	resp = f.do("", "GET", "/signin", "", "X-Request-Id", "forged-id")
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got == "forged-id" || got == "" {
		t.Errorf("an untrusted client's X-Request-Id was kept: %q", got)
	}

	// A share link's token is cut in the log.
	tok := "abcdefghijklmnopqrstuvwxyz0123456789"
	resp = f.do("", "GET", "/s/"+tok+"/log", "")
	resp.Body.Close()
	m = lb.accessLine(t, resp.Header.Get("X-Request-Id"))
	if m["path"] != "/s/abcd…/log" || m["status"] != float64(http.StatusNotFound) {
		t.Errorf("share access line %v: want path /s/abcd…/log, 404", m)
	}
	if strings.Contains(lb.String(), tok[:10]) {
		t.Error("a share link's token was logged")
	}
}

// TestRequestIDOfSocket: a WebSocket is one request whose access line,
// written when it closes, says 101, and whose id its answer names.
func TestRequestIDOfSocket(t *testing.T) {
	t.Parallel()
	f, lb := setupLogged(t)
	c := dialAs(t, f.ts.URL, "/runs/"+f.run+"/ws", "", f.cookies["owner"])
	c.Close()
	var m map[string]any
	for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, l := range lb.lines("request") {
			if l["path"] == "/runs/"+f.run+"/ws" {
				m = l
			}
		}
	}
	if m == nil || m["status"] != float64(http.StatusSwitchingProtocols) || !strings.HasPrefix(m[logattr.KeyRequest].(string), "q_") || m[logattr.KeyUser] != f.users["owner"].ID {
		t.Fatalf("socket access line %v: want 101 with a request id, by the owner", m)
	}
}

// TestRequestIDFromTrustedProxy: a trusted proxy's X-Request-Id is kept
// (when it is a plain id), so its log and ours join.
func TestRequestIDFromTrustedProxy(t *testing.T) {
	t.Parallel()
	f, lb := setupLogged(t, netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128"))
	resp := f.do("", "GET", "/signin", "", "X-Request-Id", "7f3c2a9e-proxy")
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got != "7f3c2a9e-proxy" {
		t.Fatalf("X-Request-Id = %q, want the proxy's", got)
	}
	lb.accessLine(t, "7f3c2a9e-proxy")
	for _, bad := range []string{"a b", "x\ny", strings.Repeat("z", maxRequestIDLen+1)} {
		req := httptest.NewRequest("GET", "/signin", nil)
		req.RemoteAddr = "127.0.0.1:5000"
		req.Header.Set("X-Request-Id", bad)
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, req)
		if got := rec.Header().Get("X-Request-Id"); got == bad || !strings.HasPrefix(got, "q_") {
			t.Errorf("proxy's X-Request-Id %q: answered %q, want a new id", bad, got)
		}
	}
}

func TestLogPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/s/abcdefgh":           "/s/abcd…",
		"/s/abcdefgh/ws":        "/s/abcd…/ws",
		"/s/ab":                 "/s/ab",
		"/hooks/h_1234567890":   "/hooks/h_12…",
		"/w/acme/flows/x":       "/w/acme/flows/x",
		"/api/v1/hooks/h_12345": "/api/v1/hooks/h_12345", // an id, not a secret
	} {
		if got := logPath(in); got != want {
			t.Errorf("logPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRequestIDOfNotebookSocket: a notebook socket's lines, from its
// opening to its closing, carry the id its upgrade was answered with.
func TestRequestIDOfNotebookSocket(t *testing.T) {
	t.Parallel()
	lb := &logBuf{}
	f := setupWith(t, testDB, Config{Logger: slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h := http.Header{"Origin": {f.ts.URL}, "Cookie": {sessionCookie + "=" + f.cookies["editor"]}}
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(f.ts.URL, "http")+"/w/acme/flows/hello/ws", h)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Header.Get("X-Request-Id")
	c.Close()
	lb.accessLine(t, id) // written after the socket's end
	for _, msg := range []string{"notebook socket opened", "notebook socket closed"} {
		ls := lb.lines(msg)
		if len(ls) != 1 || ls[0][logattr.KeyRequest] != id || ls[0][logattr.KeyFlow] != f.flow.ID || ls[0][logattr.KeyUser] != f.users["editor"].ID {
			t.Errorf("%q: %v; want one line with request %s, the flow and the user", msg, ls, id)
		}
	}
}
