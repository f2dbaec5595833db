package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/exec"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/store"
)

// maxCellLog bounds the log stored for one cell of one run; lines past it
// are dropped (the event keeps its seq, with no lines) after one line that
// says so. The browser keeps less still and offers the stored log.
var maxCellLog int64 = 100 << 20

// flushEvery is how often a run's events are written to the store. Live
// viewers get them at once from memory; late viewers from memory and store.
const flushEvery = 25 * time.Millisecond

// Runs starts runs in this process, stores their events and fans them out.
type Runs struct {
	store   *store.Store
	hub     *Hub
	log     *slog.Logger
	dataDir string
	runDir  string          // the runs' working directories, outside dataDir
	sandbox *sandbox.Config // nil: cells run without a sandbox
	groups  *sandbox.Groups // without a sandbox: the cells' groups, for the next start

	slots  chan struct{} // one per run executing now
	mu     sync.Mutex
	active map[string]*activeRun
	wg     sync.WaitGroup
	closed bool
}

// NewRuns returns a run manager; dataDir holds working directories and the
// workspaces' scratch databases.
func NewRuns(st *store.Store, hub *Hub, log *slog.Logger, dataDir string) *Runs {
	return &Runs{store: st, hub: hub, log: log, dataDir: dataDir, active: map[string]*activeRun{}, slots: make(chan struct{}, maxRunning)}
}

// useSandbox sets how cells are started: in a sandbox of cfg per run, or,
// when cfg is nil, as plain children whose groups are recorded in the data
// folder. runDir "" means os.TempDir()/opsbook-runs.
func (m *Runs) useSandbox(cfg *sandbox.Config, runDir string) {
	if runDir == "" {
		runDir = filepath.Join(os.TempDir(), "opsbook-runs")
	}
	m.runDir, m.sandbox = runDir, cfg
	if cfg == nil && m.dataDir != "" {
		m.groups = sandbox.NewGroups(OrphansFile(m.dataDir))
	}
}

// OrphansFile is where a server without a sandbox records its cells'
// process groups (sandbox.KillOrphans reads it at the next start).
func OrphansFile(dataDir string) string { return filepath.Join(dataDir, "cell-groups") }

type activeRun struct {
	id, flowID string
	cancel     context.CancelCauseFunc
	done       chan struct{} // closed when the run is over and stored
	info       RunInfo       // what the flow's viewers were told at the start

	mu        sync.Mutex
	logBytes  map[string]int64 // per cell, to bound what is stored
	pending   []pendingEvent   // emitted, not yet stored
	persisted int64            // highest seq stored
	last      int64            // highest seq emitted
	finished  bool
}

type pendingEvent struct {
	ev  engine.Event
	msg []byte // {"t":"event","event":…}
}

// StartRequest describes a run to start.
type StartRequest struct {
	Workspace store.Workspace
	FlowID    string
	FlowSlug  string
	Flow      *engine.Flow
	Version   int // 0 for the draft
	Inputs    map[string]any
	StartedBy store.User
	// Cells, when set, runs only these cells; Prior gives the others'
	// results (a notebook's state).
	Cells []string
	Prior map[string]any
	// Secrets are the workspace secrets the flow references, in clear;
	// Connections the DSNs of the SQL connections its cells name; MaskAlso
	// every other secret value of the workspace, masked in all output.
	Secrets     map[string]string
	Connections map[string]string
	MaskAlso    []string
}

