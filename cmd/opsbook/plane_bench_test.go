package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opsbook/opsbook/engine/executor"
	"github.com/opsbook/opsbook/engine/sandbox"
)

// Benchmarks of the run plane (issue 10, BENCHMARKS.md "Run plane"). Each
// starts the real binary as its own processes (a studio, or a web-only
// replica and an `opsbook worker`) on a fresh SQLite folder or PostgreSQL
// database, drives it over loopback from the benchmark's process, and
// measures its baseline in the same run. One scenario per call: run with
//
//	go test -run '^$' -bench 'Plane' -benchtime 1x ./cmd/opsbook/
//
// PostgreSQL is OPSBOOK_TEST_PG (default postgres@127.0.0.1:5432); its
// scenarios are skipped when it cannot be reached.

// benchPhase is how long each measured phase lasts (OPSBOOK_BENCH_SECONDS
// overrides the 10 s).
func benchPhase() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("OPSBOOK_BENCH_SECONDS")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 10 * time.Second
}

// benchBinary builds the opsbook binary once, or takes OPSBOOK_BENCH_BIN
// (another build, to compare two in one session).
func benchBinary(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("OPSBOOK_BENCH_BIN"); bin != "" {
		return bin
	}
	return buildOpsbook(tb)
}

// bplane is one set of opsbook processes on one database.
type bplane struct {
	b     *testing.B
	bin   string
	base  string // PostgreSQL: the server's maintenance URL
	db    string // PostgreSQL: the test database's name
	dsn   string // "" on SQLite
	data  string // SQLite: the studio's data folder
	env   []string
	token string
}

const benchPassword = "a long enough password"

func newBenchPlane(b *testing.B, postgres bool) *bplane {
	b.Helper()
	p := &bplane{b: b, bin: benchBinary(b), data: b.TempDir()}
	if postgres {
		p.base = pgBase()
		p.dsn, p.db = freshDatabase(b, "opsbook_bench", true)
	}
	p.env = processEnv(p.dsn)
	p.run(benchPassword+"\n", "user", "add", "admin", "--role", "owner", "--data", p.data)
	p.token = strings.TrimSpace(p.run("", "token", "create", "--user", "admin", "--data", p.data))
	return p
}

func (p *bplane) run(stdin string, args ...string) string {
	p.b.Helper()
	return runOpsbook(p.b, p.bin, p.env, stdin, args...)
}

// start starts `opsbook args…`, waits until its stderr says ready, and
// stops it (SIGTERM, then SIGKILL after 20 s) when the benchmark ends.
func (p *bplane) start(ready string, args ...string) *proc {
	p.b.Helper()
	return startProc(p.b, p.bin, p.env, syscall.SIGTERM, ready, args...)
}

// serve starts a studio (workers 0: a web-only replica); every client
// is on 127.0.0.1, so the cap of connections per address is lifted.
func (p *bplane) serve(workers int, sandboxMode string) *proc {
	return p.start("is ready at", "serve", "--data", p.data, "--addr", "127.0.0.1:0", "--log-level", "warn",
		"--max-conns-per-addr", "0", "--workers", strconv.Itoa(workers), "--sandbox", sandboxMode, "--run-dir", p.b.TempDir(), "--grace", "5s")
}

// worker starts an `opsbook worker`.
func (p *bplane) worker(concurrency int, sandboxMode string) *proc {
	return p.start("worker ready", "worker", "--concurrency", strconv.Itoa(concurrency), "--data", p.b.TempDir(),
		"--run-dir", p.b.TempDir(), "--sandbox", sandboxMode, "--grace", "5s", "--log-level", "info")
}

