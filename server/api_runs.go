package server

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/engine/worker"
)

// versionReader reads what flowForRun may run: the draft or a version.
type versionReader interface {
	Draft(ctx context.Context, flowID string) (store.Draft, error)
	Version(ctx context.Context, flowID string, n int) (store.Version, error)
}

var _ versionReader = (*store.Store)(nil)

// runFinder finds a run and its workspace, for runAccess.
type runFinder interface {
	Run(ctx context.Context, id string) (store.Run, error)
	WorkspaceByID(ctx context.Context, id string) (store.Workspace, error)
}

var _ runFinder = (*store.Store)(nil)

// apiRunStore is what the API's run routes read: the flow to start, a run, its cells and log.
type apiRunStore interface {
	FlowBySlug(ctx context.Context, wsID, slug string) (store.FlowSummary, error)
	FlowByID(ctx context.Context, id string) (store.FlowSummary, error)
	Run(ctx context.Context, id string) (store.Run, error)
	CellRuns(ctx context.Context, runID string) ([]store.CellRun, error)
	RerunsOf(ctx context.Context, id string) ([]string, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	Events(ctx context.Context, runID string, since int64, limit int) ([]store.StoredEvent, error)
}

var _ apiRunStore = (*store.Store)(nil)

// POST /api/v1/flows/{slug}/runs
func (s *Server) apiStartRun(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apiWorkspace(r, engine.RoleRunner)
	if err != nil {
		return err
	}
	var body startRunBody
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			return errorf(http.StatusBadRequest, "bad_json", "", "the body must be a JSON object like {\"inputs\": {…}}: "+err.Error())
		}
	}
	fs, err := s.stores.apiRuns.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	f, version, err := s.flowForRun(r.Context(), fs, body.Version)
	if err != nil {
		return err
	}
	var wait time.Duration
	if body.Wait != "" {
		wait, err = time.ParseDuration(body.Wait)
		if err != nil || wait < 0 || wait > 10*time.Minute {
			return errorf(http.StatusBadRequest, "wait", "wait", "wait is a duration up to 10m, e.g. \"30s\"")
		}
	}
	inputs := map[string]any{}
	for k, v := range body.Inputs {
		if n, ok := v.(json.Number); ok {
			v = n.String()
		}
		inputs[k] = v
	}
	p := principalFrom(r.Context())
	run, err := s.startRun(r.Context(), r, StartRequest{
		Workspace: a.Workspace, FlowID: fs.ID, FlowSlug: fs.Slug, Flow: f, Version: version,
		Inputs: inputs, StartedBy: p.User,
	}, "")
	if err != nil {
		return err
	}
	if wait > 0 {
		s.waitRun(r.Context(), run.ID, wait)
	}
	out, err := s.runJSON(r.Context(), run.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// flowForRun picks the flow content to run: "draft", "published", a
// version number, or by default the published version (else the latest;
// else, for a flow with no version yet, the draft, as version 0).
func (s *Server) flowForRun(ctx context.Context, fs store.FlowSummary, v json.RawMessage) (*engine.Flow, int, error) {
	sel := strings.Trim(string(v), `"`)
	if sel == "draft" {
		d, err := s.stores.runFlow.Draft(ctx, fs.ID)
		if err != nil {
			return nil, 0, err
		}
		return d.Flow, 0, nil
	}
	n := fs.PublishedVersion
	switch sel {
	case "", "null", "published":
		if n == 0 {
			n = fs.Versions
		}
		if sel == "published" && fs.PublishedVersion == 0 {
			return nil, 0, errorf(http.StatusConflict, "unpublished", "version", "this flow has no published version; publish one or ask for \"draft\" or a number")
		}
		if n == 0 {
			// No version saved yet: the draft is all there is.
			return s.flowForRun(ctx, fs, json.RawMessage(`"draft"`))
		}
	default:
		var err error
		n, err = strconv.Atoi(sel)
		if err != nil || n < 1 {
			return nil, 0, errorf(http.StatusBadRequest, "version", "version", "version is a number, \"draft\" or \"published\"")
		}
	}
	ver, err := s.stores.runFlow.Version(ctx, fs.ID, n)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, 0, errorf(http.StatusNotFound, "not_found", "version", "this flow has no version "+strconv.Itoa(n))
		}
		return nil, 0, err
	}
	f, err := flowFromFiles(ver.Files)
	if err != nil {
		return nil, 0, err
	}
	return f, n, nil
}

// waitRun waits until the run ends or d passes.
func (s *Server) waitRun(ctx context.Context, id string, d time.Duration) {
	s.runs.Wait(ctx, id, d)
}

