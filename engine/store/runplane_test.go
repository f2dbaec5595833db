package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/opsbook/opsbook/engine"
)

// runPlaneTests join the suite both databases run (suite_test.go).
var runPlaneTests = []struct {
	name string
	fn   func(t *testing.T, s *Store)
}{
	{"EnqueueRun", testEnqueueRun},
	{"ConcurrencyQueue", testConcurrencyQueue},
	{"ConcurrencyWaitingHolds", testConcurrencyWaitingHolds},
	{"ConcurrencyLimitSet", testConcurrencyLimitSet},
	{"OverlapSkip", testOverlapSkip},
	{"OverlapCancel", testOverlapCancel},
	{"ConcurrentEnqueue", testConcurrentEnqueue},
	{"ConcurrentEnqueueAndEnd", testConcurrentEnqueueAndEnd},
	{"ConcurrentCancelWaiting", testConcurrentCancelWaiting},
	{"ClaimRun", testClaimRun},
	{"ConcurrentClaim", testConcurrentClaim},
	{"RenewLeases", testRenewLeases},
	{"ReapLost", testReapLost},
	{"EndRunGuard", testEndRunGuard},
	{"DispatchedQueued", testDispatchedQueued},
	{"RunNotices", testRunNotices},
	{"RunPlaneMigration", testRunPlaneMigration},
}

// fakeQueue is a Dispatcher that records what the store hands it: the ids
// given to DispatchTx inside the run's transaction, and those given to
// Dispatched after the commit. It checks what each side must see.
type fakeQueue struct {
	s     *Store
	limit int // > 0: DispatchTx checks the flow holds at most this many slots

	mu   sync.Mutex
	fail error // DispatchTx returns it
	tx   []string
	done []string
	errs []error // what the checks found wrong
	sink chan string
}

var _ Dispatcher = (*fakeQueue)(nil)

func newFakeQueue(s *Store) *fakeQueue {
	q := &fakeQueue{s: s}
	s.SetDispatcher(q)
	return q
}

// ph turns ? placeholders into the dialect's.
func (q *fakeQueue) ph(query string) string {
	if q.s.Dialect() != DialectPostgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (q *fakeQueue) DispatchTx(ctx context.Context, tx *sql.Tx, ids []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return q.fail
	}
	for _, id := range ids {
		// The run is in tx, marked dispatched: the dispatch is part of the
		// run's transaction.
		var flow, status string
		var dispatched bool
		err := tx.QueryRowContext(ctx, q.ph("SELECT flow_id, status, dispatched FROM runs WHERE id = ?"), id).Scan(&flow, &status, &dispatched)
		if err != nil {
			q.errs = append(q.errs, fmt.Errorf("DispatchTx: run %s not in the transaction: %w", id, err))
			continue
		}
		if status != string(engine.RunQueued) || !dispatched {
			q.errs = append(q.errs, fmt.Errorf("DispatchTx: run %s is %s, dispatched %v", id, status, dispatched))
		}
		if q.limit > 0 {
			var n int
			err := tx.QueryRowContext(ctx, q.ph(`SELECT COUNT(*) FROM runs WHERE flow_id = ?
				AND (status IN ('running', 'waiting') OR (status = 'queued' AND dispatched))`), flow).Scan(&n)
			if err != nil {
				q.errs = append(q.errs, err)
			} else if n > q.limit {
				q.errs = append(q.errs, fmt.Errorf("DispatchTx of %s: %d runs hold the flow's slots, limit %d", id, n, q.limit))
			}
		}
	}
	q.tx = append(q.tx, ids...)
	return nil
}

func (q *fakeQueue) Dispatched(ids []string) {
	for _, id := range ids {
		// Told after the commit: anyone reads the run, dispatched.
		r, err := q.s.Run(context.Background(), id)
		q.mu.Lock()
		if err != nil || !r.Dispatched {
			q.errs = append(q.errs, fmt.Errorf("Dispatched: run %s = %+v, %v", id, r, err))
		}
		q.mu.Unlock()
	}
	q.mu.Lock()
	q.done = append(q.done, ids...)
	sink := q.sink
	q.mu.Unlock()
	if sink != nil {
		for _, id := range ids {
			sink <- id
		}
	}
}

func (q *fakeQueue) setFail(err error) {
	q.mu.Lock()
	q.fail = err
	q.mu.Unlock()
}

// take returns what was dispatched since the last take, failing t on what
// the checks found.
func (q *fakeQueue) take(t *testing.T) (tx, done []string) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, err := range q.errs {
		t.Error(err)
	}
	tx, done = q.tx, q.done
	q.tx, q.done, q.errs = nil, nil, nil
	return tx, done
}

// wantDispatched fails t unless exactly ids were dispatched, in order,
// both inside the transaction and after it, since the last take.
func (q *fakeQueue) wantDispatched(t *testing.T, what string, ids ...string) {
	t.Helper()
	tx, done := q.take(t)
	if !slices.Equal(tx, ids) || !slices.Equal(done, ids) {
		t.Fatalf("%s: DispatchTx got %v, Dispatched got %v; want %v", what, tx, done, ids)
	}
}

func enqueue(t *testing.T, s *Store, fx fixture, id string, limit int, overlap engine.Overlap) Enqueued {
	t.Helper()
	e, err := s.EnqueueRun(context.Background(), Run{ID: id, WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1}, limit, overlap)
	ok(t, err)
	return e
}

func runOfID(t *testing.T, s *Store, id string) Run {
	t.Helper()
	r, err := s.Run(context.Background(), id)
	ok(t, err)
	return r
}

func wantStatus(t *testing.T, s *Store, id string, status engine.RunStatus, dispatched bool) {
	t.Helper()
	r := runOfID(t, s, id)
	if r.Status != status || r.Dispatched != dispatched {
		t.Fatalf("run %s is %s (dispatched %v), want %s (dispatched %v)", id, r.Status, r.Dispatched, status, dispatched)
	}
}

func claim(t *testing.T, s *Store, id, worker string) {
	t.Helper()
	_, claimed, err := s.ClaimRun(context.Background(), id, worker, s.timeNow().Add(time.Minute))
	ok(t, err)
	if !claimed {
		t.Fatalf("ClaimRun(%s) = false", id)
	}
}

// enders end a running run the two ways the run plane does: the worker's
// run.finished event, or EndRun (a cancel, a lost worker).
var enders = []struct {
	name string
	end  func(t *testing.T, s *Store, id string)
}{
	{"events", func(t *testing.T, s *Store, id string) {
		t.Helper()
		ok(t, s.AppendEvents(context.Background(), id, []engine.Event{
			{Type: engine.EventRunFinished, At: s.timeNow(), Status: string(engine.RunSucceeded), DurationMS: 5},
		}))
	}},
	{"EndRun", func(t *testing.T, s *Store, id string) {
		t.Helper()
		ended, err := s.EndRun(context.Background(), id, engine.RunCanceled, "canceled by ada")
		ok(t, err)
		if !ended {
			t.Fatalf("EndRun(%s) = false", id)
		}
	}},
}

