package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/store"
)

// notebookSocketStore is what the notebook socket reads and writes: what
// the notebook page reads, the draft's cells and settings, the edits'
// record, and the runs and results it replays.
type notebookSocketStore interface {
	notebookStore
	InsertCell(ctx context.Context, flowID string, position int, c engine.Cell, userID string) (string, error)
	UpdateCell(ctx context.Context, flowID, cellID string, c engine.Cell, userID string) error
	DeleteCellBy(ctx context.Context, flowID, cellID, userID string) error
	MoveCell(ctx context.Context, flowID, cellID string, position int) error
	RestoreCell(ctx context.Context, flowID, cellID, userID string) (string, error)
	UpdateFlowSettings(ctx context.Context, flowID string, fs store.FlowSettings) error
	RecordEdit(ctx context.Context, flowID, userID string) error
	LatestResults(ctx context.Context, flowID string) (map[string]json.RawMessage, error)
	Run(ctx context.Context, id string) (store.Run, error)
	UserByID(ctx context.Context, id string) (store.User, error)
}

var _ notebookSocketStore = (*store.Store)(nil)

// notebookConn is one notebook page's socket.
type notebookConn struct {
	s      *Server
	conn   *websocket.Conn
	user   store.User
	grant  *grant // the credential it was opened with, and its current role
	ws     store.Workspace
	flow   store.FlowSummary
	client string
	out    chan []byte   // replies to this client; the writer sends them
	req    *http.Request // the upgrade request: who and from where, for the audit log
	sub    *Sub          // the flow's broadcasts, and replies that must keep their order
	closed chan struct{} // closed when the connection ends

	lastPresence time.Time
}

// GET /w/{ws}/flows/{slug}/ws
func (s *Server) notebookSocket(w http.ResponseWriter, r *http.Request) error {
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), engine.RoleViewer)
	if err != nil {
		return err
	}
	fs, err := s.stores.notebookSocket.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	var replayRun string
	var since int64
	if id := r.URL.Query().Get("run"); id != "" {
		if run, err := s.stores.notebookSocket.Run(r.Context(), id); err == nil && run.FlowID == fs.ID {
			replayRun = id
			since, _ = strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
		}
	}
	g, err := s.hold(r.Context(), a, engine.RoleViewer, true)
	if err != nil {
		return err
	}
	defer g.release()
	conn, err := s.upgrader.Upgrade(w, r, upgradeHeader(r))
	if err != nil {
		return nil
	}
	s.notebooks.Add(1)
	defer s.notebooks.Done()
	c := &notebookConn{s: s, conn: conn, user: principalFrom(r.Context()).User, grant: g, ws: a.Workspace, flow: fs, client: engine.NewID("k_"), out: make(chan []byte, 64), closed: make(chan struct{}), req: r}
	c.serve(r.Context(), replayRun, since)
	return nil
}

// serve runs the socket: the page is greeted, shown the runs it must
// catch up on, then gets the flow's broadcasts and its replies until one
// side goes away.
func (c *notebookConn) serve(ctx context.Context, replayRun string, since int64) {
	defer c.conn.Close()
	// ctx is the request's: these lines, and all the socket logs, carry its id.
	c.s.log.DebugContext(ctx, "notebook socket opened", logattr.Flow(c.flow.ID), logattr.User(c.user.ID))
	defer c.s.log.DebugContext(ctx, "notebook socket closed", logattr.Flow(c.flow.ID), logattr.User(c.user.ID))
	c.join()
	defer c.leave(ctx)
	c.s.trackSocket(c.conn, "notebook", true)
	defer c.s.trackSocket(c.conn, "notebook", false)
	if !c.greet(ctx) {
		return
	}
	sent, ok := c.replay(ctx, replayRun, since)
	if !ok {
		return
	}
	c.pump(ctx, sent)
}

// join subscribes to the flow's broadcasts.
func (c *notebookConn) join() {
	c.sub = c.s.hub.Subscribe(flowTopic(c.flow.ID), wsQueue)
}

