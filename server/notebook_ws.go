package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/store"
)

// clientMsg is any message a notebook page sends (docs/PROTOCOL.md).
type clientMsg struct {
	T       string          `json:"t"`
	ID      json.RawMessage `json:"id,omitempty"`
	Cell    string          `json:"cell,omitempty"`
	Source  *string         `json:"source,omitempty"`
	After   *string         `json:"after,omitempty"`
	Kind    engine.Kind     `json:"kind,omitempty"`
	Name    *string         `json:"name,omitempty"`
	To      *int            `json:"to,omitempty"`
	Options *cellOptions    `json:"options,omitempty"`
	// flow.update
	Description *string         `json:"description,omitempty"`
	Order       *string         `json:"order,omitempty"`
	RawInputs   json.RawMessage `json:"inputs,omitempty"`
	Inputs      *[]inputJSON    `json:"-"`
	// run
	Mode      string         `json:"mode,omitempty"`
	RunInputs map[string]any `json:"-"`
	Run       string         `json:"run,omitempty"`
	// collab.push, collab.pull, presence
	Version *int            `json:"version,omitempty"`
	Updates json.RawMessage `json:"updates,omitempty"`
	Sel     json.RawMessage `json:"sel,omitempty"`
}

// needs is the least role each message needs.
var needs = map[string]string{
	"source": store.RoleEditor, "cell.add": store.RoleEditor, "cell.delete": store.RoleEditor,
	"cell.duplicate": store.RoleEditor, "cell.move": store.RoleEditor, "cell.update": store.RoleEditor,
	"flow.update": store.RoleEditor, "run": store.RoleRunner, "cancel": store.RoleRunner, "ping": store.RoleViewer,
	"collab.push": store.RoleEditor, "collab.pull": store.RoleViewer, "collab.doc": store.RoleViewer,
	"presence": store.RoleViewer, "cell.restore": store.RoleEditor,
}

// verified are the messages that check the credential against the store
// before they act, besides the in-memory check every message gets: they
// are rare, and they run code or change a flow's structure, so they must
// not slip through in the moment before another process's notification
// of a revocation arrives. Typing (collab.push) relies on the notification.
var verified = map[string]bool{
	"run": true, "cancel": true, "flow.update": true, "cell.add": true, "cell.delete": true,
	"cell.duplicate": true, "cell.move": true, "cell.update": true, "cell.restore": true,
}

// maxSel bounds a presence message's selection.
const maxSel = 4 << 10

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
	a, err := s.workspaceAccess(r.Context(), r.PathValue("ws"), store.RoleViewer)
	if err != nil {
		return err
	}
	fs, err := s.store.FlowBySlug(r.Context(), a.Workspace.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	var replayRun string
	var since int64
	if id := r.URL.Query().Get("run"); id != "" {
		if run, err := s.store.Run(r.Context(), id); err == nil && run.FlowID == fs.ID {
			replayRun = id
			since, _ = strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
		}
	}
	g, err := s.hold(r.Context(), a, store.RoleViewer, true)
	if err != nil {
		return err
	}
	defer g.release()
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil
	}
	s.notebooks.Add(1)
	defer s.notebooks.Done()
	c := &notebookConn{s: s, conn: conn, user: principalFrom(r.Context()).User, grant: g, ws: a.Workspace, flow: fs, client: engine.NewID("k_"), out: make(chan []byte, 64), closed: make(chan struct{}), req: r}
	c.serve(r.Context(), replayRun, since)
	return nil
}