// testEnqueueRun: without a limit a run is stored and dispatched, in its
// transaction and after; a dispatch that fails leaves no run behind.
func testEnqueueRun(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	q := newFakeQueue(s)
	req := json.RawMessage(`{"cells":["fetch"]}`)
	e, err := s.EnqueueRun(ctx, Run{
		WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1, Hash: "hash1", StartedBy: fx.user.ID,
		Inputs: json.RawMessage(`{"day":"2025-01-31"}`), Files: sampleFiles, Request: req,
	}, 0, engine.OverlapQueue)
	ok(t, err)
	r := e.Run
	if !strings.HasPrefix(r.ID, "r_") || r.Status != engine.RunQueued || !r.Dispatched || r.ConcLimit != 0 ||
		!r.CreatedAt.Equal(s.timeNow()) || string(r.Request) != string(req) || e.Blocking != "" || e.Cancel != "" {
		t.Fatalf("EnqueueRun = %+v", e)
	}
	if got := runOfID(t, s, r.ID); !reflect.DeepEqual(got, r) {
		t.Fatalf("stored run =\n %+v\nreturned %+v", got, r)
	}
	q.wantDispatched(t, "first run", r.ID)
	clk.add(time.Second)
	r2 := enqueue(t, s, fx, "", 0, engine.OverlapSkip).Run
	q.wantDispatched(t, "second run, no limit", r2.ID)
	if string(r2.Request) != "{}" || string(r2.Inputs) != "{}" {
		t.Fatalf("defaults: request %s, inputs %s", r2.Request, r2.Inputs)
	}

	// The queue refuses: nothing is stored, nothing told.
	empty, err := s.CreateFlow(ctx, fx.ws.ID, "empty", &engine.Flow{}, "", nil, "")
	ok(t, err)
	q.setFail(errors.New("queue down"))
	for limit, flow := range []string{fx.flow.ID, empty.ID} {
		id := NewID("r")
		_, err = s.EnqueueRun(ctx, Run{ID: id, WorkspaceID: fx.ws.ID, FlowID: flow}, limit, engine.OverlapQueue)
		if err == nil || !strings.Contains(err.Error(), "queue down") {
			t.Fatalf("EnqueueRun with a failing queue, limit %d: %v", limit, err)
		}
		_, err = s.Run(ctx, id)
		isErr(t, err, ErrNotFound)
	}
	q.wantDispatched(t, "failing queue")
	q.setFail(nil)

	// An unknown flow.
	for _, limit := range []int{0, 1} {
		_, err = s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: "f_nope"}, limit, engine.OverlapQueue)
		isErr(t, err, ErrNotFound)
	}
	q.wantDispatched(t, "unknown flow")
	rs, err := s.RunsOfFlow(ctx, fx.flow.ID, 0)
	ok(t, err)
	if len(rs) != 2 {
		t.Fatalf("runs = %+v", rs)
	}

	// Without a dispatcher, runs are stored dispatched and wait, queued.
	s.SetDispatcher(nil)
	r3 := enqueue(t, s, fx, "", 0, engine.OverlapQueue).Run
	wantStatus(t, s, r3.ID, engine.RunQueued, true)
}

// testConcurrencyQueue: at its limit a flow's new runs wait, queued and not
// dispatched; each end lets the oldest waiting run in, whether the run ends
// by its run.finished event or by EndRun.
func testConcurrencyQueue(t *testing.T, s *Store) {
	base := setup(t, s)
	for _, limit := range []int{1, 2} {
		for _, e := range enders {
			name := fmt.Sprintf("limit%d-%s", limit, strings.ToLower(e.name))
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				clk := setClock(s)
				fx := base
				var err error
				fx.flow, err = s.CreateFlow(ctx, fx.ws.ID, name, &engine.Flow{Name: name}, "", nil, "")
				ok(t, err)
				q := newFakeQueue(s)
				q.limit = limit
				// Ids sort against their age, so "oldest first" cannot pass by
				// ordering on id.
				const n = 5
				ids := make([]string, n+limit)
				for i := range ids {
					ids[i] = fmt.Sprintf("r_%s_%02d", name, 99-i)
				}
				for i, id := range ids {
					clk.add(time.Second)
					en := enqueue(t, s, fx, id, limit, "") // "" is queue
					if i < limit {
						if !en.Run.Dispatched {
							t.Fatalf("run %d of limit %d not dispatched: %+v", i, limit, en)
						}
						q.wantDispatched(t, fmt.Sprintf("run %d", i), id)
						claim(t, s, id, "w1")
						continue
					}
					if en.Run.Status != engine.RunQueued || en.Run.Dispatched || en.Run.ConcLimit != limit || en.Cancel != "" || en.Blocking != "" {
						t.Fatalf("run %d at the limit = %+v", i, en)
					}
					wantStatus(t, s, id, engine.RunQueued, false)
					q.wantDispatched(t, fmt.Sprintf("run %d at the limit", i))
				}
				// A run that is not the flow's changes nothing.
				other, err := s.CreateFlow(ctx, fx.ws.ID, name+"-other", &engine.Flow{}, "", nil, "")
				ok(t, err)
				o, err := s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: other.ID}, 1, engine.OverlapQueue)
				ok(t, err)
				q.wantDispatched(t, "another flow's run", o.Run.ID)
				claim(t, s, o.Run.ID, "w1")
				e.end(t, s, o.Run.ID)
				q.wantDispatched(t, "another flow's run ended")

				for i := range n {
					e.end(t, s, ids[i])
					next := ids[limit+i]
					q.wantDispatched(t, fmt.Sprintf("end %d", i), next)
					wantStatus(t, s, next, engine.RunQueued, true)
					for _, later := range ids[limit+i+1:] {
						wantStatus(t, s, later, engine.RunQueued, false)
					}
					claim(t, s, next, "w1")
				}
				for _, id := range ids[n:] {
					e.end(t, s, id)
				}
				q.wantDispatched(t, "the last ends")
			})
		}
	}
}

// testConcurrencyWaitingHolds: a run waiting on a person holds its slot;
// a run canceled while it waited for a slot frees nothing and is never
// dispatched.
func testConcurrencyWaitingHolds(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	q := newFakeQueue(s)
	r1 := enqueue(t, s, fx, "", 1, engine.OverlapQueue).Run
	claim(t, s, r1.ID, "w1")
	ok(t, s.UpdateRun(ctx, r1.ID, RunUpdate{Status: engine.RunWaiting}))
	clk.add(time.Second)
	r2 := enqueue(t, s, fx, "", 1, engine.OverlapQueue).Run
	clk.add(time.Second)
	r3 := enqueue(t, s, fx, "", 1, engine.OverlapQueue).Run
	q.wantDispatched(t, "runs behind a waiting one", r1.ID)
	wantStatus(t, s, r2.ID, engine.RunQueued, false)

	ended, err := s.EndRun(ctx, r2.ID, engine.RunCanceled, "canceled while queued")
	ok(t, err)
	if !ended {
		t.Fatal("EndRun of a waiting queued run = false")
	}
	q.wantDispatched(t, "a queued run canceled")
	wantStatus(t, s, r2.ID, engine.RunCanceled, false)
	ended, err = s.EndRun(ctx, r1.ID, engine.RunSucceeded, "", engine.RunWaiting)
	ok(t, err)
	if !ended {
		t.Fatal("EndRun of a waiting run = false")
	}
	q.wantDispatched(t, "the waiting run ended", r3.ID)
}

