package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestServeStopsPromptlyWithAnOpenNotebook: SIGTERM with a notebook open
// stops serve at once (its socket is closed before anything waits for it),
// not after the whole grace period.
func TestServeStopsPromptlyWithAnOpenNotebook(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildOpsbook(t)
	data := t.TempDir()
	const password = "a long enough password"
	opsbook(t, bin, password+"\n", "user", "add", "admin", "--role", "owner", "--data", data)
	token := strings.TrimSpace(opsbook(t, bin, "", "token", "create", "--user", "admin", "--data", data))
	dir := filepath.Join(t.TempDir(), "hello")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte("name: Hello\ncells:\n  - name: x\n    kind: expr\n    file: x.expr\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "x.expr"), []byte("1 + 1\n"), 0o644)
	addr := freeAddr(t)
	srv := serveProc(t, bin, data, addr, "none")
	base := "http://" + addr
	opsbook(t, bin, "", "import", dir, "--server", base, "--token", token)

	// Sign in as a browser would, then open the notebook's socket.
	cookie := signIn(t, base, "admin", password)
	h := http.Header{"Cookie": {cookie}, "Origin": {base}}
	conn, wresp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/w/default/flows/hello/ws", h)
	if err != nil {
		code := 0
		if wresp != nil {
			code = wresp.StatusCode
		}
		t.Fatalf("notebook socket: %v (%d)", err, code)
	}
	defer conn.Close()
	if _, _, err := conn.ReadMessage(); err != nil {
		t.Fatalf("no hello: %v", err)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()

	start := time.Now()
	srv.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v", err)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("serve still running 12s after SIGTERM with a notebook open")
	}
	t.Logf("SIGTERM to exit with a notebook open: %s", time.Since(start))
	if time.Since(start) > 5*time.Second {
		t.Fatalf("serve took %s to stop: the open notebook held it", time.Since(start))
	}
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("the notebook's socket was not closed")
	}
}

// signIn signs in at base as a browser would and returns the cookie header.
func signIn(t *testing.T, base, name, password string) string {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", base+"/signin", strings.NewReader(url.Values{"name": {name}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		cookie += c.Name + "=" + c.Value + "; "
	}
	if cookie == "" {
		t.Fatalf("sign in: %d, no cookie", resp.StatusCode)
	}
	return cookie
}
