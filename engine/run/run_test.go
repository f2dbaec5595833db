package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
)

// fakeExec runs a Go function per cell, so scheduling can be tested
// without processes; the real executors are tested in engine/executor and end
// to end in cli.
type fakeExec struct {
	fn func(ctx context.Context, req *executor.Request) (any, error)
}

func (f fakeExec) Execute(ctx context.Context, req *executor.Request) (any, error) {
	return f.fn(ctx, req)
}

type recorder struct {
	mu     sync.Mutex
	events []engine.Event
}

func (r *recorder) Emit(e *engine.Event) {
	r.mu.Lock()
	c := *e
	c.Lines = append([]string(nil), e.Lines...)
	r.events = append(r.events, c)
	r.mu.Unlock()
}

func (r *recorder) finished() map[string]engine.Event {
	m := map[string]engine.Event{}
	for _, e := range r.events {
		if e.Type == engine.EventCellFinished {
			m[e.Cell] = e
		}
	}
	return m
}

func cell(name string, kind engine.Kind, src string) engine.Cell {
	return engine.Cell{Name: name, Kind: kind, File: name + kind.Ext(), Source: src}
}

func runFlow(t *testing.T, f *engine.Flow, fn func(ctx context.Context, req *executor.Request) (any, error), mod func(*Options)) (Summary, *recorder) {
	t.Helper()
	p, err := Compile(f)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	rec := &recorder{}
	o := Options{
		ID: "r_test", Flow: "test", Sink: rec, Dir: t.TempDir(), TempDir: t.TempDir(),
		Executors: map[engine.Kind]executor.Executor{engine.KindShell: fakeExec{fn}},
	}
	if mod != nil {
		mod(&o)
	}
	sum, err := p.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkStream(t, rec.events, o.Cells, f)
	return sum, rec
}

// checkStream asserts the event stream's contract: seq gap-free from 1,
// run.started first, run.finished last, one cell.finished per scheduled cell.
func checkStream(t *testing.T, evs []engine.Event, only []string, f *engine.Flow) {
	t.Helper()
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d; want gap-free seq", i, e.Seq)
		}
		if e.Run == "" || e.At.IsZero() {
			t.Fatalf("event %d lacks run or at: %+v", i, e)
		}
	}
	if evs[0].Type != engine.EventRunStarted || evs[len(evs)-1].Type != engine.EventRunFinished {
		t.Fatalf("stream must start with run.started and end with run.finished; got %s … %s", evs[0].Type, evs[len(evs)-1].Type)
	}
	want := len(f.Cells)
	if only != nil {
		want = len(only)
	}
	n := 0
	seen := map[string]bool{}
	for _, e := range evs {
		if e.Type == engine.EventCellFinished {
			if seen[e.Cell] {
				t.Fatalf("cell %s finished twice", e.Cell)
			}
			seen[e.Cell] = true
			if !engine.CellStatus(e.Status).Done() {
				t.Fatalf("cell %s finished with non-final status %q", e.Cell, e.Status)
			}
			n++
		}
	}
	if n != want {
		t.Fatalf("%d cells finished; want %d (every cell needs a final status)", n, want)
	}
}

func ok(ctx context.Context, req *executor.Request) (any, error) {
	req.Output.Lines(engine.StreamStdout, []string{"ran " + req.Cell.Name + ": " + req.Source})
	return &engine.ShellResult{Stdout: req.Source}, nil
}