// leave undoes join and greet: the others are told this client left, and
// the last one out releases the flow's documents.
func (c *notebookConn) leave(ctx context.Context) {
	s := c.s
	close(c.closed)
	s.hub.Unsubscribe(flowTopic(c.flow.ID), c.sub)
	s.presence.leave(c.flow.ID, c.client)
	b, _ := json.Marshal(presenceLeaveMsg{T: "presence.leave", Client: c.client})
	s.publishPresence(context.WithoutCancel(ctx), c.flow.ID, b)
	if s.hub.Subscribers(flowTopic(c.flow.ID)) == 0 {
		// Nobody here has the flow open: fold its documents and let them go.
		if err := s.collab.Release(context.WithoutCancel(ctx), c.flow.ID); err != nil {
			s.log.ErrorContext(ctx, "release documents", logattr.Flow(c.flow.ID), "err", err)
		}
	}
}

// greet sends the hello and tells the others this client arrived; false
// when the page could not be greeted (the socket is closed with why).
func (c *notebookConn) greet(ctx context.Context) bool {
	// Present before the hello goes out, so anyone who connects after
	// this client's hello sees it among the peers.
	me := newPeer(c.client, c.user)
	c.s.presence.set(c.flow.ID, me)
	hello, err := c.hello(ctx)
	if err != nil || !c.write(hello) {
		if err != nil {
			c.s.log.ErrorContext(ctx, "notebook hello", logattr.Flow(c.flow.ID), "err", err)
		}
		closeWS(c.conn, websocket.CloseInternalServerErr, "could not load the flow")
		return false
	}
	arrived, _ := json.Marshal(presenceMsg{T: "presence", peer: me})
	c.s.publishPresence(ctx, c.flow.ID, arrived)
	return true
}

// replay sends the events of the run the page shows after since, then of
// any other active run from its start, so a page opened mid-run misses
// nothing. sent is the seq sent per run, so replayed and live events never
// double; ok is false when the page went away.
func (c *notebookConn) replay(ctx context.Context, replayRun string, since int64) (sent map[string]int64, ok bool) {
	sent = map[string]int64{}
	replay := []string{}
	if replayRun != "" {
		replay = append(replay, replayRun)
	}
	for _, id := range c.s.runs.ActiveOfFlow(ctx, c.flow.ID) {
		if id != replayRun {
			replay = append(replay, id)
		}
	}
	for _, id := range replay {
		from := int64(0)
		if id == replayRun {
			from = since
		}
		rs, err := c.s.runs.follow(ctx, id, from, 1, false)
		if err != nil {
			continue
		}
		rs.close() // live events come through the flow's topic
		for {
			msg, more := rs.next()
			if !more {
				break
			}
			if !c.write(msg) {
				return nil, false
			}
		}
		sent[id] = rs.last
	}
	return sent, true
}

// wsClose is a close frame's code and reason.
type wsClose struct {
	code   int
	reason string
}

// pump reads the client's messages (read, in a goroutine of its own) and
// writes what the client is sent, until either side ends the connection.
func (c *notebookConn) pump(ctx context.Context, sent map[string]int64) {
	readDone := make(chan struct{})
	closeWith := make(chan wsClose, 1)
	go func() {
		defer close(readDone)
		c.read(ctx, closeWith)
	}()
	ping := time.NewTicker(wsPingPeriod)
	defer ping.Stop()
	for {
		select {
		case m := <-c.sub.C:
			if !c.forward(m, sent) {
				return
			}
		case b := <-c.out:
			if !c.write(b) {
				return
			}
		case <-ping.C:
			c.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if c.conn.WriteMessage(websocket.PingMessage, nil) != nil {
				return
			}
		case why := <-closeWith:
			closeWS(c.conn, why.code, why.reason)
			<-readDone
			return
		case <-readDone:
			select {
			case why := <-closeWith:
				closeWS(c.conn, why.code, why.reason)
			default:
			}
			return
		case <-c.sub.Done():
			if why, gone := c.s.goneFlows.Load(c.flow.ID); gone {
				closeWS(c.conn, websocket.ClosePolicyViolation, why.(string))
			}
			return
		case <-c.grant.Dead():
			// The credential ended or the role went down: the page shows why.
			closeWS(c.conn, websocket.ClosePolicyViolation, c.grant.Reason())
			return
		}
	}
}

