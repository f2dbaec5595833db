package store

import (
	"context"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// healthTests join the suite both databases run (suite_test.go).
var healthTests = []struct {
	name string
	fn   func(t *testing.T, s *Store)
}{
	{"Health", testHealth},
}

// testHealth: what /readyz and the metrics read. A migrated store is at
// the last embedded migration; one rolled back a step is not; the queue is
// the queued runs (not waiting, running or finished ones) and the oldest's
// time.
func testHealth(t *testing.T, s *Store) {
	ctx := context.Background()
	ok(t, s.PingDB(ctx))
	want, err := s.LatestMigration()
	ok(t, err)
	vs := migrationVersions(t, s.dialect)
	if want != vs[len(vs)-1] || want < 14 {
		t.Fatalf("LatestMigration = %d, embedded %v", want, vs)
	}
	// One step down lands on the migration before the last (numbers may
	// have gaps while branches are merged).
	previous := vs[len(vs)-2]
	have, dirty, err := s.SchemaVersion(ctx)
	ok(t, err)
	if have != want || dirty {
		t.Fatalf("SchemaVersion = %d dirty %v, want %d", have, dirty, want)
	}
	mv, _, err := s.MigrateStatus(ctx)
	ok(t, err)
	if mv != have {
		t.Fatalf("SchemaVersion %d, MigrateStatus %d", have, mv)
	}

	n, oldest, err := s.QueueStats(ctx)
	ok(t, err)
	if n != 0 || !oldest.IsZero() {
		t.Fatalf("QueueStats on no runs = %d, %v", n, oldest)
	}
	fx := setup(t, s)
	clk := setClock(s)
	first := clk.t.Truncate(time.Microsecond)
	for _, st := range []engine.RunStatus{engine.RunQueued, engine.RunWaiting, engine.RunRunning, engine.RunQueued, engine.RunSucceeded} {
		_, err := s.CreateRun(ctx, Run{WorkspaceID: fx.ws.ID, FlowID: fx.flow.ID, Version: 1, Status: st})
		ok(t, err)
		clk.add(time.Second)
	}
	n, oldest, err = s.QueueStats(ctx)
	ok(t, err)
	if n != 2 || !oldest.Equal(first) {
		t.Fatalf("QueueStats = %d, %v; want 2, %v", n, oldest, first)
	}

	ok(t, s.Migrate(ctx, "down", 1))
	have, _, err = s.SchemaVersion(ctx)
	ok(t, err)
	if have != previous {
		t.Fatalf("after one step down: SchemaVersion = %d, want %d", have, previous)
	}
}
