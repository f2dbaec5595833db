package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// handlerStores are the handlers' views of the store: each the small
// interface declared beside the handlers that use it (home.go,
// flow_list.go, form_run.go, share_list.go …), all filled with the one
// *store.Store by New. A test may put a fake in one field. Server.store
// is left to what is not a handler: start-up and Stop, the scheduler, the
// git sync service, the run plane, and collaboration's listener
// (collab.go).
type handlerStores struct {
	common         pageCommon
	home           homeStore
	users          userCounter
	setup          setupStore
	signin         userFinder
	credentials    credentialFinder
	sessions       sessionKeeper
	access         memberChecker
	flows          flowLister
	flowCreate     flowCreator
	notebook       notebookStore
	notebookSocket notebookSocketStore
	runs           runLister
	run            runPageStore
	runAccess      runFinder
	runFlow        versionReader
	rerun          rerunStore
	form           formStore
	shares         shareLister
	shareView      shareViewStore
	secrets        secretStore
	members        memberRemover
	activity       auditReader
	password       passwordSetter
	apiWorkspace   workspaceFinder
	apiFlows       apiFlowStore
	apiRuns        apiRunStore
	versions       versionStore
	settings       settingsStore
	memberRole     memberRoleSetter
	hooks          hookStore
	hookRun        hookRunStore
	shareLinks     shareStore
	approvals      approvalStore
	audit          auditWriter
	sandbox        sandboxSettingsSetter
	ready          readyStore
	triggers       triggerPauser
	problems       draftReader
	recheck        grantChecker
	git            gitStore
	flowRemove     flowRemover
	retention      retentionStore
}

func newHandlerStores(st *store.Store) handlerStores {
	return handlerStores{common: st, home: st, users: st, setup: st, signin: st, credentials: st, sessions: st, access: st,
		flows: st, flowCreate: st, notebook: st, notebookSocket: st, runs: st, run: st, runAccess: st, runFlow: st, rerun: st, form: st,
		shares: st, shareView: st, secrets: st, members: st, activity: st, password: st,
		apiWorkspace: st, apiFlows: st, apiRuns: st, versions: st, settings: st, memberRole: st,
		hooks: st, hookRun: st, shareLinks: st, approvals: st, audit: st, sandbox: st, ready: st,
		triggers: st, problems: st, recheck: st, git: st,
		flowRemove: st, retention: st}
}

// pageCommon is what every page reads: the layout's workspaces, people's
// names, a run's stored events.
type pageCommon interface {
	WorkspacesOf(ctx context.Context, userID string) ([]store.Membership, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	Events(ctx context.Context, runID string, since int64, limit int) ([]store.StoredEvent, error)
}

var _ pageCommon = (*store.Store)(nil)

// What every page handler shares. The handlers themselves are one file per
// action, named for it: home.go, setup_*.go, signin_*.go, flow_*.go, run_*.go …

// page adapts a page handler that returns an error: errors become an error
// page, or a sign-in redirect for anonymous visitors.
func (s *Server) page(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var half renderError
		if errors.As(err, &half) {
			// The page's status and part of it went out: an error page
			// cannot follow (most often the reader went away).
			s.log.Debug("page cut off while it was written", "path", r.URL.Path, "err", err)
			return
		}
		if errors.Is(err, errUnauthorized) && r.Method == http.MethodGet && !isSocket(r) && !isData(r) {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		e := s.classify(r, err)
		if isSocket(r) || isData(r) {
			http.Error(w, e.Message, e.Status)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		s.render(w, r, e.Status, views.ErrorPage(views.ErrorProps{Page: s.pageOf(r, "Error", "", ""), Status: e.Status, Message: e.Message}))
	})
}

// isData reports whether the path answers data (a socket, a log) rather
// than a page.
func isData(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/ws") || strings.HasSuffix(r.URL.Path, "/log")
}

func isSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// render writes c as the answer. An error it returns came after the status
// was sent: a renderError, which page does not answer with an error page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		return renderError{err}
	}
	return nil
}

// renderError is a page that failed after its status was written.
type renderError struct{ err error }

func (e renderError) Error() string { return "render: " + e.err.Error() }
func (e renderError) Unwrap() error { return e.err }

// pageOf fills what every page's layout needs.
func (s *Server) pageOf(r *http.Request, title, ws, nav string) views.Page {
	p := views.Page{Title: title, Workspace: ws, Nav: nav, Now: time.Now()}
	pr := principalFrom(r.Context())
	if pr == nil {
		return p
	}
	p.User = &views.User{Name: pr.User.Name, Display: pr.User.DisplayName}
	if ms, err := s.stores.common.WorkspacesOf(r.Context(), pr.User.ID); err == nil {
		for _, m := range ms {
			p.Workspaces = append(p.Workspaces, views.Workspace{Slug: m.Workspace.Slug, Name: m.Workspace.Name})
			if m.Workspace.Slug == ws {
				p.User.Role = m.Role
			}
			if m.Role == engine.RoleOwner && !s.sandbox {
				p.NoSandbox = true
			}
		}
	}
	return p
}

func runItem(r store.Run, flowSlug, flowName, by string) views.RunItem {
	it := views.RunItem{ID: r.ID, Flow: flowSlug, FlowName: flowName, Version: r.Version, Status: string(r.Status), StartedBy: by, StartedAt: r.CreatedAt, DurationMS: r.DurationMS}
	var rq store.RunRequest
	if json.Unmarshal(r.Request, &rq) == nil && rq.Via == store.ViaForm {
		it.FromForm = true
		if r.StartedBy == "" {
			it.StartedBy = "" // not "a trigger": the link's visitor
		}
	}
	return it
}

// userNames caches user display names for a page.
type userNames struct {
	s *Server
	m map[string]string
}

func (u *userNames) get(ctx context.Context, id string) string {
	if id == "" {
		return "a trigger"
	}
	if u.m == nil {
		u.m = map[string]string{}
	}
	if n, ok := u.m[id]; ok {
		return n
	}
	n := "someone"
	if usr, err := u.s.stores.common.UserByID(ctx, id); err == nil {
		n = usr.DisplayName
		if n == "" {
			n = usr.Name
		}
	}
	u.m[id] = n
	return n
}

// allEvents reads every stored event of a run, decoded.
func (s *Server) allEvents(ctx context.Context, runID string) ([]engine.Event, error) {
	var out []engine.Event
	var after int64
	for {
		evs, err := s.stores.common.Events(ctx, runID, after, 2000)
		if err != nil {
			return nil, err
		}
		for _, se := range evs {
			var e engine.Event
			if err := json.Unmarshal(se.Data, &e); err == nil {
				out = append(out, e)
			}
			after = se.Seq
		}
		if len(evs) < 2000 {
			return out, nil
		}
	}
}
