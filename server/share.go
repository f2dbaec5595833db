package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

const (
	// defaultShareTTL is a link's life unless chosen otherwise.
	defaultShareTTL = 7 * 24 * time.Hour
	maxShareTTL     = 90 * 24 * time.Hour
	// shareTokenPrefix marks share tokens (256 random bits follow).
	shareTokenPrefix = ""
)

// shareStore is what the routes that make, open and revoke share links read and write.
type shareStore interface {
	Share(ctx context.Context, id string) (store.Share, error)
	ShareByHash(ctx context.Context, hash string) (store.Share, error)
	CreateShare(ctx context.Context, sh store.Share) (store.Share, error)
	RevokeShare(ctx context.Context, id string) error
	WorkspaceByID(ctx context.Context, id string) (store.Workspace, error)
	FlowByID(ctx context.Context, id string) (store.FlowSummary, error)
}

var _ shareStore = (*store.Store)(nil)

// shareTopic is the hub topic of a link's open sockets: closing it ends
// them at once when the link is revoked.
func shareTopic(id string) string { return "share:" + id }

// errShareGone is the one answer for a link that never existed, expired or
// was revoked: the same 404 with the same body, so none can be told apart.
var errShareGone = errors.New("share link gone")

const shareGoneMessage = "This link does not exist, has expired or was revoked. Ask the person who sent it for a new one."

// shareGone answers errShareGone.
func (s *Server) shareGone(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if isSocket(r) || isData(r) || r.Method != http.MethodGet {
		http.Error(w, shareGoneMessage, http.StatusNotFound)
		return
	}
	s.render(w, r, http.StatusNotFound, views.ErrorPage(views.ErrorProps{Page: views.Page{Title: "Not found"}, Status: http.StatusNotFound, Message: shareGoneMessage}))
}

// sharePage adapts a share handler: errShareGone becomes shareGone, other
// errors go the way of any page.
func (s *Server) sharePage(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Referrer-Policy", "no-referrer") // the token is in the URL
		err := h(w, r)
		switch {
		case err == nil:
		case errors.Is(err, errShareGone):
			s.shareGone(w, r)
		default:
			s.page(func(http.ResponseWriter, *http.Request) error { return err }).ServeHTTP(w, r)
		}
	})
}

// liveShare finds the live link of a token from the path.
func (s *Server) liveShare(ctx context.Context, token string) (store.Share, error) {
	if token == "" || len(token) > 100 {
		return store.Share{}, errShareGone
	}
	sh, err := s.stores.shareLinks.ShareByHash(ctx, account.TokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.Share{}, errShareGone
	}
	return sh, err
}

// shareURL is the absolute URL of a link.
func shareURL(r *http.Request, token string) string { return publicOrigin(r) + "/s/" + token }

// publicOrigin is the scheme and host of the studio's absolute URLs: those
// of its base URL when one is set (--base-url), else the scheme and host
// the request came to.
func publicOrigin(r *http.Request) string {
	if c, ok := r.Context().Value(baseURLKey{}).(*url.URL); ok && c != nil {
		return c.Scheme + "://" + c.Host
	}
	scheme := "http"
	if requestClient(r).HTTPS {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// parseTTL reads a link's lifetime: a Go duration ("168h") or a number of
// days ("7d"); empty means the default.
func parseTTL(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return defaultShareTTL, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(v, "d"); ok {
		d, err = time.ParseDuration(days + "h")
		d *= 24
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < time.Minute || d > maxShareTTL {
		return 0, errorf(http.StatusUnprocessableEntity, "invalid", "expires_in", "expires_in is a duration from 1m to 2160h (90 days), e.g. \"168h\" or \"7d\"")
	}
	return d, nil
}

// newShare makes a link and records it.
func (s *Server) newShare(ctx context.Context, r *http.Request, sh store.Share) (store.Share, string, error) {
	token, hash := account.NewToken(shareTokenPrefix)
	sh.Hash = hash
	if p := principalFrom(r.Context()); p != nil && sh.CreatedBy == "" {
		sh.CreatedBy = p.User.ID
	}
	created, err := s.stores.shareLinks.CreateShare(ctx, sh)
	if err != nil {
		return store.Share{}, "", err
	}
	detail := "expires " + created.ExpiresAt.Format(time.RFC3339)
	if sh.Kind == store.ShareRun {
		detail = "run " + sh.RunID + ", " + detail
		if sh.ShowCode {
			detail += ", with code"
		}
	} else {
		detail = "run form, " + detail
	}
	s.auditIn(ctx, r, sh.WorkspaceID, actShareCreated, "share "+created.ID, detail)
	return created, token, nil
}

// revokeShare revokes a link and ends its open sockets at once.
func (s *Server) revokeShare(ctx context.Context, r *http.Request, sh store.Share) error {
	if err := s.stores.shareLinks.RevokeShare(ctx, sh.ID); err != nil {
		return err
	}
	s.hub.CloseTopic(shareTopic(sh.ID))
	s.auditIn(ctx, r, sh.WorkspaceID, actShareRevoked, "share "+sh.ID, "")
	return nil
}

// shareAccess loads a link of the principal's workspaces and checks role.
func (s *Server) shareAccess(ctx context.Context, id string, min engine.Role) (store.Share, access, error) {
	if principalFrom(ctx) == nil {
		return store.Share{}, access{}, errUnauthorized
	}
	sh, err := s.stores.shareLinks.Share(ctx, id)
	if err != nil {
		return store.Share{}, access{}, err
	}
	ws, err := s.stores.shareLinks.WorkspaceByID(ctx, sh.WorkspaceID)
	if err != nil {
		return store.Share{}, access{}, err
	}
	a, err := s.accessTo(ctx, ws, min)
	return sh, a, err
}
