package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// buildOpsbook builds this command once for the package's tests.
func buildOpsbook(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "opsbook-bin-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "opsbook")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func opsbook(t *testing.T, bin, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("opsbook %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// serveProc starts `opsbook serve` and waits until it is ready.
func serveProc(t *testing.T, bin, data, addr, box string) *exec.Cmd {
	t.Helper()
	// The run directories go to a folder of the test's: a killed server
	// leaves its runs' directories behind.
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", addr, "--sandbox", box, "--run-dir", t.TempDir())
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var all []string
		for sc.Scan() {
			all = append(all, sc.Text())
			if strings.Contains(sc.Text(), "is ready at") {
				ready <- ""
			}
		}
		ready <- strings.Join(all, "\n")
	}()
	select {
	case out := <-ready:
		if out != "" {
			t.Fatalf("serve ended:\n%s", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not get ready")
	}
	return cmd
}

// pgrep lists the processes whose command line is cmdline (words
// separated by spaces).
func pgrep(cmdline string) []string {
	var out []string
	ms, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err == nil && strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ") == cmdline {
			out = append(out, filepath.Base(filepath.Dir(m))+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

func waitFor(cond func() bool, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestKilledServerLeavesNoCells: kill -9 of a serve process while a cell
// sleeps leaves no sleep behind: at once with the sandbox (its pid
// namespace dies with it), at the next start without one (the recorded
// groups are killed).
func TestKilledServerLeavesNoCells(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bwrap is not installed")
	}
	bin := buildOpsbook(t)
	for i, box := range []string{"bwrap", "none"} {
		t.Run(box, func(t *testing.T) {
			data := t.TempDir()
			opsbook(t, bin, "a long enough password\n", "user", "add", "admin", "--role", "owner", "--data", data)
			token := strings.TrimSpace(opsbook(t, bin, "", "token", "create", "--user", "admin", "--data", data))
			marker := fmt.Sprintf("300.%d%d", os.Getpid()%1000, i+1)
			dir := filepath.Join(t.TempDir(), "sleepy")
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte("name: Sleepy\ncells:\n  - name: nap\n    kind: shell\n    file: nap.sh\n"), 0o644)
			// In the background, so that the sleep is not the group's leader
			// (which Pdeathsig alone would take).
			os.WriteFile(filepath.Join(dir, "nap.sh"), []byte("sleep "+marker+" &\nwait\n"), 0o644)

			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			addr := ln.Addr().String()
			ln.Close()
			srv := serveProc(t, bin, data, addr, box)
			url := "http://" + addr
			opsbook(t, bin, "", "import", dir, "--server", url, "--token", token)
			req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/flows/sleepy/runs", strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("start run: %d %v", resp.StatusCode, body)
			}
			if !waitFor(func() bool { return len(pgrep("sleep "+marker)) > 0 }, 10*time.Second) {
				t.Fatal("the cell's sleep never started")
			}
			srv.Process.Signal(syscall.SIGKILL)
			srv.Wait()
			if box == "bwrap" {
				if !waitFor(func() bool { return len(pgrep("sleep "+marker)) == 0 }, 5*time.Second) {
					t.Fatalf("left running after kill -9 of the server: %v", pgrep("sleep "+marker))
				}
				return
			}
			// Without a sandbox the sleep outlives the server, until the
			// next start.
			if len(pgrep("sleep "+marker)) == 0 {
				t.Fatal("the sleep died with the server: this test shows nothing")
			}
			srv2 := serveProc(t, bin, data, addr, box)
			defer srv2.Process.Signal(syscall.SIGTERM)
			if !waitFor(func() bool { return len(pgrep("sleep "+marker)) == 0 }, 5*time.Second) {
				t.Fatalf("left running after the next start: %v", pgrep("sleep "+marker))
			}
		})
	}
}