func (c *notebookConn) serve(ctx context.Context, replayRun string, since int64) {
	defer c.conn.Close()
	s := c.s
	sub := s.hub.Subscribe(flowTopic(c.flow.ID), wsQueue)
	c.sub = sub
	defer func() {
		close(c.closed)
		s.hub.Unsubscribe(flowTopic(c.flow.ID), sub)
		s.presence.leave(c.flow.ID, c.client)
		b, _ := json.Marshal(map[string]any{"t": "presence.leave", "client": c.client})
		s.publishPresence(context.WithoutCancel(ctx), c.flow.ID, b)
		if s.hub.Subscribers(flowTopic(c.flow.ID)) == 0 {
			// Nobody here has the flow open: fold its documents and let them go.
			if err := s.collab.Release(context.WithoutCancel(ctx), c.flow.ID); err != nil {
				s.log.Error("release documents", "flow", c.flow.ID, "err", err)
			}
		}
	}()
	s.trackSocket(c.conn, true)
	defer s.trackSocket(c.conn, false)

	// The seq already sent per run, so replayed and live events never double.
	sent := map[string]int64{}
	write := func(b []byte) bool {
		c.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
		return c.conn.WriteMessage(websocket.TextMessage, b) == nil
	}
	// Present before the hello goes out, so anyone who connects after
	// this client's hello sees it among the peers.
	me := newPeer(c.client, c.user)
	s.presence.set(c.flow.ID, me)
	hello, err := c.hello(ctx)
	if err != nil || !write(hello) {
		if err != nil {
			s.log.Error("notebook hello", "flow", c.flow.ID, "err", err)
		}
		closeWS(c.conn, websocket.CloseInternalServerErr, "could not load the flow")
		return
	}
	arrived, _ := json.Marshal(presenceMsg{T: "presence", peer: me})
	s.publishPresence(ctx, c.flow.ID, arrived)
	// Replay the run the page shows, then any other active run, so a page
	// opened mid-run misses nothing.
	replay := []string{}
	if replayRun != "" {
		replay = append(replay, replayRun)
	}
	for _, id := range s.runs.ActiveOfFlow(ctx, c.flow.ID) {
		if id != replayRun {
			replay = append(replay, id)
		}
	}
	for _, id := range replay {
		from := int64(0)
		if id == replayRun {
			from = since
		}
		rs, err := s.runs.follow(ctx, id, from, 1, false)
		if err != nil {
			continue
		}
		rs.close() // live events come through the flow's topic
		for {
			msg, ok := rs.next()
			if !ok {
				break
			}
			if !write(msg) {
				return
			}
		}
		sent[id] = rs.last
	}

	readDone := make(chan struct{})
	closeReason := make(chan [2]any, 1)
	go func() {
		defer close(readDone)
		c.read(ctx, closeReason)
	}()
	ping := time.NewTicker(wsPingPeriod)
	defer ping.Stop()
	for {
		select {
		case m := <-sub.C:
			if n, cell := sub.Missed(); n > 0 {
				b, _ := json.Marshal(map[string]any{"t": "missed", "cell": cell, "lines": n, "run": m.Run})
				if !write(b) {
					return
				}
			}
			if m.Seq > 0 {
				if m.Seq <= sent[m.Run] {
					continue
				}
				sent[m.Run] = m.Seq
			}
			c.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if c.conn.WritePreparedMessage(m.Frame()) != nil {
				return
			}
		case b := <-c.out:
			if !write(b) {
				return
			}
		case <-ping.C:
			c.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if c.conn.WriteMessage(websocket.PingMessage, nil) != nil {
				return
			}
		case why := <-closeReason:
			closeWS(c.conn, why[0].(int), why[1].(string))
			<-readDone
			return
		case <-readDone:
			select {
			case why := <-closeReason:
				closeWS(c.conn, why[0].(int), why[1].(string))
			default:
			}
			return
		case <-sub.Done():
			return
		case <-c.grant.Dead():
			// The credential ended or the role went down: the page shows why.
			closeWS(c.conn, websocket.ClosePolicyViolation, c.grant.Reason())
			return
		}
	}
}

func (c *notebookConn) hello(ctx context.Context) ([]byte, error) {
	d, err := c.s.store.Draft(ctx, c.flow.ID)
	if err != nil {
		return nil, err
	}
	runs, err := c.s.store.RunsOfFlow(ctx, c.flow.ID, 10)
	if err != nil {
		return nil, err
	}
	infos := []RunInfo{}
	for _, r := range runs {
		u, _ := c.s.store.UserByID(ctx, r.StartedBy)
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
	me := newPeer(c.client, c.user)
	return json.Marshal(map[string]any{
		"t": "hello", "client": c.client, "role": c.grant.Role(),
		"user":  map[string]string{"name": c.user.Name, "display": c.user.DisplayName, "color": me.Color, "initials": me.Initial},
		"draft": dj, "runs": infos, "peers": c.s.presence.list(c.flow.ID, c.client),
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
	b, _ := json.Marshal(map[string]any{"t": "error", "id": id, "message": msg, "field": field})
	c.reply(b)
}

// read handles the client's messages until it goes away or sends one that
// is malformed, which closes this connection only, with a reason.
func (c *notebookConn) read(ctx context.Context, closeWith chan<- [2]any) {
	c.conn.SetReadLimit(wsMaxMessage)
	c.conn.SetReadDeadline(time.Now().Add(wsPongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(wsPongWait)) })
	for {
		typ, data, err := c.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				closeWith <- [2]any{websocket.CloseMessageTooBig, "message larger than 2 MiB"}
			}
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(wsPongWait))
		if typ != websocket.TextMessage {
			closeWith <- [2]any{websocket.CloseUnsupportedData, "send JSON text messages"}
			return
		}
		msg, err := parseClientMsg(data)
		if err != nil {
			closeWith <- [2]any{websocket.ClosePolicyViolation, "malformed message: " + err.Error()}
			return
		}
		// Checked against the credential as it is now: a revoked token, a
		// sign-out, a new password or a removal ends the grant, a new role
		// changes it (credwatch.go), on every process.
		if verified[msg.T] {
			c.grant.recheck(ctx)
		}
		role := c.grant.Role()
		if role == "" {
			closeWith <- [2]any{websocket.ClosePolicyViolation, c.grant.Reason()}
			return
		}
		if !atLeast(role, needs[msg.T]) {
			c.replyErr(msg.ID, "", "your role ("+role+") does not allow "+msg.T)
			continue
		}
		if err := c.handle(ctx, msg); err != nil {
			e := c.s.classify(&http.Request{Method: "WS " + msg.T, URL: &url.URL{Path: "/w/" + c.ws.Slug + "/flows/" + c.flow.Slug + "/ws"}}, err)
			c.replyErr(msg.ID, e.Field, e.Message)
			continue
		}
		if len(msg.ID) > 0 {
			b, _ := json.Marshal(map[string]any{"t": "ack", "id": msg.ID})
			c.reply(b)
		}
	}
}

