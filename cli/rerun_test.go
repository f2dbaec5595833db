package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/server"
)

// TestRerun: opsbook rerun re-runs a failed run from its failed cell and,
// with --wait, says how the new run ended; a run that does not exist is a
// usage error.
func TestRerun(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := store.Open(ctx, store.Config{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := server.New(server.Config{Store: st, DataDir: data})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(c)
	})
	if _, _, err := account.AddUser(ctx, st, "ana", "Ana", "a-long-password", "acme", engine.RoleEditor); err != nil {
		t.Fatal(err)
	}
	token, err := account.CreateToken(ctx, st, "ana", "acme", "cli", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "flaky")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(dir, 0o755))
	must(os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte("name: Flaky\ncells:\n  - name: first\n    kind: shell\n    file: first.sh\n  - name: second\n    kind: shell\n    file: second.sh\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "first.sh"), []byte("echo first\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "second.sh"), []byte("echo second\nexit 1\n"), 0o644))
	if code, out := runCmd(t, Import, "--server", ts.URL, "--token", token, dir); code != ExitOK {
		t.Fatalf("import: %d %s", code, out)
	}
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/flows/flaky/runs", strings.NewReader(`{"wait":"30s"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	must(err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var run struct{ ID, Status string }
	json.Unmarshal(b, &run)
	if run.Status != "failed" {
		t.Fatalf("the first run: %s", b)
	}
	code, out := runCmd(t, Rerun, "--server", ts.URL, "--token", token, run.ID, "--wait", "30s")
	if code != ExitFailed || !strings.Contains(out, "re-runs "+run.ID+" from cell second: failed") {
		t.Errorf("rerun --wait of a run failing again: %d %s", code, out)
	}
	if code, out := runCmd(t, Rerun, "--server", ts.URL, "--token", token, "r_nope"); code != ExitInvalid || !strings.Contains(out, "r_nope") {
		t.Errorf("rerun of an unknown run: %d %s", code, out)
	}
}
