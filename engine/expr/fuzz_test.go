package expr

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/opsbook/opsbook/engine"
)

// FuzzParseTemplate parses any source in every language, and renders what
// parses with an empty environment and with hostile inputs: nothing panics,
// and errors are positioned.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{
		"", "plain", "{{", "}}", "{{ }}", "{{ inputs.x }}", `{{ "}}" }}`, "{{ '{{' }}", "{{ `a` }}",
		`{{ {"a": {"b": 1}} }}`, "echo {{ inputs.x }} '{{ inputs.x }}' \"{{ inputs.x }}\"",
		"cat <<EOF\n{{ inputs.x }}\nEOF\n", "x = {{ inputs.x }} # {{ cells.a.b }}", "x = '''{{ inputs.x }}'''",
		"GET /a/{{ inputs.x }}\nContent-Type: application/json\n\n{\"a\": \"{{ inputs.x }}\", \"b\": {{ inputs.x }}}",
		"POST /\ncontent-type: application/x-www-form-urlencoded\n\na={{ inputs.x }}",
		"select {{ inputs.x }}, {{ raw(inputs.x) }}", "{{ cells[inputs.x].y }}", "{{ 1 +\n }}", "{{ \"\\\"}} }}",
		"é{{ foo }}\n{{ inputs.x", "{{{ x }}}", "{{ $env }}", "echo \\{{ inputs.x }} ${{ inputs.x }} `{{ inputs.x }}`",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		for l := LangText; l <= LangHTTP; l++ {
			tm, err := ParseTemplate(src, "f", l)
			if err != nil {
				var es engine.Errors
				if !errors.As(err, &es) || len(es) == 0 {
					t.Fatalf("%s: error %T %v, want engine.Errors", l, err, err)
				}
				for _, e := range es {
					if e.Pos.File != "f" || e.Pos.Line < 1 || e.Pos.Col < 1 {
						t.Fatalf("%s: error without a position: %v", l, e)
					}
				}
				continue
			}
			for _, env := range []Env{{}, nil, NewEnv(map[string]any{"x": "'\"$(id)\n`\\"}, map[string]any{}, nil, engine.RunInfo{})} {
				out, params, err := tm.Render(env)
				if err != nil {
					var e *engine.Error
					if !errors.As(err, &e) {
						t.Fatalf("%s: render error %T %v, want *engine.Error", l, err, err)
					}
					continue
				}
				if l != LangSQL && params != nil {
					t.Fatalf("%s: params %v", l, params)
				}
				if tm.Static() && out != src {
					t.Fatalf("%s: static template rendered %q from %q", l, out, src)
				}
			}
		}
	})
}

// unquoteShell reads back one word made of single-quoted parts and \'.
func unquoteShell(w string) (string, bool) {
	var b strings.Builder
	for len(w) > 0 {
		switch {
		case strings.HasPrefix(w, `\'`):
			b.WriteByte('\'')
			w = w[2:]
		case w[0] == '\'':
			end := strings.IndexByte(w[1:], '\'')
			if end < 0 {
				return "", false
			}
			b.WriteString(w[1 : 1+end])
			w = w[end+2:]
		default:
			return "", false
		}
	}
	return b.String(), true
}

// FuzzEncodeShell checks that the quoted form of any string is one word
// that reads back as the string (bash itself runs in TestShellQuoteRoundTrip).
func FuzzEncodeShell(f *testing.F) {
	for _, s := range []string{"", "'", "it's", "a'b'c''", "$(id)", "`id`", "\\", "\n", "é😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := ShellQuote(s)
		if !strings.HasPrefix(q, "'") || !strings.HasSuffix(q, "'") || len(q) < 2 {
			t.Fatalf("%q is not single-quoted", q)
		}
		got, ok := unquoteShell(q)
		if !ok || got != s {
			t.Fatalf("%q reads back as %q (%v), want %q", q, got, ok, s)
		}
	})
}

// unquotePython reads back the escapes appendPythonString writes.
func unquotePython(lit string) (string, bool) {
	if len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' {
		return "", false
	}
	body := lit[1 : len(lit)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\'' || c == '\n' || c == '\r':
			return "", false // would end the literal or the line
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(body) {
			return "", false
		}
		hexlen := 0
		switch body[i] {
		case '\\', '\'':
			b.WriteByte(body[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'x':
			hexlen = 2
		case 'u':
			hexlen = 4
		case 'U':
			hexlen = 8
		default:
			return "", false
		}
		if hexlen > 0 {
			if i+hexlen >= len(body)+1 {
				return "", false
			}
			var r rune
			for _, h := range body[i+1 : i+1+hexlen] {
				v := strings.IndexRune("0123456789abcdef", h)
				if v < 0 {
					return "", false
				}
				r = r<<4 | rune(v)
			}
			b.WriteRune(r)
			i += hexlen
		}
	}
	return b.String(), true
}

// FuzzEncodePython checks that the literal of any string holds only
// printable characters and valid escapes, and reads back as the string
// (invalid UTF-8 as U+FFFD); python3 itself runs in
// TestPythonLiteralRoundTrip.
func FuzzEncodePython(f *testing.F) {
	for _, s := range []string{"", "'", `\`, "\x00", "\xff", "a\nb", "é😀", "\u2028", "\U000E0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lit, err := PythonLiteral(s)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(lit) {
			t.Fatalf("%q is not UTF-8", lit)
		}
		got, ok := unquotePython(lit)
		var want strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			want.WriteRune(r) // RuneError for an invalid byte
			i += size
		}
		if !ok || got != want.String() {
			t.Fatalf("%s reads back as %q (%v), want %q", lit, got, ok, want.String())
		}
	})
}