// parseClientMsg decodes and checks a message's shape.
func parseClientMsg(data []byte) (*clientMsg, error) {
	var msg clientMsg
	if err := json.Unmarshal(data, &msg); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if _, ok := needs[msg.T]; !ok {
		return nil, fmt.Errorf("unknown type %q", msg.T)
	}
	if len(msg.Cell) > 64 || len(msg.Run) > 64 {
		return nil, errors.New("cell and run ids are at most 64 bytes")
	}
	if len(msg.RawInputs) > 0 && msg.T == "flow.update" {
		var in []inputJSON
		if err := json.Unmarshal(msg.RawInputs, &in); err != nil {
			return nil, fmt.Errorf("inputs must be a list of inputs: %v", err)
		}
		msg.Inputs = &in
	}
	if msg.T == "run" {
		if len(msg.RawInputs) > 0 && string(msg.RawInputs) != "null" {
			if err := json.Unmarshal(msg.RawInputs, &msg.RunInputs); err != nil {
				return nil, fmt.Errorf("inputs must be an object: %v", err)
			}
		}
		switch msg.Mode {
		case "", "all":
		case "cell", "from":
			if msg.Cell == "" {
				return nil, errors.New("run " + msg.Mode + " needs a cell")
			}
		default:
			return nil, fmt.Errorf("unknown run mode %q", msg.Mode)
		}
	}
	switch msg.T {
	case "source":
		if msg.Cell == "" || msg.Source == nil {
			return nil, errors.New("source needs cell and source")
		}
	case "cell.delete", "cell.duplicate", "cell.update", "cell.restore", "collab.doc":
		if msg.Cell == "" {
			return nil, errors.New(msg.T + " needs a cell")
		}
	case "collab.push", "collab.pull":
		if msg.Cell == "" || msg.Version == nil || *msg.Version < 0 {
			return nil, errors.New(msg.T + " needs a cell and a version (≥ 0)")
		}
		if msg.T == "collab.push" && len(msg.Updates) == 0 {
			return nil, errors.New("collab.push needs updates")
		}
	case "presence":
		if len(msg.Sel) > maxSel {
			return nil, errors.New("presence: selection too large")
		}
	case "cell.move":
		if msg.Cell == "" || msg.To == nil || *msg.To < 0 {
			return nil, errors.New("cell.move needs a cell and a position (to ≥ 0)")
		}
	case "cell.add":
		if msg.Kind != "" && !msg.Kind.Valid() {
			return nil, fmt.Errorf("unknown kind %q", msg.Kind)
		}
	case "cancel":
		if msg.Run == "" {
			return nil, errors.New("cancel needs a run")
		}
	}
	return &msg, nil
}

