package server

import (
	"context"
	"net/http"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// flowLister is what the flow list reads: the flows and each one's last
// run.
type flowLister interface {
	Flows(ctx context.Context, wsID string) ([]store.FlowSummary, error)
	Run(ctx context.Context, id string) (store.Run, error)
}

var _ flowLister = (*store.Store)(nil)

// GET /w/{ws}
func (s *Server) flowList(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleViewer)
	if err != nil {
		return err
	}
	props, err := s.flowsProps(r, a)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.FlowsPage(props))
}

func (s *Server) flowsProps(r *http.Request, a access) (views.FlowsProps, error) {
	flows, err := s.stores.flows.Flows(r.Context(), a.Workspace.ID)
	if err != nil {
		return views.FlowsProps{}, err
	}
	props := views.FlowsProps{Page: s.pageOf(r, a.Workspace.Name, a.Workspace.Slug, "flows"), CanEdit: a.Role.AtLeast(engine.RoleEditor), Errors: map[string]string{}}
	props.ShowArchived = r.URL.Query().Get("archived") == "1"
	props.CanOwn = a.Role.AtLeast(engine.RoleOwner)
	names := userNames{s: s}
	for _, f := range flows {
		archived := !f.ArchivedAt.IsZero()
		if archived {
			props.Archived++
			if !props.ShowArchived {
				continue
			}
		}
		item := views.FlowItem{Slug: f.Slug, Name: f.Name, Cells: f.Cells, PublishedVersion: f.PublishedVersion, Archived: archived}
		if f.LastRunID != "" {
			if run, err := s.stores.flows.Run(r.Context(), f.LastRunID); err == nil {
				ri := runItem(run, f.Slug, f.Name, names.get(r.Context(), run.StartedBy))
				item.LastRun = &ri
			}
		}
		props.Flows = append(props.Flows, item)
	}
	return props, s.gitFlows(r, a, &props)
}
