package server

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/opsbook/opsbook/engine/collab"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/store"
)

// The collaboration side of the notebook socket (docs/PROTOCOL.md): cell
// sources through engine/collab's authority, presence kept in memory, and
// with PostgreSQL the other processes' changes through LISTEN/NOTIFY.

// newAuthority builds the authority whose accepted updates go out to the
// flow's subscribers as collab.updates.
func (s *Server) newAuthority() *collab.Authority {
	return collab.NewAuthority(s.store, collab.Options{
		MaxBytes: store.MaxSourceSize,
		Logger:   s.log,
		OnUpdates: func(flowID, cellID string, start int, ups []collab.Update) {
			b, _ := json.Marshal(updatesMsg{T: "collab.updates", Cell: cellID, Version: start, Updates: ups})
			s.hub.Publish(flowTopic(flowID), &Msg{Data: b})
		},
	})
}

// startCollab starts the checkpointer and, on PostgreSQL, the listener for
// other processes' changes; stopCollab (from Stop) ends both.
func (s *Server) startCollab(ctx context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.collabStop = cancel
	s.collab.Start(ctx)
	if !s.pg {
		return
	}
	s.listenDone = make(chan struct{})
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(s.listenDone)
		s.store.Listen(ctx, []string{store.ChannelDoc, store.ChannelFlow, store.ChannelPresence, store.ChannelCred, store.ChannelApproval},
			func() {
				once.Do(func() { close(ready) })
				// Listening (again): credential changes may have been missed.
				s.recheckAll(ctx)
			}, func(n store.Notice) { s.onNotice(ctx, n) })
	}()
	select {
	case <-ready:
	case <-s.listenDone:
	}
}

func (s *Server) stopCollab(ctx context.Context) error {
	if s.collabStop != nil {
		s.collabStop()
		if s.listenDone != nil {
			<-s.listenDone
		}
	}
	return s.collab.Stop(ctx)
}

// onNotice handles another process's notification.
func (s *Server) onNotice(ctx context.Context, n store.Notice) {
	switch n.Channel {
	case store.ChannelDoc:
		if flowID, cellID, v, ok := n.DocNotice(); ok {
			if err := s.collab.Sync(ctx, flowID, cellID, v); err != nil {
				s.log.Error("catch up on another process's changes", logattr.Flow(flowID), logattr.CellID(cellID), "err", err)
			}
		}
	case store.ChannelFlow:
		flowID, from, _ := strings.Cut(n.Payload, " ")
		from, what, _ := strings.Cut(from, " ")
		if from == s.process || s.hub.Subscribers(flowTopic(flowID)) == 0 {
			return
		}
		if what == flowNoticePaused {
			s.tellPaused(ctx, flowID, "")
			return
		}
		d, err := s.store.Draft(ctx, flowID)
		if err != nil {
			return
		}
		b, _ := json.Marshal(draftMsg{T: "draft", Draft: toDraftJSON(d)})
		s.hub.Publish(flowTopic(flowID), &Msg{Data: b})
	case store.ChannelCred:
		if c, ok := n.CredChange(); ok {
			s.onCredChange(c)
		}
	case store.ChannelApproval:
		f := strings.Fields(n.Payload)
		if len(f) != 4 || f[3] == s.process {
			return
		}
		if k, err := strconv.Atoi(f[2]); err == nil {
			s.publishVoteHere(f[0], f[1], k)
		}
	case store.ChannelPresence:
		var p presenceNotice
		if json.Unmarshal([]byte(n.Payload), &p) != nil || p.Process == s.process {
			return
		}
		s.presence.remote(p.Flow, p.Msg)
		s.hub.Publish(flowTopic(p.Flow), &Msg{Data: p.Msg})
	}
}

// announceFlow tells other processes that a flow's structure changed.
func (s *Server) announceFlow(ctx context.Context, flowID string) {
	if err := s.store.Notify(ctx, store.ChannelFlow, flowID+" "+s.process); err != nil {
		s.log.Warn("notify other processes", logattr.Flow(flowID), "err", err)
	}
}

