package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
	"github.com/opsbook/opsbook/engine/expr"
	"github.com/opsbook/opsbook/engine/logattr"
)

// Sink receives a run's events in seq order, one call at a time. It must
// not keep e after returning unless it copies it, and must not block for
// long: the run waits for it.
type Sink interface {
	Emit(e *engine.Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(e *engine.Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e *engine.Event) { f(e) }

// Options are the particulars of one run of a plan.
type Options struct {
	ID      string // run id, e.g. r_…
	Flow    string // the flow's slug or folder name
	Version int    // 0 for a draft or a folder
	Hash    string // content hash the run is pinned to
	Inputs  map[string]any
	Secrets map[string]string
	// MaskAlso are more values masked in every log line, result and error,
	// though no cell is given them (a workspace's other secrets).
	MaskAlso []string
	// Dir is the working directory the cells share; TempDir is private to
	// the run. Both must exist.
	Dir     string
	TempDir string
	// Executors run the kinds that start processes or do I/O.
	Executors map[engine.Kind]executor.Executor
	Sink      Sink
	// Parallel bounds the cells running at once in graph order
	// (default 2×GOMAXPROCS, at least 4).
	Parallel int
	// Cells, when set, runs only these cells; the others' results come
	// from Prior (a notebook's state from earlier runs).
	Cells []string
	Prior map[string]any
	// DefaultTimeout bounds an attempt of a cell that sets no timeout of
	// its own (0: no bound, as `opsbook run` on a workstation).
	DefaultTimeout time.Duration
	// PlaceByLine says where in a cell's own source an error is as "line
	// L, column C" rather than file:line:col (and drops flow.yaml from
	// errors in its options): the studio shows cells, not the files
	// behind them. `opsbook run` keeps the files.
	PlaceByLine bool
	// Approver decides approval cells; without one they fail.
	Approver Approver
	// Resume continues a run that waited (ErrWaiting): its events go on
	// after FirstSeq, and it does not start again: it sends run.resumed,
	// not run.started.
	Resume   bool
	FirstSeq int64
	// Asked are the approval cells that asked already, in an earlier part
	// of this run: their message is in the log, and is not shown again.
	Asked map[string]bool
	// MaxCellLog bounds the log kept of one cell (0: no bound). Past it
	// the lines in between are dropped, counted, and said; the head and
	// the last TailLines lines of each stream (together at most a quarter
	// of the bound, up to 1 MiB) are always kept, so the end of a loud
	// cell — its error — is never lost.
	MaxCellLog int64
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// TailLines is how many of a cell's last log lines of each stream are kept
// past Options.MaxCellLog.
const TailLines = 1000

// CellSummary is a cell's final state.
type CellSummary struct {
	Name     string
	Status   engine.CellStatus
	Attempts int
	Duration time.Duration
	Error    string
}

// Summary is a run's final state.
type Summary struct {
	Status   engine.RunStatus
	Error    string
	Duration time.Duration
	Cells    []CellSummary
}

// Run executes the plan. It returns an error, before emitting anything,
// when the run cannot start (a missing secret, an unknown cell in
// Options.Cells); otherwise every scheduled cell ends with a final status
// and the last event is run.finished, unless an approval cell waits
// (ErrWaiting): then the run's Summary.Status is waiting, the cells that
// could not go on stay pending, and there is no run.finished. Cancel ctx with cause
// engine.ErrCanceled to cancel the run.
func (p *Plan) Run(ctx context.Context, o Options) (Summary, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sink == nil {
		o.Sink = SinkFunc(func(*engine.Event) {})
	}
	if o.Parallel <= 0 {
		o.Parallel = max(4, 2*runtime.GOMAXPROCS(0))
	}
	var missing []string
	for _, name := range p.Secrets() {
		if _, ok := o.Secrets[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return Summary{}, fmt.Errorf("%w: secret %s is not set; give it with --secret %s=… or the variable OPSBOOK_SECRET_%s", engine.ErrInvalid, strings.Join(missing, ", "), missing[0], missing[0])
	}
	scheduled := make([]bool, len(p.cells))
	if o.Cells == nil {
		for i := range scheduled {
			scheduled[i] = true
		}
	} else {
		for _, name := range o.Cells {
			i, ok := p.index[name]
			if !ok {
				return Summary{}, fmt.Errorf("%w: unknown cell %q", engine.ErrInvalid, name)
			}
			scheduled[i] = true
		}
	}
	for i, on := range scheduled {
		if on && !p.checked(i) {
			// Its problems were not looked at (CompileCells).
			return Summary{}, fmt.Errorf("%w: cell %s was not checked for this run", engine.ErrInvalid, p.cells[i].cell.Name)
		}
	}
	secretValues := make([]string, 0, len(o.Secrets))
	for _, v := range o.Secrets {
		secretValues = append(secretValues, v)
	}
	secretValues = append(secretValues, o.MaskAlso...)
	r := &runner{
		p:         p,
		o:         o,
		seq:       max(o.FirstSeq, 0),
		masker:    NewMasker(secretValues),
		scheduled: scheduled,
		results:   make([]any, len(p.cells)),
		status:    make([]CellSummary, len(p.cells)),
		done:      make([]chan struct{}, len(p.cells)),
	}
	for i, s := range p.cells {
		r.status[i] = CellSummary{Name: s.cell.Name, Status: engine.CellPending}
		r.done[i] = make(chan struct{})
		if !scheduled[i] {
			if v, ok := o.Prior[s.cell.Name]; ok {
				r.results[i] = v
			}
			close(r.done[i])
		}
	}
	return r.run(ctx), nil
}

type runner struct {
	p         *Plan
	o         Options
	masker    *Masker
	scheduled []bool
	start     time.Time
	info      engine.RunInfo

	emitMu sync.Mutex
	seq    int64

	mu      sync.Mutex // guards results, status and waiting
	waiting bool       // a cell waits for people: the run stops, unfinished
	results []any
	status  []CellSummary
	done    []chan struct{}
}

func (r *runner) emit(e *engine.Event) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock() // a panicking Sink must not leave the run locked
	r.seq++
	e.Seq = r.seq
	e.Run = r.o.ID
	e.At = r.o.Now()
	r.o.Sink.Emit(e)
}

// emitSafe emits e where no cell can take the blame for a panicking Sink
// (run.started, run.finished, a cell.finished written after a panic): the
// panic is logged with its stack and the run goes on.
func (r *runner) emitSafe(e *engine.Event) {
	defer func() {
		if v := recover(); v != nil {
			r.logPanic(e.Cell, "handling the run's events", v)
		}
	}()
	r.emit(e)
}

// logPanic logs a recovered panic with its stack, as River's job executor
// does, and returns the error the cell fails with: a bug of Opsbook, not of
// the cell, so it is never retried.
func (r *runner) logPanic(cell, what string, v any) error {
	msg := r.masker.String(fmt.Sprint(v))
	args := []any{logattr.Run(r.o.ID), "panic", msg, "stack", string(debug.Stack())}
	if cell != "" {
		args = append(args, logattr.Cell(cell))
	}
	r.o.Logger.Error(what+" panicked; this is a bug in Opsbook", args...)
	return fmt.Errorf("%w: %s panicked: %s; this is a bug in Opsbook, not in the cell (its stack is in the log)", errNoRetry, what, msg)
}

func (r *runner) run(ctx context.Context) Summary {
	r.start = r.o.Now()
	r.info = engine.RunInfo{ID: r.o.ID, Flow: r.o.Flow, Version: r.o.Version, StartedAt: r.start.UTC().Format(time.RFC3339)}
	var names []string
	for i, s := range r.p.cells {
		if r.scheduled[i] {
			names = append(names, s.cell.Name)
		}
	}
	if names == nil {
		names = []string{}
	}
	if !r.o.Resume {
		r.emitSafe(&engine.Event{Type: engine.EventRunStarted, Flow: r.o.Flow, Version: r.o.Version, Hash: r.o.Hash, Inputs: r.o.Inputs, Cells: names})
	} else {
		// Whoever watches the run sees it going again.
		r.emitSafe(&engine.Event{Type: engine.EventRunResumed, Status: string(engine.RunRunning)})
	}

	if r.p.Flow.EffectiveOrder() == engine.OrderGraph {
		r.runGraph(ctx)
	} else {
		r.runNotebook(ctx)
	}

	sum := Summary{Duration: r.o.Now().Sub(r.start), Status: engine.RunSucceeded}
	r.mu.Lock()
	for i, c := range r.status {
		if !r.scheduled[i] {
			continue
		}
		sum.Cells = append(sum.Cells, c)
		cell := r.p.cells[i].cell
		switch {
		case c.Status == engine.CellCanceled && sum.Status != engine.RunFailed:
			sum.Status = engine.RunCanceled
			if sum.Error == "" {
				sum.Error = "canceled"
			}
		case c.Status == engine.CellFailed && !cell.ContinueOnError:
			sum.Status = engine.RunFailed
			if !strings.HasPrefix(sum.Error, "cell ") {
				sum.Error = "cell " + c.Name + ": " + c.Error
			}
		}
	}
	waiting := r.waiting
	r.mu.Unlock()
	if waiting && sum.Status == engine.RunSucceeded {
		// Nothing failed or was canceled meanwhile: the run waits, and
		// its end is for the part that runs after the decision.
		sum.Status = engine.RunWaiting
		return sum
	}
	if sum.Status == engine.RunCanceled && context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), engine.ErrCanceled) {
		sum.Error = "canceled: " + context.Cause(ctx).Error()
	}
	r.emitSafe(&engine.Event{Type: engine.EventRunFinished, Status: string(sum.Status), DurationMS: sum.Duration.Milliseconds(), Error: r.masker.String(sum.Error)})
	return sum
}

func (r *runner) runNotebook(ctx context.Context) {
	stopped := false // a cell failed without continue_on_error
	for i, s := range r.p.cells {
		if !r.scheduled[i] {
			continue
		}
		st := r.notebookCell(ctx, s, stopped)
		if st == engine.CellFailed && !s.cell.ContinueOnError {
			stopped = true
		}
		close(r.done[i])
		if st == engine.CellWaiting {
			// The cells below wait, pending, for the decision.
			return
		}
	}
}

func (r *runner) notebookCell(ctx context.Context, s *step, stopped bool) (st engine.CellStatus) {
	defer r.recoverCell(s.index, &st)
	switch {
	case ctx.Err() != nil:
		r.finish(s.index, engine.CellCanceled, 0, 0, nil, "run canceled before the cell started")
		return engine.CellCanceled
	case stopped:
		r.finish(s.index, engine.CellSkipped, 0, 0, nil, "an earlier cell failed")
		return engine.CellSkipped
	default:
		return r.runCell(ctx, s)
	}
}

func (r *runner) runGraph(ctx context.Context) {
	sem := make(chan struct{}, r.o.Parallel)
	var wg sync.WaitGroup
	for i, s := range r.p.cells {
		if !r.scheduled[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(r.done[i])
			defer r.recoverCell(i, nil)
			for _, d := range s.deps {
				select {
				case <-r.done[d]:
				case <-ctx.Done():
				}
			}
			if ctx.Err() != nil {
				r.finish(i, engine.CellCanceled, 0, 0, nil, "run canceled before the cell started")
				return
			}
			r.mu.Lock()
			var blocked string
			for _, d := range s.deps {
				st := r.status[d].Status
				if !r.scheduled[d] {
					continue
				}
				if st == engine.CellCanceled || (st == engine.CellFailed && !r.p.cells[d].cell.ContinueOnError) {
					blocked = r.p.cells[d].cell.Name
					break
				}
				if st == engine.CellWaiting || st == engine.CellPending {
					// It waits for a decision, or comes after one that
					// does: this cell stays pending, for the resumed run.
					blocked = "\x00"
				}
			}
			r.mu.Unlock()
			if blocked == "\x00" {
				return
			}
			if blocked != "" {
				r.finish(i, engine.CellSkipped, 0, 0, nil, "cell "+blocked+" did not succeed")
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				r.finish(i, engine.CellCanceled, 0, 0, nil, "run canceled before the cell started")
				return
			}
			defer func() { <-sem }()
			r.runCell(ctx, s)
		}()
	}
	wg.Wait()
}

// env is what the cell's expressions see: only the cells it references.
func (r *runner) env(s *step) expr.Env {
	cells := make(map[string]any, len(s.refs))
	r.mu.Lock()
	for _, j := range s.refs {
		cells[r.p.cells[j].cell.Name] = r.results[j]
	}
	r.mu.Unlock()
	var secrets map[string]string
	if len(s.secrets) > 0 {
		secrets = make(map[string]string, len(s.secrets))
		for _, n := range s.secrets {
			secrets[n] = r.o.Secrets[n]
		}
	}
	return expr.NewEnv(r.o.Inputs, cells, secrets, r.info)
}

// finish records a cell's final state and emits cell.finished.
func (r *runner) finish(i int, st engine.CellStatus, attempts int, d time.Duration, result any, msg string) {
	var raw json.RawMessage
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			b, _ = json.Marshal(map[string]string{"error": "result is not JSON: " + err.Error()})
		}
		if r.masker.Active() {
			masked := r.masker.String(string(b))
			if masked != string(b) {
				var v any
				if json.Unmarshal([]byte(masked), &v) == nil {
					result = v
				}
				b = []byte(masked)
			}
		}
		raw = b
	}
	msg = r.masker.String(msg)
	r.mu.Lock()
	r.results[i] = result
	r.status[i] = CellSummary{Name: r.p.cells[i].cell.Name, Status: st, Attempts: attempts, Duration: d, Error: msg}
	r.mu.Unlock()
	e := &engine.Event{Type: engine.EventCellFinished, Cell: r.p.cells[i].cell.Name, Status: string(st), Attempts: attempts, DurationMS: d.Milliseconds(), Result: raw}
	if st != engine.CellSucceeded {
		e.Error = msg
	}
	r.emit(e)
}