func TestNotebookOrderAndData(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{
		Inputs: []engine.Input{{Name: "who", Type: engine.InputString, Default: "world"}},
		Cells: []engine.Cell{
			cell("a", engine.KindShell, "echo {{ inputs.who }}"),
			cell("b", engine.KindExpr, `cells.a.stdout + "!"`),
			cell("c", engine.KindShell, "echo {{ cells.b.value }}"),
			cell("note", engine.KindMarkdown, "Said {{ cells.b.value }}"),
		},
	}
	in, errs := Inputs(f, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var mu sync.Mutex
	envs := map[string][]string{}
	sum, rec := runFlow(t, f, func(ctx context.Context, req *executor.Request) (any, error) {
		mu.Lock()
		envs[req.Cell.Name] = req.Env
		mu.Unlock()
		return ok(ctx, req)
	}, func(o *Options) { o.Inputs = in })
	if sum.Status != engine.RunSucceeded {
		t.Fatalf("status %s: %s", sum.Status, sum.Error)
	}
	fin := rec.finished()
	var b engine.ExprResult
	json.Unmarshal(fin["b"].Result, &b)
	if b.Value != `echo "${OPSBOOK_VALUE_1}"!` {
		t.Errorf("b = %q; want the script, its value referred to in the environment, plus !", b.Value)
	}
	if got := strings.Join(envs["a"], " "); got != "OPSBOOK_VALUE_1=world" {
		t.Errorf("env of a = %q; want the value of the input", got)
	}
	if got := strings.Join(envs["c"], " "); got != `OPSBOOK_VALUE_1=echo "${OPSBOOK_VALUE_1}"!` {
		t.Errorf("env of c = %q", got)
	}
	var note engine.MarkdownResult
	json.Unmarshal(fin["note"].Result, &note)
	if note.Text != `Said echo \"\$\{OPSBOOK\_VALUE\_1\}\"\!` {
		t.Errorf("markdown text = %q; want the value's markup escaped", note.Text)
	}
	// Notebook order: each cell starts after the one above finished.
	var order []string
	for _, e := range rec.events {
		if e.Type == engine.EventCellFinished {
			order = append(order, e.Cell)
		}
	}
	if strings.Join(order, ",") != "a,b,c,note" {
		t.Errorf("order %v", order)
	}
}

func TestFailureStopsNotebookUnlessContinue(t *testing.T) {
	t.Parallel()
	fail := func(ctx context.Context, req *executor.Request) (any, error) {
		if strings.Contains(req.Source, "fail") {
			return &engine.ShellResult{ExitCode: 3}, errors.New("exit status 3")
		}
		return ok(ctx, req)
	}
	for _, tc := range []struct {
		name     string
		cont     bool
		run      engine.RunStatus
		statuses string
	}{
		{"stops", false, engine.RunFailed, "succeeded,failed,skipped"},
		{"continues", true, engine.RunSucceeded, "succeeded,failed,succeeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &engine.Flow{Cells: []engine.Cell{
				cell("a", engine.KindShell, "ok"), cell("b", engine.KindShell, "fail"), cell("c", engine.KindShell, "ok"),
			}}
			f.Cells[1].ContinueOnError = tc.cont
			sum, _ := runFlow(t, f, fail, nil)
			var got []string
			for _, c := range sum.Cells {
				got = append(got, string(c.Status))
			}
			if sum.Status != tc.run || strings.Join(got, ",") != tc.statuses {
				t.Errorf("run %s cells %v; want %s %s", sum.Status, got, tc.run, tc.statuses)
			}
			if !tc.cont && !strings.Contains(sum.Error, "cell b: exit status 3") {
				t.Errorf("run error %q should name the cell", sum.Error)
			}
		})
	}
}

