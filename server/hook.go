package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
)

// hookStore is what the routes that make, list and revoke webhooks read and write.
type hookStore interface {
	Hook(ctx context.Context, id string) (store.Hook, error)
	HookByHash(ctx context.Context, hash string) (store.Hook, error)
	HooksOfFlow(ctx context.Context, flowID string) ([]store.Hook, error)
	CreateHook(ctx context.Context, h store.Hook) (store.Hook, error)
	RevokeHook(ctx context.Context, id string) error
	FlowByID(ctx context.Context, id string) (store.FlowSummary, error)
	FlowBySlug(ctx context.Context, wsID, slug string) (store.FlowSummary, error)
	WorkspaceByID(ctx context.Context, id string) (store.Workspace, error)
	UserByID(ctx context.Context, id string) (store.User, error)
}

var _ hookStore = (*store.Store)(nil)

// hookTokenPrefix marks webhook tokens (256 random bits follow), so that
// secret scanners and people can tell them from API tokens (obk_).
const hookTokenPrefix = "obh_"

// errHookGone is the one answer for a webhook token that never existed or
// was revoked: the same 404 with the same body, so none can be told apart.
var errHookGone = errorf(http.StatusNotFound, "not_found", "", "no such webhook: the token is wrong or was revoked; ask an editor of the flow for a new one")

// liveHook finds the live webhook of a token from the path.
func (s *Server) liveHook(ctx context.Context, token string) (store.Hook, error) {
	if token == "" || len(token) > 100 {
		return store.Hook{}, errHookGone
	}
	h, err := s.stores.hooks.HookByHash(ctx, account.TokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.Hook{}, errHookGone
	}
	return h, err
}

// hookURL is the absolute URL a webhook is called at.
func hookURL(r *http.Request, token string) string { return publicOrigin(r) + "/hooks/" + token }

// webhookFlow is the flow content a webhook of fs runs, as the API's run
// start picks it (the published version, else the latest), with its
// webhook trigger. A version without one refuses webhooks (409).
func (s *Server) webhookFlow(ctx context.Context, fs store.FlowSummary) (*engine.Flow, int, engine.Trigger, error) {
	f, version, err := s.flowForRun(ctx, fs, nil)
	if err != nil {
		return nil, 0, engine.Trigger{}, err
	}
	t, ok := f.WebhookTrigger()
	if !ok {
		return nil, 0, engine.Trigger{}, errNoWebhookTrigger(version, fs.PublishedVersion == version)
	}
	return f, version, t, nil
}

func errNoWebhookTrigger(version int, published bool) error {
	which := fmt.Sprintf("version %d, the latest (none is published),", version)
	if version == 0 {
		which = "the draft (no version is saved yet),"
	}
	if published {
		which = fmt.Sprintf("version %d, the published one,", version)
	}
	return errorf(http.StatusConflict, "no_webhook_trigger", "",
		"webhooks run "+which+" which has no webhook trigger; add one to the flow (triggers: [{webhook: true}] in flow.yaml), then save and publish a version")
}

// checkHookName says what is wrong with a webhook's name, or "".
func checkHookName(name string) string {
	switch {
	case len(name) > store.MaxHookName:
		return fmt.Sprintf("a webhook's name is at most %d bytes", store.MaxHookName)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return "a webhook's name is one line of text"
	}
	return ""
}

// newHook makes a webhook token for a flow whose version has a webhook
// trigger, and records it. The token is returned once: only its hash is
// kept.
func (s *Server) newHook(ctx context.Context, r *http.Request, fs store.FlowSummary, name string) (store.Hook, string, error) {
	name = strings.TrimSpace(name)
	if msg := checkHookName(name); msg != "" {
		return store.Hook{}, "", errorf(http.StatusUnprocessableEntity, "invalid", "name", msg)
	}
	if _, _, _, err := s.webhookFlow(ctx, fs); err != nil {
		return store.Hook{}, "", err
	}
	token, hash := account.NewToken(hookTokenPrefix)
	h := store.Hook{WorkspaceID: fs.WorkspaceID, FlowID: fs.ID, Name: name, Hash: hash}
	if p := principalFrom(ctx); p != nil {
		h.CreatedBy = p.User.ID
	}
	h, err := s.stores.hooks.CreateHook(ctx, h)
	if err != nil {
		return store.Hook{}, "", err
	}
	s.auditIn(ctx, r, fs.WorkspaceID, actHookCreated, "hook "+h.ID, hookDetail(fs, h))
	return h, token, nil
}

func hookDetail(fs store.FlowSummary, h store.Hook) string {
	d := "flow " + fs.Slug
	if h.Name != "" {
		d += ", " + fmt.Sprintf("%q", h.Name)
	}
	return d
}

// revokeHook revokes a webhook token at once; revoking one already revoked
// does nothing more.
func (s *Server) revokeHook(ctx context.Context, r *http.Request, h store.Hook) error {
	if !h.RevokedAt.IsZero() {
		return nil
	}
	if err := s.stores.hooks.RevokeHook(ctx, h.ID); err != nil {
		return err
	}
	detail := ""
	if fs, err := s.stores.hooks.FlowByID(ctx, h.FlowID); err == nil {
		detail = hookDetail(fs, h)
	}
	s.auditIn(ctx, r, h.WorkspaceID, actHookRevoked, "hook "+h.ID, detail)
	return nil
}

// hookAccess loads a webhook of the principal's workspaces and checks role.
func (s *Server) hookAccess(ctx context.Context, id string, min engine.Role) (store.Hook, access, error) {
	if principalFrom(ctx) == nil {
		return store.Hook{}, access{}, errUnauthorized
	}
	h, err := s.stores.hooks.Hook(ctx, id)
	if err != nil {
		return store.Hook{}, access{}, err
	}
	ws, err := s.stores.hooks.WorkspaceByID(ctx, h.WorkspaceID)
	if err != nil {
		return store.Hook{}, access{}, err
	}
	a, err := s.accessTo(ctx, ws, min)
	return h, a, err
}

// hookAllowed spends one run of a webhook token's budget of perSecond runs
// a second (a burst of as many), shared by every replica.
func (s *Server) hookAllowed(ctx context.Context, id string, perSecond int) (bool, time.Duration) {
	return s.limits.takeRate(ctx, "hook:"+id, perSecond, time.Second, s.clock.Now())
}
