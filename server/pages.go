package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// page adapts a page handler that returns an error: errors become an error
// page, or a sign-in redirect for anonymous visitors.
func (s *Server) page(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
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

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return c.Render(r.Context(), w)
}

// pageOf fills what every page's layout needs.
func (s *Server) pageOf(r *http.Request, title, ws, nav string) views.Page {
	p := views.Page{Title: title, Workspace: ws, Nav: nav, Now: time.Now()}
	pr := principalFrom(r.Context())
	if pr == nil {
		return p
	}
	p.User = &views.User{Name: pr.User.Name, Display: pr.User.DisplayName}
	if ms, err := s.store.WorkspacesOf(r.Context(), pr.User.ID); err == nil {
		for _, m := range ms {
			p.Workspaces = append(p.Workspaces, views.Workspace{Slug: m.Workspace.Slug, Name: m.Workspace.Name})
			if m.Workspace.Slug == ws {
				p.User.Role = m.Role
			}
			if m.Role == store.RoleOwner && !s.sandbox {
				p.NoSandbox = true
			}
		}
	}
	return p
}

// GET /
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	n, err := s.store.CountUsers(r.Context())
	if err != nil {
		return err
	}
	if n == 0 {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return nil
	}
	p := principalFrom(r.Context())
	if p == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return nil
	}
	ms, err := s.store.WorkspacesOf(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return errorf(http.StatusForbidden, "no_workspace", "", "you are not a member of any workspace yet; ask an owner to invite you")
	}
	http.Redirect(w, r, "/w/"+ms[0].Workspace.Slug, http.StatusSeeOther)
	return nil
}

// GET /setup — only while nobody has an account.
func (s *Server) setupForm(w http.ResponseWriter, r *http.Request) error {
	n, err := s.store.CountUsers(r.Context())
	if err != nil {
		return err
	}
	if n > 0 {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, http.StatusOK, views.SetupPage(views.SetupProps{Page: s.pageOf(r, "Welcome", "", ""), Workspace: "My team"}))
}

// POST /setup creates the owner, their workspace, and signs them in.
func (s *Server) setupSave(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	n, err := s.store.CountUsers(r.Context())
	if err != nil {
		return err
	}
	if n > 0 {
		return errorf(http.StatusForbidden, "setup_done", "", "this studio already has an owner; sign in instead")
	}
	props := views.SetupProps{
		Page: s.pageOf(r, "Welcome", "", ""), Name: strings.TrimSpace(r.PostFormValue("name")),
		Display: strings.TrimSpace(r.PostFormValue("display")), Workspace: strings.TrimSpace(r.PostFormValue("workspace")),
		Errors: map[string]string{},
	}
	pw := r.PostFormValue("password")
	if msg := CheckUserName(props.Name); msg != "" {
		props.Errors["name"] = msg
	}
	if msg := CheckPassword(pw); msg != "" {
		props.Errors["password"] = msg
	} else if pw != r.PostFormValue("password_again") {
		props.Errors["password_again"] = "the two passwords differ"
	}
	wsSlug := slugify(props.Workspace)
	if wsSlug == "" {
		props.Errors["workspace"] = "name your team's workspace, e.g. Platform"
	}
	if len(props.Errors) > 0 {
		return s.render(w, r, http.StatusUnprocessableEntity, views.SetupPage(props))
	}
	display := props.Display
	if display == "" {
		display = props.Name
	}
	u, ws, err := AddUser(r.Context(), s.store, props.Name, display, pw, wsSlug, store.RoleOwner)
	if err != nil {
		return err
	}
	if props.Workspace != ws.Slug {
		s.store.RenameWorkspace(r.Context(), ws.ID, props.Workspace)
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	s.auditEntry(r.Context(), r, store.AuditEntry{WorkspaceID: ws.ID, ActorID: u.ID, ActorName: u.Name, Action: actMemberAdded, Target: "user " + u.Name, Detail: "as owner, at first start"})
	http.Redirect(w, r, "/w/"+ws.Slug, http.StatusSeeOther)
	return nil
}

// GET /signin
func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) error {
	if n, err := s.store.CountUsers(r.Context()); err == nil && n == 0 {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, http.StatusOK, views.SignInPage(views.SignInProps{Page: s.pageOf(r, "Sign in", "", ""), Next: safeNext(r.URL.Query().Get("next"))}))
}

// safeNext keeps a post-sign-in redirect on this site: next must be a path
// of the studio — one "/" and then neither a second "/" nor a backslash
// (browsers read "//" and "/\" as the start of another host) — with no
// backslash and no control character anywhere, raw or percent-encoded:
// browsers drop tabs and newlines from a URL ("/<tab>/evil" becomes
// "//evil") and read a backslash as "/". Anything else becomes "/".
func safeNext(next string) string {
	if len(next) > 2048 || !sameOriginPath(next) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	// The decoded forms: the path (where no studio path has an empty
	// segment), and the whole of it (query, fragment).
	whole, err := url.PathUnescape(next)
	if err != nil || !sameOriginPath(u.Path) || strings.Contains(u.Path, "//") || !sameOriginPath(whole) {
		return "/"
	}
	return next
}

