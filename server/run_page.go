package server

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// runPageStore is what a run's page reads besides its events: the run
// again when it ended meanwhile, its flow, the version it matches, and its
// cells when its files are unreadable.
type runPageStore interface {
	Run(ctx context.Context, id string) (store.Run, error)
	FlowByID(ctx context.Context, id string) (store.FlowSummary, error)
	VersionByHash(ctx context.Context, flowID, hash string) (store.Version, error)
	CellRuns(ctx context.Context, runID string) ([]store.CellRun, error)
	RerunsOf(ctx context.Context, id string) ([]string, error)
	RunDeliveries(ctx context.Context, runID string) ([]store.Delivery, error)
	RunApprovals(ctx context.Context, runID string) ([]store.Approval, error)
}

var _ runPageStore = (*store.Store)(nil)

// GET /runs/{id}
func (s *Server) runPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderRunPage(w, r, nil)
}

// renderRunPage renders the run page of the path's run; newLinks are
// decision links just made, by cell, shown once.
func (s *Server) renderRunPage(w http.ResponseWriter, r *http.Request, newLinks map[string]string) error {
	run, a, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleViewer)
	if err != nil {
		return err
	}
	props, err := s.runProps(r, run, a.Workspace.Slug)
	if err != nil {
		return err
	}
	props.ShowCode = true
	props.CanShare = a.Role.AtLeast(engine.RoleEditor)
	props.CanCancel = a.Role.AtLeast(engine.RoleRunner)
	if props.CanCancel && props.Run.Status != string(run.Status) {
		// It ended while the page was made (runProps read it again).
		if run, err = s.stores.run.Run(r.Context(), run.ID); err != nil {
			return err
		}
	}
	p := principalFrom(r.Context())
	for i := range props.Cells {
		av := props.Cells[i].Approval
		if av == nil || av.Status != store.ApprovalWaiting {
			continue
		}
		approvers := strings.Split(av.Approvers, ", ")
		if a.Role.AtLeast(engine.RoleEditor) && slices.Contains(approvers, engine.ApproverLink) {
			av.LinkAction = "/runs/" + run.ID + "/approvals/" + props.Cells[i].Name + "/link"
			av.NewLink = newLinks[props.Cells[i].Name]
		}
		decided := false
		for _, d := range av.Decisions {
			decided = decided || d.By == p.User.Name
		}
		switch {
		case decided:
			av.Why = "You decided; it waits for someone else."
		case !mayDecide(approvers, a.Role, p.User.Name):
			av.Why = "Only its approvers decide: " + av.Approvers + "."
		default:
			av.CanDecide = true
		}
	}
	if props.CanCancel && errNotRerunnable(run) == nil {
		if p, err := s.planRerun(r.Context(), run); err == nil {
			props.RerunCell = p.From
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusOK, views.RunPage(props))
}

func (s *Server) runProps(r *http.Request, run store.Run, wsSlug string) (views.RunProps, error) {
	ctx := r.Context()
	// The run was read before its events: when they end with run.finished
	// it ended in between (its status is stored with that event), so read
	// it again, or the page would wait, live, for an end it has passed.
	evs, err := s.allEvents(ctx, run.ID)
	if err != nil {
		return views.RunProps{}, err
	}
	started := false
	for _, e := range evs {
		started = started || e.Type == engine.EventRunStarted
		if e.Type == engine.EventRunFinished && !run.Status.Done() {
			if run, err = s.stores.run.Run(ctx, run.ID); err != nil {
				return views.RunProps{}, err
			}
		}
	}
	f, err := s.stores.run.FlowByID(ctx, run.FlowID)
	if err != nil {
		return views.RunProps{}, err
	}
	names := userNames{s: s}
	props := views.RunProps{
		Page: s.pageOf(r, f.Name+" · run", wsSlug, "runs"), Run: runItem(run, f.Slug, f.Name, names.get(ctx, run.StartedBy)),
		Hash: run.Hash, Error: run.Error, FinishedAt: run.FinishedAt,
	}
	json.Unmarshal(run.Inputs, &props.Inputs)
	if run.Hash != "" {
		if v, err := s.stores.run.VersionByHash(ctx, run.FlowID, run.Hash); err == nil {
			props.Matches = v.Number
		}
	}
	outs, since := views.OutputsFromEvents(evs, 0)
	props.Since = since
	props.Socket = "/runs/" + run.ID + "/ws?since=" + strconv.FormatInt(since, 10)
	// The exact code that ran: the run's own files, not today's draft.
	code := map[string]engine.Cell{}
	var order []string
	if fl, err := flowFromFiles(run.Files); err == nil {
		for _, c := range fl.Cells {
			code[c.Name] = c
			order = append(order, c.Name)
		}
	}
	if len(order) == 0 {
		cells, _ := s.stores.run.CellRuns(ctx, run.ID)
		for _, c := range cells {
			order = append(order, c.Name)
			code[c.Name] = engine.Cell{Name: c.Name, Kind: c.Kind}
		}
	}
	if !started && !run.Status.Done() {
		// Queued: nothing has started yet. Show the cells it will run, so
		// the page has a place for each when its events come.
		var rq store.RunRequest
		json.Unmarshal(run.Request, &rq)
		want := map[string]bool{}
		for _, c := range rq.Cells {
			want[c] = true
		}
		for _, name := range order {
			if len(want) == 0 || want[name] {
				outs[name] = &views.CellOutput{Status: string(engine.CellPending)}
			}
		}
	}
	for _, name := range order {
		o := outs[name]
		if o == nil {
			continue // not part of this run (a partial run from the notebook)
		}
		c := code[name]
		props.Cells = append(props.Cells, views.RunCell{Name: name, Kind: string(c.Kind), Source: c.Source, Output: *o, HTML: proseOf(c, o)})
	}
	maskRunProps(s.maskerFor(ctx, run.WorkspaceID), &props)
	// A re-run shows the cells it took from earlier runs, in the studio and
	// on a share page (which names no other run: views' runCell).
	if err := s.addReused(ctx, run, &props); err != nil {
		return views.RunProps{}, err
	}
	if wsSlug != "" {
		// In the studio a run links to its re-runs and shows where its
		// notifications went.
		if props.Deliveries, err = s.deliveryLog(ctx, run); err != nil {
			return views.RunProps{}, err
		}
		if props.RerunAs, err = s.stores.run.RerunsOf(ctx, run.ID); err != nil {
			return views.RunProps{}, err
		}
		if err := s.addApprovals(ctx, run.ID, &props); err != nil {
			return views.RunProps{}, err
		}
	}
	return props, nil
}

