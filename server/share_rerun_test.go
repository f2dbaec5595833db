package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
)

// TestShareOfRerun: the share page of a re-run shows the cells it took from
// the failed run too (their output, "reused from the earlier run"), as the
// studio's run page does, without naming or linking the other run; the
// share's log of a reused cell is the earlier run's.
func TestShareOfRerun(t *testing.T) {
	f := setupUnsandboxed(t, testDB)
	fixed := filepath.Join(t.TempDir(), "fixed")
	f.addFlow("retry", &engine.Flow{Name: "Retry", Cells: []engine.Cell{
		{Name: "first", Kind: engine.KindShell, File: "first.sh", Source: "echo first-out-41\n"},
		{Name: "second", Kind: engine.KindShell, File: "second.sh", Source: "test -f '" + fixed + "' || exit 1\necho second-out\n"},
	}})
	failed := f.startRun("retry", `{}`, "30s")
	if r := f.waitRun(failed); r.Status != engine.RunFailed {
		t.Fatalf("first run: %s (%s); want failed", r.Status, r.Error)
	}
	if err := os.WriteFile(fixed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out := f.apiJSON("runner", "POST", "/api/v1/runs/"+failed+"/rerun", `{"wait":"30s"}`, http.StatusCreated)
	again, _ := out["id"].(string)
	if r := f.waitRun(again); r.Status != engine.RunSucceeded {
		t.Fatalf("re-run: %s (%s); want succeeded", r.Status, r.Error)
	}
	var sh struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(body(t, f.do("owner", "POST", "/api/v1/runs/"+again+"/shares", "{}"), http.StatusCreated)), &sh); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(sh.URL)
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, f.do("", "GET", u.Path, ""), http.StatusOK)
	for _, want := range []string{`data-cell="first"`, "first-out-41", "reused from the earlier run", `data-cell="second"`, "second-out"} {
		if !strings.Contains(page, want) {
			t.Errorf("the re-run's share page lacks %q", want)
		}
	}
	if strings.Contains(page, failed) {
		t.Errorf("the share page names the earlier run %s", failed)
	}
	if log := body(t, f.do("", "GET", u.Path+"/log?cell=first", ""), http.StatusOK); !strings.Contains(log, "first-out-41") {
		t.Errorf("the share's log of the reused cell: %q", log)
	}
}