type apiCell struct {
	Name       string          `json:"name"`
	Kind       string          `json:"kind,omitempty"`
	Status     string          `json:"status"`
	Attempts   int             `json:"attempts"`
	DurationMS int64           `json:"duration_ms"`
	Result     json.RawMessage `json:"result,omitempty"`
	LogBytes   int64           `json:"log_bytes"`
	// ReusedFrom is, in a re-run, the run this cell's result was taken
	// from (it did not execute again).
	ReusedFrom string `json:"reused_from,omitempty"`
}

type apiRun struct {
	ID         string          `json:"id"`
	Status     string          `json:"status"`
	Flow       string          `json:"flow"`
	Version    any             `json:"version"`
	Hash       string          `json:"hash"`
	Inputs     json.RawMessage `json:"inputs"`
	StartedBy  string          `json:"started_by"`
	CreatedAt  string          `json:"created_at"`
	StartedAt  string          `json:"started_at,omitempty"`
	FinishedAt string          `json:"finished_at,omitempty"`
	DurationMS int64           `json:"duration_ms"`
	Error      string          `json:"error,omitempty"`
	Cells      []apiCell       `json:"cells"`
	URL        string          `json:"url"`
	// RerunOf and RerunFrom: this run re-runs that run from that cell.
	RerunOf   string `json:"rerun_of,omitempty"`
	RerunFrom string `json:"rerun_from,omitempty"`
	// Reruns are the runs that re-run this one, newest first.
	Reruns []string `json:"reruns,omitempty"`
	// Notifications is the run's delivery log (GET /api/v1/runs/{id} only).
	Notifications *[]apiDelivery `json:"notifications,omitempty"`
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(engine.TimeFormat)
}

func (s *Server) runJSON(ctx context.Context, id string) (apiRun, error) {
	r, err := s.stores.apiRuns.Run(ctx, id)
	if err != nil {
		return apiRun{}, err
	}
	cells, err := s.stores.apiRuns.CellRuns(ctx, id)
	if err != nil {
		return apiRun{}, err
	}
	fl, err := s.stores.apiRuns.FlowByID(ctx, r.FlowID)
	if err != nil {
		return apiRun{}, err
	}
	by := ""
	if r.StartedBy != "" {
		if u, err := s.stores.apiRuns.UserByID(ctx, r.StartedBy); err == nil {
			by = u.Name
		}
	}
	out := apiRun{
		ID: r.ID, Status: string(r.Status), Flow: fl.Slug, Hash: r.Hash, Inputs: r.Inputs,
		StartedBy: by, CreatedAt: fmtTime(r.CreatedAt), StartedAt: fmtTime(r.StartedAt),
		FinishedAt: fmtTime(r.FinishedAt), DurationMS: r.DurationMS, Error: r.Error,
		Cells: []apiCell{}, URL: "/runs/" + r.ID,
	}
	if r.Version == 0 {
		out.Version = "draft"
	} else {
		out.Version = r.Version
	}
	kinds := map[string]engine.Kind{}
	var order []string
	if f, err := flowFromFiles(r.Files); err == nil {
		for _, c := range f.Cells {
			kinds[c.Name] = c.Kind
			order = append(order, c.Name)
		}
	}
	var rq store.RunRequest
	json.Unmarshal(r.Request, &rq)
	out.RerunOf, out.RerunFrom = rq.RerunOf, rq.From
	if out.Reruns, err = s.stores.apiRuns.RerunsOf(ctx, r.ID); err != nil {
		return apiRun{}, err
	}
	for _, c := range cells {
		if c.Kind == "" {
			c.Kind = kinds[c.Name]
		}
		out.Cells = append(out.Cells, apiCell{Name: c.Name, Kind: string(c.Kind), Status: string(c.Status), Attempts: c.Attempts, DurationMS: c.DurationMS, Result: c.Result, LogBytes: c.LogBytes})
	}
	if len(rq.Reused) > 0 {
		// The cells a re-run took from another run, in the flow's order
		// among those it executed.
		at := map[string]int{}
		for i, name := range order {
			at[name] = i
		}
		for name, from := range rq.Reused {
			out.Cells = append(out.Cells, apiCell{Name: name, Kind: string(kinds[name]), Status: string(from.Status), Result: rq.Prior[name], ReusedFrom: from.Run})
		}
		slices.SortStableFunc(out.Cells, func(a, b apiCell) int { return cmp.Compare(at[a.Name], at[b.Name]) })
	}
	if m := s.maskerFor(ctx, r.WorkspaceID); m.Active() {
		out.Error, out.Inputs = m.String(out.Error), maskJSON(m, out.Inputs)
		for i := range out.Cells {
			out.Cells[i].Result = maskJSON(m, out.Cells[i].Result)
		}
	}
	return out, nil
}

