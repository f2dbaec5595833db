package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

const (
	actFlowArchived   = "flow.archived"
	actFlowUnarchived = "flow.unarchived"
	actFlowDeleted    = "flow.deleted"
)

// flowRemover is what archiving and deleting a flow read and write.
type flowRemover interface {
	FlowBySlug(ctx context.Context, wsID, slug string) (store.FlowSummary, error)
	ArchiveFlow(ctx context.Context, flowID string) error
	UnarchiveFlow(ctx context.Context, flowID string) error
	CountFlowContents(ctx context.Context, flowID string) (store.FlowContents, error)
	DeleteFlow(ctx context.Context, flowID string) (store.FlowContents, error)
	GitSettings(ctx context.Context, wsID string) (store.GitSettings, error)
}

var _ flowRemover = (*store.Store)(nil)

// ownedFlow checks the principal owns the workspace and loads the flow.
func (s *Server) ownedFlow(r *http.Request) (access, store.FlowSummary, error) {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleOwner)
	if err != nil {
		return a, store.FlowSummary{}, err
	}
	fs, err := s.stores.flowRemove.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	return a, fs, err
}

// GET /w/{ws}/flows/{slug}/delete (owner): archive, unarchive, or read
// what deleting removes and confirm by typing the slug.
func (s *Server) flowRemovePage(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.ownedFlow(r)
	if err != nil {
		return err
	}
	return s.renderFlowRemove(w, r, a, fs, http.StatusOK, "", nil)
}

func (s *Server) renderFlowRemove(w http.ResponseWriter, r *http.Request, a access, fs store.FlowSummary, status int, typed string, errs map[string]string) error {
	st := s.stores.flowRemove
	c, err := st.CountFlowContents(r.Context(), fs.ID)
	if err != nil {
		return err
	}
	_, gerr := st.GitSettings(r.Context(), a.Workspace.ID)
	if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
		return gerr
	}
	name := fs.Name
	if name == "" {
		name = fs.Slug
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, status, views.FlowRemovePage(views.FlowRemoveProps{
		Page: s.pageOf(r, "Archive or delete "+name, a.Workspace.Slug, "flows"),
		Slug: fs.Slug, Name: name, Archived: !fs.ArchivedAt.IsZero(),
		Versions: c.Versions, Runs: c.Runs, Shares: c.Shares, Hooks: c.Hooks, Active: c.Active,
		Git: gerr == nil, Typed: typed, Errors: errs,
	}))
}

// POST /w/{ws}/flows/{slug}/archive (owner): hide the flow and refuse
// its runs; everything of it is kept.
func (s *Server) flowArchive(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.ownedFlow(r)
	if err != nil {
		return err
	}
	if err := s.stores.flowRemove.ArchiveFlow(r.Context(), fs.ID); err != nil {
		return err
	}
	s.audit(r.Context(), r, actFlowArchived, "flow "+fs.Slug, "")
	http.Redirect(w, r, "/w/"+a.Workspace.Slug, http.StatusSeeOther)
	return nil
}

// POST /w/{ws}/flows/{slug}/unarchive (owner)
func (s *Server) flowUnarchive(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.ownedFlow(r)
	if err != nil {
		return err
	}
	if err := s.stores.flowRemove.UnarchiveFlow(r.Context(), fs.ID); err != nil {
		return err
	}
	s.audit(r.Context(), r, actFlowUnarchived, "flow "+fs.Slug, "")
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/flows/"+fs.Slug, http.StatusSeeOther)
	return nil
}

// POST /w/{ws}/flows/{slug}/delete (owner), with confirm=<the slug>:
// remove the flow and all of it, refused while a run of it has not ended.
// The audit log keeps its entries; a git repository is not touched. Open
// notebooks of the flow are closed with the reason.
func (s *Server) flowDelete(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.ownedFlow(r)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	typed := r.PostFormValue("confirm")
	if typed != fs.Slug {
		return s.renderFlowRemove(w, r, a, fs, http.StatusUnprocessableEntity, typed,
			map[string]string{"confirm": "type the flow's slug, " + fs.Slug + ", exactly, to delete it"})
	}
	c, err := s.stores.flowRemove.DeleteFlow(r.Context(), fs.ID)
	if errors.Is(err, store.ErrActive) {
		return s.renderFlowRemove(w, r, a, fs, http.StatusConflict, typed,
			map[string]string{"confirm": "a run of this flow has not ended: cancel it first"})
	}
	if err != nil {
		return err
	}
	why := "This flow was deleted by " + principalFrom(r.Context()).User.Name + "."
	s.goneFlows.Store(fs.ID, why)
	s.hub.CloseTopic(flowTopic(fs.ID))
	s.audit(r.Context(), r, actFlowDeleted, "flow "+fs.Slug,
		fmt.Sprintf("%q with %d version(s), %d run(s), %d share link(s), %d webhook(s)", fs.Name, c.Versions, c.Runs, c.Shares, c.Hooks))
	http.Redirect(w, r, "/w/"+a.Workspace.Slug, http.StatusSeeOther)
	return nil
}
