package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/store"
)

// A draft's problems as the studio shows them: on the cell that has them,
// at the spot in its editor, named by the cell. The files behind a cell
// (report.sh, flow.yaml) are the plain-file format's, which a person in the
// studio never sees; the CLI and the API keep file:line:col.

// problemJSON is one problem of a cell.
type problemJSON struct {
	Cell    string `json:"cell"`             // the cell's id ("" when the flow has no such cell)
	Name    string `json:"name"`             // the cell's name
	Line    int    `json:"line"`             // the spot in the cell's source, from 1; 0: the problem is in its options
	Col     int    `json:"col"`              // in characters (code points), from 1
	Option  string `json:"option,omitempty"` // the option it is in (if, env, needs), shown at that field of the options panel
	Message string `json:"message"`
}

// problemsMsg answers check with the draft's problems, [] when it has none.
type problemsMsg struct {
	T        string          `json:"t"` // problems
	ID       json.RawMessage `json:"id"`
	Problems []problemJSON   `json:"problems"`
}

// checkReq asks for the draft's problems (the notebook's linter, sent as
// typing pauses).
type checkReq struct {
	ID json.RawMessage `json:"id"` // the envelope's, echoed in problems
}

func (*checkReq) check() error { return nil }

// draftReader reads a flow's draft, for the notebook's linter.
type draftReader interface {
	Draft(ctx context.Context, flowID string) (store.Draft, error)
}

var _ draftReader = (*store.Store)(nil)

// checkDraft answers check.
func (c *notebookConn) checkDraft(ctx context.Context, m *checkReq) error {
	d, err := c.s.stores.problems.Draft(ctx, c.flow.ID)
	if err != nil {
		return err
	}
	ids := make([]string, len(d.Cells))
	for i, dc := range d.Cells {
		ids[i] = dc.ID
	}
	ps, err := flowProblems(d.Flow, ids, nil)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(problemsMsg{T: "problems", ID: m.ID, Problems: ps})
	c.reply(b)
	return nil
}

// flowProblems lists the problems that stop a run of the named cells of f
// (nil: all), as the studio shows them; ids are the cells' ids, in f's
// order, or nil.
func flowProblems(f *engine.Flow, ids, cells []string) ([]problemJSON, error) {
	probs, err := run.Problems(f, cells)
	if err != nil {
		return nil, err
	}
	out := make([]problemJSON, 0, len(probs))
	for _, p := range probs {
		out = append(out, studioProblem(f, ids, p))
	}
	return out, nil
}

// studioProblem names a problem by its cell, and places it in the cell's
// source when it is there ("cell report, line 1, column 18: …").
func studioProblem(f *engine.Flow, ids []string, p run.Problem) problemJSON {
	pj := problemJSON{Name: p.Cell, Option: p.Option}
	var cell *engine.Cell
	for i := range f.Cells {
		if f.Cells[i].Name == p.Cell {
			cell = &f.Cells[i]
			if i < len(ids) {
				pj.Cell = ids[i]
			}
			break
		}
	}
	where := "cell " + p.Cell
	switch {
	case cell != nil && p.Pos.File == cell.File && p.Pos.File != "" && p.Pos.Line > 0:
		pj.Line, pj.Col = p.Pos.Line, max(p.Pos.Col, 1)
		where += fmt.Sprintf(", line %d, column %d", pj.Line, pj.Col)
	case p.Option != "":
		// if, env, needs: what the options panel edits.
		where += ", option " + p.Option
	case p.Pos.File == flow.ManifestFile:
		where += ", options"
	}
	pj.Message = where + ": " + p.Msg
	return pj
}

// problemsError is the studio's answer to a run or a save that problems
// stop: the first, named by its cell and placed for the editor to mark,
// and how many more there are.
func problemsError(ps []problemJSON) error {
	first := ps[0]
	msg := first.Message
	if n := len(ps) - 1; n == 1 {
		msg += " (and 1 more problem)"
	} else if n > 1 {
		msg += fmt.Sprintf(" (and %d more problems)", n)
	}
	return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: msg, Cell: first.Name, Line: first.Line}
}

// checkForStudio refuses, with problemsError, a run of the named cells of
// f (nil: all) or a save of f that problems stop.
func checkForStudio(f *engine.Flow, ids, cells []string) error {
	ps, err := flowProblems(f, ids, cells)
	if err != nil {
		return err
	}
	if len(ps) > 0 {
		return problemsError(ps)
	}
	return nil
}