// forward writes one of the flow's broadcasts, after a missed message if
// the client fell behind; run events already replayed are skipped. false
// when the write failed.
func (c *notebookConn) forward(m *Msg, sent map[string]int64) bool {
	if n, cell := c.sub.Missed(); n > 0 {
		b, _ := json.Marshal(missedMsg{T: "missed", Cell: cell, Lines: n, Run: m.Run})
		if !c.write(b) {
			return false
		}
	}
	if m.Seq > 0 {
		if m.Seq <= sent[m.Run] {
			return true
		}
		sent[m.Run] = m.Seq
	}
	c.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
	return c.conn.WritePreparedMessage(m.Frame()) == nil
}

// write sends one text message; false when it failed.
func (c *notebookConn) write(b []byte) bool {
	c.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
	return c.conn.WriteMessage(websocket.TextMessage, b) == nil
}

func (c *notebookConn) hello(ctx context.Context) ([]byte, error) {
	d, err := c.s.stores.notebookSocket.Draft(ctx, c.flow.ID)
	if err != nil {
		return nil, err
	}
	runs, err := c.s.stores.notebookSocket.RunsOfFlow(ctx, c.flow.ID, 10)
	if err != nil {
		return nil, err
	}
	infos := []RunInfo{}
	for _, r := range runs {
		u, _ := c.s.stores.notebookSocket.UserByID(ctx, r.StartedBy)
		infos = append(infos, runInfo(r, u))
	}
	dj := toDraftJSON(d)
	// Each cell's text and version as the authority has them, so the two
	// agree even while changes wait for their checkpoint.
	for i := range dj.Cells {
		v, text, err := c.s.collab.Doc(ctx, c.flow.ID, dj.Cells[i].ID)
		if err != nil {
			return nil, err
		}
		dj.Cells[i].Source, dj.Cells[i].Version = text, v
	}
	// What is paused now: a page that was offline missed triggers.paused.
	paused, err := c.s.stores.notebookSocket.TriggerPauses(ctx, c.flow.ID)
	if err != nil {
		return nil, err
	}
	me := newPeer(c.client, c.user)
	return json.Marshal(helloMsg{
		T: "hello", Client: c.client, Role: c.grant.Role(), Can: rightsOf(c.grant.Role()),
		User:  helloUser{Name: c.user.Name, Display: c.user.DisplayName, Color: me.Color, Initials: me.Initial},
		Draft: dj, Runs: infos, Peers: c.s.presence.list(c.flow.ID, c.client),
		Paused: slices.Sorted(maps.Keys(paused)),
	})
}

func (c *notebookConn) reply(b []byte) {
	select {
	case c.out <- b:
	default:
		// A client that does not read its replies is dropped by the writer's deadline.
	}
}

func (c *notebookConn) replyErr(id json.RawMessage, field, msg string) {
	b, _ := json.Marshal(errorMsg{T: "error", ID: id, Message: msg, Field: field})
	c.reply(b)
}

// read handles the client's messages until it goes away or sends one that
// is malformed, which closes this connection only, with a reason.
func (c *notebookConn) read(ctx context.Context, closeWith chan<- wsClose) {
	c.conn.SetReadLimit(wsMaxMessage)
	c.conn.SetReadDeadline(time.Now().Add(wsPongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(wsPongWait)) })
	for {
		typ, data, err := c.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				closeWith <- wsClose{websocket.CloseMessageTooBig, "message larger than 2 MiB"}
			}
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(wsPongWait))
		if typ != websocket.TextMessage {
			closeWith <- wsClose{websocket.CloseUnsupportedData, "send JSON text messages"}
			return
		}
		msg, err := decodeClientMsg(data)
		if err != nil {
			closeWith <- wsClose{websocket.ClosePolicyViolation, "malformed message: " + err.Error()}
			return
		}
		if !c.dispatch(ctx, msg) {
			closeWith <- wsClose{websocket.ClosePolicyViolation, c.grant.Reason()}
			return
		}
	}
}

