package expr

import (
	"fmt"
	"strings"
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

// BenchmarkParseShell is the check-time cost of the bash parser on a cell
// of twenty lines with placeholders.
func BenchmarkParseShell(b *testing.B) {
	var src strings.Builder
	for i := range 10 {
		fmt.Fprintf(&src, "echo \"step %d: {{ inputs.name }}\" | tee -a log\nif (( {{ inputs.n }} > %d )); then curl -fsS {{ inputs.url }} -o out%d; fi\n", i, i, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTemplate(src.String(), "a.sh", LangShell); err != nil {
			b.Fatal(err)
		}
	}
}
