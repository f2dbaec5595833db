// Package worker executes runs claimed from the queue: it holds each with a
// lease it heartbeats, starts its cells (in a sandbox), stores its events in
// batches and hands them to live viewers in this process. It knows nothing
// of HTTP: `opsbook serve` and `opsbook worker` both run it.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/executor"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/scratch"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
)

// Live receives, in this process, the events of the runs it executes, as
// they happen (before they are stored): the studio's hub. json is the
// event as one line of JSON, shared: never modify it.
type Live interface {
	Event(runID, flowID string, e *engine.Event, json []byte)
	// Ended: the run is over and everything about it is stored; status is
	// its final status ("" when this process could not tell).
	Ended(runID, flowID string, status engine.RunStatus)
}

// Observer is told how the runs and cells executed in this process ended:
// the metrics (engine/metrics). Its methods must not block for long; they
// are called on the run's goroutine.
type Observer interface {
	// RunEnded: status is the run's final status as stored; d is from its
	// claim here to its end. A run that stops to wait for an approval has
	// not ended: it is told of once, by the worker that ends it (d then
	// counts from that worker's claim, not the wait).
	RunEnded(workspaceID, flowID string, status engine.RunStatus, d time.Duration)
	// CellEnded: one cell.finished event (after its retries).
	CellEnded(kind engine.Kind, status string, d time.Duration)
}

// The bounds of one cell when Config sets none (serve's and worker's
// --cell-timeout and --max-cell-log).
const (
	DefaultCellTimeout = 2 * time.Hour
	DefaultMaxCellLog  = 100 << 20
)

// Config is what a Pool needs.
type Config struct {
	Store *store.Store
	Box   *secret.Box // nil: runs of workspaces with secrets fail, saying why
	// ID names this process in the runs it holds (worker column); made
	// from the host name and pid when empty.
	ID string
	// DataDir holds the workspaces' scratch databases (and, without a
	// sandbox, the file of the cells' process groups).
	DataDir string
	// RunDir holds the runs' working directories, outside DataDir; ""
	// means os.TempDir()/opsbook-runs.
	RunDir  string
	Sandbox *sandbox.Config // nil: cells run without a sandbox
	Live    Live            // nil: nobody watches in this process
	Observe Observer        // nil: nobody counts runs and cells
	// OnWait, when set, is called when a run has stopped to wait for an
	// approval and holds no worker any more (the waiting notifications).
	OnWait func(ctx context.Context, runID string)
	Log    *slog.Logger

	// Clock is what approval deadlines are set by (default the real
	// clock); SweepApprovals must be given the same.
	Clock clock.Clock
	// Lease is how long a run is held without a heartbeat (default 20s);
	// heartbeats go every Lease/4.
	Lease time.Duration
	// DefaultCellTimeout bounds an attempt of a cell that sets no timeout
	// (default 2h), so no one (a form's visitor included) starts endless work.
	DefaultCellTimeout time.Duration
	// MaxCellLog bounds the log stored for one cell of one run (default
	// 100 MiB): past it the middle is dropped and counted, and the cell's
	// last lines are kept (run.Options.MaxCellLog).
	MaxCellLog int64
	// FlushEvery is how often a run's events are stored (default 25ms).
	FlushEvery time.Duration
	// Executors replace or add executors by cell kind (tests inject
	// failures through it).
	Executors map[engine.Kind]executor.Executor
	// Scratch gives runs their workspace's scratch database; nil:
	// scratch.For(Store, DataDir) (a file here on SQLite, the copy kept in
	// the database on PostgreSQL, the same for every worker).
	Scratch scratch.Provider
}

// Pool executes runs in this process, any number at once (the queue bounds
// how many it hands over).
type Pool struct {
	cfg    Config
	st     *store.Store
	log    *slog.Logger
	groups *sandbox.Groups // without a sandbox: the cells' groups, for the next start

	mu     sync.Mutex
	active map[string]*activeRun
	wg     sync.WaitGroup
	closed bool

	stop     context.CancelFunc
	loops    sync.WaitGroup
	stopOnce sync.Once
}