type cellOutput struct {
	r    *runner
	cell string

	mu      sync.Mutex
	used    int64 // bytes of log emitted, against Options.MaxCellLog
	past    bool  // the bound was reached: lines go to the tails
	arrived int64 // lines held so far, to merge the tails in order
	// One tail per stream: a flood on stdout after an error must not push
	// the error out.
	tails     [2]tailRing
	dropped   int // lines past the bound no longer in a tail
	dropBytes int64
}

// tailLine is a line held past the bound.
type tailLine struct {
	n      int64 // its place among the held lines
	stream string
	text   string
}

// tailRing holds the last TailLines lines of one stream.
type tailRing struct {
	lines   []tailLine
	head, n int // the oldest entry, and how many it holds
	bytes   int64
}

func (t *tailRing) at(i int) *tailLine { return &t.lines[(t.head+i)%len(t.lines)] }

// push adds l, and drops the oldest lines beyond TailLines or budget
// bytes, returning how many and their size.
func (t *tailRing) push(l tailLine, budget int64) (dropped int, bytes int64) {
	if t.lines == nil {
		t.lines = make([]tailLine, TailLines)
	}
	if t.n == len(t.lines) {
		bytes += t.pop()
		dropped++
	}
	*t.at(t.n) = l
	t.n++
	t.bytes += int64(len(l.text)) + 1
	for t.bytes > budget {
		bytes += t.pop()
		dropped++
	}
	return dropped, bytes
}

