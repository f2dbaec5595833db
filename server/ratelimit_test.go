package server

import (
	"testing"
	"time"
)

// TestRateLimits: n per period from the database's buckets, and the
// expired rows pruned once per pruneEvery.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t, "sqlite")
	ctx := t.Context()
	l := newRateLimits(st, testLogger(t))
	now := time.Now()
	for i := range 10 {
		if ok, _ := l.takeRate(ctx, "hook:a", 10, time.Second, now); !ok {
			t.Fatalf("take %d of 10 a second refused", i+1)
		}
	}
	if ok, wait := l.takeRate(ctx, "hook:a", 10, time.Second, now); ok || wait < 99*time.Millisecond || wait > 100*time.Millisecond {
		t.Fatalf("the 11th take: %v, wait %s; want refused for 0.1s", ok, wait)
	}
	if ok, _ := l.take(ctx, "form:a", 0, now); !ok {
		t.Fatal("no limit refused")
	}

	// A bucket last used two hours ago is full by now: pruned.
	if ok, _ := l.take(ctx, "form:old", 2, now.Add(-2*time.Hour)); !ok {
		t.Fatal("take")
	}
	l.nextPrune = now
	l.take(ctx, "form:new", 2, now)
	rows, err := st.Limits(ctx, []string{"bucket:form:old", "bucket:form:new", "bucket:hook:a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, has := rows["bucket:form:old"]; has || len(rows) != 2 {
		t.Fatalf("after pruning: %v", rows)
	}
	if !l.nextPrune.Equal(now.Add(pruneEvery)) {
		t.Fatalf("next prune at %s; want %s later", l.nextPrune, pruneEvery)
	}
}
