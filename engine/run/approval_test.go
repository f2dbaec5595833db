package run

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
)

// deployFlow is a dry run, an approval of it, and the step that deploys,
// which echoes what the approval gave it.
func deployFlow(mod func(c *engine.Cell)) *engine.Flow {
	ap := cell("approve", engine.KindApproval, "Deploy? The dry run said: {{ cells.dry.stdout }}\n")
	ap.Approvers = []string{"editor"}
	ap.Inputs = []engine.Input{{Name: "ticket", Required: true}, {Name: "hosts", Type: engine.InputNumber, Default: int64(2)}}
	if mod != nil {
		mod(&ap)
	}
	return &engine.Flow{Name: "deploy", Cells: []engine.Cell{
		cell("dry", engine.KindShell, "dry"),
		ap,
		cell("deploy", engine.KindShell, "deploy {{ cells.approve.approved }} {{ cells.approve.by }} {{ cells.approve.comment }} {{ cells.approve.inputs.ticket }} {{ cells.approve.inputs.hosts }}"),
	}}
}

// deployExec answers the dry run with "2 <changes>" and gives the deploy
// step its rendered values.
func deployExec(_ context.Context, req *executor.Request) (any, error) {
	if req.Cell.Name == "dry" {
		return &engine.ShellResult{Stdout: "2 <changes>"}, nil
	}
	var vals []string
	for _, e := range req.Env {
		if strings.HasPrefix(e, "OPSBOOK_VALUE_") {
			vals = append(vals, e[strings.IndexByte(e, '=')+1:])
		}
	}
	return &engine.ShellResult{Stdout: strings.Join(vals, "|")}, nil
}

func approvalResult(t *testing.T, rec *recorder) engine.ApprovalResult {
	t.Helper()
	var res engine.ApprovalResult
	if err := json.Unmarshal(rec.finished()["approve"].Result, &res); err != nil {
		t.Fatalf("approval result: %v", err)
	}
	return res
}

func TestApprovalApproved(t *testing.T) {
	t.Parallel()
	var asked *Ask
	sum, rec := runFlow(t, deployFlow(nil), deployExec, func(o *Options) {
		o.Approver = ApproverFunc(func(_ context.Context, a *Ask) (Decision, error) {
			asked = a
			return Decision{Approved: true, Choices: []engine.ApprovalChoice{{By: "ana", Approved: true, Comment: "go", Inputs: map[string]any{"ticket": "OPS-1"}}}}, nil
		})
	})
	if sum.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %s", sum.Status, sum.Error)
	}
	if asked == nil || asked.Message != "Deploy? The dry run said: 2 \\<changes\\>\n" || asked.Needed != 1 {
		t.Fatalf("asked %+v", asked)
	}
	res := approvalResult(t, rec)
	if !res.Approved || res.By != "ana" || res.Comment != "go" || res.Inputs["ticket"] != "OPS-1" || res.Inputs["hosts"] != float64(2) {
		t.Errorf("approval result %+v", res)
	}
	var deploy engine.ShellResult
	json.Unmarshal(rec.finished()["deploy"].Result, &deploy)
	if deploy.Stdout != "true|ana|go|OPS-1|2" {
		t.Errorf("the deploy step saw %q", deploy.Stdout)
	}
	var shown []string
	for _, e := range rec.events {
		if e.Type == engine.EventCellLog && e.Cell == "approve" {
			shown = append(shown, e.Lines...)
		}
	}
	if strings.Join(shown, "\n") != strings.TrimSuffix(asked.Message, "\n") {
		t.Errorf("the message is not the cell's output: %q", shown)
	}
}

