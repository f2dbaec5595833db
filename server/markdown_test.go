package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/views"
)

func TestMarkdownInert(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"<script>alert(1)</script>",
		"[x](javascript:alert(1))",
		`<img src=x onerror="alert(1)">`,
		`<a href="#" onclick="alert(1)">x</a>`,
		"<iframe src=//evil></iframe>",
	} {
		out := strings.ToLower(Markdown(src))
		for _, bad := range []string{"<script", "javascript:", "onerror", "onclick", "<iframe"} {
			if strings.Contains(out, bad) {
				t.Errorf("Markdown(%q) = %q keeps %q", src, out, bad)
			}
		}
	}
	if got := Markdown("# Title\n\n**bold**"); !strings.Contains(got, "<h1") || !strings.Contains(got, "<strong>bold</strong>") {
		t.Errorf("markdown not rendered: %q", got)
	}
}

type eventList []engine.Event

func (l *eventList) Emit(e *engine.Event) { *l = append(*l, *e) }

// TestMarkdownValueIsText: a run-form value in a markdown cell is shown as
// the text it is on the run page, never as a heading, a link or HTML.
func TestMarkdownValueIsText(t *testing.T) {
	t.Parallel()
	value := "# Sign in again\n[here](https://evil.example) <b>x</b> &amp; www.evil.example *a* `c` | t |\n1. one\n---"
	f := &engine.Flow{
		Inputs: []engine.Input{{Name: "msg", Type: engine.InputString}},
		Cells:  []engine.Cell{{Name: "note", Kind: engine.KindMarkdown, File: "note.md", Source: "## Notes\n\nThe message: {{ inputs.msg }}\n"}},
	}
	p, err := run.Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	var evs eventList
	if _, err := p.Run(context.Background(), run.Options{ID: "r_md", Flow: "md", Inputs: map[string]any{"msg": value}, Sink: &evs}); err != nil {
		t.Fatal(err)
	}
	var res json.RawMessage
	for _, e := range evs {
		if e.Type == engine.EventCellFinished {
			res = e.Result
		}
	}
	html := proseOf(f.Cells[0], &views.CellOutput{Result: res})
	if !strings.Contains(html, "<h2>Notes</h2>") {
		t.Errorf("the cell's own markdown is not rendered: %s", html)
	}
	for _, bad := range []string{"<h1", "<a ", "<b>", "<em>", "<code>", "<ol", "<hr", "<table", "<li"} {
		if strings.Contains(html, bad) {
			t.Errorf("the value became markup %q: %s", bad, html)
		}
	}
	for _, want := range []string{"# Sign in again", "[here](https://evil.example)", "&lt;b&gt;x&lt;/b&gt;", "&amp;amp;", "www.evil.example", "*a*", "`c`", "1. one"} {
		if !strings.Contains(html, want) {
			t.Errorf("the value's text %q is not on the page: %s", want, html)
		}
	}
}
