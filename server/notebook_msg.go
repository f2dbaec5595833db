package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/collab"
)

// The notebook socket's protocol (docs/PROTOCOL.md) in one place: the
// table of what a client may send, each message's typed body (…Req), and
// the messages the server sends (…Msg).

// notebookMsgs is every message a notebook page may send: the least role
// that may send it, whether the credential is checked against the store
// before it acts, and its handler, whose parameter's type is the message's
// decoded, checked body.
//
// verified messages are rare, and they run code or change a flow's
// structure, so they must not slip through in the moment before another
// process's notification of a revocation arrives; the others (typing,
// presence) rely on the notification and the in-memory check every message
// gets.
var notebookMsgs = map[string]msgSpec{
	"ping":           {need: engine.RoleViewer, do: typed((*notebookConn).ping)},
	"presence":       {need: engine.RoleViewer, do: typed((*notebookConn).presence)},
	"collab.pull":    {need: engine.RoleViewer, do: typed((*notebookConn).collabPull)},
	"collab.doc":     {need: engine.RoleViewer, do: typed((*notebookConn).collabDoc)},
	"collab.push":    {need: engine.RoleEditor, do: typed((*notebookConn).collabPush)},
	"source":         {need: engine.RoleEditor, do: typed((*notebookConn).source)},
	"cell.add":       {need: engine.RoleEditor, verified: true, do: typed(structural((*notebookConn).cellAdd))},
	"cell.delete":    {need: engine.RoleEditor, verified: true, do: typed(structural((*notebookConn).cellDelete))},
	"cell.duplicate": {need: engine.RoleEditor, verified: true, do: typed(structural((*notebookConn).cellDuplicate))},
	"cell.move":      {need: engine.RoleEditor, verified: true, do: typed(structural((*notebookConn).cellMove))},
	"cell.update":    {need: engine.RoleEditor, verified: true, do: typed(structural((*notebookConn).cellUpdate))},
	"cell.restore":   {need: engine.RoleEditor, verified: true, do: typed(structural((*notebookConn).cellRestore))},
	"flow.update":    {need: engine.RoleEditor, verified: true, do: typed(structural((*notebookConn).flowUpdate))},
	"run":            {need: engine.RoleRunner, verified: true, do: typed((*notebookConn).run)},
	"cancel":         {need: engine.RoleRunner, verified: true, do: typed((*notebookConn).cancel)},
	"check":          {need: engine.RoleViewer, do: typed((*notebookConn).checkDraft)},
}

// msgSpec is one row of notebookMsgs.
type msgSpec struct {
	need     engine.Role // the least role that may send it
	verified bool        // check the credential against the store first
	do       msgHandler
}

// msgHandler decodes one type of message and handles it.
type msgHandler struct {
	decode func(data []byte) (clientBody, error)
	handle func(c *notebookConn, ctx context.Context, body clientBody) error
}

// clientBody is a client message's typed body.
type clientBody interface {
	// check reports what is wrong with the message's shape; the
	// connection is closed with it as the reason.
	check() error
}

// typed makes the msgHandler of a handler: the message is decoded into the
// handler's parameter type and checked before the handler sees it.
func typed[M any, P interface {
	*M
	clientBody
}](h func(*notebookConn, context.Context, P) error) msgHandler {
	return msgHandler{
		decode: func(data []byte) (clientBody, error) {
			var m M
			if err := json.Unmarshal(data, &m); err != nil {
				return nil, jsonError(err)
			}
			if err := P(&m).check(); err != nil {
				return nil, err
			}
			return P(&m), nil
		},
		handle: func(c *notebookConn, ctx context.Context, body clientBody) error {
			return h(c, ctx, body.(P))
		},
	}
}

// structural wraps a handler that changes a flow's structure: once it is
// done, every viewer of the flow, on every process, gets the new draft.
func structural[P any](h func(*notebookConn, context.Context, P) error) func(*notebookConn, context.Context, P) error {
	return func(c *notebookConn, ctx context.Context, m P) error {
		if err := h(c, ctx, m); err != nil {
			return err
		}
		c.s.announceFlow(ctx, c.flow.ID)
		return c.broadcastDraft(ctx)
	}
}

// Bounds of what a client message may carry, besides wsMaxMessage for the
// whole: ids (the client's own, cells', runs') are short, and a presence
// selection is broadcast to everyone in the flow.
const (
	maxClientID = 64
	maxCellID   = 64
	maxSel      = 4 << 10
)

