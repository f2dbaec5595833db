package server

import (
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"
)

// Hub fans messages out to the subscribers of a topic (a run, a flow). A
// publish never blocks: each subscriber has a bounded queue, and one that
// falls behind loses messages and is told how many lines it missed.
type Hub struct {
	mu     sync.RWMutex
	topics map[string]map[*Sub]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{topics: map[string]map[*Sub]struct{}{}} }

// Msg is one pre-encoded message and the number of log lines it carries.
// One Msg is shared by every subscriber; it is never changed once
// published.
type Msg struct {
	Data  []byte
	Lines int
	Cell  string
	Run   string // the run an event belongs to, if any
	Seq   int64  // the event's seq, so a viewer can skip what it has
	// Note: not an event but news for a run page (a decision that did not
	// close an approval); never stored, not part of the seq order.
	Note bool

	// The WebSocket frames of Data and of the bare event, built once for
	// all viewers.
	once, rawOnce sync.Once
	frame, raw    *websocket.PreparedMessage
}

// Frame is Data as a WebSocket text message, framed once for everyone.
func (m *Msg) Frame() *websocket.PreparedMessage {
	m.once.Do(func() { m.frame, _ = websocket.NewPreparedMessage(websocket.TextMessage, m.Data) })
	return m.frame
}

// RawFrame is the bare event inside an {"t":"event"} Data, framed once.
func (m *Msg) RawFrame() *websocket.PreparedMessage {
	m.rawOnce.Do(func() { m.raw, _ = websocket.NewPreparedMessage(websocket.TextMessage, eventOf(m.Data)) })
	return m.raw
}

// Sub is one subscription. Read C until Done is closed.
type Sub struct {
	C      chan *Msg
	done   chan struct{}
	once   sync.Once
	missed atomic.Int64
	// lastCell is the cell of the most recent dropped log message.
	lastCell atomic.Value
}

// Done is closed when the hub ends the subscription (the topic was closed).
func (s *Sub) Done() <-chan struct{} { return s.done }

// Missed returns and resets the count of lines dropped since the last call,
// and the cell they belonged to.
func (s *Sub) Missed() (int64, string) {
	n := s.missed.Swap(0)
	c, _ := s.lastCell.Load().(string)
	return n, c
}

func (s *Sub) close() { s.once.Do(func() { close(s.done) }) }

// Subscribe adds a subscriber to topic with a queue of size buf.
func (h *Hub) Subscribe(topic string, buf int) *Sub {
	s := &Sub{C: make(chan *Msg, buf), done: make(chan struct{})}
	h.mu.Lock()
	m := h.topics[topic]
	if m == nil {
		m = map[*Sub]struct{}{}
		h.topics[topic] = m
	}
	m[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Unsubscribe removes s from topic. It is safe to call twice.
func (h *Hub) Unsubscribe(topic string, s *Sub) {
	h.mu.Lock()
	if m := h.topics[topic]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.topics, topic)
		}
	}
	h.mu.Unlock()
	s.close()
}

// Publish queues m for every subscriber of topic without waiting.
func (h *Hub) Publish(topic string, m *Msg) {
	h.mu.RLock()
	for s := range h.topics[topic] {
		select {
		case s.C <- m:
		default:
			s.missed.Add(int64(max(m.Lines, 1)))
			if m.Cell != "" {
				s.lastCell.Store(m.Cell)
			}
		}
	}
	h.mu.RUnlock()
}

// CloseTopic ends every subscription of topic (a revoked link, a deleted flow).
func (h *Hub) CloseTopic(topic string) {
	h.mu.Lock()
	m := h.topics[topic]
	delete(h.topics, topic)
	h.mu.Unlock()
	for s := range m {
		s.close()
	}
}

// Subscribers counts the subscribers of topic.
func (h *Hub) Subscribers(topic string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.topics[topic])
}