// publishPresence sends a presence message to this process's viewers of a
// flow and to the other processes.
func (s *Server) publishPresence(ctx context.Context, flowID string, msg []byte) {
	s.hub.Publish(flowTopic(flowID), &Msg{Data: msg})
	if !s.pg || len(msg) > 7000 {
		return
	}
	b, _ := json.Marshal(presenceNotice{Process: s.process, Flow: flowID, Msg: msg})
	s.store.Notify(ctx, store.ChannelPresence, string(b))
}

// ---- socket messages ----

// collabPush handles collab.push: accepted → collab.ack; stale →
// collab.pull-needed; a deleted cell → collab.gone; anything invalid →
// collab.error. The document is touched only by an accepted push, and the
// ack is sent only once the change is stored.
func (c *notebookConn) collabPush(ctx context.Context, m *collabPushReq) error {
	var ups []collab.Update
	if err := json.Unmarshal(m.Updates, &ups); err != nil || len(ups) == 0 {
		msg := "updates must be a non-empty list of {changes, clientID}"
		if err != nil {
			msg = err.Error()
		}
		c.ordered(collabErrorMsg{T: "collab.error", Cell: m.Cell, Message: msg})
		return nil
	}
	start, err := c.s.collab.Push(ctx, c.flow.ID, m.Cell, c.user.ID, *m.Version, ups)
	var stale *collab.StaleError
	switch {
	case err == nil:
		c.ordered(collabVersionMsg{T: "collab.ack", Cell: m.Cell, Version: start + len(ups)})
	case errors.As(err, &stale):
		c.ordered(collabVersionMsg{T: "collab.pull-needed", Cell: m.Cell, Version: stale.Version})
	case errors.Is(err, collab.ErrGone):
		c.gone(ctx, m.Cell)
	case errors.Is(err, collab.ErrInvalid), errors.Is(err, collab.ErrTooLarge):
		c.ordered(collabErrorMsg{T: "collab.error", Cell: m.Cell, Message: err.Error()})
	default:
		return err
	}
	return nil
}

// gone tells the client that a cell it edits was deleted, by whom, so it
// can offer to restore it.
func (c *notebookConn) gone(ctx context.Context, cellID string) {
	msg := collabGoneMsg{T: "collab.gone", Cell: cellID}
	if dc, err := c.s.store.DeletedCellByID(ctx, c.flow.ID, cellID); err == nil {
		msg.Name = dc.Name
		if u, err := c.s.store.UserByID(ctx, dc.DeletedBy); err == nil {
			msg.By = u.Name
		}
	}
	c.ordered(msg)
}

// collabPull handles collab.pull: the updates after version.
func (c *notebookConn) collabPull(ctx context.Context, m *collabPullReq) error {
	ups, err := c.s.collab.Pull(ctx, c.flow.ID, m.Cell, *m.Version)
	switch {
	case errors.Is(err, collab.ErrGone):
		c.gone(ctx, m.Cell)
		return nil
	case errors.Is(err, collab.ErrInvalid):
		c.ordered(collabErrorMsg{T: "collab.error", Cell: m.Cell, Message: err.Error()})
		return nil
	case err != nil:
		return err
	}
	if ups == nil {
		ups = []collab.Update{}
	}
	c.ordered(updatesMsg{T: "collab.updates", Cell: m.Cell, Version: *m.Version, Updates: ups})
	return nil
}

// collabDoc handles collab.doc: a cell's whole text and version, for a
// client that lost track of it.
func (c *notebookConn) collabDoc(ctx context.Context, m *collabDocReq) error {
	v, text, err := c.s.collab.Doc(ctx, c.flow.ID, m.Cell)
	if errors.Is(err, collab.ErrGone) {
		c.gone(ctx, m.Cell)
		return nil
	}
	if err != nil {
		return err
	}
	c.ordered(collabDocMsg{T: "collab.doc", Cell: m.Cell, Version: v, Source: text})
	return nil
}

