package server

import (
	"context"
	"encoding/json"
)

// runStream is one viewer's read of a run: its history (stored, and what
// the worker holds in memory), then its live events, every seq once and in
// order, whichever process executes the run. It is the one reader behind
// the run page, the share page, the API's WebSocket and event stream, and
// the notebook's replay. A complete stream (an API client: it must get
// every event) is caught up from storage when its live queue overflowed;
// the others are told how many lines they missed (Missed).
type runStream struct {
	m        *Runs
	id       string
	buf      int
	complete bool
	last     int64    // highest seq given out
	sub      *Sub     // live events; nil once the run is over
	history  [][]byte // read, not given out yet
	finished bool     // run.finished was given out
}

// follow opens a stream of the run's events after since; buf is how far
// the viewer may fall behind live.
func (m *Runs) follow(ctx context.Context, id string, since int64, buf int, complete bool) (*runStream, error) {
	s := &runStream{m: m, id: id, buf: buf, complete: complete, last: since}
	var err error
	s.history, s.sub, err = m.Attach(ctx, id, since, buf)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// live is the channel of live messages; nil (blocking for ever) when the
// run is over.
func (s *runStream) live() <-chan *Msg {
	if s.sub == nil {
		return nil
	}
	return s.sub.C
}

// ended is closed when the live part ends (the run ended, or the topic was
// closed); nil when there is no live part.
func (s *runStream) ended() <-chan struct{} {
	if s.sub == nil {
		return nil
	}
	return s.sub.Done()
}

// over reports whether nothing more will come: run.finished was given, or
// there is neither history left nor a live part.
func (s *runStream) over() bool {
	return s.finished || (len(s.history) == 0 && s.sub == nil)
}

// next gives out the history left, one message (a whole
// {"t":"event","event":…}) at a time; ok is false when none is left.
func (s *runStream) next() (msg []byte, ok bool) {
	for len(s.history) > 0 {
		msg, s.history = s.history[0], s.history[1:]
		if s.accept(msg, 0) {
			return msg, true
		}
	}
	return nil, false
}

// accept reports whether a message with that seq (0: read it from msg) is
// new to this viewer, and takes note of it.
func (s *runStream) accept(msg []byte, seq int64) bool {
	if s.finished {
		return false
	}
	if seq == 0 {
		var head struct {
			Seq int64 `json:"seq"`
		}
		json.Unmarshal(eventOf(msg), &head)
		seq = head.Seq
	}
	if seq <= s.last {
		return false
	}
	s.last = seq
	if isRunFinished(msg) {
		s.finished = true
	}
	return true
}

// behind reports whether a complete stream lost live messages: catch it
// up before giving out more.
func (s *runStream) behind() bool {
	return s.complete && s.sub != nil && s.sub.missed.Load() > 0
}

// catchUp reads again from storage everything after the last seq given
// out and goes on live from there.
func (s *runStream) catchUp(ctx context.Context) error {
	s.close()
	h, sub, err := s.m.Attach(ctx, s.id, s.last, s.buf)
	if err != nil {
		return err
	}
	s.history, s.sub = append(h, s.history...), sub
	return nil
}

// drain moves what is still queued live into the history (the live part
// ended: the run is over).
func (s *runStream) drain() {
	if s.sub == nil {
		return
	}
	for len(s.sub.C) > 0 {
		s.history = append(s.history, (<-s.sub.C).Data)
	}
	s.close()
}

// close ends the live part.
func (s *runStream) close() {
	if s.sub != nil {
		s.m.hub.Unsubscribe(runTopic(s.id), s.sub)
		s.sub = nil
	}
}