// dispatch handles one message as its row of notebookMsgs says, and
// answers it: an ack when it carried an id, else an error. false when the
// credential has ended.
func (c *notebookConn) dispatch(ctx context.Context, msg clientMsg) bool {
	spec := notebookMsgs[msg.T]
	// Checked against the credential as it is now: a revoked token, a
	// sign-out, a new password or a removal ends the grant, a new role
	// changes it (credwatch.go), on every process.
	if spec.verified {
		c.grant.recheck(ctx)
	}
	role := c.grant.Role()
	if role == "" {
		return false
	}
	if !role.AtLeast(spec.need) {
		c.replyErr(msg.ID, "", "your role ("+string(role)+") does not allow "+msg.T)
		return true
	}
	if err := spec.do.handle(c, ctx, msg.body); err != nil {
		e := c.s.classify(&http.Request{Method: "WS " + msg.T, URL: &url.URL{Path: "/w/" + c.ws.Slug + "/flows/" + c.flow.Slug + "/ws"}}, err)
		b, _ := json.Marshal(errorMsg{T: "error", ID: msg.ID, Message: e.Message, Field: e.Field, Cell: e.Cell, Line: e.Line})
		c.reply(b)
		return true
	}
	if len(msg.ID) > 0 {
		b, _ := json.Marshal(ackMsg{T: "ack", ID: msg.ID})
		c.reply(b)
	}
	return true
}

func (c *notebookConn) ping(context.Context, *pingReq) error { return nil }

// source handles the legacy whole-text write of a cell.
func (c *notebookConn) source(ctx context.Context, m *sourceReq) error {
	if len(*m.Source) > store.MaxSourceSize {
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "source", "a cell source is limited to 1 MiB; this one has "+strconv.Itoa(len(*m.Source))+" bytes")
	}
	return c.sourceAsChange(ctx, m.Cell, *m.Source)
}

// presence tells everyone in the flow where this page's cursor is.
// Ephemeral and throttled: a client that sends faster loses some.
func (c *notebookConn) presence(ctx context.Context, m *presenceReq) error {
	now := time.Now()
	if now.Sub(c.lastPresence) < 20*time.Millisecond {
		return nil
	}
	c.lastPresence = now
	pe := newPeer(c.client, c.user)
	pe.Cell, pe.Sel = m.Cell, m.Sel
	c.s.presence.set(c.flow.ID, pe)
	b, _ := json.Marshal(presenceMsg{T: "presence", peer: pe})
	c.s.publishPresence(ctx, c.flow.ID, b)
	return nil
}

// cancel cancels a run of this flow.
func (c *notebookConn) cancel(ctx context.Context, m *cancelReq) error {
	s := c.s
	run, err := s.stores.notebookSocket.Run(ctx, m.Run)
	if err != nil || run.FlowID != c.flow.ID {
		return errorf(http.StatusNotFound, "not_found", "run", "no such run of this flow")
	}
	ok, err := s.runs.Cancel(ctx, m.Run, "")
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusConflict, "not_running", "run", "the run is not running")
	}
	s.auditIn(ctx, c.req, c.ws.ID, actRunCanceled, "run "+m.Run, "from the notebook")
	return nil
}

func (c *notebookConn) broadcastDraft(ctx context.Context) error {
	d, err := c.s.stores.notebookSocket.Draft(ctx, c.flow.ID)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(draftMsg{T: "draft", Draft: toDraftJSON(d), By: c.user.Name})
	c.s.hub.Publish(flowTopic(c.flow.ID), &Msg{Data: b})
	return nil
}

func cellIndex(d store.Draft, id string) int {
	for i, dc := range d.Cells {
		if dc.ID == id {
			return i
		}
	}
	return -1
}

