package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/queue"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/engine/worker"
)

// Runs is the studio's side of the run plane: it enqueues runs, cancels
// them wherever they execute, and gives viewers their events — from this
// process's workers as they happen, from other processes' through the
// store (feed.go). The runs themselves execute in engine/worker.
type Runs struct {
	// onWait is told of a run that stopped to wait for an approval (set
	// by the server before Start: its notifier).
	onWait func(ctx context.Context, runID string)
	store  *store.Store
	hub    *Hub
	log    *slog.Logger
	pool   *worker.Pool // nil: a web-only replica
	queue  queue.Queue
	feed   *feed // nil on SQLite: every run executes in this process

	lease    time.Duration
	stopReap func()
	reapDone chan struct{}
	clock    clock.Clock // approval deadlines go by it (Config.Clock)

	mu      sync.Mutex
	infos   map[string]RunInfo // runs enqueued here and not ended: what viewers were told
	waiters map[string][]chan struct{}
	closed  bool
}

func runTopic(id string) string      { return "run:" + id }
func flowTopic(flowID string) string { return "flow:" + flowID }

// StartRequest describes a run to start.
type StartRequest struct {
	Workspace store.Workspace
	FlowID    string
	FlowSlug  string
	Flow      *engine.Flow
	Version   int // 0 for the draft
	Inputs    map[string]any
	StartedBy store.User
	Via       string // store.RunRequest's Via
	// Cells, when set, runs only these cells; Prior gives the others'
	// results (a notebook's state).
	Cells []string
	Prior map[string]any
	// RerunOf, From and Reused make the run a re-run of a failed one
	// (run_rerun.go): the run, the cell it re-runs from, and where each
	// cell not in Cells ran.
	RerunOf string
	From    string
	Reused  map[string]store.ReusedCell
}

// SkippedError is a start refused by the flow's concurrency (overlap:
// skip): the run is stored, ended skipped; Blocking holds the slot.
type SkippedError struct {
	Run      store.Run
	Blocking string
}

func (e *SkippedError) Error() string {
	return fmt.Sprintf("the flow allows %d run(s) at once and run %s is still going; this run was skipped (concurrency overlap: skip)", e.Run.ConcLimit, e.Blocking)
}

// Start validates a run and enqueues it; it returns once the run is
// stored (queued, or skipped with a *SkippedError).
func (m *Runs) Start(ctx context.Context, req StartRequest) (store.Run, error) {
	if errs := flow.Validate(req.Flow); len(errs) > 0 {
		return store.Run{}, fmt.Errorf("%w: %w", engine.ErrInvalid, errs)
	}
	// Only the cells that run must be right: a run of one cell is not
	// stopped by another that is half written.
	if _, err := run.CompileCells(req.Flow, req.Cells); err != nil {
		return store.Run{}, fmt.Errorf("%w: %w", engine.ErrInvalid, err)
	}
	inputs, errs := run.Inputs(req.Flow, req.Inputs)
	if len(errs) > 0 {
		return store.Run{}, fmt.Errorf("%w: %w", engine.ErrInvalid, errs)
	}
	files, err := flow.Files(req.Flow)
	if err != nil {
		return store.Run{}, fmt.Errorf("%w: %w", engine.ErrInvalid, err)
	}
	sfiles := make([]store.File, len(files))
	for i, f := range files {
		sfiles[i] = store.File{Name: f.Name, Data: f.Data}
	}
	inJSON, err := json.Marshal(inputs)
	if err != nil {
		return store.Run{}, fmt.Errorf("%w: inputs: %w", engine.ErrInvalid, err)
	}
	rq := store.RunRequest{Via: req.Via, Cells: req.Cells, RerunOf: req.RerunOf, From: req.From, Reused: req.Reused}
	if len(req.Prior) > 0 {
		rq.Prior = make(map[string]json.RawMessage, len(req.Prior))
		for k, v := range req.Prior {
			b, err := json.Marshal(v)
			if err != nil {
				return store.Run{}, fmt.Errorf("the result of cell %s: %w", k, err)
			}
			rq.Prior[k] = b
		}
	}
	reqJSON, _ := json.Marshal(rq)
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return store.Run{}, errors.New("the server is shutting down; try again in a moment")
	}
	id := store.NewID("r")
	info := RunInfo{ID: id, Status: string(engine.RunQueued), StartedBy: displayName(req.StartedBy), URL: "/runs/" + id, Cells: req.Cells}
	if len(info.Cells) == 0 {
		for _, c := range req.Flow.Cells {
			info.Cells = append(info.Cells, c.Name)
		}
	}
	m.mu.Lock()
	m.infos[id] = info
	m.mu.Unlock()
	c := req.Flow.Concurrency
	enq, err := m.store.EnqueueRun(ctx, store.Run{
		ID: id, WorkspaceID: req.Workspace.ID, FlowID: req.FlowID, Version: req.Version,
		Hash: flow.Hash(req.Flow), Inputs: inJSON, Files: sfiles, StartedBy: req.StartedBy.ID,
		Request: reqJSON, RerunOf: req.RerunOf,
	}, c.Limit, c.EffectiveOverlap())
	if err != nil {
		m.forgetInfo(id)
		return store.Run{}, fmt.Errorf("store run: %w", err)
	}
	r := enq.Run
	info.StartedAt = r.CreatedAt.UTC().Format(time.RFC3339)
	info.Status = string(r.Status)
	m.mu.Lock()
	if r.Status.Done() {
		delete(m.infos, id)
	} else {
		m.infos[id] = info
	}
	m.mu.Unlock()
	m.publishInfo(r.FlowID, info)
	if enq.Cancel != "" {
		m.log.Info("canceling the oldest run to make room (concurrency overlap: cancel)", logattr.Run(enq.Cancel), "for", r.ID)
		if _, err := m.Cancel(context.WithoutCancel(ctx), enq.Cancel, "canceled to make room for run "+r.ID+" (concurrency overlap: cancel)"); err != nil {
			m.log.Error("cancel the oldest run", logattr.Run(enq.Cancel), "err", err)
		}
	}
	if r.Status == engine.RunSkipped {
		return r, &SkippedError{Run: r, Blocking: enq.Blocking}
	}
	return r, nil
}