// pop drops the oldest line and returns its size.
func (t *tailRing) pop() int64 {
	l := t.at(0)
	size := int64(len(l.text)) + 1
	t.bytes -= size
	*l = tailLine{}
	t.head = (t.head + 1) % len(t.lines)
	t.n--
	return size
}

func (o *cellOutput) Lines(stream string, lines []string) {
	if len(lines) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if max := o.r.o.MaxCellLog; max > 0 {
		kept := 0
		for kept < len(lines) && !o.past {
			if n := int64(len(lines[kept])) + 1; o.used+n <= max {
				o.used += n
				kept++
			} else {
				o.past = true
			}
		}
		// Past the bound, lines are held as they came: masked only if
		// they are emitted, at the end.
		for _, l := range lines[kept:] {
			o.hold(stream, l)
		}
		lines = lines[:kept]
		if len(lines) == 0 {
			return
		}
	}
	o.r.emit(&engine.Event{Type: engine.EventCellLog, Cell: o.cell, Stream: stream, Lines: o.r.masker.Lines(lines)})
}

// hold keeps l among the last lines of its stream past the bound, each
// stream's tail bounded by TailLines and half of the tails' byte budget.
func (o *cellOutput) hold(stream, l string) {
	budget := max(min(o.r.o.MaxCellLog/4, 1<<20)/2, 1)
	if int64(len(l))+1 > budget {
		// One huge line keeps its start, masked before the cut (a secret
		// cut in two would not be recognised).
		m := o.r.masker.String(l)
		l = strings.Clone(m[:max(min(int64(len(m)), budget-1), 0)])
	}
	o.arrived++
	t := &o.tails[0]
	if stream == engine.StreamStderr {
		t = &o.tails[1]
	}
	n, size := t.push(tailLine{o.arrived, stream, l}, budget)
	o.dropped += n
	o.dropBytes += size
}

