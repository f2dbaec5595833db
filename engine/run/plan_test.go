package run

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
)

// TestCompileCellsIgnoresOtherCells: a run of some cells is stopped only by
// their own problems; a cell half written elsewhere in the notebook does not
// block it, and the plan runs nothing it did not check.
func TestCompileCellsIgnoresOtherCells(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Cells: []engine.Cell{
		cell("a", engine.KindExpr, "40"),
		cell("broken", engine.KindExpr, "cells.nonexistent.value + 1"),
		cell("c", engine.KindExpr, "cells.a.value + 2"),
		cell("secretive", engine.KindShell, "curl -H {{ secrets.TOKEN }} x"),
	}}
	if _, err := Compile(f); err == nil || !strings.Contains(err.Error(), `broken.expr:1:1: unknown cell "nonexistent"`) {
		t.Fatalf("Compile of the whole flow: %v; want the broken cell's problem", err)
	}
	for _, tc := range []struct {
		cells []string
		want  string // "" is no problem
	}{
		{[]string{"c"}, ""},
		{[]string{"a", "c"}, ""},
		{[]string{"broken"}, `unknown cell "nonexistent"`},
		{[]string{"broken", "c"}, `unknown cell "nonexistent"`},
		{[]string{"nope"}, `unknown cell "nope"`},
		{nil, `unknown cell "nonexistent"`},
	} {
		_, err := CompileCells(f, tc.cells)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CompileCells(%q): %v; want no problem", tc.cells, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CompileCells(%q): %v; want %q", tc.cells, err, tc.want)
		}
	}

	p, err := CompileCells(f, []string{"c"})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Secrets(); len(s) != 0 {
		t.Errorf("a plan of cell c asks for secrets %v, which only another cell uses", s)
	}
	rec := &recorder{}
	sum, err := p.Run(context.Background(), Options{ID: "r_test", Sink: rec, Dir: t.TempDir(), TempDir: t.TempDir(),
		Cells: []string{"c"}, Prior: map[string]any{"a": map[string]any{"value": 40}}})
	if err != nil || sum.Status != engine.RunSucceeded {
		t.Fatalf("run of cell c: %+v, %v", sum, err)
	}
	if got := string(rec.finished()["c"].Result); got != `{"value":42}` {
		t.Errorf("c = %s, want 42", got)
	}
	// The plan was checked for c only: it runs nothing else.
	for _, cells := range [][]string{nil, {"c", "broken"}} {
		if _, err := p.Run(context.Background(), Options{Cells: cells, Dir: t.TempDir(), TempDir: t.TempDir()}); !errors.Is(err, engine.ErrInvalid) {
			t.Errorf("a plan of c run with cells %q: %v; want it refused", cells, err)
		}
	}
}

// TestCompileCellsCycle: in graph order a cycle stops a run only when the
// cells of the run make it.
func TestCompileCellsCycle(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Order: engine.OrderGraph, Cells: []engine.Cell{
		cell("x", engine.KindExpr, "cells.y.value"),
		cell("y", engine.KindExpr, "cells.x.value"),
		cell("z", engine.KindExpr, "1"),
	}}
	for _, tc := range []struct {
		cells []string
		cycle bool
	}{{nil, true}, {[]string{"x", "y"}, true}, {[]string{"z"}, false}, {[]string{"x", "z"}, false}} {
		_, err := CompileCells(f, tc.cells)
		if got := err != nil && strings.Contains(err.Error(), "cycle"); got != tc.cycle {
			t.Errorf("CompileCells(%q): %v; want a cycle: %v", tc.cells, err, tc.cycle)
		}
	}
}

// TestProblems: every problem, with the cell it is in, as the linter shows
// them.
func TestProblems(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Cells: []engine.Cell{
		cell("a", engine.KindExpr, "1 +"),
		cell("ok", engine.KindExpr, "1"),
		cell("report", engine.KindShell, "echo ok\necho {{ cells.nope.value }}"),
		{Name: "cond", Kind: engine.KindShell, File: "cond.sh", If: "inputs.day"},
	}}
	got := map[string][]string{}
	probs, err := Problems(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		got[p.Cell] = append(got[p.Cell], p.Error.Error())
	}
	want := map[string]string{"a": "a.expr:1:", "report": `report.sh:2:9: unknown cell "nope"`, "cond": `unknown input "day"`}
	for c, w := range want {
		if len(got[c]) != 1 || !strings.Contains(got[c][0], w) {
			t.Errorf("problems of %s: %q; want one with %q", c, got[c], w)
		}
	}
	if len(got["ok"]) != 0 || len(got) != len(want) {
		t.Errorf("problems %q; want only those of %v", got, want)
	}
	// A run of some cells has only their problems.
	probs, err = Problems(f, []string{"ok", "report"})
	if err != nil || len(probs) != 1 || probs[0].Cell != "report" || probs[0].Pos != (engine.Pos{File: "report.sh", Line: 2, Col: 9}) {
		t.Errorf("problems of a run of ok and report: %+v, %v; want report's at report.sh:2:9", probs, err)
	}
	if _, err := Problems(f, []string{"nope"}); !errors.Is(err, engine.ErrInvalid) {
		t.Errorf("problems of a run of an unknown cell: %v", err)
	}
}

