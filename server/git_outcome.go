package server

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// What the push of one saved version did (gitOutcome.Outcome).
const (
	gitCommitted = "committed" // committed and pushed
	gitConflict  = "conflict"  // git changed the flow since the last sync: kept here only
	gitFailed    = "error"     // not pushed (the remote, credentials, a secret's value…)
	gitSkipped   = "skipped"   // a newer version was saved since; that one is pushed
	gitPending   = "pending"   // still pushing when the save answered
)

// gitSaveWait bounds how long a save waits for its push before it
// answers "pending" (the chip follows on the notebook socket).
const gitSaveWait = 10 * time.Second

// gitOutcome is what the push of a saved version did, with the flow's git
// status after it: the save's JSON answer carries it, and open notebooks
// of the flow get the status as a "git" message.
type gitOutcome struct {
	Outcome string `json:"outcome"`
	Message string `json:"message,omitempty"`
	Status  string `json:"status"` // the chip's status; "" when it cannot be told
	Label   string `json:"label,omitempty"`
}

// gitWaiter is where a save waits for its push's outcome.
type gitWaiter struct {
	ch chan gitOutcome // buffered: the push never waits for the save
	at time.Time
}

func waiterKey(flowID string, n int) string { return flowID + "/" + strconv.Itoa(n) }

// expect registers the outcome of version n of a flow as awaited, before
// its push is queued. Waiters nobody collected (an upload) are dropped
// after a while.
func (g *gitSync) expect(flowID string, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waiters == nil {
		g.waiters = map[string]*gitWaiter{}
	}
	now := time.Now()
	for k, w := range g.waiters {
		if now.Sub(w.at) > 10*time.Minute {
			delete(g.waiters, k)
		}
	}
	g.waiters[waiterKey(flowID, n)] = &gitWaiter{ch: make(chan gitOutcome, 1), at: now}
}

// told hands the outcome of a push to its waiter, if any, and the flow's
// status to its open notebooks.
func (g *gitSync) told(flowID string, n int, out gitOutcome) {
	g.mu.Lock()
	w := g.waiters[waiterKey(flowID, n)]
	g.mu.Unlock()
	if w != nil {
		select {
		case w.ch <- out:
		default:
		}
	}
	b, err := json.Marshal(gitMsg{T: "git", Git: gitChipJSON{Status: out.Status, Label: out.Label, Error: gitChipError(out)}})
	if err == nil {
		g.s.hub.Publish(flowTopic(flowID), &Msg{Data: b})
	}
}

// gitChipError is what the chip's title says went wrong, as the page
// shows a flow's last sync error.
func gitChipError(out gitOutcome) string {
	if out.Outcome == gitConflict || out.Outcome == gitFailed {
		return out.Message
	}
	return ""
}

// await waits, at most d, for the outcome of the push of version n; nil
// when no push was queued (the workspace keeps no flows in git).
func (g *gitSync) await(ctx context.Context, flowID string, n int, d time.Duration) *gitOutcome {
	key := waiterKey(flowID, n)
	g.mu.Lock()
	w := g.waiters[key]
	g.mu.Unlock()
	if w == nil {
		return nil
	}
	defer func() {
		g.mu.Lock()
		delete(g.waiters, key)
		g.mu.Unlock()
	}()
	t := g.s.clock.NewTimer(d)
	defer t.Stop()
	select {
	case out := <-w.ch:
		return &out
	case <-t.C():
	case <-ctx.Done():
	}
	return &gitOutcome{Outcome: gitPending, Message: "still pushing to git; the chip shows how it ends"}
}

// gitMsg tells a flow's open notebooks its git status after a push.
type gitMsg struct {
	T   string      `json:"t"` // git
	Git gitChipJSON `json:"git"`
}

type gitChipJSON struct {
	Status string `json:"status"`
	Label  string `json:"label"`
	Error  string `json:"error,omitempty"`
}
