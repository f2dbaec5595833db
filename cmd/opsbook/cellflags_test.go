package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsbook/opsbook/cli"
)

// TestCellFlags: serve and worker read --cell-timeout and --max-cell-log
// (and their variables), and refuse values no run could live with.
func TestCellFlags(t *testing.T) {
	noEnv(t)
	o, _, ok := parseServe([]string{"--cell-timeout", "30m", "--max-cell-log", "10MiB"})
	if !ok || o.cell.timeout != 30*time.Minute || o.cell.maxLog != 10<<20 {
		t.Errorf("serve: timeout %v, log %d", o.cell.timeout, o.cell.maxLog)
	}
	if o, _, ok = parseServe([]string{"--max-cell-log", "64KiB", "--cell-timeout", "1s"}); !ok || o.cell.maxLog != 65536 {
		t.Errorf("serve at the least bounds (64KiB, 1s): ok %v, log %d", ok, o.cell.maxLog)
	}
	o, _, _ = parseServe(nil)
	if o.cell.timeout != 2*time.Hour || o.cell.maxLog != 100<<20 {
		t.Errorf("serve's defaults: timeout %v, log %d; want 2h and 100 MiB", o.cell.timeout, o.cell.maxLog)
	}
	t.Setenv("OPSBOOK_MAX_CELL_LOG", "1.5 MiB")
	t.Setenv("OPSBOOK_CELL_TIMEOUT", "90s")
	w, _, ok := parseWorker([]string{"--db", "postgres://x@127.0.0.1/x"})
	if !ok || w.cell.timeout != 90*time.Second || w.cell.maxLog != 3<<19 {
		t.Errorf("worker from the environment: timeout %v, log %d", w.cell.timeout, w.cell.maxLog)
	}
	os.Unsetenv("OPSBOOK_MAX_CELL_LOG") // t.Setenv restores them at the end
	os.Unsetenv("OPSBOOK_CELL_TIMEOUT")
	for _, args := range [][]string{
		{"--max-cell-log", "ten"},
		{"--max-cell-log", "1KiB"},
		{"--max-cell-log", "65535"},
		{"--cell-timeout", "0"},
		{"--cell-timeout", "10ms"},
	} {
		if _, code, ok := parseServe(args); ok || code != cli.ExitInvalid {
			t.Errorf("serve %q: ok %v, exit %d; want refused", args, ok, code)
		}
		if _, code, ok := parseWorker(append([]string{"--db", "postgres://x@127.0.0.1/x"}, args...)); ok || code != cli.ExitInvalid {
			t.Errorf("worker %q: ok %v, exit %d; want refused", args, ok, code)
		}
	}
}

// TestCellFlagsReachTheRuns: a real `opsbook serve` started with a short
// --cell-timeout fails a cell that sets none when its time is up, and with
// a small --max-cell-log keeps a loud cell's first and last lines only.
func TestCellFlagsReachTheRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	bin := buildOpsbook(t)
	env := backupEnv()
	data := filepath.Join(t.TempDir(), "data")
	p := &plane{t: t, bin: bin, env: env}
	p.run("a long enough password\n", "user", "add", "admin", "--role", "owner", "--workspace", "default", "--data", data)
	p.token = strings.TrimSpace(p.run("", "token", "create", "--user", "admin", "--data", data))
	addr := freeAddr(t)
	startProc(t, bin, env, syscall.SIGTERM, "is ready at", "serve", "--addr", addr, "--data", data, "--sandbox", "none",
		"--run-dir", t.TempDir(), "--grace", "1s", "--cell-timeout", "2s", "--max-cell-log", "64KiB")
	base := "http://" + addr

	p.flow(base, "slow", map[string]string{
		"flow.yaml": "name: Slow\ncells:\n  - name: nap\n    kind: shell\n    file: nap.sh\n",
		"nap.sh":    "echo started\nsleep 60\n",
	})
	p.flow(base, "loud", map[string]string{
		"flow.yaml": "name: Loud\ncells:\n  - name: count\n    kind: shell\n    file: count.sh\n",
		"count.sh":  "seq 100000\n", // 588,895 bytes
	})
	slow, loud := p.startRun(base, "slow"), p.startRun(base, "loud")
	start := time.Now()
	if st, e := p.waitEnd(base, slow, time.Minute); st != "failed" || !strings.Contains(e, "2s") {
		t.Errorf("the cell past --cell-timeout 2s: run %s (%q), want failed naming the 2s", st, e)
	} else if took := time.Since(start); took > 45*time.Second {
		t.Errorf("the cell past --cell-timeout 2s ended after %v: it was not stopped at its timeout", took)
	}
	if st, e := p.waitEnd(base, loud, time.Minute); st != "succeeded" {
		t.Fatalf("run loud: %s %s", st, e)
	}
	log := p.get(base + "/api/v1/runs/" + loud + "/log?cell=count")
	if len(log) > 96<<10 || !strings.HasPrefix(log, "1\n2\n3\n") || !strings.HasSuffix(log, "99999\n100000\n") || strings.Contains(log, "\n50000\n") {
		t.Errorf("the log of 100000 lines under --max-cell-log 64KiB is %d bytes, starts %q, ends %q; want at most ~64 KiB, the first and last lines, not the middle",
			len(log), log[:min(len(log), 20)], log[max(0, len(log)-20):])
	}
}
