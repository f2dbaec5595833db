package server

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// These benchmarks run the real binary as its own process, so its memory
// is measured apart from the clients, and drive it over loopback as a
// browser or a script would. Run with -benchtime 1x: each is one scenario.
//
//	go test -run '^$' -bench 'Studio' -benchtime 1x ./server/

var binOnce sync.Once
var binPath string
var binErr error

func opsbookBinary(b *testing.B) string {
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "opsbook-bench-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "opsbook")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/opsbook").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		b.Fatal(binErr)
	}
	return binPath
}

type liveServer struct {
	url, token string
	cmd        *exec.Cmd
	started    time.Duration // from exec to the first answered request
}

var readyRE = regexp.MustCompile(`ready at (http://\S+)`)

func startServer(b *testing.B) *liveServer {
	b.Helper()
	bin := opsbookBinary(b)
	data := b.TempDir()
	add := exec.Command(bin, "user", "add", "bench", "--workspace", "bench", "--role", "owner", "--data", data)
	add.Stdin = strings.NewReader("benchmark-password\n")
	if out, err := add.CombinedOutput(); err != nil {
		b.Fatalf("user add: %v %s", err, out)
	}
	tok, err := exec.Command(bin, "token", "create", "--user", "bench", "--data", data).Output()
	if err != nil {
		b.Fatalf("token create: %v", err)
	}
	// Without a sandbox: the cells wait for a gate file in the benchmark's
	// temporary directory, which a sandboxed cell cannot see.
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", "127.0.0.1:0", "--log-level", "warn", "--sandbox", "none")
	stderr, _ := cmd.StderrPipe()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	var url string
	for sc.Scan() {
		if m := readyRE.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if url == "" {
		b.Fatal("the server did not say where it listens")
	}
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
	return &liveServer{url: url, token: strings.TrimSpace(string(tok)), cmd: cmd, started: time.Since(t0)}
}

// rssKB reads the server's resident memory.
func (s *liveServer) rssKB() int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}

func (s *liveServer) api(b *testing.B, method, path, ct string, body []byte) map[string]any {
	b.Helper()
	req, _ := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 300 {
		b.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
	}
	return out
}