// flush emits what was held past the bound, when the cell ends: a line
// that says how much was dropped, then the tails' lines in the order they
// came, a cell.log event per run of one stream.
func (o *cellOutput) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	out, errs := &o.tails[0], &o.tails[1]
	if out.n == 0 && errs.n == 0 && o.dropped == 0 {
		return
	}
	if o.dropped > 0 {
		o.r.emit(&engine.Event{Type: engine.EventCellLog, Cell: o.cell, Stream: engine.StreamStderr, Lines: []string{fmt.Sprintf(
			"… %d lines (%s) not kept: a cell keeps %s of log, then its last lines",
			o.dropped, engine.FormatBytes(o.dropBytes), engine.FormatBytes(o.r.o.MaxCellLog))}})
	}
	i, j := 0, 0
	next := func() *tailLine {
		switch {
		case i < out.n && (j >= errs.n || out.at(i).n < errs.at(j).n):
			i++
			return out.at(i - 1)
		case j < errs.n:
			j++
			return errs.at(j - 1)
		}
		return nil
	}
	var ls []string
	stream := ""
	for l := next(); l != nil; l = next() {
		if l.stream != stream && len(ls) > 0 {
			o.r.emit(&engine.Event{Type: engine.EventCellLog, Cell: o.cell, Stream: stream, Lines: o.r.masker.Lines(ls)})
			ls = nil
		}
		stream = l.stream
		ls = append(ls, l.text)
	}
	if len(ls) > 0 {
		o.r.emit(&engine.Event{Type: engine.EventCellLog, Cell: o.cell, Stream: stream, Lines: o.r.masker.Lines(ls)})
	}
	o.tails, o.dropped, o.dropBytes = [2]tailRing{}, 0, 0
}

