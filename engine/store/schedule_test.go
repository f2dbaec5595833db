package store

import (
	"context"
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
	claim := func(flow string, at time.Time, want bool) {
		t.Helper()
		got, err := s.ClaimCronFire(ctx, flow, at)
		ok(t, err)
		if got != want {
			t.Fatalf("ClaimCronFire(%s, %s) = %v; want %v", flow, at.Format(time.RFC3339Nano), got, want)
		}
	}
	six := time.Date(2025, 1, 31, 6, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	claim(fx.flow.ID, six, true)
	claim(fx.flow.ID, six, false)
	claim(fx.flow.ID, six.In(time.FixedZone("CET", 3600)), false)
	claim(fx.flow.ID, six.Add(500*time.Millisecond), false)
	claim(fx.flow.ID, six.Add(time.Second), true)
	claim(other.ID, six, true)
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
	if n != 4 {
		t.Fatalf("a week later, PruneCronFires deleted %d claims; want 4", n)
	}
}
