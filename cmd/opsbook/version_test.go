package main

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestVersion: `opsbook version` prints the release, the commit, its date
// and the Go version; the release, commit and date set with -ldflags are
// what it prints when the go command recorded no vcs settings.
func TestVersion(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "v1.2.3", "0123abcd", "2026-12-07T05:00:00Z"
	var b bytes.Buffer
	printVersion(&b, readBuildInfo())
	for _, want := range []string{"opsbook v1.2.3\n", "commit  0123abcd\n", "built   2026-12-07T05:00:00Z\n", "go      " + runtime.Version() + "\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in:\n%s", want, b.String())
		}
	}
	if testing.Short() {
		return
	}
	out := opsbook(t, buildOpsbook(t), "", "version")
	if !strings.HasPrefix(out, "opsbook dev\ncommit  ") || !strings.Contains(out, "go      go1.") {
		t.Errorf("opsbook version:\n%s", out)
	}
}

// TestWorkerMetrics: `opsbook worker --metrics-addr` serves the Prometheus
// format to a loopback client: its workers, the queue read from the
// database, the Go runtime.
func TestWorkerMetrics(t *testing.T) {
	p := newPlane(t)
	addr := freeAddr(t)
	p.start("serving metrics", "worker", "--concurrency", "3", "--data", t.TempDir(), "--run-dir", t.TempDir(), "--sandbox", "none", "--metrics-addr", addr)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	p2 := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p2.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if m := fams["opsbook_workers"]; m == nil || m.GetMetric()[0].GetGauge().GetValue() != 3 {
		t.Errorf("opsbook_workers: %v, want 3", m)
	}
	for _, name := range []string{"opsbook_workers_busy", "opsbook_queue_depth", "opsbook_pgx_pool_connections", "go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}