// New returns a pool; Start begins its heartbeats.
func New(cfg Config) *Pool {
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), store.NewID("")[1:9])
	}
	if cfg.RunDir == "" {
		cfg.RunDir = filepath.Join(os.TempDir(), "opsbook-runs")
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 20 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.DefaultCellTimeout <= 0 {
		cfg.DefaultCellTimeout = DefaultCellTimeout
	}
	if cfg.MaxCellLog <= 0 {
		cfg.MaxCellLog = DefaultMaxCellLog
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 25 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Scratch == nil {
		cfg.Scratch = scratch.For(cfg.Store, cfg.DataDir, cfg.Log)
	}
	p := &Pool{cfg: cfg, st: cfg.Store, log: cfg.Log, active: map[string]*activeRun{}}
	if cfg.Sandbox == nil && cfg.DataDir != "" {
		p.groups = sandbox.NewGroups(OrphansFile(cfg.DataDir))
	}
	return p
}

// OrphansFile is where a process without a sandbox records its cells'
// process groups (sandbox.KillOrphans reads it at the next start).
func OrphansFile(dataDir string) string { return filepath.Join(dataDir, "cell-groups") }

// ID is the name this pool holds runs under.
func (p *Pool) ID() string { return p.cfg.ID }

// Start begins heartbeating the pool's runs and, on PostgreSQL, listening
// for cancels from other processes. Stop ends both.
func (p *Pool) Start(ctx context.Context) {
	ctx, p.stop = context.WithCancel(context.WithoutCancel(ctx))
	p.loops.Add(2)
	go func() {
		defer p.loops.Done()
		p.heartbeat(ctx)
	}()
	go func() {
		defer p.loops.Done()
		p.st.Listen(ctx, []string{store.ChannelCancel}, nil, func(n store.Notice) {
			p.Cancel(strings.TrimSpace(n.Payload), engine.ErrCanceled)
		})
	}()
}

// heartbeat renews the leases of the runs held here every Lease/4; a run
// this pool holds that the store no longer lists as held was ended by
// another process (its lease had expired): it is canceled here.
func (p *Pool) heartbeat(ctx context.Context) {
	t := time.NewTicker(p.cfg.Lease / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		n := len(p.active)
		p.mu.Unlock()
		if n == 0 {
			continue
		}
		held, err := p.st.RenewLeases(ctx, p.cfg.ID, time.Now().Add(p.cfg.Lease))
		if err != nil {
			p.log.Error("renew run leases", "err", err)
			continue
		}
		ok := make(map[string]bool, len(held))
		for _, id := range held {
			ok[id] = true
		}
		p.mu.Lock()
		for id, ar := range p.active {
			if ar.claimed && !ok[id] && time.Since(ar.claimedAt) > p.cfg.Lease/2 {
				p.log.Warn("run lease lost: another process ended it", logattr.Run(id))
				ar.cancel(errLeaseLost)
			}
		}
		p.mu.Unlock()
	}
}

var (
	errLeaseLost = errors.New("this worker lost the run's lease (it could not reach the database in time)")
	// ErrShuttingDown is the cause of runs canceled by Stop.
	ErrShuttingDown = errors.New("the worker was shutting down")
)

type activeRun struct {
	id, flowID string
	wsID       string
	kinds      map[string]engine.Kind // cell name → kind, for Observe (set before the plan runs)
	cancel     context.CancelCauseFunc
	done       chan struct{} // closed when the run is over and stored
	claimed    bool
	claimedAt  time.Time

	mu        sync.Mutex
	pending   []pendingEvent // emitted, not yet stored
	persisted int64          // highest seq stored
	finished  bool
	// holdEnd: the run's run.finished is kept back (in held) until what
	// the run holds (its scratch database) is stored, so that a failure
	// there can still fail the run.
	holdEnd bool
	held    *engine.Event
	final   engine.RunStatus // of the run.finished stored, if any
	// waited: the run stopped at an approval cell (its status is
	// waiting in the store); it is not over.
	waited bool
}

type pendingEvent struct {
	ev   engine.Event
	json []byte
}

// Execute claims and executes one run, and returns when it is over and
// stored. A run that is not queued any more (canceled while it waited, or
// claimed already) is left alone. A panic in anything it calls fails the
// run with the stack in the log; it never ends the process.
func (p *Pool) Execute(ctx context.Context, runID string) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrShuttingDown
	}
	if p.active[runID] != nil {
		p.mu.Unlock()
		return nil // delivered twice to this process
	}
	rctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	ar := &activeRun{id: runID, cancel: cancel, done: make(chan struct{})}
	p.active[runID] = ar
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	defer cancel(nil)
	stopWatch := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer stopWatch()

	r, ok, err := p.st.ClaimRun(rctx, runID, p.cfg.ID, time.Now().Add(p.cfg.Lease))
	if err != nil || !ok {
		p.forget(ar)
		close(ar.done)
		if err != nil {
			return fmt.Errorf("claim run %s: %w", runID, err)
		}
		return nil
	}
	p.mu.Lock()
	ar.claimed, ar.claimedAt, ar.flowID, ar.wsID = true, time.Now(), r.FlowID, r.WorkspaceID
	p.mu.Unlock()
	log := p.log.With(logattr.Run(r.ID), logattr.Flow(r.FlowID))
	func() {
		defer func() {
			if v := recover(); v != nil {
				log.Error("run panicked: a bug in Opsbook", "panic", v, "stack", string(debug.Stack()))
				p.flushFinal(ar, log)
				ar.mu.Lock()
				ar.final = ""
				ar.mu.Unlock()
				p.end(r.ID, engine.RunFailed, fmt.Sprintf("internal error: %v (a bug in Opsbook; the stack is in the server log)", v), log)
			}
		}()
		p.execute(rctx, ar, r, log)
	}()
	// Counted before the run leaves the pool: whoever sees it gone (Done)
	// sees it in the metrics.
	p.observeEnd(ar)
	p.forget(ar)
	ar.mu.Lock()
	ar.finished = true
	ar.mu.Unlock()
	ar.mu.Lock()
	final, waited := ar.final, ar.waited
	ar.mu.Unlock()
	if p.cfg.Live != nil && !waited {
		// A run that waits is not over: its viewers stay.
		p.cfg.Live.Ended(r.ID, r.FlowID, final)
	}
	close(ar.done)
	if waited && ctx.Err() == nil {
		// Decided before it got to wait: the store made it claimable
		// while this process still held it, and dropped the job as
		// delivered twice. Take it again.
		if again, err := p.st.Run(context.WithoutCancel(ctx), runID); err == nil && again.Status == engine.RunQueued {
			return p.Execute(ctx, runID)
		}
	}
	return nil
}

