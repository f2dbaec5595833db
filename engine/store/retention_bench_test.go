package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// BenchmarkDiskUse reads a workspace's disk use over 1,000,000 stored
// events (100 runs of 10 cells, 10,000 log events each, 80-byte lines): from
// the cells' running totals (DiskUseOf, what Settings shows), against
// summing every event's length. Then it prunes one run's logs.
func BenchmarkDiskUse(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchDiskUse(b, openSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchDiskUse(b, openPostgres(b)) })
}

func benchDiskUse(b *testing.B, s *Store) {
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "ada", "", "")
	ws, _ := s.CreateWorkspace(ctx, "ops", "Ops")
	f, err := s.CreateFlow(ctx, ws.ID, "bench", &engine.Flow{}, u.ID, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	const runs, perRun = 100, 10_000
	line := strings.Repeat("x", 80)
	cells := []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"}
	var ids []string
	start := time.Now()
	for range runs {
		r, err := s.CreateRun(ctx, Run{WorkspaceID: ws.ID, FlowID: f.ID})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, r.ID)
		batch := make([]engine.Event, 0, 1000)
		for i := range perRun {
			batch = append(batch, engine.Event{Type: engine.EventCellLog, At: start, Cell: cells[i%len(cells)], Stream: engine.StreamStdout, Lines: []string{line}})
			if len(batch) == cap(batch) {
				if err := s.AppendEvents(ctx, r.ID, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := s.AppendEvents(ctx, r.ID, []engine.Event{{Type: engine.EventRunFinished, At: start, Status: "succeeded"}}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("stored %d events in %v", runs*(perRun+1), time.Since(start).Round(time.Millisecond))
	b.Run("running-totals", func(b *testing.B) {
		for b.Loop() {
			d, err := s.DiskUseOf(ctx, ws.ID)
			if err != nil || d.LogBytes != runs*perRun*81 {
				b.Fatalf("%+v %v", d, err)
			}
		}
	})
	b.Run("sum-of-lengths", func(b *testing.B) {
		for b.Loop() {
			var n int64
			err := s.rdb.NewRaw(`SELECT COALESCE(SUM(LENGTH(e.data)), 0) FROM run_events AS e JOIN runs AS r ON r.id = e.run_id WHERE r.workspace_id = ?`, ws.ID).Scan(ctx, &n)
			if err != nil || n == 0 {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("prune-10k-events", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if i == len(ids) {
				b.Fatal("out of runs")
			}
			if _, err := s.PruneRunLogs(ctx, ids[i], start, nil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
