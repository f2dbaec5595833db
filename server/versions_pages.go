package server

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// flowAccess resolves the {ws} and {slug} of a page request.
func (s *Server) flowAccess(r *http.Request, min engine.Role) (access, store.FlowSummary, error) {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), min)
	if err != nil {
		return a, store.FlowSummary{}, err
	}
	fs, err := s.stores.versions.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	return a, fs, err
}

func (s *Server) versionsProps(r *http.Request, a access, fs store.FlowSummary) (views.VersionsProps, error) {
	vs, err := s.stores.versions.Versions(r.Context(), fs.ID)
	if err != nil {
		return views.VersionsProps{}, err
	}
	props := views.VersionsProps{
		Page: s.pageOf(r, fs.Name+" · history", a.Workspace.Slug, "flows"), Slug: fs.Slug, FlowName: fs.Name,
		CanEdit: a.Role.AtLeast(engine.RoleEditor), Published: fs.PublishedVersion, Errors: map[string]string{},
	}
	names := userNames{s: s}
	for _, v := range vs {
		item := views.VersionItem{Number: v.Number, Message: v.Message, Author: names.get(r.Context(), v.Author),
			Hash: v.Hash, CreatedAt: v.CreatedAt, Published: v.Published}
		for _, id := range v.Coauthors {
			item.Coauthors = append(item.Coauthors, names.get(r.Context(), id))
		}
		props.Versions = append(props.Versions, item)
	}
	if props.CanEdit && len(vs) > 0 {
		if props.DraftUnsaved, _, err = s.draftUnsaved(r.Context(), fs); err != nil {
			return views.VersionsProps{}, err
		}
	}
	return props, nil
}