// testConcurrencyLimitSet: a limit set while runs without one are going:
// they hold slots, and their end lets the waiting runs in (no run waits
// for ever).
func testConcurrencyLimitSet(t *testing.T, s *Store) {
	base := setup(t, s)
	for _, e := range enders {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			fx := base
			var err error
			fx.flow, err = s.CreateFlow(ctx, fx.ws.ID, "f-"+strings.ToLower(e.name), &engine.Flow{}, "", nil, "")
			ok(t, err)
			q := newFakeQueue(s)
			r1 := enqueue(t, s, fx, "", 0, "").Run
			claim(t, s, r1.ID, "w1")
			r2 := enqueue(t, s, fx, "", 1, "").Run
			q.wantDispatched(t, "a run without a limit, then one with", r1.ID)
			e.end(t, s, r1.ID)
			q.wantDispatched(t, "the run without a limit ended", r2.ID)
		})
	}
}

// testOverlapSkip: at the limit a new run ends skipped at once, naming the
// run that holds the slot; below the limit skip changes nothing.
func testOverlapSkip(t *testing.T, s *Store) {
	clk := setClock(s)
	fx := setup(t, s)
	q := newFakeQueue(s)
	r1 := enqueue(t, s, fx, "", 1, engine.OverlapSkip).Run
	q.wantDispatched(t, "first", r1.ID)
	for i, claimed := range []bool{false, true} {
		if claimed {
			claim(t, s, r1.ID, "w1")
		}
		clk.add(time.Second)
		e := enqueue(t, s, fx, "", 1, engine.OverlapSkip)
		r := e.Run
		if r.Status != engine.RunSkipped || !r.FinishedAt.Equal(s.timeNow()) || e.Blocking != r1.ID ||
			!strings.Contains(r.Error, r1.ID) || e.Cancel != "" {
			t.Fatalf("skipped run %d = %+v", i, e)
		}
		got := runOfID(t, s, r.ID)
		if got.Status != engine.RunSkipped || got.Error != r.Error || !got.FinishedAt.Equal(r.FinishedAt) {
			t.Fatalf("stored skipped run %d = %+v", i, got)
		}
		q.wantDispatched(t, fmt.Sprintf("skipped run %d", i))
	}
	// A skipped run is over: the slot's end lets nothing in, and the next
	// run takes the slot.
	enders[0].end(t, s, r1.ID)
	q.wantDispatched(t, "end after skips")
	r3 := enqueue(t, s, fx, "", 1, engine.OverlapSkip).Run
	if r3.Status != engine.RunQueued || !r3.Dispatched {
		t.Fatalf("run after the slot freed = %+v", r3)
	}
	q.wantDispatched(t, "run after the slot freed", r3.ID)
}

// testOverlapCancel: at the limit the new run waits and names the oldest
// running run to cancel; when that one ends, the new run is dispatched.
func testOverlapCancel(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	q := newFakeQueue(s)
	// Limit 2: the oldest holds a slot but is not running yet; the cancel
	// names the oldest running one.
	r1 := enqueue(t, s, fx, "", 2, engine.OverlapCancel).Run
	clk.add(time.Second)
	r2 := enqueue(t, s, fx, "", 2, engine.OverlapCancel).Run
	q.wantDispatched(t, "two runs", r1.ID, r2.ID)
	claim(t, s, r2.ID, "w1")
	clk.add(time.Second)
	e := enqueue(t, s, fx, "", 2, engine.OverlapCancel)
	if e.Cancel != r2.ID || e.Run.Status != engine.RunQueued || e.Run.Dispatched || e.Blocking != "" {
		t.Fatalf("cancel with one running of two = %+v, want Cancel %s", e, r2.ID)
	}
	wantStatus(t, s, e.Run.ID, engine.RunQueued, false)
	q.wantDispatched(t, "the canceling run")
	ended, err := s.EndRun(ctx, r2.ID, engine.RunCanceled, "canceled to make room")
	ok(t, err)
	if !ended {
		t.Fatal("EndRun = false")
	}
	q.wantDispatched(t, "after the cancel", e.Run.ID)

	// Both running: the oldest is named.
	claim(t, s, e.Run.ID, "w1")
	claim(t, s, r1.ID, "w1")
	clk.add(time.Second)
	e2 := enqueue(t, s, fx, "", 2, engine.OverlapCancel)
	if e2.Cancel != r1.ID {
		t.Fatalf("cancel with two running = %+v, want Cancel %s", e2, r1.ID)
	}
	q.wantDispatched(t, "the second canceling run")
	enders[0].end(t, s, r1.ID)
	q.wantDispatched(t, "after the second end", e2.Run.ID)
}

// testConcurrentEnqueue: many writers enqueue runs of one limit-1 flow at
// once; one run holds the slot, and each end lets exactly the oldest
// waiting run in.
func testConcurrentEnqueue(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	q := newFakeQueue(s)
	q.limit = 1
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, err := s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID}, 1, engine.OverlapQueue); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	tx, done := q.take(t)
	if len(tx) != 1 || !slices.Equal(tx, done) {
		t.Fatalf("after %d concurrent enqueues: DispatchTx %v, Dispatched %v; want one run", n, tx, done)
	}
	current := tx[0]
	for i := range n {
		holders, waiting := slots(t, s, fx.flow.ID)
		if !slices.Equal(holders, []string{current}) || len(waiting) != n-1-i {
			t.Fatalf("step %d: holders %v (want %s), %d waiting", i, holders, current, len(waiting))
		}
		claim(t, s, current, "w1")
		enders[i%2].end(t, s, current)
		if len(waiting) == 0 {
			q.wantDispatched(t, "the last end")
			break
		}
		q.wantDispatched(t, fmt.Sprintf("end %d", i), waiting[0])
		current = waiting[0]
	}
	holders, waiting := slots(t, s, fx.flow.ID)
	if len(holders)+len(waiting) != 0 {
		t.Fatalf("left: holders %v, waiting %v", holders, waiting)
	}
}

