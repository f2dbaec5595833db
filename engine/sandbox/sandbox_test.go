package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
	"github.com/opsbook/opsbook/engine/sandbox"
)

// lines collects a cell's output.
type lines struct {
	mu  sync.Mutex
	out []string
}

func (l *lines) Lines(stream string, ls []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range ls {
		l.out = append(l.out, stream+": "+s)
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.out, "\n")
}

type env struct {
	sb        *sandbox.Sandbox
	dir, tmp  string
	data      string // a data folder with a secret key and a database
	secretVal string
}

// setup starts a sandbox for a run whose directories sit outside a data
// folder holding secret.key and opsbook.db, as a server's do.
func setup(t *testing.T, net sandbox.Network, lim sandbox.Limits) *env {
	t.Helper()
	if _, err := osexecLook("bwrap"); err != nil {
		t.Skip("bwrap is not installed")
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	e := &env{data: filepath.Join(root, "data"), dir: filepath.Join(root, "runs", "r1", "work"), tmp: filepath.Join(root, "runs", "r1", "tmp"), secretVal: "SECRET-" + engine.NewID("k")}
	os.MkdirAll(e.data, 0o700)
	os.WriteFile(filepath.Join(e.data, "secret.key"), []byte(e.secretVal), 0o600)
	os.WriteFile(filepath.Join(e.data, "opsbook.db"), []byte(e.secretVal), 0o600)
	// A server's own settings, which a cell must not see.
	t.Setenv("OPSBOOK_SECRET_KEY", e.secretVal)
	sb, err := sandbox.Config{}.Start(sandbox.Run{Dir: e.dir, TempDir: e.tmp, Network: net, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	e.sb = sb
	return e
}

// sh runs a shell cell in the sandbox.
func (e *env) sh(t *testing.T, ctx context.Context, name, src string) (*engine.ShellResult, string, error) {
	t.Helper()
	out := &lines{}
	res, err := executor.Shell{Spawner: e.sb, Grace: 500 * time.Millisecond}.Execute(ctx, &executor.Request{
		Cell: &engine.Cell{Name: name, Kind: engine.KindShell}, Run: engine.RunInfo{ID: "r1"},
		Source: src, Dir: e.dir, TempDir: e.tmp, Output: out,
	})
	r, _ := res.(*engine.ShellResult)
	return r, out.String(), err
}

func TestSandboxHidesTheServer(t *testing.T) {
	e := setup(t, sandbox.NetOutbound, sandbox.DefaultLimits)
	ctx := context.Background()
	rel, _ := filepath.Rel(e.dir, filepath.Join(e.data, "secret.key"))
	relDB, _ := filepath.Rel(e.dir, filepath.Join(e.data, "opsbook.db"))
	src := fmt.Sprintf(`
for f in %q %q %q %q /proc/$PPID/environ /proc/1/environ /proc/1/cmdline; do
  cat "$f" 2>/dev/null
done
env
cat /proc/*/environ 2>/dev/null | tr '\0' '\n'
ls -la / /proc
echo uid=$(id -u)
grep -E '^(CapEff|NoNewPrivs)' /proc/self/status
`, filepath.Join(e.data, "secret.key"), rel, filepath.Join(e.data, "opsbook.db"), relDB)
	res, out, err := e.sh(t, ctx, "snoop", src)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, e.secretVal) {
		t.Fatalf("the cell read the server's secret:\n%s", out)
	}
	for _, kv := range strings.Split(res.Stdout, "\n") {
		if strings.HasPrefix(kv, "OPSBOOK_") && !strings.HasPrefix(kv, "OPSBOOK_OUTPUT=") && !strings.HasPrefix(kv, "OPSBOOK_RUN=") && !strings.HasPrefix(kv, "OPSBOOK_CELL=") {
			t.Errorf("the cell sees %s", kv)
		}
	}
	if strings.Contains(out, "uid=0") || !strings.Contains(out, "uid=") {
		t.Errorf("the cell does not run as an unprivileged user:\n%s", out)
	}
	if !strings.Contains(out, "CapEff:\t0000000000000000") {
		t.Errorf("the cell has capabilities:\n%s", out)
	}
	if !strings.Contains(out, "NoNewPrivs:\t1") {
		t.Errorf("the cell can gain privileges:\n%s", out)
	}
	t.Log(out)
}

func TestSandboxFilesAndOutputs(t *testing.T) {
	e := setup(t, sandbox.NetNone, sandbox.DefaultLimits)
	ctx := context.Background()
	if _, out, err := e.sh(t, ctx, "one", `echo hello > shared.txt; echo note > /tmp/note; echo 'answer=42' >> "$OPSBOOK_OUTPUT"`); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	res, out, err := e.sh(t, ctx, "two", `cat shared.txt /tmp/note; pwd`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Stdout != "hello\nnote\n"+sandbox.InsideDir+"\n" {
		t.Errorf("cell 2 read %q", res.Stdout)
	}
	if b, err := os.ReadFile(filepath.Join(e.dir, "shared.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("the host sees %q, %v in the work dir", b, err)
	}
	// $OPSBOOK_OUTPUT reaches the result.
	out2 := &lines{}
	r, err := executor.Shell{Spawner: e.sb}.Execute(ctx, &executor.Request{
		Cell: &engine.Cell{Name: "three", Kind: engine.KindShell}, Run: engine.RunInfo{ID: "r1"},
		Source: `echo 'answer=42' >> "$OPSBOOK_OUTPUT"`, Dir: e.dir, TempDir: e.tmp, Output: out2,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out2)
	}
	if got := r.(*engine.ShellResult).Outputs["answer"]; got != "42" {
		t.Errorf("outputs = %v", r.(*engine.ShellResult).Outputs)
	}
	// A long script goes through a file in the run's tmp.
	long := "x=1\n" + strings.Repeat("# padding padding padding padding padding\n", 2000) + "echo long ok\n"
	res, out, err = e.sh(t, ctx, "long", long)
	if err != nil || res.Stdout != "long ok\n" {
		t.Errorf("long script: %v %q\n%s", err, res.Stdout, out)
	}
}

func TestSandboxPython(t *testing.T) {
	e := setup(t, sandbox.NetNone, sandbox.DefaultLimits)
	out := &lines{}
	res, err := executor.Python{Spawner: e.sb}.Execute(context.Background(), &executor.Request{
		Cell: &engine.Cell{Name: "py", Kind: engine.KindPython}, Run: engine.RunInfo{ID: "r1"},
		Source: fmt.Sprintf(`
import os
for p in [%q, "/proc/%%d/environ" %% os.getppid()]:
    try:
        print(open(p).read())
    except Exception as e:
        print("denied", type(e).__name__)
print("uid", os.getuid())
print("env", [k for k in os.environ if k.startswith("OPSBOOK_")])
`, filepath.Join(e.data, "secret.key")),
		Dir: e.dir, TempDir: e.tmp, Output: out,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := res.(*engine.ShellResult).Stdout
	if strings.Contains(s, e.secretVal) || strings.Contains(s, "uid 0") || strings.Contains(s, "SECRET_KEY") {
		t.Errorf("python cell saw the server:\n%s", s)
	}
	if !strings.Contains(s, "denied") {
		t.Errorf("no file was denied:\n%s", s)
	}
}

// listen opens a port on the host's loopback, as the studio and PostgreSQL do.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("REACHED\n"))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// connect is a cell that tries each address with bash's /dev/tcp.
func connect(addrs ...string) string {
	var b strings.Builder
	for _, a := range addrs {
		h, p, _ := net.SplitHostPort(a)
		fmt.Fprintf(&b, "(timeout 3 bash -c 'exec 3<>/dev/tcp/%s/%s; cat <&3' && echo 'connected %s') 2>&1 || echo 'refused %s'\n", h, p, a, a)
	}
	return b.String()
}

func TestSandboxNetworkHidesHostLoopback(t *testing.T) {
	e := setup(t, sandbox.NetOutbound, sandbox.DefaultLimits)
	addr := listen(t)
	_, port, _ := net.SplitHostPort(addr)
	res, out, err := e.sh(t, context.Background(), "net", connect(addr, "127.0.0.1:5432", "10.0.2.2:"+port, "10.0.2.2:5432")+"ip -o addr 2>/dev/null || cat /proc/net/dev\n")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(res.Stdout, "REACHED") || strings.Contains(res.Stdout, "connected") {
		t.Fatalf("a cell reached the host's loopback:\n%s", out)
	}
	if !strings.Contains(res.Stdout, "tap0") {
		t.Errorf("no tap0 interface:\n%s", out)
	}
	t.Log(out)
}

func TestSandboxNetworkOff(t *testing.T) {
	e := setup(t, sandbox.NetNone, sandbox.DefaultLimits)
	addr := listen(t)
	res, out, err := e.sh(t, context.Background(), "net", connect(addr)+"cat /proc/net/dev\n")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(res.Stdout, "REACHED") {
		t.Fatalf("reached the host:\n%s", out)
	}
	ifs := interfaces(res.Stdout)
	if len(ifs) != 1 || ifs[0] != "lo" {
		t.Errorf("interfaces %v, want only lo:\n%s", ifs, res.Stdout)
	}
}

func TestSandboxCancelAndTimeoutKillTheTree(t *testing.T) {
	e := setup(t, sandbox.NetNone, sandbox.DefaultLimits)
	for _, how := range []string{"cancel", "timeout"} {
		t.Run(how, func(t *testing.T) {
			marker := "3" + fmt.Sprint(time.Now().UnixNano()%1000) + ".5"
			var ctx context.Context
			var cancel context.CancelFunc
			if how == "timeout" {
				ctx, cancel = context.WithTimeout(context.Background(), 700*time.Millisecond)
			} else {
				ctx, cancel = context.WithCancel(context.Background())
				time.AfterFunc(700*time.Millisecond, cancel)
			}
			defer cancel()
			start := time.Now()
			_, out, err := e.sh(t, ctx, how, fmt.Sprintf("trap '' TERM; (sleep %s; echo child) & sleep %s; echo late", marker, marker))
			var stop *executor.StopError
			if !errors.As(err, &stop) {
				t.Fatalf("err = %v, want a StopError\n%s", err, out)
			}
			if how == "timeout" && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want a deadline", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if pids := pgrep(marker); len(pids) > 0 {
				t.Errorf("left running: %v", pids)
			}
		})
	}
}

func TestSandboxForkBombIsStopped(t *testing.T) {
	const limit = 64
	e := setup(t, sandbox.NetNone, sandbox.Limits{Procs: limit, Files: 256, FileSize: 1 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	name := "bomb-" + engine.NewID("")
	peak := make(chan int, 1)
	go func() {
		// Sample the host's processes of the bomb while it runs.
		max := 0
		for i := 0; i < 15; i++ {
			time.Sleep(100 * time.Millisecond)
			if n := len(pgrep(name)); n > max {
				max = n
			}
		}
		peak <- max
	}()
	_, out, err := e.sh(t, ctx, name, `f(){ f | f & }; f; exec sleep 5`)
	var stop *executor.StopError
	if !errors.As(err, &stop) {
		t.Fatalf("err = %v, want the timeout\n%s", err, out)
	}
	n := <-peak
	if n > limit || n == 0 {
		t.Errorf("the bomb reached %d processes; the limit is %d", n, limit)
	}
	time.Sleep(200 * time.Millisecond)
	if left := pgrep(name); len(left) > 0 {
		t.Errorf("%d processes of the bomb are left", len(left))
	}
	t.Logf("peak %d processes", n)
}

func TestSandboxFileSizeLimit(t *testing.T) {
	e := setup(t, sandbox.NetNone, sandbox.Limits{Procs: 64, Files: 256, FileSize: 1 << 20})
	res, out, err := e.sh(t, context.Background(), "big", `head -c 5000000 /dev/zero > big.bin; echo status=$?`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	fi, serr := os.Stat(filepath.Join(e.dir, "big.bin"))
	if serr != nil || fi.Size() > 1<<20 {
		t.Errorf("big.bin: %v %v", fi, serr)
	}
	if strings.Contains(res.Stdout, "status=0") {
		t.Errorf("the write did not fail:\n%s", out)
	}
}