// sameOriginPath reports whether p starts with exactly one "/" and holds
// no backslash and nothing unprintable (controls, line separators, bidi
// marks, bad UTF-8).
func sameOriginPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
		return false
	}
	for _, r := range p {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// POST /signin
func (s *Server) signinSave(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	next := safeNext(r.PostFormValue("next"))
	addr := limitKey(requestClient(r).Addr)
	wait, err := s.signins.wait(r.Context(), time.Now(), addr, name)
	if err != nil {
		return err
	}
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		return s.render(w, r, http.StatusTooManyRequests, views.SignInPage(views.SignInProps{Page: s.pageOf(r, "Sign in", "", ""), Name: name, Next: next,
			Error: fmt.Sprintf("too many failed sign-ins; try again in %s, or ask an owner to reset your password", secondsWords(wait))}))
	}
	u, err := s.store.UserByName(r.Context(), name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || !PasswordMatches(u.PasswordHash, r.PostFormValue("password")) {
		if err != nil {
			// Spend the same time as a real check, so names are not revealed.
			PasswordMatches(dummyHash(), r.PostFormValue("password"))
		}
		s.signins.failed(r.Context(), time.Now(), addr, name)
		s.auditEntry(r.Context(), r, store.AuditEntry{ActorID: u.ID, ActorName: truncate(name, 100), Action: actSignInFailed})
		return s.render(w, r, http.StatusUnauthorized, views.SignInPage(views.SignInProps{Page: s.pageOf(r, "Sign in", "", ""), Name: name, Next: next, Error: "that name and password do not match"}))
	}
	s.signins.succeeded(r.Context(), time.Now(), addr, name)
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	s.auditEntry(r.Context(), r, store.AuditEntry{ActorID: u.ID, ActorName: u.Name, Action: actSignIn})
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// dummyHash is made at the first sign-in of an unknown name, not at
// package init: every opsbook command (and each run's sandbox launcher,
// which is this binary) would otherwise pay ~58 ms of bcrypt at start.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("not a real password, only for timing")
	return h
})

// secondsWords says a wait in whole seconds or minutes, rounded up.
func secondsWords(d time.Duration) string {
	switch s := int((d + time.Second - 1) / time.Second); {
	case s <= 1:
		return "a second"
	case s < 90:
		return fmt.Sprintf("%d seconds", s)
	default:
		return fmt.Sprintf("%d minutes", (s+59)/60)
	}
}

// POST /signout
func (s *Server) signout(w http.ResponseWriter, r *http.Request) error {
	s.endSession(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}

func runItem(r store.Run, flowSlug, flowName, by string) views.RunItem {
	return views.RunItem{ID: r.ID, Flow: flowSlug, FlowName: flowName, Version: r.Version, Status: string(r.Status), StartedBy: by, StartedAt: r.CreatedAt, DurationMS: r.DurationMS}
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
	if usr, err := u.s.store.UserByID(ctx, id); err == nil {
		n = usr.DisplayName
		if n == "" {
			n = usr.Name
		}
	}
	u.m[id] = n
	return n
}

// GET /w/{ws}
func (s *Server) flowList(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), store.RoleViewer)
	if err != nil {
		return err
	}
	props, err := s.flowsProps(r, a)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.FlowsPage(props))
}

func (s *Server) flowsProps(r *http.Request, a access) (views.FlowsProps, error) {
	flows, err := s.store.Flows(r.Context(), a.Workspace.ID)
	if err != nil {
		return views.FlowsProps{}, err
	}
	props := views.FlowsProps{Page: s.pageOf(r, a.Workspace.Name, a.Workspace.Slug, "flows"), CanEdit: atLeast(a.Role, store.RoleEditor), Errors: map[string]string{}}
	names := userNames{s: s}
	for _, f := range flows {
		item := views.FlowItem{Slug: f.Slug, Name: f.Name, Cells: f.Cells, PublishedVersion: f.PublishedVersion}
		if f.LastRunID != "" {
			if run, err := s.store.Run(r.Context(), f.LastRunID); err == nil {
				ri := runItem(run, f.Slug, f.Name, names.get(r.Context(), run.StartedBy))
				item.LastRun = &ri
			}
		}
		props.Flows = append(props.Flows, item)
	}
	return props, s.gitFlows(r, a, &props)
}

