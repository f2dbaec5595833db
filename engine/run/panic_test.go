package run

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
)

// panicSink records every event and then panics on the ones it is told to,
// as a broken event handler of the studio would.
type panicSink struct {
	recorder
	on func(e *engine.Event) bool
}

func (p *panicSink) Emit(e *engine.Event) {
	p.recorder.Emit(e)
	if p.on(e) {
		panic("sink: " + e.Type)
	}
}

// logBuffer collects a run's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func slogJSON(b *logBuffer) *slog.Logger { return slog.New(slog.NewJSONHandler(b, nil)) }

func (b *logBuffer) records(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestPanics: a panic in an executor's Execute, or while handling its
// output (called from Execute or from a goroutine the executor starts),
// fails that cell with an error saying it is a bug, logs the stack with
// the run and the cell, and the run goes on as for any failed cell: later
// cells are skipped (or run, with continue_on_error), every cell ends with
// a final status, run.finished comes last. A panicking cell is not
// retried. (A panic on a goroutine the executor starts in its own code is
// out of reach of the runner: that executor must recover there itself.)
func TestPanics(t *testing.T) {
	t.Parallel()
	secret := "hunter2-very-secret"
	panicIn := map[string]func(ctx context.Context, req *executor.Request) (any, error){
		"execute": func(ctx context.Context, req *executor.Request) (any, error) {
			if req.Source == "boom" {
				panic("executor blew up near " + secret)
			}
			return ok(ctx, req)
		},
		// The Sink panics on the cell's log line, which the executor
		// writes from Execute.
		"output": ok,
		// The same, from a goroutine the executor starts, as the process
		// executor's pumps do; the executor then waits for its context.
		"output goroutine": func(ctx context.Context, req *executor.Request) (any, error) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				req.Output.Lines(engine.StreamStdout, []string{"from a goroutine: " + req.Source})
			}()
			<-done
			if req.Source == "boom" {
				<-ctx.Done() // the panic stops the attempt
				return nil, ctx.Err()
			}
			return &engine.ShellResult{Stdout: req.Source}, nil
		},
		// The Sink panics on cell.started, outside the executor.
		"cell started": ok,
	}
	sinkPanics := map[string]func(e *engine.Event) bool{
		"output": func(e *engine.Event) bool {
			return e.Type == engine.EventCellLog && strings.Contains(strings.Join(e.Lines, ""), "boom")
		},
		"output goroutine": func(e *engine.Event) bool {
			return e.Type == engine.EventCellLog && strings.Contains(strings.Join(e.Lines, ""), "boom")
		},
		"cell started": func(e *engine.Event) bool { return e.Type == engine.EventCellStarted && e.Cell == "b" },
	}
	wantErr := map[string]string{
		"execute":          "cell's shell executor panicked: executor blew up near ***",
		"output":           "handling the cell's output panicked: sink: cell.log",
		"output goroutine": "handling the cell's output panicked: sink: cell.log",
		"cell started":     "running the cell panicked: sink: cell.started",
	}
	for _, where := range []string{"execute", "output", "output goroutine", "cell started"} {
		for _, tc := range []struct {
			name     string
			order    engine.Order
			cont     bool
			run      engine.RunStatus
			statuses string
		}{
			{"notebook", engine.OrderNotebook, false, engine.RunFailed, "succeeded,failed,skipped"},
			{"notebook continue_on_error", engine.OrderNotebook, true, engine.RunSucceeded, "succeeded,failed,succeeded"},
			// c depends on b, d on nothing.
			{"graph", engine.OrderGraph, false, engine.RunFailed, "succeeded,failed,skipped,succeeded"},
		} {
			t.Run(where+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				f := &engine.Flow{Order: tc.order, Cells: []engine.Cell{
					cell("a", engine.KindShell, "ok"), cell("b", engine.KindShell, "boom"), cell("c", engine.KindShell, "ok"),
				}}
				if tc.order == engine.OrderGraph {
					f.Cells[2].Source = "after {{ cells.b.stdout }}"
					f.Cells = append(f.Cells, cell("d", engine.KindShell, "ok"))
				}
				f.Cells[1].ContinueOnError = tc.cont
				f.Cells[1].Retries = 2
				logs := &logBuffer{}
				on := sinkPanics[where]
				if on == nil {
					on = func(*engine.Event) bool { return false }
				}
				sink := &panicSink{on: on}
				p, err := Compile(f)
				if err != nil {
					t.Fatal(err)
				}
				sum, err := p.Run(context.Background(), Options{
					ID: "r_test", Flow: "test", Sink: sink, Dir: t.TempDir(), TempDir: t.TempDir(),
					Executors: map[engine.Kind]executor.Executor{engine.KindShell: fakeExec{panicIn[where]}},
					Logger:    slogJSON(logs),
					Secrets:   map[string]string{"TOKEN": secret},
				})
				if err != nil {
					t.Fatal(err)
				}
				checkStream(t, sink.events, nil, f)
				var got []string
				for _, c := range sum.Cells {
					got = append(got, string(c.Status))
				}
				if sum.Status != tc.run || strings.Join(got, ",") != tc.statuses {
					t.Fatalf("run %s (%s) cells %v; want %s %s", sum.Status, sum.Error, got, tc.run, tc.statuses)
				}
				b := sum.Cells[1]
				if !strings.Contains(b.Error, wantErr[where]) || !strings.Contains(b.Error, "this is a bug in Opsbook") {
					t.Errorf("cell b's error %q; want it to say %q and that it is a bug", b.Error, wantErr[where])
				}
				if strings.Contains(b.Error, secret) {
					t.Errorf("the secret is in the cell's error %q", b.Error)
				}
				if b.Attempts > 1 {
					t.Errorf("a panicking cell was tried %d times", b.Attempts)
				}
				if !tc.cont && !strings.Contains(sum.Error, "cell b: ") {
					t.Errorf("run error %q should name the cell", sum.Error)
				}
				fin := sink.finished()["b"]
				if fin.Status != string(engine.CellFailed) || !strings.Contains(fin.Error, "panicked") {
					t.Errorf("cell.finished of b: %+v", fin)
				}
				var panics []map[string]any
				for _, rec := range logs.records(t) {
					if strings.Contains(rec["msg"].(string), "panicked") {
						panics = append(panics, rec)
					}
				}
				if len(panics) != 1 {
					t.Fatalf("%d panics logged; want 1: %v", len(panics), panics)
				}
				rec := panics[0]
				stack, _ := rec["stack"].(string)
				if rec["level"] != "ERROR" || rec["run"] != "r_test" || rec["cell"] != "b" || !strings.Contains(stack, "goroutine") || !strings.Contains(stack, "panic") {
					t.Errorf("panic log record %v", rec)
				}
				if strings.Contains(fmt.Sprint(rec["panic"]), secret) {
					t.Errorf("the secret is in the log: %v", rec["panic"])
				}
			})
		}
	}
}

