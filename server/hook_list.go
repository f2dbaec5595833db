package server

import (
	"errors"
	"net/http"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// hookJSON is a webhook in the API, never its token; created_by is the
// maker's user name, as a run's started_by is.
func (s *Server) hookJSON(r *http.Request, h store.Hook) apiHook {
	by := ""
	if h.CreatedBy != "" {
		if u, err := s.stores.hooks.UserByID(r.Context(), h.CreatedBy); err == nil {
			by = u.Name
		}
	}
	return apiHook{ID: h.ID, Name: h.Name, CreatedBy: by, CreatedAt: fmtTime(h.CreatedAt), LastUsedAt: fmtTime(h.LastUsedAt)}
}

// GET /api/v1/flows/{slug}/hooks (editor): the flow's live webhooks,
// newest first, never their tokens.
func (s *Server) apiListHooks(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	fs, err := s.stores.hooks.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	hooks, err := s.stores.hooks.HooksOfFlow(r.Context(), fs.ID)
	if err != nil {
		return err
	}
	out := []apiHook{}
	for _, h := range hooks {
		out = append(out, s.hookJSON(r, h))
	}
	writeJSON(w, http.StatusOK, map[string]any{"hooks": out})
	return nil
}

// webhooksPanel is the Webhooks section of a flow's share page: for
// editors only, since a webhook starts runs as its maker.
func (s *Server) webhooksPanel(r *http.Request, a access, fs store.FlowSummary) (views.WebhooksPanel, error) {
	if !a.Role.AtLeast(engine.RoleEditor) {
		return views.WebhooksPanel{}, nil
	}
	// The version webhooks run, as flowForRun picks it.
	p := views.WebhooksPanel{Show: true, Version: fs.PublishedVersion, Published: fs.PublishedVersion != 0}
	if !p.Published {
		p.Version = fs.Versions
	}
	var ae *apiError
	if _, _, t, err := s.webhookFlow(r.Context(), fs); err == nil {
		p.Trigger, p.Rate = true, t.EffectiveRate()
	} else if !errors.As(err, &ae) || ae.Status >= 500 {
		return views.WebhooksPanel{}, err
	}
	hooks, err := s.stores.hooks.HooksOfFlow(r.Context(), fs.ID)
	if err != nil {
		return views.WebhooksPanel{}, err
	}
	names := &userNames{s: s}
	for _, h := range hooks {
		by := ""
		if h.CreatedBy != "" {
			by = names.get(r.Context(), h.CreatedBy)
		}
		p.Hooks = append(p.Hooks, views.HookItem{ID: h.ID, Name: h.Name, CreatedBy: by, CreatedAt: h.CreatedAt, LastUsedAt: h.LastUsedAt})
	}
	return p, nil
}
