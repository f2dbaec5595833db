package retention

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/store"
)

type fixture struct {
	st   *store.Store
	user store.User
	now  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg := store.Config{Data: t.TempDir()}
	if os.Getenv("OPSBOOK_TEST_DB") == "postgres" {
		t.Skip("the store's suite covers PostgreSQL; this tests the pruner's schedule")
	}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, err := st.CreateUser(ctx, "ada", "Ada", "x")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, user: u, now: time.Now().UTC()}
}

func (f *fixture) workspace(t *testing.T, slug string) (store.Workspace, store.FlowSummary) {
	t.Helper()
	ctx := context.Background()
	ws, err := f.st.CreateWorkspace(ctx, slug, slug)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := f.st.CreateFlow(ctx, ws.ID, "f", &engine.Flow{Name: "f"}, f.user.ID, nil, "h")
	if err != nil {
		t.Fatal(err)
	}
	return ws, fl
}

// run stores a finished run of one cell with lines log events, ended at.
func (f *fixture) run(t *testing.T, ws store.Workspace, fl store.FlowSummary, at time.Time, lines int) string {
	t.Helper()
	ctx := context.Background()
	r, err := f.st.CreateRun(ctx, store.Run{WorkspaceID: ws.ID, FlowID: fl.ID, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	evs := []engine.Event{{Type: engine.EventRunStarted, At: at, Cells: []string{"a"}}, {Type: engine.EventCellStarted, At: at, Cell: "a", Attempt: 1}}
	for range lines {
		evs = append(evs, engine.Event{Type: engine.EventCellLog, At: at, Cell: "a", Stream: engine.StreamStdout, Lines: []string{"line"}})
	}
	evs = append(evs, engine.Event{Type: engine.EventCellFinished, At: at, Cell: "a", Status: "succeeded", Attempts: 1},
		engine.Event{Type: engine.EventRunFinished, At: at, Status: "succeeded"})
	if err := f.st.AppendEvents(ctx, r.ID, evs); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func (f *fixture) logEvents(t *testing.T, runID string) int {
	t.Helper()
	evs, err := f.st.LogEvents(context.Background(), runID, "a", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func TestPass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	day := 24 * time.Hour
	// a keeps the defaults: run records forever, logs 90 days.
	a, af := f.workspace(t, "a")
	oldA := f.run(t, a, af, f.now.Add(-100*day), 1200)
	newA := f.run(t, a, af, f.now.Add(-day), 3)
	// b keeps runs 30 days and logs forever.
	b, bf := f.workspace(t, "b")
	if err := f.st.SetRetention(ctx, store.Retention{WorkspaceID: b.ID, KeepRunsDays: 30}); err != nil {
		t.Fatal(err)
	}
	oldB := f.run(t, b, bf, f.now.Add(-100*day), 3)
	lastB := f.run(t, b, bf, f.now.Add(-100*day), 3)
	if _, err := f.st.AppendAudit(ctx, store.AuditEntry{WorkspaceID: b.ID, ActorName: "ada", Action: "run.started", Target: "run " + oldB}); err != nil {
		t.Fatal(err)
	}

	clk := clock.NewFake(f.now.Add(31 * day)) // b's runs were made 31 days before
	p := New(Config{Store: f.st, Clock: clk, Yield: -1, Holder: "me"})
	// Another process holds the lease: this one does nothing.
	if got, err := f.st.AcquireLease(ctx, LeaseName, "other", time.Minute); err != nil || !got {
		t.Fatalf("lease: %v %v", got, err)
	}
	res, err := p.Pass(ctx)
	if err != nil || !res.Skipped || f.logEvents(t, oldA) != 1200 {
		t.Fatalf("pass under another's lease = %+v, %v", res, err)
	}
	if err := f.st.ReleaseLease(ctx, LeaseName, "other"); err != nil {
		t.Fatal(err)
	}

	res, err = p.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped || res.RunsDeleted != 1 || res.LogsPruned != 1 || res.LogEvents != 1199 {
		t.Fatalf("pass = %+v", res)
	}
	if n := f.logEvents(t, oldA); n != 1 {
		t.Fatalf("%d log events left of a run 100 days old", n)
	}
	if n := f.logEvents(t, newA); n != 3 {
		t.Fatalf("%d log events left of a run a day old", n)
	}
	if _, err := f.st.Run(ctx, oldB); err == nil {
		t.Fatal("a run older than b keeps runs is still there")
	}
	if n := f.logEvents(t, lastB); n != 3 {
		t.Fatalf("b's last run: %d log events", n)
	}
	audit, err := f.st.Audit(ctx, store.AuditQuery{WorkspaceID: b.ID})
	if err != nil || len(audit) != 1 {
		t.Fatalf("audit = %+v, %v", audit, err)
	}
	if _, _, err := f.st.Lease(ctx, LeaseName); err == nil {
		t.Fatal("the lease is still held after the pass")
	}
	// Nothing left to do.
	if res, err := p.Pass(ctx); err != nil || res.LogsPruned+res.RunsDeleted != 0 {
		t.Fatalf("second pass = %+v, %v", res, err)
	}
}

// TestSchedule: the first pass comes First after Start, the next Every
// later, on the injected clock; Stop ends it and is safe twice.
func TestSchedule(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, af := f.workspace(t, "a")
	clk := clock.NewFake(f.now)
	observed := make(chan Result, 4)
	p := New(Config{Store: f.st, Clock: clk, Yield: -1, First: time.Minute, Every: time.Hour,
		Observe: func(r Result, err error, _ time.Duration) {
			if err != nil {
				t.Errorf("pass: %v", err)
			}
			observed <- r
		}})
	p.Start(context.Background())
	t.Cleanup(p.Stop)
	old := f.run(t, a, af, f.now.Add(-91*24*time.Hour), 5)
	clk.WaitTimers(1, nil)
	clk.Advance(59 * time.Second)
	if n := f.logEvents(t, old); n != 5 {
		t.Fatalf("pruned before the first pass was due: %d", n)
	}
	clk.Advance(time.Second)
	clk.WaitTimers(1, nil) // the next pass's timer: this one has ended
	if n := f.logEvents(t, old); n != 1 {
		t.Fatalf("after the first pass: %d log events", n)
	}
	if r := <-observed; r.LogsPruned != 1 || r.LogEvents != 4 {
		t.Errorf("the pass was observed as %+v; want the logs of 1 run, 4 events", r)
	}
	next, _ := clk.NextTimer()
	if want := f.now.Add(time.Minute + time.Hour); !next.Equal(want) {
		t.Fatalf("next pass at %v, want %v", next, want)
	}
	p.Stop()
	p.Stop()
}