// addReused shows, on a re-run's page, the cells it took from earlier runs
// as they were shown there (status, output, result), each marked with the
// run it comes from, in the flow's order among the cells it executed.
func (s *Server) addReused(ctx context.Context, run store.Run, props *views.RunProps) error {
	var rq store.RunRequest
	if json.Unmarshal(run.Request, &rq) != nil || rq.RerunOf == "" {
		return nil
	}
	props.RerunOf, props.RerunFrom = rq.RerunOf, rq.From
	if len(rq.Reused) == 0 {
		return nil
	}
	fl, err := flowFromFiles(run.Files)
	if err != nil {
		return nil // the cells that ran are shown; the others cannot be placed
	}
	outs := map[string]map[string]*views.CellOutput{} // source run → cell → output
	var reused views.RunProps
	for _, c := range fl.Cells {
		from, ok := rq.Reused[c.Name]
		if !ok {
			continue
		}
		if _, read := outs[from.Run]; !read {
			outs[from.Run] = map[string]*views.CellOutput{}
			if src, err := s.stores.run.Run(ctx, from.Run); err == nil && src.WorkspaceID == run.WorkspaceID {
				evs, err := s.allEvents(ctx, src.ID)
				if err != nil {
					return err
				}
				outs[from.Run], _ = views.OutputsFromEvents(evs, 0)
			}
		}
		o := outs[from.Run][c.Name]
		if o == nil {
			o = &views.CellOutput{Result: rq.Prior[c.Name]}
		}
		o.Status = string(from.Status)
		// It did not run in this run: no place on its time axis.
		o.StartedAt, o.FinishedAt = time.Time{}, time.Time{}
		reused.Cells = append(reused.Cells, views.RunCell{Name: c.Name, Kind: string(c.Kind), Source: c.Source, Output: *o, HTML: proseOf(c, o), ReusedFrom: from.Run})
	}
	maskRunProps(s.maskerFor(ctx, run.WorkspaceID), &reused)
	byName := map[string]views.RunCell{}
	for _, c := range append(props.Cells, reused.Cells...) {
		byName[c.Name] = c
	}
	cells := make([]views.RunCell, 0, len(byName))
	for _, c := range fl.Cells {
		if rc, ok := byName[c.Name]; ok {
			cells = append(cells, rc)
			delete(byName, c.Name)
		}
	}
	for _, c := range props.Cells {
		if _, left := byName[c.Name]; left {
			cells = append(cells, c)
		}
	}
	props.Cells = cells
	return nil
}

// addApprovals puts each approval the run asked for on its cell: the
// message it was asked with, its rules and its decision trail.
func (s *Server) addApprovals(ctx context.Context, runID string, props *views.RunProps) error {
	aps, err := s.stores.run.RunApprovals(ctx, runID)
	if err != nil || len(aps) == 0 {
		return err
	}
	byCell := map[string]store.Approval{}
	for _, ap := range aps {
		byCell[ap.Cell] = ap
	}
	var form map[string][]engine.Input
	if r, err := s.stores.run.Run(ctx, runID); err == nil {
		if fl, err := flowFromFiles(r.Files); err == nil {
			form = map[string][]engine.Input{}
			for _, c := range fl.Cells {
				form[c.Name] = c.Inputs
			}
		}
	}
	for i := range props.Cells {
		c := &props.Cells[i]
		ap, ok := byCell[c.Name]
		if !ok {
			continue
		}
		av := &views.ApprovalView{
			Status: ap.Status, Approvers: strings.Join(ap.Approvers, ", "), Needed: ap.Needed, Approvals: ap.Approvals(),
			OnTimeout: string(ap.OnTimeout), Action: "/runs/" + runID + "/approvals/" + ap.Cell, Inputs: form[ap.Cell],
		}
		if !ap.Deadline.IsZero() {
			av.Deadline = ap.Deadline.UTC().Format(time.RFC3339)
		}
		for _, d := range ap.Decisions {
			by := d.Who
			if d.IP != "" {
				by += " (" + d.IP + ")"
			}
			var vals []string
			for _, k := range slices.Sorted(maps.Keys(d.Inputs)) {
				vals = append(vals, fmt.Sprintf("%s: %v", k, d.Inputs[k]))
			}
			av.Decisions = append(av.Decisions, views.ApprovalDecisionView{By: by, At: d.At.UTC().Format(time.RFC3339), Approved: d.Approved, Comment: d.Comment, Values: strings.Join(vals, ", ")})
		}
		c.Approval = av
		c.HTML = Markdown(ap.Message)
	}
	return nil
}
