package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/expr"
)

// Approver decides the approval cells of a run: `opsbook run` asks the
// terminal or reads --approve and --reject. Decide returns when the cell
// is decided, or with ctx's error when the run is canceled or the cell's
// timeout passes (then its on_timeout decides).
type Approver interface {
	Decide(ctx context.Context, a *Ask) (Decision, error)
}

// ApproverFunc adapts a function to Approver.
type ApproverFunc func(ctx context.Context, a *Ask) (Decision, error)

// Decide calls f.
func (f ApproverFunc) Decide(ctx context.Context, a *Ask) (Decision, error) { return f(ctx, a) }

// Ask is what an approval cell asks of the people who decide.
type Ask struct {
	Run  engine.RunInfo
	Cell *engine.Cell
	// Message is the cell's markdown with its placeholders filled in,
	// values as text.
	Message string
	// Needed is how many approvals the cell needs.
	Needed int
}

// Decision is how an approval cell was decided: approved or not, and the
// choices of the people who decided, in order (the last one decided).
// Form values are as typed or strings; the run converts them to the
// form's types and applies its defaults.
type Decision struct {
	Approved bool
	Choices  []engine.ApprovalChoice
}

// ErrWaiting is what an Approver returns when nobody decided yet and the
// run is to wait without holding its worker (the studio's runs): the cell
// stays waiting, later cells pending, and the run ends its part here with
// Summary.Status waiting and no run.finished. Running it again with the
// unfinished cells (Options.Cells, Prior, Resume) continues it.
var ErrWaiting = errors.New("waiting for a decision")

// ErrNoApprover is the error of an approval cell in a run that has no one
// to ask.
var ErrNoApprover = errors.New("no one can decide approval cells here")

// approve runs an approval cell: it shows the message as the cell's
// output, asks the Approver, and ends the cell succeeded when approved,
// failed when rejected or when its timeout rejects it.
func (r *runner) approve(ctx context.Context, s *step, env expr.Env) engine.CellStatus {
	c := s.cell
	start := r.o.Now()
	r.emit(&engine.Event{Type: engine.EventCellStarted, Cell: c.Name, Attempt: 1})
	msg, _, err := s.source.Render(env)
	if err != nil {
		r.finish(s.index, engine.CellFailed, 1, r.o.Now().Sub(start), nil, r.describe(c, err))
		return engine.CellFailed
	}
	msg = r.masker.String(msg)
	if !r.o.Asked[c.Name] {
		out := &cellOutput{r: r, cell: c.Name}
		out.Lines(engine.StreamStdout, strings.Split(strings.TrimRight(msg, "\n"), "\n"))
	}

	ask := &Ask{Run: r.info, Cell: c, Message: msg, Needed: c.EffectiveApprovals()}
	actx := ctx
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeoutCause(ctx, c.Timeout, errApprovalTimeout)
		defer cancel()
	}
	var dec Decision
	if r.o.Approver == nil {
		err = ErrNoApprover
	} else {
		dec, err = r.decide(actx, ask)
	}
	d := r.o.Now().Sub(start)
	switch {
	case errors.Is(err, ErrWaiting) && ctx.Err() == nil:
		r.mu.Lock()
		r.status[s.index].Status = engine.CellWaiting
		r.waiting = true
		r.mu.Unlock()
		r.emit(&engine.Event{Type: engine.EventApprovalRequested, Cell: c.Name, Status: string(engine.CellWaiting)})
		return engine.CellWaiting
	case err != nil && ctx.Err() != nil:
		msg := "canceled"
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, engine.ErrCanceled) {
			msg = "canceled: " + cause.Error()
		}
		r.finish(s.index, engine.CellCanceled, 1, d, nil, msg)
		return engine.CellCanceled
	case err != nil && errors.Is(context.Cause(actx), errApprovalTimeout):
		dec = TimeoutDecision(c, r.o.Now())
	case err != nil:
		r.finish(s.index, engine.CellFailed, 1, d, nil, err.Error())
		return engine.CellFailed
	}
	res, err := ApprovalOutcome(c, msg, dec)
	if err == nil {
		st := "rejected"
		if res.Approved {
			st = "approved"
		}
		r.emit(&engine.Event{Type: engine.EventApprovalDecided, Cell: c.Name, Status: st})
	}
	if err != nil {
		r.finish(s.index, engine.CellFailed, 1, d, nil, err.Error())
		return engine.CellFailed
	}
	if !res.Approved {
		why := "rejected by " + res.By
		if res.Comment != "" {
			why += ": " + res.Comment
		}
		r.finish(s.index, engine.CellFailed, 1, d, res, why)
		return engine.CellFailed
	}
	r.finish(s.index, engine.CellSucceeded, 1, d, res, "")
	return engine.CellSucceeded
}

var errApprovalTimeout = errors.New("the approval's timeout passed")

// decide asks the Approver, turning its panic into an error.
func (r *runner) decide(ctx context.Context, a *Ask) (dec Decision, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = r.logPanic(a.Cell.Name, "deciding the approval", v)
			err = errors.New(strings.TrimPrefix(err.Error(), errNoRetry.Error()+": "))
		}
	}()
	return r.o.Approver.Decide(ctx, a)
}

// TimeoutDecision is what the cell's on_timeout decides when nobody
// decided within its timeout.
func TimeoutDecision(c *engine.Cell, now time.Time) Decision {
	ok := c.EffectiveOnTimeout() == engine.OnTimeoutApprove
	return Decision{Approved: ok, Choices: []engine.ApprovalChoice{{
		By: "timeout", At: now.UTC().Format(time.RFC3339), Approved: ok,
		Comment: fmt.Sprintf("nobody decided within %s (on_timeout: %s)", formatWait(c.Timeout), c.EffectiveOnTimeout()),
	}}}
}

func formatWait(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	s = strings.TrimSuffix(s, "0m")
	if s == "" {
		return d.String()
	}
	return s
}

// ApprovalOutcome is the result later cells see of an approval cell
// decided as dec: who decided, the deciding comment, and the form's
// values converted to its types with its defaults (from the last choice
// that filled the form). A form that does not fit is an error.
func ApprovalOutcome(c *engine.Cell, message string, dec Decision) (*engine.ApprovalResult, error) {
	if len(dec.Choices) == 0 {
		return nil, errors.New("the approval was decided by nobody; this is a bug in Opsbook")
	}
	res := &engine.ApprovalResult{Approved: dec.Approved, Message: message, Decisions: dec.Choices}
	var by []string
	var given map[string]any
	for _, ch := range dec.Choices {
		if ch.Inputs != nil {
			given = ch.Inputs
		}
		by = append(by, ch.By)
	}
	res.By = strings.Join(by, ", ")
	res.Comment = dec.Choices[len(dec.Choices)-1].Comment
	if !dec.Approved {
		// A rejection need not fill the form; what was given is kept.
		res.Inputs = given
		if res.Inputs == nil {
			res.Inputs = map[string]any{}
		}
		return res, nil
	}
	in, errs := Inputs(&engine.Flow{Inputs: c.Inputs}, given)
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = strings.Replace(e.Msg, "input ", "form field ", 1)
		}
		return nil, fmt.Errorf("the approval's form: %s", strings.Join(msgs, "; "))
	}
	res.Inputs = in
	return res, nil
}
