package server

import (
	"errors"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// Markdown is rendered here only (Markdown, goldmark then bluemonday): a
// page asks these routes for what it shows of text that changed after the
// server rendered it — a markdown cell's preview in the notebook, a markdown
// cell's prose that finished while a run page was open. The body is the
// markdown (at most a cell's size); the answer {"html": …} is sanitized.
//
// The text is not masked: it is what the page already holds (a run's text
// came masked over its socket), and masking what a client sends would
// tell it whether a guess is a secret.

// POST /w/{ws}/flows/{slug}/markdown: the notebook's preview (whoever can
// see the notebook: a viewer watches others' edits).
func (s *Server) flowMarkdown(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := s.flowAccess(r, engine.RoleViewer); err != nil {
		return err
	}
	return s.writeMarkdown(w, r)
}

// POST /runs/{id}/markdown: a run page's prose (whoever can see the run).
func (s *Server) runMarkdown(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleViewer); err != nil {
		return err
	}
	return s.writeMarkdown(w, r)
}

// POST /s/{token}/markdown: a run link's page's prose, while the link lives.
func (s *Server) shareMarkdown(w http.ResponseWriter, r *http.Request) error {
	sh, err := s.liveShare(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	if sh.Kind != store.ShareRun {
		return errShareGone
	}
	return s.writeMarkdown(w, r)
}

func (s *Server) writeMarkdown(w http.ResponseWriter, r *http.Request) error {
	src, err := io.ReadAll(http.MaxBytesReader(w, r.Body, store.MaxSourceSize))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		err = errorf(http.StatusRequestEntityTooLarge, "too_large", "source", "markdown to render is limited to 1 MiB, as a cell is")
	case err != nil:
		err = errorf(http.StatusBadRequest, "bad_body", "source", "the markdown could not be read: "+err.Error())
	case !utf8.Valid(src):
		err = errorf(http.StatusBadRequest, "bad_body", "source", "the markdown is not UTF-8 text")
	}
	if err != nil {
		e := s.classify(r, err)
		writeJSON(w, e.Status, e.body())
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"html": Markdown(string(src))})
	return nil
}
