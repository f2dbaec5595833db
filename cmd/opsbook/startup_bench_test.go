package main

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The start-up cost of the binary (BENCHMARKS.md, "Start-up"): each
// sub-benchmark execs a process per iteration; bash-true is the baseline
// of the same run, so the ratio is what to read on a shared machine.
//
//	go test -run '^$' -bench Startup -benchtime 40x -count 3 ./cmd/opsbook/
func BenchmarkStartup(b *testing.B) {
	bin := buildOpsbook(b)
	flowDir := b.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(flowDir, name), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("flow.yaml", "name: One cell\ncells:\n  - name: hello\n    kind: shell\n    file: hello.sh\n")
	write("hello.sh", "true\n")
	execs := []struct {
		name string
		argv []string
	}{
		{"bash-true", []string{"bash", "-c", "true"}},
		{"version", []string{bin, "version"}},
		{"run-one-cell", []string{bin, "run", flowDir}}, // --sandbox none is run's default
	}
	if _, err := exec.LookPath("bwrap"); err == nil {
		execs = append(execs, struct {
			name string
			argv []string
		}{"run-one-cell-bwrap", []string{bin, "run", "--sandbox", "bwrap", flowDir}})
	}
	for _, e := range execs {
		b.Run(e.name, func(b *testing.B) {
			least := time.Duration(1 << 62)
			for b.Loop() {
				t0 := time.Now()
				if out, err := exec.Command(e.argv[0], e.argv[1:]...).CombinedOutput(); err != nil {
					b.Fatalf("%s: %v\n%s", strings.Join(e.argv, " "), err, out)
				}
				least = min(least, time.Since(t0))
			}
			// On a loaded machine the mean is mostly other people's work;
			// the fastest start is what the binary itself costs.
			b.ReportMetric(float64(least.Microseconds())/1000, "min-ms")
		})
	}
	// serve: from exec to the first answered GET /healthz, on a data folder
	// made by an earlier start (the usual restart).
	b.Run("serve-first-answer", func(b *testing.B) {
		data := b.TempDir()
		var total time.Duration
		least := time.Duration(1 << 62)
		for b.Loop() {
			d := serveFirstAnswer(b, bin, data)
			total += d
			least = min(least, d)
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/answer")
		b.ReportMetric(float64(least.Microseconds())/1000, "min-ms")
	})
}

// serveFirstAnswer starts `opsbook serve` on data and a free port, polls
// /healthz until it answers, stops the server, and returns the time from
// exec to the answer.
func serveFirstAnswer(b *testing.B, bin, data string) time.Duration {
	b.Helper()
	addr := freeAddrB(b)
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", addr, "--sandbox", "none", "--log-level", "warn", "--grace", "1s")
	stderr, _ := cmd.StderrPipe()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
		}
	}()
	client := &http.Client{Timeout: time.Second}
	var took time.Duration
	for deadline := t0.Add(30 * time.Second); ; {
		resp, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			took = time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			b.Fatalf("serve did not answer in 30s: %v", err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	return took
}

func freeAddrB(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
