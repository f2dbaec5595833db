package expr

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/opsbook/opsbook/engine"
)

var at = engine.Pos{File: "flow.yaml", Line: 7, Col: 9}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		pos       engine.Pos
		want      string // the whole error text
	}{
		{"unknown name", "foo + 1", at, "flow.yaml:7:9: unknown name foo"},
		{"on the same line", "1 + foo", at, "flow.yaml:7:13: unknown name foo"},
		{"on a later line", "1 +\n  2 +\n    foo", at, "flow.yaml:9:5: unknown name foo"},
		{"unexpected end", "(1 + 2", engine.Pos{File: "a.expr", Line: 1, Col: 1}, "a.expr:1:6: unexpected token EOF"},
		{"run field", "run.nope", at, "flow.yaml:7:13: unknown field run.nope; use run.id, run.flow, run.version or run.started_at"},
		{"secrets are strings", "secrets.TOKEN.x", at, "flow.yaml:7:23: type string has no field x"},
		{"$env", "$env.cells.a", at, "flow.yaml:7:9: $env is not available here; use inputs, cells, secrets or run"},
		{"unicode columns", "'é' + foo", at, "flow.yaml:7:15: unknown name foo"},
		{"no position", "foo", engine.Pos{}, "unknown name foo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(tt.src, tt.pos)
			if err == nil {
				t.Fatal("no error")
			}
			if _, ok := err.(*engine.Error); !ok {
				t.Fatalf("error is %T, want *engine.Error", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestRefs(t *testing.T) {
	t.Parallel()
	p := func(line, col int) engine.Pos { return engine.Pos{File: "f", Line: line, Col: col} }
	tests := []struct {
		src  string
		want []Ref
	}{
		{"1 + 2", nil},
		{"cells.fetch.status == 200", []Ref{{"cells", "fetch", p(1, 1)}}},
		{`cells["fetch"].body`, []Ref{{"cells", "fetch", p(1, 1)}}},
		{"cells?.fetch?.body ?? 1", []Ref{{"cells", "fetch", p(1, 1)}}},
		{"inputs.day + secrets.TOKEN + run.id", []Ref{{"inputs", "day", p(1, 1)}, {"secrets", "TOKEN", p(1, 14)}, {"run", "id", p(1, 30)}}},
		{"cells[inputs.name]", []Ref{{"cells", "", p(1, 1)}, {"inputs", "name", p(1, 7)}}},
		{"toJSON(cells)", []Ref{{"cells", "", p(1, 8)}}},
		{"sum(map(cells.q.rows, .total))\n + cells.q.affected", []Ref{{"cells", "q", p(1, 9)}, {"cells", "q", p(2, 4)}}},
		{"let x = cells.a.value; x + inputs.n", []Ref{{"cells", "a", p(1, 9)}, {"inputs", "n", p(1, 28)}}},
		{"raw(cells.a.stdout)", []Ref{{"cells", "a", p(1, 5)}}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			e, err := Compile(tt.src, p(1, 1))
			if err != nil {
				t.Fatal(err)
			}
			got := e.Refs()
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("refs\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func testEnv() Env {
	return NewEnv(
		map[string]any{"day": "2025-01-31", "n": 3.0, "name": "q"},
		map[string]any{
			// Go structs, as executors give them, by value and by pointer.
			"sh":  engine.ShellResult{ExitCode: 2, Stdout: "hi\n", Outputs: map[string]any{"count": "7"}},
			"shp": &engine.ShellResult{ExitCode: 0},
			"q": &engine.SQLResult{
				Columns: []string{"total"},
				Rows:    []map[string]any{{"total": 12.5}, {"total": 1.0}},
			},
			"h":  engine.HTTPResult{Status: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: map[string]any{"items": []any{"a", "b"}}},
			"ex": engine.ExprResult{Value: map[string]any{"total": 4.0}},
			// The same shapes as maps, as they come back from JSON.
			"msh": map[string]any{"exit_code": 2.0, "stdout": "hi\n"},
			"mq":  map[string]any{"columns": []any{"total"}, "rows": []any{map[string]any{"total": 12.5}}},
		},
		map[string]string{"TOKEN": "s3cret"},
		engine.RunInfo{ID: "r_1", Flow: "nightly", Version: 3, StartedAt: "2025-01-31T06:00:00Z"},
	)
}

func TestEval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want any
	}{
		{"cells.sh.exit_code", 2},
		{"cells.sh.outputs.count", "7"},
		{"cells.shp.exit_code == 0", true},
		{"cells.q.rows[0].total", 12.5},
		{"cells.q.rows[-1].total + 1", 2.0},
		{"cells.q.columns[0]", "total"},
		{`cells.h.headers["Content-Type"]`, "application/json"},
		{"cells.h.body.items[1]", "b"},
		{"cells.ex.value.total > 3", true},
		{"cells.msh.exit_code", 2.0},
		{"cells.mq.rows[0].total", 12.5},
		{"cells[inputs.name].columns", []string{"total"}},
		{"inputs.day", "2025-01-31"},
		{"inputs.n * 2", 6.0},
		{"secrets.TOKEN", "s3cret"},
		{"run.id + '/' + run.flow + '/' + string(run.version)", "r_1/nightly/3"},
		{"run.started_at", "2025-01-31T06:00:00Z"},
		{"inputs.missing", nil},
		{"cells.msh.missing", nil},
		{"cells.nothere?.value", nil},
		{"cells.sh.outputs.missing ?? 'none'", "none"},
		{"default(inputs.missing, 5)", 5},
		{"default('', 5)", 5},
		{"default(inputs.day, 5)", "2025-01-31"},
		{"raw(1) + 1", 2},
		{"upper(trim(' a '))", "A"},
		{`fromJSON('{"a": [1, 2]}').a[1]`, 2.0},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			e, err := Compile(tt.src, at)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Eval(testEnv())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		env  Env
		want string
	}{
		{"cells.sh.exit_cod", testEnv(), "flow.yaml:7:18: cannot fetch exit_cod from engine.ShellResult"},
		{"cells.nothere.value", testEnv(), "flow.yaml:7:23: cannot fetch value from <nil>"},
		{"1 +\n cells.q.rows[5].total", testEnv(), "flow.yaml:8:14: index out of range: 5 (array length is 2)"},
		{"inputs.day + 1", testEnv(), `flow.yaml:7:20: invalid operation: string + int`},
		{"cells.a.value", Env{}, "flow.yaml:7:15: cannot fetch a from <nil>"},
		{"run.id", Env{}, "flow.yaml:7:13: cannot get id from <nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			e, err := Compile(tt.src, at)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Eval(tt.env)
			if err == nil {
				t.Fatal("no error")
			}
			if _, ok := err.(*engine.Error); !ok {
				t.Fatalf("error is %T, want *engine.Error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestEvalBool(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src     string
		want    bool
		wantErr string
	}{
		{"cells.sh.exit_code == 2", true, ""},
		{"cells.h.status != 200", false, ""},
		{"cells.q.rows", false, "flow.yaml:7:9: the condition gave []map[string]interface {}"},
		{"inputs.missing", false, "flow.yaml:7:9: the condition gave nil, not true or false"},
		{"cells.nothere.x", false, "flow.yaml:7:23: cannot fetch x from <nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			e, err := Compile(tt.src, at)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.EvalBool(testEnv())
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %s…", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompileCachesBySource(t *testing.T) {
	t.Parallel()
	src := "cells.cache_test.value + 41"
	a, err := Compile(src, at)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compile(src, engine.Pos{File: "other.expr", Line: 1, Col: 1})
	if err != nil {
		t.Fatal(err)
	}
	if a.c != b.c {
		t.Error("the same source compiled twice")
	}
	// Positions stay each Expr's own.
	if got := b.Refs()[0].Pos.String(); got != "other.expr:1:1" {
		t.Errorf("ref at %s", got)
	}
	if got := a.Refs()[0].Pos.String(); got != "flow.yaml:7:9" {
		t.Errorf("ref at %s", got)
	}
}

func TestLRUEvicts(t *testing.T) {
	t.Parallel()
	l := newLRU(2)
	a, b, c := &compiled{}, &compiled{}, &compiled{}
	l.put("a", a)
	l.put("b", b)
	if _, ok := l.get("a"); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	l.put("c", c)
	if _, ok := l.get("b"); ok {
		t.Error("b should have been evicted")
	}
	if got, _ := l.get("a"); got != a {
		t.Error("a evicted")
	}
	if got, _ := l.get("c"); got != c {
		t.Error("c missing")
	}
	if l.len() != 2 {
		t.Errorf("len %d", l.len())
	}
}

func TestConcurrentEval(t *testing.T) {
	t.Parallel()
	e, err := Compile("cells.q.rows[0].total + inputs.n", at)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := ParseTemplate("echo {{ cells.sh.stdout }} {{ inputs.n }}", "a.sh", LangShell)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				env := testEnv()
				env["inputs"] = map[string]any{"n": float64(i*1000 + j)}
				v, err := e.Eval(env)
				if err != nil || v != 12.5+float64(i*1000+j) {
					t.Errorf("got %v, %v", v, err)
					return
				}
				// Compile concurrently too: the cache is shared.
				if _, err := Compile(fmt.Sprintf("inputs.n + %d", j%50), at); err != nil {
					t.Error(err)
					return
				}
				out, params, err := tm.Render(env)
				want := []any{ShellVar(0) + "=hi\n", fmt.Sprintf("%s=%d", ShellVar(1), i*1000+j)}
				if err != nil || out != `echo "${OPSBOOK_VALUE_1}" "${OPSBOOK_VALUE_2}"` || !reflect.DeepEqual(params, want) {
					t.Errorf("got %q %q, %v; want %q", out, params, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
