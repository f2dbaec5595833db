package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// TestBrowserRunPageEndsCancel: a runner watching a run live loses
// "Cancel run" when the run ends, whether it failed (the re-run button
// shows instead), succeeded or was canceled.
func TestBrowserRunPageEndsCancel(t *testing.T) {
	s := newStudio(t)
	ws := s.workspace()
	ada, _ := s.member("ada", "Ada Lovelace", engine.RoleOwner)
	rob, tok := s.member("rob", "Rob Runner", engine.RoleRunner)
	// Waits for the test's go-ahead in its run's folder, then exits with
	// the code the input says.
	fs := s.flow("gated", "Gated", ada,
		engine.Cell{Name: "gate", Kind: engine.KindShell, Source: "for i in $(seq 1 600); do [ -f go ] && break; sleep 0.05; done\nexit $(cat go)\n"},
	)
	d, err := s.st.Draft(context.Background(), fs.ID)
	if err != nil {
		t.Fatal(err)
	}
	release := func(run, code string) {
		t.Helper()
		for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			// Written aside and renamed: the cell never reads it half written.
			dir := filepath.Join(s.srv.runs.pool.RunDir(), run, "work")
			if err := os.WriteFile(filepath.Join(dir, ".go"), []byte(code), 0o644); err == nil {
				if err := os.Rename(filepath.Join(dir, ".go"), filepath.Join(dir, "go")); err != nil {
					t.Fatal(err)
				}
				return
			}
			if time.Now().After(end) {
				t.Fatalf("run %s: its working directory never appeared", run)
			}
		}
	}
	b := newBrowser(t, s)
	b.signIn(tok)
	cancelBtn := `document.querySelector('.run-actions [data-action="cancel-run"]')`
	rerunVisible := `(document.querySelector('.run-actions [data-action="rerun"]')?.offsetParent ?? null) !== null`
	for _, tc := range []struct {
		want  engine.RunStatus
		end   func(run string)
		rerun bool
	}{
		{engine.RunFailed, func(run string) { release(run, "1") }, true},
		{engine.RunSucceeded, func(run string) { release(run, "0") }, false},
		{engine.RunCanceled, func(run string) {
			if _, err := s.srv.runs.Cancel(context.Background(), run, "test"); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		r, err := s.srv.runs.Start(context.Background(), StartRequest{Workspace: ws, FlowID: fs.ID, FlowSlug: fs.Slug, Flow: d.Flow, Version: 1, StartedBy: rob})
		if err != nil {
			t.Fatal(err)
		}
		b.open("/runs/"+r.ID, `main#run`)
		b.wait("the page live", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
		if !eval[bool](b, cancelBtn+` !== null`) {
			t.Fatalf("%s: a run that goes on offers no Cancel run%s", tc.want, b.state())
		}
		tc.end(r.ID)
		b.wait("the run "+string(tc.want), `document.querySelector('main#run').dataset.status === `+jsString(string(tc.want)))
		if eval[bool](b, cancelBtn+` !== null`) {
			t.Errorf("%s: the ended run still offers Cancel run%s", tc.want, b.state())
		}
		if tc.rerun {
			b.wait(string(tc.want)+": the re-run button", rerunVisible)
		} else if eval[bool](b, rerunVisible) {
			t.Errorf("%s: a succeeded run offers a re-run%s", tc.want, b.state())
		}
	}
}