// observeEnd tells Observe how the run ended: the run.finished it stored,
// or else (a run that did not start, or whose end p.end stored) the status
// the store holds.
func (p *Pool) observeEnd(ar *activeRun) {
	if p.cfg.Observe == nil {
		return
	}
	ar.mu.Lock()
	status, waited := ar.final, ar.waited
	ar.mu.Unlock()
	if waited {
		// Not over: it waits for people, and the worker that takes it
		// again counts its end.
		return
	}
	if status == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := p.st.Run(ctx, ar.id)
		cancel()
		if err != nil {
			p.log.Warn("read the end of a run for the metrics", logattr.Run(ar.id), "err", err)
			return
		}
		status = engine.RunStatus(r.Status)
	}
	p.cfg.Observe.RunEnded(ar.wsID, ar.flowID, status, time.Since(ar.claimedAt))
}

func (p *Pool) forget(ar *activeRun) {
	p.mu.Lock()
	if p.active[ar.id] == ar {
		delete(p.active, ar.id)
	}
	p.mu.Unlock()
}

// end ends a run whose run.finished event did not get stored, retrying
// until it is stored or another process ended it: a run never stays
// running.
func (p *Pool) end(id string, status engine.RunStatus, reason string, log *slog.Logger) {
	for attempt := 0; ; attempt++ {
		_, err := p.st.EndRun(context.Background(), id, status, reason)
		if err == nil {
			return
		}
		log.Error("store the end of the run", "err", err, "attempt", attempt)
		if attempt >= 20 {
			log.Error("giving up: the run ends failed \"worker lost\" when its lease expires")
			return
		}
		time.Sleep(time.Duration(min(attempt+1, 10)) * 100 * time.Millisecond)
	}
}