// uniqueName returns base, or base2, base3… that no cell of d has.
func uniqueName(d store.Draft, base string) string {
	taken := map[string]bool{}
	for _, c := range d.Flow.Cells {
		taken[c.Name] = true
	}
	if !taken[base] {
		return base
	}
	for i := 2; ; i++ {
		n := base + strconv.Itoa(i)
		if !taken[n] {
			return n
		}
	}
}

// draftCell reads the draft and finds a cell of it by id: a cell deleted
// meanwhile is an error that says so.
func (c *notebookConn) draftCell(ctx context.Context, id string) (store.Draft, int, error) {
	d, err := c.s.stores.notebookSocket.Draft(ctx, c.flow.ID)
	if err != nil {
		return store.Draft{}, -1, err
	}
	idx := cellIndex(d, id)
	if idx < 0 {
		return store.Draft{}, -1, errorf(http.StatusNotFound, "gone", "cell", "that cell was deleted by someone else; reload to see the flow as it is")
	}
	return d, idx, nil
}

// cellAdd inserts a cell: after the cell named by after, first when after
// is "", last when it is absent or unknown; named as asked (made unique),
// else after its kind.
func (c *notebookConn) cellAdd(ctx context.Context, m *cellAddReq) error {
	d, err := c.s.stores.notebookSocket.Draft(ctx, c.flow.ID)
	if err != nil {
		return err
	}
	kind := m.Kind
	if kind == "" {
		kind = engine.KindShell
	}
	pos := len(d.Cells)
	if m.After != nil && *m.After != "" {
		if i := cellIndex(d, *m.After); i >= 0 {
			pos = i + 1
		}
	} else if m.After != nil {
		pos = 0
	}
	name := string(kind)
	if m.Name != nil && *m.Name != "" {
		name = *m.Name
	}
	if msg := checkCellName(name); msg != "" {
		return errorf(http.StatusUnprocessableEntity, "invalid", "name", msg)
	}
	name = uniqueName(d, name)
	_, err = c.s.stores.notebookSocket.InsertCell(ctx, c.flow.ID, pos, engine.Cell{Name: name, Kind: kind, File: name + kind.Ext()}, c.user.ID)
	return err
}

// cellDelete deletes a cell, keeping its latest text for cell.restore.
func (c *notebookConn) cellDelete(ctx context.Context, m *cellDeleteReq) error {
	s := c.s
	if _, _, err := c.draftCell(ctx, m.Cell); err != nil {
		return err
	}
	if err := s.collab.Flush(ctx, c.flow.ID, m.Cell); err != nil {
		return err
	}
	if err := s.stores.notebookSocket.DeleteCellBy(ctx, c.flow.ID, m.Cell, c.user.ID); err != nil {
		return err
	}
	s.collab.Forget(c.flow.ID, m.Cell)
	return s.stores.notebookSocket.RecordEdit(ctx, c.flow.ID, c.user.ID)
}

// cellDuplicate inserts a copy of a cell after it, named name_copy.
func (c *notebookConn) cellDuplicate(ctx context.Context, m *cellDuplicateReq) error {
	d, idx, err := c.draftCell(ctx, m.Cell)
	if err != nil {
		return err
	}
	cp := d.Flow.Cells[idx]
	cp.Name = uniqueName(d, cp.Name+"_copy")
	cp.File = cp.Name + cp.Kind.Ext()
	_, err = c.s.stores.notebookSocket.InsertCell(ctx, c.flow.ID, idx+1, cp, c.user.ID)
	return err
}

// cellMove moves a cell to a position (past the end: last).
func (c *notebookConn) cellMove(ctx context.Context, m *cellMoveReq) error {
	d, _, err := c.draftCell(ctx, m.Cell)
	if err != nil {
		return err
	}
	if err := c.s.stores.notebookSocket.MoveCell(ctx, c.flow.ID, m.Cell, min(*m.To, len(d.Cells)-1)); err != nil {
		return err
	}
	return c.s.stores.notebookSocket.RecordEdit(ctx, c.flow.ID, c.user.ID)
}

