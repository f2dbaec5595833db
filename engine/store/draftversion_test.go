package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
)

// testExport is an ExportFunc that writes one file per cell plus a
// manifest of the names, and a hash of it all.
func testExport(f *engine.Flow) ([]File, string, error) {
	names := []string{f.Name}
	files := []File{{Name: "flow.yaml"}}
	for _, c := range f.Cells {
		names = append(names, c.Name)
		files = append(files, File{Name: c.Name, Data: []byte(c.Source)})
	}
	files[0].Data = []byte(strings.Join(names, ","))
	h := string(files[0].Data)
	for _, fl := range files[1:] {
		h += "|" + string(fl.Data)
	}
	return files, h, nil
}

func testSaveVersion(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	fid := fx.flow.ID
	bob, err := s.CreateUser(ctx, "bob", "", "")
	ok(t, err)
	cyd, err := s.CreateUser(ctx, "cyd", "", "")
	ok(t, err)
	d, err := s.Draft(ctx, fid)
	ok(t, err)

	// Two people edit the draft, one of them twice; the author edits too.
	ok(t, s.UpdateCellSource(ctx, fid, d.Cells[0].ID, "# Bob\n", bob.ID))
	ok(t, s.UpdateCellSource(ctx, fid, d.Cells[0].ID, "# Bob again\n", bob.ID))
	_, err = s.InsertCell(ctx, fid, 9, engine.Cell{Name: "extra", Kind: engine.KindExpr, Source: "1"}, cyd.ID)
	ok(t, err)
	ok(t, s.UpdateCellSource(ctx, fid, d.Cells[1].ID, "GET https://x\n", fx.user.ID))
	eds, err := s.Editors(ctx, fid)
	ok(t, err)
	want := []string{bob.ID, cyd.ID, fx.user.ID}
	slices.Sort(want)
	if !slices.Equal(eds, want) {
		t.Fatalf("Editors = %v, want %v", eds, want)
	}

	// An export that fails stores nothing and keeps the editors.
	boom := errors.New("boom")
	_, err = s.SaveVersion(ctx, fid, fx.user.ID, "bad", func(*engine.Flow) ([]File, string, error) { return nil, "", boom })
	if !errors.Is(err, boom) {
		t.Fatalf("SaveVersion with a failing export: %v", err)
	}
	if vs, _ := s.Versions(ctx, fid); len(vs) != 1 {
		t.Fatalf("versions after a failed save = %d", len(vs))
	}

	v, err := s.SaveVersion(ctx, fid, fx.user.ID, "second", testExport)
	ok(t, err)
	wantCo := []string{bob.ID, cyd.ID}
	slices.Sort(wantCo)
	if v.Number != 2 || v.Author != fx.user.ID || !slices.Equal(v.Coauthors, wantCo) || v.Message != "second" ||
		v.Hash != "Nightly report,intro,fetch,notify,extra|# Bob again\n|GET https://x\n|echo hi\n|1" {
		t.Fatalf("SaveVersion = %+v", v)
	}
	got, err := s.Version(ctx, fid, 2)
	ok(t, err)
	if !reflect.DeepEqual(got.Files, v.Files) || !slices.Equal(got.Coauthors, wantCo) {
		t.Fatalf("Version(2) = %+v", got)
	}
	// Editors were taken: the next version, with no edits, has no co-authors.
	eds, err = s.Editors(ctx, fid)
	ok(t, err)
	if len(eds) != 0 {
		t.Fatalf("Editors after saving = %v", eds)
	}
	ok(t, s.UpdateCellSource(ctx, fid, d.Cells[0].ID, "# Bob third\n", ""))
	ok(t, s.RecordEdit(ctx, fid, bob.ID))
	ok(t, s.RecordEdit(ctx, fid, "")) // nobody: nothing
	v3, err := s.SaveVersion(ctx, fid, cyd.ID, "third", testExport)
	ok(t, err)
	if v3.Number != 3 || !slices.Equal(v3.Coauthors, []string{bob.ID}) {
		t.Fatalf("third version = %+v", v3)
	}
	ok(t, s.UpdateCellSource(ctx, fid, d.Cells[0].ID, "# Bob again\n", cyd.ID))
	v4, err := s.SaveVersion(ctx, fid, cyd.ID, "", testExport)
	ok(t, err)
	if len(v4.Coauthors) != 0 || v4.Coauthors == nil {
		t.Fatalf("fourth version co-authors = %#v", v4.Coauthors)
	}
	_, err = s.SaveVersion(ctx, "f_nope", cyd.ID, "", testExport)
	isErr(t, err, ErrNotFound)

	// The same content as the latest version makes no version, and the
	// editors since stay for the next one.
	ok(t, s.RecordEdit(ctx, fid, bob.ID))
	_, err = s.SaveVersion(ctx, fid, cyd.ID, "again", testExport)
	var ue *UnchangedError
	if !errors.Is(err, ErrUnchanged) || !errors.As(err, &ue) || ue.Latest != 4 {
		t.Fatalf("SaveVersion of unchanged content = %v, want nothing changed since v4", err)
	}
	if vs, _ := s.Versions(ctx, fid); len(vs) != 4 {
		t.Fatalf("versions after an unchanged save = %d", len(vs))
	}
	if eds, _ := s.Editors(ctx, fid); !slices.Equal(eds, []string{bob.ID}) {
		t.Fatalf("editors after an unchanged save = %v", eds)
	}

	// The version a hash names: the newest with that content.
	hv, err := s.VersionByHash(ctx, fid, v.Hash)
	ok(t, err)
	if hv.Number != 4 || hv.Files != nil {
		t.Fatalf("VersionByHash = %+v", hv)
	}
	_, err = s.VersionByHash(ctx, fid, "nope")
	isErr(t, err, ErrNotFound)
}