// slots lists a flow's runs that hold a slot, and those waiting for one,
// oldest first.
func slots(t *testing.T, s *Store, flowID string) (holders, waiting []string) {
	t.Helper()
	rs, err := s.RunsOfFlow(context.Background(), flowID, 1000)
	ok(t, err)
	slices.Reverse(rs) // oldest first; RunsOfFlow orders by created_at, id
	for _, r := range rs {
		switch {
		case r.Status.Done():
		case r.Status == engine.RunQueued && !r.Dispatched:
			waiting = append(waiting, r.ID)
		default:
			holders = append(holders, r.ID)
		}
	}
	return holders, waiting
}

// testConcurrentEnqueueAndEnd: writers enqueue while a worker claims and
// ends each dispatched run: no dispatch ever finds more than one run in
// the slot, and no waiting run is forgotten (every run ends).
func testConcurrentEnqueueAndEnd(t *testing.T, s *Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fx := setup(t, s)
	q := newFakeQueue(s)
	q.limit = 1
	q.sink = make(chan string, 100)
	const writers, each = 5, 6
	ended := make(chan struct{})
	var werr error
	go func() {
		defer close(ended)
		for i := 0; i < writers*each; i++ {
			var id string
			select {
			case id = <-q.sink:
			case <-ctx.Done():
				werr = fmt.Errorf("%d runs ended, then none was dispatched", i)
				return
			}
			if _, claimed, err := s.ClaimRun(ctx, id, "w1", time.Now().Add(time.Minute)); err != nil || !claimed {
				werr = fmt.Errorf("claim %s: %v %v", id, claimed, err)
				return
			}
			var err error
			if i%2 == 0 {
				err = s.AppendEvents(ctx, id, []engine.Event{{Type: engine.EventRunFinished, At: time.Now(), Status: "succeeded"}})
			} else {
				_, err = s.EndRun(ctx, id, engine.RunCanceled, "")
			}
			if err != nil {
				werr = err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for range writers {
		wg.Go(func() {
			for range each {
				if _, err := s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID}, 1, engine.OverlapQueue); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	<-ended
	if werr != nil {
		t.Fatal(werr)
	}
	tx, done := q.take(t)
	if len(tx) != writers*each || len(done) != writers*each {
		t.Fatalf("dispatched %d in transactions, %d after; want %d", len(tx), len(done), writers*each)
	}
	holders, waiting := slots(t, s, fx.flow.ID)
	if len(holders)+len(waiting) != 0 {
		t.Fatalf("left: holders %v, waiting %v", holders, waiting)
	}
}

// testConcurrentCancelWaiting: runs waiting for the slot are canceled
// while the runs that hold it end and let the next in: no write fails (on
// PostgreSQL, no deadlock between a cancel and a promotion), every run
// ends, and no dispatch finds the slot taken.
func testConcurrentCancelWaiting(t *testing.T, s *Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fx := setup(t, s)
	q := newFakeQueue(s)
	q.limit = 1
	q.sink = make(chan string, 200)
	const n = 40
	var ids []string
	for range n {
		ids = append(ids, enqueue(t, s, fx, "", 1, "").Run.ID)
	}
	errs := make(chan error, 2*n)
	// People cancel every other run, newest first, as the worker goes.
	var people sync.WaitGroup
	for g := range 2 {
		people.Go(func() {
			for i := n - 1 - g; i > 0; i -= 4 {
				if _, err := s.EndRun(ctx, ids[i], engine.RunCanceled, "canceled by ada"); err != nil {
					errs <- pgDetail(err)
				}
			}
		})
	}
	peopleDone := make(chan struct{})
	go func() { people.Wait(); close(peopleDone) }()
	// The worker: claim and end each dispatched run, until the people are
	// done and no run is left.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case id := <-q.sink:
			if _, claimed, err := s.ClaimRun(ctx, id, "w1", time.Now().Add(time.Minute)); err != nil {
				errs <- err
				continue
			} else if !claimed {
				continue // canceled after its dispatch
			}
			if err := s.AppendEvents(ctx, id, []engine.Event{{Type: engine.EventRunFinished, At: time.Now(), Status: "succeeded"}}); err != nil {
				errs <- pgDetail(err)
			}
		case <-tick.C:
			select {
			case <-peopleDone:
				holders, waiting := slots(t, s, fx.flow.ID)
				done = len(holders)+len(waiting) == 0
			default:
			}
		case <-ctx.Done():
			holders, waiting := slots(t, s, fx.flow.ID)
			t.Fatalf("runs left: holders %v, waiting %v", holders, waiting)
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	q.take(t)
	holders, waiting := slots(t, s, fx.flow.ID)
	if len(holders)+len(waiting) != 0 {
		t.Fatalf("left: holders %v, waiting %v", holders, waiting)
	}
}

// pgDetail adds what PostgreSQL says of an error (a deadlock's waits).
func pgDetail(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Detail != "" {
		return fmt.Errorf("%w\nDETAIL: %s\nWHERE: %s", err, pe.Detail, pe.Where)
	}
	return err
}

// testClaimRun: a dispatched queued run is claimed once; a canceled run, or
// one still waiting for its slot, never.
func testClaimRun(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	newFakeQueue(s)
	r := enqueue(t, s, fx, "", 0, "").Run
	clk.add(time.Second)
	until := s.timeNow().Add(30 * time.Second)
	got, claimed, err := s.ClaimRun(ctx, r.ID, "w1", until)
	ok(t, err)
	if !claimed || got.ID != r.ID || got.Status != engine.RunRunning || got.Worker != "w1" ||
		!got.LeaseUntil.Equal(until) || !got.StartedAt.Equal(s.timeNow()) || len(got.Files) != len(r.Files) {
		t.Fatalf("ClaimRun = %+v %v", got, claimed)
	}
	if stored := runOfID(t, s, r.ID); !reflect.DeepEqual(stored, got) {
		t.Fatalf("stored after claim = %+v\nreturned %+v", stored, got)
	}

	canceled := enqueue(t, s, fx, "", 0, "").Run
	_, err = s.EndRun(ctx, canceled.ID, engine.RunCanceled, "canceled")
	ok(t, err)
	fx2 := fx
	fx2.flow, err = s.CreateFlow(ctx, fx.ws.ID, "limited", &engine.Flow{}, "", nil, "")
	ok(t, err)
	r2 := enqueue(t, s, fx2, "", 1, "").Run // r2 holds the limit-1 slot
	waiting := enqueue(t, s, fx2, "", 1, "").Run
	skipped := enqueue(t, s, fx2, "", 1, engine.OverlapSkip).Run
	for _, tt := range []struct {
		name, id string
		status   engine.RunStatus
	}{
		{"claimed before", r.ID, engine.RunRunning},
		{"canceled", canceled.ID, engine.RunCanceled},
		{"waiting for its slot", waiting.ID, engine.RunQueued},
		{"skipped", skipped.ID, engine.RunSkipped},
	} {
		_, claimed, err := s.ClaimRun(ctx, tt.id, "w2", until)
		ok(t, err)
		if claimed {
			t.Errorf("ClaimRun of a run %s = true", tt.name)
		}
		if got := runOfID(t, s, tt.id); got.Status != tt.status || got.Worker == "w2" {
			t.Errorf("run %s after ClaimRun = %+v", tt.name, got)
		}
	}
	_, claimed, err = s.ClaimRun(ctx, "r_nope", "w2", until)
	if claimed || err != nil {
		t.Errorf("ClaimRun of no run = %v %v", claimed, err)
	}
	claim(t, s, r2.ID, "w2")
}

// testConcurrentClaim: a run delivered to many workers at once is claimed
// by one.
func testConcurrentClaim(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	r := enqueue(t, s, fx, "", 0, "").Run
	const n = 8
	wins := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w := fmt.Sprint("w", i)
			_, claimed, err := s.ClaimRun(ctx, r.ID, w, time.Now().Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if claimed {
				wins <- w
			}
		})
	}
	wg.Wait()
	close(wins)
	var got []string
	for w := range wins {
		got = append(got, w)
	}
	if len(got) != 1 {
		t.Fatalf("claimed by %v, want one worker", got)
	}
	if stored := runOfID(t, s, r.ID); stored.Worker != got[0] {
		t.Fatalf("run held by %q, claimed by %s", stored.Worker, got[0])
	}
}

// testRenewLeases: a worker renews the leases of the runs it still holds,
// and only those.
func testRenewLeases(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	start := s.timeNow()
	var ids []string
	for range 4 {
		ids = append(ids, enqueue(t, s, fx, "", 0, "").Run.ID)
	}
	lease := []time.Duration{10 * time.Second, time.Minute, time.Minute, time.Minute}
	workers := []string{"w1", "w1", "w1", "w2"}
	for i, id := range ids {
		_, claimed, err := s.ClaimRun(ctx, id, workers[i], start.Add(lease[i]))
		ok(t, err)
		if !claimed {
			t.Fatalf("claim %d", i)
		}
	}
	enders[0].end(t, s, ids[2]) // ended: no longer held

	renew := func(worker string, until time.Time) []string {
		t.Helper()
		got, err := s.RenewLeases(ctx, worker, until)
		ok(t, err)
		slices.Sort(got)
		return got
	}
	sorted := func(v ...string) []string { slices.Sort(v); return v }

	until := start.Add(2 * time.Minute)
	if got := renew("w1", until); !slices.Equal(got, sorted(ids[0], ids[1])) {
		t.Fatalf("RenewLeases(w1) = %v, want %v", got, sorted(ids[0], ids[1]))
	}
	for i, want := range []time.Time{until, until, {}, start.Add(time.Minute)} {
		if got := runOfID(t, s, ids[i]).LeaseUntil; !got.Equal(want) {
			t.Errorf("run %d lease = %v, want %v", i, got, want)
		}
	}
	if got := renew("w9", until); len(got) != 0 {
		t.Fatalf("RenewLeases(w9) = %v", got)
	}

	// w1 stops heartbeating past its leases; run 0 is reaped, then w1
	// comes back: it holds only what was not taken from it.
	clk.add(3 * time.Minute)
	_, err := s.db.NewUpdate().Model((*runModel)(nil)).Set("lease_until = ?", s.timeNow().Add(time.Hour)).
		Where("id = ?", ids[1]).Exec(ctx)
	ok(t, err)
	lost, err := s.ReapLost(ctx, s.timeNow())
	ok(t, err)
	slices.Sort(lost)
	if want := sorted(ids[0], ids[3]); !slices.Equal(lost, want) {
		t.Fatalf("ReapLost = %v, want %v", lost, want)
	}
	if got := renew("w1", s.timeNow().Add(time.Minute)); !slices.Equal(got, []string{ids[1]}) {
		t.Fatalf("RenewLeases(w1) after the reap = %v, want [%s]", got, ids[1])
	}
	if got := renew("w2", s.timeNow().Add(time.Minute)); len(got) != 0 {
		t.Fatalf("RenewLeases(w2) after the reap = %v", got)
	}
	if r := runOfID(t, s, ids[0]); !r.LeaseUntil.IsZero() || r.Status != engine.RunFailed {
		t.Fatalf("reaped run = %+v", r)
	}
}

// testReapLost: a running run whose lease expired ends failed "worker
// lost", its cells ended, its end stored as events after its last; live
// leases and queued runs are untouched; the flow's waiting run moves up.
func testReapLost(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	q := newFakeQueue(s)
	start := s.timeNow()
	lost := enqueue(t, s, fx, "", 2, "").Run
	live := enqueue(t, s, fx, "", 2, "").Run
	clk.add(time.Second)
	waiting := enqueue(t, s, fx, "", 2, "").Run
	other, err := s.CreateFlow(ctx, fx.ws.ID, "other", &engine.Flow{}, "", nil, "")
	ok(t, err)
	queued, err := s.EnqueueRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: other.ID}, 0, "")
	ok(t, err)
	q.wantDispatched(t, "setup", lost.ID, live.ID, queued.Run.ID)

	_, _, err = s.ClaimRun(ctx, lost.ID, "w1", start.Add(30*time.Second))
	ok(t, err)
	_, _, err = s.ClaimRun(ctx, live.ID, "w2", start.Add(10*time.Minute))
	ok(t, err)
	at := s.timeNow()
	evs := []engine.Event{
		{Type: engine.EventRunStarted, At: at, Cells: []string{"done", "busy", "later"}},
		{Type: engine.EventCellStarted, At: at, Cell: "done", Attempt: 1},
		{Type: engine.EventCellFinished, At: at, Cell: "done", Status: "succeeded", Attempts: 1, Result: json.RawMessage(`{"v":1}`)},
		{Type: engine.EventCellStarted, At: at, Cell: "busy", Attempt: 2},
	}
	ok(t, s.AppendEvents(ctx, lost.ID, evs))
	startedAt := runOfID(t, s, lost.ID).StartedAt

	// Before its lease ends, nothing is lost.
	clk.add(28 * time.Second)
	got, err := s.ReapLost(ctx, s.timeNow())
	ok(t, err)
	if len(got) != 0 {
		t.Fatalf("ReapLost before the lease ended = %v", got)
	}
	clk.add(2 * time.Second)
	got, err = s.ReapLost(ctx, s.timeNow())
	ok(t, err)
	if !slices.Equal(got, []string{lost.ID}) {
		t.Fatalf("ReapLost = %v, want [%s]", got, lost.ID)
	}
	now := s.timeNow()
	r := runOfID(t, s, lost.ID)
	if r.Status != engine.RunFailed || !strings.Contains(r.Error, "worker lost") || !r.FinishedAt.Equal(now) ||
		r.DurationMS != now.Sub(startedAt).Milliseconds() || !r.LeaseUntil.IsZero() {
		t.Fatalf("lost run = %+v", r)
	}
	crs, err := s.CellRuns(ctx, lost.ID)
	ok(t, err)
	cells := map[string]engine.CellStatus{}
	for _, c := range crs {
		cells[c.Name] = c.Status
	}
	if want := map[string]engine.CellStatus{"done": engine.CellSucceeded, "busy": engine.CellFailed, "later": engine.CellCanceled}; !maps.Equal(cells, want) {
		t.Fatalf("cells = %v, want %v", cells, want)
	}
	stored, err := s.Events(ctx, lost.ID, int64(len(evs)), 0)
	ok(t, err)
	if len(stored) != 3 || stored[0].Seq != 5 || stored[2].Seq != 7 || stored[2].Type != engine.EventRunFinished {
		t.Fatalf("events after the last = %+v", stored)
	}
	var fin engine.Event
	ok(t, json.Unmarshal(stored[2].Data, &fin))
	if fin.Status != string(engine.RunFailed) || !strings.Contains(fin.Error, "worker lost") || fin.Run != lost.ID || !fin.At.Equal(now.Truncate(time.Millisecond)) {
		t.Fatalf("run.finished = %+v", fin)
	}
	var busy engine.Event
	ok(t, json.Unmarshal(stored[0].Data, &busy))
	if busy.Type != engine.EventCellFinished || busy.Cell != "busy" || busy.Status != string(engine.CellFailed) || busy.Attempts != 2 {
		t.Fatalf("cell.finished of the running cell = %+v", busy)
	}
	q.wantDispatched(t, "after the reap", waiting.ID)

	wantStatus(t, s, live.ID, engine.RunRunning, true)
	wantStatus(t, s, queued.Run.ID, engine.RunQueued, true)
	if r := runOfID(t, s, live.ID); r.Error != "" || !r.FinishedAt.IsZero() {
		t.Fatalf("live run = %+v", r)
	}
	// A queued run is not lost, however old; a reaped run is reaped once.
	clk.add(time.Hour)
	_, _, err = s.ClaimRun(ctx, waiting.ID, "w2", s.timeNow().Add(time.Minute))
	ok(t, err)
	ok(t, s.UpdateRun(ctx, live.ID, RunUpdate{Status: engine.RunWaiting}))
	got, err = s.ReapLost(ctx, s.timeNow())
	ok(t, err)
	if len(got) != 0 {
		t.Fatalf("ReapLost of queued, waiting and live runs = %v", got)
	}
	wantStatus(t, s, queued.Run.ID, engine.RunQueued, true)
	wantStatus(t, s, live.ID, engine.RunWaiting, true)
	n, err := s.LastSeq(ctx, lost.ID)
	ok(t, err)
	if n != 7 {
		t.Fatalf("LastSeq after a second reap = %d", n)
	}
}

// testEndRunGuard: EndRun ends only a run that has not ended, from the
// statuses asked; a late run.finished never flips a final status.
func testEndRunGuard(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	tests := []struct {
		name   string
		prep   func(id string) // from queued, dispatched
		from   []engine.RunStatus
		ended  bool
		status engine.RunStatus // after
	}{
		{"queued", func(string) {}, nil, true, engine.RunCanceled},
		{"running", func(id string) { claim(t, s, id, "w1") }, nil, true, engine.RunCanceled},
		{"running, from running", func(id string) { claim(t, s, id, "w1") }, []engine.RunStatus{engine.RunRunning}, true, engine.RunCanceled},
		{"queued, from running", func(string) {}, []engine.RunStatus{engine.RunRunning}, false, engine.RunQueued},
		{"waiting", func(id string) { ok(t, s.UpdateRun(ctx, id, RunUpdate{Status: engine.RunWaiting})) }, nil, true, engine.RunCanceled},
		{"succeeded", func(id string) { claim(t, s, id, "w1"); enders[0].end(t, s, id) }, nil, false, engine.RunSucceeded},
		{"canceled", func(id string) { enders[1].end(t, s, id) }, nil, false, engine.RunCanceled},
		{"failed", func(id string) {
			ok(t, s.AppendEvents(ctx, id, []engine.Event{{Type: engine.EventRunFinished, At: s.timeNow(), Status: "failed", Error: "boom"}}))
		}, nil, false, engine.RunFailed},
	}
	for _, tt := range tests {
		r := enqueue(t, s, fx, "", 0, "").Run
		tt.prep(r.ID)
		clk.add(time.Second)
		before := runOfID(t, s, r.ID)
		seq, err := s.LastSeq(ctx, r.ID)
		ok(t, err)
		ended, err := s.EndRun(ctx, r.ID, engine.RunCanceled, "canceled by ada", tt.from...)
		ok(t, err)
		after := runOfID(t, s, r.ID)
		seq2, err := s.LastSeq(ctx, r.ID)
		ok(t, err)
		if ended != tt.ended || after.Status != tt.status {
			t.Errorf("%s: EndRun = %v, status %s; want %v, %s", tt.name, ended, after.Status, tt.ended, tt.status)
			continue
		}
		if !ended {
			if !reflect.DeepEqual(after, before) || seq2 != seq {
				t.Errorf("%s: a refused EndRun changed the run:\n %+v (seq %d)\nwas %+v (seq %d)", tt.name, after, seq2, before, seq)
			}
			continue
		}
		if after.Error != "canceled by ada" || !after.FinishedAt.Equal(s.timeNow()) || seq2 != seq+1 {
			t.Errorf("%s: ended run = %+v, last seq %d (was %d)", tt.name, after, seq2, seq)
		}
	}
	_, err := s.EndRun(ctx, "r_nope", engine.RunCanceled, "")
	isErr(t, err, ErrNotFound)

	// A worker's late events on a canceled run (canceled just after the
	// claim: its first batch comes after): stored in the log, the run stays
	// canceled.
	r := enqueue(t, s, fx, "", 0, "").Run
	claim(t, s, r.ID, "w1")
	ok(t, s.AppendEvents(ctx, r.ID, []engine.Event{{Type: engine.EventRunStarted, At: s.timeNow(), Cells: []string{"a"}}}))
	clk.add(time.Second)
	ended, err := s.EndRun(ctx, r.ID, engine.RunCanceled, "canceled by ada")
	ok(t, err)
	if !ended {
		t.Fatal("EndRun of a running run = false")
	}
	before := runOfID(t, s, r.ID)
	clk.add(time.Second)
	late := []engine.Event{
		{Type: engine.EventRunStarted, At: s.timeNow(), Cells: []string{"a"}},
		{Type: engine.EventCellFinished, At: s.timeNow(), Cell: "a", Status: "succeeded", Attempts: 1},
		{Type: engine.EventRunFinished, At: s.timeNow(), Status: "succeeded", DurationMS: 2000},
	}
	ok(t, s.AppendEvents(ctx, r.ID, late))
	if after := runOfID(t, s, r.ID); !reflect.DeepEqual(after, before) {
		t.Fatalf("a late run.finished changed a canceled run:\n %+v\nwas %+v", after, before)
	}
	n, err := s.LastSeq(ctx, r.ID)
	ok(t, err)
	if n != late[2].Seq {
		t.Fatalf("LastSeq = %d, want the late event's %d", n, late[2].Seq)
	}
}

// testDispatchedQueued: the queued runs that were dispatched, oldest first;
// not those waiting for a slot, nor claimed or ended ones.
func testDispatchedQueued(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	var ids []string
	for i := range 5 {
		clk.add(time.Second)
		ids = append(ids, enqueue(t, s, fx, fmt.Sprintf("r_%02d", 9-i), 3, "").Run.ID)
	}
	// 0, 1, 2 hold the slots (1 claimed), 3, 4 wait.
	claim(t, s, ids[1], "w1")
	got, err := s.DispatchedQueued(ctx)
	ok(t, err)
	if want := []string{ids[0], ids[2]}; !slices.Equal(got, want) {
		t.Fatalf("DispatchedQueued = %v, want %v", got, want)
	}
	enders[1].end(t, s, ids[0])
	got, err = s.DispatchedQueued(ctx)
	ok(t, err)
	if want := []string{ids[2], ids[3]}; !slices.Equal(got, want) {
		t.Fatalf("DispatchedQueued after an end = %v, want %v", got, want)
	}
}

// testRunNotices: on PostgreSQL a listener hears of each new run and of
// each batch of events, once its transaction commits; a rolled-back one
// or a refused EndRun tells nothing.
func testRunNotices(t *testing.T, s *Store) {
	if _, _, _, okk := (Notice{Payload: "r_1 x"}).EventsNotice(); okk {
		t.Error("EventsNotice read a seq of x")
	}
	if _, _, _, okk := (Notice{Payload: "r_1"}).EventsNotice(); okk {
		t.Error("EventsNotice read a payload without a seq")
	}
	if s.Dialect() != DialectPostgres {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	fx := setup(t, s)
	q := newFakeQueue(s)
	bad, good := NewID("r"), NewID("r")
	notices := make(chan Notice, 16)
	ready := make(chan struct{})
	var once sync.Once
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		// Every test's notices reach every listener: keep this test's runs'.
		_ = s.Listen(ctx, []string{ChannelEvents, ChannelRuns}, func() { once.Do(func() { close(ready) }) }, func(n Notice) {
			if strings.HasPrefix(n.Payload, bad+" ") || strings.HasPrefix(n.Payload, good+" ") {
				notices <- n
			}
		})
	}()
	defer func() { cancel(); <-stopped }()
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("never listening")
	}

	q.setFail(errors.New("queue down"))
	_, err := s.EnqueueRun(ctx, Run{ID: bad, WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID}, 0, "")
	if err == nil {
		t.Fatal("EnqueueRun with a failing queue")
	}
	q.setFail(nil)
	_, err = s.EnqueueRun(ctx, Run{ID: good, WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID}, 1, "")
	ok(t, err)
	claim(t, s, good, "w1")
	ok(t, s.AppendEvents(ctx, good, []engine.Event{
		{Type: engine.EventRunStarted, At: time.Now(), Cells: []string{"a", "b"}},
		{Type: engine.EventCellStarted, At: time.Now(), Cell: "a", Attempt: 1},
		{Type: engine.EventCellLog, At: time.Now(), Cell: "a", Lines: []string{"hi"}},
	}))
	ended, err := s.EndRun(ctx, good, engine.RunCanceled, "canceled")
	ok(t, err)
	if !ended {
		t.Fatal("EndRun = false")
	}
	ended, err = s.EndRun(ctx, good, engine.RunCanceled, "again")
	ok(t, err)
	if ended {
		t.Fatal("second EndRun = true")
	}
	ok(t, s.AppendEvents(ctx, good, []engine.Event{{Type: engine.EventCellLog, At: time.Now(), Cell: "a", Lines: []string{"late"}}}))

	want := []Notice{
		{Channel: ChannelRuns, Payload: good + " " + fx.flow.ID},
		{Channel: ChannelEvents, Payload: good + " 3 " + fx.flow.ID},
		{Channel: ChannelEvents, Payload: good + " 6 " + fx.flow.ID + " canceled"}, // a, b and the run end, with its status
		{Channel: ChannelEvents, Payload: good + " 7 " + fx.flow.ID},
	}
	for i, w := range want {
		select {
		case n := <-notices:
			if n != w {
				t.Fatalf("notice %d = %+v, want %+v", i, n, w)
			}
		case <-ctx.Done():
			t.Fatalf("notice %d (%+v) never came", i, w)
		}
	}
	if id, flow, okk := want[0].RunsNotice(); !okk || id != good || flow != fx.flow.ID {
		t.Errorf("RunsNotice = %s %s %v", id, flow, okk)
	}
	if id, seq, flow, okk := want[3].EventsNotice(); !okk || id != good || seq != 7 || flow != fx.flow.ID {
		t.Errorf("EventsNotice = %s %d %s %v", id, seq, flow, okk)
	}
	if e, okk := want[2].RunEvents(); !okk || e.Final != engine.RunCanceled || e.Seq != 6 {
		t.Errorf("RunEvents = %+v %v; want the final status canceled", e, okk)
	}
}

