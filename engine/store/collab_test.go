package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine/collab"
)

func stored(t testing.TB, version int, cs collab.ChangeSet, user string) collab.Stored {
	raw, _ := cs.MarshalJSON()
	return collab.Stored{Version: version, Changes: json.RawMessage(raw), ClientID: "k1", UserID: user, At: time.Now()}
}

func insertAt(t testing.TB, text string, pos int, ins string) collab.ChangeSet {
	cs, err := collab.Replace(len(collab.TextOf(text)), pos, pos, collab.TextOf(ins))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func testCollabLog(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	d, err := s.Draft(ctx, fx.flow.ID)
	ok(t, err)
	cell := d.Cells[0].ID // "# Hello\n"
	if d.Cells[0].Version != 0 {
		t.Fatalf("new cell at version %d", d.Cells[0].Version)
	}

	// Two changes, then a conflicting one at a taken version: refused whole.
	ok(t, s.AppendDoc(ctx, fx.flow.ID, cell, []collab.Stored{
		stored(t, 1, insertAt(t, "# Hello\n", 7, "!"), fx.user.ID),
		stored(t, 2, insertAt(t, "# Hello!\n", 0, "😀"), fx.user.ID),
	}, nil))
	// Refused whole: no row, no checkpoint, no edit counted (DraftEdits below).
	err = s.AppendDoc(ctx, fx.flow.ID, cell, []collab.Stored{
		stored(t, 2, insertAt(t, "# Hello!\n", 0, "x"), fx.user.ID),
		stored(t, 3, insertAt(t, "x# Hello!\n", 0, "y"), fx.user.ID),
	}, &collab.Checkpoint{Version: 3, Source: "yx# Hello!\n"})
	isErr(t, err, collab.ErrConflict)
	err = s.AppendDoc(ctx, fx.flow.ID, "c_nope", []collab.Stored{stored(t, 1, insertAt(t, "", 0, "x"), "")}, nil)
	isErr(t, err, collab.ErrGone)
	_, err = s.LoadDoc(ctx, fx.flow.ID, "c_nope")
	isErr(t, err, collab.ErrGone)

	snap, err := s.LoadDoc(ctx, fx.flow.ID, cell)
	ok(t, err)
	if snap.Source != "# Hello\n" || snap.Version != 0 || len(snap.Changes) != 2 || snap.Changes[1].UserID != fx.user.ID {
		t.Fatalf("LoadDoc = %+v", snap)
	}
	// The draft shows the latest text, checkpoint or not.
	d, err = s.Draft(ctx, fx.flow.ID)
	ok(t, err)
	if d.Flow.Cells[0].Source != "😀# Hello!\n" || d.Cells[0].Version != 2 || d.Cells[0].UpdatedBy != fx.user.ID {
		t.Fatalf("draft after changes: %q v%d", d.Flow.Cells[0].Source, d.Cells[0].Version)
	}
	ok(t, s.CheckpointDoc(ctx, fx.flow.ID, cell, collab.Checkpoint{Version: 2, Source: "😀# Hello!\n"}))
	ok(t, s.CheckpointDoc(ctx, fx.flow.ID, cell, collab.Checkpoint{Version: 1, Source: "stale"})) // ignored
	snap, err = s.LoadDoc(ctx, fx.flow.ID, cell)
	ok(t, err)
	if snap.Source != "😀# Hello!\n" || snap.Version != 2 || len(snap.Changes) != 0 {
		t.Fatalf("LoadDoc after checkpoint = %+v", snap)
	}

	// A whole-text write is a change too.
	ok(t, s.UpdateCellSource(ctx, fx.flow.ID, cell, "😀# Hello, world!\n", fx.user.ID))
	rows, err := s.DocChangesSince(ctx, fx.flow.ID, cell, 2)
	ok(t, err)
	if len(rows) != 1 || rows[0].Version != 3 || string(rows[0].Changes) != `[9,[0,", world"],2]` {
		t.Fatalf("UpdateCellSource recorded %+v", rows)
	}

	// Editors: who changed which cell.
	eds, err := s.DraftEditors(ctx, fx.flow.ID, time.Time{})
	ok(t, err)
	if len(eds) != 1 || eds[0] != fx.user.ID {
		t.Fatalf("DraftEditors = %v", eds)
	}
	edits, err := s.DraftEdits(ctx, fx.flow.ID)
	ok(t, err)
	if len(edits) != 1 || edits[0].Edits != 3 || edits[0].CellID != cell {
		t.Fatalf("DraftEdits = %+v", edits)
	}

	// Delete keeps the cell's text and history; restore brings both back,
	// renamed if its name was taken meanwhile.
	ok(t, s.DeleteCellBy(ctx, fx.flow.ID, cell, fx.user.ID))
	dc, err := s.DeletedCellByID(ctx, fx.flow.ID, cell)
	ok(t, err)
	if dc.Name != "intro" || dc.DeletedBy != fx.user.ID {
		t.Fatalf("DeletedCellByID = %+v", dc)
	}
	_, err = s.LoadDoc(ctx, fx.flow.ID, cell)
	isErr(t, err, collab.ErrGone)
	d, _ = s.Draft(ctx, fx.flow.ID)
	c := d.Flow.Cells[0]
	c.Name = "intro"
	ok(t, s.UpdateCell(ctx, fx.flow.ID, d.Cells[0].ID, c, fx.user.ID))
	name, err := s.RestoreCell(ctx, fx.flow.ID, cell, fx.user.ID)
	ok(t, err)
	if name != "intro_2" {
		t.Fatalf("restored as %q", name)
	}
	d, err = s.Draft(ctx, fx.flow.ID)
	ok(t, err)
	if d.Cells[0].ID != cell || d.Flow.Cells[0].Source != "😀# Hello, world!\n" || d.Cells[0].Version != 3 || len(d.Cells) != 3 {
		t.Fatalf("after restore: %+v %q", d.Cells, d.Flow.Cells[0].Source)
	}
	_, err = s.RestoreCell(ctx, fx.flow.ID, cell, "")
	isErr(t, err, ErrNotFound)
	// A checkpoint stored with the change.
	ok(t, s.AppendDoc(ctx, fx.flow.ID, cell, []collab.Stored{stored(t, 4, insertAt(t, "😀# Hello, world!\n", 0, "x"), "")},
		&collab.Checkpoint{Version: 4, Source: "x😀# Hello, world!\n"}))
	snap, err = s.LoadDoc(ctx, fx.flow.ID, cell)
	ok(t, err)
	if snap.Source != "x😀# Hello, world!\n" || snap.Version != 4 || len(snap.Changes) != 0 {
		t.Fatalf("LoadDoc after a change with a checkpoint = %+v", snap)
	}
}

// testCollabNotify: on PostgreSQL a stored change reaches a listener.
func testCollabNotify(t *testing.T, s *Store) {
	if s.Dialect() != DialectPostgres {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fx := setup(t, s)
	d, err := s.Draft(ctx, fx.flow.ID)
	ok(t, err)
	got := make(chan Notice, 4)
	ready := make(chan struct{})
	// NOTIFY reaches every listener of the database, the other tests'
	// included: keep only this flow's notices.
	go s.Listen(ctx, []string{ChannelDoc, ChannelFlow}, func() { close(ready) }, func(n Notice) {
		if strings.HasPrefix(n.Payload, fx.flow.ID) {
			got <- n
		}
	})
	<-ready
	// Nothing stored, nothing announced.
	err = s.AppendDoc(ctx, fx.flow.ID, "c_nope", []collab.Stored{stored(t, 1, insertAt(t, "", 0, "x"), "")}, nil)
	isErr(t, err, collab.ErrGone)
	ok(t, s.AppendDoc(ctx, fx.flow.ID, d.Cells[1].ID, []collab.Stored{stored(t, 1, insertAt(t, "GET https://example.com\n", 0, "#"), "")}, nil))
	ok(t, s.Notify(ctx, ChannelFlow, fx.flow.ID))
	for _, want := range []string{fmt.Sprintf("%s %s 1", fx.flow.ID, d.Cells[1].ID), fx.flow.ID} {
		select {
		case n := <-got:
			if n.Payload != want {
				t.Fatalf("notice %+v, want %q", n, want)
			}
		case <-ctx.Done():
			t.Fatal("no notification")
		}
	}
	if f, c, v, okk := (Notice{Payload: fmt.Sprintf("%s %s 1", fx.flow.ID, d.Cells[1].ID)}).DocNotice(); !okk || f != fx.flow.ID || c != d.Cells[1].ID || v != 1 {
		t.Fatal("DocNotice")
	}
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}

// testDraftWhileCheckpointing: a draft read while the cell's checkpoint
// moves must still show the latest text. The checkpoint (source and
// doc_version) and the changes after it are two queries; read outside one
// snapshot, a checkpoint committed between them left the old checkpoint's
// text with none of the changes after it: the studio then ran, and showed,
// a cell's source as it was before the edits (a browser test stored "").
func testDraftWhileCheckpointing(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	d, err := s.Draft(ctx, fx.flow.ID)
	ok(t, err)
	cell, text := d.Cells[0].ID, d.Flow.Cells[0].Source
	const n = 150
	texts := []string{text} // texts[v]: the text at version v
	changes := make([]collab.Stored, n)
	for v := 1; v <= n; v++ {
		changes[v-1] = stored(t, v, insertAt(t, text, len(collab.TextOf(text)), "x"), fx.user.ID)
		text += "x"
		texts = append(texts, text)
	}

	// The writer: one change at a time, and a checkpoint every third, the
	// way the authority's idle checkpoint follows typing.
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			for v := 1; v <= n && wctx.Err() == nil; v++ {
				if err := s.AppendDoc(wctx, fx.flow.ID, cell, changes[v-1:v], nil); err != nil {
					return err
				}
				if v%3 == 0 {
					if err := s.CheckpointDoc(wctx, fx.flow.ID, cell, collab.Checkpoint{Version: v, Source: texts[v]}); err != nil {
						return err
					}
				}
			}
			return nil
		}()
	}()
	// The reader: versions never go back, and the text is the version's.
	// A failure stops the writer before the store closes.
	last, problem := 0, ""
	for finished := false; !finished && problem == ""; {
		select {
		case err := <-done:
			ok(t, err)
			finished = true
		default:
		}
		d, err := s.Draft(ctx, fx.flow.ID)
		ok(t, err)
		v, src := d.Cells[0].Version, d.Flow.Cells[0].Source
		switch {
		case v < last:
			problem = fmt.Sprintf("the draft went back from version %d to %d (%q)", last, v, src)
		case v > n || src != texts[v]:
			problem = fmt.Sprintf("the draft at version %d shows %q, want %q", v, src, texts[min(v, n)])
		}
		last = v
	}
	if problem != "" {
		stop()
		<-done
		t.Fatal(problem)
	}
	stop()
	if last != n {
		t.Fatalf("the last read saw version %d, want %d", last, n)
	}
}
