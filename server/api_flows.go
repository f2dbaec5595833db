package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/store"
)

// workspaceFinder finds an API request's workspace: its token's, or its person's only one.
type workspaceFinder interface {
	WorkspaceByID(ctx context.Context, id string) (store.Workspace, error)
	WorkspacesOf(ctx context.Context, userID string) ([]store.Membership, error)
}

var _ workspaceFinder = (*store.Store)(nil)

// apiFlowStore is what the API's flow routes (and importFlow) read and write.
type apiFlowStore interface {
	Flows(ctx context.Context, wsID string) ([]store.FlowSummary, error)
	FlowBySlug(ctx context.Context, wsID, slug string) (store.FlowSummary, error)
	Draft(ctx context.Context, flowID string) (store.Draft, error)
	CreateFlow(ctx context.Context, wsID, slug string, f *engine.Flow, userID string, files []store.File, hash string) (store.FlowSummary, error)
}

var _ apiFlowStore = (*store.Store)(nil)

// apiWorkspace resolves the workspace of an API request: the token's, or
// ?workspace= for a session.
func (s *Server) apiWorkspace(r *http.Request, min engine.Role) (access, error) {
	p := principalFrom(r.Context())
	if p == nil {
		return access{}, errUnauthorized
	}
	if p.Token != nil {
		ws, err := s.stores.apiWorkspace.WorkspaceByID(r.Context(), p.Token.WorkspaceID)
		if err != nil {
			return access{}, err
		}
		return s.accessTo(r.Context(), ws, min)
	}
	slug := r.URL.Query().Get("workspace")
	if slug == "" {
		ms, err := s.stores.apiWorkspace.WorkspacesOf(r.Context(), p.User.ID)
		if err != nil {
			return access{}, err
		}
		if len(ms) != 1 {
			return access{}, errorf(http.StatusBadRequest, "workspace", "workspace", "name the workspace with ?workspace=SLUG")
		}
		slug = ms[0].Workspace.Slug
	}
	return s.workspaceAccess(r.Context(), slug, min)
}

type apiFlow struct {
	Slug             string         `json:"slug"`
	Name             string         `json:"name"`
	Description      string         `json:"description,omitempty"`
	PublishedVersion *int           `json:"published_version"`
	Versions         int            `json:"versions"`
	LastRun          *apiRunSummary `json:"last_run"`
	ArchivedAt       string         `json:"archived_at,omitempty"` // RFC 3339; listed only with ?archived=1
}

type apiRunSummary struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	CreatedAt string `json:"created_at"`
}

func flowJSON(f store.FlowSummary) apiFlow {
	a := apiFlow{Slug: f.Slug, Name: f.Name, Description: f.Description, Versions: f.Versions}
	if f.PublishedVersion > 0 {
		v := f.PublishedVersion
		a.PublishedVersion = &v
	}
	if f.LastRunID != "" {
		a.LastRun = &apiRunSummary{ID: f.LastRunID, Status: string(f.LastRunStatus), CreatedAt: f.LastRunAt.UTC().Format(time.RFC3339)}
	}
	if !f.ArchivedAt.IsZero() {
		a.ArchivedAt = f.ArchivedAt.UTC().Format(time.RFC3339)
	}
	return a
}

// GET /api/v1/flows
func (s *Server) apiListFlows(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleViewer)
	if err != nil {
		return err
	}
	flows, err := s.stores.apiFlows.Flows(r.Context(), a.Workspace.ID)
	if err != nil {
		return err
	}
	out := make([]apiFlow, 0, len(flows))
	withArchived := r.URL.Query().Get("archived") == "1"
	for _, f := range flows {
		if !f.ArchivedAt.IsZero() && !withArchived {
			continue
		}
		out = append(out, flowJSON(f))
	}
	writeJSON(w, http.StatusOK, map[string]any{"flows": out})
	return nil
}

// POST /api/v1/flows (a .tar.gz or .zip flow folder)
func (s *Server) apiCreateFlow(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxArchiveBytes+1))
	if err != nil {
		return badArchive("the archive is larger than %d MiB", maxArchiveBytes>>20)
	}
	f, slug, err := s.importFlow(r.Context(), a, data, r.Header.Get("Content-Type"), r.URL.Query().Get("slug"))
	if err != nil {
		return err
	}
	s.auditIn(r.Context(), r, a.Workspace.ID, actFlowCreated, "flow "+slug, "imported from an archive (API)")
	writeJSON(w, http.StatusCreated, map[string]any{"slug": slug, "version": 1, "name": f.Name, "url": "/w/" + a.Workspace.Slug + "/flows/" + slug})
	return nil
}

// importFlow parses an archive, validates everything, and only then stores
// the flow with its version 1.
func (s *Server) importFlow(ctx context.Context, a access, data []byte, contentType, slug string) (*engine.Flow, string, error) {
	folder, top, err := readArchive(data, contentType)
	if err != nil {
		return nil, "", err
	}
	f, err := flow.ParseFiles(folder)
	if err != nil {
		return nil, "", err
	}
	if errs := flow.Validate(f); len(errs) > 0 {
		return nil, "", errs
	}
	if _, err := run.Compile(f); err != nil {
		return nil, "", err
	}
	if slug == "" {
		slug = engine.Slugify(top)
	}
	if slug == "" {
		slug = engine.Slugify(f.Name)
	}
	if !engine.IsSlug(slug) {
		return nil, "", errorf(http.StatusBadRequest, "slug", "slug", "give the flow a slug of lower-case letters, digits and dashes with ?slug=")
	}
	files, err := flow.Files(f)
	if err != nil {
		return nil, "", err
	}
	if err := s.checkSecretsInCode(ctx, a.Workspace.ID, f, files); err != nil {
		return nil, "", err
	}
	p := principalFrom(ctx)
	if _, err := s.stores.apiFlows.CreateFlow(ctx, a.Workspace.ID, slug, f, p.User.ID, storeFiles(files), flow.Hash(f)); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, "", errorf(http.StatusConflict, "exists", "slug", "a flow named "+slug+" already exists in this workspace; rename the folder (or, with the API, choose another slug with ?slug=), or import it as a new version from that flow's History")
		}
		return nil, "", err
	}
	return f, slug, nil
}

func storeFiles(files []flow.File) []store.File {
	out := make([]store.File, len(files))
	for i, f := range files {
		out[i] = store.File{Name: f.Name, Data: f.Data}
	}
	return out
}

// GET /api/v1/flows/{slug}
func (s *Server) apiGetFlow(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleViewer)
	if err != nil {
		return err
	}
	fs, err := s.stores.apiFlows.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	d, err := s.stores.apiFlows.Draft(r.Context(), fs.ID)
	if err != nil {
		return err
	}
	out := struct {
		apiFlow
		Draft draftJSON `json:"draft"`
	}{flowJSON(fs), toDraftJSON(d)}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type startRunBody struct {
	Inputs  map[string]any  `json:"inputs"`
	Version json.RawMessage `json:"version"`
	Wait    string          `json:"wait"`
}
