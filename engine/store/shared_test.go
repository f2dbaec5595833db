package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sharedTests run in the suite, on both databases: the state several
// processes share (limits, leases, scratch databases, git heads).
var sharedTests = []struct {
	name string
	fn   func(t *testing.T, s *Store)
}{
	{"TakeToken", testTakeToken},
	{"TakeTokenConcurrent", testTakeTokenConcurrent},
	{"CountLimits", testCountLimits},
	{"Leases", testLeases},
	{"LeasesConcurrent", testLeasesConcurrent},
	{"Scratch", testScratch},
	{"GitHead", testGitHead},
}

func testTakeToken(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	take := func(key string, at time.Time) (bool, time.Duration) {
		t.Helper()
		ok2, wait, err := s.TakeToken(ctx, key, 3, 3*time.Second, at) // 3 at most, 1 a second
		ok(t, err)
		return ok2, wait
	}
	for i := range 3 {
		if got, _ := take("form:a", now); !got {
			t.Fatalf("take %d of a full bucket of 3 refused", i+1)
		}
	}
	got, wait := take("form:a", now)
	if got || wait < 999*time.Millisecond || wait > time.Second {
		t.Fatalf("the 4th take = %v, wait %s; want refused, 1s", got, wait)
	}
	// A refusal spends nothing: half a second later, half a second to go.
	got, wait = take("form:a", now.Add(500*time.Millisecond))
	if got || wait < 499*time.Millisecond || wait > 500*time.Millisecond {
		t.Fatalf("take after 0.5s = %v, wait %s; want refused, 0.5s", got, wait)
	}
	if got, _ := take("form:a", now.Add(time.Second)); !got {
		t.Fatal("take after 1s refused")
	}
	if got, _ := take("form:b", now); !got {
		t.Fatal("another key's bucket is not its own")
	}
	// A clock behind the last refill (another machine's) refills nothing
	// and takes nothing away.
	if got, _ := take("form:a", now); got {
		t.Fatal("a take from a clock 1s behind got a token")
	}
	// Long after, the bucket is full again, never more than full.
	later := now.Add(time.Hour)
	for i := range 3 {
		if got, _ := take("form:a", later); !got {
			t.Fatalf("take %d an hour later refused", i+1)
		}
	}
	if got, _ := take("form:a", later); got {
		t.Fatal("a bucket of 3 gave 4 after an hour")
	}
	// Nothing to limit: always allowed, nothing stored.
	if got, _, err := s.TakeToken(ctx, "form:none", 0, time.Hour, now); err != nil || !got {
		t.Fatalf("capacity 0 = %v, %v", got, err)
	}
	rows, err := s.Limits(ctx, []string{"form:a", "form:b", "form:none"})
	ok(t, err)
	if len(rows) != 2 || rows["form:a"].Value != 0 || !rows["form:a"].At.Equal(later) || !rows["form:a"].ExpiresAt.Equal(later.Add(3*time.Second)) {
		t.Fatalf("Limits = %+v", rows)
	}
	// Pruning deletes the buckets that would be full by now.
	n, err := s.PruneLimits(ctx, later.Add(2*time.Second))
	ok(t, err)
	if n != 1 {
		t.Fatalf("PruneLimits before form:a is full deleted %d; want 1 (form:b)", n)
	}
	n, err = s.PruneLimits(ctx, later.Add(4*time.Second))
	ok(t, err)
	if n != 1 {
		t.Fatalf("PruneLimits deleted %d; want 1", n)
	}
	rows, err = s.Limits(ctx, []string{"form:a", "form:b"})
	ok(t, err)
	if len(rows) != 0 {
		t.Fatalf("after pruning: %+v", rows)
	}
}