// cellUpdate changes a cell's name, kind and options, if the flow is still
// valid with them.
func (c *notebookConn) cellUpdate(ctx context.Context, m *cellUpdateReq) error {
	d, idx, err := c.draftCell(ctx, m.Cell)
	if err != nil {
		return err
	}
	cell := d.Flow.Cells[idx]
	if m.Name != nil && *m.Name != cell.Name {
		if msg := checkCellName(*m.Name); msg != "" {
			return errorf(http.StatusUnprocessableEntity, "invalid", "name", msg)
		}
		if d.Flow.Cell(*m.Name) != nil {
			return errorf(http.StatusConflict, "exists", "name", "another cell is named "+*m.Name)
		}
		cell.Name = *m.Name
	}
	if m.Kind != "" {
		if !m.Kind.Valid() {
			return errorf(http.StatusUnprocessableEntity, "invalid", "kind", "unknown kind "+string(m.Kind))
		}
		cell.Kind = m.Kind
	}
	cell.File = cell.Name + cell.Kind.Ext()
	if m.Options != nil {
		if err := applyOptions(&cell, *m.Options); err != nil {
			return err
		}
	}
	trial := *d.Flow
	trial.Cells = append([]engine.Cell(nil), d.Flow.Cells...)
	trial.Cells[idx] = cell
	if errs := flow.Validate(&trial); len(errs) > 0 {
		return errorf(http.StatusUnprocessableEntity, "invalid", "options", errs[0].Msg)
	}
	return c.s.stores.notebookSocket.UpdateCell(ctx, c.flow.ID, m.Cell, cell, c.user.ID)
}

// cellRestore puts back a deleted cell with its text and history.
func (c *notebookConn) cellRestore(ctx context.Context, m *cellRestoreReq) error {
	if _, err := c.s.stores.notebookSocket.RestoreCell(ctx, c.flow.ID, m.Cell, c.user.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, "not_found", "cell", "there is no deleted cell to restore (it may be restored already)")
		}
		return err
	}
	c.s.collab.Forget(c.flow.ID, m.Cell)
	return nil
}

// flowUpdate changes the flow's name, description, order, inputs,
// triggers and notify, if the flow is still valid with them.
func (c *notebookConn) flowUpdate(ctx context.Context, m *flowUpdateReq) error {
	s := c.s
	d, err := s.stores.notebookSocket.Draft(ctx, c.flow.ID)
	if err != nil {
		return err
	}
	f := *d.Flow
	if m.Name != nil {
		if strings.TrimSpace(*m.Name) == "" {
			return errorf(http.StatusUnprocessableEntity, "invalid", "name", "give the flow a name")
		}
		f.Name = strings.TrimSpace(*m.Name)
	}
	if m.Description != nil {
		f.Description = *m.Description
	}
	if m.Order != nil {
		switch engine.Order(*m.Order) {
		case engine.OrderNotebook:
			f.Order = ""
		case engine.OrderGraph:
			f.Order = engine.OrderGraph
		default:
			return errorf(http.StatusUnprocessableEntity, "invalid", "order", "order is notebook or graph")
		}
	}
	if m.Inputs.Set {
		f.Inputs = engineInputs(m.Inputs.V)
	}
	if m.Triggers.Set {
		ts, err := editedTriggers(m.Triggers.V)
		if err != nil {
			return err
		}
		f.Triggers = ts
	}
	if m.Notify.Set {
		ns, err := c.editedNotify(ctx, d.Flow.Notify, m.Notify.V)
		if err != nil {
			return err
		}
		f.Notify = ns
	}
	if errs := flow.Validate(&f); len(errs) > 0 {
		field := "inputs"
		if m.Triggers.Set && !m.Inputs.Set {
			field = "triggers"
		}
		return errorf(http.StatusUnprocessableEntity, "invalid", field, errs[0].Msg)
	}
	settings := store.FlowSettings{Name: f.Name, Description: f.Description, Order: f.Order, Inputs: f.Inputs, Triggers: f.Triggers, Notify: f.Notify}
	if err := s.stores.notebookSocket.UpdateFlowSettings(ctx, c.flow.ID, settings); err != nil {
		return err
	}
	return s.stores.notebookSocket.RecordEdit(ctx, c.flow.ID, c.user.ID)
}

