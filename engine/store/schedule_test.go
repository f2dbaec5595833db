package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// scheduleTests run in the suite, on both databases.
var scheduleTests = []struct {
	name string
	fn   func(t *testing.T, s *Store)
}{
	{"CronFires", testCronFires},
	{"TriggerPauses", testTriggerPauses},
}

// testTriggerPauses: a trigger is paused per flow by its key, pausing twice
// keeps the first pause, resuming ends it (and says whether it was paused),
// keys are bounded, an unknown flow is not found, and deleting the flow
// deletes its pauses.
func testTriggerPauses(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	other, err := s.CreateFlow(ctx, fx.ws.ID, "other", &engine.Flow{}, "", nil, "")
	ok(t, err)
	key := engine.Trigger{Cron: "0 6 * * *", Timezone: "Europe/Paris"}.Key()
	if key != "cron 0 6 * * * Europe/Paris" {
		t.Fatalf("key %q", key)
	}
	ok(t, s.PauseTrigger(ctx, fx.flow.ID, key, fx.user.ID))
	first := s.timeNow()
	clk.add(time.Minute)
	ok(t, s.PauseTrigger(ctx, fx.flow.ID, key, ""))
	ok(t, s.PauseTrigger(ctx, fx.flow.ID, "webhook", fx.user.ID))
	got, err := s.TriggerPauses(ctx, fx.flow.ID)
	ok(t, err)
	if len(got) != 2 || got[key].PausedBy != fx.user.ID || !got[key].PausedAt.Equal(first.Truncate(time.Microsecond)) || got["webhook"].Key != "webhook" {
		t.Fatalf("pauses %+v (first paused at %s)", got, first)
	}
	if got, err := s.TriggerPauses(ctx, other.ID); err != nil || len(got) != 0 {
		t.Fatalf("the other flow's pauses %+v, %v", got, err)
	}
	was, err := s.ResumeTrigger(ctx, fx.flow.ID, key)
	ok(t, err)
	if !was {
		t.Fatal("resume said the trigger was not paused")
	}
	was, err = s.ResumeTrigger(ctx, fx.flow.ID, key)
	ok(t, err)
	if was {
		t.Fatal("a second resume said the trigger was paused")
	}
	isErr(t, s.PauseTrigger(ctx, fx.flow.ID, "", ""), ErrInvalid)
	isErr(t, s.PauseTrigger(ctx, fx.flow.ID, strings.Repeat("x", MaxTriggerKey+1), ""), ErrInvalid)
	isErr(t, s.PauseTrigger(ctx, "no-such-flow", key, ""), ErrNotFound)
	ok(t, s.PauseTrigger(ctx, other.ID, key, ""))
	_, err = s.DeleteFlow(ctx, other.ID)
	ok(t, err)
	var n int
	ok(t, s.db.NewRaw("SELECT COUNT(*) FROM trigger_pauses WHERE flow_id = ?", other.ID).Scan(ctx, &n))
	if n != 0 {
		t.Fatalf("%d pauses left of a deleted flow", n)
	}
}

// testCronFires: a flow's tick is claimed once, whatever the time zone it
// is given in; ticks of a second and flows are claimed apart; pruning
// deletes only the claims older than what it keeps, and a pruned tick could
// be claimed again (which is why the scheduler never claims one that old).
func testCronFires(t *testing.T, s *Store) {
	ctx := context.Background()
	clk := setClock(s)
	fx := setup(t, s)
	other, err := s.CreateFlow(ctx, fx.ws.ID, "other", &engine.Flow{}, "", nil, "")
	ok(t, err)
	const key = "cron 0 6 * * * UTC"
	claimKey := func(flow, key string, at time.Time, want bool) {
		t.Helper()
		got, err := s.ClaimCronFire(ctx, flow, key, at)
		ok(t, err)
		if got != want {
			t.Fatalf("ClaimCronFire(%s, %q, %s) = %v; want %v", flow, key, at.Format(time.RFC3339Nano), got, want)
		}
	}
	claim := func(flow string, at time.Time, want bool) {
		t.Helper()
		claimKey(flow, key, at, want)
	}
	six := time.Date(2025, 1, 31, 6, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	claim(fx.flow.ID, six, true)
	claim(fx.flow.ID, six, false)
	claim(fx.flow.ID, six.In(time.FixedZone("CET", 3600)), false)
	claim(fx.flow.ID, six.Add(500*time.Millisecond), false)
	claim(fx.flow.ID, six.Add(time.Second), true)
	claim(other.ID, six, true)
	// Another trigger of the same flow, due at the same tick, fires too.
	claimKey(fx.flow.ID, "cron 0 */2 * * * UTC", six, true)
	claimKey(fx.flow.ID, "cron 0 */2 * * * UTC", six, false)
	if _, err := s.ClaimCronFire(ctx, fx.flow.ID, "", six); err == nil {
		t.Fatal("ClaimCronFire with no trigger key: no error")
	}
	old, kept := six.Add(-week-time.Minute), six.Add(-week+time.Minute)
	claim(fx.flow.ID, old, true)
	claim(fx.flow.ID, kept, true)

	n, err := s.PruneCronFires(ctx, week)
	ok(t, err)
	if n != 1 {
		t.Fatalf("PruneCronFires deleted %d claims; want 1 (the one older than a week)", n)
	}
	claim(fx.flow.ID, kept, false)
	claim(fx.flow.ID, six, false)
	claim(other.ID, six, false)
	claim(fx.flow.ID, old, true) // gone, so claimable again

	n, err = s.PruneCronFires(ctx, week)
	ok(t, err)
	if n != 1 {
		t.Fatalf("PruneCronFires deleted %d claims the second time; want 1", n)
	}
	clk.add(8 * 24 * time.Hour)
	n, err = s.PruneCronFires(ctx, week)
	ok(t, err)
	if n != 5 {
		t.Fatalf("a week later, PruneCronFires deleted %d claims; want 5", n)
	}
}