// prepared is a claimed run made ready to execute.
type prepared struct {
	flow    *engine.Flow
	slug    string
	plan    *run.Plan
	inputs  map[string]any
	req     store.RunRequest
	prior   map[string]any
	secrets Secrets
}

func (p *Pool) prepare(ctx context.Context, r store.Run) (*prepared, error) {
	f, err := FlowFromFiles(r.Files)
	if err != nil {
		return nil, fmt.Errorf("read the run's flow: %w", err)
	}
	fs, err := p.st.FlowByID(ctx, r.FlowID)
	if err != nil {
		return nil, fmt.Errorf("read the run's flow: %w", err)
	}
	var req store.RunRequest
	if len(r.Request) > 0 {
		if err := json.Unmarshal(r.Request, &req); err != nil {
			return nil, fmt.Errorf("read the run's request: %w", err)
		}
	}
	// A run of some cells is checked for them only (Runs.Start).
	plan, err := run.CompileCells(f, req.Cells)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", engine.ErrInvalid, err)
	}
	given, err := run.StoredInputs(r.Inputs)
	if err != nil {
		return nil, err
	}
	inputs, errs := run.Inputs(f, given)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", engine.ErrInvalid, errs)
	}
	pr := &prepared{flow: f, slug: fs.Slug, plan: plan, inputs: inputs, req: req}
	if len(pr.req.Prior) > 0 {
		pr.prior = make(map[string]any, len(pr.req.Prior))
		for k, v := range pr.req.Prior {
			var x any
			if err := json.Unmarshal(v, &x); err != nil {
				return nil, fmt.Errorf("read the result of cell %s: %w", k, err)
			}
			pr.prior[k] = x
		}
	}
	pr.secrets, err = ResolveSecrets(ctx, p.st, p.cfg.Box, r.WorkspaceID, plan)
	if err != nil {
		return nil, err
	}
	return pr, nil
}

// FlowFromFiles parses a flow from its stored files.
func FlowFromFiles(files []store.File) (*engine.Flow, error) {
	ff := make([]flow.File, len(files))
	for i, f := range files {
		ff[i] = flow.File(f)
	}
	return flow.ParseFiles(ff)
}