func (o *cellOutput) line(stream, s string) { o.Lines(stream, []string{s}) }

// runCell runs one cell through its condition and attempts and emits its
// events. It returns the final status.
func (r *runner) runCell(ctx context.Context, s *step) engine.CellStatus {
	c := s.cell
	start := r.o.Now()
	env := r.env(s)
	if s.cond != nil {
		ok, err := s.cond.EvalBool(env)
		if err != nil {
			r.finish(s.index, engine.CellFailed, 0, 0, nil, "if: "+r.describe(c, err))
			return engine.CellFailed
		}
		if !ok {
			r.finish(s.index, engine.CellSkipped, 0, 0, nil, "if: "+strings.TrimSpace(c.If)+" is false")
			return engine.CellSkipped
		}
	}
	if c.Kind == engine.KindApproval {
		return r.approve(ctx, s, env)
	}
	if c.Kind == engine.KindMarkdown {
		text, _, err := s.source.Render(env)
		if err != nil {
			text = c.Source // a note stays readable when a value is missing
		}
		r.finish(s.index, engine.CellSucceeded, 0, 0, &engine.MarkdownResult{Text: text}, "")
		return engine.CellSucceeded
	}
	out := &cellOutput{r: r, cell: c.Name}
	attempts := 1 + max(c.Retries, 0)
	var (
		result any
		err    error
		n      int
	)
	for n = 1; n <= attempts; n++ {
		r.emit(&engine.Event{Type: engine.EventCellStarted, Cell: c.Name, Attempt: n})
		result, err = r.attempt(ctx, s, env, n, out)
		if err == nil || ctx.Err() != nil || errors.Is(err, errNoRetry) {
			break
		}
		if n < attempts {
			msg := fmt.Sprintf("attempt %d of %d failed: %v", n, attempts, err)
			if c.RetryDelay > 0 {
				msg += fmt.Sprintf("; retrying in %s", c.RetryDelay)
			}
			out.line(engine.StreamStderr, msg)
			if c.RetryDelay > 0 {
				t := time.NewTimer(c.RetryDelay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	n = min(n, attempts)
	out.flush()
	d := r.o.Now().Sub(start)
	switch {
	case err == nil:
		r.finish(s.index, engine.CellSucceeded, n, d, result, "")
		return engine.CellSucceeded
	case ctx.Err() != nil:
		msg := "canceled"
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, engine.ErrCanceled) {
			msg = "canceled: " + cause.Error()
		}
		r.finish(s.index, engine.CellCanceled, n, d, result, msg)
		return engine.CellCanceled
	default:
		r.finish(s.index, engine.CellFailed, n, d, result, r.describe(c, err))
		return engine.CellFailed
	}
}

// describe is the message of a cell's error, placed as Options.PlaceByLine
// says.
func (r *runner) describe(c *engine.Cell, err error) string {
	msg := strings.TrimPrefix(err.Error(), errNoRetry.Error()+": ")
	var e *engine.Error
	if !r.o.PlaceByLine || !errors.As(err, &e) || e.Pos.File == "" {
		return msg
	}
	var where string
	switch {
	case e.Pos.File == c.File && e.Pos.Line > 0:
		where = fmt.Sprintf("line %d, column %d: ", e.Pos.Line, e.Pos.Col)
	case e.Pos.File == "flow.yaml":
		// if and env: what the studio's options panel edits.
	default:
		return msg
	}
	return strings.Replace(msg, e.Error(), where+e.Msg, 1)
}

// recoverCell, deferred where cell i runs, turns a panic that escapes it
// (a Sink that panics on cell.started, a bug in the runner) into a failed
// cell, so the run goes on as for any failed cell and every cell ends with
// a final status; st, when not nil, gets the cell's status. Panics of the
// executor and of its output are caught closer, in attempt.
func (r *runner) recoverCell(i int, st *engine.CellStatus) {
	v := recover()
	if v == nil {
		return
	}
	err := r.logPanic(r.p.cells[i].cell.Name, "running the cell", v)
	r.mu.Lock()
	final := r.status[i].Status
	r.mu.Unlock()
	if !final.Done() {
		final = engine.CellFailed
		r.finishSafe(i, final, err)
	}
	if st != nil {
		*st = final
	}
}

// finishSafe ends a cell as failed after a panic, without a second panic
// from the Sink.
func (r *runner) finishSafe(i int, st engine.CellStatus, err error) {
	msg := strings.TrimPrefix(err.Error(), errNoRetry.Error()+": ")
	defer func() {
		if v := recover(); v != nil {
			r.logPanic(r.p.cells[i].cell.Name, "handling the run's events", v)
		}
	}()
	r.finish(i, st, 0, 0, nil, msg)
}

// errNoRetry marks failures that another attempt cannot fix, such as a
// template that does not render.
var errNoRetry = errors.New("no retry")

func (r *runner) attempt(ctx context.Context, s *step, env expr.Env, n int, out *cellOutput) (any, error) {
	c := s.cell
	if c.Kind == engine.KindExpr {
		if s.value == nil {
			return &engine.ExprResult{}, nil
		}
		v, err := s.value.Eval(env)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errNoRetry, err)
		}
		if len(s.secrets) > 0 {
			// A value computed from a secret (upper(), a slice, a hash…)
			// is a secret too, which masking by value cannot recognise:
			// only a yes/no answer is shown as it is.
			if _, ok := v.(bool); !ok {
				v = "***"
			}
		}
		return &engine.ExprResult{Value: v}, nil
	}
	ex := r.o.Executors[c.Kind]
	if ex == nil {
		return nil, fmt.Errorf("%w: no executor for %s cells here", errNoRetry, c.Kind)
	}
	src, params, err := s.source.Render(env)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoRetry, err)
	}
	var vars []string
	for _, e := range s.env {
		v, _, err := e.tmpl.Render(env)
		if err != nil {
			return nil, fmt.Errorf("%w: env %s: %w", errNoRetry, e.name, err)
		}
		if e.number && !expr.IsShellNumber(v) {
			return nil, fmt.Errorf("%w: env %s: the value %.40q stands where bash evaluates text: %s; only a whole number may stand there", errNoRetry, e.name, v, e.why)
		}
		vars = append(vars, e.name+"="+v)
	}
	if c.Kind == engine.KindShell {
		// A shell script reads its values from the environment
		// (OPSBOOK_VALUE_n=…): they never become part of its code.
		for _, p := range params {
			vars = append(vars, p.(string))
		}
		params = nil
	}
	actx := ctx
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = r.o.DefaultTimeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("timed out after %s", timeout))
		defer cancel()
	}
	// A panic while handling the cell's output (often on a goroutine the
	// executor started) stops the attempt through pctx and fails it.
	pctx, stop := context.WithCancelCause(actx)
	defer stop(nil)
	aout := &attemptOutput{out: out, stop: stop}
	req := &executor.Request{
		Cell: c, Run: r.info, Attempt: n, Source: src, Params: params,
		Env: vars, Dir: r.o.Dir, TempDir: r.o.TempDir, Output: aout,
	}
	res, err := r.execute(pctx, ex, req)
	if perr := aout.panicked(); perr != nil {
		return nil, perr
	}
	if err != nil && actx.Err() != nil && ctx.Err() == nil {
		// The cell's own timeout, not a cancel of the run: retryable.
		err = context.Cause(actx)
	}
	return res, err
}