// clientMsg is a decoded client message: its envelope and its typed body.
type clientMsg struct {
	envelope
	body clientBody
}

// envelope is what every client message carries: its type, and the id the
// client chose for it, echoed in the ack or error.
type envelope struct {
	T  string          `json:"t"`
	ID json.RawMessage `json:"id,omitempty"`
}

// decodeClientMsg decodes and checks a message's shape.
func decodeClientMsg(data []byte) (clientMsg, error) {
	if len(data) > wsMaxMessage {
		return clientMsg{}, fmt.Errorf("a message is at most %d bytes", wsMaxMessage)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return clientMsg{}, jsonError(err)
	}
	spec, ok := notebookMsgs[env.T]
	if !ok {
		return clientMsg{}, fmt.Errorf("unknown type %q", clip(env.T, 32))
	}
	if len(env.ID) > maxClientID {
		return clientMsg{}, fmt.Errorf("id is at most %d bytes", maxClientID)
	}
	body, err := spec.do.decode(data)
	if err != nil {
		return clientMsg{}, fmt.Errorf("%s: %w", env.T, err)
	}
	return clientMsg{envelope: env, body: body}, nil
}

// jsonError says what is wrong with a message that is not the JSON its type
// needs, without Go's names for types.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return errors.New("not a JSON object")
		}
		return fmt.Errorf("%s cannot be %s", te.Field, te.Value)
	}
	return fmt.Errorf("not a JSON object: %v", err)
}

// checkCell checks a cell id the message must carry.
func checkCell(id string) error {
	if id == "" {
		return errors.New("needs a cell")
	}
	return checkCellOpt(id)
}

// checkCellOpt checks a cell id the message may carry.
func checkCellOpt(id string) error {
	if len(id) > maxCellID {
		return fmt.Errorf("cell and run ids are at most %d bytes", maxCellID)
	}
	return nil
}

// ---- client → server: the bodies, each checked by its check ----

type pingReq struct{}

func (*pingReq) check() error { return nil }

// sourceReq is the legacy whole-text write of a cell's source.
type sourceReq struct {
	Cell   string  `json:"cell"`
	Source *string `json:"source"`
}

func (m *sourceReq) check() error {
	if m.Cell == "" || m.Source == nil {
		return errors.New("needs cell and source")
	}
	return checkCellOpt(m.Cell)
}

type collabPushReq struct {
	Cell    string          `json:"cell"`
	Version *int            `json:"version"`
	Updates json.RawMessage `json:"updates"` // decoded by the authority's rules (collabPush)
}

func (m *collabPushReq) check() error {
	if err := checkVersioned(m.Cell, m.Version); err != nil {
		return err
	}
	if len(m.Updates) == 0 {
		return errors.New("needs updates")
	}
	return nil
}

type collabPullReq struct {
	Cell    string `json:"cell"`
	Version *int   `json:"version"`
}

func (m *collabPullReq) check() error { return checkVersioned(m.Cell, m.Version) }

func checkVersioned(cell string, version *int) error {
	if cell == "" || version == nil || *version < 0 {
		return errors.New("needs a cell and a version (≥ 0)")
	}
	return checkCellOpt(cell)
}

// cellRef is the body of the messages that name one cell and nothing else.
type cellRef struct {
	Cell string `json:"cell"`
}

func (m *cellRef) check() error { return checkCell(m.Cell) }

type (
	collabDocReq     struct{ cellRef }
	cellDeleteReq    struct{ cellRef }
	cellDuplicateReq struct{ cellRef }
	cellRestoreReq   struct{ cellRef }
)

// presenceReq says where the page's cursor is.
type presenceReq struct {
	Cell string          `json:"cell"`
	Sel  json.RawMessage `json:"sel"`
}

func (m *presenceReq) check() error {
	if len(m.Sel) > maxSel {
		return errors.New("selection too large")
	}
	return checkCellOpt(m.Cell)
}

type cellAddReq struct {
	After *string     `json:"after"` // "": first; absent or unknown: last
	Kind  engine.Kind `json:"kind"`
	Name  *string     `json:"name"`
}