// runAccess loads a run and checks the principal's role in its workspace.
func (s *Server) runAccess(ctx context.Context, id string, min engine.Role) (store.Run, access, error) {
	if principalFrom(ctx) == nil {
		return store.Run{}, access{}, errUnauthorized
	}
	r, err := s.stores.runAccess.Run(ctx, id)
	if err != nil {
		return store.Run{}, access{}, err
	}
	ws, err := s.stores.runAccess.WorkspaceByID(ctx, r.WorkspaceID)
	if err != nil {
		return store.Run{}, access{}, err
	}
	a, err := s.accessTo(ctx, ws, min)
	return r, a, err
}

// GET /api/v1/runs/{id}
func (s *Server) apiGetRun(w http.ResponseWriter, r *http.Request) error {
	run, _, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleViewer)
	if err != nil {
		return err
	}
	out, err := s.runJSON(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if out.Notifications, err = s.apiDeliveries(r.Context(), run); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// POST /api/v1/runs/{id}/cancel
func (s *Server) apiCancelRun(w http.ResponseWriter, r *http.Request) error {
	run, _, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleRunner)
	if err != nil {
		return err
	}
	if run.Status.Done() {
		return errorf(http.StatusConflict, "finished", "", "the run already "+string(run.Status))
	}
	ok, err := s.runs.Cancel(r.Context(), run.ID, "")
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusConflict, "finished", "", "the run has already ended")
	}
	s.auditIn(r.Context(), r, run.WorkspaceID, actRunCanceled, "run "+run.ID, "")
	writeJSON(w, http.StatusAccepted, map[string]string{"id": run.ID, "status": "canceling"})
	return nil
}

// GET /api/v1/runs/{id}/log?cell=NAME and /runs/{id}/log?cell=NAME
func (s *Server) runLog(w http.ResponseWriter, r *http.Request) error {
	run, _, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleViewer)
	if err != nil {
		return err
	}
	cell := r.URL.Query().Get("cell")
	if cell == "" {
		return errorf(http.StatusBadRequest, "cell", "cell", "name the cell with ?cell=NAME")
	}
	if !runHasCell(run, cell) {
		return errorf(http.StatusNotFound, "not_found", "cell", "this run has no cell "+cell)
	}
	if from := reusedFrom(run, cell); from != "" {
		// A re-run did not execute this cell: its log is the run's it
		// was taken from (same workspace, same masking).
		if src, err := s.stores.apiRuns.Run(r.Context(), from); err == nil && src.WorkspaceID == run.WorkspaceID {
			run = src
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Query().Get("download") != "" || !strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Disposition", `attachment; filename="`+run.ID+"-"+engine.Slugify(cell)+`.log"`)
	}
	return s.writeLog(w, r, run, cell)
}

// writeLog writes a cell's whole log as text, every workspace secret masked.
func (s *Server) writeLog(w http.ResponseWriter, r *http.Request, run store.Run, cell string) error {
	m := s.maskerFor(r.Context(), run.WorkspaceID)
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	var after int64
	for {
		evs, err := s.stores.apiRuns.Events(r.Context(), run.ID, after, 1000)
		if err != nil {
			return err
		}
		for _, se := range evs {
			after = se.Seq
			if se.Type != engine.EventCellLog || se.Cell != cell {
				continue
			}
			var e engine.Event
			if json.Unmarshal(se.Data, &e) != nil {
				continue
			}
			for _, l := range e.Lines {
				bw.WriteString(m.String(l))
				bw.WriteByte('\n')
			}
		}
		if len(evs) < 1000 {
			return nil
		}
	}
}

// GET /api/v1/runs/{id}/events?since=N — a WebSocket when asked to upgrade,
// else server-sent events.
func (s *Server) apiRunEvents(w http.ResponseWriter, r *http.Request) error {
	run, a, err := s.runAccess(r.Context(), r.PathValue("id"), engine.RoleViewer)
	if err != nil {
		return err
	}
	since, err := sinceParam(r)
	if err != nil {
		return err
	}
	// The stream ends when the token is revoked or expires, or its user
	// leaves the workspace.
	g, err := s.hold(r.Context(), a, engine.RoleViewer, false)
	if err != nil {
		return err
	}
	if websocket.IsWebSocketUpgrade(r) {
		s.streamRunWS(w, r, run.ID, since, true, g)
		return nil
	}
	defer g.release()
	return s.streamRunSSE(w, r, run.ID, since, g)
}

func sinceParam(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("since")
	if v == "" {
		v = r.Header.Get("Last-Event-ID")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, "since", "since", "since is a seq number (0 or more)")
	}
	return n, nil
}

// eventFramePrefix opens the studio's socket frame of one run event,
// {"t":"event","event":EVENT} (docs/PROTOCOL.md). The event is its stored
// JSON, which passes through as it is: framing it is two appends, where
// decoding and encoding it again would cost an allocation-heavy round trip
// per event per process.
const eventFramePrefix = `{"t":"event","event":`

