package server

import (
	"net/http"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/views"
)

// POST /w/{ws}/flows/import (multipart field "archive")
func (s *Server) flowImport(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleEditor)
	if err != nil {
		return err
	}
	fail := func(msg string) error {
		props, err := s.flowsProps(r, a)
		if err != nil {
			return err
		}
		props.Errors["archive"] = msg
		return s.render(w, r, http.StatusUnprocessableEntity, views.FlowsPage(props))
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxArchiveBytes+64<<10)
	file, hdr, err := r.FormFile("archive")
	if err != nil {
		return fail("choose a .zip or .tar.gz of a flow folder (at most 16 MiB)")
	}
	defer file.Close()
	data := make([]byte, 0, hdr.Size)
	buf := make([]byte, 32<<10)
	for {
		n, err := file.Read(buf)
		data = append(data, buf[:n]...)
		if err != nil {
			break
		}
	}
	ct := "application/gzip"
	if strings.HasSuffix(strings.ToLower(hdr.Filename), ".zip") {
		ct = "application/zip"
	}
	_, slug, err := s.importFlow(r.Context(), a, data, ct, "")
	if err != nil {
		return fail(s.classify(r, err).Message)
	}
	s.auditIn(r.Context(), r, a.Workspace.ID, actFlowCreated, "flow "+slug, "imported from an archive")
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/flows/"+slug, http.StatusSeeOther)
	return nil
}
