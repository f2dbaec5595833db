package worker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/store"
)

type panicky struct{}

func (panicky) Execute(context.Context, *executor.Request) (any, error) {
	panic("boom in the executor")
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	st   *store.Store
	ws   store.Workspace
	user store.User
	log  *syncBuf
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Data: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ws, err := st.CreateWorkspace(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, "ada", "Ada", "x")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, ws: ws, user: u, log: &syncBuf{}}
}

func (f *fixture) pool(t *testing.T, cfg Config) *Pool {
	cfg.Store, cfg.DataDir, cfg.RunDir = f.st, t.TempDir(), t.TempDir()
	cfg.Log = slog.New(slog.NewTextHandler(f.log, nil))
	p := New(cfg)
	p.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Stop(ctx)
	})
	return p
}

// enqueue stores a run of the cells (a new flow each time) and returns its id.
func (f *fixture) enqueue(t *testing.T, slug string, cells ...engine.Cell) string {
	t.Helper()
	ctx := context.Background()
	fl := &engine.Flow{Name: slug, Cells: cells}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	sf := make([]store.File, len(files))
	for i, x := range files {
		sf[i] = store.File{Name: x.Name, Data: x.Data}
	}
	fs, err := f.st.CreateFlow(ctx, f.ws.ID, slug, fl, f.user.ID, sf, flow.Hash(fl))
	if err != nil {
		t.Fatal(err)
	}
	enq, err := f.st.EnqueueRun(ctx, store.Run{WorkspaceID: f.ws.ID, FlowID: fs.ID, Files: sf, Hash: flow.Hash(fl), StartedBy: f.user.ID}, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	return enq.Run.ID
}

func (f *fixture) run(t *testing.T, id string) store.Run {
	t.Helper()
	r, err := f.st.Run(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPanicFailsTheRunNotTheProcess: an executor that panics fails its
// run, with the stack in the log; the pool runs the next run.
func TestPanicFailsTheRunNotTheProcess(t *testing.T) {
	f := newFixture(t)
	p := f.pool(t, Config{Executors: map[engine.Kind]executor.Executor{engine.KindHTTP: panicky{}}})
	id := f.enqueue(t, "boom", engine.Cell{Name: "call", Kind: engine.KindHTTP, File: "call.http", Source: "GET http://127.0.0.1:1/\n"})
	if err := p.Execute(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	r := f.run(t, id)
	if r.Status != engine.RunFailed {
		t.Fatalf("run %s (%s); want failed", r.Status, r.Error)
	}
	if !strings.Contains(f.log.String(), "boom in the executor") || !strings.Contains(f.log.String(), "stack") {
		t.Fatalf("the log has no panic with its stack:\n%s", f.log.String())
	}
	ok := f.enqueue(t, "fine", engine.Cell{Name: "x", Kind: engine.KindExpr, File: "x.expr", Source: "1 + 1\n"})
	if err := p.Execute(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, ok); r.Status != engine.RunSucceeded {
		t.Fatalf("the next run ended %s (%s)", r.Status, r.Error)
	}
}

// TestClaimedOnce: a run delivered twice (a job redelivered) runs once.
func TestClaimedOnce(t *testing.T) {
	f := newFixture(t)
	p := f.pool(t, Config{})
	id := f.enqueue(t, "once", engine.Cell{Name: "x", Kind: engine.KindShell, File: "x.sh", Source: "echo ran\n"})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); p.Execute(context.Background(), id) }()
	}
	wg.Wait()
	p.Execute(context.Background(), id)
	evs, err := f.st.Events(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	started := 0
	for _, e := range evs {
		if e.Type == engine.EventRunStarted {
			started++
		}
	}
	if started != 1 {
		t.Fatalf("run.started %d times; want once", started)
	}
}

// TestLeaseLostCancelsTheRun: when another process ended a run as lost
// (its lease expired: this worker could not heartbeat), the worker cancels
// it at its next heartbeat and the run stays "worker lost".
func TestLeaseLostCancelsTheRun(t *testing.T) {
	f := newFixture(t)
	p := f.pool(t, Config{Lease: 400 * time.Millisecond})
	id := f.enqueue(t, "slow", engine.Cell{Name: "nap", Kind: engine.KindShell, File: "nap.sh", Source: "sleep 30\n"})
	done := make(chan struct{})
	go func() { defer close(done); p.Execute(context.Background(), id) }()
	for f.run(t, id).Status != engine.RunRunning {
		time.Sleep(10 * time.Millisecond)
	}
	// Another process, an hour from now, finds the lease expired.
	ids, err := f.st.ReapLost(context.Background(), time.Now().Add(time.Hour))
	if err != nil || len(ids) != 1 {
		t.Fatalf("reaped %v, %v", ids, err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker went on with a run it had lost")
	}
	if r := f.run(t, id); r.Status != engine.RunFailed || !strings.Contains(r.Error, "worker lost") {
		t.Fatalf("run %s (%s); want failed, worker lost", r.Status, r.Error)
	}
}

// TestStopCancelsAfterTheGrace: Stop lets runs go on until its context
// ends, then cancels them and returns once they are stored.
func TestStopCancelsAfterTheGrace(t *testing.T) {
	f := newFixture(t)
	p := f.pool(t, Config{})
	id := f.enqueue(t, "slow", engine.Cell{Name: "nap", Kind: engine.KindShell, File: "nap.sh", Source: "sleep 30\n"})
	go p.Execute(context.Background(), id)
	for f.run(t, id).Status != engine.RunRunning {
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	p.Stop(ctx)
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("Stop took %s", d)
	}
	if r := f.run(t, id); r.Status != engine.RunCanceled {
		t.Fatalf("run %s (%s) after Stop; want canceled", r.Status, r.Error)
	}
	if err := p.Execute(context.Background(), f.enqueue(t, "late", engine.Cell{Name: "x", Kind: engine.KindExpr, File: "x.expr", Source: "1\n"})); err != ErrShuttingDown {
		t.Fatalf("a stopped pool took a run: %v", err)
	}
}

// TestEndOf: a run that could not start ends canceled when it was canceled
// meanwhile (the error is then only the context's), else failed with why.
func TestEndOf(t *testing.T) {
	canceled, cancel := context.WithCancelCause(context.Background())
	cancel(engine.ErrCanceled)
	stopping, stop := context.WithCancelCause(context.Background())
	stop(ErrShuttingDown)
	for _, c := range []struct {
		ctx    context.Context
		err    error
		status engine.RunStatus
		reason string
	}{
		{context.Background(), errors.New("no such secret"), engine.RunFailed, "no such secret"},
		{canceled, context.Canceled, engine.RunCanceled, "canceled before it started"},
		{stopping, context.Canceled, engine.RunCanceled, "canceled before it started: " + ErrShuttingDown.Error()},
	} {
		status, reason := endOf(c.ctx, c.err)
		if status != c.status || reason != c.reason {
			t.Errorf("endOf(%v) = %s %q; want %s %q", c.err, status, reason, c.status, c.reason)
		}
	}
}
