package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/notify"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

const (
	actApprovalLink = "approval.link"
	// linkHolder is who decided through a decision link.
	linkHolder = "link holder"
	// decisionsPerHour bounds the decisions sent through one link (a
	// holder who mistypes the form sends again; nobody needs more).
	decisionsPerHour = 30
	// decisionViewsPerHour bounds how often one link's page is opened.
	decisionViewsPerHour = 120
)

// approvalStore is what deciding an approval reads and writes, in the studio or by link.
type approvalStore interface {
	Run(ctx context.Context, id string) (store.Run, error)
	RunApproval(ctx context.Context, runID, cell string) (store.Approval, error)
	ApprovalByLinkHash(ctx context.Context, hash string) (store.Approval, error)
	SetApprovalLink(ctx context.Context, id, hash string, replace bool) (bool, error)
	DecideApproval(ctx context.Context, id string, d store.ApprovalDecision) (store.Approval, error)
	Notify(ctx context.Context, channel, payload string) error
}

var _ approvalStore = (*store.Store)(nil)

// linkApproval finds the approval of a decision link's token, closed ones
// too; errShareGone when no approval has it (never was, or replaced).
func (s *Server) linkApproval(ctx context.Context, token string) (store.Approval, error) {
	if token == "" || len(token) > 100 {
		return store.Approval{}, errShareGone
	}
	ap, err := s.stores.approvals.ApprovalByLinkHash(ctx, notify.DecisionTokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.Approval{}, errShareGone
	}
	return ap, err
}

// approvalClosed answers a decision link whose approval is closed: 410,
// saying who decided and when, or that its time ran out.
func (s *Server) approvalClosed(w http.ResponseWriter, r *http.Request, ap store.Approval) error {
	msg := "This approval is closed."
	if ap.Status == store.ApprovalWaiting && !ap.Deadline.IsZero() {
		// Past its deadline, not yet closed by the sweeper: whatever
		// decisions it has, its time ran out.
		msg = "This approval's time ran out at " + ap.Deadline.UTC().Format(time.RFC3339) + "."
	} else if n := len(ap.Decisions); n > 0 {
		last := ap.Decisions[n-1]
		msg = fmt.Sprintf("This approval was %s by %s at %s.", ap.Status, last.Who, last.At.UTC().Format(time.RFC3339))
	} else if !ap.Deadline.IsZero() {
		msg = "This approval's time ran out at " + ap.Deadline.UTC().Format(time.RFC3339) + "."
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, http.StatusGone, views.ErrorPage(views.ErrorProps{Page: views.Page{Title: "Decided"}, Status: http.StatusGone, Message: msg}))
}

// approvalOpen reports whether an approval still takes decisions at now.
func approvalOpen(ap store.Approval, now time.Time) bool {
	return ap.Status == store.ApprovalWaiting && (ap.Deadline.IsZero() || now.Before(ap.Deadline))
}

