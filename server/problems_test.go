package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
)

// brokenFlow has a cell that is fine, one that reads a cell that does not
// exist, and a shell cell with a placeholder inside single quotes, which
// is refused.
func brokenFlow() *engine.Flow {
	return &engine.Flow{Name: "Broken", Cells: []engine.Cell{
		{Name: "fine", Kind: engine.KindExpr, File: "fine.expr", Source: "40 + 2"},
		{Name: "bad", Kind: engine.KindExpr, File: "bad.expr", Source: "cells.nonexistent.value + 1"},
		{Name: "report", Kind: engine.KindShell, File: "report.sh", Source: "echo ok\necho 'id {{ run.id }}'\n"},
	}}
}

// TestNotebookRunOneCellPastOthersProblems: ▶ Run on a cell is stopped only
// by that cell's problems, not by another cell's; a run that would run a
// broken cell is refused with the problem named by its cell, never by the
// file behind it.
func TestNotebookRunOneCellPastOthersProblems(t *testing.T) {
	f := setup(t, testDB)
	fs := f.addFlow("broken", brokenFlow())
	c, err := f.dial("editor", "/w/acme/flows/broken/ws")
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, c, isType("hello"))
	send := func(id int, raw string) map[string]any {
		t.Helper()
		var m map[string]any
		json.Unmarshal([]byte(raw), &m)
		m["id"] = id
		if err := c.WriteJSON(m); err != nil {
			t.Fatal(err)
		}
		got := readUntil(t, c, func(m map[string]any) bool {
			n, _ := m["id"].(float64)
			return int(n) == id && (m["t"] == "started" || m["t"] == "error" || m["t"] == "problems")
		})
		return got[len(got)-1]
	}

	got := send(1, `{"t":"run","mode":"cell","cell":"fine"}`)
	if got["t"] != "started" {
		t.Fatalf("run of cell fine while cell bad has a problem: %v; want it started", got)
	}
	if r := f.waitRun(got["run"].(string)); r.Status != engine.RunSucceeded {
		t.Fatalf("the run of cell fine ended %s: %s", r.Status, r.Error)
	}

	for i, tc := range []struct {
		run, msg, cell string
		line           float64
	}{
		{`{"t":"run","mode":"all"}`, `cell bad, line 1, column 1: unknown cell "nonexistent"`, "bad", 1},
		{`{"t":"run","mode":"from","cell":"bad"}`, `cell bad, line 1, column 1: unknown cell "nonexistent"`, "bad", 1},
		{`{"t":"run","mode":"cell","cell":"report"}`, `cell report, line 2, column 10: `, "report", 2},
	} {
		got := send(10+i, tc.run)
		msg, _ := got["message"].(string)
		if got["t"] != "error" || !strings.HasPrefix(msg, tc.msg) || got["cell"] != tc.cell || got["line"] != tc.line {
			t.Errorf("%s: %v; want an error %q… on cell %s, line %v", tc.run, got, tc.msg, tc.cell, tc.line)
		}
		if strings.Contains(msg, ".sh") || strings.Contains(msg, ".expr") {
			t.Errorf("%s: the message %q names a file the studio does not show", tc.run, msg)
		}
	}
	if n := f.countRuns(fs.ID); n != 1 {
		t.Errorf("%d runs stored; want only the run of cell fine", n)
	}
}

// TestNotebookCheck: check answers with every problem of the draft, on the
// cell that has it, at its spot in the cell's source.
func TestNotebookCheck(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("broken", brokenFlow())
	c, err := f.dial("viewer", "/w/acme/flows/broken/ws")
	if err != nil {
		t.Fatal(err)
	}
	hello := readUntil(t, c, isType("hello"))
	ids := map[string]string{}
	for _, cell := range hello[len(hello)-1]["draft"].(map[string]any)["cells"].([]any) {
		m := cell.(map[string]any)
		ids[m["name"].(string)] = m["id"].(string)
	}
	if err := c.WriteJSON(map[string]any{"t": "check", "id": "7"}); err != nil {
		t.Fatal(err)
	}
	got := readUntil(t, c, isType("problems"))
	var answer problemsMsg
	b, _ := json.Marshal(got[len(got)-1])
	if err := json.Unmarshal(b, &answer); err != nil {
		t.Fatal(err)
	}
	if string(answer.ID) != `"7"` || len(answer.Problems) != 2 {
		t.Fatalf("problems %s; want two, answering id 7", b)
	}
	for i, want := range []problemJSON{
		{Cell: ids["bad"], Name: "bad", Line: 1, Col: 1, Message: `cell bad, line 1, column 1: unknown cell "nonexistent"`},
		{Cell: ids["report"], Name: "report", Line: 2, Col: 10, Message: "cell report, line 2, column 10: "},
	} {
		p := answer.Problems[i]
		if p.Cell != want.Cell || p.Name != want.Name || p.Line != want.Line || p.Col != want.Col || !strings.HasPrefix(p.Message, want.Message) {
			t.Errorf("problem %d: %+v; want %+v…", i, p, want)
		}
	}
}

// TestSaveVersionNamesTheCell: a save that a problem stops says which cell
// has it and where, and gives the cell and line for the editor to mark.
func TestSaveVersionNamesTheCell(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("broken", brokenFlow())
	resp := f.do("editor", http.MethodPost, "/w/acme/flows/broken/versions", "message=try", "Accept", "application/json")
	var out struct {
		Error struct {
			Message string `json:"message"`
			Cell    string `json:"cell"`
			Line    int    `json:"line"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body(t, resp, http.StatusUnprocessableEntity)), &out); err != nil {
		t.Fatal(err)
	}
	e := out.Error
	if !strings.HasPrefix(e.Message, `cell bad, line 1, column 1: unknown cell "nonexistent"`) || !strings.Contains(e.Message, "and 1 more problem") || e.Cell != "bad" || e.Line != 1 {
		t.Errorf("save: %+v; want the problem of cell bad at line 1, and one more", e)
	}
}

// TestStudioRunErrorByLine: a cell that fails at a spot in its source says
// "line L, column C" in a run of the studio, not the file behind the cell.
func TestStudioRunErrorByLine(t *testing.T) {
	f := setup(t, testDB)
	f.addFlow("late", &engine.Flow{Name: "Late", Cells: []engine.Cell{
		{Name: "fine", Kind: engine.KindExpr, File: "fine.expr", Source: "1"},
		{Name: "deep", Kind: engine.KindExpr, File: "deep.expr", Source: "\n  cells.fine.value.x.y"},
	}})
	r := f.waitRun(f.startRun("late", `{}`, "10s"))
	if r.Status != engine.RunFailed || !strings.HasPrefix(r.Error, "cell deep: line 2, column ") || strings.Contains(r.Error, "deep.expr") {
		t.Errorf("the run ended %s with %q; want failed, cell deep at line 2", r.Status, r.Error)
	}
}
