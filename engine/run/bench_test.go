package run

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
)

// Each engine figure sits next to its baseline in this file, so one
// `go test -bench` run gives both and their ratio (BENCHMARKS.md).

type discard struct{}

func (discard) Emit(*engine.Event) {}

// shellFlow is n `true` shell cells in the given order.
func shellFlow(n int, order engine.Order, src string) *engine.Flow {
	f := &engine.Flow{Name: "bench", Order: order}
	for i := range n {
		f.Cells = append(f.Cells, cell(fmt.Sprintf("c%04d", i), engine.KindShell, src))
	}
	return f
}

func benchPlan(b *testing.B, f *engine.Flow, sink Sink, parallel int) {
	b.Helper()
	p, err := Compile(f)
	if err != nil {
		b.Fatal(err)
	}
	dir, tmp := b.TempDir(), b.TempDir()
	o := Options{
		ID: "r_bench", Flow: "bench", Dir: dir, TempDir: tmp, Sink: sink, Parallel: parallel,
		Executors: map[engine.Kind]executor.Executor{engine.KindShell: executor.Shell{}},
	}
	b.ResetTimer()
	for b.Loop() {
		sum, err := p.Run(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		if sum.Status != engine.RunSucceeded {
			b.Fatalf("run %s: %s", sum.Status, sum.Error)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(f.Cells))/1e6, "ms/cell")
}

func bashLoop(b *testing.B, n int) {
	b.Helper()
	for b.Loop() {
		for range n {
			if err := exec.Command("bash", "-c", "true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/1e6, "ms/cell")
}

// BenchmarkNotebook100True is a 100-cell notebook of `true` shell cells;
// compare with BenchmarkBashLoop100.
func BenchmarkNotebook100True(b *testing.B) {
	benchPlan(b, shellFlow(100, engine.OrderNotebook, "true"), discard{}, 0)
}

// BenchmarkBashLoop100 is the baseline: `bash -c true` 100 times from Go.
func BenchmarkBashLoop100(b *testing.B) { bashLoop(b, 100) }

// BenchmarkPaired100 alternates the 100-cell notebook and the 100-run
// bash loop inside each iteration and reports both and their ratio, so a
// machine whose load drifts during the run skews both sides alike.
func BenchmarkPaired100(b *testing.B) {
	const n = 100
	p, err := Compile(shellFlow(n, engine.OrderNotebook, "true"))
	if err != nil {
		b.Fatal(err)
	}
	o := Options{
		ID: "r_bench", Flow: "bench", Dir: b.TempDir(), TempDir: b.TempDir(), Sink: discard{},
		Executors: map[engine.Kind]executor.Executor{engine.KindShell: executor.Shell{}},
	}
	var nb, loop time.Duration
	for b.Loop() {
		t0 := time.Now()
		if sum, err := p.Run(context.Background(), o); err != nil || sum.Status != engine.RunSucceeded {
			b.Fatalf("run: %v %+v", err, sum)
		}
		t1 := time.Now()
		for range n {
			if err := exec.Command("bash", "-c", "true").Run(); err != nil {
				b.Fatal(err)
			}
		}
		nb += t1.Sub(t0)
		loop += time.Since(t1)
	}
	b.ReportMetric(float64(nb.Nanoseconds())/float64(b.N*n)/1e6, "notebook-ms/cell")
	b.ReportMetric(float64(loop.Nanoseconds())/float64(b.N*n)/1e6, "loop-ms/cell")
	b.ReportMetric(float64(nb)/float64(loop), "ratio")
}

// BenchmarkNotebook1000True shows the per-cell cost does not grow with
// the size of the notebook; compare with BenchmarkBashLoop1000.
func BenchmarkNotebook1000True(b *testing.B) {
	benchPlan(b, shellFlow(1000, engine.OrderNotebook, "true"), discard{}, 0)
}

// BenchmarkBashLoop1000 is the baseline: `bash -c true` 1,000 times.
func BenchmarkBashLoop1000(b *testing.B) { bashLoop(b, 1000) }

// BenchmarkGraph50Parallel is 50 independent `true` cells in graph order,
// with the default bound on parallel cells and with all 50 at once;
// compare with BenchmarkParallelLoop50.
func BenchmarkGraph50Parallel(b *testing.B) {
	for _, par := range []int{0, 50} {
		name := "default"
		if par > 0 {
			name = fmt.Sprint(par)
		}
		b.Run("parallel="+name, func(b *testing.B) {
			benchPlan(b, shellFlow(50, engine.OrderGraph, "true"), discard{}, par)
		})
	}
}

// BenchmarkParallelLoop50 is the baseline: 50 `bash -c true` started at
// once from goroutines and waited for.
func BenchmarkParallelLoop50(b *testing.B) {
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Go(func() {
				if err := exec.Command("bash", "-c", "true").Run(); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
}

// BenchmarkExprCell is a one-cell flow with an expr cell, end to end
// through Plan.Run (events included) into a discarding sink.
func BenchmarkExprCell(b *testing.B) {
	f := &engine.Flow{Name: "bench", Cells: []engine.Cell{cell("sum", engine.KindExpr, "1 + 2")}}
	p, err := Compile(f)
	if err != nil {
		b.Fatal(err)
	}
	o := Options{ID: "r_bench", Flow: "bench", Dir: b.TempDir(), TempDir: b.TempDir(), Sink: discard{}}
	b.ReportAllocs()
	for b.Loop() {
		sum, err := p.Run(context.Background(), o)
		if err != nil || sum.Status != engine.RunSucceeded {
			b.Fatalf("run: %v %+v", err, sum)
		}
	}
}

// fileSink writes every event as a JSON line to a buffered file, as
// `opsbook run --json > file` does.
type fileSink struct {
	w   *bufio.Writer
	buf []byte
}

func (s *fileSink) Emit(e *engine.Event) {
	s.buf = e.AppendJSON(s.buf[:0])
	s.buf = append(s.buf, '\n')
	s.w.Write(s.buf)
}

// seqBytes is the size of `seq 1000000`'s output.
const seqBytes = 6888896

// heapBytes is the heap in use, read without stopping the world.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// peakHeap samples the heap every millisecond while fn runs and returns
// its highest growth above the starting value.
func peakHeap(fn func()) (growth uint64) {
	runtime.GC()
	base := heapBytes()
	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var hi uint64
		for {
			hi = max(hi, heapBytes())
			select {
			case <-stop:
				peak <- hi
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	hi := <-peak
	if hi < base {
		return 0
	}
	return hi - base
}

// BenchmarkSeqMillionPipeline is `seq 1000000` in a shell cell, through
// the executor, the masker, the events and AppendJSON into a file;
// compare with BenchmarkSeqMillionRaw. It also reports the heap's growth
// during the run, which stays flat (it does not grow with the output).
func BenchmarkSeqMillionPipeline(b *testing.B) { seqMillion(b, 0) }

// BenchmarkSeqMillionPipelineBounded is the same with the studio's bound
// on a cell's log set to 1 MiB: most of the 6.9 MB goes past it, through
// the tail ring (the last TailLines kept, the rest counted).
func BenchmarkSeqMillionPipelineBounded(b *testing.B) { seqMillion(b, 1<<20) }

func seqMillion(b *testing.B, maxLog int64) {
	p, err := Compile(&engine.Flow{Name: "bench", Cells: []engine.Cell{cell("seq", engine.KindShell, "seq 1000000")}})
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), "events.jsonl")
	dir, tmp := b.TempDir(), b.TempDir()
	b.SetBytes(seqBytes)
	var worst uint64
	for b.Loop() {
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		sink := &fileSink{w: bufio.NewWriterSize(f, 64<<10)}
		o := Options{
			ID: "r_bench", Flow: "bench", Dir: dir, TempDir: tmp, Sink: sink, MaxCellLog: maxLog,
			Executors: map[engine.Kind]executor.Executor{engine.KindShell: executor.Shell{}},
		}
		var sum Summary
		g := peakHeap(func() { sum, err = p.Run(context.Background(), o) })
		worst = max(worst, g)
		if err != nil || sum.Status != engine.RunSucceeded {
			b.Fatalf("run: %v %+v", err, sum)
		}
		if err := sink.w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MiB")
	if fi, err := os.Stat(out); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "jsonl-MiB")
	}
}

// BenchmarkSeqMillionRaw is the baseline: `seq 1000000 > file` in bash.
func BenchmarkSeqMillionRaw(b *testing.B) {
	out := filepath.Join(b.TempDir(), "seq.txt")
	b.SetBytes(seqBytes)
	for b.Loop() {
		if err := exec.Command("bash", "-c", "seq 1000000 > "+out).Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSeqMemoryFlat runs seq at two sizes through the whole pipeline and
// checks the heap does not grow with the output: ten times the lines may
// not take ten times the memory. It is skipped in -short mode.
func TestSeqMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts seq twice")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	growth := func(n int) uint64 {
		p, err := Compile(&engine.Flow{Name: "m", Cells: []engine.Cell{cell("seq", engine.KindShell, fmt.Sprintf("seq %d", n))}})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(t.TempDir(), "events.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sink := &fileSink{w: bufio.NewWriterSize(f, 64<<10)}
		o := Options{
			ID: "r_m", Flow: "m", Dir: t.TempDir(), TempDir: t.TempDir(), Sink: sink,
			Executors: map[engine.Kind]executor.Executor{engine.KindShell: executor.Shell{}},
		}
		var sum Summary
		g := peakHeap(func() { sum, err = p.Run(context.Background(), o) })
		if err != nil || sum.Status != engine.RunSucceeded {
			t.Fatalf("run: %v %+v", err, sum)
		}
		return g
	}
	small, big := growth(100_000), growth(1_000_000)
	t.Logf("heap growth: 100k lines %d KiB, 1M lines %d KiB", small>>10, big>>10)
	// Allow for GC timing noise, but not for holding the output.
	if big > 4*small+16<<20 {
		t.Errorf("heap grew %d KiB for 1M lines against %d KiB for 100k: memory grows with output", big>>10, small>>10)
	}
}
