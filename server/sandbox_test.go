package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// TestRunCellsCannotReachTheServer: a cell of a run started by the server
// reads none of the data folder, none of the server's environment, and
// cannot connect to the studio's port on the loopback.
func TestRunCellsCannotReachTheServer(t *testing.T) {
	t.Setenv("OPSBOOK_SECRET_KEY_MARKER", "opsbook-env-marker-31337")
	f := setup(t, testDB)
	data := f.srv.runs.pool.DataDir()
	key, err := os.ReadFile(filepath.Join(data, "secret.key"))
	if err != nil || len(key) < 16 {
		t.Fatalf("the data folder has no key file: %v", err)
	}
	u, _ := url.Parse(f.ts.URL)
	// The cell's working directory on the host, to build relative paths.
	hostWork := filepath.Join(f.srv.runs.pool.RunDir(), "r_x", "work")
	rel, _ := filepath.Rel(hostWork, data)
	src := fmt.Sprintf(`
for f in %[1]s/secret.key %[1]s/opsbook.db %[2]s/secret.key %[2]s/opsbook.db /proc/$PPID/environ /proc/1/environ; do
  base64 -w0 "$f" 2>/dev/null; cat "$f" 2>/dev/null
done
env; cat /proc/*/environ 2>/dev/null | tr '\0' '\n'
(timeout 3 bash -c 'exec 3<>/dev/tcp/%[3]s/%[4]s; echo "GET / HTTP/1.0"; cat <&3' && echo CONNECTED) 2>&1 || echo refused
(timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5432' && echo CONNECTED) 2>&1 || echo refused
echo uid=$(id -u)
grep CapEff /proc/self/status
`, data, rel, u.Hostname(), u.Port())
	fl := &engine.Flow{Name: "Snoop", Cells: []engine.Cell{{Name: "snoop", Kind: engine.KindShell, File: "snoop.sh", Source: src}}}
	r, err := f.srv.runs.Start(context.Background(), StartRequest{Workspace: f.ws, FlowID: f.flow.ID, FlowSlug: "hello", Flow: fl, StartedBy: f.users["owner"]})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.waitRun(r.ID); got.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %s", got.Status, got.Error)
	}
	evs, err := f.st.Events(context.Background(), r.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for _, e := range evs {
		log.Write(e.Data)
		log.WriteByte('\n')
	}
	out := log.String()
	keyText := strings.TrimSpace(string(key))
	for _, bad := range []string{keyText, "SQLite format 3", "opsbook-env-marker-31337", "CONNECTED", "uid=0"} {
		if strings.Contains(out, bad) {
			t.Errorf("the cell's log holds %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{"uid=65534", "CapEff:\\t0000000000000000", "refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("the cell's log lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "runs")); err == nil {
		t.Errorf("run directories are inside the data folder")
	}
}

// TestNoSandboxBanner: without a sandbox, owners see a warning on their
// pages; others do not, and nobody does with one.
func TestNoSandboxBanner(t *testing.T) {
	f := setup(t, testDB)
	body := func(role string) string {
		resp := f.do(role, "GET", "/w/acme", "")
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	const banner = "Cells run without a sandbox"
	if strings.Contains(body("owner"), banner) {
		t.Error("a sandboxed studio shows the banner")
	}
	f.srv.sandbox = false
	if !strings.Contains(body("owner"), banner) {
		t.Error("an owner does not see the banner")
	}
	if strings.Contains(body("editor"), banner) {
		t.Error("an editor sees the banner")
	}
}

// TestSandboxSettings: an owner sets the workspace's limits in Settings,
// bad values are refused with a message, and the next run has the limits.
func TestSandboxSettings(t *testing.T) {
	f := setup(t, testDB)
	page := func(resp *http.Response) string {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	resp := f.do("owner", "POST", "/w/acme/sandbox", "procs=3&files=4096&file_size=x&memory=0")
	body := page(resp)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "allow at least 8 processes") || !strings.Contains(body, "give the largest file as a whole number") {
		t.Fatalf("bad values: %d\n%s", resp.StatusCode, body)
	}
	resp = f.do("owner", "POST", "/w/acme/sandbox", "procs=256&files=512&file_size=1&memory=0")
	if body := page(resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "data-sandbox-saved") {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	if body := page(f.do("viewer", "GET", "/w/acme/settings", "")); !strings.Contains(body, "Processes 256, open files 512, largest file 1 MiB") {
		t.Errorf("a viewer does not see the limits:\n%s", body)
	}
	fl := &engine.Flow{Name: "Big", Cells: []engine.Cell{{Name: "big", Kind: engine.KindShell, File: "big.sh",
		Source: "head -c 3000000 /dev/zero > big.bin; echo status=$? size=$(stat -c %s big.bin) files=$(ulimit -n)\n"}}}
	r, err := f.srv.runs.Start(context.Background(), StartRequest{Workspace: f.ws, FlowID: f.flow.ID, FlowSlug: "hello", Flow: fl, StartedBy: f.users["owner"]})
	if err != nil {
		t.Fatal(err)
	}
	f.waitRun(r.ID)
	evs, _ := f.st.Events(context.Background(), r.ID, 0, 0)
	var log strings.Builder
	for _, e := range evs {
		log.Write(e.Data)
	}
	if !strings.Contains(log.String(), "size=1048576 files=512") || strings.Contains(log.String(), "status=0") {
		t.Errorf("the run does not have the workspace's limits:\n%s", log.String())
	}
}

// eventsText is the stored events of a run, one per line.
func eventsText(evs []store.StoredEvent) string {
	var b strings.Builder
	for _, e := range evs {
		b.Write(e.Data)
		b.WriteByte('\n')
	}
	return b.String()
}
