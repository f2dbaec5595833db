package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

func TestCellLogBounded(t *testing.T) {
	f := setupWith(t, testDB, Config{MaxCellLog: 1000})
	fl := &engine.Flow{Name: "Loud", Cells: []engine.Cell{
		{Name: "loud", Kind: engine.KindShell, File: "loud.sh", Source: "for i in $(seq 1 300); do echo \"line number $i of many\"; done\n"},
	}}
	r, err := f.srv.runs.Start(context.Background(), StartRequest{Workspace: f.ws, FlowID: f.flow.ID, FlowSlug: "hello", Flow: fl, StartedBy: f.users["owner"]})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.waitRun(r.ID); got.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %s", got.Status, got.Error)
	}
	evs, err := f.st.Events(context.Background(), r.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("stored seq %d at %d: dropping lines must not leave gaps", e.Seq, i)
		}
	}
	resp := f.do("viewer", "GET", "/runs/"+r.ID+"/log?cell=loud", "")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	log := string(b)
	// The head, a line saying what was dropped, and always the end.
	if !strings.Contains(log, "line number 1 of many") || !strings.HasSuffix(log, "line number 300 of many\n") || strings.Contains(log, "line number 150 of many") {
		t.Fatalf("log should keep the first and the last lines and drop the middle:\n%s", log)
	}
	if !strings.Contains(log, "lines (") || !strings.Contains(log, "not kept") || len(log) > 1000+250+200 {
		t.Fatalf("log of %d bytes should say what it dropped, within the bound and the tail's quarter:\n%s", len(log), log)
	}
}

// TestCellLogBoundedKeepsTheError: a cell that prints past the bound, then
// an error on stderr, then fails: live and stored alike keep the error.
func TestCellLogBoundedKeepsTheError(t *testing.T) {
	f := setupWith(t, testDB, Config{MaxCellLog: 4000})
	fl := &engine.Flow{Name: "Loud", Cells: []engine.Cell{
		{Name: "loud", Kind: engine.KindShell, File: "loud.sh", Source: "seq 1 5000\necho 'fatal: disk full' >&2\nexit 3\n"},
	}}
	r, err := f.srv.runs.Start(context.Background(), StartRequest{Workspace: f.ws, FlowID: f.flow.ID, FlowSlug: "hello", Flow: fl, StartedBy: f.users["owner"]})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.waitRun(r.ID); got.Status != engine.RunFailed {
		t.Fatalf("run %s: %s", got.Status, got.Error)
	}
	evs, err := f.st.Events(context.Background(), r.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Past the bound: a line saying what was dropped, then the end of
	// both streams (which of the two pipes is read last is the kernel's
	// and the scheduler's business, so the order across them is not).
	var lines []string
	for _, se := range evs {
		var e engine.Event
		if err := json.Unmarshal(se.Data, &e); err != nil {
			t.Fatal(err)
		}
		if e.Type == engine.EventCellLog {
			lines = append(lines, e.Lines...)
		}
	}
	mark := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "not kept") })
	if mark < 0 {
		t.Fatalf("no line says what was dropped: %q", lines[max(0, len(lines)-5):])
	}
	// The error may come before the bound (its pipe read first) or after.
	if tail := lines[mark+1:]; !slices.Contains(tail, "5000") || !slices.Contains(lines, "fatal: disk full") {
		t.Fatalf("after the drop, the log keeps %q…; want the last number, and the error kept", tail[:min(len(tail), 5)])
	}
	resp := f.do("viewer", "GET", "/runs/"+r.ID+"/log?cell=loud", "")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if log := string(b); !strings.Contains(log, "\n5000\n") || !strings.Contains(log, "fatal: disk full\n") || !strings.Contains(log, "1\n2\n3\n") {
		t.Fatalf("the whole log should keep the head, the last numbers and the error:\n%.300s…%s", log, log[max(0, len(log)-300):])
	}
}

// TestRunsQueueBeyondTheLimit: past the number of runs a process executes
// at once, runs wait queued (and can be canceled while they wait).
func TestRunsQueueBeyondTheLimit(t *testing.T) {
	f := setupWith(t, testDB, Config{Workers: 1})
	fl := &engine.Flow{Name: "Slow", Cells: []engine.Cell{{Name: "slow", Kind: engine.KindShell, File: "slow.sh", Source: "sleep 30\n"}}}
	start := func() string {
		r, err := f.srv.runs.Start(context.Background(), StartRequest{Workspace: f.ws, FlowID: f.flow.ID, FlowSlug: "hello", Flow: fl, StartedBy: f.users["owner"]})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	a, b := start(), start()
	// Whichever got the one slot runs; the other waits, queued.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ra, _ := f.st.Run(context.Background(), a)
		rb, _ := f.st.Run(context.Background(), b)
		if rb.Status == engine.RunRunning {
			a, b = b, a
			break
		}
		if ra.Status == engine.RunRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs are %s and %s; want one running", ra.Status, rb.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if rb, _ := f.st.Run(context.Background(), b); rb.Status != engine.RunQueued {
		t.Fatalf("the second run is %s while the first runs; want queued", rb.Status)
	}
	f.srv.runs.Cancel(context.Background(), b, "")
	if rb := f.waitRun(b); rb.Status != engine.RunCanceled || rb.Error != "canceled before it started" {
		t.Fatalf("the queued run ended %s (%s); want canceled before it started", rb.Status, rb.Error)
	}
	f.srv.runs.Cancel(context.Background(), a, "")
	if ra := f.waitRun(a); ra.Status != engine.RunCanceled {
		t.Fatalf("the first run ended %s", ra.Status)
	}
}

