package lease

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Data: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestLease: of two holders one takes the lease; Keep renews only after a
// quarter of its time, and fails once the other took a lapsed lease;
// Release lets the other take it at once.
func TestLease(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := clock.NewFake(time.Now())
	// The store reads the real clock for expiry; the TTL is short so it
	// can lapse in the test.
	a := &Lease{Store: st, Name: "job", Holder: "a", TTL: 300 * time.Millisecond, Clock: clk}
	b := &Lease{Store: st, Name: "job", Holder: "b", TTL: 300 * time.Millisecond, Clock: clk}
	if got, err := a.Take(ctx); !got || err != nil {
		t.Fatalf("a takes a free lease: %v, %v", got, err)
	}
	if got, err := b.Take(ctx); got || err != nil {
		t.Fatalf("b takes a's lease: %v, %v", got, err)
	}
	if got, err := a.Take(ctx); !got || err != nil {
		t.Fatalf("a takes its own lease again: %v, %v", got, err)
	}
	if err := a.Keep(ctx); err != nil {
		t.Fatalf("keep within a quarter: %v", err)
	}
	time.Sleep(400 * time.Millisecond) // a's lease lapses
	if got, err := b.Take(ctx); !got || err != nil {
		t.Fatalf("b takes a lapsed lease: %v, %v", got, err)
	}
	if err := a.Keep(ctx); err != nil {
		t.Fatalf("a within a quarter by its clock renews nothing, so learns nothing: %v", err)
	}
	clk.Advance(100 * time.Millisecond)
	if err := a.Keep(ctx); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("a keeps a lease b took: %v; want ErrLeaseLost", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Take(ctx); !got || err != nil {
		t.Fatalf("a takes a released lease: %v, %v", got, err)
	}
}

// TestLoop: the first pass waits first (or none at 0), the next ones
// every; Stop cancels a pass under way and waits for it; stop twice and
// start again work.
func TestLoop(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Now())
	var l Loop
	passes := make(chan context.Context, 10)
	l.Start(ctx, clk, time.Minute, time.Hour, func(ctx context.Context) { passes <- ctx })
	l.Start(ctx, clk, 0, time.Hour, func(ctx context.Context) { t.Error("a second Start ran") })
	waitTimers(t, clk, 1)
	select {
	case <-passes:
		t.Fatal("a pass before first")
	default:
	}
	clk.Advance(time.Minute)
	<-passes
	waitTimers(t, clk, 1)
	clk.Advance(59 * time.Minute)
	select {
	case <-passes:
		t.Fatal("a pass before every")
	case <-time.After(50 * time.Millisecond):
	}
	clk.Advance(time.Minute)
	<-passes
	l.Stop()
	l.Stop()

	// first 0: at once; Stop cancels the pass under way.
	var ended atomic.Bool
	started := make(chan struct{})
	l.Start(ctx, clk, 0, time.Hour, func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		ended.Store(true)
	})
	<-started
	l.Stop()
	if !ended.Load() {
		t.Fatal("Stop returned before the pass under way ended")
	}
}

// waitTimers waits until the loop's goroutine has set n timers.
func waitTimers(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); clk.Timers() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d timers; want %d", clk.Timers(), n)
		}
	}
}
