package expr

import (
	"container/list"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	exprlang "github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/opsbook/opsbook/engine"
)

// The roots of an expression's environment.
const (
	RootInputs  = "inputs"
	RootCells   = "cells"
	RootSecrets = "secrets"
	RootRun     = "run"
)

// Ref is a static reference found in an expression: cells.NAME,
// inputs.NAME, secrets.NAME or run.FIELD. Name is "" when the expression
// reaches into the root with a computed key (cells[inputs.name]) or uses the
// root as a whole (toJSON(cells)).
type Ref struct {
	Root string // "cells" | "inputs" | "secrets" | "run"
	Name string
	Pos  engine.Pos // of the root identifier
}

// Env is what an expression sees. Build it with NewEnv.
type Env map[string]any

// NewEnv makes the environment of a cell's expressions. A cell's result may
// be a Go struct with `expr` tags (engine.ShellResult, …) or a pointer to
// one, or a map[string]any.
func NewEnv(inputs map[string]any, cells map[string]any, secrets map[string]string, run engine.RunInfo) Env {
	return Env{RootInputs: inputs, RootCells: cells, RootSecrets: secrets, RootRun: run}
}

// Expr is a compiled expression, safe for concurrent Eval.
type Expr struct {
	src string
	pos engine.Pos
	c   *compiled
}

// compiled is what the cache holds for one source text: positions in it are
// rune offsets, mapped onto a file by each Expr.
type compiled struct {
	prog   *vm.Program
	refs   []relRef
	raw    bool // the whole expression is raw(x)
	errOff int
	errMsg string // non-empty: the source does not compile
}

type relRef struct {
	root, name string
	off        int
}

// Compile compiles src, an expr-lang expression that starts at pos in its
// file. Errors are *engine.Error at the line and column of the problem.
func Compile(src string, pos engine.Pos) (*Expr, error) {
	c := compileCached(src)
	if c.errMsg != "" {
		return nil, &engine.Error{Pos: advance(pos, src, c.errOff), Msg: c.errMsg}
	}
	return &Expr{src: src, pos: pos, c: c}, nil
}

// Source is the expression's text.
func (e *Expr) Source() string { return e.src }

// Refs lists the expression's references to inputs, cells, secrets and run,
// in source order.
func (e *Expr) Refs() []Ref {
	out := make([]Ref, len(e.c.refs))
	for i, r := range e.c.refs {
		out[i] = Ref{Root: r.root, Name: r.name, Pos: advance(e.pos, e.src, r.off)}
	}
	return out
}

// Eval evaluates the expression. Errors are *engine.Error at the part of
// the expression that failed.
func (e *Expr) Eval(env Env) (any, error) {
	v, err := runProgram(e.c.prog, env)
	if err != nil {
		return nil, e.evalError(err)
	}
	return v, nil
}

// EvalBool evaluates an `if:` condition, which must give a boolean.
func (e *Expr) EvalBool(env Env) (bool, error) {
	v, err := e.Eval(env)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, engine.Errorf(e.pos, "the condition gave %s, not true or false; compare it, e.g. %s != nil", describe(v), e.src)
	}
	return b, nil
}

func (e *Expr) evalError(err error) *engine.Error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &engine.Error{Pos: advance(e.pos, e.src, fe.From), Msg: fe.Message}
	}
	return &engine.Error{Pos: e.pos, Msg: err.Error()}
}