func (p *Pool) execute(ctx context.Context, ar *activeRun, r store.Run, log *slog.Logger) {
	pr, err := p.prepare(ctx, r)
	if err != nil {
		status, reason := endOf(ctx, err)
		log.Warn("run did not start", "err", err)
		p.end(r.ID, status, reason, log)
		return
	}
	log = log.With(logattr.Slug(pr.slug))
	if p.cfg.Observe != nil {
		kinds := make(map[string]engine.Kind, len(pr.flow.Cells))
		for _, c := range pr.flow.Cells {
			kinds[c.Name] = c.Kind
		}
		ar.mu.Lock()
		ar.kinds = kinds
		ar.mu.Unlock()
	}
	work := filepath.Join(p.cfg.RunDir, r.ID)
	dir, tmp := filepath.Join(work, "work"), filepath.Join(work, "tmp")
	defer os.RemoveAll(work)
	if err := os.MkdirAll(p.cfg.RunDir, 0o711); err != nil {
		log.Error("make run directory", "err", err)
	}
	for _, d := range []string{dir, tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			log.Error("make run directory", "err", err)
		}
	}
	var (
		scratchPath string
		release     func(context.Context) error
	)
	if scratch.Uses(pr.flow) {
		// Runs using the workspace's scratch database take turns (across
		// every worker on PostgreSQL); a cancel ends the wait.
		scratchPath, release, err = p.cfg.Scratch.Open(ctx, r.WorkspaceID)
		if err != nil {
			status := engine.RunFailed
			if ctx.Err() != nil {
				status = engine.RunCanceled
			}
			p.end(r.ID, status, fmt.Sprintf("the workspace's scratch database: %v", err), log)
			return
		}
		ar.mu.Lock()
		ar.holdEnd = true
		ar.mu.Unlock()
	}
	sqlx := &executor.SQL{Scratch: scratchPath, Connections: pr.secrets.Connections}
	closed := false
	closeScratch := func() {
		if closed {
			return
		}
		closed = true
		sqlx.Close()
		if release == nil {
			return
		}
		rerr := release(context.WithoutCancel(ctx))
		ar.mu.Lock()
		held := ar.held
		ar.holdEnd, ar.held = false, nil
		ar.mu.Unlock()
		if rerr != nil {
			log.Error("store the scratch database", "err", rerr)
			if held != nil && held.Status == string(engine.RunSucceeded) {
				held.Status = string(engine.RunFailed)
				held.Error = "the run's changes to the workspace's scratch database were not kept: " + rerr.Error()
			}
		}
		if held != nil {
			p.emit(ar, held)
		}
	}
	defer closeScratch()

	stopFlush := make(chan struct{})
	flushed := make(chan struct{})
	var flushErr error // of the last flush, read after flushed is closed
	go func() {
		defer close(flushed)
		t := time.NewTicker(p.cfg.FlushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.flush(ar, log)
			case <-stopFlush:
				flushErr = p.flush(ar, log)
				return
			}
		}
	}()
	var sum run.Summary
	func() {
		// A panic here must still stop the flusher and store what it holds.
		defer func() {
			closeScratch()
			close(stopFlush)
			<-flushed
		}()
		sum, err = p.runPlan(ctx, ar, pr, r, dir, tmp, sqlx, log)
	}()
	switch {
	case err != nil:
		// Nothing ran: record why.
		status, reason := endOf(ctx, err)
		log.Warn("run did not start", "err", err)
		p.end(r.ID, status, reason, log)
	case flushErr != nil:
		// The run ended but its last events are not stored: say so rather
		// than leave it running.
		log.Error("run events lost", "err", flushErr)
		p.end(r.ID, engine.RunFailed, flushErr.Error(), log)
	default:
		// The scheduler's run.finished was stored with the rest; a run
		// that was somehow not ended by it is ended now.
		ar.mu.Lock()
		stored := ar.final != ""
		ar.mu.Unlock()
		if sum.Status == engine.RunWaiting {
			waits, err := p.st.SuspendRun(context.WithoutCancel(ctx), r.ID, p.cfg.ID)
			if err != nil {
				log.Error("suspend the run for its approval", "err", err)
				p.end(r.ID, engine.RunFailed, "the run could not wait for its approval: "+err.Error(), log)
				return
			}
			ar.mu.Lock()
			ar.waited = true
			ar.mu.Unlock()
			if waits {
				log.Info("run waits for an approval")
				if p.cfg.OnWait != nil {
					p.cfg.OnWait(context.WithoutCancel(ctx), r.ID)
				}
			}
			return
		}
		if !stored {
			p.end(r.ID, sum.Status, "the run ended without its final event being stored", log)
		}
		log.Info("run finished", "status", sum.Status, "duration", sum.Duration)
	}
}

// endOf is how a run that could not start ends: canceled when it was
// canceled meanwhile (saying by what), else failed with err.
func endOf(ctx context.Context, err error) (engine.RunStatus, string) {
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		if errors.Is(cause, engine.ErrCanceled) || cause == nil {
			return engine.RunCanceled, "canceled before it started"
		}
		return engine.RunCanceled, "canceled before it started: " + cause.Error()
	}
	return engine.RunFailed, err.Error()
}

// flushFinal stores what a run that panicked still holds.
func (p *Pool) flushFinal(ar *activeRun, log *slog.Logger) {
	if err := p.flush(ar, log); err != nil {
		log.Error("store the events of a run that panicked", "err", err)
	}
}