func displayName(u store.User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Name
}

func (m *Runs) forgetInfo(id string) {
	m.mu.Lock()
	delete(m.infos, id)
	m.mu.Unlock()
}

// Cancel cancels a run wherever it is: a queued run ends canceled at once;
// a running one is canceled by the process that holds it (this one, or
// another told through the store) within a second. It reports whether the
// run had not ended.
func (m *Runs) Cancel(ctx context.Context, id, reason string) (bool, error) {
	if reason == "" {
		reason = "canceled before it started"
	}
	ok, err := m.store.EndRun(ctx, id, engine.RunCanceled, reason, engine.RunQueued)
	if err != nil {
		return false, err
	}
	if !ok {
		// A run waiting for an approval holds no worker: it ends here.
		ok, err = m.store.EndRun(ctx, id, engine.RunCanceled, "canceled while it waited for an approval", engine.RunWaiting)
		if err != nil {
			return false, err
		}
	}
	if ok {
		m.ended(id)
		return true, nil
	}
	if m.pool != nil && m.pool.Cancel(id, engine.ErrCanceled) {
		return true, nil
	}
	r, err := m.store.Run(ctx, id)
	if err != nil {
		return false, err
	}
	if r.Status.Done() {
		return false, nil
	}
	if err := m.store.Notify(ctx, store.ChannelCancel, id); err != nil {
		return false, err
	}
	return true, nil
}