// execute calls the executor and turns its panic into the cell's error.
// A panic on a goroutine the executor starts itself is out of reach here:
// an executor must recover on its own goroutines (or, like the process
// executor's pumps, only call Output there, which is guarded).
func (r *runner) execute(ctx context.Context, ex executor.Executor, req *executor.Request) (res any, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = nil, r.logPanic(req.Cell.Name, "the cell's "+string(req.Cell.Kind)+" executor", v)
		}
	}()
	return ex.Execute(ctx, req)
}

// attemptOutput is the Output of one attempt: it recovers a panic while
// handling the cell's lines (masking, the Sink), logs it once, and stops
// the attempt, which then fails with that panic.
type attemptOutput struct {
	out  *cellOutput
	stop context.CancelCauseFunc

	mu  sync.Mutex
	err error // the first panic
}

func (a *attemptOutput) Lines(stream string, lines []string) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.err == nil {
			a.err = a.out.r.logPanic(a.out.cell, "handling the cell's output", v)
			a.stop(a.err)
		}
	}()
	a.out.Lines(stream, lines)
}

func (a *attemptOutput) panicked() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Statuses returns the final status of each cell by name, for tests and
// callers that only need the outcome.
func (s Summary) Statuses() map[string]engine.CellStatus {
	m := make(map[string]engine.CellStatus, len(s.Cells))
	for _, c := range s.Cells {
		m[c.Name] = c.Status
	}
	return m
}
