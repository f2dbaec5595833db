package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/server"
)

// studio starts a real server on SQLite with an editor's token.
func studio(t *testing.T) (url, token string) {
	t.Helper()
	ctx := context.Background()
	data := t.TempDir()
	st, err := store.Open(ctx, store.Config{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := server.New(server.Config{Store: st, DataDir: data})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	if _, _, err := account.AddUser(ctx, st, "ana", "Ana", "a-long-password", "acme", engine.RoleEditor); err != nil {
		t.Fatal(err)
	}
	token, err = account.CreateToken(ctx, st, "ana", "acme", "cli", "")
	if err != nil {
		t.Fatal(err)
	}
	return ts.URL, token
}

func runCmd(t *testing.T, cmd func(context.Context, []string, Stdio) int, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cmd(context.Background(), args, Stdio{Out: &out, Err: &errb})
	return code, out.String() + errb.String()
}

// TestImportExport: import creates the flow, an import of the same folder
// makes no version, one of a changed folder does, and export writes back
// the folder byte for byte.
func TestImportExport(t *testing.T) {
	url, token := studio(t)
	src := filepath.Join("..", "testdata", "flows", "service-health")
	code, out := runCmd(t, Import, "--server", url, "--token", token, src)
	if code != ExitOK || !strings.Contains(out, "created service-health v1") {
		t.Fatalf("import: %d %s", code, out)
	}
	t.Setenv("OPSBOOK_SERVER", url)
	t.Setenv("OPSBOOK_TOKEN", token)
	code, out = runCmd(t, Import, src, "--message", "again")
	if code != ExitOK || !strings.Contains(out, "service-health is unchanged: this archive holds the same flow as v1; no new version was made") {
		t.Fatalf("second import of the same folder: %d %s", code, out)
	}
	// A changed folder is v2.
	changed := filepath.Join(t.TempDir(), "service-health")
	if err := os.CopyFS(changed, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	manifest, _ := os.ReadFile(filepath.Join(changed, "flow.yaml"))
	os.WriteFile(filepath.Join(changed, "flow.yaml"), bytes.Replace(manifest, []byte("name: "), []byte("name: Changed "), 1), 0o644)
	code, out = runCmd(t, Import, changed, "--message", "again")
	if code != ExitOK || !strings.Contains(out, "as v2") {
		t.Fatalf("import of a changed folder: %d %s", code, out)
	}
	code, out = runCmd(t, Import, src, "--message", "back")
	if code != ExitOK || !strings.Contains(out, "as v3") {
		t.Fatalf("import of the first folder again: %d %s", code, out)
	}
	dir := filepath.Join(t.TempDir(), "out")
	code, out = runCmd(t, Export, "service-health", "--out", dir)
	if code != ExitOK || !strings.Contains(out, "v3") {
		t.Fatalf("export: %d %s", code, out)
	}
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		want, _ := os.ReadFile(filepath.Join(src, e.Name()))
		got, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs after export (%v)", e.Name(), err)
		}
	}
	code, out = runCmd(t, Export, "service-health", "--version", "1", "--out", filepath.Join(t.TempDir(), "v1"))
	if code != ExitOK || !strings.Contains(out, "v1") {
		t.Fatalf("export v1: %d %s", code, out)
	}

	// Errors: an invalid folder is refused here; a missing flow or version
	// there; no token at all.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "flow.yaml"), []byte("name: X\ncells:\n  - name: a\n    kind: expr\n    file: a.expr\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "a.expr"), []byte("cells.nope.value\n"), 0o644)
	if code, out := runCmd(t, Import, bad); code != ExitInvalid || !strings.Contains(out, "nope") {
		t.Errorf("invalid folder: %d %s", code, out)
	}
	if code, out := runCmd(t, Export, "nope"); code != ExitFailed || !strings.Contains(out, "not found") {
		t.Errorf("missing flow: %d %s", code, out)
	}
	if code, _ := runCmd(t, Export, "service-health", "--version", "9"); code != ExitFailed {
		t.Errorf("missing version: %d", code)
	}
	t.Setenv("OPSBOOK_TOKEN", "")
	if code, out := runCmd(t, Export, "service-health"); code != ExitInvalid || !strings.Contains(out, "token") {
		t.Errorf("no token: %d %s", code, out)
	}
}
