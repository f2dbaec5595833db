package server

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine/store"
)

// TestRetentionSettings: an owner sets how long runs and logs are kept,
// bad values are refused with a message, and only owners see the section
// with the disk the workspace uses.
func TestRetentionSettings(t *testing.T) {
	f := setup(t, testDB)
	page := func(resp *http.Response) string {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	resp := f.do("owner", "POST", "/w/acme/retention", "keep_runs_days=-1&keep_logs_days=x")
	body := page(resp)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "keep runs a whole number of days") || !strings.Contains(body, "keep logs a whole number of days") {
		t.Fatalf("bad values: %d\n%s", resp.StatusCode, body)
	}
	g, err := f.st.RetentionOf(context.Background(), f.ws.ID)
	if err != nil || g.KeepLogsDays != 90 || g.KeepRunsDays != 0 {
		t.Fatalf("retention after a refused form = %+v, %v", g, err)
	}
	// A git checkout of 3000 bytes counts in the disk use.
	dir := filepath.Join(f.srv.cfg.DataDir, "git", f.ws.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pack"), make([]byte, 3000), 0o600); err != nil {
		t.Fatal(err)
	}
	resp = f.do("owner", "POST", "/w/acme/retention", "keep_runs_days=365&keep_logs_days=30")
	body = page(resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "data-retention-saved") {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	g, err = f.st.RetentionOf(context.Background(), f.ws.ID)
	if err != nil || g.KeepRunsDays != 365 || g.KeepLogsDays != 30 || g.UpdatedBy != f.users["owner"].ID {
		t.Fatalf("retention = %+v, %v", g, err)
	}
	body = page(f.do("owner", "GET", "/w/acme/settings", ""))
	for _, want := range []string{`value="365"`, `value="30"`, `data-disk="runs">1<`, `data-disk="git">2.9 KiB<`} {
		if !strings.Contains(body, want) {
			t.Errorf("the owner's settings lack %s", want)
		}
	}
	for _, role := range []string{"editor", "runner", "viewer"} {
		if body := page(f.do(role, "GET", "/w/acme/settings", "")); strings.Contains(body, "data-disk-use") || strings.Contains(body, `id="retention"`) {
			t.Errorf("%s sees the retention section", role)
		}
	}
	audit, err := f.st.Audit(context.Background(), store.AuditQuery{WorkspaceID: f.ws.ID, Action: actRetentionConfigured})
	if err != nil || len(audit) != 1 || audit[0].Detail != "keep runs 365 days, keep logs 30 days" {
		t.Fatalf("audit = %+v, %v", audit, err)
	}
}

// TestPrunedLogShown: after a run's logs are pruned, every way of reading
// it — the run page, a share link, the download, the API's events — says
// where its lines were and when they were pruned, and keeps the rest.
func TestPrunedLogShown(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	_, share := f.shareRun(f.run, false)
	before, err := f.st.Events(ctx, f.run, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	on := time.Date(2031, 5, 6, 7, 0, 0, 0, time.UTC)
	if _, err := f.st.PruneRunLogs(ctx, f.run, on, nil); err != nil {
		t.Fatal(err)
	}
	after, err := f.st.Events(ctx, f.run, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after[len(after)-1].Seq != before[len(before)-1].Seq {
		t.Fatalf("the last seq moved: %d → %d", before[len(before)-1].Seq, after[len(after)-1].Seq)
	}
	const marker = "log lines pruned on 2031-05-06"
	for _, p := range []struct{ role, path string }{
		{"viewer", "/runs/" + f.run},
		{"viewer", "/runs/" + f.run + "/log?cell=greet"},
		{"", share},
		{"", share + "/log?cell=greet"},
		{"viewer", "/api/v1/runs/" + f.run + "/log?cell=greet"},
		{"viewer", "/api/v1/runs/" + f.run + "/events"},
	} {
		resp := f.do(p.role, "GET", p.path, "")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), marker) {
			t.Errorf("%s: %d, no marker:\n%.2000s", p.path, resp.StatusCode, b)
		}
		if strings.Contains(string(b), "hello, ") {
			t.Errorf("%s still shows a pruned line", p.path)
		}
	}
}