func testReplaceDraft(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	fid := fx.flow.ID
	bob, err := s.CreateUser(ctx, "bob", "", "")
	ok(t, err)
	before, err := s.Draft(ctx, fid)
	ok(t, err)
	f := sampleFlow()
	f.Name = "Restored"
	f.Cells = []engine.Cell{f.Cells[2], f.Cells[0], {Name: "new", Kind: engine.KindExpr, File: "new.expr", Source: "2"}}
	f.Cells[1].Source = "# Changed\n"
	// A whole float stays a float (it is written 1.0, and hashes so).
	f.Inputs = append(f.Inputs, engine.Input{Name: "rate", Type: engine.InputNumber, Default: 1.0})
	ok(t, s.ReplaceDraft(ctx, fid, f, bob.ID))
	d, err := s.Draft(ctx, fid)
	ok(t, err)
	if !reflect.DeepEqual(d.Flow, f) {
		t.Fatalf("draft after ReplaceDraft:\n got %#v\nwant %#v", d.Flow, f)
	}
	// Ids survive by name; the unchanged cell keeps who changed it last.
	if d.Cells[0].ID != before.Cells[2].ID || d.Cells[1].ID != before.Cells[0].ID || d.Cells[2].ID == "" {
		t.Fatalf("ids = %+v, before %+v", d.Cells, before.Cells)
	}
	if d.Cells[0].UpdatedBy != fx.user.ID || d.Cells[1].UpdatedBy != bob.ID {
		t.Fatalf("updated by = %+v", d.Cells)
	}
	eds, err := s.Editors(ctx, fid)
	ok(t, err)
	if !slices.Equal(eds, []string{bob.ID}) {
		t.Fatalf("Editors = %v", eds)
	}
	isErr(t, s.ReplaceDraft(ctx, "f_nope", f, bob.ID), ErrNotFound)
	dup := sampleFlow()
	dup.Cells[1].Name = "intro"
	isErr(t, s.ReplaceDraft(ctx, fid, dup, bob.ID), ErrAlreadyExists)
	if got := cellNames(t, s, fid); got != "notify,intro,new" {
		t.Fatalf("draft after a failed replace = %s", got)
	}
}

