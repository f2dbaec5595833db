// Package run plans and executes a flow: the order of its cells (notebook or
// graph), retries, timeouts, conditions, cancel, secret masking and the run
// event stream with its gap-free seq.
package run

import (
	"fmt"
	"slices"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/expr"
)

// Plan is a flow checked and compiled: every template and expression parsed
// once, every reference resolved, the dependency graph built.
type Plan struct {
	Flow  *engine.Flow
	cells []*step
	index map[string]int
	// only, when set, marks the cells the plan was checked for
	// (CompileCells): the others may not run.
	only []bool
}

// Problem is one problem Compile finds, with the cell it is in.
type Problem struct {
	Cell string // the cell's name
	// Option is the cell's option the problem is in ("if", "env",
	// "needs"), "" when it is in the cell's source.
	Option string
	*engine.Error
	index int // the cell's place in the flow
}

type envTmpl struct {
	name string
	tmpl *expr.Template
	// number: the shell script evaluates the variable (arithmetic, a
	// variable name), so its value must be a whole number; why says where.
	number bool
	why    string
}

type step struct {
	cell    *engine.Cell
	index   int
	source  *expr.Template // every kind but expr
	value   *expr.Expr     // expr cells
	cond    *expr.Expr     // `if`
	env     []envTmpl
	deps    []int // cells this one waits for in graph order (refs and needs)
	refs    []int // cells whose results it reads
	secrets []string
}

var runFields = map[string]bool{"id": true, "flow": true, "version": true, "started_at": true}

// Compile checks a flow's expressions, templates and references and builds
// its plan. Errors are engine.Errors naming file:line:col.
func Compile(f *engine.Flow) (*Plan, error) { return CompileCells(f, nil) }

// CompileCells is Compile for a run of only the named cells (nil: all of
// them), whose results the others give from earlier runs: only the
// problems of these cells stop it, as a notebook runs one cell while
// another is half written. The plan runs no other cell, and its Secrets
// are these cells'.
func CompileCells(f *engine.Flow, cells []string) (*Plan, error) {
	p, probs, err := check(f, cells)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		errs := make(engine.Errors, len(probs))
		for i, pr := range probs {
			errs[i] = pr.Error
		}
		return nil, errs
	}
	return p, nil
}

// Problems lists what stops a run of the named cells (nil: all of them),
// each problem with the cell it is in: what CompileCells refuses, as the
// studio shows it. The error is for a name that is not a cell.
func Problems(f *engine.Flow, cells []string) ([]Problem, error) {
	_, probs, err := check(f, cells)
	return probs, err
}

// check compiles f for a run of cells and lists the problems of those.
func check(f *engine.Flow, cells []string) (*Plan, []Problem, error) {
	p, all := compile(f)
	if cells != nil {
		p.only = make([]bool, len(f.Cells))
		for _, name := range cells {
			i, ok := p.index[name]
			if !ok {
				return nil, nil, fmt.Errorf("%w: unknown cell %q; the cells of this flow are %s", engine.ErrInvalid, name, cellNames(f))
			}
			p.only[i] = true
		}
	}
	var probs []Problem
	for _, pr := range all {
		if p.checked(pr.index) {
			probs = append(probs, pr)
		}
	}
	if len(probs) == 0 && f.EffectiveOrder() == engine.OrderGraph {
		// A cell that does not run gives its earlier result and waits for
		// nothing: only a cycle of cells that run stops the run.
		if cyc := p.cycle(); cyc != nil {
			names := make([]string, len(cyc))
			for k, j := range cyc {
				names[k] = f.Cells[j].Name
			}
			c := &f.Cells[cyc[0]]
			probs = append(probs, Problem{Cell: c.Name, index: cyc[0], Error: engine.Errorf(c.Pos, "cells depend on each other in a cycle: %s; break the cycle by removing one reference or `needs`", strings.Join(names, " → "))})
		}
	}
	return p, probs, nil
}

// checked reports whether the plan may run cell i.
func (p *Plan) checked(i int) bool { return p.only == nil || p.only[i] }

// Runs reports whether the plan may run the named cell: all of its cells,
// or those CompileCells was given.
func (p *Plan) Runs(name string) bool {
	i, ok := p.index[name]
	return ok && p.checked(i)
}

