package server

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// POST /runs/{id}/shares (editor): a link to this run, shown once on the
// run page. Form fields: expires_in, show_code.
func (s *Server) shareRunForm(w http.ResponseWriter, r *http.Request) error {
	run, a, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleEditor)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ttl, err := parseTTL(r.PostFormValue("expires_in"))
	if err != nil {
		return err
	}
	sh, token, err := s.newShare(r.Context(), r, store.Share{
		WorkspaceID: run.WorkspaceID, FlowID: run.FlowID, RunID: run.ID, Kind: store.ShareRun,
		ShowCode: r.PostFormValue("show_code") == "on", ExpiresAt: time.Now().Add(ttl),
	})
	if err != nil {
		return err
	}
	props, err := s.runProps(r, run, a.Workspace.Slug)
	if err != nil {
		return err
	}
	props.ShowCode, props.CanShare = true, true
	props.NewShare = &views.NewShare{URL: shareURL(r, token), ExpiresAt: sh.ExpiresAt, Kind: store.ShareRun}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusCreated, views.RunPage(props))
}

type shareBody struct {
	ExpiresIn     string `json:"expires_in"`
	ShowCode      bool   `json:"show_code"`
	RequireSignIn bool   `json:"require_signin"`
	RunsPerHour   *int   `json:"runs_per_hour"`
}

func decodeShareBody(w http.ResponseWriter, r *http.Request) (shareBody, error) {
	var b shareBody
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			return b, errorf(http.StatusBadRequest, "bad_json", "", "the body must be a JSON object like {\"expires_in\": \"168h\", \"show_code\": false}: "+err.Error())
		}
	}
	return b, nil
}

type apiShare struct {
	ID            string `json:"id"`
	URL           string `json:"url,omitempty"`
	Kind          string `json:"kind"`
	Run           string `json:"run,omitempty"`
	ShowCode      bool   `json:"show_code"`
	RequireSignIn bool   `json:"require_signin,omitempty"`
	RunsPerHour   int    `json:"runs_per_hour,omitempty"`
	CreatedAt     string `json:"created_at"`
	ExpiresAt     string `json:"expires_at"`
	RevokedAt     string `json:"revoked_at,omitempty"`
	Views         int64  `json:"views"`
}

func shareJSON(sh store.Share) apiShare {
	return apiShare{ID: sh.ID, Kind: sh.Kind, Run: sh.RunID, ShowCode: sh.ShowCode, RequireSignIn: sh.RequireSignIn,
		RunsPerHour: sh.RunsPerHour, CreatedAt: fmtTime(sh.CreatedAt), ExpiresAt: fmtTime(sh.ExpiresAt),
		RevokedAt: fmtTime(sh.RevokedAt), Views: sh.Views}
}

// POST /api/v1/runs/{id}/shares (editor)
func (s *Server) apiShareRun(w http.ResponseWriter, r *http.Request) error {
	run, _, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleEditor)
	if err != nil {
		return err
	}
	b, err := decodeShareBody(w, r)
	if err != nil {
		return err
	}
	ttl, err := parseTTL(b.ExpiresIn)
	if err != nil {
		return err
	}
	sh, token, err := s.newShare(r.Context(), r, store.Share{
		WorkspaceID: run.WorkspaceID, FlowID: run.FlowID, RunID: run.ID, Kind: store.ShareRun,
		ShowCode: b.ShowCode, ExpiresAt: time.Now().Add(ttl),
	})
	if err != nil {
		return err
	}
	out := shareJSON(sh)
	out.URL = shareURL(r, token)
	writeJSON(w, http.StatusCreated, out)
	return nil
}
