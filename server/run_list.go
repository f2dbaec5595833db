package server

import (
	"context"
	"net/http"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// runLister is what the runs page reads: the workspace's runs and their
// flows.
type runLister interface {
	RunsOfWorkspace(ctx context.Context, wsID string, limit int) ([]store.Run, error)
	FlowByID(ctx context.Context, id string) (store.FlowSummary, error)
}

var _ runLister = (*store.Store)(nil)

// GET /w/{ws}/runs
func (s *Server) runList(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleViewer)
	if err != nil {
		return err
	}
	runs, err := s.stores.runs.RunsOfWorkspace(r.Context(), a.Workspace.ID, 200)
	if err != nil {
		return err
	}
	props := views.RunsProps{Page: s.pageOf(r, "Runs", a.Workspace.Slug, "runs")}
	names := userNames{s: s}
	flows := map[string]store.FlowSummary{}
	for _, run := range runs {
		f, ok := flows[run.FlowID]
		if !ok {
			f, _ = s.stores.runs.FlowByID(r.Context(), run.FlowID)
			flows[run.FlowID] = f
		}
		props.Runs = append(props.Runs, runItem(run, f.Slug, f.Name, names.get(r.Context(), run.StartedBy)))
	}
	return s.render(w, r, http.StatusOK, views.RunsPage(props))
}
