// Package queue hands runs to workers. On PostgreSQL it is River: a run is
// a job inserted in the transaction that stores the run, claimed by any
// process with workers. On the embedded SQLite database, where one process
// serves, it is a queue in memory over the runs table (queued runs are
// handed over again at start: nothing of them ran).
package queue

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"

	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/store"
)

// An Executor executes one run to its end (worker.Pool).
type Executor interface {
	Execute(ctx context.Context, runID string) error
}

// A Queue dispatches runs (store.Dispatcher) and, when it has workers,
// hands them to its Executor.
type Queue interface {
	store.Dispatcher
	// Start begins claiming runs (when the queue has workers).
	Start(ctx context.Context) error
	// StopClaiming stops taking new runs; runs already taken go on.
	StopClaiming()
	// Wait waits until the runs taken are over, or ctx ends.
	Wait(ctx context.Context) error
	// Depth is how many dispatched runs wait for a worker.
	Depth(ctx context.Context) (int, error)
}

// Memory is the in-process queue of the embedded database.
type Memory struct {
	st      *store.Store
	exec    Executor
	workers int
	log     *slog.Logger

	mu      sync.Mutex
	cond    *sync.Cond
	ids     []string
	closed  bool
	wg      sync.WaitGroup
	started bool
}

// NewMemory returns an in-process queue with workers goroutines executing
// runs with exec (0: it only dispatches, and nothing runs).
func NewMemory(st *store.Store, exec Executor, workers int, log *slog.Logger) *Memory {
	q := &Memory{st: st, exec: exec, workers: workers, log: log}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// DispatchTx does nothing: the runs table is the queue's durable part.
func (q *Memory) DispatchTx(context.Context, *sql.Tx, []string) error { return nil }

// Dispatched hands the runs to the workers.
func (q *Memory) Dispatched(ids []string) {
	q.mu.Lock()
	q.ids = append(q.ids, ids...)
	q.mu.Unlock()
	q.cond.Broadcast()
}

// Start hands the runs left queued by an earlier process to the workers,
// then starts them.
func (q *Memory) Start(ctx context.Context) error {
	if q.workers <= 0 {
		return nil
	}
	left, err := q.st.DispatchedQueued(ctx)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return errors.New("queue started twice")
	}
	q.started = true
	q.ids = append(left, q.ids...)
	for range q.workers {
		q.wg.Add(1)
		go q.work(ctx)
	}
	return nil
}

func (q *Memory) work(ctx context.Context) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		for len(q.ids) == 0 && !q.closed {
			q.cond.Wait()
		}
		if q.closed {
			q.mu.Unlock()
			return
		}
		id := q.ids[0]
		q.ids = q.ids[1:]
		q.mu.Unlock()
		if err := q.exec.Execute(context.WithoutCancel(ctx), id); err != nil {
			q.log.Error("execute run", logattr.Run(id), "err", err)
		}
	}
}

// StopClaiming stops handing runs over; those not handed over stay queued
// in the store for the next start.
func (q *Memory) StopClaiming() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// Wait waits for the workers to finish what they hold.
func (q *Memory) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Depth is how many runs wait in memory.
func (q *Memory) Depth(context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ids), nil
}
