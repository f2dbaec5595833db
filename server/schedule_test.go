package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
)

func TestCronDue(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		spec, minute string
		want         bool
	}{
		{"0 6 * * *", "2026-11-27T06:00:00Z", true},
		{"0 6 * * *", "2026-11-27T06:01:00Z", false},
		{"*/5 * * * *", "2026-11-27T10:35:00Z", true},
		{"*/5 * * * *", "2026-11-27T10:36:00Z", false},
		{"@daily", "2026-11-28T00:00:00Z", true},
		{"30 3 * * 0", "2026-11-29T03:30:00Z", true}, // a Sunday
		{"30 3 * * 0", "2026-11-28T03:30:00Z", false},
		{"not a cron", "2026-11-27T06:00:00Z", false},
	} {
		if got := cronDue(tc.spec, at(tc.minute)); got != tc.want {
			t.Errorf("cronDue(%q, %s) = %v; want %v", tc.spec, tc.minute, got, tc.want)
		}
	}
}

// TestScheduledRuns: the published version's cron starts a run once per
// due minute, even when asked twice (two servers on one database); a flow
// with no published version, or a minute that is not due, starts nothing.
func TestScheduledRuns(t *testing.T) {
	f := setup(t, testDB)
	ctx := context.Background()
	fl := &engine.Flow{Name: "Nightly", Triggers: []engine.Trigger{{Cron: "0 6 * * *"}}, Cells: []engine.Cell{
		{Name: "hi", Kind: engine.KindShell, File: "hi.sh", Source: "echo scheduled\n"},
	}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := f.st.CreateFlow(ctx, f.ws.ID, "nightly", fl, f.users["owner"].ID, storeFiles(files), flow.Hash(fl))
	if err != nil {
		t.Fatal(err)
	}
	six := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	if n := f.srv.fireDue(ctx, six); n != 0 {
		t.Fatalf("%d runs started for a flow with no published version", n)
	}
	if err := f.st.Publish(ctx, fs.ID, 1); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.fireDue(ctx, six.Add(time.Minute)); n != 0 {
		t.Fatalf("%d runs started at 06:01", n)
	}
	if n := f.srv.fireDue(ctx, six); n != 1 {
		t.Fatalf("%d runs started at 06:00; want 1", n)
	}
	if n := f.srv.fireDue(ctx, six); n != 0 {
		t.Fatalf("the same minute fired again (%d runs)", n)
	}
	runs, err := f.st.RunsOfFlow(ctx, fs.ID, 10)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v, %v", runs, err)
	}
	if r := f.waitRun(runs[0].ID); r.Status != engine.RunSucceeded || r.Version != 1 || r.StartedBy != "" {
		t.Fatalf("scheduled run %+v", r)
	}
}

// TestScheduleTwoServers: two servers on one PostgreSQL, each with its
// scheduler ticking every second, one flow due every second: every tick
// one of them claimed yields exactly one run, and each scheduler prunes the
// claims older than a week.
func TestScheduleTwoServers(t *testing.T) {
	t.Parallel()
	f := setup(t, "postgres")
	ctx := context.Background()
	dsn, _ := storeDSN.Load(f.st)
	st2, err := storeOpen(ctx, dsn.(string))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	srv2 := New(Config{Store: st2, DataDir: t.TempDir(), Logger: testLogger(t)})
	if err := srv2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv2.Stop(context.Background()) })

	fl := &engine.Flow{Name: "Ticker", Triggers: []engine.Trigger{{Cron: "* * * * * *"}}, Cells: []engine.Cell{
		{Name: "tick", Kind: engine.KindExpr, File: "tick.expr", Source: "1 + 1\n"},
	}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := f.st.CreateFlow(ctx, f.ws.ID, "ticker", fl, f.users["owner"].ID, storeFiles(files), flow.Hash(fl))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.Publish(ctx, fs.ID, 1); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-cronKeep - time.Hour).Truncate(time.Second)
	if ok, err := f.st.ClaimCronFire(ctx, fs.ID, old); err != nil || !ok {
		t.Fatalf("claim a tick of last week: %v, %v", ok, err)
	}

	seconds := cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	begin := time.Now()
	for _, srv := range []*Server{f.srv, srv2} {
		wg.Add(1)
		go func() { defer wg.Done(); srv.scheduleEvery(sctx, time.Second, seconds) }()
	}
	time.Sleep(time.Until(begin.Truncate(time.Second).Add(4*time.Second + 500*time.Millisecond)))
	stop()
	wg.Wait()
	end := time.Now()

	// The ticks claimed are the ones a second claim is refused for.
	claimed := 0
	for tick := begin.Truncate(time.Second); !tick.After(end); tick = tick.Add(time.Second) {
		ok, err := f.st.ClaimCronFire(ctx, fs.ID, tick)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			claimed++
		}
	}
	if claimed < 3 {
		t.Fatalf("%d ticks claimed in %s; want at least 3", claimed, end.Sub(begin).Round(time.Millisecond))
	}
	runs, err := f.st.RunsOfFlow(ctx, fs.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != claimed {
		t.Fatalf("%d runs for %d ticks; want one run per tick", len(runs), claimed)
	}
	for _, r := range runs {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			got, err := f.st.Run(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.Done() {
				if got.Status != engine.RunSucceeded {
					t.Fatalf("scheduled run %s ended %s: %s", r.ID, got.Status, got.Error)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("scheduled run %s is still %s", r.ID, got.Status)
			}
		}
	}
	if ok, err := f.st.ClaimCronFire(ctx, fs.ID, old); err != nil || !ok {
		t.Fatalf("the claim of last week was not pruned (claim again: %v, %v)", ok, err)
	}
}