func (p *Pool) runPlan(ctx context.Context, ar *activeRun, pr *prepared, r store.Run, dir, tmp string, sqlx *executor.SQL, log *slog.Logger) (run.Summary, error) {
	var sp executor.Spawner = executor.Fork{}
	if p.groups != nil { // not a typed nil in the interface
		sp = executor.Fork{Track: p.groups}
	}
	if p.cfg.Sandbox != nil && needsProcess(pr.flow) {
		limits, loopback := p.SandboxLimits(ctx, r.WorkspaceID)
		network := sandbox.NetOutbound
		switch {
		case pr.flow.NoNetwork:
			network = sandbox.NetNone
		case loopback:
			network = sandbox.NetHostLoopback
		}
		sb, err := p.cfg.Sandbox.Start(sandbox.Run{Dir: dir, TempDir: tmp, Network: network, Limits: limits})
		if err != nil {
			return run.Summary{}, fmt.Errorf("start the run's sandbox: %w", err)
		}
		defer sb.Close()
		sp = sb
	}
	executors := executor.Set(sp, sqlx)
	for k, e := range p.cfg.Executors {
		executors[k] = e
	}
	// A run that waited for an approval goes on after its stored events.
	first, err := p.st.LastSeq(ctx, r.ID)
	if err != nil {
		return run.Summary{}, err
	}
	ar.mu.Lock()
	ar.persisted = max(ar.persisted, first)
	ar.mu.Unlock()
	var asked map[string]bool
	if first > 0 {
		aps, err := p.st.RunApprovals(ctx, r.ID)
		if err != nil {
			return run.Summary{}, err
		}
		asked = make(map[string]bool, len(aps))
		for _, ap := range aps {
			asked[ap.Cell] = true
		}
	}
	return pr.plan.Run(ctx, run.Options{
		Resume: first > 0, FirstSeq: first, Asked: asked,
		// The run's approval cells wait in the store, not here: the
		// timeout is the store's deadline, applied by the sweeper.
		Approver:       &storeApprover{st: p.st, runID: r.ID, now: p.cfg.Clock.Now},
		DefaultTimeout: p.cfg.DefaultCellTimeout,
		ID:             r.ID, Flow: pr.slug, Version: r.Version, Hash: r.Hash,
		Inputs: pr.inputs, Secrets: pr.secrets.Values, MaskAlso: pr.secrets.MaskAlso, Dir: dir, TempDir: tmp,
		Executors:  executors,
		Sink:       run.SinkFunc(func(e *engine.Event) { p.emit(ar, e) }),
		Cells:      pr.req.Cells,
		Prior:      pr.prior,
		Logger:     log,
		MaxCellLog: p.cfg.MaxCellLog,
		// The studio shows cells, not the files behind them.
		PlaceByLine: true,
	})
}

// SandboxLimits are a workspace's sandbox settings (the defaults when it
// has none), and whether its cells may reach the host's loopback.
func (p *Pool) SandboxLimits(ctx context.Context, wsID string) (sandbox.Limits, bool) {
	g, err := p.st.SandboxSettings(ctx, wsID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			p.log.Warn("read sandbox settings; using the defaults", "err", err)
		}
		return sandbox.DefaultLimits, false
	}
	return sandbox.Limits{Procs: g.MaxProcs, Files: g.MaxFiles, FileSize: g.MaxFileSize, Memory: g.MaxMemory}, g.HostLoopback
}

// needsProcess reports whether f has a cell that starts a process: a run
// of only http, sql and markdown cells needs no sandbox.
func needsProcess(f *engine.Flow) bool {
	for _, c := range f.Cells {
		if c.Kind == engine.KindShell || c.Kind == engine.KindPython {
			return true
		}
	}
	return false
}

// emit is the run's sink: it keeps the event until it is stored and hands
// it to live viewers at once.
func (p *Pool) emit(ar *activeRun, e *engine.Event) {
	c := *e
	c.Lines = e.Lines // the scheduler gives each event its own slice
	b := c.AppendJSON(make([]byte, 0, 48+len(c.Lines)*16))
	if c.Type == engine.EventCellFinished && p.cfg.Observe != nil {
		ar.mu.Lock()
		kind := ar.kinds[c.Cell]
		ar.mu.Unlock()
		p.cfg.Observe.CellEnded(kind, c.Status, time.Duration(c.DurationMS)*time.Millisecond)
	}
	ar.mu.Lock()
	if c.Type == engine.EventRunFinished && ar.holdEnd {
		ar.held = &c
		ar.mu.Unlock()
		return
	}
	ar.pending = append(ar.pending, pendingEvent{ev: c, json: b})
	if p.cfg.Live != nil {
		p.cfg.Live.Event(ar.id, ar.flowID, &c, b)
	}
	ar.mu.Unlock()
}

