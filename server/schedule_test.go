package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
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
		{"@hourly", "2026-11-27T10:00:00Z", true},
		{"@hourly", "2026-11-27T10:01:00Z", false},
		{"@every 1h", "2026-11-27T10:00:00Z", false}, // refused: see TestEditedTriggers
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

// TestScheduleTwoServers: two servers on one PostgreSQL, their schedulers
// ticking every second on one fake clock, one flow due every second: every
// tick yields exactly one run (one of them claims it), a tick the
// processes slept through past cronLate is skipped, and the schedulers
// prune the claims older than a week. Each step waits until both
// schedulers wait on the clock again, so it knows they handled the tick.
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
	if ok, err := f.st.ClaimCronFire(ctx, fs.ID, fl.Triggers[0].Key(), old); err != nil || !ok {
		t.Fatalf("claim a tick of last week: %v, %v", ok, err)
	}

	seconds := cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	begin := time.Now().Truncate(time.Second)
	clk := clock.NewFake(begin)
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, srv := range []*Server{f.srv, srv2} {
		wg.Add(1)
		go func() { defer wg.Done(); srv.scheduleEvery(sctx, clk, time.Second, seconds) }()
	}
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	// waiting returns once both schedulers wait for their next tick.
	waiting := func() {
		t.Helper()
		if !clk.WaitTimers(2, ended) {
			t.Fatal("a scheduler ended")
		}
	}
	const ticks = 4
	waiting()
	for range ticks {
		clk.Advance(time.Second)
		waiting()
	}
	// Both slept through the next tick and woke more than cronLate after.
	slept := begin.Add((ticks + 1) * time.Second)
	clk.Advance(cronLate + 2*time.Second)
	waiting()
	stop()
	wg.Wait()

	// The ticks claimed are the ones a second claim is refused for.
	for i := 1; i <= ticks; i++ {
		tick := begin.Add(time.Duration(i) * time.Second)
		if ok, err := f.st.ClaimCronFire(ctx, fs.ID, fl.Triggers[0].Key(), tick); err != nil || ok {
			t.Fatalf("tick %d (%s) was not claimed (claim again: %v, %v)", i, tick.Format(time.TimeOnly), ok, err)
		}
	}
	if ok, err := f.st.ClaimCronFire(ctx, fs.ID, fl.Triggers[0].Key(), slept); err != nil || !ok {
		t.Fatalf("the tick slept through past cronLate was claimed (claim again: %v, %v)", ok, err)
	}
	claimed := ticks
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
	if ok, err := f.st.ClaimCronFire(ctx, fs.ID, fl.Triggers[0].Key(), old); err != nil || !ok {
		t.Fatalf("the claim of last week was not pruned (claim again: %v, %v)", ok, err)
	}
}

// TestNextFiresAcrossDST: a cron trigger is read on its zone's wall clock:
// 06:00 in Europe/Paris is 05:00 UTC before the clocks go forward and
// 04:00 UTC after; 02:30, which does not exist that night, is skipped, and
// 02:30 on the night the clocks go back, which happens twice, fires once,
// while a schedule with a wildcard hour fires through the repeated hour.
// Without a zone the cron is UTC; a bad zone or a zone in the cron text is
// an error.
func TestNextFiresAcrossDST(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	paris := func(spec string) engine.Trigger { return engine.Trigger{Cron: spec, Timezone: "Europe/Paris"} }
	for _, tc := range []struct {
		name string
		tr   engine.Trigger
		from string
		n    int
		want []string // in UTC
	}{
		{"six in Paris across spring", paris("0 6 * * *"), "2026-03-27T12:00:00Z", 3,
			[]string{"2026-03-28T05:00:00Z", "2026-03-29T04:00:00Z", "2026-03-30T04:00:00Z"}},
		{"six in Paris across autumn", paris("0 6 * * *"), "2026-10-24T12:00:00Z", 2,
			[]string{"2026-10-25T05:00:00Z", "2026-10-26T05:00:00Z"}},
		{"skipped time", paris("30 2 * * *"), "2026-03-27T12:00:00Z", 3,
			[]string{"2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"}},
		{"repeated time fires once", paris("30 2 * * *"), "2026-10-24T12:00:00Z", 2,
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"wildcard hour through the repeated hour", paris("30 * * * *"), "2026-10-24T23:45:00Z", 3,
			[]string{"2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00Z"}},
		{"UTC by default", engine.Trigger{Cron: "0 6 * * *"}, "2026-03-27T12:00:00Z", 2,
			[]string{"2026-03-28T06:00:00Z", "2026-03-29T06:00:00Z"}},
		{"New York", engine.Trigger{Cron: "@daily", Timezone: "America/New_York"}, "2026-03-07T12:00:00Z", 2,
			[]string{"2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"}},
		{"bounded", engine.Trigger{Cron: "* * * * *"}, "2026-03-27T12:00:00Z", 1000, nil},
	} {
		got, err := nextFires(tc.tr, utc(tc.from), tc.n)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.want == nil {
			if len(got) != maxNextFires {
				t.Errorf("%s: %d fire times; want at most %d", tc.name, len(got), maxNextFires)
			}
			continue
		}
		var s []string
		for _, g := range got {
			s = append(s, g.UTC().Format(time.RFC3339))
			if g.Location().String() != tc.tr.EffectiveTimezone() {
				t.Errorf("%s: %s is not in the trigger's zone", tc.name, g)
			}
		}
		if strings.Join(s, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: next fires %v; want %v", tc.name, s, tc.want)
		}
		// The scheduler agrees: each is due, and the minute before is not.
		for _, w := range tc.want {
			if !dueIn(cronParser, tc.tr, utc(w)) || dueIn(cronParser, tc.tr, utc(w).Add(-time.Minute)) {
				t.Errorf("%s: due disagrees at %s", tc.name, w)
			}
		}
	}
	// The second 02:30 of the autumn night is not due; the first is.
	if dueIn(cronParser, paris("30 2 * * *"), utc("2026-10-25T01:30:00Z")) {
		t.Error("the repeated 02:30 is due a second time")
	}
	for _, tr := range []engine.Trigger{{Cron: "0 6 * * *", Timezone: "Mars/Olympus"}, {Cron: "0 6 * * *", Timezone: "Local"}, {Cron: "CRON_TZ=Europe/Paris 0 6 * * *"}, {Cron: "61 * * * *"}} {
		if _, err := nextFires(tr, utc("2026-03-27T12:00:00Z"), 3); err == nil {
			t.Errorf("nextFires(%+v) has no error", tr)
		}
		if dueIn(cronParser, tr, utc("2026-03-28T05:00:00Z")) {
			t.Errorf("%+v is due", tr)
		}
	}
}