func testImportVersion(t *testing.T, s *Store) {
	ctx := context.Background()
	fx := setup(t, s)
	fid := fx.flow.ID
	bob, err := s.CreateUser(ctx, "bob", "", "")
	ok(t, err)
	d, err := s.Draft(ctx, fid)
	ok(t, err)
	ok(t, s.UpdateCellSource(ctx, fid, d.Cells[0].ID, "# Bob\n", bob.ID))
	f := &engine.Flow{Name: "Imported", Cells: []engine.Cell{{Name: "only", Kind: engine.KindShell, File: "only.sh", Source: "echo\n"}}}
	files, hash, _ := testExport(f)
	v, err := s.ImportVersion(ctx, fid, f, Version{Message: "import", Author: fx.user.ID, Hash: hash, Files: files})
	ok(t, err)
	if v.Number != 2 || len(v.Coauthors) != 0 || v.Hash != hash {
		t.Fatalf("ImportVersion = %+v", v)
	}
	if got := cellNames(t, s, fid); got != "only" {
		t.Fatalf("draft after import = %s", got)
	}
	got, err := s.Version(ctx, fid, 2)
	ok(t, err)
	if !reflect.DeepEqual(got.Files, files) || got.Message != "import" {
		t.Fatalf("Version(2) = %+v", got)
	}
	if eds, _ := s.Editors(ctx, fid); len(eds) != 0 {
		t.Fatalf("editors after import = %v", eds)
	}
	big := &engine.Flow{Cells: []engine.Cell{{Name: "a", Kind: engine.KindShell, Source: strings.Repeat("x", MaxSourceSize+1)}}}
	_, err = s.ImportVersion(ctx, fid, big, Version{Hash: "h"})
	isErr(t, err, ErrTooLarge)
	if vs, _ := s.Versions(ctx, fid); len(vs) != 2 {
		t.Fatalf("versions = %d", len(vs))
	}

	// An upload of the latest version's content stores nothing: no version,
	// and the draft's edits since stay.
	d, err = s.Draft(ctx, fid)
	ok(t, err)
	ok(t, s.UpdateCellSource(ctx, fid, d.Cells[0].ID, "echo edited\n", bob.ID))
	_, err = s.ImportChangedVersion(ctx, fid, f, Version{Message: "again", Author: fx.user.ID, Hash: hash, Files: files})
	var unchanged *UnchangedError
	if !errors.As(err, &unchanged) || unchanged.Latest != 2 || !errors.Is(err, ErrUnchanged) {
		t.Fatalf("ImportChangedVersion of v2's content: %v, want an UnchangedError of v2", err)
	}
	if vs, _ := s.Versions(ctx, fid); len(vs) != 2 {
		t.Fatalf("versions after an unchanged upload = %d, want 2", len(vs))
	}
	if d, _ := s.Draft(ctx, fid); d.Flow.Cells[0].Source != "echo edited\n" {
		t.Fatalf("the unchanged upload replaced the draft: %q", d.Flow.Cells[0].Source)
	}
	// Other content is a new version.
	g := &engine.Flow{Name: "Imported", Cells: []engine.Cell{{Name: "only", Kind: engine.KindShell, File: "only.sh", Source: "echo 2\n"}}}
	gfiles, ghash, _ := testExport(g)
	v, err = s.ImportChangedVersion(ctx, fid, g, Version{Message: "changed", Author: fx.user.ID, Hash: ghash, Files: gfiles})
	ok(t, err)
	if v.Number != 3 {
		t.Fatalf("ImportChangedVersion of new content = v%d, want v3", v.Number)
	}
}

// BenchmarkSaveVersion200 saves a version of a 200-cell draft (40 lines a
// cell), exported to plain files and hashed as the server does.
func BenchmarkSaveVersion200(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchSaveVersion(b, openSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchSaveVersion(b, openPostgres(b)) })
}

func benchSaveVersion(b *testing.B, s *Store) {
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, "ada", "", "")
	ws, _ := s.CreateWorkspace(ctx, "ops", "Ops")
	f := &engine.Flow{Name: "Big"}
	for i := range 200 {
		var src strings.Builder
		for l := range 40 {
			fmt.Fprintf(&src, "echo cell %d line %d | grep -v something-long-enough\n", i, l)
		}
		name := fmt.Sprintf("cell_%03d", i)
		f.Cells = append(f.Cells, engine.Cell{Name: name, Kind: engine.KindShell, File: name + ".sh", Source: src.String()})
	}
	export := func(f *engine.Flow) ([]File, string, error) {
		files, err := flow.Files(f)
		if err != nil {
			return nil, "", err
		}
		out := make([]File, len(files))
		for i, fl := range files {
			out[i] = File{Name: fl.Name, Data: fl.Data}
		}
		return out, flow.Hash(f), nil
	}
	files, hash, err := export(f)
	if err != nil {
		b.Fatal(err)
	}
	fl, err := s.CreateFlow(ctx, ws.ID, "big", f, u.ID, files, hash)
	if err != nil {
		b.Fatal(err)
	}
	d, _ := s.Draft(ctx, fl.ID)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := s.UpdateCellSource(ctx, fl.ID, d.Cells[i%200].ID, fmt.Sprint("echo ", i, "\n"), u.ID); err != nil {
			b.Fatal(err)
		}
		if _, err := s.SaveVersion(ctx, fl.ID, u.ID, "bench", export); err != nil {
			b.Fatal(err)
		}
	}
}