// TestPanicEndingCell: a Sink that panics on the cell.finished of a cell
// that never ran (skipped after a failure, on the runner's own goroutine or
// the caller's) neither ends the process nor changes the cell's status.
func TestPanicEndingCell(t *testing.T) {
	t.Parallel()
	for _, order := range []engine.Order{engine.OrderNotebook, engine.OrderGraph} {
		t.Run(string(order), func(t *testing.T) {
			t.Parallel()
			f := &engine.Flow{Order: order, Cells: []engine.Cell{
				cell("a", engine.KindShell, "fail"), cell("b", engine.KindShell, "after {{ cells.a.stdout }}"),
			}}
			p, err := Compile(f)
			if err != nil {
				t.Fatal(err)
			}
			logs := &logBuffer{}
			sink := &panicSink{on: func(e *engine.Event) bool { return e.Type == engine.EventCellFinished && e.Cell == "b" }}
			sum, err := p.Run(context.Background(), Options{
				ID: "r_test", Flow: "test", Sink: sink, Dir: t.TempDir(), TempDir: t.TempDir(), Logger: slogJSON(logs),
				Executors: map[engine.Kind]executor.Executor{engine.KindShell: fakeExec{func(ctx context.Context, req *executor.Request) (any, error) {
					return nil, fmt.Errorf("exit status 1")
				}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, sink.events, nil, f)
			if st := sum.Statuses(); sum.Status != engine.RunFailed || st["a"] != engine.CellFailed || st["b"] != engine.CellSkipped {
				t.Fatalf("run %s, cells %v", sum.Status, st)
			}
			n := 0
			for _, rec := range logs.records(t) {
				if strings.Contains(rec["msg"].(string), "panicked") && rec["cell"] == "b" && rec["stack"] != nil {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d panics of cell b logged; want 1", n)
			}
		})
	}
}
