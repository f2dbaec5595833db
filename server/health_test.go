package server

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/store"
)

// scrape reads /metrics as Prometheus does, with extra request headers.
func (f *fixture) scrape(header ...string) map[string]*dto.MetricFamily {
	f.t.Helper()
	resp := f.do("", "GET", "/metrics", "", header...)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		f.t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		f.t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// metricValue is the value (a counter's, a gauge's, a histogram's count)
// of the series of fam with labels, or -1 when there is none.
func metricValue(fams map[string]*dto.MetricFamily, fam string, labels ...string) float64 {
	mf := fams[fam]
	if mf == nil {
		return -1
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == labels[i] && l.GetValue() == labels[i+1] }) {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetrics: /metrics parses with Prometheus's own text parser, has every
// family docs/OPERATING.md lists, and its run, cell and socket figures move
// when a run runs and a viewer connects.
func TestMetrics(t *testing.T) {
	t.Parallel()
	f := setup(t, testDB) // one run of hello has succeeded
	fams := f.scrape()
	for _, name := range []string{
		"opsbook_runs_total", "opsbook_run_duration_seconds", "opsbook_cell_duration_seconds",
		"opsbook_queue_depth", "opsbook_queue_oldest_wait_seconds", "opsbook_workers_busy", "opsbook_workers",
		"opsbook_collab_documents", "go_sql_open_connections", "go_goroutines", "go_memstats_heap_alloc_bytes",
		"process_resident_memory_bytes", "process_open_fds",
	} {
		if fams[name] == nil {
			t.Errorf("no metric family %s", name)
		}
	}
	if testDB == "postgres" && fams["opsbook_pgx_pool_connections"] == nil {
		t.Errorf("no opsbook_pgx_pool_connections on PostgreSQL")
	}
	if testDB == "sqlite" && metricValue(fams, "go_sql_max_open_connections", "db_name", "sqlite-read") <= 0 {
		t.Errorf("no go_sql_max_open_connections for SQLite's readers")
	}
	runs := func(fams map[string]*dto.MetricFamily) float64 {
		return metricValue(fams, "opsbook_runs_total", "workspace", "acme", "flow", "hello", "status", "succeeded")
	}
	if got := runs(fams); got != 1 {
		t.Errorf("opsbook_runs_total{acme,hello,succeeded} = %v, want 1", got)
	}
	shells := metricValue(fams, "opsbook_cell_duration_seconds", "kind", "shell", "status", "succeeded")
	exprs := metricValue(fams, "opsbook_cell_duration_seconds", "kind", "expr", "status", "succeeded")
	if shells != 1 || exprs != 1 {
		t.Errorf("cell durations: shell %v, expr %v; want 1 each", shells, exprs)
	}
	if got := metricValue(fams, "opsbook_queue_depth"); got != 0 {
		t.Errorf("opsbook_queue_depth = %v, want 0", got)
	}
	if got := metricValue(fams, "opsbook_workers"); got != defaultWorkers {
		t.Errorf("opsbook_workers = %v, want %d", got, defaultWorkers)
	}

	// Another run, and an editor with the flow open.
	id := f.startRun("hello", `{"who":"metrics"}`, "30s")
	f.waitRun(id)
	c, err := f.dial("editor", "/w/acme/flows/hello/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := c.ReadMessage(); err != nil { // the socket is served
		t.Fatal(err)
	}
	fams = f.scrape()
	if got := runs(fams); got != 2 {
		t.Errorf("after a second run: opsbook_runs_total = %v, want 2", got)
	}
	if got := metricValue(fams, "opsbook_run_duration_seconds", "status", "succeeded"); got != 2 {
		t.Errorf("opsbook_run_duration_seconds count = %v, want 2", got)
	}
	if got := metricValue(fams, "opsbook_cell_duration_seconds", "kind", "shell", "status", "succeeded"); got != 2 {
		t.Errorf("shell cell durations = %v, want 2", got)
	}
	if got := metricValue(fams, "opsbook_websocket_connections", "kind", "notebook"); got != 1 {
		t.Errorf("opsbook_websocket_connections{kind=notebook} = %v, want 1", got)
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(f.scrape(), "opsbook_websocket_connections", "kind", "notebook") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("opsbook_websocket_connections{kind=notebook} still 1 10s after the socket closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsQueue: the queue's depth and wait are read from the store at
// each scrape: a run nobody claims (a web-only studio) is counted, and its
// wait grows from when it was queued.
func TestMetricsQueue(t *testing.T) {
	t.Parallel()
	st, data := openStore(t, testDB)
	f := serveFixture(t, st, Config{DataDir: data, Sandbox: &sandbox.Config{}, WebOnly: true}, false)
	ctx := context.Background()
	u, err := st.CreateUser(ctx, "owner", "Owner", testHash)
	if err != nil {
		t.Fatal(err)
	}
	f.users["owner"] = u
	fl := &engine.Flow{Name: "Waits", Cells: []engine.Cell{{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "true\n"}}}
	fs := f.addFlow("waits", fl)
	if _, err := f.srv.runs.Start(ctx, StartRequest{Workspace: f.ws, FlowID: fs.ID, FlowSlug: fs.Slug, Flow: fl, Version: 1, StartedBy: u}); err != nil {
		t.Fatal(err)
	}
	fams := f.scrape()
	if got := metricValue(fams, "opsbook_queue_depth"); got != 1 {
		t.Errorf("opsbook_queue_depth = %v, want 1", got)
	}
	if got := metricValue(fams, "opsbook_queue_oldest_wait_seconds"); got < 0 {
		t.Errorf("opsbook_queue_oldest_wait_seconds = %v, want ≥ 0", got)
	}
	if fams["opsbook_workers_busy"] != nil {
		t.Errorf("a web-only studio reports opsbook_workers_busy")
	}
}

// TestMetricsGate: with OPSBOOK_METRICS_TOKEN only the bearer of that
// token reads /metrics; without one only loopback clients do, as the
// trusted-proxy rules find the client: a proxy on this host forwarding a
// remote client is refused, though its own peer address is loopback.
func TestMetricsGate(t *testing.T) {
	t.Parallel()
	t.Run("token", func(t *testing.T) {
		t.Parallel()
		st, data := openStore(t, testDB)
		f := serveFixture(t, st, Config{DataDir: data, Sandbox: &sandbox.Config{}, MetricsToken: "s3cret-metrics"}, false)
		for _, tc := range []struct {
			auth string
			want int
		}{
			{"", http.StatusUnauthorized},
			{"Bearer wrong", http.StatusUnauthorized},
			{"Bearer s3cret-metric", http.StatusUnauthorized},
			{"Basic s3cret-metrics", http.StatusUnauthorized},
			{"Bearer s3cret-metrics", http.StatusOK},
		} {
			var h []string
			if tc.auth != "" {
				h = []string{"Authorization", tc.auth}
			}
			resp := f.do("", "GET", "/metrics", "", h...)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("Authorization %q: %d, want %d", tc.auth, resp.StatusCode, tc.want)
			}
		}
	})
	t.Run("loopback", func(t *testing.T) {
		t.Parallel()
		st, data := openStore(t, testDB)
		f := serveFixture(t, st, Config{DataDir: data, Sandbox: &sandbox.Config{}, HTTP: HTTPConfig{TrustedProxies: mustPrefixes(t, "127.0.0.1")}}, false)
		for _, tc := range []struct {
			fwd  string
			want int
		}{
			{"", http.StatusOK},                           // the peer itself, loopback
			{"127.0.0.1", http.StatusOK},                  // the proxy forwards a loopback client
			{"203.0.113.9", http.StatusForbidden},         // the proxy forwards a remote client
			{"127.0.0.1, 10.1.2.3", http.StatusForbidden}, // the client is the rightmost untrusted hop
		} {
			var h []string
			if tc.fwd != "" {
				h = []string{"X-Forwarded-For", tc.fwd}
			}
			resp := f.do("", "GET", "/metrics", "", h...)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("X-Forwarded-For %q: %d, want %d (%s)", tc.fwd, resp.StatusCode, tc.want, b)
			}
			if tc.want == http.StatusForbidden && !strings.Contains(string(b), "OPSBOOK_METRICS_TOKEN") {
				t.Errorf("the refusal does not say what to do: %s", b)
			}
		}
	})
}

// readyz reads /readyz: its status and the failed checks it names.
func (f *fixture) readyz() (int, []string, map[string]string) {
	f.t.Helper()
	resp := f.do("", "GET", "/readyz", "")
	defer resp.Body.Close()
	var out struct {
		OK     bool              `json:"ok"`
		Failed []string          `json:"failed"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		f.t.Fatalf("/readyz: %v", err)
	}
	if out.OK != (resp.StatusCode == http.StatusOK) {
		f.t.Errorf("/readyz: ok %v with status %d", out.OK, resp.StatusCode)
	}
	return resp.StatusCode, out.Failed, out.Checks
}

// TestHealthAndReady: /healthz and /readyz answer anyone; /readyz checks
// the database, the queue and the schema, and names what fails: a schema
// one migration behind the binary is not ready.
func TestHealthAndReady(t *testing.T) {
	t.Parallel()
	f := setup(t, testDB)
	body(t, f.do("", "GET", "/healthz", ""), http.StatusOK)
	code, failed, checks := f.readyz()
	if code != http.StatusOK || len(failed) != 0 {
		t.Fatalf("/readyz: %d, failed %v, checks %v", code, failed, checks)
	}
	for _, c := range []string{"database", "queue", "migrations"} {
		if checks[c] != "ok" {
			t.Errorf("check %s: %q", c, checks[c])
		}
	}
	ctx := context.Background()
	if _, err := f.st.SQLDB().ExecContext(ctx, "UPDATE schema_migrations SET version = version - 1"); err != nil {
		t.Fatal(err)
	}
	code, failed, checks = f.readyz()
	if code != http.StatusServiceUnavailable || !slices.Equal(failed, []string{"migrations"}) || !strings.Contains(checks["migrations"], "opsbook migrate up") {
		t.Errorf("schema behind: %d, failed %v, checks %v", code, failed, checks)
	}
	if _, err := f.st.SQLDB().ExecContext(ctx, "UPDATE schema_migrations SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	if code, failed, _ := f.readyz(); code != http.StatusOK {
		t.Errorf("schema current again: %d, failed %v", code, failed)
	}
}

// privatePG starts a PostgreSQL server of the test's own (initdb and
// pg_ctl on a temporary folder and a free port, as the postgres user when
// the test runs as root), so the test may stop it: the machine's shared
// PostgreSQL is never touched. It returns the server's URL and its
// pg_ctl, with which the test stops and starts it.
func privatePG(t *testing.T) (url string, pgctl func(args ...string)) {
	t.Helper()
	bin := cmp.Or(os.Getenv("OPSBOOK_PG_BIN"), "/usr/lib/postgresql/15/bin")
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		t.Skipf("no initdb in %s (set OPSBOOK_PG_BIN to PostgreSQL's bin folder): %v", bin, err)
	}
	var as []string // the command prefix that runs PostgreSQL as a non-root user
	dir, err := os.MkdirTemp("", "opsbook-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			t.Skip("running as root and there is no runuser to run PostgreSQL as postgres")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		as = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(name string, args ...string) {
		t.Helper()
		argv := append(append(slices.Clone(as), filepath.Join(bin, name)), args...)
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	data := filepath.Join(dir, "data")
	run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir)
	pgctl = func(args ...string) {
		t.Helper()
		run("pg_ctl", append([]string{"-D", data, "-w", "-t", "60", "-l", filepath.Join(dir, "log"), "-o", opts}, args...)...)
	}
	pgctl("start")
	t.Cleanup(func() {
		argv := append(slices.Clone(as), filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
		exec.Command(argv[0], argv[1:]...).Run()
	})
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), pgctl
}

// TestReadyzPostgresStopped: /readyz fails, naming the database, while
// PostgreSQL is stopped, and recovers when it is back; /healthz, which
// asks nothing of the database, stays up throughout.
func TestReadyzPostgresStopped(t *testing.T) {
	t.Parallel()
	url, pgctl := privatePG(t)
	ctx := context.Background()
	data := t.TempDir()
	st, err := store.Open(ctx, store.Config{Data: data, DB: url, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := serveFixture(t, st, Config{DataDir: data, Sandbox: &sandbox.Config{}}, false)
	if code, failed, checks := f.readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with PostgreSQL up: %d, failed %v, checks %v", code, failed, checks)
	}

	pgctl("stop", "-m", "fast")
	code, failed, checks := f.readyz()
	if code != http.StatusServiceUnavailable || !slices.Contains(failed, "database") {
		t.Errorf("/readyz with PostgreSQL stopped: %d, failed %v, checks %v", code, failed, checks)
	}
	if strings.Contains(fmt.Sprint(checks), "127.0.0.1") {
		t.Errorf("/readyz tells anyone the database's address: %v", checks)
	}
	body(t, f.do("", "GET", "/healthz", ""), http.StatusOK)

	pgctl("start")
	// The pools reconnect on their next use; a few probes may still see
	// connections broken by the restart.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, failed, checks = f.readyz()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 30s after PostgreSQL is back: %d, failed %v, checks %v", code, failed, checks)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