// eventFrame wraps an event's JSON in its socket frame.
func eventFrame(event []byte) []byte {
	b := make([]byte, 0, len(eventFramePrefix)+len(event)+1)
	b = append(b, eventFramePrefix...)
	b = append(b, event...)
	return append(b, '}')
}

// eventOf extracts the event from a frame eventFrame made.
func eventOf(msg []byte) []byte {
	if len(msg) > len(eventFramePrefix) && string(msg[:len(eventFramePrefix)]) == eventFramePrefix {
		return msg[len(eventFramePrefix) : len(msg)-1]
	}
	return nil
}

// streamRunSSE sends a run's events as server-sent events: history, then
// live, until the run ends, the client leaves or its credential ends.
func (s *Server) streamRunSSE(w http.ResponseWriter, r *http.Request, id string, since int64, g *grant) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return errors.New("streaming unsupported")
	}
	rs, err := s.runs.follow(r.Context(), id, since, s.cfg.SSEQueue, true)
	if err != nil {
		return err
	}
	defer rs.close()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sse := &sseStream{ctx: r.Context(), bw: bufio.NewWriterSize(w, 32<<10), fl: fl, rs: rs}
	if sse.replay() {
		return nil
	}
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case m := <-rs.live():
			if sse.sendLive(m) {
				return nil
			}
		case <-rs.ended():
			sse.finish()
			return nil
		case <-keep.C:
			sse.keepAlive()
		case <-g.Dead():
			sse.credentialEnded(g.Reason())
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}

// sseStream is one client reading a run as server-sent events: the steps
// of streamRunSSE. The steps that report a bool "done" report whether the
// stream is over.
type sseStream struct {
	ctx context.Context
	bw  *bufio.Writer
	fl  http.Flusher
	rs  *runStream
}

// write buffers one stored message as an event with its seq as the id.
func (e *sseStream) write(msg []byte) {
	ev := eventOf(msg)
	var head struct {
		Seq  int64            `json:"seq"`
		Type engine.EventType `json:"type"`
	}
	json.Unmarshal(ev, &head)
	e.bw.WriteString("id: ")
	e.bw.WriteString(strconv.FormatInt(head.Seq, 10))
	e.bw.WriteString("\nevent: ")
	e.bw.WriteString(string(head.Type))
	e.bw.WriteString("\ndata: ")
	e.bw.Write(ev)
	e.bw.WriteString("\n\n")
}

func (e *sseStream) flush() {
	e.bw.Flush()
	e.fl.Flush()
}

// replay writes the history left.
func (e *sseStream) replay() (done bool) {
	for {
		msg, ok := e.rs.next()
		if !ok {
			break
		}
		e.write(msg)
	}
	e.flush()
	return e.rs.over()
}

// catchUp refetches from storage what a slow client's queue dropped:
// an API client gets every event, late rather than never.
func (e *sseStream) catchUp() (done bool) {
	if e.rs.catchUp(e.ctx) != nil {
		return true
	}
	return e.replay()
}

// sendLive writes one live message, flushing when no other is waiting.
func (e *sseStream) sendLive(m *Msg) (done bool) {
	if e.rs.behind() {
		return e.catchUp()
	}
	if !e.rs.accept(m.Data, m.Seq) {
		return false
	}
	e.write(m.Data)
	if len(e.rs.live()) == 0 || e.rs.over() {
		e.flush()
	}
	return e.rs.over()
}

// finish writes what is left once the live part has ended.
func (e *sseStream) finish() {
	if e.rs.behind() {
		e.catchUp()
		return
	}
	e.rs.drain()
	e.replay()
}

func (e *sseStream) keepAlive() {
	e.bw.WriteString(": keep-alive\n\n")
	e.flush()
}

// credentialEnded says why the stream stops, in the API's error shape.
func (e *sseStream) credentialEnded(reason string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "unauthorized", "message": reason}})
	e.bw.WriteString("event: error\ndata: ")
	e.bw.Write(b)
	e.bw.WriteString("\n\n")
	e.flush()
}

// flowFromFiles parses stored plain files back into a flow.
func flowFromFiles(files []store.File) (*engine.Flow, error) {
	return worker.FlowFromFiles(files)
}

// runHasCell reports whether cell is one of the cells of the run's flow.
func runHasCell(run store.Run, cell string) bool {
	f, err := flowFromFiles(run.Files)
	if err != nil {
		return true // cannot tell: answer with what is stored
	}
	return f.Cell(cell) != nil
}

// reusedFrom is the run a re-run took cell from instead of executing it
// ("" when it executed it, or is no re-run).
func reusedFrom(run store.Run, cell string) string {
	var rq store.RunRequest
	if json.Unmarshal(run.Request, &rq) != nil {
		return ""
	}
	return rq.Reused[cell].Run
}