// Wait waits until the run ends or stops to wait for an approval (people
// decide, which may take days: the caller sees it waiting), d passes or
// ctx ends.
func (m *Runs) Wait(ctx context.Context, id string, d time.Duration) {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	m.waiters[id] = append(m.waiters[id], ch)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		list := m.waiters[id]
		for i, c := range list {
			if c == ch {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(m.waiters, id)
		} else {
			m.waiters[id] = list
		}
		m.mu.Unlock()
	}()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	// The signal comes from this process's workers or the feed; a poll
	// covers a run ended elsewhere that nobody here watches.
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		if r, err := m.store.Run(ctx, id); err != nil || r.Status.Done() || r.Status == engine.RunWaiting {
			return
		}
		select {
		case <-ch:
		case <-poll.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// ended tells the run's viewers and waiters in this process that it is
// over (its end is stored).
func (m *Runs) ended(id string) { m.endedAs(id, "", "") }

// endedAs is ended when the run's flow and final status are known: a run
// started here is then told of without reading the store.
func (m *Runs) endedAs(id, flowID string, status engine.RunStatus) {
	m.mu.Lock()
	info, known := m.infos[id]
	delete(m.infos, id)
	ws := m.waiters[id]
	m.mu.Unlock()
	if known && flowID != "" && status != "" {
		for _, c := range ws {
			select {
			case c <- struct{}{}:
			default:
			}
		}
		info.Status = string(status)
		m.publishInfo(flowID, info)
		m.hub.CloseTopic(runTopic(id))
		return
	}
	for _, c := range ws {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	if flowID != "" && m.hub.Subscribers(flowTopic(flowID)) == 0 {
		// Nobody here shows the flow's runs: nothing to read and tell.
		m.hub.CloseTopic(runTopic(id))
		return
	}
	if fresh, err := m.store.Run(context.Background(), id); err == nil {
		u, _ := m.store.UserByID(context.Background(), fresh.StartedBy)
		m.publishInfo(fresh.FlowID, runInfo(fresh, u))
	}
	m.hub.CloseTopic(runTopic(id))
}

// Event is the worker.Live of this process: its workers' events go to
// the run's and the flow's viewers at once.
func (m *Runs) Event(runID, flowID string, e *engine.Event, js []byte) {
	m.publishEvent(runID, flowID, e.Type, e.Seq, e.Cell, len(e.Lines), e.Cells, eventFrame(js))
}

// Ended is the worker.Live's end of a run.
func (m *Runs) Ended(runID, flowID string, status engine.RunStatus) {
	m.endedAs(runID, flowID, status)
}

func (m *Runs) publishEvent(runID, flowID string, typ engine.EventType, seq int64, cell string, lines int, cells []string, msg []byte) {
	hm := &Msg{Data: msg, Lines: lines, Cell: cell, Seq: seq, Run: runID}
	m.hub.Publish(runTopic(runID), hm)
	if st, ok := statusOf[typ]; ok {
		// queued → running, running → waiting → running are status changes
		// the flow's viewers are told of (PROTOCOL.md), ahead of the event
		// itself.
		m.mu.Lock()
		info, ok := m.infos[runID]
		m.mu.Unlock()
		if !ok {
			info = RunInfo{ID: runID, URL: "/runs/" + runID}
		}
		if len(cells) > 0 {
			info.Cells = cells
		}
		info.Status = string(st)
		m.publishInfo(flowID, info)
	}
	m.hub.Publish(flowTopic(flowID), hm)
}

// statusOf is the run status an event puts its run in.
var statusOf = map[engine.EventType]engine.RunStatus{
	engine.EventRunStarted:        engine.RunRunning,
	engine.EventRunResumed:        engine.RunRunning,
	engine.EventApprovalRequested: engine.RunWaiting,
}

func (m *Runs) publishInfo(flowID string, info RunInfo) {
	b, _ := json.Marshal(runMsg{T: "run", Run: info})
	m.hub.Publish(flowTopic(flowID), &Msg{Data: b, Run: info.ID})
}

// RunInfo is the short form of a run that pages and sockets use.
type RunInfo struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	StartedBy string `json:"started_by"`
	StartedAt string `json:"started_at"`
	// Cells are the cells the run was asked to run, where known (a run
	// started in this process); run.started's cells are the authority.
	Cells []string `json:"cells,omitempty"`
	URL   string   `json:"url"`
}

func runInfo(r store.Run, by store.User) RunInfo {
	return RunInfo{ID: r.ID, Status: string(r.Status), StartedBy: displayName(by), StartedAt: r.CreatedAt.UTC().Format(time.RFC3339), URL: "/runs/" + r.ID}
}

// ActiveOfFlow lists the ids of the flow's runs that have not ended,
// wherever they execute.
func (m *Runs) ActiveOfFlow(ctx context.Context, flowID string) []string {
	ids, err := m.store.UnfinishedRuns(ctx, flowID)
	if err != nil {
		m.log.Error("unfinished runs of flow", logattr.Flow(flowID), "err", err)
	}
	return ids
}

// Attach gives a viewer every event of a run after since, then live ones:
// history holds the stored and in-memory events in seq order; sub (nil when
// the run is over) delivers the rest. The caller skips live events with a
// seq it already sent. Unsubscribe sub from runTopic(id) when done.
func (m *Runs) Attach(ctx context.Context, id string, since int64, buf int) (history [][]byte, sub *Sub, err error) {
	// Subscribe first: whatever is published from now on reaches sub;
	// what was published before is stored or in the worker's memory
	// (Snapshot), and the overlap is dropped by seq.
	sub = m.hub.Subscribe(runTopic(id), buf)
	if m.feed != nil {
		m.feed.watch(ctx, id)
	}
	var mem [][]byte
	upto := int64(-1) // -1: everything stored
	local := false
	if m.pool != nil {
		mem, upto, local = m.pool.Snapshot(id, since)
	}
	if !local {
		upto = -1
		r, err := m.store.Run(ctx, id)
		if err != nil {
			m.hub.Unsubscribe(runTopic(id), sub)
			return nil, nil, err
		}
		if r.Status.Done() {
			m.hub.Unsubscribe(runTopic(id), sub)
			sub = nil
		}
	}
	const page = 2000
	after := since
	for {
		evs, err := m.store.Events(ctx, id, after, page)
		if err != nil {
			if sub != nil {
				m.hub.Unsubscribe(runTopic(id), sub)
			}
			return nil, nil, err
		}
		for _, e := range evs {
			if upto >= 0 && e.Seq > upto {
				break
			}
			history = append(history, eventFrame(e.Data))
			after = e.Seq
		}
		if len(evs) < page || (upto >= 0 && after >= upto) {
			break
		}
	}
	for _, b := range mem {
		history = append(history, eventFrame(b))
	}
	return history, sub, nil
}

// Stop refuses new runs, stops taking runs from the queue, lets the runs
// held here finish until ctx ends, then cancels what is left and waits for
// it to be stored. Safe to call twice.
func (m *Runs) Stop(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.queue.StopClaiming()
	var err error
	if m.pool != nil {
		err = m.pool.Stop(ctx)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = errors.Join(err, m.queue.Wait(wctx))
	if m.stopReap != nil {
		m.stopReap()
		<-m.reapDone
		m.stopReap = nil
	}
	if m.feed != nil {
		m.feed.stop()
	}
	return err
}

// waits passes a run that stopped to wait on to onWait.
func (m *Runs) waits(ctx context.Context, runID string) {
	// Callers waiting for the run here are woken: waiting is as far as
	// it goes for now.
	m.mu.Lock()
	for _, c := range m.waiters[runID] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	m.mu.Unlock()
	if m.onWait != nil {
		m.onWait(ctx, runID)
	}
}

// newRuns builds the run plane of this process: the queue (River on
// PostgreSQL, in memory on SQLite) and, unless cfg.WebOnly, a worker pool
// that executes cfg.Workers runs at once.
func newRuns(cfg Config, hub *Hub, box *secret.Box, log *slog.Logger) *Runs {
	m := &Runs{store: cfg.Store, hub: hub, log: log, infos: map[string]RunInfo{}, waiters: map[string][]chan struct{}{}}
	workers := cfg.Workers
	if cfg.WebOnly {
		workers = 0
	} else {
		m.pool = worker.New(worker.Config{
			Store: cfg.Store, Box: box, DataDir: cfg.DataDir, RunDir: cfg.RunDir, Sandbox: cfg.Sandbox,
			Live: m, Observe: cfg.Metrics, Log: log, Lease: cfg.Lease, DefaultCellTimeout: cfg.DefaultCellTimeout, MaxCellLog: cfg.MaxCellLog,
			Clock: cfg.Clock, OnWait: m.waits,
		})
	}
	var exec queue.Executor = noExecutor{}
	if m.pool != nil {
		exec = m.pool
	}
	if pool := cfg.Store.Pool(); pool != nil {
		q, err := queue.NewRiver(pool, cfg.Store.SQLDB(), exec, queue.RiverConfig{Workers: workers, FetchCooldown: cfg.QueueFetchCooldown, Log: log})
		if err != nil {
			// Only a bad configuration gets here (River checks its config).
			panic(fmt.Sprintf("river queue: %v", err))
		}
		m.queue = q
		m.feed = newFeed(m)
	} else {
		m.queue = queue.NewMemory(cfg.Store, exec, workers, log)
	}
	m.lease = cfg.Lease
	m.clock = cfg.Clock
	cfg.Store.SetDispatcher(m.queue)
	return m
}

type noExecutor struct{}

func (noExecutor) Execute(context.Context, string) error {
	return errors.New("this process runs no workers")
}

// Pool is this process's worker pool (nil on a web-only replica).
func (m *Runs) Pool() *worker.Pool { return m.pool }

// start brings River's tables up to date (PostgreSQL), ends runs whose
// worker was lost, and starts the workers, the queue and the feed.
func (m *Runs) start(ctx context.Context) error {
	if pool := m.store.Pool(); pool != nil {
		if err := queue.Migrate(ctx, pool); err != nil {
			return err
		}
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.stopReap = cancel
	m.reapDone = make(chan struct{})
	go func() {
		defer close(m.reapDone)
		swept := make(chan struct{})
		go func() {
			defer close(swept)
			worker.SweepApprovals(rctx, m.store, m.lease/4, m.clock, m.log)
		}()
		worker.Reap(rctx, m.store, m.lease/4, m.log, m.ended)
		<-swept
	}()
	if m.pool != nil {
		m.pool.Start(ctx)
	}
	if err := m.queue.Start(ctx); err != nil {
		return fmt.Errorf("start the run queue: %w", err)
	}
	if m.feed != nil {
		m.feed.start(ctx)
	}
	return nil
}