// TestRunPageCancel: the run page's Cancel button cancels a running run.
func TestRunPageCancel(t *testing.T) {
	f := setup(t, testDB)
	fl := &engine.Flow{Name: "Slow", Cells: []engine.Cell{{Name: "slow", Kind: engine.KindShell, File: "slow.sh", Source: "sleep 30\n"}}}
	r, err := f.srv.runs.Start(context.Background(), StartRequest{Workspace: f.ws, FlowID: f.flow.ID, FlowSlug: "hello", Flow: fl, StartedBy: f.users["owner"]})
	if err != nil {
		t.Fatal(err)
	}
	page := f.do("runner", "GET", "/runs/"+r.ID, "")
	b, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(b), `data-action="cancel-run"`) || !strings.Contains(string(b), "Open the notebook") {
		t.Fatalf("the run page offers no Cancel button or notebook link")
	}
	resp := f.do("runner", "POST", "/runs/"+r.ID+"/cancel", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	if got := f.waitRun(r.ID); got.Status != engine.RunCanceled {
		t.Fatalf("run %s after Cancel", got.Status)
	}
}

// TestConcurrencyOverlap: a flow at its limit refuses (skip: 409 naming
// the run in the way, the new run stored skipped), makes room (cancel:
// the oldest running run is canceled, the new one runs), or waits (queue).
func TestConcurrencyOverlap(t *testing.T) {
	f := setup(t, testDB)
	slow := func(slug string, o engine.Overlap) {
		f.addFlow(slug, &engine.Flow{Name: slug, Concurrency: engine.Concurrency{Limit: 1, Overlap: o},
			Cells: []engine.Cell{{Name: "nap", Kind: engine.KindShell, File: "nap.sh", Source: "sleep 30\n"}}})
	}
	running := func(id string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			r, _ := f.st.Run(context.Background(), id)
			if r.Status == engine.RunRunning {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s is %s; want running", id, r.Status)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Run("skip", func(t *testing.T) {
		slow("skipper", engine.OverlapSkip)
		first := f.apiJSON("runner", "POST", "/api/v1/flows/skipper/runs", "{}", http.StatusCreated)["id"].(string)
		running(first)
		e := f.apiJSON("runner", "POST", "/api/v1/flows/skipper/runs", "{}", http.StatusConflict)["error"].(map[string]any)
		if e["code"] != "skipped" || e["running"] != first || e["run"] == "" {
			t.Fatalf("409 body: %v", e)
		}
		if r, _ := f.st.Run(context.Background(), e["run"].(string)); r.Status != engine.RunSkipped {
			t.Fatalf("the refused run is %s; want skipped", r.Status)
		}
		f.srv.runs.Cancel(context.Background(), first, "")
		f.waitRun(first)
	})
	t.Run("cancel", func(t *testing.T) {
		slow("canceler", engine.OverlapCancel)
		first := f.apiJSON("runner", "POST", "/api/v1/flows/canceler/runs", "{}", http.StatusCreated)["id"].(string)
		running(first)
		second := f.apiJSON("runner", "POST", "/api/v1/flows/canceler/runs", "{}", http.StatusCreated)["id"].(string)
		if r := f.waitRun(first); r.Status != engine.RunCanceled {
			t.Fatalf("the oldest run is %s; want canceled to make room", r.Status)
		}
		running(second)
		f.srv.runs.Cancel(context.Background(), second, "")
		f.waitRun(second)
	})
	t.Run("queue", func(t *testing.T) {
		slow("queuer", engine.OverlapQueue)
		first := f.apiJSON("runner", "POST", "/api/v1/flows/queuer/runs", "{}", http.StatusCreated)["id"].(string)
		running(first)
		second := f.apiJSON("runner", "POST", "/api/v1/flows/queuer/runs", "{}", http.StatusCreated)["id"].(string)
		if r, _ := f.st.Run(context.Background(), second); r.Status != engine.RunQueued || r.Dispatched {
			t.Fatalf("the second run is %s (dispatched %v) while the first runs; want queued and held at the gate", r.Status, r.Dispatched)
		}
		f.srv.runs.Cancel(context.Background(), first, "")
		f.waitRun(first)
		running(second)
		f.srv.runs.Cancel(context.Background(), second, "")
		f.waitRun(second)
	})
}