func TestApprovalRejected(t *testing.T) {
	t.Parallel()
	reject := ApproverFunc(func(context.Context, *Ask) (Decision, error) {
		return Decision{Choices: []engine.ApprovalChoice{{By: "bo", Comment: "not on a Friday"}}}, nil
	})
	sum, rec := runFlow(t, deployFlow(nil), deployExec, func(o *Options) { o.Approver = reject })
	st := sum.Statuses()
	if sum.Status != engine.RunFailed || st["approve"] != engine.CellFailed || st["deploy"] != engine.CellSkipped {
		t.Fatalf("run %s, cells %v", sum.Status, st)
	}
	if e := rec.finished()["approve"].Error; e != "rejected by bo: not on a Friday" {
		t.Errorf("error %q", e)
	}
	if res := approvalResult(t, rec); res.Approved || res.By != "bo" {
		t.Errorf("result %+v", res)
	}

	// With continue_on_error the run goes on and later cells see the no.
	sum, rec = runFlow(t, deployFlow(func(c *engine.Cell) { c.ContinueOnError = true }), deployExec, func(o *Options) { o.Approver = reject })
	if sum.Status != engine.RunSucceeded {
		t.Fatalf("run %s: %s", sum.Status, sum.Error)
	}
	var deploy engine.ShellResult
	json.Unmarshal(rec.finished()["deploy"].Result, &deploy)
	if !strings.HasPrefix(deploy.Stdout, "false|bo|not on a Friday|") {
		t.Errorf("the deploy step saw %q", deploy.Stdout)
	}
}

func TestApprovalTimeout(t *testing.T) {
	t.Parallel()
	wait := ApproverFunc(func(ctx context.Context, _ *Ask) (Decision, error) {
		<-ctx.Done()
		return Decision{}, ctx.Err()
	})
	for _, tc := range []struct {
		on   engine.OnTimeout
		want engine.RunStatus
	}{{"", engine.RunFailed}, {engine.OnTimeoutReject, engine.RunFailed}, {engine.OnTimeoutApprove, engine.RunSucceeded}} {
		f := deployFlow(func(c *engine.Cell) {
			c.Timeout, c.OnTimeout = 10*time.Millisecond, tc.on
			c.Inputs[0].Required = false
		})
		sum, rec := runFlow(t, f, deployExec, func(o *Options) { o.Approver = wait })
		if sum.Status != tc.want {
			t.Errorf("on_timeout %q: run %s: %s", tc.on, sum.Status, sum.Error)
		}
		res := approvalResult(t, rec)
		if res.By != "timeout" || !strings.Contains(res.Comment, "nobody decided within 10ms") {
			t.Errorf("on_timeout %q: result %+v", tc.on, res)
		}
	}
}

func TestApprovalProblems(t *testing.T) {
	t.Parallel()
	sum, rec := runFlow(t, deployFlow(nil), deployExec, nil)
	if sum.Status != engine.RunFailed || rec.finished()["approve"].Error != ErrNoApprover.Error() {
		t.Errorf("no approver: run %s, %q", sum.Status, rec.finished()["approve"].Error)
	}
	// An approval without the form's required field fails the cell.
	sum, rec = runFlow(t, deployFlow(nil), deployExec, func(o *Options) {
		o.Approver = ApproverFunc(func(context.Context, *Ask) (Decision, error) {
			return Decision{Approved: true, Choices: []engine.ApprovalChoice{{By: "ana", Approved: true, Inputs: map[string]any{"hosts": "many"}}}}, nil
		})
	})
	if e := rec.finished()["approve"].Error; sum.Status != engine.RunFailed || !strings.Contains(e, "form field ticket is required") || !strings.Contains(e, `"many" is not a number`) {
		t.Errorf("bad form: run %s, %q", sum.Status, e)
	}
	// Canceling the run while it waits cancels the cell.
	ctx, cancel := context.WithCancelCause(context.Background())
	p, err := Compile(deployFlow(nil))
	if err != nil {
		t.Fatal(err)
	}
	sum, err = p.Run(ctx, Options{ID: "r_x", Dir: t.TempDir(), TempDir: t.TempDir(),
		Executors: map[engine.Kind]executor.Executor{engine.KindShell: fakeExec{deployExec}},
		Approver: ApproverFunc(func(ctx context.Context, _ *Ask) (Decision, error) {
			cancel(engine.ErrCanceled)
			<-ctx.Done()
			return Decision{}, ctx.Err()
		})})
	if err != nil || sum.Status != engine.RunCanceled || sum.Statuses()["approve"] != engine.CellCanceled {
		t.Errorf("cancel while waiting: %v, run %s, cells %v", err, sum.Status, sum.Statuses())
	}
}