// GET /a/{token}: an approval's decision page, for anyone holding its link.
func (s *Server) decisionPage(w http.ResponseWriter, r *http.Request) error {
	ap, err := s.linkApproval(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	if !approvalOpen(ap, s.clock.Now()) {
		return s.approvalClosed(w, r, ap)
	}
	// A decision link is for a few people: opened more often than that,
	// it is being scraped or shared too widely.
	if ok, wait := s.limits.take(r.Context(), "approval-view:"+ap.ID, decisionViewsPerHour, s.clock.Now()); !ok {
		return errorf(http.StatusTooManyRequests, "rate_limited", "", "this decision link was opened too often; try again in "+wait.Round(time.Second).String())
	}
	return s.renderDecision(w, r, ap, http.StatusOK, "")
}

// renderDecision renders the decision page of a waiting approval, with
// msg as the form's error.
func (s *Server) renderDecision(w http.ResponseWriter, r *http.Request, ap store.Approval, status int, msg string) error {
	ctx := r.Context()
	token := r.PathValue("token")
	rn, err := s.stores.approvals.Run(ctx, ap.RunID)
	if err != nil {
		return err
	}
	s.auditOpened(ctx, r, "approval:"+ap.ID, store.AuditEntry{WorkspaceID: rn.WorkspaceID, ActorName: linkHolder, Action: actShareOpened, Target: "run " + rn.ID, Detail: "decision link of " + ap.Cell})
	props, err := s.runProps(r, rn, "")
	if err != nil {
		return err
	}
	mask := s.maskerFor(ctx, rn.WorkspaceID)
	p := views.DecisionProps{
		Page: views.Page{Title: "Decide: " + props.Page.Title}, Cell: ap.Cell, Message: mask.String(Markdown(ap.Message)),
		Needed: ap.Needed, Approvals: ap.Approvals(), OnTimeout: string(ap.OnTimeout), Action: "/a/" + token, Error: msg,
	}
	if !ap.Deadline.IsZero() {
		p.Deadline = ap.Deadline.UTC().Format(time.RFC3339)
	}
	// What ran is shown as a share link without code shows it; what is
	// to run, with its code, masked.
	props.Page = views.Page{}
	props.ShowCode = false
	props.Share = &views.SharedView{}
	props.LogBase = "/a/" + token + "/log"
	done := map[string]bool{}
	var cells []views.RunCell
	for _, c := range props.Cells {
		c.Source = ""
		if engine.CellStatus(c.Output.Status).Done() {
			done[c.Name] = true
			cells = append(cells, c)
		}
	}
	props.Cells = cells
	p.Run = props
	if fl, err := flowFromFiles(rn.Files); err == nil {
		if c := fl.Cell(ap.Cell); c != nil {
			p.Inputs = c.Inputs
		}
		for _, c := range fl.Cells {
			if done[c.Name] || c.Name == ap.Cell {
				continue
			}
			p.Remaining = append(p.Remaining, views.RemainingCell{Name: c.Name, Kind: string(c.Kind), Source: mask.String(c.Source)})
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.render(w, r, status, views.DecisionPage(p))
}

// POST /a/{token}: the decision page's form (decision=approve or reject,
// comment, input.NAME), recorded as "link holder" with the client's
// address.
func (s *Server) decisionSave(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ap, err := s.linkApproval(ctx, r.PathValue("token"))
	if err != nil {
		return err
	}
	if !approvalOpen(ap, s.clock.Now()) {
		return s.approvalClosed(w, r, ap)
	}
	if ok, wait := s.limits.take(ctx, "approval:"+ap.ID, decisionsPerHour, s.clock.Now()); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		return errorf(http.StatusTooManyRequests, "rate_limited", "", "too many decisions were sent through this link; try again in "+wait.Round(time.Second).String())
	}
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	d := decision{Approve: r.PostForm.Get("decision") == "approve", Comment: strings.TrimSpace(r.PostForm.Get("comment")), Inputs: map[string]any{}}
	for k, v := range r.PostForm {
		if name, ok := strings.CutPrefix(k, "input."); ok && len(v) > 0 && v[0] != "" {
			d.Inputs[name] = v[0]
		}
	}
	rn, err := s.stores.approvals.Run(ctx, ap.RunID)
	if err != nil {
		return err
	}
	if d.Approve {
		if fl, err := flowFromFiles(rn.Files); err == nil {
			if c := fl.Cell(ap.Cell); c != nil {
				if _, errs := run.Inputs(&engine.Flow{Inputs: c.Inputs}, d.Inputs); len(errs) > 0 {
					return s.renderDecision(w, r, ap, http.StatusUnprocessableEntity, strings.Replace(errs[0].Msg, "input ", "field ", 1))
				}
			}
		}
	}
	if len(d.Comment) > store.MaxApprovalComment {
		return s.renderDecision(w, r, ap, http.StatusRequestEntityTooLarge, "the comment is too long: at most 4000 characters")
	}
	ip := clientIP(r)
	got, err := s.stores.approvals.DecideApproval(ctx, ap.ID, store.ApprovalDecision{Who: linkHolder, IP: ip, Approved: d.Approve, Comment: d.Comment, Inputs: d.Inputs})
	switch {
	case errors.Is(err, store.ErrApprovalClosed):
		return s.approvalClosed(w, r, got)
	case err != nil:
		return err
	}
	s.publishVote(ctx, rn.ID, ap.Cell, got)
	what := "rejected"
	if d.Approve {
		what = "approved"
	}
	detail := what + " " + ap.Cell + " through its decision link"
	if d.Comment != "" {
		detail += ": " + d.Comment
	}
	s.auditEntry(ctx, r, store.AuditEntry{WorkspaceID: rn.WorkspaceID, ActorName: linkHolder, Action: actApprovalDecided, Target: "run " + rn.ID, Detail: detail})
	http.Redirect(w, r, "/a/"+r.PathValue("token"), http.StatusSeeOther)
	return nil
}

// GET /a/{token}/log?cell=NAME: a finished cell's whole log, masked, for
// the decision page's "full log".
func (s *Server) decisionLog(w http.ResponseWriter, r *http.Request) error {
	ap, err := s.linkApproval(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	if !approvalOpen(ap, s.clock.Now()) {
		return errShareGone
	}
	cell := r.URL.Query().Get("cell")
	if cell == "" {
		return errorf(http.StatusBadRequest, "cell", "cell", "name the cell with ?cell=NAME")
	}
	rn, err := s.stores.approvals.Run(r.Context(), ap.RunID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+rn.ID+"-"+engine.Slugify(cell)+`.log"`)
	return s.writeLog(w, r, rn, cell)
}

// newDecisionLink mints a new decision link for the approval of a run's
// cell, replacing the old one (which stops working), for an editor or
// above, audited; it returns the link's absolute URL.
func (s *Server) newDecisionLink(ctx context.Context, r *http.Request, runID, cell string) (string, error) {
	rn, _, err := s.runAccess(ctx, runID, engine.RoleEditor)
	if err != nil {
		return "", err
	}
	ap, err := s.stores.approvals.RunApproval(ctx, rn.ID, cell)
	if err != nil {
		return "", err
	}
	if !slices.Contains(ap.Approvers, engine.ApproverLink) {
		return "", errorf(http.StatusConflict, "no_link", "", "this approval's approvers do not include link: add it to the cell's approvers to decide by link")
	}
	if !approvalOpen(ap, s.clock.Now()) {
		return "", closedError(ap)
	}
	token, hash := notify.NewDecisionToken()
	if _, err := s.stores.approvals.SetApprovalLink(ctx, ap.ID, hash, true); errors.Is(err, store.ErrApprovalClosed) {
		return "", errorf(http.StatusConflict, "closed", "", "the approval was decided meanwhile")
	} else if err != nil {
		return "", err
	}
	s.auditIn(ctx, r, rn.WorkspaceID, actApprovalLink, "run "+rn.ID, "new decision link for "+cell+"; the old one stops working")
	return publicOrigin(r) + notify.DecisionPath(token), nil
}

// POST /api/v1/runs/{id}/approvals/{cell}/link: {"url": "…/a/TOKEN"}.
func (s *Server) apiDecisionLink(w http.ResponseWriter, r *http.Request) error {
	u, err := s.newDecisionLink(r.Context(), r, r.PathValue("id"), r.PathValue("cell"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"url": u})
	return nil
}

// POST /runs/{id}/approvals/{cell}/link: the run page's "Copy decision
// link"; the run page shows the new link once.
func (s *Server) runDecisionLink(w http.ResponseWriter, r *http.Request) error {
	u, err := s.newDecisionLink(r.Context(), r, r.PathValue("id"), r.PathValue("cell"))
	if err != nil {
		return err
	}
	return s.renderRunPage(w, r, map[string]string{r.PathValue("cell"): u})
}