// compile builds the plan of every cell and lists the problems of each; a
// cell with problems has no source or value to run.
func compile(f *engine.Flow) (*Plan, []Problem) {
	p := &Plan{Flow: f, index: make(map[string]int, len(f.Cells))}
	for i := range f.Cells {
		p.index[f.Cells[i].Name] = i
	}
	inputs := map[string]bool{}
	for _, in := range f.Inputs {
		inputs[in.Name] = true
	}
	var probs []Problem
	var c *engine.Cell // the cell being compiled
	var at int         // and its place
	var opt string     // and the option being compiled, "" for its source
	add := func(err error) {
		if err == nil {
			return
		}
		var list engine.Errors
		var one *engine.Error
		switch {
		case asErrors(err, &list):
			for _, e := range list {
				probs = append(probs, Problem{Cell: c.Name, Option: opt, Error: e, index: at})
			}
		case asError(err, &one):
			probs = append(probs, Problem{Cell: c.Name, Option: opt, Error: one, index: at})
		default:
			probs = append(probs, Problem{Cell: c.Name, Option: opt, Error: &engine.Error{Msg: err.Error()}, index: at})
		}
	}
	for i := range f.Cells {
		c, at, opt = &f.Cells[i], i, ""
		s := &step{cell: c, index: i}
		var refs []expr.Ref
		var refOpts []string // the option each ref is in, "" for the source
		addRefs := func(rs []expr.Ref) {
			refs = append(refs, rs...)
			for range rs {
				refOpts = append(refOpts, opt)
			}
		}
		switch c.Kind {
		case engine.KindExpr:
			if strings.TrimSpace(c.Source) == "" {
				// An empty cell, as a notebook has while someone writes it:
				// its value is null.
				break
			}
			e, err := expr.Compile(c.Source, engine.Pos{File: c.File, Line: 1, Col: 1})
			add(err)
			if e != nil {
				s.value = e
				addRefs(e.Refs())
			}
		default:
			t, err := expr.ParseTemplate(c.Source, c.File, expr.LangOf(c.Kind))
			add(err)
			if t != nil {
				s.source = t
				addRefs(t.Refs())
			}
		}
		if strings.TrimSpace(c.If) != "" {
			pos := c.IfPos
			if pos.File == "" {
				pos = engine.Pos{File: "flow.yaml", Line: c.Pos.Line, Col: c.Pos.Col}
			}
			opt = "if"
			e, err := expr.Compile(c.If, pos)
			add(err)
			if e != nil {
				s.cond = e
				addRefs(e.Refs())
			}
		}
		opt = "env"
		for _, ev := range c.Env {
			t, err := expr.ParseTemplate(ev.Value, "flow.yaml", expr.LangText)
			if err != nil {
				// Templates in flow.yaml values report positions relative to
				// the value; shift them onto the manifest.
				add(shiftErr(err, ev.Pos))
				continue
			}
			s.env = append(s.env, envTmpl{name: ev.Name, tmpl: t})
			addRefs(shiftRefs(t.Refs(), ev.Pos))
		}
		opt = ""
		if c.Kind == engine.KindShell && s.source != nil {
			add(checkShellEnv(s, c))
		}
		for k, r := range refs {
			opt = refOpts[k]
			switch r.Root {
			case "cells":
				if r.Name == "" {
					add(engine.Errorf(r.Pos, "cell %s reads cells[…] with a computed name; name the cell directly, e.g. cells.fetch", c.Name))
					continue
				}
				j, ok := p.index[r.Name]
				switch {
				case !ok:
					add(engine.Errorf(r.Pos, "unknown cell %q; the cells of this flow are %s", r.Name, cellNames(f)))
					continue
				case j == i:
					add(engine.Errorf(r.Pos, "cell %s refers to itself; a cell can only read cells that ran before it", c.Name))
					continue
				case j > i && f.EffectiveOrder() == engine.OrderNotebook:
					add(engine.Errorf(r.Pos, "cell %s reads cell %s, which comes later in notebook order; move %s above %s, or set `order: graph`", c.Name, r.Name, r.Name, c.Name))
					continue
				}
				if !slices.Contains(s.refs, j) {
					s.refs = append(s.refs, j)
					s.deps = append(s.deps, j)
				}
			case "inputs":
				if r.Name == "" {
					add(engine.Errorf(r.Pos, "inputs[…] with a computed name; name the input directly"))
				} else if !inputs[r.Name] {
					add(engine.Errorf(r.Pos, "unknown input %q; declare it under `inputs:` in flow.yaml", r.Name))
				}
			case "secrets":
				if r.Name == "" {
					add(engine.Errorf(r.Pos, "secrets[…] with a computed name; name the secret directly, e.g. secrets.API_TOKEN"))
				} else if !slices.Contains(s.secrets, r.Name) {
					s.secrets = append(s.secrets, r.Name)
				}
			case "run":
				if r.Name != "" && !runFields[r.Name] {
					add(engine.Errorf(r.Pos, "unknown field run.%s; use run.id, run.flow, run.version or run.started_at", r.Name))
				}
			}
		}
		opt = "needs"
		for _, n := range c.Needs {
			j, ok := p.index[n]
			pos := c.NeedsPos
			switch {
			case !ok:
				add(engine.Errorf(pos, "cell %s needs unknown cell %q; the cells of this flow are %s", c.Name, n, cellNames(f)))
				continue
			case j == i:
				add(engine.Errorf(pos, "cell %s needs itself; remove it from `needs`", c.Name))
				continue
			case j > i && f.EffectiveOrder() == engine.OrderNotebook:
				add(engine.Errorf(pos, "cell %s needs %s, which comes later in notebook order; move %s above %s, or set `order: graph`", c.Name, n, n, c.Name))
				continue
			}
			if !slices.Contains(s.deps, j) {
				s.deps = append(s.deps, j)
			}
		}
		p.cells = append(p.cells, s)
	}
	return p, probs
}