// A run whose approver says "wait" stops at the approval cell, cells
// below it pending and no run.finished; run again with the unfinished
// cells, the earlier results and Resume, it goes on after the last seq.
func TestApprovalWaitAndResume(t *testing.T) {
	t.Parallel()
	for _, order := range []engine.Order{engine.OrderNotebook, engine.OrderGraph} {
		f := deployFlow(nil)
		f.Order = order
		// In graph order a cell that needs nothing of the approval still
		// runs while it waits.
		f.Cells = append(f.Cells, cell("lint", engine.KindShell, "lint"))
		f.Cells[2].Needs = []string{"approve"}
		p, err := Compile(f)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		o := Options{ID: "r_w", Dir: t.TempDir(), TempDir: t.TempDir(), Sink: rec,
			Executors: map[engine.Kind]executor.Executor{engine.KindShell: fakeExec{deployExec}},
			Approver:  ApproverFunc(func(context.Context, *Ask) (Decision, error) { return Decision{}, ErrWaiting }),
		}
		sum, err := p.Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		st := sum.Statuses()
		wantLint := engine.CellPending
		if order == engine.OrderGraph {
			wantLint = engine.CellSucceeded
		}
		if sum.Status != engine.RunWaiting || st["dry"] != engine.CellSucceeded || st["approve"] != engine.CellWaiting || st["deploy"] != engine.CellPending || st["lint"] != wantLint {
			t.Fatalf("%s: run %s, cells %v", order, sum.Status, st)
		}
		var requested bool
		for _, e := range rec.events {
			switch e.Type {
			case engine.EventRunFinished:
				t.Fatalf("%s: a waiting run finished: %+v", order, e)
			case engine.EventApprovalRequested:
				requested = e.Cell == "approve" && e.Status == "waiting"
			}
		}
		if !requested {
			t.Fatalf("%s: no approval.requested", order)
		}
		last := rec.events[len(rec.events)-1].Seq

		var cells []string
		prior := map[string]any{}
		for _, c := range sum.Cells {
			if c.Status.Done() {
				var v any
				json.Unmarshal(rec.finished()[c.Name].Result, &v)
				prior[c.Name] = v
			} else {
				cells = append(cells, c.Name)
			}
		}
		rec2 := &recorder{}
		o.Sink, o.Cells, o.Prior, o.Resume, o.FirstSeq = rec2, cells, prior, true, last
		o.Approver = ApproverFunc(func(context.Context, *Ask) (Decision, error) {
			return Decision{Approved: true, Choices: []engine.ApprovalChoice{{By: "ana", Approved: true, Inputs: map[string]any{"ticket": "T-1"}}}}, nil
		})
		sum, err = p.Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Status != engine.RunSucceeded {
			t.Fatalf("%s: resumed run %s: %s", order, sum.Status, sum.Error)
		}
		if rec2.events[0].Seq != last+1 || rec2.events[0].Type == engine.EventRunStarted {
			t.Errorf("%s: the resumed run starts with %+v, after seq %d", order, rec2.events[0], last)
		}
		var deploy engine.ShellResult
		json.Unmarshal(rec2.finished()["deploy"].Result, &deploy)
		if deploy.Stdout != "true|ana||T-1|2" {
			t.Errorf("%s: the deploy step saw %q", order, deploy.Stdout)
		}
	}
}
