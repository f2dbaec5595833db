package server

import (
	"context"
	"maps"
	"net/http"
	"slices"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// notebookStore is what the notebook page reads: the flow, its draft and
// its last run.
type notebookStore interface {
	FlowBySlug(ctx context.Context, wsID, slug string) (store.FlowSummary, error)
	Draft(ctx context.Context, flowID string) (store.Draft, error)
	RunsOfFlow(ctx context.Context, flowID string, limit int) ([]store.Run, error)
	TriggerPauses(ctx context.Context, flowID string) (map[string]store.TriggerPause, error)
	Destinations(ctx context.Context, wsID string) ([]store.Destination, error)
}

var _ notebookStore = (*store.Store)(nil)

// GET /w/{ws}/flows/{slug}
func (s *Server) notebook(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleViewer)
	if err != nil {
		return err
	}
	fs, err := s.stores.notebook.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	d, err := s.stores.notebook.Draft(r.Context(), fs.ID)
	if err != nil {
		return err
	}
	props := views.NotebookProps{Page: s.pageOf(r, fs.Name, a.Workspace.Slug, "flows"), Slug: fs.Slug, Role: a.Role, Draft: viewDraft(d), Archived: !fs.ArchivedAt.IsZero()}
	props.Git = s.gitChip(r, a, fs)
	paused, err := s.stores.notebook.TriggerPauses(r.Context(), fs.ID)
	if err != nil {
		return err
	}
	props.Paused, props.Published = append([]string{}, slices.Sorted(maps.Keys(paused))...), fs.PublishedVersion
	if a.Role.AtLeast(engine.RoleEditor) {
		// The names an editor may put in the flow's notify: (a pick-list).
		// Only a convenience: the page opens without it.
		dests, err := s.stores.notebook.Destinations(r.Context(), a.Workspace.ID)
		if err != nil {
			s.log.WarnContext(r.Context(), "list the notification destinations", logattr.Flow(fs.ID), "err", err)
		}
		for _, d := range dests {
			props.Destinations = append(props.Destinations, d.Name)
		}
	}
	if runs, err := s.stores.notebook.RunsOfFlow(r.Context(), fs.ID, 1); err == nil && len(runs) > 0 {
		names := userNames{s: s}
		ri := runItem(runs[0], fs.Slug, fs.Name, names.get(r.Context(), runs[0].StartedBy))
		props.LastRun = &ri
		evs, err := s.allEvents(r.Context(), runs[0].ID)
		if err != nil {
			return err
		}
		props.Outputs, props.Since = views.OutputsFromEvents(evs, 0)
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusOK, views.NotebookPage(props))
}

func viewDraft(d store.Draft) views.Draft {
	dj := toDraftJSON(d)
	out := views.Draft{Name: dj.Name, Description: dj.Description, Order: dj.Order}
	for _, in := range dj.Inputs {
		out.Inputs = append(out.Inputs, views.Input{Name: in.Name, Type: in.Type, Default: in.Default, Required: in.Required, Options: in.Options, Label: in.Label, Description: in.Description, Placeholder: in.Placeholder})
	}
	out.Triggers = []views.Trigger{}
	for _, t := range dj.Triggers {
		out.Triggers = append(out.Triggers, views.Trigger(t))
	}
	for _, c := range dj.Cells {
		vc := views.Cell{ID: c.ID, Name: c.Name, Kind: string(c.Kind), Source: c.Source, Version: c.Version, Options: views.CellOptions{
			Timeout: c.Options.Timeout, Retries: c.Options.Retries, RetryDelay: c.Options.RetryDelay, If: c.Options.If,
			Needs: c.Options.Needs, Connection: c.Options.Connection, Env: c.Options.Env, ContinueOnError: c.Options.ContinueOnError,
			ExpectStatus: c.Options.ExpectStatus,
		}}
		if c.Kind == engine.KindMarkdown {
			vc.HTML = Markdown(c.Source)
		}
		out.Cells = append(out.Cells, vc)
	}
	return out
}