func describe(v any) string {
	if v == nil {
		return "nil"
	}
	s := fmt.Sprintf("%v", v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%T %s", v, s)
}

// advance maps a rune offset in src, which starts at pos, onto its file.
func advance(pos engine.Pos, src string, off int) engine.Pos {
	line, col := pos.Line, pos.Col
	if line <= 0 {
		line = 1
	}
	if col <= 0 {
		col = 1
	}
	n := 0
	for _, r := range src {
		if n >= off {
			break
		}
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
		n++
	}
	return engine.Pos{File: pos.File, Line: line, Col: col}
}

// The compile-time environment: types that let expr-lang check what it can
// (unknown variables, run's fields, secrets being strings) while cells and
// inputs stay untyped, since results are only known at run time.
var compileEnv = map[string]any{
	RootInputs:  map[string]any{},
	RootCells:   map[string]any{},
	RootSecrets: map[string]string{},
	RootRun:     engine.RunInfo{},
}

var compileOptions = []exprlang.Option{
	exprlang.Env(compileEnv),
	exprlang.Function("raw", func(p ...any) (any, error) { return p[0], nil }, new(func(any) any)),
	exprlang.Function("default", func(p ...any) (any, error) {
		if p[0] == nil || p[0] == "" {
			return p[1], nil
		}
		return p[0], nil
	}, new(func(any, any) any)),
}

func compileUncached(src string) *compiled {
	prog, err := exprlang.Compile(src, compileOptions...)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			msg := fe.Message
			if f, ok := strings.CutPrefix(msg, "type engine.RunInfo has no field "); ok {
				msg = "unknown field run." + f + "; use run.id, run.flow, run.version or run.started_at"
			}
			return &compiled{errOff: fe.From, errMsg: msg}
		}
		return &compiled{errMsg: err.Error()}
	}
	c := &compiled{prog: prog}
	node := prog.Node()
	if call, ok := node.(*ast.CallNode); ok && len(call.Arguments) == 1 {
		if id, ok := call.Callee.(*ast.IdentifierNode); ok && id.Value == "raw" {
			c.raw = true
		}
	}
	refs, bad := findRefs(node)
	if bad != nil {
		return &compiled{errOff: bad.Location().From, errMsg: "$env is not available here; use inputs, cells, secrets or run"}
	}
	c.refs = refs
	return c
}

// findRefs walks the tree for member chains rooted at the environment's
// variables. It returns the node of a use of $env, which would let an
// expression reach any variable behind the planner's back.
func findRefs(root ast.Node) ([]relRef, ast.Node) {
	w := &refWalker{member: map[*ast.IdentifierNode]*ast.MemberNode{}}
	ast.Walk(&root, w)
	if w.bad != nil {
		return nil, w.bad
	}
	var refs []relRef
	for _, id := range w.idents {
		r := relRef{root: id.Value, off: id.Location().From}
		if m := w.member[id]; m != nil {
			if s, ok := m.Property.(*ast.StringNode); ok {
				r.name = s.Value
			}
		}
		refs = append(refs, r)
	}
	sort.SliceStable(refs, func(i, j int) bool { return refs[i].off < refs[j].off })
	return refs, nil
}

type refWalker struct {
	idents []*ast.IdentifierNode
	member map[*ast.IdentifierNode]*ast.MemberNode
	bad    ast.Node
}

func (w *refWalker) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		switch n.Value {
		case RootCells, RootInputs, RootSecrets, RootRun:
			w.idents = append(w.idents, n)
		case "$env":
			if w.bad == nil {
				w.bad = n
			}
		}
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok {
			w.member[id] = n
		}
	}
}

// The cache of compiled sources: a template rendered in many runs, or a
// condition evaluated in many runs, is compiled once.
const cacheSize = 4096

var cache = newLRU(cacheSize)

func compileCached(src string) *compiled {
	if c, ok := cache.get(src); ok {
		return c
	}
	c := compileUncached(src)
	cache.put(src, c)
	return c
}

type lru struct {
	mu  sync.Mutex
	max int
	ll  *list.List
	m   map[string]*list.Element
}

type lruEntry struct {
	key string
	val *compiled
}

func newLRU(max int) *lru {
	return &lru{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

func (l *lru) get(key string) (*compiled, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.m[key]; ok {
		l.ll.MoveToFront(el)
		return el.Value.(*lruEntry).val, true
	}
	return nil, false
}

func (l *lru) put(key string, val *compiled) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.m[key]; ok {
		l.ll.MoveToFront(el)
		el.Value.(*lruEntry).val = val
		return
	}
	l.m[key] = l.ll.PushFront(&lruEntry{key: key, val: val})
	for l.ll.Len() > l.max {
		old := l.ll.Back()
		l.ll.Remove(old)
		delete(l.m, old.Value.(*lruEntry).key)
	}
}

func (l *lru) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ll.Len()
}

// A vm.VM is not safe for concurrent use but is reusable; a pool saves its
// stack allocations between evaluations.
var vmPool = sync.Pool{New: func() any { return new(vm.VM) }}

func runProgram(p *vm.Program, env Env) (any, error) {
	m := vmPool.Get().(*vm.VM)
	// OpLoadFast asserts the environment is exactly map[string]any.
	v, err := m.Run(p, map[string]any(env))
	// Drop references to this run's values before pooling.
	clear(m.Stack[:cap(m.Stack)])
	m.Stack = m.Stack[:0]
	clear(m.Variables)
	vmPool.Put(m)
	return v, err
}
