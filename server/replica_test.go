package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// replica starts a second server on f's PostgreSQL schema, with a data
// folder of its own (another machine), and returns a fixture that talks to
// it with f's users, sessions and tokens.
func replica(t *testing.T, f *fixture) *fixture {
	t.Helper()
	ctx := context.Background()
	dsn, ok := storeDSN.Load(f.st)
	if !ok || dsn.(string) == "" {
		t.Fatal("replica needs a fixture on PostgreSQL")
	}
	st2, err := storeOpen(ctx, dsn.(string))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	srv2 := New(Config{Store: st2, DataDir: t.TempDir(), Logger: testLogger(t)})
	if err := srv2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(srv2.Handler())
	t.Cleanup(func() {
		srv2.CloseSockets()
		ts2.CloseClientConnections()
		ts2.Close()
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv2.Stop(c)
	})
	f2 := *f
	f2.st, f2.srv, f2.ts = st2, srv2, ts2
	return &f2
}

// TestLimitsAcrossReplicas: two servers on one PostgreSQL spend from the
// same buckets and count the same failed sign-ins.
func TestLimitsAcrossReplicas(t *testing.T) {
	t.Parallel()
	f := setup(t, "postgres")
	f2 := replica(t, f)
	both := []*fixture{f, f2}

	// A form link of 3 runs an hour: 3 in all, alternating, then refused
	// on either.
	f.addFlow("double", formFlow())
	out := f.apiJSON("editor", "POST", "/api/v1/flows/double/forms", `{"runs_per_hour":3}`, http.StatusCreated)
	path := out["url"].(string)[strings.Index(out["url"].(string), "/s/"):]
	for i := range 3 {
		body(t, both[i%2].do("", "POST", path, "in.n=1"), http.StatusSeeOther)
	}
	for _, g := range both {
		page := body(t, g.do("", "POST", path, "in.n=1"), http.StatusTooManyRequests)
		if !strings.Contains(page, "runs for this hour") {
			t.Error("the rate limit says nothing")
		}
	}

	// Failed sign-ins alternating between the replicas add up: after the
	// pair's free tries even the right password waits, on both.
	for i := 0; i < pairBackoff.free; i++ {
		if resp := postSignIn(t, both[i%2], "viewer", "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i, resp.StatusCode)
		}
	}
	for i, g := range both {
		if resp := postSignIn(t, g, "viewer", "correct horse battery"); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("right password on replica %d after %d failures spread over both: status %d; want 429", i+1, pairBackoff.free, resp.StatusCode)
		}
	}
}
