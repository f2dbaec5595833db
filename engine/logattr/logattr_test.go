package logattr

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// logMethods are the slog.Logger methods whose arguments are key-value
// pairs; slogFuncs the package's attribute constructors (slog.String(…)).
var (
	logMethods = []string{"Debug", "Info", "Warn", "Error", "DebugContext", "InfoContext", "WarnContext", "ErrorContext", "Log", "LogAttrs", "With"}
	slogFuncs  = []string{"String", "Any", "Int", "Int64", "Uint64", "Float64", "Bool", "Duration", "Time", "Group", "Attr"}
)

// msgIndex is where a log method's message is among its arguments (-1:
// it has none).
func msgIndex(method string) int {
	switch {
	case method == "With":
		return -1
	case method == "Log" || method == "LogAttrs":
		return 2 // ctx, level, msg
	case strings.HasSuffix(method, "Context"):
		return 1
	}
	return 0
}

// literalKeys reports where src writes a reserved key as a string literal
// in a log call, an slog attribute, or a []any of log arguments.
func literalKeys(fset *token.FileSet, f *ast.File) []string {
	var found []string
	check := func(args []ast.Expr, msg int) {
		for i, a := range args {
			if i == msg {
				continue // the message, not a key
			}
			lit, ok := a.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			if v, err := strconv.Unquote(lit.Value); err == nil && slices.Contains(Reserved, v) {
				found = append(found, fset.Position(lit.Pos()).String()+": "+lit.Value)
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, _ := sel.X.(*ast.Ident)
			name := sel.Sel.Name
			switch {
			case slices.Contains(logMethods, name):
				check(n.Args, msgIndex(name))
			case pkg != nil && pkg.Name == "slog" && slices.Contains(slogFuncs, name):
				check(n.Args, -1)
			}
		case *ast.CompositeLit:
			if at, ok := n.Type.(*ast.ArrayType); ok {
				if it, ok := at.Elt.(*ast.InterfaceType); ok && len(it.Methods.List) == 0 {
					check(n.Elts, -1)
				}
				if id, ok := at.Elt.(*ast.Ident); ok && id.Name == "any" {
					check(n.Elts, -1)
				}
			}
		}
		return true
	})
	return found
}

// TestNoLiteralKeys: no production file logs run, flow, cell, user… as a
// literal key, where its value's meaning could drift (a flow's slug here, its
// id there); they go through this package's constructors.
func TestNoLiteralKeys(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..") // the module's root
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.Base(filepath.Dir(path)) == "logattr" {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		for _, where := range literalKeys(fset, f) {
			t.Errorf("%s: a log key written as a literal; use logattr (engine/logattr)", where)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files: is %s the module's root?", checked, root)
	}
}

// TestLiteralKeysFound: the scan sees each way a key can be written.
func TestLiteralKeysFound(t *testing.T) {
	t.Parallel()
	src := `package p
func f() {
	log.Info("x", "run", id)
	log.With("flow", id).Warn("y")
	slog.String("user", name)
	_ = []any{"cell", c}
	fs.String("user", "", "a flag, not a log key")
	log.Info("x", logattr.Run(id), "status", s)
	log.Info("run", "n", 1)
	log.LogAttrs(ctx, slog.LevelInfo, "request", slog.Int("status", 200))
	log.WarnContext(ctx, "user", "user", u)
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := literalKeys(fset, f)
	want := []string{`p.go:3:16: "run"`, `p.go:4:11: "flow"`, `p.go:5:14: "user"`, `p.go:6:12: "cell"`, `p.go:11:31: "user"`}
	if !slices.Equal(got, want) {
		t.Errorf("found %q, want %q", got, want)
	}
}

func TestHandlerAddsRequest(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).With(Run("r_1"))
	log.InfoContext(WithRequest(context.Background(), "q_7"), "with", Cell("build"))
	log.Info("without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	var a, b map[string]any
	json.Unmarshal([]byte(lines[0]), &a)
	json.Unmarshal([]byte(lines[1]), &b)
	if a[KeyRequest] != "q_7" || a[KeyRun] != "r_1" || a[KeyCell] != "build" {
		t.Errorf("first line %v: want request q_7, run r_1, cell build", a)
	}
	if _, ok := b[KeyRequest]; ok {
		t.Errorf("a line without a request's context has one: %v", b)
	}
	if h := NewHandler(NewHandler(slog.DiscardHandler)); h != NewHandler(slog.DiscardHandler) {
		t.Error("wrapping twice wraps twice")
	}
}