// editedNotify checks the notify a flow.update sends, as flow.yaml's is
// checked, and that each destination it adds to was (the draft's notify)
// is one the workspace has. One already named stays even if it is gone
// meanwhile: saving a version names it then.
func (c *notebookConn) editedNotify(ctx context.Context, was []engine.Notify, in []notifyJSON) ([]engine.Notify, error) {
	ns := engineNotify(in)
	if errs := flow.Validate(&engine.Flow{Name: "notify", Notify: ns}); len(errs) > 0 {
		return nil, errorf(http.StatusUnprocessableEntity, "invalid", "notify", errs[0].Msg)
	}
	added := slices.DeleteFunc(slices.Clone(ns), func(n engine.Notify) bool {
		return slices.ContainsFunc(was, func(w engine.Notify) bool { return w.To == n.To })
	})
	i, err := c.s.missingDestination(ctx, c.ws.ID, added)
	if err != nil {
		return nil, err
	}
	if i >= 0 {
		return nil, errorf(http.StatusUnprocessableEntity, "invalid", "notify",
			fmt.Sprintf("this workspace has no notification destination %q; an owner adds it in Settings → Notifications, or name one it has", added[i].To))
	}
	return ns, nil
}

// maxFormBytes bounds an approval cell's form as the page sends it (its
// JSON): a form is a few fields, each with a line of help.
const maxFormBytes = 32 << 10

// editedForm checks an approval cell's form as cell.update sends it, as
// the flow's inputs are checked, naming the input and what is wrong.
func editedForm(in []inputJSON) ([]engine.Input, error) {
	if len(in) > engine.MaxApprovalInput {
		return nil, errorf(http.StatusUnprocessableEntity, "invalid", "inputs", fmt.Sprintf("the form has %d inputs; at most %d", len(in), engine.MaxApprovalInput))
	}
	if b, _ := json.Marshal(in); len(b) > maxFormBytes {
		return nil, errorf(http.StatusUnprocessableEntity, "invalid", "inputs", fmt.Sprintf("the form takes %s; at most %s: shorten its descriptions and options", engine.FormatBytes(int64(len(b))), engine.FormatBytes(maxFormBytes)))
	}
	form := engineInputs(in)
	if errs := flow.Validate(&engine.Flow{Name: "form", Inputs: form}); len(errs) > 0 {
		return nil, errorf(http.StatusUnprocessableEntity, "invalid", "inputs", "the approval form's "+errs[0].Msg)
	}
	return form, nil
}

func checkCellName(name string) string {
	if !engine.IsIdentifier(name) {
		return "a cell name starts with a lower-case letter, then letters, digits or _ (e.g. fetch_orders)"
	}
	return ""
}

func applyOptions(c *engine.Cell, o cellOptions) error {
	parse := func(field, v string) (time.Duration, error) {
		if v == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, errorf(http.StatusUnprocessableEntity, "invalid", field, field+" is a duration such as 30s or 5m")
		}
		return d, nil
	}
	var err error
	if c.Timeout, err = parse("timeout", o.Timeout); err != nil {
		return err
	}
	if c.RetryDelay, err = parse("retry_delay", o.RetryDelay); err != nil {
		return err
	}
	if o.Retries < 0 || o.Retries > 100 {
		return errorf(http.StatusUnprocessableEntity, "invalid", "retries", "retries is between 0 and 100")
	}
	c.Retries = o.Retries
	c.If = o.If
	c.Needs = o.Needs
	c.Connection = o.Connection
	c.ContinueOnError = o.ContinueOnError
	if err := checkExpectStatus(o.ExpectStatus); err != nil {
		return err
	}
	c.ExpectStatus = o.ExpectStatus
	if len(o.Approvers) > engine.MaxApprovers {
		return errorf(http.StatusUnprocessableEntity, "invalid", "approvers", fmt.Sprintf("at most %d approvers; name a role instead of many people", engine.MaxApprovers))
	}
	if o.Approvals < 0 || o.Approvals > engine.MaxApprovals {
		return errorf(http.StatusUnprocessableEntity, "invalid", "approvals", fmt.Sprintf("approvals is between 1 and %d", engine.MaxApprovals))
	}
	switch engine.OnTimeout(o.OnTimeout) {
	case "", engine.OnTimeoutReject, engine.OnTimeoutApprove:
	default:
		return errorf(http.StatusUnprocessableEntity, "invalid", "on_timeout", "on_timeout is reject or approve")
	}
	// The rest (who may be an approver, approvals against them) is the
	// flow's check, shown as the draft's problems.
	c.Approvers, c.Approvals, c.OnTimeout = o.Approvers, o.Approvals, engine.OnTimeout(o.OnTimeout)
	if o.Inputs.Set {
		form, err := editedForm(o.Inputs.V)
		if err != nil {
			return err
		}
		c.Inputs = form
	}
	c.Env = nil
	order := o.EnvOrder
	if len(order) != len(o.Env) {
		order = nil
		for k := range o.Env {
			order = append(order, k)
		}
		slices.Sort(order)
	}
	for _, k := range order {
		v, ok := o.Env[k]
		if !ok {
			continue
		}
		c.Env = append(c.Env, engine.EnvVar{Name: k, Value: v})
	}
	return nil
}