func (p *Pool) flush(ar *activeRun, log *slog.Logger) error {
	ar.mu.Lock()
	n := len(ar.pending)
	batch := make([]engine.Event, n)
	for i := range n {
		batch[i] = ar.pending[i].ev
	}
	ar.mu.Unlock()
	if n == 0 {
		return nil
	}
	// A failed write is retried: nothing is dropped while the run lives.
	for attempt := 0; ; attempt++ {
		err := p.st.AppendEvents(context.Background(), ar.id, batch)
		if err == nil {
			break
		}
		if errors.Is(err, store.ErrAlreadyExists) {
			// An earlier attempt was stored after all (its commit
			// answered with an error): keep only what is not there yet.
			if last, lerr := p.st.LastSeq(context.Background(), ar.id); lerr == nil && last >= batch[0].Seq {
				k := 0
				for k < len(batch) && batch[k].Seq <= last {
					k++
				}
				batch = batch[k:]
				if len(batch) == 0 {
					break
				}
				continue
			}
		}
		log.Error("store run events", "err", err, "attempt", attempt)
		if attempt >= 5 {
			return fmt.Errorf("store the run's events: %w", err)
		}
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	ar.mu.Lock()
	for i := range n {
		if ar.pending[i].ev.Type == engine.EventRunFinished {
			ar.final = engine.RunStatus(ar.pending[i].ev.Status)
		}
	}
	ar.persisted = ar.pending[n-1].ev.Seq
	ar.pending = append(ar.pending[:0:0], ar.pending[n:]...)
	ar.mu.Unlock()
	return nil
}

// Cancel cancels a run executing here with cause; it reports whether the
// run was executing here.
func (p *Pool) Cancel(id string, cause error) bool {
	p.mu.Lock()
	ar := p.active[id]
	p.mu.Unlock()
	if ar == nil {
		return false
	}
	ar.cancel(cause)
	return true
}

// Done returns a channel closed once the run has ended and everything about
// it is stored, or nil when the run is not executing here.
func (p *Pool) Done(id string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ar := p.active[id]; ar != nil {
		return ar.done
	}
	return nil
}

// Running lists the ids of flowID's runs executing here.
func (p *Pool) Running(flowID string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id, ar := range p.active {
		if ar.flowID == flowID {
			ids = append(ids, id)
		}
	}
	return ids
}

// Snapshot is, for a run executing here, what a new viewer needs on top of
// the store: the events emitted and not yet stored after since (as JSON),
// and the highest seq stored, consistent with each other. Subscribe the
// viewer before: events emitted after the snapshot reach it live, and
// those in both are told apart by seq. ok is false when the run is not executing
// here (or is over): read the store alone.
func (p *Pool) Snapshot(id string, since int64) (mem [][]byte, persisted int64, ok bool) {
	p.mu.Lock()
	ar := p.active[id]
	p.mu.Unlock()
	if ar == nil {
		return nil, 0, false
	}
	ar.mu.Lock()
	defer ar.mu.Unlock()
	if ar.finished {
		return nil, 0, false
	}
	for _, pe := range ar.pending {
		if pe.ev.Seq > since {
			mem = append(mem, pe.json)
		}
	}
	return mem, ar.persisted, true
}

// Busy is how many runs execute here now.
func (p *Pool) Busy() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.active)
}

// Stop refuses new runs, waits for the held ones to end until ctx ends,
// then cancels what is left (ErrShuttingDown) and waits for it to be
// stored. Safe to call twice.
func (p *Pool) Stop(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		p.mu.Lock()
		for _, ar := range p.active {
			ar.cancel(ErrShuttingDown)
		}
		p.mu.Unlock()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			err = errors.New("runs still ending 10s after they were canceled")
		}
	}
	p.stopOnce.Do(func() {
		if p.stop != nil {
			p.stop()
		}
		p.loops.Wait()
	})
	return err
}

// Cancelling is Stop without the grace: every held run is canceled now.
func (p *Pool) CancelAll(cause error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ar := range p.active {
		ar.cancel(cause)
	}
}

// DataDir and RunDir are the pool's folders (see Config).
func (p *Pool) DataDir() string { return p.cfg.DataDir }

// RunDir is where the runs' working directories are made.
func (p *Pool) RunDir() string { return p.cfg.RunDir }
