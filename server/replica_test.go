package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// replica starts a second server on f's PostgreSQL schema, with a data
// folder of its own (another machine), and returns a fixture that talks to
// it with f's users, sessions and tokens.
func replica(t *testing.T, f *fixture) *fixture {
	t.Helper()
	return replicaWith(t, f, Config{})
}

// replicaWith is replica with some of the second server's Config set.
func replicaWith(t *testing.T, f *fixture, cfg Config) *fixture {
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
	cfg.Store, cfg.DataDir, cfg.Logger = st2, t.TempDir(), testLogger(t)
	srv2 := New(cfg)
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

// TestApprovalVoteAcrossReplicas: a decision made on one replica that
// leaves the approval open (it needs two) reaches the run's pages on the
// other replica at once, and the deciding replica's own pages hear of it
// once, not again through the notification.
func TestApprovalVoteAcrossReplicas(t *testing.T) {
	t.Parallel()
	f := setup(t, "postgres")
	f2 := replica(t, f)
	f.addFlow("deploy", deployFlow([]string{"editor"}, 2))
	run := f.startRun("deploy", "{}", "")
	f.waitStatus(run, engine.RunWaiting)
	here := f.srv.hub.Subscribe(runTopic(run), 100)
	defer f.srv.hub.Unsubscribe(runTopic(run), here)
	there := f2.srv.hub.Subscribe(runTopic(run), 100)
	defer f2.srv.hub.Unsubscribe(runTopic(run), there)

	body(t, f.do("owner", "POST", "/runs/"+run+"/approvals/approve", "decision=approve&input.ticket=OPS-1&comment=first"), http.StatusSeeOther)
	// votes counts the vote notes sub is told: it waits up to 10 s for the
	// first, then half a second for any more.
	votes := func(sub *Sub) (n int) {
		end := time.After(10 * time.Second)
		for {
			select {
			case m := <-sub.C:
				var note approvalNote
				if json.Unmarshal(m.Data, &note) == nil && note.T == "approval.vote" {
					if note.Run != run || note.Cell != "approve" || note.Approvals != 1 {
						t.Errorf("vote note %+v", note)
					}
					if n++; n == 1 {
						end = time.After(500 * time.Millisecond)
					}
				}
			case <-end:
				return n
			}
		}
	}
	if n := votes(there); n != 1 {
		t.Errorf("the other replica's run page was told of %d votes; want 1", n)
	}
	// The notification has come back to the deciding replica too by now
	// (the other one heard it): its pages were told once, directly.
	if n := votes(here); n != 1 {
		t.Errorf("the deciding replica's run page was told of %d votes; want 1", n)
	}
}