func TestIfSkipsAndRunGoesOn(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Cells: []engine.Cell{
		cell("a", engine.KindExpr, "1"),
		cell("b", engine.KindShell, "x"),
		cell("c", engine.KindShell, "y"),
	}}
	f.Cells[1].If = "cells.a.value > 5"
	f.Cells[2].If = "cells.a.value == 1"
	sum, _ := runFlow(t, f, ok, nil)
	st := sum.Statuses()
	if sum.Status != engine.RunSucceeded || st["b"] != engine.CellSkipped || st["c"] != engine.CellSucceeded {
		t.Fatalf("run %s statuses %v", sum.Status, st)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	flaky := func(ctx context.Context, req *executor.Request) (any, error) {
		if req.Attempt != int(calls.Add(1)) {
			return nil, fmt.Errorf("attempt %d out of order", req.Attempt)
		}
		if req.Attempt < 3 {
			return nil, errors.New("flaky")
		}
		return ok(ctx, req)
	}
	f := &engine.Flow{Cells: []engine.Cell{cell("a", engine.KindShell, "x")}}
	f.Cells[0].Retries = 2
	f.Cells[0].RetryDelay = 10 * time.Millisecond
	sum, rec := runFlow(t, f, flaky, nil)
	if sum.Status != engine.RunSucceeded || sum.Cells[0].Attempts != 3 {
		t.Fatalf("run %s attempts %d", sum.Status, sum.Cells[0].Attempts)
	}
	starts := 0
	for _, e := range rec.events {
		if e.Type == engine.EventCellStarted {
			starts++
			if e.Attempt != starts {
				t.Errorf("cell.started attempt %d; want %d", e.Attempt, starts)
			}
		}
	}
	if starts != 3 {
		t.Errorf("%d cell.started events; want one per attempt", starts)
	}
	// Out of retries: failed with the last error.
	calls.Store(0)
	f.Cells[0].Retries = 1
	sum, _ = runFlow(t, f, flaky, nil)
	if sum.Status != engine.RunFailed || sum.Cells[0].Attempts != 2 || sum.Cells[0].Error != "flaky" {
		t.Fatalf("run %s cell %+v", sum.Status, sum.Cells[0])
	}
}

func TestTimeoutPerAttempt(t *testing.T) {
	t.Parallel()
	slow := func(ctx context.Context, req *executor.Request) (any, error) {
		<-ctx.Done()
		return nil, context.Cause(ctx)
	}
	f := &engine.Flow{Cells: []engine.Cell{cell("a", engine.KindShell, "x")}}
	f.Cells[0].Timeout = 20 * time.Millisecond
	f.Cells[0].Retries = 1
	sum, _ := runFlow(t, f, slow, nil)
	c := sum.Cells[0]
	if c.Status != engine.CellFailed || c.Attempts != 2 || !strings.Contains(c.Error, "timed out after 20ms") {
		t.Fatalf("cell %+v; want failed after 2 timed-out attempts", c)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	block := func(ctx context.Context, req *executor.Request) (any, error) {
		if req.Cell.Name == "b" {
			close(started)
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}
		return ok(ctx, req)
	}
	f := &engine.Flow{Cells: []engine.Cell{
		cell("a", engine.KindShell, "x"), cell("b", engine.KindShell, "x"), cell("c", engine.KindShell, "x"),
	}}
	p, err := Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() { <-started; cancel(engine.ErrCanceled) }()
	sum, err := p.Run(ctx, Options{ID: "r_c", Sink: rec, Executors: map[engine.Kind]executor.Executor{engine.KindShell: fakeExec{block}}})
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, rec.events, nil, f)
	st := sum.Statuses()
	if sum.Status != engine.RunCanceled || st["a"] != engine.CellSucceeded || st["b"] != engine.CellCanceled || st["c"] != engine.CellCanceled {
		t.Fatalf("run %s %v", sum.Status, st)
	}
}