// testTakeTokenConcurrent: many goroutines (each its own connection on
// PostgreSQL) take from one bucket at once; exactly its tokens are spent.
func testTakeTokenConcurrent(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	const capacity, workers, each = 25, 16, 10
	var granted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Microseconds apart: a day's refill is far below one token.
				got, _, err := s.TakeToken(ctx, "hook:x", capacity, 24*time.Hour, now.Add(time.Duration(w*each+i)*time.Microsecond))
				if err != nil {
					errs <- err
					return
				}
				if got {
					granted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if g := granted.Load(); g != capacity {
		t.Fatalf("%d concurrent takes from a bucket of %d got %d tokens", workers*each, capacity, g)
	}
}

func testCountLimits(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	keys := []string{"pair:a", "name:a", "addr:a"}
	ok(t, s.CountLimits(ctx, keys, now, time.Hour))
	ok(t, s.CountLimits(ctx, keys[:2], now.Add(time.Minute), time.Hour))
	rows, err := s.Limits(ctx, keys)
	ok(t, err)
	if rows["pair:a"].Value != 2 || rows["name:a"].Value != 2 || rows["addr:a"].Value != 1 || !rows["pair:a"].At.Equal(now.Add(time.Minute)) {
		t.Fatalf("Limits after counting = %+v", rows)
	}
	// Past keep, a count starts again.
	ok(t, s.CountLimits(ctx, keys[:1], now.Add(2*time.Hour), time.Hour))
	rows, err = s.Limits(ctx, keys[:1])
	ok(t, err)
	if rows["pair:a"].Value != 1 {
		t.Fatalf("a count older than keep went on: %+v", rows)
	}
	// Concurrent counts are all counted.
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.CountLimits(ctx, []string{"name:b"}, now, time.Hour); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rows, err = s.Limits(ctx, []string{"name:b"})
	ok(t, err)
	if rows["name:b"].Value != 40 {
		t.Fatalf("40 concurrent counts = %v", rows["name:b"].Value)
	}
	ok(t, s.MarkLimit(ctx, "known:a", 1, now, 30*24*time.Hour))
	ok(t, s.DeleteLimit(ctx, "pair:a"))
	ok(t, s.DeleteLimit(ctx, "pair:nobody"))
	rows, err = s.Limits(ctx, []string{"pair:a", "known:a"})
	ok(t, err)
	if _, has := rows["pair:a"]; has || rows["known:a"].Value != 1 || !rows["known:a"].ExpiresAt.Equal(now.Add(30*24*time.Hour)) {
		t.Fatalf("after mark and delete: %+v", rows)
	}
}

func testLeases(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	got, err := s.AcquireLease(ctx, "git:w1", "h1", 30*time.Second)
	ok(t, err)
	if !got {
		t.Fatal("a free lease was not acquired")
	}
	if got, err = s.AcquireLease(ctx, "git:w1", "h2", 30*time.Second); err != nil || got {
		t.Fatalf("a held lease was acquired by another: %v %v", got, err)
	}
	if got, err = s.AcquireLease(ctx, "git:w2", "h2", 30*time.Second); err != nil || !got {
		t.Fatalf("another name's lease: %v %v", got, err)
	}
	if got, err = s.AcquireLease(ctx, "git:w1", "h1", 30*time.Second); err != nil || !got {
		t.Fatalf("the holder acquiring again: %v %v", got, err)
	}
	isErr(t, s.RenewLease(ctx, "git:w1", "h2", 30*time.Second), ErrLeaseLost)
	clk.add(20 * time.Second)
	ok(t, s.RenewLease(ctx, "git:w1", "h1", 30*time.Second))
	clk.add(20 * time.Second) // 40 s after the first take, 20 after the renewal
	if got, _ = s.AcquireLease(ctx, "git:w1", "h2", 30*time.Second); got {
		t.Fatal("a renewed lease was taken before it expired")
	}
	holder, exp, err := s.Lease(ctx, "git:w1")
	ok(t, err)
	if holder != "h1" || !exp.Equal(s.timeNow().Add(10*time.Second)) {
		t.Fatalf("Lease = %s %s", holder, exp)
	}
	clk.add(10 * time.Second) // expired: the next holder takes it
	if got, err = s.AcquireLease(ctx, "git:w1", "h2", 30*time.Second); err != nil || !got {
		t.Fatalf("an expired lease was not taken over: %v %v", got, err)
	}
	isErr(t, s.RenewLease(ctx, "git:w1", "h1", 30*time.Second), ErrLeaseLost)
	ok(t, s.ReleaseLease(ctx, "git:w1", "h1")) // not its lease: nothing happens
	if holder, _, _ := s.Lease(ctx, "git:w1"); holder != "h2" {
		t.Fatalf("a former holder's release freed the lease: %s", holder)
	}
	ok(t, s.ReleaseLease(ctx, "git:w1", "h2"))
	_, _, err = s.Lease(ctx, "git:w1")
	isErr(t, err, ErrNotFound)
	if got, err = s.AcquireLease(ctx, "git:w1", "h3", 30*time.Second); err != nil || !got {
		t.Fatalf("a released lease: %v %v", got, err)
	}
}

// testLeasesConcurrent: of many asking at once, one gets the lease.
func testLeasesConcurrent(t *testing.T, s *Store) {
	ctx := context.Background()
	for round := range 5 {
		name := fmt.Sprintf("scratch:w%d", round)
		var won atomic.Int64
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := s.AcquireLease(ctx, name, fmt.Sprintf("h%d", i), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if got {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("round %d: %d holders of one lease", round, won.Load())
		}
	}
}

func testScratch(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	ws := fx.ws.ID
	const lease = "scratch:x"
	_, err := s.ScratchInfo(ctx, ws)
	isErr(t, err, ErrNotFound)
	_, err = s.PutScratch(ctx, ws, lease, "h1", 0, []byte("one"), "sha1")
	isErr(t, err, ErrLeaseLost)
	got, err := s.AcquireLease(ctx, lease, "h1", time.Minute)
	ok(t, err)
	if !got {
		t.Fatal("lease")
	}
	info, err := s.PutScratch(ctx, ws, lease, "h1", 0, []byte("one"), "sha1")
	ok(t, err)
	if info.Generation != 1 || info.Size != 3 || info.SHA256 != "sha1" || info.WorkspaceID != ws {
		t.Fatalf("PutScratch = %+v", info)
	}
	_, err = s.PutScratch(ctx, ws, lease, "h1", 0, []byte("again"), "sha9")
	isErr(t, err, ErrStale)
	info, err = s.PutScratch(ctx, ws, lease, "h1", 1, []byte("two!"), "sha2")
	ok(t, err)
	if info.Generation != 2 {
		t.Fatalf("second PutScratch = %+v", info)
	}
	_, err = s.PutScratch(ctx, ws, lease, "h1", 1, []byte("old base"), "sha3")
	isErr(t, err, ErrStale)
	// Another holder took the lease: the former one cannot write.
	ok(t, s.ReleaseLease(ctx, lease, "h1"))
	if got, _ := s.AcquireLease(ctx, lease, "h2", time.Minute); !got {
		t.Fatal("lease h2")
	}
	_, err = s.PutScratch(ctx, ws, lease, "h1", 2, []byte("late"), "sha4")
	isErr(t, err, ErrLeaseLost)
	got2, err := s.ScratchInfo(ctx, ws)
	ok(t, err)
	if got2.Generation != 2 || got2.Size != 4 || got2.SHA256 != "sha2" || !got2.UpdatedAt.Equal(info.UpdatedAt) {
		t.Fatalf("ScratchInfo = %+v", got2)
	}
	info, data, err := s.ScratchData(ctx, ws)
	ok(t, err)
	if info != got2 || !bytes.Equal(data, []byte("two!")) {
		t.Fatalf("ScratchData = %+v %q", info, data)
	}
	// A large file goes and comes back whole.
	big := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<20)
	_, err = s.PutScratch(ctx, ws, lease, "h2", 2, big, "big")
	ok(t, err)
	_, data, err = s.ScratchData(ctx, ws)
	ok(t, err)
	if !bytes.Equal(data, big) {
		t.Fatalf("a 4 MiB scratch database came back as %d bytes", len(data))
	}
}

func testGitHead(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	_, err := s.GitHeadOf(ctx, fx.ws.ID)
	isErr(t, err, ErrNotFound)
	ok(t, s.SetGitHead(ctx, GitHead{WorkspaceID: fx.ws.ID, Remote: "/srv/ops.git", Branch: "main", Commit: "c1"}))
	ok(t, s.SetGitHead(ctx, GitHead{WorkspaceID: fx.ws.ID, Remote: "/srv/ops.git", Branch: "main", Commit: "c2"}))
	h, err := s.GitHeadOf(ctx, fx.ws.ID)
	ok(t, err)
	if h.Commit != "c2" || h.Remote != "/srv/ops.git" || h.Branch != "main" {
		t.Fatalf("GitHeadOf = %+v", h)
	}
}
