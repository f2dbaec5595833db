package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/store"
)

const actApprovalDecided = "approval.decided"

// mayDecide reports whether a studio user with role in the run's workspace
// may decide an approval that lists approvers: a listed role or above, or
// being the user:NAME it lists. An owner may always decide: owners could
// change the flow anyway. Holders of a decision link decide on its page
// (approval_link.go).
func mayDecide(approvers []string, role engine.Role, name string) bool {
	if role == engine.RoleOwner {
		return true
	}
	for _, a := range approvers {
		if r, ok := engine.ApproverRole(a); ok && role.AtLeast(r) {
			return true
		}
		if u, ok := strings.CutPrefix(a, engine.ApproverUserPrefix); ok && u == name {
			return true
		}
	}
	return false
}

// decision is what a person decides on an approval.
type decision struct {
	Approve bool           `json:"approve"`
	Comment string         `json:"comment"`
	Inputs  map[string]any `json:"inputs"`
}

// decideApproval records the request's principal's decision on the
// approval of the run's cell, checking who may decide and the form, and
// audits it. The approval is returned as it stands afterwards.
func (s *Server) decideApproval(ctx context.Context, r *http.Request, runID, cell string, d decision) (store.Approval, error) {
	rn, a, err := s.runAccess(ctx, runID, engine.RoleViewer)
	if err != nil {
		return store.Approval{}, err
	}
	ap, err := s.stores.approvals.RunApproval(ctx, rn.ID, cell)
	if err != nil {
		return store.Approval{}, err
	}
	p := principalFrom(ctx)
	if !mayDecide(ap.Approvers, a.Role, p.User.Name) {
		return store.Approval{}, fmt.Errorf("%w: approval %s is for %s", errForbidden, cell, strings.Join(ap.Approvers, ", "))
	}
	if ap.Status != store.ApprovalWaiting {
		return ap, closedError(ap)
	}
	if d.Approve {
		// The form is checked now, so the decider can fix it, rather than
		// failing the run later.
		f, err := flowFromFiles(rn.Files)
		if err != nil {
			return store.Approval{}, err
		}
		c := f.Cell(cell)
		if c == nil || c.Kind != engine.KindApproval {
			return store.Approval{}, errNotFound
		}
		if _, errs := run.Inputs(&engine.Flow{Inputs: c.Inputs}, d.Inputs); len(errs) > 0 {
			return store.Approval{}, errorf(http.StatusUnprocessableEntity, "invalid", "inputs."+strings.TrimPrefix(errs[0].Pos.File, "input "), errs[0].Msg)
		}
	}
	got, err := s.stores.approvals.DecideApproval(ctx, ap.ID, store.ApprovalDecision{UserID: p.User.ID, Who: p.User.Name, Approved: d.Approve, Comment: d.Comment, Inputs: d.Inputs})
	switch {
	case errors.Is(err, store.ErrApprovalClosed):
		return got, closedError(got)
	case errors.Is(err, store.ErrAlreadyExists):
		return store.Approval{}, errorf(http.StatusConflict, "decided", "", "you decided already; the approval waits for someone else")
	case errors.Is(err, store.ErrTooLarge):
		return store.Approval{}, errorf(http.StatusRequestEntityTooLarge, "too_large", "comment", err.Error())
	case err != nil:
		return store.Approval{}, err
	}
	what := "rejected"
	if d.Approve {
		what = "approved"
	}
	detail := what + " " + cell
	if d.Comment != "" {
		detail += ": " + d.Comment
	}
	s.auditIn(ctx, r, rn.WorkspaceID, actApprovalDecided, "run "+rn.ID, detail)
	s.publishVote(ctx, rn.ID, cell, got)
	return got, nil
}

// publishVote tells the run's open pages, in every process, of a decision
// that did not close the approval: it makes no event (the run is not going
// on yet), so they would show the trail only at a reload.
func (s *Server) publishVote(ctx context.Context, runID, cell string, got store.Approval) {
	if got.Status != store.ApprovalWaiting {
		return
	}
	s.publishVoteHere(runID, cell, len(got.Decisions))
	if !s.pg {
		return
	}
	payload := runID + " " + cell + " " + strconv.Itoa(len(got.Decisions)) + " " + s.process
	if err := s.stores.approvals.Notify(context.WithoutCancel(ctx), store.ChannelApproval, payload); err != nil {
		s.log.Warn("tell other processes of a decision", logattr.Run(runID), logattr.Cell(cell), "err", err)
	}
}

