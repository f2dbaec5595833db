package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// formStore is what a run form reads besides its link: the flow, the
// workspace, and whether the person sending it is a member.
type formStore interface {
	FlowByID(ctx context.Context, id string) (store.FlowSummary, error)
	WorkspaceByID(ctx context.Context, id string) (store.Workspace, error)
	Member(ctx context.Context, wsID, userID string) (engine.Role, error)
}

var _ formStore = (*store.Store)(nil)

// formFlow is what a form link runs: the published version, else the
// latest, with a note that says which in plain words.
func (s *Server) formFlow(ctx context.Context, fs store.FlowSummary) (*engine.Flow, int, string, error) {
	f, n, err := s.flowForRun(ctx, fs, nil)
	if err != nil {
		return nil, 0, "", err
	}
	note := fmt.Sprintf("Runs version %d, the published version.", n)
	if fs.PublishedVersion == 0 {
		note = fmt.Sprintf("Runs version %d, the latest: no version of this flow is published yet.", n)
	}
	if n == 0 {
		note = "Runs the draft: no version of this flow is saved yet."
	}
	return f, n, note, nil
}

// formProps builds a run form; given holds what was entered (nil: defaults).
func (s *Server) formProps(r *http.Request, sh store.Share, token string) (views.FormProps, error) {
	fs, err := s.stores.form.FlowByID(r.Context(), sh.FlowID)
	if err != nil {
		return views.FormProps{}, err
	}
	f, n, note, err := s.formFlow(r.Context(), fs)
	if err != nil {
		return views.FormProps{}, err
	}
	props := views.FormProps{
		Page: views.Page{Title: f.Name}, Action: "/s/" + token, FlowName: f.Name, Description: f.Description,
		Version: n, VersionNote: note, Errors: map[string]string{}, Archived: !fs.ArchivedAt.IsZero(),
	}
	if props.FlowName == "" {
		props.FlowName = fs.Name
	}
	if sh.RequireSignIn {
		if p := principalFrom(r.Context()); p == nil {
			props.SignInURL = "/signin?next=" + url.QueryEscape("/s/"+token)
		}
	}
	for _, in := range f.Inputs {
		ff := views.FormField{
			Name: in.Name, Label: in.DisplayLabel(), Type: string(in.Type), Description: in.Description,
			Placeholder: in.Placeholder, Required: in.Required, Options: in.Options,
		}
		if ff.Type == "" {
			ff.Type = string(engine.InputString)
		}
		if in.Default != nil {
			ff.Value = fmt.Sprint(in.Default)
			if b, ok := in.Default.(bool); ok {
				ff.Checked = b
			}
		}
		props.Fields = append(props.Fields, ff)
	}
	return props, nil
}

// prefill fills a form's fields from the query (in.NAME=value, as Run
// again sends them): only declared inputs, each value at most maxPrefill
// bytes; the values are checked when the form is sent.
func prefill(q url.Values, props *views.FormProps) {
	for i := range props.Fields {
		fld := &props.Fields[i]
		vals, ok := q["in."+fld.Name]
		if !ok || len(vals) == 0 || len(vals[0]) > maxPrefill {
			continue
		}
		fld.Value = vals[0]
		fld.Checked = vals[0] == "true" || vals[0] == "on"
	}
}

// maxPrefill bounds a value prefilled from a link.
const maxPrefill = 4 << 10

// POST /s/{token}: runs a form link's flow with the inputs given (fields
// in.NAME) and leads to the new run's own link. Each problem is shown
// beside its field; an input the flow does not declare is refused.
func (s *Server) formRun(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	token := r.PathValue("token")
	sh, ws, err := s.formShare(ctx, token)
	if err != nil {
		return err
	}
	by := s.formMember(ctx, ws)
	if sh.RequireSignIn && by.ID == "" {
		return formMembersOnly(w, r, token)
	}
	props, err := s.formProps(r, sh, token)
	if err != nil {
		return err
	}
	if props.Archived {
		// EnqueueRun refuses it too (store.ErrArchived); this says it in
		// words for the visitor, not for an owner.
		w.Header().Set("Cache-Control", "no-store")
		return s.render(w, r, http.StatusConflict, views.FormPage(props))
	}
	fs, err := s.stores.form.FlowByID(ctx, sh.FlowID)
	if err != nil {
		return err
	}
	f, version, _, err := s.formFlow(ctx, fs)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	given := formInputs(r.PostForm, f, &props)
	if len(props.Errors) > 0 {
		w.Header().Set("Cache-Control", "no-store")
		return s.render(w, r, http.StatusUnprocessableEntity, views.FormPage(props))
	}
	if ok, wait := s.limits.take(r.Context(), sh.ID, sh.RunsPerHour, s.clock.Now()); !ok {
		props.Errors[""] = fmt.Sprintf("This form has had its %d runs for this hour. Try again in %s.", sh.RunsPerHour, waitWords(wait))
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return s.render(w, r, http.StatusTooManyRequests, views.FormPage(props))
	}
	started, err := s.startRun(context.WithoutCancel(ctx), r, StartRequest{
		Workspace: ws, FlowID: fs.ID, FlowSlug: fs.Slug, Flow: f, Version: version, Inputs: given, StartedBy: by, Via: store.ViaForm,
	}, "via form link "+sh.ID)
	if err != nil {
		return s.formStartFailed(w, r, err, props)
	}
	until := time.Now().Add(defaultShareTTL)
	_, runToken, err := s.newShare(ctx, r, store.Share{
		WorkspaceID: ws.ID, FlowID: fs.ID, RunID: started.ID, Kind: store.ShareRun,
		ExpiresAt: until, CreatedBy: sh.CreatedBy,
	})
	if err != nil {
		return err
	}
	s.setFormCookie(w, r, token, runToken, until)
	http.Redirect(w, r, "/s/"+runToken, http.StatusSeeOther)
	return nil
}