// testRunPlaneMigration: 0010 up on a database holding runs keeps every
// run and its children (SQLite rebuilds runs and cell_runs), and so do
// down and up again; foreign keys still hold and cascade.
func testRunPlaneMigration(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	steps := 0
	for _, v := range migrationVersions(t, s.Dialect()) {
		if v >= 10 {
			steps++
		}
	}
	ok(t, s.Migrate(ctx, "down", steps))
	if v, dirty, err := s.MigrateStatus(ctx); err != nil || v != 9 || dirty {
		t.Fatalf("MigrateStatus after down = %d %v %v, want 9", v, dirty, err)
	}
	exec := func(query string, args ...any) {
		t.Helper()
		_, err := s.db.NewRaw(query, args...).Exec(ctx)
		ok(t, err)
	}
	at := time.Date(2025, 1, 31, 6, 0, 0, 123456000, time.UTC)
	statuses := []string{"queued", "running", "succeeded", "failed", "canceled"}
	for i, st := range statuses {
		id := "r_" + st
		var started, finished any
		if st != "queued" {
			started = at.Add(time.Duration(i) * time.Second)
		}
		if i >= 2 {
			finished = at.Add(time.Minute)
		}
		exec(`INSERT INTO runs (id, workspace_id, flow_id, version, hash, status, inputs, files, started_by, created_at, started_at, finished_at, duration_ms, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, fx.ws.ID, fx.flow.ID, i, "hash"+st, st, fmt.Sprintf(`{"n":%d}`, i), encodeFiles(sampleFiles), fx.user.ID,
			at.Add(time.Duration(i)*time.Millisecond), started, finished, i*100, "err "+st)
		exec(`INSERT INTO cell_runs (run_id, position, name, kind, status, attempts, started_at, finished_at, duration_ms, result, log_bytes, log_cut)
			VALUES (?, 0, 'fetch', 'http', 'succeeded', 2, ?, ?, 42, '{"status":200}', 10, TRUE), (?, 1, 'notify', 'shell', 'pending', 0, NULL, NULL, 0, NULL, 0, FALSE)`,
			id, at, at.Add(time.Second), id)
		for seq := 1; seq <= 3; seq++ {
			exec(`INSERT INTO run_events (run_id, seq, type, cell, data) VALUES (?, ?, 'cell.log', 'fetch', ?)`,
				id, seq, fmt.Sprintf(`{"seq":%d}`, seq))
		}
		_, err := s.CreateShare(ctx, Share{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, RunID: id, Kind: ShareRun,
			Hash: "hash-" + st, ExpiresAt: at.Add(24 * time.Hour)})
		ok(t, err)
	}
	_, err := s.CreateShare(ctx, Share{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Kind: ShareForm, Hash: "form", ExpiresAt: at.Add(time.Hour)})
	ok(t, err)

	snapshot := func() string {
		t.Helper()
		var b strings.Builder
		for _, query := range []string{
			`SELECT id, workspace_id, flow_id, version, hash, status, inputs, files, started_by, created_at, started_at, finished_at, duration_ms, error FROM runs ORDER BY id`,
			`SELECT * FROM cell_runs ORDER BY run_id, name`,
			`SELECT * FROM run_events ORDER BY run_id, seq`,
			`SELECT id, run_id, flow_id, kind, hash FROM shares ORDER BY id`,
		} {
			var rows []map[string]any
			ok(t, s.rdb.NewRaw(query).Scan(ctx, &rows))
			fmt.Fprintf(&b, "%d rows\n", len(rows))
			for _, r := range rows {
				fmt.Fprintln(&b, r)
			}
		}
		return b.String()
	}
	fkCheck := func(when string) {
		t.Helper()
		if s.Dialect() != DialectSQLite {
			return
		}
		var on int
		ok(t, s.db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&on))
		if on != 1 {
			t.Fatalf("%s: foreign keys are off", when)
		}
		rows, err := s.db.QueryContext(ctx, "PRAGMA foreign_key_check")
		ok(t, err)
		defer rows.Close()
		if rows.Next() {
			t.Fatalf("%s: foreign_key_check finds broken references", when)
		}
		ok(t, rows.Err())
	}
	indexes := func() []string {
		t.Helper()
		var names []string
		if s.Dialect() == DialectSQLite {
			ok(t, s.rdb.NewRaw(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('runs', 'cell_runs', 'run_events', 'shares') AND sql IS NOT NULL ORDER BY name`).Scan(ctx, &names))
		} else {
			ok(t, s.rdb.NewRaw(`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ('runs', 'cell_runs', 'run_events', 'shares') ORDER BY indexname`).Scan(ctx, &names))
		}
		return names
	}
	before := snapshot()
	oldIndexes := indexes()
	if !strings.HasPrefix(before, "5 rows\n") || !strings.Contains(before, "\n10 rows\n") || !strings.Contains(before, "\n15 rows\n") || !strings.Contains(before, "\n6 rows\n") {
		t.Fatalf("rows made at 0009:\n%s", before)
	}

	up := func(when string) {
		t.Helper()
		ok(t, s.Migrate(ctx, "up", 0))
		if got := snapshot(); got != before {
			t.Fatalf("%s: rows changed:\n%s\nwere\n%s", when, got, before)
		}
		fkCheck(when)
		for _, name := range oldIndexes {
			if !slices.Contains(indexes(), name) {
				t.Fatalf("%s: index %s lost; now %v", when, name, indexes())
			}
		}
		for _, st := range statuses {
			r := runOfID(t, s, "r_"+st)
			if r.Worker != "" || !r.LeaseUntil.IsZero() || !r.Dispatched || r.ConcLimit != 0 || string(r.Request) != "{}" ||
				!reflect.DeepEqual(r.Files, sampleFiles) || r.StartedBy != fx.user.ID || string(r.Status) != st {
				t.Fatalf("%s: run %s = %+v", when, st, r)
			}
		}
		ids, err := s.DispatchedQueued(ctx)
		ok(t, err)
		if !slices.Equal(ids, []string{"r_queued"}) {
			t.Fatalf("%s: DispatchedQueued = %v", when, ids)
		}
	}
	up("up")

	// The new statuses fit; down maps them onto the old ones.
	ok(t, s.UpdateRun(ctx, "r_running", RunUpdate{Status: engine.RunWaiting}))
	ok(t, s.UpsertCellRun(ctx, CellRun{RunID: "r_running", Position: 1, Name: "notify", Kind: engine.KindShell, Status: engine.CellWaiting}))
	skipped := enqueue(t, s, fx, "r_skipped", 0, "").Run
	ok(t, s.UpdateRun(ctx, skipped.ID, RunUpdate{Status: engine.RunSkipped}))
	ok(t, s.Migrate(ctx, "down", steps))
	fkCheck("down")
	var got []string
	ok(t, s.rdb.NewRaw(`SELECT status FROM runs WHERE id IN ('r_running', 'r_skipped') ORDER BY id`).Scan(ctx, &got))
	if !slices.Equal(got, []string{"failed", "canceled"}) {
		t.Fatalf("waiting, skipped after down = %v, want failed, canceled", got)
	}
	var cell string
	ok(t, s.rdb.NewRaw(`SELECT status FROM cell_runs WHERE run_id = 'r_running' AND name = 'notify'`).Scan(ctx, &cell))
	if cell != "canceled" {
		t.Fatalf("waiting cell after down = %s", cell)
	}
	exec(`DELETE FROM runs WHERE id = 'r_skipped'`)
	exec(`UPDATE runs SET status = 'running' WHERE id = 'r_running'`)
	exec(`UPDATE cell_runs SET status = 'pending' WHERE run_id = 'r_running' AND name = 'notify'`)
	if got := snapshot(); got != before {
		t.Fatalf("down: rows changed:\n%s\nwere\n%s", got, before)
	}
	up("up again")

	// The rebuilt runs table is the one its children's keys point at.
	exec(`DELETE FROM runs WHERE id = 'r_failed'`)
	for _, table := range []string{"cell_runs", "run_events", "shares"} {
		var n int
		ok(t, s.rdb.NewRaw(`SELECT COUNT(*) FROM `+table+` WHERE run_id = 'r_failed'`).Scan(ctx, &n))
		if n != 0 {
			t.Fatalf("%s keeps %d rows of a deleted run", table, n)
		}
	}
	_, err = s.db.NewRaw(`INSERT INTO cell_runs (run_id, position, name, status) VALUES ('r_gone', 0, 'x', 'pending')`).Exec(ctx)
	if err == nil {
		t.Fatal("a cell run of no run was stored")
	}
}