// TestSchedulePausedZone: the scheduler, on a fake clock, fires a trigger
// of 06:00 in Europe/Paris at 05:00 UTC, then (the clocks gone forward)
// at 04:00 UTC; while the trigger is paused in the studio it does not
// fire, and it fires again once resumed. The cron is for March only, so
// the test server's own scheduler on the real clock never fires it.
func TestSchedulePausedZone(t *testing.T) {
	t.Parallel()
	f := setup(t, testDB)
	ctx := context.Background()
	tr := engine.Trigger{Cron: "0 6 * 3 *", Timezone: "Europe/Paris"}
	fl := &engine.Flow{Name: "Paris", Triggers: []engine.Trigger{{Webhook: true}, tr}, Cells: []engine.Cell{
		{Name: "one", Kind: engine.KindExpr, File: "one.expr", Source: "1\n"},
	}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := f.st.CreateFlow(ctx, f.ws.ID, "paris", fl, f.users["owner"].ID, storeFiles(files), flow.Hash(fl))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.Publish(ctx, fs.ID, 1); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 3, 28, 4, 58, 0, 0, time.UTC))
	sctx, stop := context.WithCancel(ctx)
	ended := make(chan struct{})
	go func() { defer close(ended); f.srv.scheduleEvery(sctx, clk, time.Minute, cronParser) }()
	t.Cleanup(func() { stop(); <-ended })
	waiting := func() {
		t.Helper()
		if !clk.WaitTimers(1, ended) {
			t.Fatal("the scheduler ended")
		}
	}
	// to moves the clock to at, then minute by minute for three minutes.
	to := func(at time.Time) {
		t.Helper()
		waiting()
		clk.Set(at)
		for range 3 {
			waiting()
			clk.Advance(time.Minute)
		}
		waiting()
	}
	runs := func() int {
		t.Helper()
		rs, err := f.st.RunsOfFlow(ctx, fs.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	to(time.Date(2026, 3, 28, 4, 58, 0, 0, time.UTC))
	if n := runs(); n != 1 {
		t.Fatalf("%d runs after 06:00 CET (05:00 UTC); want 1", n)
	}
	if err := f.st.PauseTrigger(ctx, fs.ID, tr.Key(), f.users["editor"].ID); err != nil {
		t.Fatal(err)
	}
	to(time.Date(2026, 3, 29, 3, 58, 0, 0, time.UTC))
	if n := runs(); n != 1 {
		t.Fatalf("%d runs after 06:00 CEST while paused; want still 1", n)
	}
	if was, err := f.st.ResumeTrigger(ctx, fs.ID, tr.Key()); err != nil || !was {
		t.Fatalf("resume: %v, %v", was, err)
	}
	to(time.Date(2026, 3, 30, 3, 58, 0, 0, time.UTC))
	if n := runs(); n != 2 {
		t.Fatalf("%d runs after 06:00 CEST once resumed; want 2", n)
	}
}

// TestEditedTriggers: the triggers a flow.update sends are trimmed and
// checked, and the first problem names its field (triggers.N.cron or
// triggers.N.timezone) for the Schedule panel to show it there.
func TestEditedTriggers(t *testing.T) {
	t.Parallel()
	got, err := editedTriggers([]triggerEditJSON{{Cron: " 0 6 * * * ", Timezone: " Europe/Paris "}, {Webhook: true, Rate: 3}})
	if err != nil || len(got) != 2 || got[0] != (engine.Trigger{Cron: "0 6 * * *", Timezone: "Europe/Paris"}) || got[1] != (engine.Trigger{Webhook: true, Rate: 3}) {
		t.Fatalf("editedTriggers = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		in    []triggerEditJSON
		field string
	}{
		{[]triggerEditJSON{{Cron: "@daily"}, {}}, "triggers.1.cron"},
		{[]triggerEditJSON{{Cron: "0 6 * *"}}, "triggers.0.cron"},
		{[]triggerEditJSON{{Cron: "@every 1h"}}, "triggers.0.cron"},
		{[]triggerEditJSON{{Cron: "@every"}}, "triggers.0.cron"},
		{[]triggerEditJSON{{Cron: "0 25 * * *"}}, "triggers.0.cron"},
		{[]triggerEditJSON{{Cron: "TZ=Europe/Paris 0 6 * * *"}}, "triggers.0.cron"},
		{[]triggerEditJSON{{Cron: strings.Repeat("1", 201)}}, "triggers.0.cron"},
		{[]triggerEditJSON{{Cron: "0 6 * * *", Timezone: "Europe/Pariss"}}, "triggers.0.timezone"},
		{[]triggerEditJSON{{Cron: "0 6 * * *", Timezone: "Local"}}, "triggers.0.timezone"},
	} {
		_, err := editedTriggers(tc.in)
		var ae *apiError
		if !errors.As(err, &ae) || ae.Field != tc.field {
			t.Errorf("editedTriggers(%+v): %v; want an error at %s", tc.in, err, tc.field)
		}
	}
}

// TestScheduleTriggersOfOneFlow: a flow with two cron triggers (one of them
// in a zone), due together at some ticks, gets a run from each at those
// ticks, on a scheduler ticking every second on a fake clock; a trigger
// written twice starts one run; a paused trigger none.
func TestScheduleTriggersOfOneFlow(t *testing.T) {
	t.Parallel()
	f := setup(t, testDB)
	ctx := context.Background()
	every, second, twice := engine.Trigger{Cron: "* * * * * *"}, engine.Trigger{Cron: "*/2 * * * * *", Timezone: "Europe/Paris"}, engine.Trigger{Cron: "*  * * * * *"}
	fl := &engine.Flow{Name: "Two", Triggers: []engine.Trigger{every, second, twice}, Cells: []engine.Cell{
		{Name: "tick", Kind: engine.KindExpr, File: "tick.expr", Source: "1 + 1\n"},
	}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := f.st.CreateFlow(ctx, f.ws.ID, "two", fl, f.users["owner"].ID, storeFiles(files), flow.Hash(fl))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.Publish(ctx, fs.ID, 1); err != nil {
		t.Fatal(err)
	}

	seconds := cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	begin := time.Now().Truncate(2 * time.Second) // an even second: both are due at the next
	clk := clock.NewFake(begin)
	sctx, stop := context.WithCancel(ctx)
	ended := make(chan struct{})
	go func() { defer close(ended); f.srv.scheduleEvery(sctx, clk, time.Second, seconds) }()
	waiting := func() {
		t.Helper()
		if !clk.WaitTimers(1, ended) {
			t.Fatal("the scheduler ended")
		}
	}
	waiting()
	const ticks = 4 // 2 even, 2 odd: 2 + 4 runs
	for range ticks {
		clk.Advance(time.Second)
		waiting()
	}
	// The every-second trigger paused: the next odd tick starts none, the
	// even one one.
	if err := f.st.PauseTrigger(ctx, fs.ID, every.Key(), f.users["owner"].ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		clk.Advance(time.Second)
		waiting()
	}
	stop()
	<-ended

	runs, err := f.st.RunsOfFlow(ctx, fs.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := ticks + ticks/2 + 1; len(runs) != want {
		t.Fatalf("%d runs in %d ticks; want %d (one per trigger due at each tick)", len(runs), ticks+2, want)
	}
	for i := 1; i <= ticks; i++ {
		tick := begin.Add(time.Duration(i) * time.Second)
		for _, tr := range []engine.Trigger{every, second} {
			want := tr == every || i%2 == 0
			if ok, err := f.st.ClaimCronFire(ctx, fs.ID, tr.Key(), tick); err != nil || ok == want {
				t.Errorf("tick %d, trigger %q: claimed %v, want %v (claim again: %v, %v)", i, tr.Cron, !ok, want, ok, err)
			}
		}
	}
	for _, r := range runs {
		f.waitRun(r.ID)
	}
}
