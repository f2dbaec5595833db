package server

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// TestRetentionBrowser: an owner keeps logs 7 days in Settings; a run
// whose logs were pruned shows, in its page, where they were.
func TestRetentionBrowser(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	owner, tok := s.member("owner", "Owner", engine.RoleOwner)
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/settings", "#retention [data-disk-use]")
	b.do("keep logs 7 days",
		chromedp.SetValue(`#retention input[name="keep_logs_days"]`, "7"),
		chromedp.SetValue(`#retention input[name="keep_runs_days"]`, "0"))
	b.submit(`#retention button[type="submit"]`)
	b.wait("the section says it saved", `document.querySelector('[data-retention-saved]') !== null && document.querySelector('#retention input[name="keep_logs_days"]').value === '7'`)
	g, err := s.st.RetentionOf(context.Background(), s.ws.ID)
	if err != nil || g.KeepLogsDays != 7 {
		t.Fatalf("retention = %+v, %v", g, err)
	}

	ctx := context.Background()
	fl := s.flow("hello", "Hello", owner, engine.Cell{Name: "greet", Kind: engine.KindShell, Source: "echo hi\n"})
	r, err := s.st.CreateRun(ctx, store.Run{WorkspaceID: s.ws.ID, FlowID: fl.ID, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-30 * 24 * time.Hour)
	if err := s.st.AppendEvents(ctx, r.ID, []engine.Event{
		{Type: engine.EventRunStarted, At: at, Cells: []string{"greet"}},
		{Type: engine.EventCellStarted, At: at, Cell: "greet", Attempt: 1},
		{Type: engine.EventCellLog, At: at, Cell: "greet", Stream: engine.StreamStdout, Lines: []string{"secret-ish line"}},
		{Type: engine.EventCellLog, At: at, Cell: "greet", Stream: engine.StreamStdout, Lines: []string{"another"}},
		{Type: engine.EventCellFinished, At: at, Cell: "greet", Status: "succeeded", Attempts: 1},
		{Type: engine.EventRunFinished, At: at, Status: "succeeded"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.PruneRunLogs(ctx, r.ID, time.Date(2031, 5, 6, 0, 0, 0, 0, time.UTC), nil); err != nil {
		t.Fatal(err)
	}
	b.open("/runs/"+r.ID, "#run")
	b.wait("the cell shows where its lines were pruned", outputHas("greet", "log lines pruned on 2031-05-06: events 3–4"))
	if eval[bool](b, `document.body.textContent.includes('secret-ish line')`) {
		t.Fatal("the page still shows a pruned line")
	}
}
