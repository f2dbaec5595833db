package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// flowCreator stores a new flow.
type flowCreator interface {
	CreateDraftFlow(ctx context.Context, wsID, slug string, f *engine.Flow, userID string) (store.FlowSummary, error)
}

var _ flowCreator = (*store.Store)(nil)

// POST /w/{ws}/flows creates an empty flow and opens it. The flow has a
// draft and no version: its first saved version is v1, and until then
// runs run the draft.
func (s *Server) flowCreate(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleEditor)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	name := strings.TrimSpace(r.PostFormValue("name"))
	slug := engine.Slugify(name)
	fail := func(msg string) error {
		props, err := s.flowsProps(r, a)
		if err != nil {
			return err
		}
		props.NewName = name
		props.Errors["name"] = msg
		return s.render(w, r, http.StatusUnprocessableEntity, views.FlowsPage(props))
	}
	if name == "" || slug == "" || len(name) > 200 {
		return fail("give the flow a name of letters or digits, up to 200 characters")
	}
	f := &engine.Flow{Name: name, Cells: []engine.Cell{{Name: "notes", Kind: engine.KindMarkdown, File: "notes.md", Source: "# " + name + "\n\nWhat this flow does, for the people who run it.\n"}}}
	if _, err := flow.Files(f); err != nil {
		return err
	}
	if _, err := s.stores.flowCreate.CreateDraftFlow(r.Context(), a.Workspace.ID, slug, f, principalFrom(r.Context()).User.ID); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return fail("a flow named " + slug + " already exists; choose another name")
		}
		return err
	}
	s.auditIn(r.Context(), r, a.Workspace.ID, actFlowCreated, "flow "+slug, "a new flow")
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/flows/"+slug, http.StatusSeeOther)
	return nil
}