// run starts a run of the draft from the notebook.
func (c *notebookConn) run(ctx context.Context, m *runReq) error {
	s := c.s
	d, err := s.stores.notebookSocket.Draft(ctx, c.flow.ID)
	if err != nil {
		return err
	}
	req := StartRequest{Workspace: c.ws, FlowID: c.flow.ID, FlowSlug: c.flow.Slug, Flow: d.Flow, Inputs: m.Inputs, StartedBy: c.user}
	ids := make([]string, len(d.Cells))
	for i, dc := range d.Cells {
		ids[i] = dc.ID
	}
	if m.Mode == "cell" || m.Mode == "from" {
		i := -1
		for j := range d.Flow.Cells {
			if d.Flow.Cells[j].Name == m.Cell || d.Cells[j].ID == m.Cell {
				i = j
			}
		}
		if i < 0 {
			return errorf(http.StatusNotFound, "gone", "cell", "no cell "+m.Cell+" in this flow")
		}
		if m.Mode == "cell" {
			req.Cells = []string{d.Flow.Cells[i].Name}
		} else {
			for _, cell := range d.Flow.Cells[i:] {
				req.Cells = append(req.Cells, cell.Name)
			}
		}
		prior, err := s.stores.notebookSocket.LatestResults(ctx, c.flow.ID)
		if err != nil {
			return err
		}
		req.Prior = map[string]any{}
		for name, raw := range prior {
			var v any
			if json.Unmarshal(raw, &v) == nil {
				req.Prior[name] = v
			}
		}
	}
	// What stops the run, named by cell: only the cells that run (and
	// what they read) must be right.
	if err := checkForStudio(d.Flow, ids, req.Cells); err != nil {
		return err
	}
	r, err := s.startRun(context.WithoutCancel(ctx), c.req, req, "from the notebook")
	if err != nil {
		return err
	}
	b, _ := json.Marshal(startedMsg{T: "started", ID: m.ID, Run: r.ID})
	c.reply(b)
	return nil
}

// checkExpectStatus accepts status codes from 100 to 599 and classes 1xx
// to 5xx, each once, as flow.yaml's expect_status does.
func checkExpectStatus(list []string) error {
	if len(list) > engine.MaxExpectStatus {
		return errorf(http.StatusUnprocessableEntity, "invalid", "expect_status", "expect_status lists at most "+strconv.Itoa(engine.MaxExpectStatus)+" codes or classes (use classes like 4xx)")
	}
	seen := map[string]bool{}
	for _, s := range list {
		if !engine.ValidStatusPattern(s) || seen[s] {
			return errorf(http.StatusUnprocessableEntity, "invalid", "expect_status", "expect_status lists HTTP status codes from 100 to 599 (like 404) or classes from 1xx to 5xx (like 4xx), each once")
		}
		seen[s] = true
	}
	return nil
}