// TestProblemOption: a problem in a cell's options says which option it
// is in (the studio shows it at that field); one in the source says none.
func TestProblemOption(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Order: engine.OrderGraph, Cells: []engine.Cell{
		cell("a", engine.KindExpr, "1"),
		{Name: "cond", Kind: engine.KindExpr, File: "cond.expr", Source: "1", If: "cells.nope.value > 1"},
		{Name: "syntax", Kind: engine.KindExpr, File: "syntax.expr", Source: "1", If: "1 +"},
		{Name: "envs", Kind: engine.KindShell, File: "envs.sh", Source: "echo \"$X\"\n", Env: []engine.EnvVar{{Name: "X", Value: "{{ inputs.missing }}"}}},
		{Name: "broken", Kind: engine.KindShell, File: "broken.sh", Source: "echo {{ cells.gone.value }}\n", Env: []engine.EnvVar{{Name: "Y", Value: "{{ cells.a.value }}"}}},
		{Name: "waits", Kind: engine.KindExpr, File: "waits.expr", Source: "1", Needs: []string{"ghost"}},
	}}
	probs, err := Problems(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, p := range probs {
		got[p.Cell] = append(got[p.Cell], p.Option)
	}
	want := map[string][]string{"cond": {"if"}, "syntax": {"if"}, "envs": {"env"}, "broken": {""}, "waits": {"needs"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("options of the problems = %q, want %q (problems: %v)", got, want, probs)
	}
}

// TestPlaceByLine: a cell's error at a spot in its own source says "line L,
// column C" for the studio, and keeps file:line:col for `opsbook run`.
func TestPlaceByLine(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Cells: []engine.Cell{
		cell("a", engine.KindExpr, "1"),
		{Name: "b", Kind: engine.KindExpr, File: "b.expr", Source: "\n  cells.a.value.x.y", ContinueOnError: true},
		cell("c", engine.KindShell, "echo ok\necho {{ cells.a.value.x.y }}"),
	}}
	for _, studio := range []bool{false, true} {
		sum, _ := runFlow(t, f, ok, func(o *Options) { o.PlaceByLine = studio })
		got := map[string]string{}
		for _, c := range sum.Cells {
			got[c.Name] = c.Error
		}
		want := map[string]string{"b": "b.expr:2:", "c": "c.sh:2:6: {{ cells.a.value.x.y }}: "}
		if studio {
			want = map[string]string{"b": "line 2, column ", "c": "line 2, column 6: {{ cells.a.value.x.y }}: "}
		}
		for name, w := range want {
			if !strings.HasPrefix(got[name], w) {
				t.Errorf("PlaceByLine %v: cell %s failed with %q; want %q…", studio, name, got[name], w)
			}
			if studio && (strings.Contains(got[name], ".expr") || strings.Contains(got[name], ".sh:")) {
				t.Errorf("PlaceByLine: cell %s names its file: %q", name, got[name])
			}
		}
	}
}

// TestRerunCells: a re-run executes, in notebook order, everything from the
// first cell that did not end well; in graph order, the cells that did not
// end well and those that depend on them, however indirectly.
func TestRerunCells(t *testing.T) {
	t.Parallel()
	needs := func(c engine.Cell, n ...string) engine.Cell { c.Needs = n; return c }
	cells := []engine.Cell{
		cell("a", engine.KindExpr, "1"),
		cell("b", engine.KindExpr, "cells.a.value + 1"),
		cell("c", engine.KindExpr, "2"),
		cell("d", engine.KindExpr, "cells.b.value"),
		needs(cell("e", engine.KindExpr, "3"), "d"),
		cell("f", engine.KindExpr, "cells.c.value"),
	}
	for _, tc := range []struct {
		order engine.Order
		bad   []string
		want  string
	}{
		{engine.OrderNotebook, []string{"c"}, "c d e f"},
		{engine.OrderNotebook, []string{"f"}, "f"},
		{engine.OrderNotebook, nil, ""},
		{engine.OrderGraph, []string{"b"}, "b d e"},
		{engine.OrderGraph, []string{"c"}, "c f"},
		{engine.OrderGraph, []string{"a", "c"}, "a b c d e f"},
		{engine.OrderGraph, []string{"e"}, "e"},
		{engine.OrderGraph, nil, ""},
	} {
		f := &engine.Flow{Order: tc.order, Cells: cells}
		got := strings.Join(RerunCells(f, func(name string) bool { return !slices.Contains(tc.bad, name) }), " ")
		if got != tc.want {
			t.Errorf("%s order, %v did not end well: re-run %q; want %q", tc.order, tc.bad, got, tc.want)
		}
	}
}
