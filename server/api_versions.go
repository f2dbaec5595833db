package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/archive"
	"github.com/opsbook/opsbook/engine/store"
)

type apiVersion struct {
	Number    int      `json:"number"`
	Message   string   `json:"message"`
	Author    string   `json:"author"`
	Coauthors []string `json:"coauthors"`
	Hash      string   `json:"hash"`
	CreatedAt string   `json:"created_at"`
	Published bool     `json:"published"`
}

// userReader finds a person by id, to show their name.
type userReader interface {
	UserByID(ctx context.Context, id string) (store.User, error)
}

var _ userReader = (*store.Store)(nil)

// userLogins caches login names by user id.
type userLogins map[string]string

func (u userLogins) get(ctx context.Context, st userReader, id string) string {
	if id == "" {
		return ""
	}
	if n, ok := u[id]; ok {
		return n
	}
	n := ""
	if usr, err := st.UserByID(ctx, id); err == nil {
		n = usr.Name
	}
	u[id] = n
	return n
}

func (s *Server) versionJSON(ctx context.Context, names userLogins, v store.Version) apiVersion {
	out := apiVersion{Number: v.Number, Message: v.Message, Author: names.get(ctx, s.stores.versions, v.Author), Coauthors: []string{},
		Hash: v.Hash, CreatedAt: v.CreatedAt.UTC().Format(time.RFC3339), Published: v.Published}
	for _, id := range v.Coauthors {
		out.Coauthors = append(out.Coauthors, names.get(ctx, s.stores.versions, id))
	}
	return out
}

// apiFlowAccess resolves the workspace and the {slug} flow of an API request.
func (s *Server) apiFlowAccess(r *http.Request, min engine.Role) (access, store.FlowSummary, error) {
	a, err := s.apiWorkspace(r, min)
	if err != nil {
		return access{}, store.FlowSummary{}, err
	}
	fs, err := s.stores.versions.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	return a, fs, err
}

// GET /api/v1/flows/{slug}/versions
func (s *Server) apiListVersions(w http.ResponseWriter, r *http.Request) error {
	_, fs, err := s.apiFlowAccess(r, engine.RoleViewer)
	if err != nil {
		return err
	}
	vs, err := s.stores.versions.Versions(r.Context(), fs.ID)
	if err != nil {
		return err
	}
	names := userLogins{}
	out := make([]apiVersion, 0, len(vs))
	for _, v := range vs {
		out = append(out, s.versionJSON(r.Context(), names, v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": out})
	return nil
}

// POST /api/v1/flows/{slug}/versions?message= (a .tar.gz or .zip flow folder)
func (s *Server) apiImportVersion(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.apiFlowAccess(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxArchiveBytes+1))
	if err != nil {
		return badArchive("the archive is larger than %d MiB", maxArchiveBytes>>20)
	}
	p := principalFrom(r.Context())
	v, err := s.importVersion(r.Context(), a, fs, p.User, data, r.Header.Get("Content-Type"), r.URL.Query().Get("message"))
	if err != nil {
		return err
	}
	out := s.versionJSON(r.Context(), userLogins{}, v)
	s.audit(r.Context(), r, "version.saved", "flow "+fs.Slug+" v"+strconv.Itoa(v.Number), "imported: "+v.Message)
	writeJSON(w, http.StatusCreated, struct {
		apiVersion
		URL string `json:"url"`
	}{out, versionsURL(a.Workspace.Slug, fs.Slug)})
	return nil
}

func versionsURL(ws, slug string) string { return "/w/" + ws + "/flows/" + slug + "/versions" }

// GET /api/v1/flows/{slug}/versions/{n}/export?format=zip|tar.gz
func (s *Server) apiExportVersion(w http.ResponseWriter, r *http.Request) error {
	_, fs, err := s.apiFlowAccess(r, engine.RoleViewer)
	if err != nil {
		return err
	}
	return s.exportVersion(w, r, fs)
}

// exportVersion answers version {n} of fs as an archive (?format=).
func (s *Server) exportVersion(w http.ResponseWriter, r *http.Request, fs store.FlowSummary) error {
	n, err := versionParam(r)
	if err != nil {
		return err
	}
	format, err := archive.ParseFormat(r.URL.Query().Get("format"))
	if err != nil {
		return errorf(http.StatusBadRequest, "format", "format", err.Error())
	}
	v, err := s.versionOf(r.Context(), fs, n)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := archive.Write(&buf, format, fs.Slug, flowFiles(v.Files)); err != nil {
		return err
	}
	name := fs.Slug + "-v" + strconv.Itoa(n) + "." + string(format)
	h := w.Header()
	h.Set("Content-Type", format.ContentType())
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("ETag", `"`+v.Hash+"-"+string(format)+`"`)
	h.Set("Cache-Control", "private, no-cache")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}

// POST /api/v1/flows/{slug}/versions/{n}/publish
func (s *Server) apiPublishVersion(w http.ResponseWriter, r *http.Request) error {
	_, fs, err := s.apiFlowAccess(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	n, err := versionParam(r)
	if err != nil {
		return err
	}
	if err := s.publishVersion(r, fs, n); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"slug": fs.Slug, "published_version": n})
	return nil
}