func (m *cellAddReq) check() error {
	if m.Kind != "" && !m.Kind.Valid() {
		return fmt.Errorf("unknown kind %q", clip(string(m.Kind), 32))
	}
	if m.After != nil {
		return checkCellOpt(*m.After)
	}
	return nil
}

type cellMoveReq struct {
	Cell string `json:"cell"`
	To   *int   `json:"to"`
}

func (m *cellMoveReq) check() error {
	if m.Cell == "" || m.To == nil || *m.To < 0 {
		return errors.New("needs a cell and a position (to ≥ 0)")
	}
	return checkCellOpt(m.Cell)
}

// cellUpdateReq changes a cell's name, kind or options; its handler checks
// the values (a bad one is an error reply, not a closed connection).
type cellUpdateReq struct {
	Cell    string       `json:"cell"`
	Name    *string      `json:"name"`
	Kind    engine.Kind  `json:"kind"`
	Options *cellOptions `json:"options"`
}

func (m *cellUpdateReq) check() error { return checkCell(m.Cell) }

// flowUpdateReq changes a flow's settings; what is absent stays.
type flowUpdateReq struct {
	Name        *string            `json:"name"`
	Description *string            `json:"description"`
	Order       *string            `json:"order"`
	Inputs      given[[]inputJSON] `json:"inputs,omitzero"`
	// Triggers replaces the flow's triggers (flow.yaml's keys).
	Triggers given[[]triggerEditJSON] `json:"triggers,omitzero"`
	// Notify replaces the flow's notify: (null or [] clears it).
	Notify given[[]notifyJSON] `json:"notify,omitzero"`
}

// triggerEditJSON is a trigger as flow.update sends it.
type triggerEditJSON struct {
	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Webhook  bool   `json:"webhook,omitempty"`
	Rate     int    `json:"rate,omitempty"`
}

// Bounds of what flow.update may set: its triggers, its notify entries
// and the events of one.
const (
	maxTriggers     = 50
	maxNotify       = 50
	maxNotifyEvents = 10
)

func (m *flowUpdateReq) check() error {
	if len(m.Triggers.V) > maxTriggers {
		return fmt.Errorf("at most %d triggers", maxTriggers)
	}
	if len(m.Notify.V) > maxNotify {
		return fmt.Errorf("at most %d notify entries", maxNotify)
	}
	for _, n := range m.Notify.V {
		if len(n.On) > maxNotifyEvents {
			return fmt.Errorf("at most %d events in a notify entry", maxNotifyEvents)
		}
	}
	return nil
}

// given is a field a client may leave out. null counts as given (and zero),
// so {"inputs":null} clears a flow's inputs where an absent list keeps them.
type given[T any] struct {
	Set bool
	V   T
}

func (g *given[T]) UnmarshalJSON(b []byte) error {
	g.Set = true
	return json.Unmarshal(b, &g.V)
}

func (g given[T]) MarshalJSON() ([]byte, error) { return json.Marshal(g.V) }

func (g given[T]) IsZero() bool { return !g.Set }

// runReq starts a run of the draft: all of it, one cell, or from a cell on.
type runReq struct {
	ID     json.RawMessage `json:"id"`   // the envelope's, echoed in started
	Mode   string          `json:"mode"` // "" is all
	Cell   string          `json:"cell"` // a cell's id or name
	Inputs map[string]any  `json:"inputs"`
}

func (m *runReq) check() error {
	switch m.Mode {
	case "", "all":
	case "cell", "from":
		if m.Cell == "" {
			return errors.New("run " + m.Mode + " needs a cell")
		}
	default:
		return fmt.Errorf("unknown run mode %q", clip(m.Mode, 32))
	}
	return checkCellOpt(m.Cell)
}

type cancelReq struct {
	Run string `json:"run"`
}

func (m *cancelReq) check() error {
	if m.Run == "" {
		return errors.New("needs a run")
	}
	if len(m.Run) > maxCellID {
		return fmt.Errorf("cell and run ids are at most %d bytes", maxCellID)
	}
	return nil
}

// ---- server → client ----
// Field names, and which fields are always present, are what
// static/src/notebook.js and runpage.js read; TestServerMsgWire holds them.

type helloMsg struct {
	T      string      `json:"t"` // hello
	Client string      `json:"client"`
	Role   engine.Role `json:"role"`
	Can    rights      `json:"can"`
	User   helloUser   `json:"user"`
	Draft  draftJSON   `json:"draft"`
	Runs   []RunInfo   `json:"runs"`
	Peers  []peer      `json:"peers"`
	// Paused is the flow's paused triggers, as triggers.paused says them.
	Paused []string `json:"paused"`
}

