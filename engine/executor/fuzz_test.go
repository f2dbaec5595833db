package executor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/opsbook/opsbook/engine"
)

// FuzzSplitStatements: the splitter is the boundary between a cell's SQL
// and the values bound into it. Whatever the source, a marker never reaches
// a driver as text: it becomes a placeholder, or the cell is refused; each
// statement starts on a line of the source; and a statement split again is
// itself, whole.
func FuzzSplitStatements(f *testing.F) {
	m := engine.ParamMarker
	for _, s := range []string{
		"select 1; select 2",
		"insert into t values (" + m(0) + ", " + m(1) + "); select " + m(1) + "::int, " + m(2),
		"create trigger t after insert on x begin update y set a = 1; end; select 1",
		"create function f() returns int as $body$ begin; return 1; end $body$ language plpgsql;\ndo $$ begin perform 1; end $$;",
		"/* a /* b; */ c; */ select E'x\\';y', $1, a$b$c from t",
		"select '" + m(0) + "'",
		"select [a;b], `c;d`, \"e;f\" -- g;" + m(3) + "\n;",
		"select 'abc; select 2",
		"select \x00p\x00, \x00p1",
		"select \x00p99999999999999999999\x00",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, src string, postgres bool) {
		d := dialectSQLite
		if postgres {
			d = dialectPostgres
		}
		stmts, err := splitStatements(src, d)
		if err != nil {
			var pe *engine.Error
			if !errors.As(err, &pe) || pe.Pos.Line < 1 || pe.Pos.Line > strings.Count(src, "\n")+1 || pe.Pos.Col < 1 {
				t.Fatalf("error %v is not an *engine.Error at a line of the source", err)
			}
			return
		}
		lines := strings.Count(src, "\n") + 1
		prev := 1
		for _, st := range stmts {
			if strings.IndexByte(st.Text, 0) >= 0 {
				t.Fatalf("a marker's byte reached the statement %q", st.Text)
			}
			if strings.TrimSpace(st.Text) != st.Text || st.Text == "" {
				t.Fatalf("statement %q is empty or not trimmed", st.Text)
			}
			if st.Line < prev || st.Line > lines {
				t.Fatalf("statement %q at line %d (previous %d, %d lines)", st.Text, st.Line, prev, lines)
			}
			prev = st.Line
			for k, p := range st.Params {
				if p < 0 {
					t.Fatalf("parameter index %d", p)
				}
				if d == dialectPostgres && !strings.Contains(st.Text, "$"+strconv.Itoa(k+1)) {
					t.Fatalf("statement %q binds %d values but has no $%d", st.Text, len(st.Params), k+1)
				}
			}
			if d == dialectSQLite && strings.Count(st.Text, "?") < len(st.Params) {
				t.Fatalf("statement %q binds %d values with fewer ?", st.Text, len(st.Params))
			}
			if strings.IndexByte(src, 0) >= 0 {
				continue // placeholders in the text are not markers: splitting again differs
			}
			again, err := splitStatements(st.Text, d)
			if err != nil || len(again) != 1 || again[0].Text != st.Text || len(again[0].Params) != 0 {
				t.Fatalf("statement %q split again: %v, %v", st.Text, again, err)
			}
		}
	})
}

var outputLineErr = regexp.MustCompile(`^\$OPSBOOK_OUTPUT line ([0-9]+): `)

// FuzzParseOutputs: $OPSBOOK_OUTPUT is written by the cell's own code.
// Whatever it holds, ParseOutputs gives a map of keys without blanks and
// values of JSON's kinds (numbers converted), or an error naming a line of
// the file; and the outputs written back as JSON read the same.
func FuzzParseOutputs(f *testing.F) {
	for _, s := range []string{
		"a=1\nb=two words\n",
		"k<<EOF\nline 1\nline 2\nEOF\n",
		"k<<EOF\r\nx\r\nEOF\r\n",
		`{"n": 3, "f": 1.5, "big": 1e400, "i": 12345678901234567890, "l": [1, {"x": null}], "b": true}`,
		"{} {}",
		"{\"a\":",
		"a b=1",
		"k<< \n",
		"k<<EOF\nunterminated",
		"=x<<EOF\nv\nEOF",
		"just words",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := ParseOutputs(data)
		if err != nil {
			m := outputLineErr.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error %q names no line", err)
			}
			if n, _ := strconv.Atoi(m[1]); n < 1 || n > strings.Count(string(data), "\n")+1 {
				t.Fatalf("error %q names a line the file does not have", err)
			}
			return
		}
		if out == nil {
			t.Fatal("nil map without an error")
		}
		isJSON := bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))
		for k, v := range out {
			if !isJSON && (k == "" || strings.ContainsAny(k, " \t=\n")) {
				t.Fatalf("key %q", k)
			}
			if !isJSON {
				if _, ok := v.(string); !ok {
					t.Fatalf("line value %v is a %T", v, v)
				}
			}
			checkKinds(t, v)
		}
		// Written back as JSON (as a cell would write them), the outputs
		// read the same; numbers may change kind once (3.0 becomes 3), and
		// invalid UTF-8 becomes U+FFFD.
		back, err := ParseOutputs(marshal(t, out))
		if err != nil {
			t.Fatalf("outputs %v written back as JSON: %v", out, err)
		}
		again, err := ParseOutputs(marshal(t, back))
		if err != nil || !reflect.DeepEqual(again, back) {
			t.Fatalf("outputs written back as JSON changed:\n%#v\n%#v (%v)", back, again, err)
		}
		if !isJSON && utf8.Valid(data) && !reflect.DeepEqual(back, out) {
			t.Fatalf("line outputs %v read back from JSON as %v", out, back)
		}
	})
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return b
}

// checkKinds fails on a value of a kind outputs never hold.
func checkKinds(t *testing.T, v any) {
	t.Helper()
	switch v := v.(type) {
	case nil, bool, string, int64, float64:
	case map[string]any:
		for _, e := range v {
			checkKinds(t, e)
		}
	case []any:
		for _, e := range v {
			checkKinds(t, e)
		}
	default:
		t.Fatalf("output value %s is a %T", fmt.Sprint(v), v)
	}
}
