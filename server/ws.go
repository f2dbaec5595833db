package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

var writePool sync.Pool

const (
	wsWriteWait  = 10 * time.Second
	wsPongWait   = 60 * time.Second
	wsPingPeriod = 25 * time.Second
	// wsMaxMessage bounds what a client may send in one message.
	wsMaxMessage = 2 << 20
	// wsQueue is how many messages a viewer may fall behind before it
	// starts missing lines.
	wsQueue = 512
)

// streamRunWS sends a run's events after since, history then live, and
// closes after run.finished. raw sends bare events (the API); otherwise
// each is wrapped as {"t":"event","event":…} (the studio's pages).
// The stream ends when its grant does (the credential it was opened with).
func (s *Server) streamRunWS(w http.ResponseWriter, r *http.Request, id string, since int64, raw bool, g *grant) {
	s.streamRun(w, r, id, since, streamOpts{raw: raw, grant: g, done: g.release})
}

// streamOpts are the choices of a run stream. A share page's stream masks
// every workspace secret and ends when its link is revoked or expires.
type streamOpts struct {
	raw    bool
	mask   func([]byte) []byte // nil: send as stored
	stop   <-chan struct{}     // closed: end the stream now
	reason func() string       // told to the client when stop closes
	done   func()              // called once the stream has ended (nil: none)
	grant  *grant              // the viewer's credential: the stream ends with it (nil: none)
}

func (s *Server) streamRun(w http.ResponseWriter, r *http.Request, id string, since int64, o streamOpts) {
	ended := func() {
		if o.done != nil {
			o.done()
		}
	}
	conn, err := s.upgrader.Upgrade(w, r, upgradeHeader(r))
	if err != nil {
		ended()
		return // Upgrade has answered
	}
	conn.SetReadLimit(4096)
	rs, err := s.runs.follow(r.Context(), id, since, wsQueue, o.raw)
	if err != nil {
		closeWS(conn, websocket.CloseInternalServerErr, "could not read the run's events")
		conn.Close()
		ended()
		return
	}
	// The socket lives on in a goroutine of its own and the handler
	// returns: its goroutine's stack grew deep through authentication and
	// the database, and thousands of viewers would each keep one.
	ctx := context.WithoutCancel(r.Context())
	kind := socketKind(r.URL.Path)
	s.trackSocket(conn, kind, true)
	serve := func() {
		defer ended()
		defer s.trackSocket(conn, kind, false)
		defer conn.Close()
		s.serveRunStream(ctx, conn, o, rs)
	}
	if o.stop != nil {
		// A share page's stream stays in its handler, which owns the
		// revocation watch it depends on.
		serve()
		return
	}
	go serve()
}

// serveRunStream sends a run's events to a viewer's socket: history, then
// live, until the run ends, the viewer leaves or the stream is stopped.
func (s *Server) serveRunStream(ctx context.Context, conn *websocket.Conn, o streamOpts, rs *runStream) {
	defer rs.close()
	v := &runViewer{ctx: ctx, conn: conn, o: o, rs: rs}
	gone := v.watchGone()
	if v.replay() {
		return
	}
	ping := time.NewTicker(wsPingPeriod)
	defer ping.Stop()
	for {
		select {
		case m := <-rs.live():
			if v.sendLive(m) {
				return
			}
		case <-rs.ended():
			v.finish()
			return
		case <-ping.C:
			if !v.ping() {
				return
			}
		case <-gone:
			return
		case <-o.stop:
			closeWS(conn, websocket.ClosePolicyViolation, o.reason())
			return
		case <-o.grant.Dead():
			closeWS(conn, websocket.ClosePolicyViolation, o.grant.Reason())
			return
		}
	}
}

// runViewer is one socket reading a run: the steps of serveRunStream. The
// steps that report a bool "done" report whether the stream is over (the
// run finished, or the client went away or could not be written to).
type runViewer struct {
	ctx  context.Context
	conn *websocket.Conn
	o    streamOpts
	rs   *runStream
}

