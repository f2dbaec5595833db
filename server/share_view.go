package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// shareViewStore is what a shared run's page reads and counts.
type shareViewStore interface {
	CountShareView(ctx context.Context, id string) error
	Run(ctx context.Context, id string) (store.Run, error)
}

var _ shareViewStore = (*store.Store)(nil)

// GET /s/{token}: a run link shows its run, read-only and live; a form
// link shows its form. No account is needed; a session is never used to
// decide what is shown.
func (s *Server) shareView(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	token := r.PathValue("token")
	sh, err := s.liveShare(ctx, token)
	if err != nil {
		return err
	}
	if err := s.stores.shareView.CountShareView(ctx, sh.ID); err != nil {
		s.log.ErrorContext(r.Context(), "count share view", "share", sh.ID, "err", err)
	}
	s.auditOpened(ctx, r, "share:"+sh.ID, store.AuditEntry{WorkspaceID: sh.WorkspaceID, ActorName: "link holder", Action: actShareOpened, Target: "share " + sh.ID})
	w.Header().Set("Cache-Control", "no-store")
	if sh.Kind == store.ShareForm {
		props, err := s.formProps(r, sh, token)
		if err != nil {
			return err
		}
		prefill(r.URL.Query(), &props)
		return s.render(w, r, http.StatusOK, views.FormPage(props))
	}
	run, err := s.stores.shareView.Run(ctx, sh.RunID)
	if err != nil {
		return err
	}
	props, err := s.runProps(r, run, "")
	if err != nil {
		return err
	}
	props.Page = views.Page{Title: props.Page.Title}
	props.ShowCode = sh.ShowCode
	if !sh.ShowCode {
		for i := range props.Cells {
			props.Cells[i].Source = ""
		}
	}
	props.Share = &views.SharedView{ExpiresAt: sh.ExpiresAt, ShowCode: sh.ShowCode}
	if fl, err := flowFromFiles(run.Files); err == nil {
		props.Share.Description = fl.Description
		props.Share.Asked = askedInputs(fl, props.Inputs)
		// An input that held a secret shows masked; Run again leaves it
		// out rather than send *** back (see views' share_run.templ).
		var typed map[string]any
		json.Unmarshal(run.Inputs, &typed)
		for i, a := range props.Share.Asked {
			if v, ok := typed[a.Name]; ok && formValue(v) != a.Value {
				props.Share.Asked[i].Masked = true
			}
		}
	}
	props.Share.Again = s.againLink(r, token, run)
	props.Socket = "/s/" + token + "/ws?since=" + strconv.FormatInt(props.Since, 10)
	props.LogBase = "/s/" + token + "/log"
	props.MarkdownURL = "/s/" + token + "/markdown"
	return s.render(w, r, http.StatusOK, views.SharedRunPage(props))
}

// formCookie holds, for the browser that sent a form, the form link a
// run's page came from; its path is the run link's, so no other page sees
// it. Holding the form link is what lets one run the flow: the cookie only
// saves typing it again.
const formCookie = "opsbook_form"

// setFormCookie remembers the form link for the run link made from it.
func (s *Server) setFormCookie(w http.ResponseWriter, r *http.Request, formToken, runToken string, until time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: formCookie, Value: formToken, Path: "/s/" + runToken, Expires: until,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(r),
	})
}

// againLink is the form link a run link's page came from, when this
// browser sent that form and the link still runs the run's flow; else "".
func (s *Server) againLink(r *http.Request, runToken string, run store.Run) string {
	c, err := r.Cookie(formCookie)
	if err != nil || c.Value == "" || c.Value == runToken {
		return ""
	}
	sh, err := s.liveShare(r.Context(), c.Value)
	if err != nil || sh.Kind != store.ShareForm || sh.FlowID != run.FlowID {
		return ""
	}
	fs, err := s.stores.form.FlowByID(r.Context(), sh.FlowID)
	if err != nil || !fs.ArchivedAt.IsZero() {
		return ""
	}
	return "/s/" + c.Value
}

// askedInputs is what a run was given, in its flow's order and by label,
// as a form would have it typed; given is already masked.
func askedInputs(fl *engine.Flow, given map[string]any) []views.AskedInput {
	var out []views.AskedInput
	for _, in := range fl.Inputs {
		v, ok := given[in.Name]
		if !ok {
			continue
		}
		out = append(out, views.AskedInput{Name: in.Name, Label: in.DisplayLabel(), Type: string(in.Type), Value: formValue(v)})
	}
	return out
}

// formValue writes a run's input value as a form field holds it.
func formValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// GET /s/{token}/ws?since=N: the run's events, like the run page's socket,
// every workspace secret masked; it ends at once when the link is revoked
// or expires.
func (s *Server) shareSocket(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sh, err := s.liveShare(ctx, r.PathValue("token"))
	if err != nil {
		return err
	}
	if sh.Kind != store.ShareRun {
		return errShareGone
	}
	since, err := sinceParam(r)
	if err != nil {
		return err
	}
	kill := s.hub.Subscribe(shareTopic(sh.ID), 1)
	// Revoked between the lookup and the subscription: gone all the same.
	if _, err := s.liveShare(ctx, r.PathValue("token")); err != nil {
		s.hub.Unsubscribe(shareTopic(sh.ID), kill)
		return err
	}
	stop := make(chan struct{})
	quit := make(chan struct{})
	// why is written before stop is closed and read after: the close orders them.
	var why string
	// The stream outlives this handler (streamRun serves it from a
	// goroutine of its own): clean up when it ends.
	done := func() {
		close(quit)
		s.hub.Unsubscribe(shareTopic(sh.ID), kill)
	}
	go func() {
		t := s.clock.NewTimer(sh.ExpiresAt.Sub(s.clock.Now()))
		defer t.Stop()
		select {
		case <-kill.Done():
			why = "This link was revoked: ask the person who sent it for a new one."
			close(stop)
		case <-t.C():
			why = "This link has expired: ask the person who sent it for a new one."
			close(stop)
		case <-quit:
		}
	}()
	var mask func([]byte) []byte
	if m := s.maskerFor(ctx, sh.WorkspaceID); m.Active() {
		mask = func(b []byte) []byte { return maskBytes(m, b) }
	}
	s.streamRun(w, r, sh.RunID, since, streamOpts{mask: mask, stop: stop, reason: func() string { return why }, done: done})
	return nil
}

// GET /s/{token}/log?cell=NAME: a cell's whole log, masked.
func (s *Server) shareLog(w http.ResponseWriter, r *http.Request) error {
	sh, err := s.liveShare(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	if sh.Kind != store.ShareRun {
		return errShareGone
	}
	cell := r.URL.Query().Get("cell")
	if cell == "" {
		return errorf(http.StatusBadRequest, "cell", "cell", "name the cell with ?cell=NAME")
	}
	run, err := s.stores.shareView.Run(r.Context(), sh.RunID)
	if err != nil {
		return err
	}
	name := run.ID + "-" + engine.Slugify(cell) + ".log"
	if from := reusedFrom(run, cell); from != "" {
		// A re-run's reused cell (shown on the share page): its log is
		// the earlier run's, in the same workspace, masked the same.
		if src, err := s.stores.shareView.Run(r.Context(), from); err == nil && src.WorkspaceID == run.WorkspaceID {
			run = src
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	return s.writeLog(w, r, run, cell)
}