// formShare reads a live form link and its workspace.
func (s *Server) formShare(ctx context.Context, token string) (store.Share, store.Workspace, error) {
	sh, err := s.liveShare(ctx, token)
	if err != nil {
		return store.Share{}, store.Workspace{}, err
	}
	if sh.Kind != store.ShareForm {
		return store.Share{}, store.Workspace{}, errShareGone
	}
	ws, err := s.stores.form.WorkspaceByID(ctx, sh.WorkspaceID)
	if err != nil {
		return store.Share{}, store.Workspace{}, err
	}
	return sh, ws, nil
}

// formMember is who runs the form when it is a member of the workspace
// signed in with a browser (not a token); else the zero user: the run is
// started by the link.
func (s *Server) formMember(ctx context.Context, ws store.Workspace) store.User {
	if p := principalFrom(ctx); p != nil && p.Token == nil {
		if _, err := s.stores.form.Member(ctx, ws.ID, p.User.ID); err == nil {
			return p.User
		}
	}
	return store.User{}
}

// formMembersOnly answers a members-only form sent by someone else: sign
// in first, or, signed in and not a member, a refusal.
func formMembersOnly(w http.ResponseWriter, r *http.Request, token string) error {
	if principalFrom(r.Context()) == nil {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape("/s/"+token), http.StatusSeeOther)
		return nil
	}
	return errorf(http.StatusForbidden, "members_only", "", "this form is for members of the workspace; sign in with your workspace account")
}

// formInputs reads the inputs given (fields in.NAME) into what the run
// gets, shows them again in props' fields, and puts each problem in
// props.Errors beside its field ("" for the form as a whole).
func formInputs(form url.Values, f *engine.Flow, props *views.FormProps) map[string]any {
	declared := map[string]engine.Input{}
	for _, in := range f.Inputs {
		declared[in.Name] = in
	}
	given := map[string]any{}
	for key, vals := range form {
		name, ok := strings.CutPrefix(key, "in.")
		if !ok || len(vals) == 0 {
			continue
		}
		if _, ok := declared[name]; !ok {
			props.Errors[""] = fmt.Sprintf("this form has no input %q; reload the page to get the current form", truncate(name, 60))
			continue
		}
		given[name] = vals[0]
	}
	for name, in := range declared {
		if in.Type == engine.InputBoolean {
			if _, ok := given[name]; !ok {
				given[name] = "false" // an unticked box is not sent
			}
		}
	}
	for i := range props.Fields {
		fld := &props.Fields[i]
		if v, ok := given[fld.Name].(string); ok {
			fld.Value = v
			fld.Checked = v == "true" || v == "on"
		}
	}
	if len(props.Errors) == 0 {
		if _, errs := run.Inputs(f, given); len(errs) > 0 {
			for _, e := range errs {
				name := strings.TrimPrefix(e.Pos.File, "input ")
				if _, ok := declared[name]; ok {
					props.Errors[name] = e.Msg
				} else {
					props.Errors[""] = e.Msg
				}
			}
		}
	}
	return given
}

// formStartFailed shows why the run could not start beside the field it
// is about; a server error stays an error.
func (s *Server) formStartFailed(w http.ResponseWriter, r *http.Request, err error, props views.FormProps) error {
	e := s.classify(r, err)
	if e.Status >= 500 {
		return err
	}
	if name, ok := strings.CutPrefix(e.Field, "inputs."); ok {
		props.Errors[name] = e.Message
	} else {
		props.Errors[""] = e.Message
	}
	return s.render(w, r, http.StatusUnprocessableEntity, views.FormPage(props))
}

func waitWords(d time.Duration) string {
	if d < time.Minute {
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes()+0.5))
}
