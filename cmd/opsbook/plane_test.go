package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
)

// plane is a run plane of real processes on one PostgreSQL database:
// web-only replicas and workers.
type plane struct {
	t     *testing.T
	bin   string
	dsn   string
	env   []string
	token string
}

// newPlane makes a fresh PostgreSQL database, an owner and a token.
func newPlane(t *testing.T) *plane {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	dsn, _ := freshDatabase(t, "opsbook_plane", false)
	p := &plane{t: t, bin: buildOpsbook(t), dsn: dsn, env: processEnv(dsn)}
	p.run("a long enough password\n", "user", "add", "admin", "--role", "owner", "--workspace", "default", "--data", t.TempDir())
	p.token = strings.TrimSpace(p.run("", "token", "create", "--user", "admin", "--data", t.TempDir()))
	return p
}

// on is p for a subtest: its helpers fail t, not the parent test.
func (p *plane) on(t *testing.T) *plane {
	q := *p
	q.t = t
	return &q
}

func (p *plane) run(stdin string, args ...string) string {
	p.t.Helper()
	return runOpsbook(p.t, p.bin, p.env, stdin, args...)
}

// start starts `opsbook args…` and waits until its stderr says ready; it
// is killed when the test ends.
func (p *plane) start(ready string, args ...string) *proc {
	p.t.Helper()
	return startProc(p.t, p.bin, p.env, syscall.SIGKILL, ready, args...)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// replica starts a web-only `opsbook serve --workers 0` on addr.
func (p *plane) replica(addr string) *proc {
	pr := p.start("is ready at", "serve", "--workers", "0", "--addr", addr, "--data", p.t.TempDir(), "--sandbox", "bwrap", "--grace", "2s")
	pr.url = "http://" + addr
	return pr
}

// worker starts an `opsbook worker`.
func (p *plane) worker(concurrency int) *proc {
	return p.start("worker ready", "worker", "--concurrency", strconv.Itoa(concurrency), "--data", p.t.TempDir(), "--run-dir", p.t.TempDir(), "--sandbox", "bwrap", "--grace", "20s")
}

// flow imports a flow folder of files into the studio at url.
func (p *plane) flow(url, slug string, files map[string]string) {
	p.t.Helper()
	dir := filepath.Join(p.t.TempDir(), slug)
	os.MkdirAll(dir, 0o755)
	for name, data := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644)
	}
	p.run("", "import", dir, "--server", url, "--token", p.token)
}

func (p *plane) api(method, url string, body string) (int, map[string]any) {
	p.t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (p *plane) get(url string) string {
	p.t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func (p *plane) startRun(url, slug string) string {
	p.t.Helper()
	code, body := p.api("POST", url+"/api/v1/flows/"+slug+"/runs", "{}")
	if code != http.StatusCreated {
		p.t.Fatalf("start %s: %d %v", slug, code, body)
	}
	return body["id"].(string)
}

func (p *plane) runStatus(url, id string) (string, string) {
	p.t.Helper()
	code, body := p.api("GET", url+"/api/v1/runs/"+id, "")
	if code != http.StatusOK {
		p.t.Fatalf("get run %s: %d %v", id, code, body)
	}
	e, _ := body["error"].(string)
	return body["status"].(string), e
}

// waitStatus waits until the run's status is final and returns it.
func (p *plane) waitEnd(url, id string, d time.Duration) (string, string) {
	p.t.Helper()
	var st, e string
	if !waitFor(func() bool {
		st, e = p.runStatus(url, id)
		return st != "queued" && st != "running" && st != "waiting"
	}, d) {
		p.t.Fatalf("run %s still %s after %s", id, st, d)
	}
	return st, e
}

// sse reads a run's server-sent events from url until run.finished.
func sse(t *testing.T, token, url, id string) []map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/v1/runs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		out = append(out, ev)
		if ev["type"] == "run.finished" {
			return out
		}
	}
	t.Fatalf("the stream ended without run.finished (err %v) after %d events", sc.Err(), len(out))
	return nil
}

