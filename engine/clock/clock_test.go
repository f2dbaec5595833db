package clock

import (
	"testing"
	"time"
)

var epoch = time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)

// TestFakeTimers: timers fire when the clock reaches them, in order, never
// before; a stopped timer never fires; Reset re-arms.
func TestFakeTimers(t *testing.T) {
	t.Parallel()
	f := NewFake(epoch)
	a, b := f.NewTimer(2*time.Second), f.NewTimer(time.Second)
	stopped := f.NewTimer(time.Second)
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop reports a pending timer once")
	}
	called := make(chan time.Time, 1)
	f.AfterFunc(3*time.Second, func() { called <- f.Now() })
	if f.Timers() != 3 {
		t.Fatalf("%d timers pending; want 3", f.Timers())
	}
	if at, ok := f.NextTimer(); !ok || !at.Equal(epoch.Add(time.Second)) {
		t.Fatalf("next timer at %v, %v", at, ok)
	}
	f.Advance(999 * time.Millisecond)
	select {
	case <-b.C():
		t.Fatal("a timer fired early")
	default:
	}
	f.Advance(time.Millisecond)
	if got := <-b.C(); !got.Equal(epoch.Add(time.Second)) {
		t.Fatalf("b fired at %v", got)
	}
	f.Advance(5 * time.Second)
	if got := <-a.C(); !got.Equal(epoch.Add(2 * time.Second)) {
		t.Fatalf("a fired at %v; want its own time", got)
	}
	if got := <-called; !got.Equal(epoch.Add(6 * time.Second)) {
		t.Fatalf("AfterFunc ran at %v", got)
	}
	select {
	case <-stopped.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	if a.Reset(time.Second) {
		t.Fatal("Reset of a fired timer reports it pending")
	}
	f.Advance(time.Second)
	<-a.C()
	if f.Timers() != 0 {
		t.Fatalf("%d timers left", f.Timers())
	}
	f.Set(epoch) // never back
	if !f.Now().Equal(epoch.Add(7 * time.Second)) {
		t.Fatalf("the clock went back to %v", f.Now())
	}
}

// TestFakeWaitTimers: WaitTimers returns once something waits on the
// clock, and gives up when told.
func TestFakeWaitTimers(t *testing.T) {
	t.Parallel()
	f := NewFake(epoch)
	done := make(chan struct{})
	close(done)
	if f.WaitTimers(1, done) {
		t.Fatal("WaitTimers saw a timer nobody made")
	}
	go func() { <-f.NewTimer(time.Minute).C() }()
	if !f.WaitTimers(1, make(chan struct{})) {
		t.Fatal("WaitTimers gave up")
	}
	f.Advance(time.Minute)
}

func TestRealClock(t *testing.T) {
	t.Parallel()
	var c Clock = Real{}
	start := c.Now()
	<-c.NewTimer(time.Millisecond).C()
	if c.Now().Sub(start) < time.Millisecond {
		t.Fatal("the real timer fired early")
	}
}
