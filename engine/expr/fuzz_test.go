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
		for l := LangText; l <= LangMarkdown; l++ {
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
				if l != LangSQL && l != LangShell && params != nil {
					t.Fatalf("%s: params %v", l, params)
				}
				if tm.Static() && out != src {
					t.Fatalf("%s: static template rendered %q from %q", l, out, src)
				}
			}
		}
	})
}

// FuzzShellPlaceholders parses any shell script with the bash parser and
// checks the accounting of its placeholders: each one that renders is a
// number or one reference to its own environment variable, and the
// variables are passed, in order, exactly as often as they are referred to.
func FuzzShellPlaceholders(f *testing.F) {
	for _, s := range []string{
		"echo {{ inputs.x }}", `echo "a {{ inputs.x }} b"`, "cat <<EOF\n{{ inputs.x }}\nEOF\n", "cat <<'EOF'\n{{ inputs.x }}\nEOF\n",
		"(( {{ inputs.x }} ))", "echo $(( {{ inputs.x }} + 1 ))", "let a={{ inputs.x }}", "a[{{ inputs.x }}]=1",
		"f() { local -i c={{ inputs.x }}; }", "declare -i x; x={{ inputs.x }}", "[[ -v {{ inputs.x }} ]]",
		"echo ${v:0:{{ inputs.x }}}", "printf -v {{ inputs.x }} %s", "read {{ inputs.x }}", "eval {{ inputs.x }}",
		"bash -c {{ inputs.x }}", "echo `{{ inputs.x }}`", "echo $'{{ inputs.x }}'", "{{ inputs.x }} arg",
		"v={{ inputs.x }}; (( v ))", "echo ${x:-{{ inputs.x }}}", "# {{ inputs.x }}", "echo {{ raw(inputs.x) }}",
		"echo \\{{ inputs.x }}", "echo ${{ inputs.x }}", "x=({{ inputs.x }}); echo ${x[0]}", "if then {{ inputs.x }}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tm, err := ParseTemplate(src, "f.sh", LangShell)
		if err != nil {
			return
		}
		if uses, err := tm.ShellEnv([]string{"X", "PS4"}); err == nil && !uses["PS4"].Code {
			t.Fatalf("PS4 is not code: %+v", uses)
		}
		vars := 0
		for _, s := range tm.segs {
			switch {
			case s.expr == nil || s.raw:
			case s.ctx == ctxShellVar || s.ctx == ctxShellVarDQ:
				if s.n != vars {
					t.Fatalf("placeholder at %v has variable %d, want %d", s.pos, s.n, vars)
				}
				vars++
			case s.ctx == ctxShellNumber || s.ctx == ctxShellArith:
				if s.why == "" {
					t.Fatalf("number at %v without a reason", s.pos)
				}
			default:
				t.Fatalf("placeholder at %v in context %d", s.pos, s.ctx)
			}
		}
		for _, v := range []any{"7", "-7", "a[$(id)]"} {
			out, params, err := tm.Render(NewEnv(map[string]any{"x": v}, nil, nil, engine.RunInfo{}))
			if err != nil {
				continue
			}
			if len(params) != vars {
				t.Fatalf("%d variables passed, want %d", len(params), vars)
			}
			for i, p := range params {
				name := ShellVar(i)
				if !strings.HasPrefix(p.(string), name+"=") {
					t.Fatalf("param %d is %q, want %s=…", i, p, name)
				}
				if n := strings.Count(out, "${"+name+"}"); n != 1 {
					t.Fatalf("%s is referred to %d times in %q", name, n, out)
				}
			}
			if strings.Count(out, ShellVarPrefix) != vars {
				t.Fatalf("%q refers to %d variables, want %d", out, strings.Count(out, ShellVarPrefix), vars)
			}
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