// rights is what a role may do on the page, so the page never ranks roles
// itself (engine.Role.AtLeast is the one ranking).
type rights struct {
	Edit bool `json:"edit"`
	Run  bool `json:"run"`
}

func rightsOf(r engine.Role) rights {
	return rights{Edit: r.AtLeast(engine.RoleEditor), Run: r.AtLeast(engine.RoleRunner)}
}

type helloUser struct {
	Name     string `json:"name"`
	Display  string `json:"display"`
	Color    string `json:"color"`
	Initials string `json:"initials"`
}

// draftMsg is a flow's draft after a structure change; By is who changed
// it, where known.
type draftMsg struct {
	T     string    `json:"t"` // draft
	Draft draftJSON `json:"draft"`
	By    string    `json:"by,omitempty"`
}

// triggersPausedMsg is the flow's paused triggers (their engine.Trigger
// keys, sorted) after someone paused or resumed one, for every open
// notebook's Schedule panel; By is who, where known.
type triggersPausedMsg struct {
	T      string   `json:"t"` // triggers.paused
	Paused []string `json:"paused"`
	By     string   `json:"by,omitempty"`
}

// ackMsg and errorMsg answer a message that carried an id (errorMsg also
// one that did not: its id is then null).
type ackMsg struct {
	T  string          `json:"t"` // ack
	ID json.RawMessage `json:"id"`
}

type errorMsg struct {
	T       string          `json:"t"` // error
	ID      json.RawMessage `json:"id"`
	Message string          `json:"message"`
	Field   string          `json:"field"`
	// Cell and Line place the problem in a cell's source (by the cell's
	// name, line from 1), for the editor to mark.
	Cell string `json:"cell,omitempty"`
	Line int    `json:"line,omitempty"`
}

// startedMsg names the run a client's run message started.
type startedMsg struct {
	T   string          `json:"t"` // started
	ID  json.RawMessage `json:"id"`
	Run string          `json:"run"`
}

// runMsg is a run of the flow that started or changed status.
type runMsg struct {
	T   string  `json:"t"` // run
	Run RunInfo `json:"run"`
}

// missedMsg tells a slow client that Lines lines of a run's cell were not
// sent (also on the run page's socket).
type missedMsg struct {
	T     string `json:"t"` // missed
	Cell  string `json:"cell"`
	Lines int64  `json:"lines"`
	Run   string `json:"run"`
}

// presenceMsg is what everyone in a flow is told about one peer.
type presenceMsg struct {
	T string `json:"t"` // presence
	peer
}

type presenceLeaveMsg struct {
	T      string `json:"t"` // presence.leave
	Client string `json:"client"`
}

// updatesMsg is collab.updates: accepted changes, the first made at Version.
type updatesMsg struct {
	T       string          `json:"t"` // collab.updates
	Cell    string          `json:"cell"`
	Version int             `json:"version"`
	Updates []collab.Update `json:"updates"`
}

// collabVersionMsg is collab.ack (the push is stored) and
// collab.pull-needed (the push was at an older version): either way the
// document is at Version.
type collabVersionMsg struct {
	T       string `json:"t"` // collab.ack, collab.pull-needed
	Cell    string `json:"cell"`
	Version int    `json:"version"`
}

type collabErrorMsg struct {
	T       string `json:"t"` // collab.error
	Cell    string `json:"cell"`
	Message string `json:"message"`
}

type collabDocMsg struct {
	T       string `json:"t"` // collab.doc
	Cell    string `json:"cell"`
	Version int    `json:"version"`
	Source  string `json:"source"`
}

// collabGoneMsg says a cell was deleted, and by whom, where known.
type collabGoneMsg struct {
	T    string `json:"t"` // collab.gone
	Cell string `json:"cell"`
	Name string `json:"name,omitempty"`
	By   string `json:"by,omitempty"`
}

// presenceNotice carries a presence message to the other processes
// (NOTIFY on store.ChannelPresence).
type presenceNotice struct {
	Process string          `json:"process"`
	Flow    string          `json:"flow"`
	Msg     json.RawMessage `json:"msg"`
}
