package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// shareLister is what the share pages and API read: the flow and its
// links.
type shareLister interface {
	FlowBySlug(ctx context.Context, wsID, slug string) (store.FlowSummary, error)
	SharesOfFlow(ctx context.Context, flowID string) ([]store.Share, error)
}

var _ shareLister = (*store.Store)(nil)

// maxRunsPerHour bounds a form link's rate limit.
const maxRunsPerHour = 10000

func (s *Server) sharesProps(r *http.Request, a access, fs store.FlowSummary) (views.SharesProps, error) {
	shares, err := s.stores.shares.SharesOfFlow(r.Context(), fs.ID)
	if err != nil {
		return views.SharesProps{}, err
	}
	props := views.SharesProps{Page: s.pageOf(r, fs.Name+" · share links and webhooks", a.Workspace.Slug, "flows"), Slug: fs.Slug, FlowName: fs.Name,
		CanEdit: a.Role.AtLeast(engine.RoleEditor), Errors: map[string]string{}}
	names := userNames{s: s}
	now := time.Now()
	for _, sh := range shares {
		by := ""
		if sh.CreatedBy != "" {
			by = names.get(r.Context(), sh.CreatedBy)
		}
		props.Shares = append(props.Shares, views.ShareItem{
			ID: sh.ID, Kind: sh.Kind, RunID: sh.RunID, ShowCode: sh.ShowCode, RequireSignIn: sh.RequireSignIn,
			RunsPerHour: sh.RunsPerHour, CreatedBy: by, CreatedAt: sh.CreatedAt, ExpiresAt: sh.ExpiresAt,
			Revoked: !sh.RevokedAt.IsZero(), Expired: !now.Before(sh.ExpiresAt), Views: sh.Views, LastViewedAt: sh.LastViewedAt,
		})
	}
	if props.Webhooks, err = s.webhooksPanel(r, a, fs); err != nil {
		return views.SharesProps{}, err
	}
	return props, nil
}

// GET /w/{ws}/flows/{slug}/shares: the flow's links with their views.
func (s *Server) sharesPage(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleViewer)
	if err != nil {
		return err
	}
	fs, err := s.stores.shares.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	props, err := s.sharesProps(r, a, fs)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusOK, views.SharesPage(props))
}

// POST /w/{ws}/flows/{slug}/shares (editor): a run form link. Fields:
// expires_in, runs_per_hour, require_signin.
func (s *Server) formLinkCreate(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleEditor)
	if err != nil {
		return err
	}
	fs, err := s.stores.shares.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	props, err := s.sharesProps(r, a, fs)
	if err != nil {
		return err
	}
	ttl, err := parseTTL(r.PostFormValue("expires_in"))
	if err != nil {
		props.Errors["expires_in"] = s.classify(r, err).Message
	}
	rate, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("runs_per_hour")))
	if err != nil || rate < 0 || rate > maxRunsPerHour {
		props.Errors["runs_per_hour"] = "runs per hour is a whole number from 0 (no limit) to 10000"
	}
	if len(props.Errors) > 0 {
		return s.render(w, r, http.StatusUnprocessableEntity, views.SharesPage(props))
	}
	sh, token, err := s.newShare(r.Context(), r, store.Share{
		WorkspaceID: a.Workspace.ID, FlowID: fs.ID, Kind: store.ShareForm, ExpiresAt: time.Now().Add(ttl),
		RequireSignIn: r.PostFormValue("require_signin") == "on", RunsPerHour: rate,
	})
	if err != nil {
		return err
	}
	fresh, err := s.sharesProps(r, a, fs)
	if err != nil {
		return err
	}
	fresh.NewShare = &views.NewShare{URL: shareURL(r, token), ExpiresAt: sh.ExpiresAt, Kind: store.ShareForm}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusCreated, views.SharesPage(fresh))
}

// GET /api/v1/flows/{slug}/shares
func (s *Server) apiListShares(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleViewer)
	if err != nil {
		return err
	}
	fs, err := s.stores.shares.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	shares, err := s.stores.shares.SharesOfFlow(r.Context(), fs.ID)
	if err != nil {
		return err
	}
	out := []apiShare{}
	for _, sh := range shares {
		out = append(out, shareJSON(sh))
	}
	writeJSON(w, http.StatusOK, map[string]any{"shares": out})
	return nil
}

// POST /api/v1/flows/{slug}/forms (editor): a run form link.
func (s *Server) apiCreateFormLink(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleEditor)
	if err != nil {
		return err
	}
	fs, err := s.stores.shares.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
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
	rate := 10
	if b.RunsPerHour != nil {
		rate = *b.RunsPerHour
	}
	if rate < 0 || rate > maxRunsPerHour {
		return errorf(http.StatusUnprocessableEntity, "invalid", "runs_per_hour", "runs_per_hour is from 0 (no limit) to 10000")
	}
	sh, token, err := s.newShare(r.Context(), r, store.Share{
		WorkspaceID: a.Workspace.ID, FlowID: fs.ID, Kind: store.ShareForm, ExpiresAt: time.Now().Add(ttl),
		RequireSignIn: b.RequireSignIn, RunsPerHour: rate,
	})
	if err != nil {
		return err
	}
	out := shareJSON(sh)
	out.URL = shareURL(r, token)
	writeJSON(w, http.StatusCreated, out)
	return nil
}
