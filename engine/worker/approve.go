package worker

import (
	"context"
	"time"

	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/store"
)

// storeApprover decides a run's approval cells through the store: the
// first time the run reaches a cell it asks (store.AskApproval) and the
// run waits (run.ErrWaiting), holding no worker; once people decided, the
// store makes the run claimable again and, reached again, the cell finds
// its decision.
type storeApprover struct {
	st    *store.Store
	runID string
	now   func() time.Time
}

var _ run.Approver = (*storeApprover)(nil)

func (a *storeApprover) Decide(ctx context.Context, ask *run.Ask) (run.Decision, error) {
	c := ask.Cell
	req := store.Approval{
		RunID: a.runID, Cell: c.Name, Message: ask.Message, Approvers: c.Approvers,
		Needed: ask.Needed, OnTimeout: c.EffectiveOnTimeout(),
	}
	if c.Timeout > 0 {
		req.Deadline = a.now().Add(c.Timeout)
	}
	ap, err := a.st.AskApproval(ctx, req)
	if err != nil {
		return run.Decision{}, err
	}
	if ap.Status == store.ApprovalWaiting {
		return run.Decision{}, run.ErrWaiting
	}
	return run.Decision{Approved: ap.Status == store.ApprovalApproved, Choices: ap.Choices()}, nil
}