// Start validates and starts a run; it returns once the run is stored.
func (m *Runs) Start(ctx context.Context, req StartRequest) (store.Run, error) {
	if errs := flow.Validate(req.Flow); len(errs) > 0 {
		return store.Run{}, fmt.Errorf("%w: %w", engine.ErrInvalid, errs)
	}
	plan, err := run.Compile(req.Flow)
	if err != nil {
		return store.Run{}, fmt.Errorf("%w: %w", engine.ErrInvalid, err)
	}
	inputs, errs := run.Inputs(req.Flow, req.Inputs)
	if len(errs) > 0 {
		return store.Run{}, fmt.Errorf("%w: %w", engine.ErrInvalid, errs)
	}
	for _, name := range plan.Secrets() {
		if _, ok := req.Secrets[name]; !ok {
			return store.Run{}, fmt.Errorf("%w: the flow uses secret %s, which this workspace does not have; an owner can add it in Settings → Secrets", engine.ErrInvalid, name)
		}
	}
	files, err := flow.Files(req.Flow)
	if err != nil {
		return store.Run{}, fmt.Errorf("%w: %w", engine.ErrInvalid, err)
	}
	sfiles := make([]store.File, len(files))
	for i, f := range files {
		sfiles[i] = store.File{Name: f.Name, Data: f.Data}
	}
	inJSON, _ := json.Marshal(inputs)
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return store.Run{}, errors.New("the server is shutting down; try again in a moment")
	}
	r, err := m.store.CreateRun(ctx, store.Run{
		WorkspaceID: req.Workspace.ID, FlowID: req.FlowID, Version: req.Version,
		Hash: flow.Hash(req.Flow), Status: engine.RunQueued, Inputs: inJSON,
		Files: sfiles, StartedBy: req.StartedBy.ID,
	})
	if err != nil {
		return store.Run{}, fmt.Errorf("store run: %w", err)
	}
	rctx, cancel := context.WithCancelCause(context.Background())
	info := runInfo(r, req.StartedBy)
	if info.Cells = req.Cells; len(info.Cells) == 0 {
		for _, c := range req.Flow.Cells {
			info.Cells = append(info.Cells, c.Name)
		}
	}
	ar := &activeRun{id: r.ID, flowID: req.FlowID, cancel: cancel, info: info, done: make(chan struct{})}
	m.mu.Lock()
	if m.closed {
		// Stop began after the check above: this run has no owner left.
		m.mu.Unlock()
		cancel(nil)
		m.store.UpdateRun(context.Background(), r.ID, store.RunUpdate{Status: engine.RunCanceled, FinishedAt: time.Now(), Error: "the server was shutting down"})
		return store.Run{}, errors.New("the server is shutting down; try again in a moment")
	}
	m.active[r.ID] = ar
	m.wg.Add(1)
	m.mu.Unlock()
	m.publishInfo(r.FlowID, info)

	go func() {
		defer m.wg.Done()
		defer cancel(nil)
		m.execute(rctx, ar, plan, req, r, inputs)
	}()
	return r, nil
}

func (m *Runs) execute(ctx context.Context, ar *activeRun, plan *run.Plan, req StartRequest, r store.Run, inputs map[string]any) {
	log := m.log.With("run", r.ID, "flow", req.FlowSlug)
	work := filepath.Join(m.runDir, r.ID)
	dir, tmp := filepath.Join(work, "work"), filepath.Join(work, "tmp")
	defer os.RemoveAll(work)
	scratchDir := filepath.Join(m.dataDir, "workspaces", req.Workspace.ID)
	if err := os.MkdirAll(m.runDir, 0o711); err != nil {
		log.Error("make run directory", "err", err)
	}
	for _, d := range []string{dir, tmp, scratchDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			log.Error("make run directory", "err", err)
		}
	}
	sqlx := &exec.SQL{Scratch: filepath.Join(scratchDir, "scratch.db"), Connections: req.Connections}
	defer sqlx.Close()

	stopFlush := make(chan struct{})
	flushed := make(chan struct{})
	var flushErr error // of the last flush, read after flushed is closed
	go func() {
		defer close(flushed)
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				m.flush(ar, log)
			case <-stopFlush:
				flushErr = m.flush(ar, log)
				return
			}
		}
	}()

	// At most cap(m.slots) runs execute at once; the others wait, queued,
	// and can be canceled while they wait.
	var (
		sum run.Summary
		err error
	)
	select {
	case m.slots <- struct{}{}:
		defer func() { <-m.slots }()
	case <-ctx.Done():
		err = errCanceledQueued
	}
	if err == nil {
		sum, err = m.runPlan(ctx, ar, plan, req, r, inputs, dir, tmp, sqlx, log)
	}
	close(stopFlush)
	<-flushed
	switch {
	case errors.Is(err, errCanceledQueued):
		m.store.UpdateRun(context.Background(), r.ID, store.RunUpdate{Status: engine.RunCanceled, FinishedAt: time.Now(), Error: "canceled before it started"})
	case err != nil:
		// Nothing ran: record why.
		m.store.UpdateRun(context.Background(), r.ID, store.RunUpdate{Status: engine.RunFailed, FinishedAt: time.Now(), Error: err.Error()})
		log.Warn("run did not start", "err", err)
	case flushErr != nil:
		// The run ended but its last events are not stored: say so rather
		// than leave it "running" until the next restart.
		m.store.UpdateRun(context.Background(), r.ID, store.RunUpdate{Status: engine.RunFailed, FinishedAt: time.Now(), Error: flushErr.Error()})
		log.Error("run events lost", "err", flushErr)
	default:
		log.Info("run finished", "status", sum.Status, "duration", sum.Duration)
	}
	m.finishRun(ar, r)
}