// cycle returns the cells of one dependency cycle among the cells the plan
// runs, first cell repeated at the end, or nil.
func (p *Plan) cycle() []int {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(p.cells))
	var stack []int
	var found []int
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		stack = append(stack, i)
		for _, d := range p.cells[i].deps {
			if !p.checked(d) {
				continue
			}
			if color[d] == grey {
				k := slices.Index(stack, d)
				found = append(slices.Clone(stack[k:]), d)
				return true
			}
			if color[d] == white && visit(d) {
				return true
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
		return false
	}
	for i := range p.cells {
		if p.checked(i) && color[i] == white && visit(i) {
			return found
		}
	}
	return nil
}

// checkShellEnv finds where a shell script uses the env variables whose
// values come from templates: a value the script runs as code is refused,
// one it evaluates (arithmetic, a variable name) must be a number.
func checkShellEnv(s *step, c *engine.Cell) error {
	var names []string
	for _, e := range s.env {
		if !e.tmpl.Static() {
			names = append(names, e.name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	uses, err := s.source.ShellEnv(names)
	var errs engine.Errors
	for i := range s.env {
		e := &s.env[i]
		if e.tmpl.Static() {
			continue
		}
		pos := engine.Pos{File: "flow.yaml"}
		for _, ev := range c.Env {
			if ev.Name == e.name {
				pos = ev.Pos
			}
		}
		u := uses[e.name]
		switch {
		case err != nil:
			errs = append(errs, engine.Errorf(pos, "env %s of cell %s takes a value from {{ }}, and where %s uses it cannot be decided: %v", e.name, c.Name, c.File, err))
		case u.Code:
			errs = append(errs, engine.Errorf(pos, "env %s of cell %s takes a value from {{ }}, which %s runs as code: %s; pass the value as data", e.name, c.Name, c.File, u.Why))
		case u.Number:
			e.number, e.why = true, u.Why
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Secrets lists the secret names the cells the plan runs reference, in
// first-use order.
func (p *Plan) Secrets() []string {
	var out []string
	for i, s := range p.cells {
		if !p.checked(i) {
			continue
		}
		for _, n := range s.secrets {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

func cellNames(f *engine.Flow) string {
	if len(f.Cells) == 0 {
		return "(none)"
	}
	names := make([]string, len(f.Cells))
	for i := range f.Cells {
		names[i] = f.Cells[i].Name
	}
	return strings.Join(names, ", ")
}

// shiftErr moves template errors found inside a flow.yaml value onto the
// manifest: line 1 of the value is the value's own line.
func shiftErr(err error, at engine.Pos) error {
	var list engine.Errors
	var one *engine.Error
	switch {
	case asErrors(err, &list):
		out := make(engine.Errors, len(list))
		for i, e := range list {
			out[i] = &engine.Error{Pos: shiftPos(e.Pos, at), Msg: e.Msg}
		}
		return out
	case asError(err, &one):
		return &engine.Error{Pos: shiftPos(one.Pos, at), Msg: one.Msg}
	}
	return fmt.Errorf("%s: %w", at, err)
}

func shiftRefs(refs []expr.Ref, at engine.Pos) []expr.Ref {
	out := make([]expr.Ref, len(refs))
	for i, r := range refs {
		r.Pos = shiftPos(r.Pos, at)
		out[i] = r
	}
	return out
}

func shiftPos(p, at engine.Pos) engine.Pos {
	if at.Line == 0 {
		return engine.Pos{File: "flow.yaml"}
	}
	if p.Line <= 1 {
		return engine.Pos{File: at.File, Line: at.Line, Col: at.Col + p.Col - 1}
	}
	return engine.Pos{File: at.File, Line: at.Line + p.Line - 1, Col: p.Col}
}

// RerunCells lists, in flow order, the cells a re-run of an earlier run of
// f executes, given which cells ended well in it (ok: succeeded, or
// skipped because their `if` was false): in notebook order every cell from
// the first one that did not end well; in graph order every cell that did
// not end well and every cell that depends on one of those (references or
// `needs`, directly or not). The other cells give their earlier results.
// The flow's problems do not matter here: a re-run checks the cells it
// executes (CompileCells).
func RerunCells(f *engine.Flow, ok func(name string) bool) []string {
	again := make([]bool, len(f.Cells))
	if f.EffectiveOrder() == engine.OrderGraph {
		p, _ := compile(f)
		for i := range f.Cells {
			again[i] = !ok(f.Cells[i].Name)
		}
		// Spread to dependents until nothing changes: a cycle (a flow
		// that cannot have run) ends too.
		for changed := true; changed; {
			changed = false
			for i, s := range p.cells {
				if again[i] {
					continue
				}
				for _, d := range s.deps {
					if again[d] {
						again[i], changed = true, true
						break
					}
				}
			}
		}
	} else {
		from := len(f.Cells)
		for i := range f.Cells {
			if !ok(f.Cells[i].Name) {
				from = i
				break
			}
		}
		for i := from; i < len(f.Cells); i++ {
			again[i] = true
		}
	}
	var out []string
	for i, c := range f.Cells {
		if again[i] {
			out = append(out, c.Name)
		}
	}
	return out
}