// POST /w/{ws}/flows creates an empty flow and opens it.
func (s *Server) flowCreate(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), store.RoleEditor)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	name := strings.TrimSpace(r.PostFormValue("name"))
	slug := slugify(name)
	fail := func(msg string) error {
		props, err := s.flowsProps(r, a)
		if err != nil {
			return err
		}
		props.NewName = name
		props.Errors["name"] = msg
		return s.render(w, r, http.StatusUnprocessableEntity, views.FlowsPage(props))
	}
	if name == "" || slug == "" || len(name) > 200 {
		return fail("give the flow a name of letters or digits, up to 200 characters")
	}
	f := &engine.Flow{Name: name, Cells: []engine.Cell{{Name: "notes", Kind: engine.KindMarkdown, File: "notes.md", Source: "# " + name + "\n\nWhat this flow does, for the people who run it.\n"}}}
	files, err := flow.Files(f)
	if err != nil {
		return err
	}
	if _, err := s.store.CreateFlow(r.Context(), a.Workspace.ID, slug, f, principalFrom(r.Context()).User.ID, storeFiles(files), flow.Hash(f)); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return fail("a flow named " + slug + " already exists; choose another name")
		}
		return err
	}
	s.auditIn(r.Context(), r, a.Workspace.ID, actFlowCreated, "flow "+slug, "a new flow")
	http.Redirect(w, r, "/w/"+a.Workspace.Slug+"/flows/"+slug, http.StatusSeeOther)
	return nil
}

// POST /w/{ws}/flows/import (multipart field "archive")
func (s *Server) flowImport(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), store.RoleEditor)
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

// GET /w/{ws}/flows/{slug}
func (s *Server) notebook(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), store.RoleViewer)
	if err != nil {
		return err
	}
	fs, err := s.store.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	d, err := s.store.Draft(r.Context(), fs.ID)
	if err != nil {
		return err
	}
	props := views.NotebookProps{Page: s.pageOf(r, fs.Name, a.Workspace.Slug, "flows"), Slug: fs.Slug, Role: a.Role, Draft: viewDraft(d)}
	props.Git = s.gitChip(r, a, fs)
	if runs, err := s.store.RunsOfFlow(r.Context(), fs.ID, 1); err == nil && len(runs) > 0 {
		names := userNames{s: s}
		ri := runItem(runs[0], fs.Slug, fs.Name, names.get(r.Context(), runs[0].StartedBy))
		props.LastRun = &ri
		evs, err := s.allEvents(r.Context(), runs[0].ID)
		if err != nil {
			return err
		}
		props.Outputs, props.Since = views.OutputsFromEvents(evs, 0)
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusOK, views.NotebookPage(props))
}

func viewDraft(d store.Draft) views.Draft {
	dj := toDraftJSON(d)
	out := views.Draft{Name: dj.Name, Description: dj.Description, Order: dj.Order}
	for _, in := range dj.Inputs {
		out.Inputs = append(out.Inputs, views.Input{Name: in.Name, Type: in.Type, Default: in.Default, Required: in.Required, Options: in.Options, Description: in.Description})
	}
	for _, c := range dj.Cells {
		vc := views.Cell{ID: c.ID, Name: c.Name, Kind: string(c.Kind), Source: c.Source, Version: c.Version, Options: views.CellOptions{
			Timeout: c.Options.Timeout, Retries: c.Options.Retries, RetryDelay: c.Options.RetryDelay, If: c.Options.If,
			Needs: c.Options.Needs, Connection: c.Options.Connection, Env: c.Options.Env, ContinueOnError: c.Options.ContinueOnError,
		}}
		if c.Kind == engine.KindMarkdown {
			vc.HTML = Markdown(c.Source)
		}
		out.Cells = append(out.Cells, vc)
	}
	return out
}

// allEvents reads every stored event of a run, decoded.
func (s *Server) allEvents(ctx context.Context, runID string) ([]engine.Event, error) {
	var out []engine.Event
	var after int64
	for {
		evs, err := s.store.Events(ctx, runID, after, 2000)
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

// GET /w/{ws}/runs
func (s *Server) runList(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), store.RoleViewer)
	if err != nil {
		return err
	}
	runs, err := s.store.RunsOfWorkspace(r.Context(), a.Workspace.ID, 200)
	if err != nil {
		return err
	}
	props := views.RunsProps{Page: s.pageOf(r, "Runs", a.Workspace.Slug, "runs")}
	names := userNames{s: s}
	flows := map[string]store.FlowSummary{}
	for _, run := range runs {
		f, ok := flows[run.FlowID]
		if !ok {
			f, _ = s.store.FlowByID(r.Context(), run.FlowID)
			flows[run.FlowID] = f
		}
		props.Runs = append(props.Runs, runItem(run, f.Slug, f.Name, names.get(r.Context(), run.StartedBy)))
	}
	return s.render(w, r, http.StatusOK, views.RunsPage(props))
}

