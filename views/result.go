package views

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opsbook/opsbook/engine"
)

// tableRows caps the rows a result table shows.
const tableRows = 200

// resultModel is a cell's result shaped for the page, by cell kind: a table
// for SQL rows and lists of objects, a status line for HTTP, an inline value
// for expressions, indented JSON for other structures.
type resultModel struct {
	HTTPStatus int
	// HTTPAccepted: the cell took the answer (2xx, or one its expect_status
	// lists), so the chip is green whatever the code.
	HTTPAccepted bool
	Note         string
	Inline       string
	Table        *tableModel
	JSON         string
}

type tableModel struct {
	Columns []string
	Rows    [][]string
	Note    string
}

func (r resultModel) empty() bool {
	return r.HTTPStatus == 0 && r.Note == "" && r.Inline == "" && r.Table == nil && r.JSON == ""
}

func decodeJSON(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// cellResult is the result of a cell that ended with status: an http
// answer is accepted when the cell succeeded (a cell fails on an answer it
// does not accept), and, before the cell has ended, when it is 2xx or 3xx.
func cellResult(kind, status string, raw json.RawMessage) resultModel {
	r := buildResult(kind, raw)
	switch status {
	case string(engine.CellSucceeded):
		r.HTTPAccepted = true
	case string(engine.CellFailed):
		r.HTTPAccepted = false
	default:
		r.HTTPAccepted = r.HTTPStatus < 400
	}
	return r
}

func buildResult(kind string, raw json.RawMessage) resultModel {
	if len(raw) == 0 || string(raw) == "null" {
		return resultModel{}
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return resultModel{JSON: string(raw)}
	}
	obj, _ := v.(map[string]any)
	if obj == nil {
		return valueModel(v)
	}
	switch kind {
	case "sql":
		cols, ok1 := obj["columns"].([]any)
		rows, ok2 := obj["rows"].([]any)
		if ok1 && ok2 {
			var r resultModel
			if len(cols) > 0 {
				names := make([]string, len(cols))
				for i, c := range cols {
					names[i] = jsonText(c)
				}
				r.Table = table(names, rows)
				if len(rows) <= tableRows {
					// The cell's log already says how many rows ("2 rows"):
					// under the table only that it was cut.
					r.Table.Note = ""
				}
			}
			if n, ok := obj["affected"].(json.Number); ok && n.String() != "0" {
				r.Note = n.String() + " rows affected"
			}
			return r
		}
	case "http":
		if st, ok := obj["status"].(json.Number); ok {
			n, _ := st.Int64()
			r := resultModel{}
			if body, ok := obj["body"]; ok && body != nil && body != "" {
				r = valueModel(body)
			}
			r.HTTPStatus = int(n)
			return r
		}
	case "expr":
		if val, ok := obj["value"]; ok {
			return valueModel(val)
		}
	case "shell", "python":
		if _, ok := obj["exit_code"].(json.Number); ok {
			// A non-zero exit is said once, by the cell's error ("exit
			// status 3"), not again under its outputs.
			var r resultModel
			if outs, ok := obj["outputs"].(map[string]any); ok && len(outs) > 0 {
				r = valueModel(outs)
			}
			return r
		}
	case "markdown":
		return resultModel{}
	}
	return valueModel(v)
}

func valueModel(v any) resultModel {
	switch v := v.(type) {
	case []any:
		if len(v) > 0 && allObjects(v) {
			var cols []string
			seen := map[string]bool{}
			for _, row := range v[:min(len(v), tableRows)] {
				for _, k := range sortedKeys(row.(map[string]any)) {
					if !seen[k] && len(cols) < 50 {
						seen[k] = true
						cols = append(cols, k)
					}
				}
			}
			return resultModel{Table: table(cols, v)}
		}
	case map[string]any:
	default:
		if s, ok := v.(string); ok {
			b, _ := json.Marshal(s)
			return resultModel{Inline: string(b)}
		}
		return resultModel{Inline: jsonText(v)}
	}
	// The page escapes the text; JSON's own \u003c escaping would only hurt reading.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return resultModel{JSON: fmt.Sprint(v)}
	}
	return resultModel{JSON: strings.TrimSuffix(b.String(), "\n")}
}

func allObjects(list []any) bool {
	for _, x := range list {
		if _, ok := x.(map[string]any); !ok {
			return false
		}
	}
	return true
}

// table shapes rows (objects keyed by column, or arrays) into text cells.
func table(cols []string, rows []any) *tableModel {
	t := &tableModel{Columns: cols}
	for _, row := range rows[:min(len(rows), tableRows)] {
		cells := make([]string, len(cols))
		for i, c := range cols {
			switch r := row.(type) {
			case map[string]any:
				cells[i] = jsonText(r[c])
			case []any:
				if i < len(r) {
					cells[i] = jsonText(r[i])
				}
			}
		}
		t.Rows = append(t.Rows, cells)
	}
	if len(rows) > tableRows {
		t.Note = fmt.Sprintf("showing %d of %d rows", tableRows, len(rows))
	} else if len(rows) == 1 {
		t.Note = "1 row"
	} else {
		t.Note = fmt.Sprintf("%d rows", len(rows))
	}
	return t
}
