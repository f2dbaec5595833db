package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// BenchmarkAppendEvents stores batches of 100 cell.log events of one line
// each, the shape the scheduler's sink writes while a cell prints.
func BenchmarkAppendEvents(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchAppendEvents(b, openSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchAppendEvents(b, openPostgres(b)) })
}

func benchAppendEvents(b *testing.B, s *Store) {
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "ada", "", "")
	ws, _ := s.CreateWorkspace(ctx, "ops", "Ops")
	f, err := s.CreateFlow(ctx, ws.ID, "bench", &engine.Flow{}, u.ID, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	r, err := s.CreateRun(ctx, Run{WorkspaceID: ws.ID, FlowID: f.ID})
	if err != nil {
		b.Fatal(err)
	}
	line := strings.Repeat("x", 80)
	batch := make([]engine.Event, 100)
	seq := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			seq++
			batch[i] = engine.Event{Type: engine.EventCellLog, Run: r.ID, Seq: seq, At: time.Now(), Cell: "fetch", Stream: engine.StreamStdout, Lines: []string{line}}
		}
		if err := s.AppendEvents(ctx, r.ID, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/event")
}