// GET /runs/{id}
func (s *Server) runPage(w http.ResponseWriter, r *http.Request) error {
	run, a, err := s.runAccess(r.Context(), r.PathValue("id"), store.RoleViewer)
	if err != nil {
		return err
	}
	props, err := s.runProps(r, run, a.Workspace.Slug)
	if err != nil {
		return err
	}
	props.ShowCode = true
	props.CanShare = atLeast(a.Role, store.RoleEditor)
	props.CanCancel = atLeast(a.Role, store.RoleRunner)
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusOK, views.RunPage(props))
}

func (s *Server) runProps(r *http.Request, run store.Run, wsSlug string) (views.RunProps, error) {
	ctx := r.Context()
	// The run was read before its events: when they end with run.finished
	// it ended in between (its status is stored with that event), so read
	// it again, or the page would wait, live, for an end it has passed.
	evs, err := s.allEvents(ctx, run.ID)
	if err != nil {
		return views.RunProps{}, err
	}
	started := false
	for _, e := range evs {
		started = started || e.Type == engine.EventRunStarted
		if e.Type == engine.EventRunFinished && !run.Status.Done() {
			if run, err = s.store.Run(ctx, run.ID); err != nil {
				return views.RunProps{}, err
			}
		}
	}
	f, err := s.store.FlowByID(ctx, run.FlowID)
	if err != nil {
		return views.RunProps{}, err
	}
	names := userNames{s: s}
	props := views.RunProps{
		Page: s.pageOf(r, f.Name+" · run", wsSlug, "runs"), Run: runItem(run, f.Slug, f.Name, names.get(ctx, run.StartedBy)),
		Hash: run.Hash, Error: run.Error, FinishedAt: run.FinishedAt,
	}
	json.Unmarshal(run.Inputs, &props.Inputs)
	if run.Hash != "" {
		if v, err := s.store.VersionByHash(ctx, run.FlowID, run.Hash); err == nil {
			props.Matches = v.Number
		}
	}
	outs, since := views.OutputsFromEvents(evs, 0)
	props.Since = since
	props.Socket = "/runs/" + run.ID + "/ws?since=" + strconv.FormatInt(since, 10)
	// The exact code that ran: the run's own files, not today's draft.
	code := map[string]engine.Cell{}
	var order []string
	if fl, err := flowFromFiles(run.Files); err == nil {
		for _, c := range fl.Cells {
			code[c.Name] = c
			order = append(order, c.Name)
		}
	}
	if len(order) == 0 {
		cells, _ := s.store.CellRuns(ctx, run.ID)
		for _, c := range cells {
			order = append(order, c.Name)
			code[c.Name] = engine.Cell{Name: c.Name, Kind: c.Kind}
		}
	}
	if !started && !run.Status.Done() {
		// Queued: nothing has started yet. Show the cells it will run, so
		// the page has a place for each when its events come.
		var rq store.RunRequest
		json.Unmarshal(run.Request, &rq)
		want := map[string]bool{}
		for _, c := range rq.Cells {
			want[c] = true
		}
		for _, name := range order {
			if len(want) == 0 || want[name] {
				outs[name] = &views.CellOutput{Status: string(engine.CellPending)}
			}
		}
	}
	for _, name := range order {
		o := outs[name]
		if o == nil {
			continue // not part of this run (a partial run from the notebook)
		}
		c := code[name]
		props.Cells = append(props.Cells, views.RunCell{Name: name, Kind: string(c.Kind), Source: c.Source, Output: *o, HTML: proseOf(c, o)})
	}
	maskRunProps(s.maskerFor(ctx, run.WorkspaceID), &props)
	return props, nil
}

// GET /runs/{id}/ws?since=N
func (s *Server) runSocket(w http.ResponseWriter, r *http.Request) error {
	run, a, err := s.runAccess(r.Context(), r.PathValue("id"), store.RoleViewer)
	if err != nil {
		return err
	}
	since, err := sinceParam(r)
	if err != nil {
		return err
	}
	g, err := s.hold(r.Context(), a, store.RoleViewer, false)
	if err != nil {
		return err
	}
	s.streamRunWS(w, r, run.ID, since, false, g)
	return nil
}

// POST /runs/{id}/cancel: the run page's Cancel button (runners and up).
func (s *Server) runCancelPage(w http.ResponseWriter, r *http.Request) error {
	run, _, err := s.runAccess(r.Context(), r.PathValue("id"), store.RoleRunner)
	if err != nil {
		return err
	}
	if ok, _ := s.runs.Cancel(r.Context(), run.ID, ""); !run.Status.Done() && ok {
		s.auditIn(r.Context(), r, run.WorkspaceID, actRunCanceled, "run "+run.ID, "from the run page")
	}
	http.Redirect(w, r, "/runs/"+run.ID, http.StatusSeeOther)
	return nil
}
