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
	return f, n, note, nil
}

// formProps builds a run form; given holds what was entered (nil: defaults).
func (s *Server) formProps(r *http.Request, sh store.Share, token string) (views.FormProps, error) {
	fs, err := s.store.FlowByID(r.Context(), sh.FlowID)
	if err != nil {
		return views.FormProps{}, err
	}
	f, n, note, err := s.formFlow(r.Context(), fs)
	if err != nil {
		return views.FormProps{}, err
	}
	props := views.FormProps{
		Page: views.Page{Title: f.Name}, Action: "/s/" + token, FlowName: f.Name, Description: f.Description,
		Version: n, VersionNote: note, Errors: map[string]string{},
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
		ff := views.FormField{Name: in.Name, Type: string(in.Type), Description: in.Description, Required: in.Required, Options: in.Options}
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

// POST /s/{token}: runs a form link's flow with the inputs given (fields
// in.NAME) and leads to the new run's own link. Each problem is shown
// beside its field; an input the flow does not declare is refused.
func (s *Server) formRun(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	token := r.PathValue("token")
	sh, err := s.liveShare(ctx, token)
	if err != nil {
		return err
	}
	if sh.Kind != store.ShareForm {
		return errShareGone
	}
	ws, err := s.store.WorkspaceByID(ctx, sh.WorkspaceID)
	if err != nil {
		return err
	}
	var by store.User
	if p := principalFrom(ctx); p != nil && p.Token == nil {
		if _, err := s.store.Member(ctx, ws.ID, p.User.ID); err == nil {
			by = p.User
		}
	}
	if sh.RequireSignIn && by.ID == "" {
		if principalFrom(ctx) == nil {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape("/s/"+token), http.StatusSeeOther)
			return nil
		}
		return errorf(http.StatusForbidden, "members_only", "", "this form is for members of the workspace; sign in with your workspace account")
	}
	props, err := s.formProps(r, sh, token)
	if err != nil {
		return err
	}
	fs, err := s.store.FlowByID(ctx, sh.FlowID)
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
	declared := map[string]engine.Input{}
	for _, in := range f.Inputs {
		declared[in.Name] = in
	}
	given := map[string]any{}
	for key, vals := range r.PostForm {
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
	if len(props.Errors) > 0 {
		w.Header().Set("Cache-Control", "no-store")
		return s.render(w, r, http.StatusUnprocessableEntity, views.FormPage(props))
	}
	if ok, wait := s.limits.take(r.Context(), sh.ID, sh.RunsPerHour, time.Now()); !ok {
		props.Errors[""] = fmt.Sprintf("This form has had its %d runs for this hour. Try again in %s.", sh.RunsPerHour, waitWords(wait))
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return s.render(w, r, http.StatusTooManyRequests, views.FormPage(props))
	}
	started, err := s.startRun(context.WithoutCancel(ctx), r, StartRequest{
		Workspace: ws, FlowID: fs.ID, FlowSlug: fs.Slug, Flow: f, Version: version, Inputs: given, StartedBy: by,
	}, "via form link "+sh.ID)
	if err != nil {
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
	_, runToken, err := s.newShare(ctx, r, store.Share{
		WorkspaceID: ws.ID, FlowID: fs.ID, RunID: started.ID, Kind: store.ShareRun,
		ExpiresAt: time.Now().Add(defaultShareTTL), CreatedBy: sh.CreatedBy,
	})
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/s/"+runToken, http.StatusSeeOther)
	return nil
}

func waitWords(d time.Duration) string {
	if d < time.Minute {
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes()+0.5))
}
