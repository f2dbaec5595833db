package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

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
	reason string              // told to the client when stop closes
	done   func()              // called once the stream has ended (nil: none)
	grant  *grant              // the viewer's credential: the stream ends with it (nil: none)
}

func (s *Server) streamRun(w http.ResponseWriter, r *http.Request, id string, since int64, o streamOpts) {
	ended := func() {
		if o.done != nil {
			o.done()
		}
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
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
	s.trackSocket(conn, true)
	serve := func() {
		defer ended()
		defer s.trackSocket(conn, false)
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
	// Read only to notice the client going away.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		conn.SetReadDeadline(time.Now().Add(wsPongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wsPongWait)) })
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	write := func(msg []byte) bool {
		data := msg
		if o.raw {
			data = eventOf(msg)
		}
		if o.mask != nil {
			data = o.mask(data)
		}
		conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
		return conn.WriteMessage(websocket.TextMessage, data) == nil
	}
	// replay sends the history left; it reports whether the stream is
	// over: the run finished or the client went away.
	replay := func() bool {
		for {
			msg, ok := rs.next()
			if !ok {
				break
			}
			if !write(msg) {
				return true
			}
		}
		if rs.over() {
			closeWS(conn, websocket.CloseNormalClosure, "run finished")
			return true
		}
		return false
	}
	catchUp := func() bool {
		if err := rs.catchUp(ctx); err != nil {
			closeWS(conn, websocket.CloseInternalServerErr, "could not read the run's events")
			return true
		}
		return replay()
	}
	if replay() {
		return
	}
	ping := time.NewTicker(wsPingPeriod)
	defer ping.Stop()
	for {
		select {
		case m := <-rs.live():
			if rs.behind() {
				// An API client must get every event: the rest is in storage.
				if catchUp() {
					return
				}
				continue
			}
			if !o.raw {
				if n, cell := rs.sub.Missed(); n > 0 {
					b, _ := json.Marshal(map[string]any{"t": "missed", "cell": cell, "lines": n, "run": rs.id})
					conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
					if conn.WriteMessage(websocket.TextMessage, b) != nil {
						return
					}
				}
			}
			if !rs.accept(m.Data, m.Seq) {
				continue
			}
			conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if o.mask != nil {
				if !write(m.Data) {
					return
				}
			} else {
				frame := m.Frame()
				if o.raw {
					frame = m.RawFrame()
				}
				if conn.WritePreparedMessage(frame) != nil {
					return
				}
			}
			if rs.over() {
				closeWS(conn, websocket.CloseNormalClosure, "run finished")
				return
			}
		case <-rs.ended():
			if rs.behind() {
				catchUp()
				return
			}
			rs.drain()
			if !replay() {
				closeWS(conn, websocket.CloseNormalClosure, "run finished")
			}
			return
		case <-ping.C:
			conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if conn.WriteMessage(websocket.PingMessage, nil) != nil {
				return
			}
		case <-gone:
			return
		case <-o.stop:
			closeWS(conn, websocket.ClosePolicyViolation, o.reason)
			return
		case <-o.grant.Dead():
			closeWS(conn, websocket.ClosePolicyViolation, o.grant.Reason())
			return
		}
	}
}

func isRunFinished(msg []byte) bool {
	ev := eventOf(msg)
	const pre = `{"type":"run.finished"`
	return len(ev) >= len(pre) && string(ev[:len(pre)]) == pre
}

func closeWS(conn *websocket.Conn, code int, reason string) {
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}