// TestRunPlane runs two web-only replicas and two workers on one
// PostgreSQL database: a run started on one replica is watched whole on
// the other, canceled from the other, survives a replica's restart, and a
// worker killed with -9 loses its run ("worker lost", its processes gone)
// while the other worker keeps serving.
func TestRunPlane(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bwrap is not installed")
	}
	p := newPlane(t)
	addrA, addrB := freeAddr(t), freeAddr(t)
	a, b := p.replica(addrA), p.replica(addrB)
	w1, w2 := p.worker(2), p.worker(2)
	_ = w2
	marker := fmt.Sprintf("301.%d", os.Getpid()%1000)
	p.flow(a.url, "count", map[string]string{
		"flow.yaml": "name: Count\ncells:\n  - name: count\n    kind: shell\n    file: count.sh\n  - name: done\n    kind: shell\n    file: done.sh\n",
		"count.sh":  "for i in $(seq 1 60); do echo line $i; sleep 0.01; done\n",
		"done.sh":   "echo done >&2\n",
	})
	p.flow(a.url, "sleepy", map[string]string{
		"flow.yaml": "name: Sleepy\ncells:\n  - name: nap\n    kind: shell\n    file: nap.sh\n",
		"nap.sh":    "sleep " + marker + " &\nwait\n",
	})
	p.flow(a.url, "medium", map[string]string{
		"flow.yaml": "name: Medium\ncells:\n  - name: wait\n    kind: shell\n    file: wait.sh\n",
		"wait.sh":   "sleep 4\necho finished\n",
	})

	t.Run("a limit-1 flow's runs never overlap across replicas and workers", func(t *testing.T) {
		p.flow(a.url, "single", map[string]string{
			"flow.yaml": "name: Single\nconcurrency: {limit: 1, overlap: queue}\ncells:\n  - name: span\n    kind: shell\n    file: span.sh\n",
			"span.sh":   "echo start $(date +%s%N)\nsleep 0.7\necho end $(date +%s%N)\n",
		})
		var ids []string
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				url := a.url
				if i%2 == 1 {
					url = b.url
				}
				id := p.startRun(url, "single")
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}()
		}
		wg.Wait()
		type span struct{ start, end int64 }
		var spans []span
		for _, id := range ids {
			if st, e := p.waitEnd(a.url, id, 60*time.Second); st != "succeeded" {
				t.Fatalf("run %s ended %s (%s)", id, st, e)
			}
			log := p.get(b.url + "/api/v1/runs/" + id + "/log?cell=span")
			var sp span
			for _, line := range strings.Split(log, "\n") {
				if v, ok := strings.CutPrefix(line, "start "); ok {
					sp.start, _ = strconv.ParseInt(v, 10, 64)
				}
				if v, ok := strings.CutPrefix(line, "end "); ok {
					sp.end, _ = strconv.ParseInt(v, 10, 64)
				}
			}
			if sp.start == 0 || sp.end == 0 {
				t.Fatalf("run %s log: %q", id, log)
			}
			spans = append(spans, sp)
		}
		for i := range spans {
			for j := range spans {
				if i != j && spans[i].start < spans[j].end && spans[j].start < spans[i].end {
					t.Fatalf("runs %s and %s overlapped: %v %v", ids[i], ids[j], spans[i], spans[j])
				}
			}
		}
	})

	t.Run("a webhook on one replica: a bad body is refused, a good one runs", func(t *testing.T) {
		p.flow(a.url, "hooked", map[string]string{
			"flow.yaml":   "name: Hooked\ninputs:\n  - name: n\n    type: number\ntriggers:\n  - webhook: true\ncells:\n  - name: double\n    kind: expr\n    file: double.expr\n",
			"double.expr": "inputs.n * 2\n",
		})
		code, body := p.api("POST", a.url+"/api/v1/flows/hooked/hooks", `{"name": "ci"}`)
		if code != http.StatusCreated {
			t.Fatalf("make a webhook: %d %v", code, body)
		}
		hook := b.url + "/hooks/" + body["token"].(string)
		for _, c := range []struct {
			body string
			want int
		}{
			{`{"n": `, http.StatusBadRequest},
			{`[1, 2]`, http.StatusBadRequest},
			{`{"n": "many"}`, http.StatusUnprocessableEntity},
			{`{"m": 1}`, http.StatusUnprocessableEntity},
		} {
			resp, err := http.Post(hook, "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("POST %s: %d; want %d", c.body, resp.StatusCode, c.want)
			}
		}
		resp, err := http.Post(hook+"?wait=30s", "application/json", strings.NewReader(`{"n": 21}`))
		if err != nil {
			t.Fatal(err)
		}
		var run map[string]any
		json.NewDecoder(resp.Body).Decode(&run)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || run["status"] != "succeeded" {
			t.Fatalf("webhook run: %d %v", resp.StatusCode, run)
		}
	})

	t.Run("the scratch database is the same on every worker", func(t *testing.T) {
		p.flow(a.url, "scratchw", map[string]string{
			"flow.yaml": "name: Scratch write\ncells:\n  - name: put\n    kind: sql\n    file: put.sql\n",
			"put.sql":   "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT);\nINSERT OR REPLACE INTO kv VALUES ('color', 'teal');\n",
		})
		p.flow(a.url, "scratchr", map[string]string{
			"flow.yaml": "name: Scratch read\ncells:\n  - name: get\n    kind: sql\n    file: get.sql\n",
			"get.sql":   "SELECT v FROM kv WHERE k = 'color';\n",
		})
		w := p.startRun(a.url, "scratchw")
		if st, e := p.waitEnd(a.url, w, 30*time.Second); st != "succeeded" {
			t.Fatalf("write: %s (%s)", st, e)
		}
		writer := p.holder(w)
		// The writer's worker stopped: the read lands on the other one.
		syscall.Kill(writer, syscall.SIGSTOP)
		defer syscall.Kill(writer, syscall.SIGCONT)
		r := p.startRun(b.url, "scratchr")
		if st, e := p.waitEnd(b.url, r, 30*time.Second); st != "succeeded" {
			t.Fatalf("read: %s (%s)", st, e)
		}
		if p.holder(r) == writer {
			t.Fatal("the stopped worker took the read")
		}
		if out := p.get(b.url + "/api/v1/runs/" + r); !strings.Contains(out, "teal") {
			t.Fatalf("the read on worker %d does not see the write of worker %d: %s", p.holder(r), writer, out)
		}
		syscall.Kill(writer, syscall.SIGCONT)
	})

	t.Run("watched on the other replica, whole and in order", func(t *testing.T) {
		for range 3 {
			id := p.startRun(a.url, "count")
			evs := sse(t, p.token, b.url, id)
			var lines []string
			for i, ev := range evs {
				if seq := int(ev["seq"].(float64)); seq != i+1 {
					t.Fatalf("event %d has seq %d: a gap or a double", i, seq)
				}
				if ev["type"] == "cell.log" && ev["cell"] == "count" {
					for _, l := range ev["lines"].([]any) {
						lines = append(lines, l.(string))
					}
				}
			}
			if len(lines) != 60 || lines[0] != "line 1" || lines[59] != "line 60" {
				t.Fatalf("got %d lines (%v…): want line 1 … line 60", len(lines), lines[:min(3, len(lines))])
			}
			if last := evs[len(evs)-1]; last["status"] != "succeeded" {
				t.Fatalf("run.finished %v", last)
			}
		}
	})

	t.Run("a notebook on the other replica sees it whole", func(t *testing.T) {
		cookie := signIn(t, b.url, "admin", "a long enough password")
		conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b.url, "http")+"/w/default/flows/count/ws", http.Header{"Cookie": {cookie}, "Origin": {b.url}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		id := p.startRun(a.url, "count")
		var seqs []int
		lines := 0
		conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("notebook socket: %v after seqs %v", err, seqs)
			}
			var m struct {
				T     string `json:"t"`
				Event struct {
					Run   string   `json:"run"`
					Seq   int      `json:"seq"`
					Type  string   `json:"type"`
					Lines []string `json:"lines"`
				} `json:"event"`
			}
			json.Unmarshal(data, &m)
			if m.T != "event" || m.Event.Run != id {
				continue
			}
			seqs = append(seqs, m.Event.Seq)
			if m.Event.Type == "cell.log" {
				lines += len(m.Event.Lines)
			}
			if m.Event.Type == "run.finished" {
				break
			}
		}
		for i, s := range seqs {
			if s != i+1 {
				t.Fatalf("the notebook got seqs %v: a gap or a double", seqs)
			}
		}
		if lines != 61 { // 60 lines, then "done"
			t.Fatalf("the notebook got %d lines; want 61", lines)
		}
	})

	t.Run("canceled from the other replica", func(t *testing.T) {
		id := p.startRun(a.url, "sleepy")
		if !waitFor(func() bool { return len(pgrep("sleep "+marker)) > 0 }, 20*time.Second) {
			t.Fatal("the cell never started")
		}
		start := time.Now()
		code, body := p.api("POST", b.url+"/api/v1/runs/"+id+"/cancel", "")
		if code != http.StatusAccepted {
			t.Fatalf("cancel: %d %v", code, body)
		}
		if st, _ := p.waitEnd(b.url, id, 10*time.Second); st != "canceled" {
			t.Fatalf("run %s after cancel", st)
		}
		t.Logf("cancel from the other replica to canceled: %s", time.Since(start))
		if !waitFor(func() bool { return len(pgrep("sleep "+marker)) == 0 }, 5*time.Second) {
			t.Fatalf("the cell's process outlived the cancel: %v", pgrep("sleep "+marker))
		}
	})

	t.Run("a replica restarts while a worker runs", func(t *testing.T) {
		id := p.startRun(a.url, "medium")
		if !waitFor(func() bool { st, _ := p.runStatus(b.url, id); return st == "running" }, 20*time.Second) {
			t.Fatal("never running")
		}
		a.cmd.Process.Signal(syscall.SIGKILL)
		a.wait()
		a = p.replica(addrA)
		if st, e := p.waitEnd(a.url, id, 30*time.Second); st != "succeeded" {
			t.Fatalf("run %s (%s) after the replica restarted", st, e)
		}
	})

	t.Run("a worker drained with SIGTERM finishes its run and takes no more", func(t *testing.T) {
		id := p.startRun(a.url, "medium")
		if !waitFor(func() bool { st, _ := p.runStatus(b.url, id); return st == "running" }, 20*time.Second) {
			t.Fatal("never running")
		}
		holder := p.holder(id)
		var drained *proc
		for i, w := range []*proc{w1, w2} {
			if w.cmd.Process.Pid == holder {
				drained = w
				// Its replacement, so that two workers remain.
				if i == 0 {
					w1 = p.worker(2)
				} else {
					w2 = p.worker(2)
				}
			}
		}
		if drained == nil {
			t.Fatalf("run held by pid %d, not a worker", holder)
		}
		drained.cmd.Process.Signal(syscall.SIGTERM)
		time.Sleep(300 * time.Millisecond)
		// Started while it drains: another worker takes it.
		other := p.startRun(b.url, "count")
		if st, e := p.waitEnd(b.url, other, 30*time.Second); st != "succeeded" {
			t.Fatalf("a run started during the drain ended %s (%s)", st, e)
		}
		if h := p.holder(other); h == holder {
			t.Fatal("the draining worker took a new run")
		}
		if st, e := p.waitEnd(b.url, id, 30*time.Second); st != "succeeded" {
			t.Fatalf("the drained worker's run ended %s (%s); want it finished", st, e)
		}
		done := make(chan error, 1)
		go func() { done <- drained.wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the drained worker exited with %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the drained worker did not exit")
		}
		if !strings.Contains(drained.log(), "draining") {
			t.Fatalf("the worker did not say it drains:\n%s", drained.log())
		}
	})

	t.Run("a worker killed with -9 loses its run; the other serves on", func(t *testing.T) {
		id := p.startRun(a.url, "sleepy")
		if !waitFor(func() bool { return len(pgrep("sleep "+marker)) > 0 }, 20*time.Second) {
			t.Fatal("the cell never started")
		}
		holder := p.holder(id)
		var victim, other *proc
		for _, w := range []*proc{w1, w2} {
			if w.cmd.Process.Pid == holder {
				victim = w
			} else {
				other = w
			}
		}
		if victim == nil {
			t.Fatalf("run held by pid %d, not one of the workers (%d, %d)", holder, w1.cmd.Process.Pid, w2.cmd.Process.Pid)
		}
		killed := time.Now()
		victim.cmd.Process.Signal(syscall.SIGKILL)
		victim.wait()
		if !waitFor(func() bool { return len(pgrep("sleep "+marker)) == 0 }, 5*time.Second) {
			t.Fatalf("the cell outlived its worker: %v", pgrep("sleep "+marker))
		}
		st, e := p.waitEnd(b.url, id, 40*time.Second)
		if st != "failed" || !strings.Contains(e, "worker lost") {
			t.Fatalf("run %s (%s); want failed, worker lost", st, e)
		}
		if d := time.Since(killed); d > 30*time.Second {
			t.Fatalf("worker lost after %s; want at most 30s", d)
		}
		t.Logf("kill -9 to \"worker lost\": %s", time.Since(killed))
		_ = other
		id2 := p.startRun(b.url, "count")
		if st, e := p.waitEnd(b.url, id2, 30*time.Second); st != "succeeded" {
			t.Fatalf("after the kill, a run ended %s (%s)", st, e)
		}
	})
}

// holder is the pid of the process holding a run (its worker id is
// HOST-PID-…).
func (p *plane) holder(id string) int {
	p.t.Helper()
	conn, err := pgx.Connect(context.Background(), p.dsn)
	if err != nil {
		p.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var w string
	if err := conn.QueryRow(context.Background(), "SELECT worker FROM runs WHERE id = $1", id).Scan(&w); err != nil {
		p.t.Fatal(err)
	}
	parts := strings.Split(w, "-")
	if len(parts) < 3 {
		p.t.Fatalf("worker id %q", w)
	}
	pid, err := strconv.Atoi(parts[len(parts)-2])
	if err != nil {
		p.t.Fatalf("worker id %q: %v", w, err)
	}
	return pid
}
