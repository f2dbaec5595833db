package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/collab"
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

// BenchmarkOpenLongHistory opens a flow whose 5 cells carry 100,000
// recorded changes between them (the authority checkpoints every 100, so
// up to 99 are replayed per cell): the draft with its latest text, and each
// cell's document as the authority loads it. Goal: under 100 ms.
func BenchmarkOpenLongHistory(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchOpenLongHistory(b, openSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchOpenLongHistory(b, openPostgres(b)) })
}

func benchOpenLongHistory(b *testing.B, s *Store) {
	ctx := context.Background()
	u, f, d := benchFlow(b, s, "long")
	const perCell, batch, every = 20_000, 100, 100
	for _, cell := range d.Cells {
		text := collab.Text{}
		for v := 0; v < perCell; {
			rows := make([]collab.Stored, 0, batch)
			for range batch - 1 + v%2 { // uneven batches, so checkpoints lag
				if v == perCell {
					break
				}
				pos := len(text) / 2
				var cs collab.ChangeSet
				if v%3 == 2 && len(text) > 0 {
					cs, _ = collab.Replace(len(text), pos-1, pos, nil)
				} else {
					cs, _ = collab.Replace(len(text), pos, pos, collab.TextOf("ab"))
				}
				text, _ = cs.Apply(text)
				v++
				rows = append(rows, stored(b, v, cs, u.ID))
			}
			var cp *collab.Checkpoint
			if v%every < batch && v < perCell-batch {
				cp = &collab.Checkpoint{Version: v, Source: text.String()}
			}
			if err := s.AppendDoc(ctx, f.ID, cell.ID, rows, cp); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		d, err := s.Draft(ctx, f.ID)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range d.Cells {
			if c.Version != perCell {
				b.Fatalf("cell at version %d", c.Version)
			}
			snap, err := s.LoadDoc(ctx, f.ID, c.ID)
			if err != nil {
				b.Fatal(err)
			}
			if snap.Version+len(snap.Changes) != perCell {
				b.Fatal("short history")
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
}

// BenchmarkAppendDoc stores one change of one cell at a time, the shape of
// a push from one editor: the time the authority holds a document's lock
// while the change is stored (on PostgreSQL, round trips plus a commit).
func BenchmarkAppendDoc(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchAppendDoc(b, openSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchAppendDoc(b, openPostgres(b)) })
}

func benchAppendDoc(b *testing.B, s *Store) {
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "ada", "", "")
	ws, _ := s.CreateWorkspace(ctx, "ops", "Ops")
	def := &engine.Flow{Cells: []engine.Cell{{Name: "c", Kind: engine.KindShell, File: "c.sh"}}}
	f, err := s.CreateFlow(ctx, ws.ID, "bench", def, u.ID, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	d, _ := s.Draft(ctx, f.ID)
	cell := d.Cells[0].ID
	text := collab.Text{}
	v := 0
	b.ReportAllocs()
	for b.Loop() {
		cs, _ := collab.Replace(len(text), len(text), len(text), collab.TextOf("x"))
		text, _ = cs.Apply(text)
		v++
		var cp *collab.Checkpoint
		if v%100 == 0 {
			cp = &collab.Checkpoint{Version: v, Source: text.String()}
		}
		if err := s.AppendDoc(ctx, f.ID, cell, []collab.Stored{stored(b, v, cs, u.ID)}, cp); err != nil {
			b.Fatal(err)
		}
	}
}

// benchFlow makes a user, a workspace and a flow of 5 empty shell cells,
// and returns the flow's draft.
func benchFlow(b *testing.B, s *Store, slug string) (User, FlowSummary, Draft) {
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "ada", "", "")
	ws, _ := s.CreateWorkspace(ctx, "ops", "Ops")
	def := &engine.Flow{}
	for i := range 5 {
		def.Cells = append(def.Cells, engine.Cell{Name: fmt.Sprintf("c%d", i), Kind: engine.KindShell, File: fmt.Sprintf("c%d.sh", i)})
	}
	f, err := s.CreateFlow(ctx, ws.ID, slug, def, u.ID, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	d, err := s.Draft(ctx, f.ID)
	if err != nil {
		b.Fatal(err)
	}
	return u, f, d
}

// BenchmarkDraft reads the draft of a flow of 5 cells, each with a few
// changes after its checkpoint: what a notebook run and page open start
// with (in one snapshot: a read transaction).
func BenchmarkDraft(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchDraft(b, openSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchDraft(b, openPostgres(b)) })
}

func benchDraft(b *testing.B, s *Store) {
	ctx := context.Background()
	u, f, d := benchFlow(b, s, "draft")
	for _, cell := range d.Cells {
		text := ""
		for v := 1; v <= 10; v++ {
			if err := s.AppendDoc(ctx, f.ID, cell.ID, []collab.Stored{stored(b, v, insertAt(b, text, len(collab.TextOf(text)), "echo hi\n"), u.ID)}, nil); err != nil {
				b.Fatal(err)
			}
			text += "echo hi\n"
		}
	}
	for b.Loop() {
		d, err := s.Draft(ctx, f.ID)
		if err != nil || len(d.Cells) != 5 || d.Cells[4].Version != 10 {
			b.Fatalf("draft: %v %+v", err, d.Cells)
		}
	}
}
