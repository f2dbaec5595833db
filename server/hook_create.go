package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/views"
)

type hookBody struct {
	Name string `json:"name"`
}

type apiHook struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Token      string `json:"token,omitempty"`
	URL        string `json:"url,omitempty"`
	CreatedBy  string `json:"created_by"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at,omitempty"`
}

// POST /api/v1/flows/{slug}/hooks (editor): a webhook token, shown once
// with its URL. Body: {"name": "…"}, optional.
func (s *Server) apiCreateHook(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	fs, err := s.stores.hooks.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	var b hookBody
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			return errorf(http.StatusBadRequest, "bad_json", "", "the body must be a JSON object like {\"name\": \"deploys from CI\"}, or empty: "+err.Error())
		}
	}
	h, token, err := s.newHook(r.Context(), r, fs, b.Name)
	if err != nil {
		return err
	}
	out := s.hookJSON(r, h)
	out.Token, out.URL = token, hookURL(r, token)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// POST /w/{ws}/flows/{slug}/hooks (editor): a webhook token, shown once on
// the flow's share page. Field: name.
func (s *Server) hookCreatePage(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleEditor)
	if err != nil {
		return err
	}
	fs, err := s.stores.hooks.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	h, token, err := s.newHook(r.Context(), r, fs, r.PostFormValue("name"))
	var ae *apiError
	if err != nil && !(errors.As(err, &ae) && ae.Status < 500) {
		return err
	}
	props, perr := s.sharesProps(r, a, fs)
	if perr != nil {
		return perr
	}
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		props.Webhooks.Error = ae.Message
		return s.render(w, r, ae.Status, views.SharesPage(props))
	}
	props.Webhooks.New = &views.NewHook{ID: h.ID, Name: h.Name, URL: hookURL(r, token)}
	return s.render(w, r, http.StatusCreated, views.SharesPage(props))
}
