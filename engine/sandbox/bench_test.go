package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/sandbox"
)

// One `go test -bench . ./engine/sandbox/` run gives the flow with and
// without the sandbox beside its baselines (BENCHMARKS.md).

type discard struct{}

func (discard) Emit(*engine.Event) {}

func trueFlow(n int) *engine.Flow {
	f := &engine.Flow{Name: "bench", Order: engine.OrderNotebook}
	for i := range n {
		name := fmt.Sprintf("c%04d", i)
		f.Cells = append(f.Cells, engine.Cell{Name: name, Kind: engine.KindShell, File: name + ".sh", Source: "true"})
	}
	return f
}

// benchFlow runs a 100-cell `true` notebook; with box, each run starts
// its own sandbox (with a network) as the server does.
func benchFlow(b *testing.B, box bool) {
	f := trueFlow(100)
	p, err := run.Compile(f)
	if err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		dir, tmp := filepath.Join(root, fmt.Sprint(i), "work"), filepath.Join(root, fmt.Sprint(i), "tmp")
		os.MkdirAll(dir, 0o700)
		os.MkdirAll(tmp, 0o700)
		var sp executor.Spawner = executor.Fork{}
		var sb *sandbox.Sandbox
		if box {
			sb, err = sandbox.Config{}.Start(sandbox.Run{Dir: dir, TempDir: tmp, Network: sandbox.NetOutbound, Limits: sandbox.DefaultLimits})
			if err != nil {
				b.Fatal(err)
			}
			sp = sb
		}
		sum, err := p.Run(context.Background(), run.Options{
			ID: "r_bench", Flow: "bench", Dir: dir, TempDir: tmp, Sink: discard{},
			Executors: map[engine.Kind]executor.Executor{engine.KindShell: executor.Shell{Spawner: sp}},
		})
		if sb != nil {
			sb.Close()
		}
		if err != nil || sum.Status != engine.RunSucceeded {
			b.Fatalf("run %s: %v %s", sum.Status, err, sum.Error)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100/1e6, "ms/cell")
}

func BenchmarkFlow100TrueNoSandbox(b *testing.B) { benchFlow(b, false) }

func BenchmarkFlow100TrueSandbox(b *testing.B) { benchFlow(b, true) }

// BenchmarkBashLoop100 is the baseline: 100 `bash -c true` from Go.
func BenchmarkBashLoop100(b *testing.B) {
	for b.Loop() {
		for range 100 {
			if err := exec.Command("bash", "-c", "true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100/1e6, "ms/cell")
}

// BenchmarkBwrapTrue10 is the reference for a sandbox per cell: 10 bwrap
// processes with the namespaces of the profile, each running `true`.
func BenchmarkBwrapTrue10(b *testing.B) {
	args := []string{"--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
		"--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
		"--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/true"}
	for b.Loop() {
		for range 10 {
			if out, err := exec.Command("bwrap", args...).CombinedOutput(); err != nil {
				b.Fatalf("%v %s", err, out)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10/1e6, "ms/cell")
}

// benchSpawn starts /usr/bin/true through sp and waits for it: the cost of
// the spawn path alone, without bash and the engine.
func benchSpawn(b *testing.B, box bool) {
	root := b.TempDir()
	dir, tmp := filepath.Join(root, "work"), filepath.Join(root, "tmp")
	os.MkdirAll(dir, 0o700)
	os.MkdirAll(tmp, 0o700)
	var sp executor.Spawner = executor.Fork{}
	if box {
		sb, err := sandbox.Config{}.Start(sandbox.Run{Dir: dir, TempDir: tmp, Network: sandbox.NetNone, Limits: sandbox.DefaultLimits})
		if err != nil {
			b.Fatal(err)
		}
		defer sb.Close()
		sp = sb
	}
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer devnull.Close()
	for b.Loop() {
		p, err := sp.Spawn(&executor.Spec{Program: "/usr/bin/true", Env: sp.Env(), Dir: sp.Path(dir), Stdout: devnull, Stderr: devnull})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSpawnTrueFork(b *testing.B) { benchSpawn(b, false) }

func BenchmarkSpawnTrueSandbox(b *testing.B) { benchSpawn(b, true) }

// BenchmarkStartClose is the cost of a run's sandbox alone, with network
// (bwrap, the launcher, slirp4netns) or without.
func BenchmarkStartClose(b *testing.B) {
	for _, n := range []sandbox.Network{sandbox.NetOutbound, sandbox.NetNone} {
		b.Run(string(n), func(b *testing.B) {
			root := b.TempDir()
			for i := 0; b.Loop(); i++ {
				dir := filepath.Join(root, fmt.Sprint(i))
				sb, err := sandbox.Config{}.Start(sandbox.Run{Dir: dir + "/work", TempDir: dir + "/tmp", Network: n, Limits: sandbox.DefaultLimits})
				if err != nil {
					b.Fatal(err)
				}
				sb.Close()
			}
		})
	}
}
