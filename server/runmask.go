package server

import (
	"encoding/json"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/views"
)

// proseOf is a markdown cell's prose for a run page: the text it rendered
// in the run, or its source before it ran, sanitized.
func proseOf(c engine.Cell, o *views.CellOutput) string {
	if c.Kind != engine.KindMarkdown {
		return ""
	}
	text := c.Source
	var res engine.MarkdownResult
	if len(o.Result) > 0 && json.Unmarshal(o.Result, &res) == nil && res.Text != "" {
		text = res.Text
	}
	return Markdown(text)
}

// maskRunProps masks every secret of the workspace wherever a run page
// shows text: the engine masks what a run was given, this also catches a
// value pasted into code or printed by a cell that was not given it.
func maskRunProps(m *run.Masker, p *views.RunProps) {
	if !m.Active() {
		return
	}
	p.Error = m.String(p.Error)
	for k, v := range p.Inputs {
		if s, ok := v.(string); ok {
			p.Inputs[k] = m.String(s)
		}
	}
	for i := range p.Cells {
		c := &p.Cells[i]
		c.Source = m.String(c.Source)
		c.HTML = m.String(c.HTML)
		c.Output.Error = m.String(c.Output.Error)
		for j := range c.Output.Head {
			c.Output.Head[j].Text = m.String(c.Output.Head[j].Text)
		}
		for j := range c.Output.Lines {
			c.Output.Lines[j].Text = m.String(c.Output.Lines[j].Text)
		}
		c.Output.Result = maskJSON(m, c.Output.Result)
	}
}

// maskJSON masks a JSON value; it stays valid JSON since "***" needs no
// escaping and the masker replaces JSON-escaped forms whole.
func maskJSON(m *run.Masker, raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || !m.Active() {
		return raw
	}
	out := m.String(string(raw))
	if out == string(raw) {
		return raw
	}
	if !json.Valid([]byte(out)) {
		b, _ := json.Marshal(map[string]string{"masked": "this result held a secret and is hidden"})
		return b
	}
	return json.RawMessage(out)
}

// maskBytes masks a socket message or a log line.
func maskBytes(m *run.Masker, b []byte) []byte {
	if !m.Active() {
		return b
	}
	s := m.String(string(b))
	if s == string(b) {
		return b
	}
	return []byte(s)
}
