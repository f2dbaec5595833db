package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// TestBrowserNotebookRunEndsBeforeSocket opens a notebook while its last
// run is running with nothing stored yet, and ends that run before the
// page's socket connects: the run is then no longer among the flow's
// active runs, and the page must still be given its output (it asks for
// the run it shows from the seq it shows). This was the flake of
// TestBrowserHTTPStatus on PostgreSQL: a reload just after a run, which
// the worker had not stored yet when the page was rendered.
func TestBrowserNotebookRunEndsBeforeSocket(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	ada, tok := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	fs := s.flow("late", "Late", ada, engine.Cell{Name: "greet", Kind: engine.KindExpr, Source: `"hello"`})
	ctx := context.Background()

	// A run that a worker elsewhere holds: this studio's workers leave it
	// alone, and the test writes its events.
	s.srv.runs.queue.StopClaiming()
	enq, err := s.st.EnqueueRun(ctx, store.Run{WorkspaceID: s.ws.ID, FlowID: fs.ID, StartedBy: ada.ID}, 0, engine.OverlapQueue)
	if err != nil {
		t.Fatal(err)
	}
	id := enq.Run.ID
	if _, ok, err := s.st.ClaimRun(ctx, id, "w_elsewhere", time.Now().Add(time.Hour)); err != nil || !ok {
		t.Fatalf("claim the run: ok %v, %v", ok, err)
	}

	// The page's socket waits at this gate until the run is over.
	gate := make(chan struct{})
	h := s.srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/flows/late/ws") {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		s.srv.CloseSockets()
		ts.Close()
	})
	s.url = ts.URL

	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/late", cellSel("greet", ".cm-content"))
	if got := eval[string](b, `document.querySelector('[data-run]')?.dataset.run ?? ''`); got != id {
		t.Fatalf("the page shows run %q, want %s", got, id)
	}
	if got := eval[string](b, `document.querySelector('[data-conn]')?.dataset.conn ?? ''`); got == "open" {
		t.Fatalf("the socket is %q before the gate opened", got)
	}

	at := time.Now()
	evs := []engine.Event{
		{Type: engine.EventRunStarted, At: at, Cells: []string{"greet"}},
		{Type: engine.EventCellStarted, At: at, Cell: "greet", Attempt: 1},
		{Type: engine.EventCellLog, At: at, Cell: "greet", Stream: engine.StreamStdout, Lines: []string{"hello from the worker"}},
		{Type: engine.EventCellFinished, At: at, Cell: "greet", Status: string(engine.CellSucceeded), Attempts: 1},
		{Type: engine.EventRunFinished, At: at, Status: string(engine.RunSucceeded)},
	}
	if err := s.st.AppendEvents(ctx, id, evs); err != nil {
		t.Fatal(err)
	}
	if r, err := s.st.Run(ctx, id); err != nil || !r.Status.Done() {
		t.Fatalf("the run is %q (%v), want it over", r.Status, err)
	}

	if s.srv.runs.feed != nil {
		// On PostgreSQL the feed would bring the events of a run ended
		// elsewhere to the page once its socket is in; this test is of the
		// replay. Notices come in order: once a later run's is heard, the
		// end was heard too (by nobody here, and let go).
		other := s.flow("other", "Other", ada, engine.Cell{Name: "x", Kind: engine.KindExpr, Source: "1"})
		sub := s.srv.hub.Subscribe(flowTopic(other.ID), 4)
		defer s.srv.hub.Unsubscribe(flowTopic(other.ID), sub)
		if _, err := s.st.EnqueueRun(ctx, store.Run{WorkspaceID: s.ws.ID, FlowID: other.ID, StartedBy: ada.ID}, 0, engine.OverlapQueue); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sub.C:
		case <-time.After(browserWait):
			t.Fatal("the feed did not hear of a new run")
		}
	}
	close(gate)
	b.wait("the socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	b.wait("the ended run's output", statusIs("greet", "succeeded")+` && `+outputHas("greet", "hello from the worker"))
}