// errCanceledQueued is a run canceled while it waited for a slot.
var errCanceledQueued = errors.New("canceled while queued")

// maxRunning bounds the runs executing at once in one process, and
// defaultCellTimeout the attempt of a cell that sets no timeout, so that no
// one (a run form's visitor included) can start work that never ends.
// (Variables, so tests can lower them.)
var (
	maxRunning         = 16
	defaultCellTimeout = 2 * time.Hour
)

func (m *Runs) runPlan(ctx context.Context, ar *activeRun, plan *run.Plan, req StartRequest, r store.Run, inputs map[string]any, dir, tmp string, sqlx *exec.SQL, log *slog.Logger) (run.Summary, error) {
	var sp exec.Spawner = exec.Fork{}
	if m.groups != nil { // not a typed nil in the interface
		sp = exec.Fork{Track: m.groups}
	}
	if m.sandbox != nil && needsProcess(req.Flow) {
		limits, loopback := m.sandboxLimits(ctx, req.Workspace.ID)
		network := sandbox.NetOutbound
		switch {
		case req.Flow.NoNetwork:
			network = sandbox.NetNone
		case loopback:
			network = sandbox.NetHostLoopback
		}
		sb, err := m.sandbox.Start(sandbox.Run{Dir: dir, TempDir: tmp, Network: network, Limits: limits})
		if err != nil {
			return run.Summary{}, fmt.Errorf("start the run's sandbox: %w", err)
		}
		defer sb.Close()
		sp = sb
	}
	return plan.Run(ctx, run.Options{
		DefaultTimeout: defaultCellTimeout,
		ID:             r.ID, Flow: req.FlowSlug, Version: req.Version, Hash: r.Hash,
		Inputs: inputs, Secrets: req.Secrets, MaskAlso: req.MaskAlso, Dir: dir, TempDir: tmp,
		Executors: map[engine.Kind]exec.Executor{
			engine.KindShell:  &exec.Shell{Spawner: sp},
			engine.KindPython: &exec.Python{Spawner: sp},
			engine.KindHTTP:   &exec.HTTP{},
			engine.KindSQL:    sqlx,
		},
		Sink:   run.SinkFunc(func(e *engine.Event) { m.emit(ar, e) }),
		Cells:  req.Cells,
		Prior:  req.Prior,
		Logger: log,
	})
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

// finishRun forgets an ended run and tells its viewers.
func (m *Runs) finishRun(ar *activeRun, r store.Run) {
	m.mu.Lock()
	delete(m.active, r.ID)
	m.mu.Unlock()
	ar.mu.Lock()
	ar.finished = true
	ar.mu.Unlock()
	if fresh, err := m.store.Run(context.Background(), r.ID); err == nil {
		u, _ := m.store.UserByID(context.Background(), fresh.StartedBy)
		m.publishRun(fresh, u)
	}
	m.hub.CloseTopic(runTopic(r.ID))
	close(ar.done)
}

// Done returns a channel closed once the run has ended and everything about
// it is stored, or nil when the run is not executing here.
func (m *Runs) Done(id string) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ar := m.active[id]; ar != nil {
		return ar.done
	}
	return nil
}

func runTopic(id string) string      { return "run:" + id }
func flowTopic(flowID string) string { return "flow:" + flowID }