// watchGone reads the socket only to notice the client going away: the
// channel is closed then.
func (v *runViewer) watchGone() <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		v.conn.SetReadDeadline(time.Now().Add(wsPongWait))
		v.conn.SetPongHandler(func(string) error { return v.conn.SetReadDeadline(time.Now().Add(wsPongWait)) })
		for {
			if _, _, err := v.conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return gone
}

// write sends one stored message, as an event alone for a raw (API)
// stream, masked when the stream masks.
func (v *runViewer) write(msg []byte) bool {
	data := msg
	if v.o.raw {
		data = eventOf(msg)
	}
	if v.o.mask != nil {
		data = v.o.mask(data)
	}
	v.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
	return v.conn.WriteMessage(websocket.TextMessage, data) == nil
}

// replay sends the history left.
func (v *runViewer) replay() (done bool) {
	for {
		msg, ok := v.rs.next()
		if !ok {
			break
		}
		if !v.write(msg) {
			return true
		}
	}
	if v.rs.over() {
		closeWS(v.conn, websocket.CloseNormalClosure, "run finished")
		return true
	}
	return false
}

// catchUp reads from storage what the live queue dropped, and sends it.
func (v *runViewer) catchUp() (done bool) {
	if err := v.rs.catchUp(v.ctx); err != nil {
		closeWS(v.conn, websocket.CloseInternalServerErr, "could not read the run's events")
		return true
	}
	return v.replay()
}

// sendLive sends one live message: a complete stream that fell behind is
// caught up from storage instead; the others are first told how many
// lines they missed.
func (v *runViewer) sendLive(m *Msg) (done bool) {
	if v.rs.behind() {
		// An API client must get every event: the rest is in storage.
		return v.catchUp()
	}
	if !v.o.raw && !v.sendMissed() {
		return true
	}
	if m.Note {
		// Only the pages show notes; an API stream is events alone.
		return !v.o.raw && v.o.mask == nil && !v.writeLive(m)
	}
	if !v.rs.accept(m.Data, m.Seq) {
		return false
	}
	if !v.writeLive(m) {
		return true
	}
	if v.rs.over() {
		closeWS(v.conn, websocket.CloseNormalClosure, "run finished")
		return true
	}
	return false
}

// sendMissed tells a viewer how many lines its queue dropped, if any.
func (v *runViewer) sendMissed() bool {
	n, cell := v.rs.sub.Missed()
	if n == 0 {
		return true
	}
	b, _ := json.Marshal(missedMsg{T: "missed", Cell: cell, Lines: n, Run: v.rs.id})
	v.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
	return v.conn.WriteMessage(websocket.TextMessage, b) == nil
}

// writeLive sends a live message: masked, or as the frame the hub prepared
// once for every viewer.
func (v *runViewer) writeLive(m *Msg) bool {
	v.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
	if v.o.mask != nil {
		return v.write(m.Data)
	}
	frame := m.Frame()
	if v.o.raw {
		frame = m.RawFrame()
	}
	return v.conn.WritePreparedMessage(frame) == nil
}

// finish sends what is left once the live part has ended, and closes.
func (v *runViewer) finish() {
	if v.rs.behind() {
		v.catchUp()
		return
	}
	v.rs.drain()
	if !v.replay() {
		closeWS(v.conn, websocket.CloseNormalClosure, "run finished")
	}
}

// ping keeps the connection open through proxies.
func (v *runViewer) ping() bool {
	v.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
	return v.conn.WriteMessage(websocket.PingMessage, nil) == nil
}

func isRunFinished(msg []byte) bool {
	ev := eventOf(msg)
	const pre = `{"type":"run.finished"`
	return len(ev) >= len(pre) && string(ev[:len(pre)]) == pre
}

// closeWS sends a close frame. Its reason is cut to the 123 bytes a frame
// holds: with a longer one no frame would go out, and the page would see
// an abnormal closure without a reason.
func closeWS(conn *websocket.Conn, code int, reason string) {
	reason = clip(reason, 123)
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}

// clip shortens s to at most n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