func TestGraphParallelAndSkipDependents(t *testing.T) {
	t.Parallel()
	var running, peak atomic.Int32
	work := func(ctx context.Context, req *executor.Request) (any, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		running.Add(-1)
		if req.Source == "fail" {
			return nil, errors.New("boom")
		}
		return ok(ctx, req)
	}
	f := &engine.Flow{Order: engine.OrderGraph, Cells: []engine.Cell{
		cell("join", engine.KindShell, "echo {{ cells.a.stdout }}{{ cells.b.stdout }}{{ cells.c.stdout }}"),
		cell("a", engine.KindShell, "a"), cell("b", engine.KindShell, "b"), cell("c", engine.KindShell, "c"),
		cell("bad", engine.KindShell, "fail"),
		cell("after_bad", engine.KindShell, "x"),
	}}
	f.Cells[5].Needs = []string{"bad"}
	sum, _ := runFlow(t, f, work, func(o *Options) { o.Parallel = 3 })
	st := sum.Statuses()
	if st["join"] != engine.CellSucceeded || st["after_bad"] != engine.CellSkipped || st["bad"] != engine.CellFailed {
		t.Fatalf("statuses %v", st)
	}
	if sum.Status != engine.RunFailed {
		t.Fatalf("run %s; a failed cell fails a graph run", sum.Status)
	}
	if p := peak.Load(); p < 2 || p > 3 {
		t.Errorf("peak parallelism %d; want 2..3 (bounded by Parallel=3)", p)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	pos := func(f string) engine.Pos { return engine.Pos{File: f, Line: 1, Col: 1} }
	for _, tc := range []struct {
		name string
		flow engine.Flow
		want string
	}{
		{"unknown cell", engine.Flow{Cells: []engine.Cell{cell("a", engine.KindShell, "echo {{ cells.nope.stdout }}")}}, `a.sh:1:9: unknown cell "nope"`},
		{"later cell", engine.Flow{Cells: []engine.Cell{cell("a", engine.KindShell, "echo {{ cells.b.stdout }}"), cell("b", engine.KindShell, "true")}}, "comes later in notebook order"},
		{"self", engine.Flow{Cells: []engine.Cell{cell("a", engine.KindExpr, "cells.a.value")}}, "refers to itself"},
		{"unknown input", engine.Flow{Cells: []engine.Cell{cell("a", engine.KindExpr, "inputs.day")}}, `unknown input "day"`},
		{"cycle", engine.Flow{Order: engine.OrderGraph, Cells: []engine.Cell{
			{Name: "a", Kind: engine.KindExpr, File: "a.expr", Source: "cells.b.value", Pos: pos("flow.yaml")},
			cell("b", engine.KindExpr, "cells.c.value"), cell("c", engine.KindExpr, "cells.a.value")}}, "cycle: a → b → c → a"},
		{"bad template", engine.Flow{Cells: []engine.Cell{cell("a", engine.KindShell, "echo ok\necho {{ 1 + }}")}}, "a.sh:2:"},
		{"unclosed", engine.Flow{Cells: []engine.Cell{cell("a", engine.KindShell, "echo {{ inputs")}}, "a.sh:1:"},
		{"bad if", engine.Flow{Cells: []engine.Cell{{Name: "a", Kind: engine.KindShell, File: "a.sh", If: "1 +", IfPos: engine.Pos{File: "flow.yaml", Line: 7, Col: 9}}}}, "flow.yaml:7:"},
		{"needs unknown", engine.Flow{Cells: []engine.Cell{{Name: "a", Kind: engine.KindShell, File: "a.sh", Needs: []string{"zz"}}}}, `needs unknown cell "zz"`},
		{"bad run field", engine.Flow{Cells: []engine.Cell{cell("a", engine.KindExpr, "run.nope")}}, "unknown field run.nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(&tc.flow)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSecretsMasked(t *testing.T) {
	t.Parallel()
	leak := func(ctx context.Context, req *executor.Request) (any, error) {
		req.Output.Lines(engine.StreamStdout, []string{"token " + req.Source, "b64 czNjcjN0LXZhbHVl", "url s3cr3t%2Fvalue%21"})
		return &engine.ShellResult{Stdout: req.Source, Outputs: map[string]any{"t": req.Source}}, fmt.Errorf("failed with %s", req.Source)
	}
	f := &engine.Flow{Cells: []engine.Cell{cell("a", engine.KindShell, "{{ raw(secrets.TOKEN) }}")}}
	_, rec := runFlow(t, f, leak, func(o *Options) {
		o.Secrets = map[string]string{"TOKEN": "s3cr3t-value", "OTHER": "s3cr3t/value!"}
	})
	for _, e := range rec.events {
		line := string(e.AppendJSON(nil))
		for _, bad := range []string{"s3cr3t", "czNjcjN0LXZhbHVl"} {
			if strings.Contains(line, bad) {
				t.Errorf("secret leaked in %s", line)
			}
		}
	}
	// A secret the flow references but nobody gave is an error before anything runs.
	p, _ := Compile(f)
	if _, err := p.Run(context.Background(), Options{}); err == nil || !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("missing secret: %v", err)
	}
}

func TestRunSubsetUsesPrior(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Cells: []engine.Cell{
		cell("a", engine.KindExpr, "40"),
		cell("b", engine.KindExpr, "cells.a.value + 2"),
	}}
	sum, rec := runFlow(t, f, ok, func(o *Options) {
		o.Cells = []string{"b"}
		o.Prior = map[string]any{"a": map[string]any{"value": 40}}
	})
	if sum.Status != engine.RunSucceeded || len(sum.Cells) != 1 {
		t.Fatalf("%+v", sum)
	}
	if got := string(rec.finished()["b"].Result); got != `{"value":42}` {
		t.Fatalf("b = %s", got)
	}
}

func TestInputs(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Inputs: []engine.Input{
		{Name: "n", Type: engine.InputNumber, Required: true},
		{Name: "flag", Type: engine.InputBoolean, Default: false},
		{Name: "day", Type: engine.InputDate},
		{Name: "env", Type: engine.InputSelect, Options: []string{"prod", "dev"}, Default: "dev"},
	}}
	got, errs := Inputs(f, map[string]any{"n": "3", "flag": "true", "day": "2025-01-31"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got["n"] != 3 || got["flag"] != true || got["day"] != "2025-01-31" || got["env"] != "dev" {
		t.Fatalf("%#v", got)
	}
	_, errs = Inputs(f, map[string]any{"n": "three", "day": "31/01/2025", "env": "qa", "zzz": "1"})
	msg := errs.Error()
	for _, want := range []string{`"three" is not a number`, "use YYYY-MM-DD", `"qa" is not one of the options`, `unknown input "zzz"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors %q lack %q", msg, want)
		}
	}
	if _, errs = Inputs(f, nil); len(errs) != 1 || !strings.Contains(errs[0].Msg, "n is required") {
		t.Errorf("required: %v", errs)
	}
}

// TestExprFromSecretIsSecret: an expression that reads a secret gives
// "***" (masking by value cannot know upper() of a secret), except a
// yes/no answer.
func TestExprFromSecretIsSecret(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Cells: []engine.Cell{
		cell("derived", engine.KindExpr, `upper(secrets.TOKEN) + "!"`),
		cell("set", engine.KindExpr, `secrets.TOKEN != ""`),
		cell("plain", engine.KindExpr, `"ok"`),
	}}
	_, rec := runFlow(t, f, ok, func(o *Options) { o.Secrets = map[string]string{"TOKEN": "s3cr3t-value"} })
	fin := rec.finished()
	for cell, want := range map[string]string{"derived": `{"value":"***"}`, "set": `{"value":true}`, "plain": `{"value":"ok"}`} {
		if got := string(fin[cell].Result); got != want {
			t.Errorf("%s = %s; want %s", cell, got, want)
		}
	}
}

// TestShellEnvValues: a cell's env values from templates reach bash as
// data too. One that the script evaluates (arithmetic) must be a number
// when the cell runs; one that it runs as code (eval, PS4) is refused when
// the flow is checked. Real bash; no marker file appears.
func TestShellEnvValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	marker := dir + "/pwned"
	envCell := func(src, name, value string) engine.Cell {
		c := cell("a", engine.KindShell, src)
		c.Env = []engine.EnvVar{{Name: name, Value: value, Pos: engine.Pos{File: "flow.yaml", Line: 9, Col: 12}}}
		return c
	}
	flow := func(c engine.Cell) *engine.Flow {
		return &engine.Flow{Inputs: []engine.Input{{Name: "n", Type: engine.InputString}}, Cells: []engine.Cell{c}}
	}
	for _, tc := range []struct {
		src, name string
		want      string // part of the compile error
	}{
		{"eval \"$CMD\"", "CMD", "runs as code"},
		{"x=$CMD; bash -c \"$x\"", "CMD", "through $x"},
		{"set -x; :", "PS4", "prompt"},
	} {
		_, err := Compile(flow(envCell(tc.src, tc.name, "{{ inputs.n }}")))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "flow.yaml:9:12") {
			t.Errorf("%q with env %s: %v; want an error with %q", tc.src, tc.name, err, tc.want)
		}
	}
	f := flow(envCell("n=0; for ((i=0; i<COUNT; i++)); do n=$((n+1)); done; echo \"count $n\"", "COUNT", "{{ inputs.n }}"))
	for _, tc := range []struct {
		value, want string
	}{
		{"a[$(touch " + marker + ")]", "only a whole number"},
		{"3", "count 3"},
	} {
		p, err := Compile(f)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		_, err = p.Run(context.Background(), Options{
			ID: "r_env", Flow: "env", Sink: rec, Dir: t.TempDir(), TempDir: t.TempDir(), Inputs: map[string]any{"n": tc.value},
			Executors: map[engine.Kind]executor.Executor{engine.KindShell: executor.Shell{}},
		})
		if err != nil {
			t.Fatal(err)
		}
		got := rec.finished()["a"].Error
		for _, e := range rec.events {
			got += strings.Join(e.Lines, "\n")
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("COUNT=%q: %q; want %q", tc.value, got, tc.want)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("an env value ran as code")
	}
}

// An http cell runs through the real executor: an answer it does not
// accept fails the attempt (and is retried), and later cells still see
// what a failed call answered; the body is in the result, not in the log
// or the error, so a page shows it once.
func TestHTTPStatusFailsAndRetries(t *testing.T) {
	t.Parallel()
	var flakyCalls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /flaky", func(w http.ResponseWriter, r *http.Request) {
		if flakyCalls.Add(1) == 1 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ready")
	})
	mux.HandleFunc("GET /missing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Reason", "gone")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error": "no such order"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	f := &engine.Flow{Cells: []engine.Cell{
		cell("warm", engine.KindHTTP, "GET "+srv.URL+"/flaky\n"),
		cell("lookup", engine.KindHTTP, "GET "+srv.URL+"/missing\n"),
		cell("seen", engine.KindExpr, `{"status": cells.lookup.status, "error": cells.lookup.body.error, "reason": cells.lookup.headers["X-Reason"]}`),
		cell("tolerant", engine.KindHTTP, "GET "+srv.URL+"/missing\n"),
	}}
	f.Cells[0].Retries = 2
	f.Cells[1].ContinueOnError = true
	f.Cells[3].ExpectStatus = []string{"2xx", "404"}
	sum, rec := runFlow(t, f, ok, func(o *Options) {
		o.Executors[engine.KindHTTP] = executor.HTTP{}
	})
	var got []string
	for _, c := range sum.Cells {
		got = append(got, fmt.Sprintf("%s %s %d", c.Name, c.Status, c.Attempts))
	}
	if want := "warm succeeded 2,lookup failed 1,seen succeeded 1,tolerant succeeded 1"; strings.Join(got, ",") != want {
		t.Fatalf("cells %v; want %s", got, want)
	}
	if sum.Status != engine.RunSucceeded {
		t.Errorf("run %s; want succeeded (lookup may fail)", sum.Status)
	}
	if e := sum.Cells[1].Error; !strings.Contains(e, "answered 404 Not Found; the cell expects 2xx") {
		t.Errorf("lookup's error %q", e)
	}
	fin := rec.finished()
	var seen struct{ Value map[string]any }
	if err := json.Unmarshal(fin["seen"].Result, &seen); err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"status": float64(404), "error": "no such order", "reason": "gone"}; fmt.Sprint(seen.Value) != fmt.Sprint(want) {
		t.Errorf("a later cell sees %v of the failed call; want %v", seen.Value, want)
	}
	// The body once: in the failed cell's result, not in its log or error.
	if !strings.Contains(string(fin["lookup"].Result), "no such order") {
		t.Errorf("lookup's result %s lacks the body", fin["lookup"].Result)
	}
	if strings.Contains(fin["lookup"].Error, "no such order") {
		t.Errorf("lookup's error repeats the body: %q", fin["lookup"].Error)
	}
	for _, e := range rec.events {
		if e.Type == engine.EventCellLog && e.Cell == "lookup" {
			for _, l := range e.Lines {
				if strings.Contains(l, "no such order") {
					t.Errorf("lookup's log repeats the body: %q", l)
				}
			}
		}
	}
	if n := flakyCalls.Load(); n != 2 {
		t.Errorf("warm was called %d times; want 2 (a 503, then a 200)", n)
	}
}
