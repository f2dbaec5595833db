package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

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
	if err := s.store.CountShareView(ctx, sh.ID); err != nil {
		s.log.Error("count share view", "share", sh.ID, "err", err)
	}
	s.auditEntry(ctx, r, store.AuditEntry{WorkspaceID: sh.WorkspaceID, ActorName: "link holder", Action: actShareOpened, Target: "share " + sh.ID})
	w.Header().Set("Cache-Control", "no-store")
	if sh.Kind == store.ShareForm {
		props, err := s.formProps(r, sh, token)
		if err != nil {
			return err
		}
		return s.render(w, r, http.StatusOK, views.FormPage(props))
	}
	run, err := s.store.Run(ctx, sh.RunID)
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
	props.Socket = "/s/" + token + "/ws?since=" + strconv.FormatInt(props.Since, 10)
	props.LogBase = "/s/" + token + "/log"
	return s.render(w, r, http.StatusOK, views.RunPage(props))
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
	// The stream outlives this handler (streamRun serves it from a
	// goroutine of its own): clean up when it ends.
	done := func() {
		close(quit)
		s.hub.Unsubscribe(shareTopic(sh.ID), kill)
	}
	go func() {
		t := time.NewTimer(time.Until(sh.ExpiresAt))
		defer t.Stop()
		select {
		case <-kill.Done():
			close(stop)
		case <-t.C:
			close(stop)
		case <-quit:
		}
	}()
	var mask func([]byte) []byte
	if m := s.maskerFor(ctx, sh.WorkspaceID); m.Active() {
		mask = func(b []byte) []byte { return maskBytes(m, b) }
	}
	s.streamRun(w, r, sh.RunID, since, streamOpts{mask: mask, stop: stop, reason: "this link was revoked or has expired", done: done})
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
	run, err := s.store.Run(r.Context(), sh.RunID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+run.ID+"-"+slugify(cell)+`.log"`)
	return s.writeLog(w, r, run, cell)
}