// flow imports a flow of n cells of kind (shell: `true`; expr: `1 + 1`).
func (p *bplane) flow(url, slug, kind string, n int) {
	p.b.Helper()
	dir := filepath.Join(p.b.TempDir(), slug)
	os.MkdirAll(dir, 0o755)
	var y strings.Builder
	fmt.Fprintf(&y, "name: %s\ncells:\n", slug)
	for i := 1; i <= n; i++ {
		file := fmt.Sprintf("c%d.%s", i, map[string]string{"shell": "sh", "expr": "expr"}[kind])
		fmt.Fprintf(&y, "  - name: c%d\n    kind: %s\n    file: %s\n", i, kind, file)
		src := "true\n"
		if kind == "expr" {
			src = "1 + 1\n"
		}
		os.WriteFile(filepath.Join(dir, file), []byte(src), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(y.String()), 0o644)
	p.run("", "import", dir, "--server", url, "--token", p.token)
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}

// post starts a run of slug (waiting for its end when wait is set) and
// returns its id and status.
func (p *bplane) post(url, slug string, wait bool) (string, string, error) {
	body := `{}`
	if wait {
		body = `{"wait":"30s"}`
	}
	req, _ := http.NewRequest("POST", url+"/api/v1/flows/"+slug+"/runs", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := benchClient.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var out struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Error  any    `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("start %s: %d %v", slug, resp.StatusCode, out.Error)
	}
	return out.ID, out.Status, nil
}

// load runs clients loops posting runs of slug with "wait": "30s" for d,
// and returns the succeeded runs per second (runs whose answer came within
// d) and how many did not succeed.
func (p *bplane) load(url, slug string, clients int, d time.Duration) (float64, int) {
	p.b.Helper()
	var ok, bad atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				_, st, err := p.post(url, slug, true)
				switch {
				case err != nil:
					firstErr.CompareAndSwap(nil, err)
					bad.Add(1)
					time.Sleep(10 * time.Millisecond)
				case st != "succeeded":
					firstErr.CompareAndSwap(nil, fmt.Errorf("a run ended %s", st))
					bad.Add(1)
				default:
					if time.Now().Before(end) {
						ok.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		p.b.Logf("%d runs did not succeed; the first: %v", bad.Load(), err)
	}
	return float64(ok.Load()) / d.Seconds(), int(bad.Load())
}

// floor runs clients loops for d, each doing one "run" after another: the
// run's n `bash -c true` back to back, through spawn when given (a run's
// sandbox, started and closed per run by box), else forked from here. It
// returns runs per second.
func floor(b *testing.B, clients, n int, d time.Duration, box *sandbox.Config) float64 {
	b.Helper()
	var runs atomic.Int64
	var firstErr atomic.Value
	end := time.Now().Add(d)
	root := b.TempDir()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				var err error
				if box == nil {
					for range n {
						if err = exec.Command("bash", "-c", "true").Run(); err != nil {
							break
						}
					}
				} else {
					err = sandboxedRun(box, filepath.Join(root, fmt.Sprintf("%d-%d", c, i)), n)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if time.Now().Before(end) {
					runs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		b.Fatalf("floor: %v", err)
	}
	return float64(runs.Load()) / d.Seconds()
}

// floorAround measures the floor for half of d before and half after
// measure (which runs for d), so drift of the machine's load cancels
// out, and reports both figures (opsbook's and the floor's mean), with the
// CPU time each spent per run: the opsbook processes' own and their
// waited-for children's (the cells), and the benchmark process's and its
// children's during the floor.
func floorAround(b *testing.B, clients, n int, d time.Duration, box *sandbox.Config, procs []*proc, measure func() (float64, int)) {
	f1, c1 := floorCPU(b, clients, n, d/2, box)
	var before float64
	for _, pr := range procs {
		before += cpuAllMS(pr.cmd.Process.Pid)
	}
	got, bad := measure()
	var after float64
	for _, pr := range procs {
		after += cpuAllMS(pr.cmd.Process.Pid)
	}
	f2, c2 := floorCPU(b, clients, n, d/2, box)
	b.Logf("floor %.1f then %.1f runs/s around %.1f", f1, f2, got)
	fl := (f1 + f2) / 2
	reportRatio(b, got, fl, bad)
	if got > 0 {
		b.ReportMetric((after-before)/(got*d.Seconds()), "cpu-ms/run")
	}
	b.ReportMetric((c1+c2)/((f1+f2)*d.Seconds()/2), "floor-cpu-ms/run")
}

// floorCPU is floor with the CPU time this process and its children
// spent, in ms.
func floorCPU(b *testing.B, clients, n int, d time.Duration, box *sandbox.Config) (float64, float64) {
	c0 := rusageMS()
	r := floor(b, clients, n, d, box)
	return r, rusageMS() - c0
}

func rusageMS() float64 {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	ms := func(t syscall.Timeval) float64 { return float64(t.Sec)*1000 + float64(t.Usec)/1000 }
	return ms(self.Utime) + ms(self.Stime) + ms(kids.Utime) + ms(kids.Stime)
}

func reportRatio(b *testing.B, got, fl float64, bad int) {
	b.ReportMetric(got, "runs/s")
	b.ReportMetric(fl, "floor-runs/s")
	b.ReportMetric(got/fl, "x-floor")
	b.ReportMetric(float64(bad), "runs-failed")
	if bad > 0 {
		b.Errorf("%d runs did not succeed", bad)
	}
}

// warm runs a few runs so the first runs' costs (connections, caches)
// are not measured.
func (p *bplane) warm(url, slug string) {
	p.b.Helper()
	for range 5 {
		if _, st, err := p.post(url, slug, true); err != nil || st != "succeeded" {
			p.b.Fatalf("warm-up run: %s %v", st, err)
		}
	}
}

const benchClients = 8

// BenchmarkPlaneShell: 8 clients post runs of a 5-cell `true` flow and
// wait for each; the floor is 8 loops of 5 `bash -c true`.
func BenchmarkPlaneShell(b *testing.B) {
	d := benchPhase()
	b.Run("sqlite", func(b *testing.B) {
		p := newBenchPlane(b, false)
		s := p.serve(16, "none")
		procs := []*proc{s}
		p.flow(s.url, "shell5", "shell", 5)
		p.warm(s.url, "shell5")
		floorAround(b, benchClients, 5, d, nil, procs, func() (float64, int) { return p.load(s.url, "shell5", benchClients, d) })
	})
	b.Run("postgres-serve", func(b *testing.B) {
		p := newBenchPlane(b, true)
		s := p.serve(16, "none")
		procs := []*proc{s}
		p.flow(s.url, "shell5", "shell", 5)
		p.warm(s.url, "shell5")
		floorAround(b, benchClients, 5, d, nil, procs, func() (float64, int) { return p.load(s.url, "shell5", benchClients, d) })
	})
	b.Run("postgres-replica-worker", func(b *testing.B) {
		p := newBenchPlane(b, true)
		s := p.serve(0, "none")
		procs := []*proc{s, p.worker(16, "none")}
		p.flow(s.url, "shell5", "shell", 5)
		p.warm(s.url, "shell5")
		floorAround(b, benchClients, 5, d, nil, procs, func() (float64, int) { return p.load(s.url, "shell5", benchClients, d) })
	})
}

// sandboxedRun is one run of the sandboxed floor: the run's sandbox as a
// worker starts it (bwrap, the launcher, slirp4netns for the outbound
// network a flow has by default), n `bash -c true` through it, one after
// another, then the sandbox closed.
func sandboxedRun(box *sandbox.Config, root string, n int) error {
	dir, tmp := filepath.Join(root, "work"), filepath.Join(root, "tmp")
	defer os.RemoveAll(root)
	sb, err := box.Start(sandbox.Run{Dir: dir, TempDir: tmp, Network: sandbox.NetOutbound, Limits: sandbox.DefaultLimits})
	if err != nil {
		return err
	}
	defer sb.Close()
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer devnull.Close()
	for range n {
		pr, err := sb.Spawn(&executor.Spec{Program: "bash", Args: []string{"-c", "true"}, Env: sb.Env(), Dir: sb.Path(dir), Stdout: devnull, Stderr: devnull})
		if err != nil {
			return err
		}
		if ws, err := pr.Wait(); err != nil || ws.ExitStatus() != 0 {
			return fmt.Errorf("bash -c true in the sandbox: exit %d, %v", ws.ExitStatus(), err)
		}
	}
	return nil
}

// BenchmarkPlaneShellSandbox is BenchmarkPlaneShell with --sandbox bwrap,
// against the floor run in the same sandbox (one per run, as the worker
// starts it).
func BenchmarkPlaneShellSandbox(b *testing.B) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		b.Skip("bwrap is not installed")
	}
	box := &sandbox.Config{UID: sandbox.DefaultUID, GID: sandbox.DefaultUID}
	if err := box.Check(); err != nil {
		b.Skipf("no sandbox here: %v", err)
	}
	d := benchPhase()
	b.Run("sqlite", func(b *testing.B) {
		p := newBenchPlane(b, false)
		s := p.serve(16, "bwrap")
		procs := []*proc{s}
		p.flow(s.url, "shell5", "shell", 5)
		p.warm(s.url, "shell5")
		floorAround(b, benchClients, 5, d, box, procs, func() (float64, int) { return p.load(s.url, "shell5", benchClients, d) })
	})
	b.Run("postgres-replica-worker", func(b *testing.B) {
		p := newBenchPlane(b, true)
		s := p.serve(0, "bwrap")
		procs := []*proc{s, p.worker(16, "bwrap")}
		p.flow(s.url, "shell5", "shell", 5)
		p.warm(s.url, "shell5")
		floorAround(b, benchClients, 5, d, box, procs, func() (float64, int) { return p.load(s.url, "shell5", benchClients, d) })
	})
}

// BenchmarkPlaneExpr: a 5-cell expr flow on PostgreSQL, one web-only
// replica and one worker, with 8 and 32 clients (saturation).
func BenchmarkPlaneExpr(b *testing.B) {
	d := benchPhase()
	p := newBenchPlane(b, true)
	s := p.serve(0, "none")
	w := p.worker(16, "none")
	p.flow(s.url, "expr5", "expr", 5)
	p.warm(s.url, "expr5")
	for _, clients := range []int{8, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			c0, w0 := cpuMS(s.cmd.Process.Pid), cpuMS(w.cmd.Process.Pid)
			got, bad := p.load(s.url, "expr5", clients, d)
			n := got * d.Seconds()
			b.ReportMetric(got, "runs/s")
			b.ReportMetric((cpuMS(s.cmd.Process.Pid)-c0)/n, "replica-cpu-ms/run")
			b.ReportMetric((cpuMS(w.cmd.Process.Pid)-w0)/n, "worker-cpu-ms/run")
			b.ReportMetric(float64(bad), "runs-failed")
			if bad > 0 {
				b.Errorf("%d runs did not succeed", bad)
			}
		})
	}
}

// BenchmarkPlaneLatency starts runs of a 5-cell expr flow at a fixed rate
// for d (without waiting: an open loop) on PostgreSQL, one web-only
// replica and one worker, and reports, from the database, the time from
// each run's created_at (stamped by the replica when it stores the run)
// to its first cell.started event's at (stamped by the worker): both
// clocks are this machine's. 100 runs/s is the rate; 20 runs/s
// shows the dispatch delay of a plane that keeps up.
func BenchmarkPlaneLatency(b *testing.B) {
	d := benchPhase()
	p := newBenchPlane(b, true)
	s := p.serve(0, "none")
	p.worker(16, "none")
	p.flow(s.url, "expr5", "expr", 5)
	p.warm(s.url, "expr5")
	conn, err := pgx.Connect(context.Background(), p.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, rate := range []int{20, 100} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			var ids sync.Map
			var bad atomic.Int64
			var wg sync.WaitGroup
			t := time.NewTicker(time.Second / time.Duration(rate))
			end := time.Now().Add(d)
			for now := range t.C {
				if now.After(end) {
					break
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					id, _, err := p.post(s.url, "expr5", false)
					if err != nil {
						bad.Add(1)
						return
					}
					ids.Store(id, true)
				}()
			}
			t.Stop()
			wg.Wait()
			var list []string
			ids.Range(func(k, _ any) bool { list = append(list, k.(string)); return true })
			// Every run must end before its events are read.
			deadline := time.Now().Add(2 * time.Minute)
			for {
				var left int
				if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM runs WHERE id = ANY($1) AND status IN ('queued', 'running')`, list).Scan(&left); err != nil {
					b.Fatal(err)
				}
				if left == 0 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%d runs still unfinished two minutes after the last was started", left)
				}
				time.Sleep(100 * time.Millisecond)
			}
			rows, err := conn.Query(context.Background(), `
				SELECT EXTRACT(EPOCH FROM (MIN((e.data::jsonb->>'at')::timestamptz) - r.created_at)) * 1000,
					EXTRACT(EPOCH FROM (MAX(r.finished_at) - MAX(r.created_at))) * 1000
				FROM runs r JOIN run_events e ON e.run_id = r.id AND e.type = 'cell.started'
				WHERE r.id = ANY($1) GROUP BY r.id`, list)
			if err != nil {
				b.Fatal(err)
			}
			var lat, whole []time.Duration
			for rows.Next() {
				var ms, wms float64
				if err := rows.Scan(&ms, &wms); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Duration(ms*float64(time.Millisecond)))
				whole = append(whole, time.Duration(wms*float64(time.Millisecond)))
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(list))/d.Seconds(), "runs/s")
			b.ReportMetric(ms(pct(lat, 0.5)), "p50-ms")
			b.ReportMetric(ms(pct(lat, 0.99)), "p99-ms")
			b.ReportMetric(ms(pct(whole, 0.5)), "created-to-finished-p50-ms")
			b.ReportMetric(float64(bad.Load()), "posts-failed")
			if bad.Load() > 0 || len(lat) != len(list) {
				b.Errorf("%d posts failed, %d of %d runs without a cell.started", bad.Load(), len(list)-len(lat), len(list))
			}
		})
	}
}