// GET /w/{ws}/flows/{slug}/versions
func (s *Server) versionList(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.flowAccess(r, engine.RoleViewer)
	if err != nil {
		return err
	}
	props, err := s.versionsProps(r, a, fs)
	if err != nil {
		return err
	}
	switch r.URL.Query().Get("done") {
	case "saved", "imported", "restored", "published":
		props.Notice = noticeOf(r.URL.Query().Get("done"), r.URL.Query().Get("v"))
		if n, _ := strconv.Atoi(r.URL.Query().Get("saved")); n > 0 {
			props.Notice = "Saved the draft as v" + strconv.Itoa(n) + " first. " + props.Notice
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusOK, views.VersionsPage(props))
}

func noticeOf(done, v string) string {
	n, _ := strconv.Atoi(v)
	label := "v" + strconv.Itoa(n)
	switch done {
	case "saved":
		return "Saved " + label + "."
	case "imported":
		return "Uploaded as " + label + "; it is the draft now."
	case "restored":
		return label + " is the draft now; everyone with the notebook open sees it."
	}
	return label + " is published: triggers, forms and the API run it by default."
}

// versionFail re-renders the history with an error beside a field.
func (s *Server) versionFail(w http.ResponseWriter, r *http.Request, a access, fs store.FlowSummary, field string, err error) error {
	e := s.classify(r, err)
	if e.Status >= 500 || e.Status == http.StatusForbidden || e.Status == http.StatusNotFound {
		return err
	}
	props, perr := s.versionsProps(r, a, fs)
	if perr != nil {
		return perr
	}
	props.Errors[field] = e.Message
	props.Message = r.PostFormValue("message")
	return s.render(w, r, e.Status, views.VersionsPage(props))
}

// wantsJSON tells a fetch from the notebook (Accept: application/json)
// from a form post.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// POST /w/{ws}/flows/{slug}/versions — "Save version" (field message)
func (s *Server) versionSave(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.flowAccess(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	v, err := s.saveVersion(r.Context(), a, fs, principalFrom(r.Context()).User, r.PostFormValue("message"))
	if err == nil {
		s.audit(r.Context(), r, "version.saved", "flow "+fs.Slug+" v"+strconv.Itoa(v.Number), v.Message)
	}
	if wantsJSON(r) {
		if err != nil {
			e := s.classify(r, err)
			writeJSON(w, e.Status, e.body())
			return nil
		}
		out := map[string]any{"number": v.Number, "hash": v.Hash, "url": versionsURL(a.Workspace.Slug, fs.Slug) + "#v" + strconv.Itoa(v.Number)}
		// With git, what the push did: the page's toast and chip say it at once.
		if g := s.git.await(r.Context(), fs.ID, v.Number, gitSaveWait); g != nil {
			out["git"] = g
		}
		writeJSON(w, http.StatusCreated, out)
		return nil
	}
	if err != nil {
		return s.versionFail(w, r, a, fs, "message", err)
	}
	http.Redirect(w, r, versionsURL(a.Workspace.Slug, fs.Slug)+"?done=saved&v="+strconv.Itoa(v.Number), http.StatusSeeOther)
	return nil
}

// POST /w/{ws}/flows/{slug}/versions/import (multipart archive, message)
func (s *Server) versionUpload(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.flowAccess(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxArchiveBytes+64<<10)
	file, hdr, err := r.FormFile("archive")
	if err != nil {
		return s.versionFail(w, r, a, fs, "archive", errorf(http.StatusUnprocessableEntity, "archive", "archive", "choose a .zip or .tar.gz of a flow folder (at most 16 MiB)"))
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxArchiveBytes+1))
	if err != nil {
		return err
	}
	ct := "application/gzip"
	if strings.HasSuffix(strings.ToLower(hdr.Filename), ".zip") {
		ct = "application/zip"
	}
	v, err := s.importVersion(r.Context(), a, fs, principalFrom(r.Context()).User, data, ct, r.PostFormValue("message"))
	if err != nil {
		return s.versionFail(w, r, a, fs, "archive", err)
	}
	s.audit(r.Context(), r, "version.saved", "flow "+fs.Slug+" v"+strconv.Itoa(v.Number), "imported: "+v.Message)
	http.Redirect(w, r, versionsURL(a.Workspace.Slug, fs.Slug)+"?done=imported&v="+strconv.Itoa(v.Number), http.StatusSeeOther)
	return nil
}

// POST /w/{ws}/flows/{slug}/versions/{n}/restore
func (s *Server) versionRestore(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.flowAccess(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	n, err := versionParam(r)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	if _, err := s.versionOf(r.Context(), fs, n); err != nil {
		return err
	}
	user := principalFrom(r.Context()).User
	// Edits of the draft that no version holds are lost by a restore: the
	// person says first whether to save them as a version (save_first=1)
	// or to let them go (discard=1).
	saved := 0
	switch {
	case r.PostFormValue("save_first") == "1":
		v, err := s.saveVersion(r.Context(), a, fs, user, "The draft before restoring v"+strconv.Itoa(n))
		if err != nil && !isUnchanged(err) {
			return s.versionFail(w, r, a, fs, "", err)
		}
		if err == nil {
			saved = v.Number
			s.audit(r.Context(), r, "version.saved", "flow "+fs.Slug+" v"+strconv.Itoa(v.Number), v.Message)
		}
	case r.PostFormValue("discard") != "1":
		unsaved, latest, err := s.draftUnsaved(r.Context(), fs)
		if err != nil {
			return err
		}
		if unsaved {
			return s.versionFail(w, r, a, fs, "", errorf(http.StatusConflict, "unsaved_draft", "",
				"the draft has edits that v"+strconv.Itoa(latest)+" does not hold: save them as a version first, or restore without them"))
		}
	}
	if err := s.restoreVersion(r.Context(), fs, user, n); err != nil {
		return s.versionFail(w, r, a, fs, "", err)
	}
	s.audit(r.Context(), r, "version.restored", "flow "+fs.Slug+" v"+strconv.Itoa(n), "")
	to := versionsURL(a.Workspace.Slug, fs.Slug) + "?done=restored&v=" + strconv.Itoa(n)
	if saved > 0 {
		to += "&saved=" + strconv.Itoa(saved)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// POST /w/{ws}/flows/{slug}/versions/{n}/publish
func (s *Server) versionPublish(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.flowAccess(r, engine.RoleEditor)
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
	http.Redirect(w, r, versionsURL(a.Workspace.Slug, fs.Slug)+"?done=published&v="+strconv.Itoa(n), http.StatusSeeOther)
	return nil
}

// GET /w/{ws}/flows/{slug}/versions/{n}/export?format=zip|tar.gz
func (s *Server) versionExport(w http.ResponseWriter, r *http.Request) error {
	_, fs, err := s.flowAccess(r, engine.RoleViewer)
	if err != nil {
		return err
	}
	return s.exportVersion(w, r, fs)
}

// GET /w/{ws}/flows/{slug}/diff?from=N|draft&to=N|draft — by default the
// latest version against the draft.
func (s *Server) versionDiff(w http.ResponseWriter, r *http.Request) error {
	a, fs, err := s.flowAccess(r, engine.RoleViewer)
	if err != nil {
		return err
	}
	from, to := r.URL.Query().Get("from"), r.URL.Query().Get("to")
	if from == "" {
		from = strconv.Itoa(max(fs.Versions, 1))
	}
	if to == "" {
		to = "draft"
	}
	old, _, err := s.flowAt(r.Context(), fs, from)
	if err != nil {
		return err
	}
	new, _, err := s.flowAt(r.Context(), fs, to)
	if err != nil {
		return err
	}
	props := views.DiffProps{
		Page: s.pageOf(r, fs.Name+" · changes", a.Workspace.Slug, "flows"), Slug: fs.Slug, FlowName: fs.Name,
		From: strings.TrimPrefix(from, "v"), To: strings.TrimPrefix(to, "v"), Diff: flow.Compare(old, new),
	}
	for n := fs.Versions; n >= 1; n-- {
		props.Versions = append(props.Versions, n)
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusOK, views.DiffPage(props))
}

// publishVersion makes version n the flow's published one (the one its
// triggers, run forms and API runs use) and records it.
func (s *Server) publishVersion(r *http.Request, fs store.FlowSummary, n int) error {
	if _, err := s.versionOf(r.Context(), fs, n); err != nil {
		return err
	}
	if err := s.stores.versions.Publish(r.Context(), fs.ID, n); err != nil {
		return err
	}
	s.audit(r.Context(), r, "version.published", "flow "+fs.Slug+" v"+strconv.Itoa(n), "")
	return nil
}