// emit is the run's sink: it keeps the event until it is stored and
// publishes it to live viewers at once.
func (m *Runs) emit(ar *activeRun, e *engine.Event) {
	c := *e
	c.Lines = e.Lines // the scheduler gives each event its own slice
	if c.Type == engine.EventCellLog {
		n := int64(0)
		for _, l := range c.Lines {
			n += int64(len(l)) + 1
		}
		ar.mu.Lock()
		if ar.logBytes == nil {
			ar.logBytes = map[string]int64{}
		}
		before := ar.logBytes[c.Cell]
		ar.logBytes[c.Cell] = before + n
		ar.mu.Unlock()
		switch {
		case before >= maxCellLog:
			c.Lines = []string{}
		case before+n > maxCellLog:
			// Keep the lines that fit, then say why the rest is missing.
			kept, used := 0, before
			for _, l := range c.Lines {
				if used+int64(len(l))+1 > maxCellLog {
					break
				}
				used += int64(len(l)) + 1
				kept++
			}
			c.Lines = append(c.Lines[:kept:kept], fmt.Sprintf("… output cut after %s; later lines are not kept", humanBytes(maxCellLog)))
		}
	}
	msg := make([]byte, 0, 64+len(c.Lines)*16)
	msg = append(msg, `{"t":"event","event":`...)
	msg = c.AppendJSON(msg)
	msg = append(msg, '}')
	ar.mu.Lock()
	ar.pending = append(ar.pending, pendingEvent{ev: c, msg: msg})
	ar.last = c.Seq
	hm := &Msg{Data: msg, Lines: len(c.Lines), Cell: c.Cell, Seq: c.Seq, Run: ar.id}
	m.hub.Publish(runTopic(ar.id), hm)
	if c.Type == engine.EventRunStarted {
		// queued → running is a status change the flow's viewers are told
		// of (PROTOCOL.md), ahead of the event itself.
		info := ar.info
		info.Status = string(engine.RunRunning)
		m.publishInfo(ar.flowID, info)
	}
	m.hub.Publish(flowTopic(ar.flowID), hm)
	ar.mu.Unlock()
}

func (m *Runs) flush(ar *activeRun, log *slog.Logger) error {
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
		err := m.store.AppendEvents(context.Background(), ar.id, batch)
		if err == nil {
			break
		}
		if errors.Is(err, store.ErrAlreadyExists) {
			// An earlier attempt was stored after all (its commit
			// answered with an error): keep only what is not there yet.
			if last, lerr := m.store.LastSeq(context.Background(), ar.id); lerr == nil && last >= batch[0].Seq {
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
	ar.persisted = ar.pending[n-1].ev.Seq
	ar.pending = append(ar.pending[:0:0], ar.pending[n:]...)
	ar.mu.Unlock()
	return nil
}

// publishRun tells a flow's viewers that a run started or changed status.
func (m *Runs) publishRun(r store.Run, by store.User) {
	m.publishInfo(r.FlowID, runInfo(r, by))
}

func (m *Runs) publishInfo(flowID string, info RunInfo) {
	b, _ := json.Marshal(map[string]any{"t": "run", "run": info})
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
	name := by.DisplayName
	if name == "" {
		name = by.Name
	}
	return RunInfo{ID: r.ID, Status: string(r.Status), StartedBy: name, StartedAt: r.CreatedAt.UTC().Format(time.RFC3339), URL: "/runs/" + r.ID}
}

// Cancel cancels an active run. It reports whether the run was active here.
func (m *Runs) Cancel(id string) bool {
	m.mu.Lock()
	ar := m.active[id]
	m.mu.Unlock()
	if ar == nil {
		return false
	}
	ar.cancel(engine.ErrCanceled)
	return true
}

// Active reports whether the run is executing in this process.
func (m *Runs) Active(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.active[id] != nil
}

// ActiveOfFlow lists the ids of the flow's runs executing here.
func (m *Runs) ActiveOfFlow(flowID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, ar := range m.active {
		if ar.flowID == flowID {
			ids = append(ids, id)
		}
	}
	return ids
}

// Attach gives a viewer every event of a run after since, then live ones:
// history holds the stored and in-memory events in seq order; sub (nil when
// the run is over) delivers the rest. The caller skips live events with a
// seq it already sent. Unsubscribe sub from runTopic(id) when done.
func (m *Runs) Attach(ctx context.Context, id string, since int64, buf int) (history [][]byte, sub *Sub, err error) {
	m.mu.Lock()
	ar := m.active[id]
	m.mu.Unlock()
	var mem [][]byte
	upto := int64(-1) // -1: everything stored
	if ar != nil {
		ar.mu.Lock()
		if !ar.finished {
			sub = m.hub.Subscribe(runTopic(id), buf)
			upto = ar.persisted
			for _, p := range ar.pending {
				if p.ev.Seq > since {
					mem = append(mem, p.msg)
				}
			}
		}
		ar.mu.Unlock()
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
			b := make([]byte, 0, len(e.Data)+24)
			b = append(b, `{"t":"event","event":`...)
			b = append(b, e.Data...)
			b = append(b, '}')
			history = append(history, b)
			after = e.Seq
		}
		if len(evs) < page || (upto >= 0 && after >= upto) {
			break
		}
	}
	history = append(history, mem...)
	return history, sub, nil
}

// Stop cancels every active run and waits for them to end.
func (m *Runs) Stop(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	for _, ar := range m.active {
		ar.cancel(errors.New("the server is shutting down"))
	}
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
