package server

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/store"
)

// feed brings the events of runs executing in other processes to this
// one's viewers (PostgreSQL): a worker stores its events in batches and
// notifies "RUN SEQ" (never the event: NOTIFY carries 8000 bytes); the feed
// reads what is new of runs someone here watches and publishes it to the
// hub, as this process's own workers do. A poll every second covers
// notifications lost while the listening connection was down.
type feed struct {
	m      *Runs
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	runs map[string]*feedRun // runs whose events this feed has published up to last
}

type feedRun struct {
	mu     sync.Mutex // one fetch at a time
	flowID string
	last   int64 // -1: not known yet
}

func newFeed(m *Runs) *feed {
	return &feed{m: m, runs: map[string]*feedRun{}}
}

func (f *feed) start(ctx context.Context) {
	ctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	f.done = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		f.m.store.Listen(ctx, []string{store.ChannelEvents, store.ChannelRuns}, func() { f.pollAll(ctx) }, func(n store.Notice) {
			switch n.Channel {
			case store.ChannelEvents:
				if e, ok := n.RunEvents(); ok {
					f.notifiedEnd(ctx, e.Run, e.Flow, e.Final)
				}
			case store.ChannelRuns:
				if id, flowID, ok := n.RunsNotice(); ok {
					f.created(ctx, id, flowID)
				}
			}
		})
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f.pollAll(ctx)
			}
		}
	}()
	go func() { wg.Wait(); close(f.done) }()
}

func (f *feed) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
	}
}

// local reports whether the run executes in this process: its events
// reach the hub from the worker directly.
func (f *feed) local(id string) bool {
	return f.m.pool != nil && f.m.pool.Done(id) != nil
}

// interested reports whether anyone here watches the run or its flow.
func (f *feed) interested(id, flowID string) bool {
	if f.m.hub.Subscribers(runTopic(id)) > 0 || (flowID != "" && f.m.hub.Subscribers(flowTopic(flowID)) > 0) {
		return true
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	return len(f.m.waiters[id]) > 0
}

// watch is called by a viewer that just subscribed to the run: what is
// stored from now on and not yet published here will be.
func (f *feed) watch(ctx context.Context, id string) {
	f.mu.Lock()
	fr := f.runs[id]
	if fr == nil {
		fr = &feedRun{last: -1}
		f.runs[id] = fr
	}
	f.mu.Unlock()
	fr.mu.Lock()
	if fr.last < 0 {
		// Everything stored until now the viewer reads itself.
		if last, err := f.m.store.LastSeq(ctx, id); err == nil {
			fr.last = last
		}
	}
	fr.mu.Unlock()
	f.notified(ctx, id, "")
}

// created: a run was made in some process; viewers of its flow here are
// told of it.
func (f *feed) created(ctx context.Context, id, flowID string) {
	if f.m.hub.Subscribers(flowTopic(flowID)) == 0 {
		return
	}
	f.m.mu.Lock()
	_, mine := f.m.infos[id]
	f.m.mu.Unlock()
	if mine {
		return // told at Start
	}
	r, err := f.m.store.Run(ctx, id)
	if err != nil {
		return
	}
	u, _ := f.m.store.UserByID(ctx, r.StartedBy)
	f.m.publishInfo(flowID, runInfo(r, u))
}

// notifiedEnd: the run has new stored events, and ended with final (when
// not ""). A run whose events nobody here reads, only waited for (an API
// start with "wait", a webhook), needs no read: its waiters are told of
// the end.
func (f *feed) notifiedEnd(ctx context.Context, id, flowID string, final engine.RunStatus) {
	if f.local(id) {
		return
	}
	f.mu.Lock()
	fr := f.runs[id]
	f.mu.Unlock()
	if fr == nil && f.m.hub.Subscribers(runTopic(id)) == 0 && (flowID == "" || f.m.hub.Subscribers(flowTopic(flowID)) == 0) {
		if final != "" && flowID != "" {
			f.m.mu.Lock()
			waited := len(f.m.waiters[id]) > 0
			f.m.mu.Unlock()
			if waited {
				f.m.endedAs(id, flowID, final)
			}
		}
		return
	}
	f.notified(ctx, id, flowID)
}

// notified: the run has new stored events; publish them if anyone here
// watches it.
func (f *feed) notified(ctx context.Context, id, flowID string) {
	if f.local(id) {
		return
	}
	f.mu.Lock()
	fr := f.runs[id]
	f.mu.Unlock()
	if fr == nil {
		if flowID == "" {
			// A run nobody here asked for yet: only its flow's viewers
			// may want it.
			r, err := f.m.store.Run(ctx, id)
			if err != nil {
				return
			}
			flowID = r.FlowID
		}
		if !f.interested(id, flowID) {
			return
		}
		f.mu.Lock()
		if fr = f.runs[id]; fr == nil {
			fr = &feedRun{last: 0, flowID: flowID}
			f.runs[id] = fr
		}
		f.mu.Unlock()
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.flowID == "" {
		r, err := f.m.store.Run(ctx, id)
		if err != nil {
			return
		}
		fr.flowID = r.FlowID
	}
	if !f.interested(id, fr.flowID) {
		f.forget(id, fr)
		return
	}
	if fr.last < 0 {
		fr.last = 0
	}
	for {
		evs, err := f.m.store.Events(ctx, id, fr.last, 1000)
		if err != nil {
			f.m.log.Warn("read a run's events for its viewers", logattr.Run(id), "err", err)
			return
		}
		finished, final := false, engine.RunStatus("")
		for _, e := range evs {
			var ev engine.Event
			if e.Type == engine.EventCellLog || e.Type == engine.EventRunStarted || e.Type == engine.EventRunFinished {
				json.Unmarshal(e.Data, &ev)
			}
			msg := eventFrame(e.Data)
			f.m.publishEvent(id, fr.flowID, e.Type, e.Seq, e.Cell, len(ev.Lines), ev.Cells, msg)
			fr.last = e.Seq
			if e.Type == engine.EventRunFinished {
				finished, final = true, engine.RunStatus(ev.Status)
			}
		}
		if finished {
			f.forget(id, fr)
			f.m.endedAs(id, fr.flowID, final)
			return
		}
		if len(evs) < 1000 {
			return
		}
	}
}

func (f *feed) forget(id string, fr *feedRun) {
	f.mu.Lock()
	if f.runs[id] == fr {
		delete(f.runs, id)
	}
	f.mu.Unlock()
}

// pollAll fetches what is new of every run the feed follows.
func (f *feed) pollAll(ctx context.Context) {
	f.mu.Lock()
	ids := make([]string, 0, len(f.runs))
	for id := range f.runs {
		ids = append(ids, id)
	}
	f.mu.Unlock()
	for _, id := range ids {
		f.notified(ctx, id, "")
	}
	// Runs waited for (an API wait, a webhook) but not watched.
	f.m.mu.Lock()
	var waited []string
	for id := range f.m.waiters {
		waited = append(waited, id)
	}
	f.m.mu.Unlock()
	for _, id := range waited {
		f.notified(ctx, id, "")
	}
}
