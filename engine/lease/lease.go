// Package lease runs background work that one process of several does at
// a time: a named lease in the database (store.AcquireLease) held while a
// pass runs and renewed as it goes, and a loop that starts a pass at
// intervals until stopped. The notifier's sender and the retention pruner
// are its users.
package lease

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/opsbook/opsbook/engine/clock"
)

// Store is what a lease needs of engine/store.
type Store interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	RenewLease(ctx context.Context, name, holder string, ttl time.Duration) error
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Lease is one process's hold on a named lease. It is not safe for use by
// several goroutines at once: one pass holds it.
type Lease struct {
	Store  Store
	Name   string
	Holder string        // names this process
	TTL    time.Duration // how long the lease lasts unless renewed
	Clock  clock.Clock   // nil: the system clock

	renewed time.Time
}

func (l *Lease) now() time.Time {
	if l.Clock == nil {
		return time.Now()
	}
	return l.Clock.Now()
}

// Take takes the lease, or renews it when this process holds it already.
// It reports false when another process holds it.
func (l *Lease) Take(ctx context.Context) (bool, error) {
	got, err := l.Store.AcquireLease(ctx, l.Name, l.Holder, l.TTL)
	if err != nil {
		return false, fmt.Errorf("%s: take the lease: %w", l.Name, err)
	}
	if got {
		l.renewed = l.now()
	}
	return got, nil
}

// Keep renews the lease when a quarter of its time has gone since it was
// taken or last renewed; a pass calls it between two pieces of work. It
// fails (store.ErrLeaseLost) when another process took the lease
// meanwhile: the pass must stop, so no work is done twice.
func (l *Lease) Keep(ctx context.Context) error {
	now := l.now()
	if now.Sub(l.renewed) <= l.TTL/4 {
		return nil
	}
	if err := l.Store.RenewLease(ctx, l.Name, l.Holder, l.TTL); err != nil {
		return fmt.Errorf("%s: keep the lease: %w", l.Name, err)
	}
	l.renewed = now
	return nil
}

// Release gives the lease up, so another process may take it at once.
func (l *Lease) Release(ctx context.Context) error {
	if err := l.Store.ReleaseLease(ctx, l.Name, l.Holder); err != nil {
		return fmt.Errorf("%s: release the lease: %w", l.Name, err)
	}
	return nil
}

// Loop calls a pass at intervals in the background. Its zero value is
// ready: Start starts it, Stop stops it.
type Loop struct {
	mu   sync.Mutex
	stop context.CancelFunc
	done chan struct{}
}

// Start calls pass after first, then every every after each pass ends
// (first 0: at once), on clk's timers, until Stop. The pass gets a
// context that ends at Stop; it outlives ctx's cancellation (not its
// values). Starting a started loop does nothing.
func (l *Loop) Start(ctx context.Context, clk clock.Clock, first, every time.Duration, pass func(context.Context)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		return
	}
	if clk == nil {
		clk = clock.Real{}
	}
	ctx, l.stop = context.WithCancel(context.WithoutCancel(ctx))
	l.done = make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		wait := first
		for {
			if wait > 0 {
				t := clk.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C():
				}
			}
			if ctx.Err() != nil {
				return
			}
			pass(ctx)
			wait = every
		}
	}(l.done)
}

// Stop ends the loop, cancelling a pass under way, and waits for it. Safe
// to call twice, and on a loop never started; a stopped loop may be
// started again.
func (l *Loop) Stop() {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.stop, l.done = nil, nil
	l.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}