// tickerFlow is a flow whose one cell prints the wall clock in
// nanoseconds, lines times, every interval.
func tickerFlow(b *testing.B, lines int, interval time.Duration) []byte {
	script := fmt.Sprintf("while [ ! -e {{ inputs.gate }} ]; do sleep 0.005; done\npython3 -c '\nimport time, sys\nfor i in range(%d):\n    print(time.time_ns(), flush=True)\n    time.sleep(%g)\n'\n", lines, interval.Seconds())
	files := map[string]string{
		"flow.yaml": "name: Ticker\ninputs:\n  - name: gate\n    required: true\ncells:\n  - name: tick\n    kind: shell\n    file: tick.sh\n",
		"tick.sh":   script,
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range []string{"flow.yaml", "tick.sh"} {
		tw.WriteHeader(&tar.Header{Name: "ticker/" + name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[name]))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// watch connects n viewers to a run's event socket; each records, for every
// log line, the delay from the moment the cell printed it.
type watchers struct {
	mu      sync.Mutex
	delays  []time.Duration
	lines   []int64
	done    sync.WaitGroup
	failed  atomic.Int64
	clients int
}

func watch(b *testing.B, s *liveServer, run string, n int) *watchers {
	w := &watchers{lines: make([]int64, n), clients: n}
	url := "ws" + strings.TrimPrefix(s.url, "http") + "/api/v1/runs/" + run + "/events?since=0"
	h := http.Header{"Authorization": {"Bearer " + s.token}}
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 256}
	conns := make([]*websocket.Conn, n)
	var dial sync.WaitGroup
	sem := make(chan struct{}, 64)
	var dialErr atomic.Value
	for i := range conns {
		dial.Add(1)
		sem <- struct{}{}
		go func() {
			defer dial.Done()
			defer func() { <-sem }()
			c, _, err := dialer.Dial(url, h)
			if err != nil {
				dialErr.Store(fmt.Errorf("viewer %d: %w", i, err))
				return
			}
			conns[i] = c
		}()
	}
	dial.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		b.Fatal(err)
	}
	for i, c := range conns {
		w.done.Add(1)
		go func() {
			defer w.done.Done()
			defer c.Close()
			var local []time.Duration
			for {
				_, data, err := c.ReadMessage()
				if err != nil {
					if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
						w.failed.Add(1)
					}
					break
				}
				now := time.Now().UnixNano()
				// Lines are numbers: read them without a JSON decoder, so
				// the viewers' own CPU use stays small next to the server's.
				_, rest, ok := bytes.Cut(data, []byte(`"lines":["`))
				for ok {
					var l []byte
					l, rest, _ = bytes.Cut(rest, []byte(`"`))
					if ts, err := strconv.ParseInt(string(l), 10, 64); err == nil {
						local = append(local, time.Duration(now-ts))
						w.lines[i]++
					}
					_, rest, ok = bytes.Cut(rest, []byte(`"`))
				}
			}
			w.mu.Lock()
			w.delays = append(w.delays, local...)
			w.mu.Unlock()
		}()
	}
	return w
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

// benchLive runs a ticker flow watched by n viewers and reports the
// line-to-viewer delay and the server's peak memory.
func benchLive(b *testing.B, n, lines int, interval time.Duration) {
	s := startServer(b)
	s.api(b, "POST", "/api/v1/flows", "application/gzip", tickerFlow(b, lines, interval))
	// The viewers join just after the run starts; lines printed before a
	// viewer joined come from storage and are left out of the delays below.
	gate := filepath.Join(b.TempDir(), "go")
	body, _ := json.Marshal(map[string]any{"version": "draft", "inputs": map[string]string{"gate": gate}})
	run := s.api(b, "POST", "/api/v1/flows/ticker/runs", "", body)["id"].(string)
	w := watch(b, s, run, n)
	// Every viewer is connected: let the cell print.
	os.WriteFile(gate, nil, 0o644)
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if r := int64(s.rssKB()); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	w.done.Wait()
	close(stop)
	live := w.delays
	missing := 0
	for _, got := range w.lines {
		if got != int64(lines) {
			missing++
		}
	}
	b.ReportMetric(float64(pct(live, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(live, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(peak.Load())/1024, "peak-MB")
	b.ReportMetric(float64(missing), "viewers-missing-lines")
	b.ReportMetric(float64(w.failed.Load()), "viewers-failed")
	if missing > 0 || w.failed.Load() > 0 {
		b.Errorf("%d of %d viewers missed lines, %d failed", missing, n, w.failed.Load())
	}
}

func BenchmarkStudioLineLatency1(b *testing.B) { benchLive(b, 1, 100, 20*time.Millisecond) }
func BenchmarkStudioLineLatency100(b *testing.B) {
	benchLive(b, 100, 100, 20*time.Millisecond)
}
func BenchmarkStudioLineLatency1000(b *testing.B) {
	benchLive(b, 1000, 100, 20*time.Millisecond)
}

// 5,000 viewers of one run, 20 updates a second each for 10 seconds.
func BenchmarkStudioViewers5000(b *testing.B) { benchLive(b, 5000, 200, 50*time.Millisecond) }

// BenchmarkStudioStartIdle measures from exec to the first answered
// request, and the memory of an idle server that has served a few pages.
func BenchmarkStudioStartIdle(b *testing.B) {
	var starts []time.Duration
	var rss int
	for i := 0; i < 5; i++ {
		s := startServer(b)
		starts = append(starts, s.started)
		for _, p := range []string{"/healthz", "/signin", "/api/v1/flows"} {
			req, _ := http.NewRequest("GET", s.url+p, nil)
			req.Header.Set("Authorization", "Bearer "+s.token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		time.Sleep(500 * time.Millisecond)
		rss = max(rss, s.rssKB())
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
	}
	b.ReportMetric(float64(pct(starts, 0.5).Microseconds())/1000, "start-ms")
	b.ReportMetric(float64(rss)/1024, "idle-MB")
}