// publishVoteHere tells this process's pages of the run that an approval
// has n decisions and still waits.
func (s *Server) publishVoteHere(runID, cell string, n int) {
	note, _ := json.Marshal(approvalNote{T: "approval.vote", Run: runID, Cell: cell, Approvals: n})
	s.hub.Publish(runTopic(runID), &Msg{Data: note, Run: runID, Cell: cell, Note: true})
}

// approvalNote is what the run page's socket is told when someone decided
// an approval that still waits for others.
type approvalNote struct {
	T         string `json:"t"` // approval.vote
	Run       string `json:"run"`
	Cell      string `json:"cell"`
	Approvals int    `json:"approvals"` // decisions so far
}

// closedError says who closed an approval, and when.
func closedError(ap store.Approval) error {
	msg := "the approval is closed"
	if ap.Status == store.ApprovalWaiting && !ap.Deadline.IsZero() {
		msg = "the approval's time ran out at " + ap.Deadline.UTC().Format(time.RFC3339)
	} else if n := len(ap.Decisions); n > 0 {
		last := ap.Decisions[n-1]
		msg = fmt.Sprintf("the approval was %s by %s at %s", ap.Status, last.Who, last.At.UTC().Format(time.RFC3339))
	} else if !ap.Deadline.IsZero() {
		msg = "the approval's time ran out at " + ap.Deadline.UTC().Format(time.RFC3339)
	}
	return errorf(http.StatusConflict, "closed", "", msg)
}

// POST /api/v1/runs/{id}/approvals/{cell}: {"approve": true, "comment":
// "…", "inputs": {…}}.
func (s *Server) apiDecideApproval(w http.ResponseWriter, r *http.Request) error {
	var d decision
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&d); err != nil {
		return errorf(http.StatusBadRequest, "bad_json", "", "send {\"approve\": true|false, \"comment\": \"…\", \"inputs\": {…}}")
	}
	ap, err := s.decideApproval(r.Context(), r, r.PathValue("id"), r.PathValue("cell"), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, approvalJSON(ap))
	return nil
}

// POST /runs/{id}/approvals/{cell}: the run page's form (decision=approve
// or reject, comment, and the form's fields as input.NAME).
func (s *Server) runDecideApproval(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "bad_form", "", "the form could not be read")
	}
	d := decision{Approve: r.PostForm.Get("decision") == "approve", Comment: strings.TrimSpace(r.PostForm.Get("comment")), Inputs: map[string]any{}}
	for k, v := range r.PostForm {
		if name, ok := strings.CutPrefix(k, "input."); ok && len(v) > 0 && v[0] != "" {
			d.Inputs[name] = v[0]
		}
	}
	if _, err := s.decideApproval(r.Context(), r, r.PathValue("id"), r.PathValue("cell"), d); err != nil {
		return err
	}
	http.Redirect(w, r, "/runs/"+r.PathValue("id"), http.StatusSeeOther)
	return nil
}

func approvalJSON(ap store.Approval) map[string]any {
	decisions := make([]map[string]any, len(ap.Decisions))
	for i, d := range ap.Decisions {
		decisions[i] = map[string]any{"by": d.Who, "ip": d.IP, "at": d.At.UTC().Format(time.RFC3339), "approved": d.Approved, "comment": d.Comment, "inputs": d.Inputs}
	}
	out := map[string]any{"id": ap.ID, "run": ap.RunID, "cell": ap.Cell, "status": ap.Status, "approvers": ap.Approvers,
		"needed": ap.Needed, "on_timeout": ap.OnTimeout, "decisions": decisions}
	if !ap.Deadline.IsZero() {
		out["deadline"] = ap.Deadline.UTC().Format(time.RFC3339)
	}
	return out
}
