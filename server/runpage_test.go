package server

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// TestRunPagePropsRace: a run page is rendered from the run, read first,
// and its events, read after. A run that ended in between is shown ended
// (else the page waits live for an end it has passed, reconnecting for
// ever); a run with nothing stored yet gets a section per cell (else the
// page has nowhere to show what comes live). Both were seen on PostgreSQL,
// whose events are stored a little later than SQLite's.
func TestRunPagePropsRace(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	req := httptest.NewRequest("GET", "/runs/"+f.run, nil)

	stale, err := f.st.Run(ctx, f.run)
	if err != nil {
		t.Fatal(err)
	}
	stale.Status, stale.FinishedAt = engine.RunRunning, time.Time{}
	props, err := f.srv.runProps(req, stale, f.ws.Slug)
	if err != nil {
		t.Fatal(err)
	}
	if props.Run.Status != string(engine.RunSucceeded) || props.FinishedAt.IsZero() {
		t.Fatalf("a run read as running before its events (which end with run.finished) shows %s, finished at %s", props.Run.Status, props.FinishedAt)
	}

	r, err := f.st.CreateRun(ctx, store.Run{WorkspaceID: f.ws.ID, FlowID: f.flow.ID, Version: 1, Hash: stale.Hash, Inputs: []byte(`{}`), Files: stale.Files})
	if err != nil {
		t.Fatal(err)
	}
	r, err = f.st.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	props, err = f.srv.runProps(req, r, f.ws.Slug)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range props.Cells {
		names = append(names, c.Name+":"+c.Output.Status)
	}
	if len(names) != 2 || names[0] != "greet:pending" || names[1] != "answer:pending" {
		t.Fatalf("a run with no events stored shows cells %v; want greet and answer, pending", names)
	}
}