func (c *notebookConn) handle(ctx context.Context, m *clientMsg) error {
	s := c.s
	switch m.T {
	case "ping":
		return nil
	case "source":
		if len(*m.Source) > store.MaxSourceSize {
			return errorf(http.StatusRequestEntityTooLarge, "too_large", "source", "a cell source is limited to 1 MiB; this one has "+strconv.Itoa(len(*m.Source))+" bytes")
		}
		return c.sourceAsChange(ctx, m.Cell, *m.Source)
	case "collab.push":
		return c.collabPush(ctx, m)
	case "collab.pull":
		return c.collabPull(ctx, m)
	case "collab.doc":
		return c.collabDoc(ctx, m)
	case "presence":
		// Ephemeral and throttled: a client that sends faster loses some.
		if now := time.Now(); now.Sub(c.lastPresence) >= 20*time.Millisecond {
			c.lastPresence = now
			pe := newPeer(c.client, c.user)
			pe.Cell, pe.Sel = m.Cell, m.Sel
			s.presence.set(c.flow.ID, pe)
			b, _ := json.Marshal(presenceMsg{T: "presence", peer: pe})
			s.publishPresence(ctx, c.flow.ID, b)
		}
		return nil
	case "cell.add", "cell.delete", "cell.duplicate", "cell.move", "cell.update", "flow.update", "cell.restore":
		if err := c.structure(ctx, m); err != nil {
			return err
		}
		if m.T == "cell.delete" || m.T == "cell.move" || m.T == "flow.update" {
			// The others record their editor in the store; these name none.
			if err := s.store.RecordEdit(ctx, c.flow.ID, c.user.ID); err != nil {
				return err
			}
		}
		s.announceFlow(ctx, c.flow.ID)
		return c.broadcastDraft(ctx)
	case "run":
		return c.run(ctx, m)
	case "cancel":
		run, err := s.store.Run(ctx, m.Run)
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
	return nil
}

func (c *notebookConn) broadcastDraft(ctx context.Context) error {
	d, err := c.s.store.Draft(ctx, c.flow.ID)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(map[string]any{"t": "draft", "draft": toDraftJSON(d), "by": c.user.Name})
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

func (c *notebookConn) structure(ctx context.Context, m *clientMsg) error {
	s := c.s
	d, err := s.store.Draft(ctx, c.flow.ID)
	if err != nil {
		return err
	}
	if m.T == "cell.restore" {
		if _, err := s.store.RestoreCell(ctx, c.flow.ID, m.Cell, c.user.ID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errorf(http.StatusNotFound, "not_found", "cell", "there is no deleted cell to restore (it may be restored already)")
			}
			return err
		}
		s.collab.Forget(c.flow.ID, m.Cell)
		return nil
	}
	idx := -1
	if m.Cell != "" {
		if idx = cellIndex(d, m.Cell); idx < 0 {
			return errorf(http.StatusNotFound, "gone", "cell", "that cell was deleted by someone else; reload to see the flow as it is")
		}
	}
	switch m.T {
	case "cell.add":
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
		_, err := s.store.InsertCell(ctx, c.flow.ID, pos, engine.Cell{Name: name, Kind: kind, File: name + kind.Ext()}, c.user.ID)
		return err
	case "cell.delete":
		// Keep the latest text with the deleted cell, for cell.restore.
		if err := s.collab.Flush(ctx, c.flow.ID, m.Cell); err != nil {
			return err
		}
		if err := s.store.DeleteCellBy(ctx, c.flow.ID, m.Cell, c.user.ID); err != nil {
			return err
		}
		s.collab.Forget(c.flow.ID, m.Cell)
		return nil
	case "cell.duplicate":
		cp := d.Flow.Cells[idx]
		cp.Name = uniqueName(d, cp.Name+"_copy")
		cp.File = cp.Name + cp.Kind.Ext()
		_, err := s.store.InsertCell(ctx, c.flow.ID, idx+1, cp, c.user.ID)
		return err
	case "cell.move":
		to := min(*m.To, len(d.Cells)-1)
		return s.store.MoveCell(ctx, c.flow.ID, m.Cell, to)
	case "cell.update":
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
		return s.store.UpdateCell(ctx, c.flow.ID, m.Cell, cell, c.user.ID)
	case "flow.update":
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
		if m.Inputs != nil {
			f.Inputs = nil
			for _, in := range *m.Inputs {
				f.Inputs = append(f.Inputs, engine.Input{Name: in.Name, Type: engine.InputType(in.Type), Default: in.Default, Required: in.Required, Options: in.Options, Description: in.Description})
			}
		}
		if errs := flow.Validate(&f); len(errs) > 0 {
			return errorf(http.StatusUnprocessableEntity, "invalid", "inputs", errs[0].Msg)
		}
		return s.store.UpdateFlowSettings(ctx, c.flow.ID, f.Name, f.Description, f.Order, f.Inputs, f.Triggers)
	}
	return nil
}

func checkCellName(name string) string {
	if !identRE.MatchString(name) {
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
	c.Env = nil
	order := o.EnvOrder
	if len(order) != len(o.Env) {
		order = nil
		for k := range o.Env {
			order = append(order, k)
		}
		sortStrings(order)
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
func (c *notebookConn) run(ctx context.Context, m *clientMsg) error {
	s := c.s
	d, err := s.store.Draft(ctx, c.flow.ID)
	if err != nil {
		return err
	}
	req := StartRequest{Workspace: c.ws, FlowID: c.flow.ID, FlowSlug: c.flow.Slug, Flow: d.Flow, Inputs: m.RunInputs, StartedBy: c.user}
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
		prior, err := s.store.LatestResults(ctx, c.flow.ID)
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
	r, err := s.startRun(context.WithoutCancel(ctx), c.req, req, "from the notebook")
	if err != nil {
		return err
	}
	b, _ := json.Marshal(map[string]any{"t": "started", "id": m.ID, "run": r.ID})
	c.reply(b)
	return nil
}
