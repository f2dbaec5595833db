package expr

import (
	"testing"

	"github.com/opsbook/opsbook/engine"
)

func BenchmarkEval(b *testing.B) {
	env := NewEnv(nil, map[string]any{"a": engine.ExprResult{Value: 41}}, nil, engine.RunInfo{})
	b.ReportAllocs()
	for b.Loop() {
		// Compile is part of the loop: after the first, it is a cache hit.
		e, err := Compile("cells.a.value + 1", engine.Pos{File: "a.expr", Line: 1, Col: 1})
		if err != nil {
			b.Fatal(err)
		}
		if v, err := e.Eval(env); err != nil || v != 42 {
			b.Fatal(v, err)
		}
	}
}

func BenchmarkRenderShell(b *testing.B) {
	tm, err := ParseTemplate("curl -fsS {{ inputs.url }} -o {{ cells.fetch.outputs.file }}\n", "a.sh", LangShell)
	if err != nil {
		b.Fatal(err)
	}
	env := NewEnv(map[string]any{"url": "https://example.test/it's"},
		map[string]any{"fetch": &engine.ShellResult{Outputs: map[string]any{"file": "out.json"}}}, nil, engine.RunInfo{})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tm.Render(env); err != nil {
			b.Fatal(err)
		}
	}
}