func pct(d []time.Duration, f float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, int(f*float64(len(d))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// xactCommit reads the test database's committed transactions from
// pg_stat_database through a connection to another database (so the
// reads are not counted), after the statistics are flushed.
func (p *bplane) xactCommit() int64 {
	p.b.Helper()
	// Backends flush their counters at most once a second when idle.
	time.Sleep(1500 * time.Millisecond)
	conn, err := pgx.Connect(context.Background(), p.base)
	if err != nil {
		p.b.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), `SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, p.db).Scan(&n); err != nil {
		p.b.Fatal(err)
	}
	return n
}

// BenchmarkPlaneTransactions counts the transactions committed in the
// database per run on PostgreSQL (one web-only replica, one worker; 8
// clients with wait), less those of the processes idling for as long.
func BenchmarkPlaneTransactions(b *testing.B) {
	const runs = 200
	for _, kind := range []string{"shell", "expr"} {
		b.Run(kind, func(b *testing.B) {
			p := newBenchPlane(b, true)
			s := p.serve(0, "none")
			p.worker(16, "none")
			p.flow(s.url, "f5", kind, 5)
			p.warm(s.url, "f5")
			// Idle: leader elections, heartbeats, the reaper, polls.
			x0 := p.xactCommit()
			t0 := time.Now()
			time.Sleep(5 * time.Second)
			x1 := p.xactCommit()
			idle := float64(x1-x0) / time.Since(t0).Seconds()
			t1 := time.Now()
			var wg sync.WaitGroup
			var next, bad atomic.Int64
			for range benchClients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= runs {
						if _, st, err := p.post(s.url, "f5", true); err != nil || st != "succeeded" {
							bad.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			x2 := p.xactCommit()
			busy := time.Since(t1)
			perRun := (float64(x2-x1) - idle*busy.Seconds()) / runs
			b.ReportMetric(perRun, "xact/run")
			b.ReportMetric(idle, "idle-xact/s")
			b.ReportMetric(float64(bad.Load()), "runs-failed")
			b.Logf("%d commits over %d runs in %s (idle %.1f/s)", x2-x1, runs, busy.Round(time.Millisecond), idle)
			if bad.Load() > 0 {
				b.Errorf("%d runs did not succeed", bad.Load())
			}
		})
	}
}

func rssMB(pid int) float64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return float64(n) / 1024
		}
	}
	return 0
}

// BenchmarkPlaneWorkerRSS: an idle `opsbook worker`'s resident memory 2 s
// after it is ready, and 2 s after it ran 200 runs of a 5-cell shell flow
// (8 clients).
func BenchmarkPlaneWorkerRSS(b *testing.B) {
	p := newBenchPlane(b, true)
	s := p.serve(0, "none")
	w := p.worker(16, "none")
	time.Sleep(2 * time.Second)
	idle := rssMB(w.cmd.Process.Pid)
	p.flow(s.url, "shell5", "shell", 5)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= 200 {
				p.post(s.url, "shell5", true)
			}
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second)
	after := rssMB(w.cmd.Process.Pid)
	b.ReportMetric(idle, "idle-MB")
	b.ReportMetric(after, "after-runs-MB")
	b.ReportMetric(rssMB(s.cmd.Process.Pid), "replica-MB")
}

// cpuMS is the CPU time a process used, user and system, in ms.
func cpuMS(pid int) float64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	_, rest, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	sy, _ := strconv.ParseFloat(f[12], 64)
	return (u + sy) * 10 // clock ticks of 10 ms
}

// cpuAllMS is cpuMS with the process's waited-for children (its cells).
func cpuAllMS(pid int) float64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	_, rest, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if len(f) < 15 {
		return 0
	}
	var sum float64
	for _, i := range []int{11, 12, 13, 14} {
		v, _ := strconv.ParseFloat(f[i], 64)
		sum += v
	}
	return sum * 10
}