// sourceAsChange turns a legacy whole-text `source` message into one change
// of the cell's document at its current version.
func (c *notebookConn) sourceAsChange(ctx context.Context, cellID, source string) error {
	if len(source) > store.MaxSourceSize {
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "source", "a cell source is limited to 1 MiB")
	}
	for range 5 {
		v, text, err := c.s.collab.Doc(ctx, c.flow.ID, cellID)
		if errors.Is(err, collab.ErrGone) {
			return errorf(http.StatusNotFound, "gone", "cell", "that cell was deleted by someone else")
		}
		if err != nil {
			return err
		}
		cs := collab.Diff(collab.TextOf(text), collab.TextOf(source))
		if cs.IsEmpty() {
			return nil
		}
		_, err = c.s.collab.Push(ctx, c.flow.ID, cellID, c.user.ID, v, []collab.Update{{Changes: cs, ClientID: "src-" + c.client}})
		if !errors.Is(err, collab.ErrStale) {
			return err
		}
	}
	return errorf(http.StatusConflict, "busy", "source", "the cell is changing too fast; try again")
}

// ordered queues a reply behind the broadcasts already queued for this
// client (the hub's queue), so that an ack never overtakes the updates
// accepted before it.
func (c *notebookConn) ordered(v any) {
	b, _ := json.Marshal(v)
	select {
	case c.sub.C <- &Msg{Data: b}:
	case <-c.sub.Done():
	case <-c.closed:
	}
}

// ---- presence ----

// peer is one person's presence in a flow: one per socket.
type peer struct {
	Client  string          `json:"client"`
	Name    string          `json:"name"`
	Display string          `json:"display"`
	Color   string          `json:"color"`
	Initial string          `json:"initials"`
	Cell    string          `json:"cell,omitempty"`
	Sel     json.RawMessage `json:"sel,omitempty"`
}

// presenceBook keeps who is in which flow (this process's sockets, and
// those other processes announced).
type presenceBook struct {
	mu    sync.Mutex
	flows map[string]map[string]*peer // flow → client → peer
}

func (p *presenceBook) set(flowID string, pe peer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.flows == nil {
		p.flows = map[string]map[string]*peer{}
	}
	m := p.flows[flowID]
	if m == nil {
		m = map[string]*peer{}
		p.flows[flowID] = m
	}
	m[pe.Client] = &pe
}

func (p *presenceBook) leave(flowID, client string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := p.flows[flowID]; m != nil {
		delete(m, client)
		if len(m) == 0 {
			delete(p.flows, flowID)
		}
	}
}

func (p *presenceBook) list(flowID, except string) []peer {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []peer{}
	for id, pe := range p.flows[flowID] {
		if id != except {
			out = append(out, *pe)
		}
	}
	return out
}

// remote records a presence message from another process.
func (p *presenceBook) remote(flowID string, raw json.RawMessage) {
	var m presenceMsg
	if json.Unmarshal(raw, &m) != nil || m.Client == "" {
		return
	}
	if m.T == "presence.leave" {
		p.leave(flowID, m.Client)
	} else {
		p.set(flowID, m.peer)
	}
}

var peerColors = []string{"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#469990", "#9a6324", "#800000", "#808000", "#000075"}

// newPeer describes a user's presence: a colour from their id (the same in
// every session), and their initials.
func newPeer(client string, u store.User) peer {
	h := fnv.New32a()
	h.Write([]byte(u.ID))
	display := u.DisplayName
	if display == "" {
		display = u.Name
	}
	return peer{Client: client, Name: u.Name, Display: display, Color: peerColors[h.Sum32()%uint32(len(peerColors))], Initial: initials(display)}
}

func initials(name string) string {
	var out []rune
	for _, w := range strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		r, _ := utf8.DecodeRuneInString(w)
		out = append(out, unicode.ToUpper(r))
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}
