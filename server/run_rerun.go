package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/store"
)

// rerunStore is what a re-run reads of the run it re-runs.
type rerunStore interface {
	FlowByID(ctx context.Context, id string) (store.FlowSummary, error)
	WorkspaceByID(ctx context.Context, id string) (store.Workspace, error)
	CellRuns(ctx context.Context, runID string) ([]store.CellRun, error)
}

var _ rerunStore = (*store.Store)(nil)

// rerunPlan is what a re-run of a finished run does: the exact flow it
// ran, the cells to execute again (From first), and the others' results
// and where they ran.
type rerunPlan struct {
	Flow   *engine.Flow
	Cells  []string
	From   string
	Prior  map[string]any
	Reused map[string]store.ReusedCell
}

// errNotRerunnable says why a run cannot be re-run; nil when it can.
func errNotRerunnable(r store.Run) error {
	switch {
	case !r.Status.Done():
		return errorf(http.StatusConflict, "not_finished", "", "run "+r.ID+" has not ended; a run can be re-run from its failed cell once it failed or was canceled")
	case r.Status == engine.RunSucceeded:
		return errorf(http.StatusConflict, "succeeded", "", "run "+r.ID+" succeeded, so there is nothing to re-run; start a new run of the flow instead")
	case r.Status == engine.RunSkipped:
		return errorf(http.StatusConflict, "skipped", "", "run "+r.ID+" was skipped (the flow's concurrency), so nothing of it ran; start a new run of the flow instead")
	}
	return nil
}

// planRerun works out a re-run of r, which must have failed or been
// canceled: every cell that ended well in r (succeeded, or skipped by its
// `if`) gives its stored result, and r's flow decides the rest
// (run.RerunCells). A cell r itself took from an earlier run (a re-run of
// a re-run) or from the notebook (a run of some cells) is reused again.
func (s *Server) planRerun(ctx context.Context, r store.Run) (rerunPlan, error) {
	if err := errNotRerunnable(r); err != nil {
		return rerunPlan{}, err
	}
	f, err := flowFromFiles(r.Files)
	if err != nil {
		return rerunPlan{}, errorf(http.StatusConflict, "unreadable", "", "the files run "+r.ID+" ran cannot be read again ("+err.Error()+"); start a new run of the flow instead")
	}
	var rq store.RunRequest
	if len(r.Request) > 0 {
		if err := json.Unmarshal(r.Request, &rq); err != nil {
			return rerunPlan{}, err
		}
	}
	cells, err := s.stores.rerun.CellRuns(ctx, r.ID)
	if err != nil {
		return rerunPlan{}, err
	}
	ran := make(map[string]store.CellRun, len(cells))
	for _, c := range cells {
		ran[c.Name] = c
	}
	p := rerunPlan{Flow: f, Prior: map[string]any{}, Reused: map[string]store.ReusedCell{}}
	keep := func(name string, from store.ReusedCell, result json.RawMessage) {
		p.Reused[name] = from
		var v any
		if len(result) > 0 && json.Unmarshal(result, &v) == nil && v != nil {
			p.Prior[name] = v
		}
	}
	for _, c := range f.Cells {
		cr, did := ran[c.Name]
		switch {
		case did && (cr.Status == engine.CellSucceeded || cr.Status == engine.CellSkipped):
			// A skipped cell before the failure was skipped by its `if`;
			// one skipped because of the failure depends on a cell that
			// runs again, and RerunCells runs it again too.
			keep(c.Name, store.ReusedCell{Run: r.ID, Status: cr.Status}, cr.Result)
		case did:
		case rq.Reused[c.Name].Run != "":
			keep(c.Name, rq.Reused[c.Name], rq.Prior[c.Name])
		case len(rq.Cells) > 0 && !slices.Contains(rq.Cells, c.Name):
			// Not part of a run of some cells: it gave that run what the
			// notebook had, and gives the same again.
			st := engine.CellSkipped
			if len(rq.Prior[c.Name]) > 0 {
				st = engine.CellSucceeded
			}
			keep(c.Name, store.ReusedCell{Run: r.ID, Status: st}, rq.Prior[c.Name])
		}
	}
	p.Cells = run.RerunCells(f, func(name string) bool {
		_, ok := p.Reused[name]
		return ok
	})
	if len(p.Cells) == 0 {
		return rerunPlan{}, errorf(http.StatusConflict, "nothing_failed", "", "every cell of run "+r.ID+" ended well (the run "+string(r.Status)+": "+r.Error+"); start a new run of the flow instead")
	}
	p.From = p.Cells[0]
	for _, name := range p.Cells {
		delete(p.Reused, name)
		delete(p.Prior, name)
	}
	return p, nil
}

// rerun starts a re-run of r, started by user: the same files (version
// or pinned draft) and inputs, executing from the failed cell.
func (s *Server) rerun(ctx context.Context, req *http.Request, r store.Run, user store.User, via string) (store.Run, error) {
	p, err := s.planRerun(ctx, r)
	if err != nil {
		return store.Run{}, err
	}
	fs, err := s.stores.rerun.FlowByID(ctx, r.FlowID)
	if err != nil {
		return store.Run{}, err
	}
	ws, err := s.stores.rerun.WorkspaceByID(ctx, r.WorkspaceID)
	if err != nil {
		return store.Run{}, err
	}
	inputs, err := run.StoredInputs(r.Inputs)
	if err != nil {
		return store.Run{}, err
	}
	return s.startRun(ctx, req, StartRequest{
		Workspace: ws, FlowID: fs.ID, FlowSlug: fs.Slug, Flow: p.Flow, Version: r.Version,
		Inputs: inputs, StartedBy: user, Cells: p.Cells, Prior: p.Prior,
		RerunOf: r.ID, From: p.From, Reused: p.Reused,
	}, strings.TrimSpace("re-run of "+r.ID+" from cell "+p.From+" "+via))
}

// POST /api/v1/runs/{id}/rerun
func (s *Server) apiRerun(w http.ResponseWriter, r *http.Request) error {
	old, _, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleRunner)
	if err != nil {
		return err
	}
	var body struct {
		Wait string `json:"wait"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
			return errorf(http.StatusBadRequest, "bad_json", "", "the body is empty or a JSON object like {\"wait\": \"30s\"}: "+err.Error())
		}
	}
	var wait time.Duration
	if body.Wait != "" {
		wait, err = time.ParseDuration(body.Wait)
		if err != nil || wait < 0 || wait > 10*time.Minute {
			return errorf(http.StatusBadRequest, "wait", "wait", "wait is a duration up to 10m, e.g. \"30s\"")
		}
	}
	nr, err := s.rerun(r.Context(), r, old, principalFrom(r.Context()).User, "")
	if err != nil {
		return err
	}
	if wait > 0 {
		s.waitRun(r.Context(), nr.ID, wait)
	}
	out, err := s.runJSON(r.Context(), nr.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// POST /runs/{id}/rerun: the run page's "Re-run from …" button (runners
// and up); it opens the new run's page.
func (s *Server) runRerunPage(w http.ResponseWriter, r *http.Request) error {
	old, _, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleRunner)
	if err != nil {
		return err
	}
	nr, err := s.rerun(context.WithoutCancel(r.Context()), r, old, principalFrom(r.Context()).User, "from the run page")
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/runs/"+nr.ID, http.StatusSeeOther)
	return nil
}
