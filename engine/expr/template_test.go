package expr

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
)

func TestParseTemplateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		lang      Lang
		want      []string
	}{
		{"unclosed", "a\nb {{ inputs.x", LangText, []string{"t:2:3: unclosed {{: end the placeholder with }}"}},
		{"unclosed string", `a {{ "x }}`, LangText, []string{"t:1:3: unclosed {{: the string that starts at 1:6 is not closed"}},
		{"empty", "a {{ }} b {{}}", LangText, []string{
			`t:1:3: empty {{ }}: write an expression inside, e.g. {{ inputs.day }}, or {{ "{{" }} for literal braces`,
			`t:1:11: empty {{ }}: write an expression inside, e.g. {{ inputs.day }}, or {{ "{{" }} for literal braces`,
		}},
		{"every compile error", "x {{ foo }}\n  y {{ 1 +\n (2 }} {{ ok }}", LangText, []string{
			"t:1:6: unknown name foo",
			"t:3:4: unexpected token EOF",
			"t:3:11: unknown name ok",
		}},
		{"after unicode", "é {{ foo }}", LangText, []string{"t:1:6: unknown name foo"}},
		{"errors then unclosed", "{{ foo }} {{ x", LangText, []string{"t:1:4: unknown name foo", "t:1:11: unclosed {{: end the placeholder with }}"}},
		{"shell single quotes", `echo 'hi {{ inputs.x }}'`, LangShell, []string{`t:1:10: a placeholder inside '…' quotes: the shell expands nothing there; write it outside the quotes or inside "…", e.g. echo 'Hello, '{{ inputs.name }} or echo "Hello, {{ inputs.name }}"`}},
		{"python string", "print('hi {{ inputs.x }}')", LangPython, []string{`t:1:11: a placeholder inside a Python string: its value becomes a Python literal, so write it outside the quotes, e.g. "Hello, " + {{ inputs.name }}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tm, err := ParseTemplate(tt.src, "t", tt.lang)
			if tm != nil || err == nil {
				t.Fatal("no error")
			}
			var es engine.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want engine.Errors", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestTemplateRefsAndStatic(t *testing.T) {
	t.Parallel()
	tm, err := ParseTemplate("echo hi\necho {{ cells.a.stdout }} {{ inputs.day }}", "a.sh", LangShell)
	if err != nil {
		t.Fatal(err)
	}
	want := []Ref{
		{"cells", "a", engine.Pos{File: "a.sh", Line: 2, Col: 9}},
		{"inputs", "day", engine.Pos{File: "a.sh", Line: 2, Col: 30}},
	}
	if got := tm.Refs(); !reflect.DeepEqual(got, want) {
		t.Errorf("refs\n got %+v\nwant %+v", got, want)
	}
	if tm.Static() {
		t.Error("Static with placeholders")
	}
	st, err := ParseTemplate("echo '}}' {", "b.sh", LangShell)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Static() || len(st.Refs()) != 0 {
		t.Error("not static")
	}
	if out, _, err := st.Render(nil); err != nil || out != "echo '}}' {" {
		t.Errorf("got %q, %v", out, err)
	}
}

func render(t *testing.T, src string, lang Lang, vars map[string]any) (string, []any) {
	t.Helper()
	tm, err := ParseTemplate(src, "t", lang)
	if err != nil {
		t.Fatal(err)
	}
	out, params, err := tm.Render(NewEnv(vars, testEnv()["cells"].(map[string]any), nil, engine.RunInfo{ID: "r_1"}))
	if err != nil {
		t.Fatal(err)
	}
	return out, params
}

type tagged struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Skip  string `json:"-"`
}

var vars = map[string]any{
	"s":      "it's",
	"evil":   "a'; rm -rf / #\n$(id) `id` \"q\" \\",
	"n":      3.0,
	"f":      2.5,
	"neg":    -3.0,
	"big":    1e21,
	"i":      42,
	"t":      true,
	"nil":    nil,
	"list":   []any{1.0, "two", nil},
	"map":    map[string]any{"b": 1.0, "a": []any{true}},
	"struct": tagged{Name: "x", Count: 2, Skip: "no"},
	"nan":    math.NaN(),
	"inf":    math.Inf(-1),
	"uni":    "é\u0000\u2028\U0001F600",
}

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		lang      Lang
		want      string
	}{
		{"text", "{{ inputs.s }} {{ inputs.n }} {{ inputs.f }} {{ inputs.i }} {{ inputs.t }} [{{ inputs.nil }}] {{ inputs.big }}", LangText, "it's 3 2.5 42 true [] 1e+21"},
		{"text composite", "{{ inputs.list }} {{ inputs.map }} {{ inputs.struct }}", LangText, `[1,"two",null] {"a":[true],"b":1} {"count":2,"name":"x"}`},
		{"text literal braces", `{{ "{{" }} x }} {{ "}}" }}`, LangText, "{{ x }} }}"},
		{"text map literal", `{{ {"a": {"b": 1}} }}`, LangText, `{"a":{"b":1}}`},
		{"text struct results", "{{ cells.sh.exit_code }} {{ cells.q.rows[0].total }}", LangText, "2 12.5"},

		{"shell raw", "{{ raw(inputs.s) }} {{ raw(upper(inputs.s)) }}", LangShell, "it's IT'S"},
		{"shell raw not outermost", "echo {{ upper(raw(inputs.s)) }}", LangShell, `echo "${OPSBOOK_VALUE_1}"`},

		{"python scalars", "x = [{{ inputs.s }}, {{ inputs.n }}, {{ inputs.f }}, {{ inputs.neg }}, {{ inputs.i }}, {{ inputs.t }}, {{ inputs.nil }}, {{ inputs.big }}, {{ inputs.nan }}, {{ inputs.inf }}]", LangPython,
			`x = ['it\'s', 3, 2.5, (-3), 42, True, None, 1e+21, float('nan'), float('-inf')]`},
		{"python composite", "x = {{ inputs.list }}, {{ inputs.map }}, {{ inputs.struct }}", LangPython, `x = [1, 'two', None], {'a': [True], 'b': 1}, {'count': 2, 'name': 'x'}`},
		{"python escapes", "x = {{ inputs.evil }} # {{ inputs.uni }}", LangPython, `x = 'a\'; rm -rf / #\n$(id) ` + "`id`" + ` "q" \\' # 'é\x00\u2028😀'`},
		{"python results", "rows = {{ cells.q.rows }}", LangPython, `rows = [{'total': 12.5}, {'total': 1}]`},
		{"python raw", "{{ raw(inputs.s) }}", LangPython, "it's"},
		{"python after strings", `x = "a'b" + '''c"\n}}'''` + "\n# it's\ny = {{ inputs.s }}", LangPython, `x = "a'b" + '''c"\n}}'''` + "\n# it's\ny = 'it\\'s'"},

		{"http", "# {{ inputs.evil }}\nGET https://x.test/a/{{ inputs.evil }}?q={{ inputs.s }}\n    &n={{ inputs.n }}\nAuthorization: Bearer {{ inputs.evil }}\nContent-Type: application/json; charset=utf-8\n\n{\"s\": {{ inputs.evil }}, \"l\": {{ inputs.list }}, \"in\": \"<{{ inputs.evil }}>\", \"n\": {{ inputs.n }}}", LangHTTP,
			"# a'; rm -rf / #$(id) `id` \"q\" \\\n" +
				"GET https://x.test/a/a%27%3B%20rm%20-rf%20%2F%20%23%0A%24%28id%29%20%60id%60%20%22q%22%20%5C?q=it%27s\n" +
				"    &n=3\n" +
				"Authorization: Bearer a'; rm -rf / #$(id) `id` \"q\" \\\n" +
				"Content-Type: application/json; charset=utf-8\n\n" +
				`{"s": "a'; rm -rf / #\n$(id) ` + "`id`" + ` \"q\" \\", "l": [1,"two",null], "in": "<a'; rm -rf / #\n$(id) ` + "`id`" + ` \"q\" \\>", "n": 3}`},
		{"http form", "POST /login\r\ncontent-type: Application/X-WWW-Form-URLencoded\r\n\r\nuser={{ inputs.evil }}&n={{ inputs.n }}", LangHTTP,
			"POST /login\r\ncontent-type: Application/X-WWW-Form-URLencoded\r\n\r\nuser=a%27%3B+rm+-rf+%2F+%23%0A%24%28id%29+%60id%60+%22q%22+%5C&n=3"},
		{"http text body", "POST /x\n\nhello {{ inputs.s }} {{ inputs.list }}", LangHTTP, "POST /x\n\nhello it's [1,\"two\",null]"},
		{"http raw url", "GET {{ raw(inputs.s) }}/x", LangHTTP, "GET it's/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, params := render(t, tt.src, tt.lang, vars)
			if got != tt.want {
				t.Errorf("render\n got %s\nwant %s", got, tt.want)
			}
			if params != nil && tt.lang != LangShell {
				t.Errorf("params %v", params)
			}
		})
	}
}

func TestRenderSQL(t *testing.T) {
	t.Parallel()
	got, params := render(t, "select * from t where a = {{ inputs.s }} and b in ({{ inputs.n }}, {{ inputs.i }})\n  and c = {{ inputs.list }} and d = {{ inputs.struct }} and e is {{ inputs.nil }} -- {{ raw(inputs.s) }}", LangSQL, vars)
	want := "select * from t where a = " + engine.ParamMarker(0) + " and b in (" + engine.ParamMarker(1) + ", " + engine.ParamMarker(2) + ")\n  and c = " +
		engine.ParamMarker(3) + " and d = " + engine.ParamMarker(4) + " and e is " + engine.ParamMarker(5) + " -- it's"
	if got != want {
		t.Errorf("text\n got %q\nwant %q", got, want)
	}
	wantParams := []any{"it's", 3.0, 42, `[1,"two",null]`, `{"count":2,"name":"x"}`, nil}
	if !reflect.DeepEqual(params, wantParams) {
		t.Errorf("params\n got %#v\nwant %#v", params, wantParams)
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		lang      Lang
		want      string
	}{
		{"missing cell", "echo ok\n  echo {{ cells.nothere.stdout }}", LangShell, "t:2:8: {{ cells.nothere.stdout }}: cannot fetch stdout from <nil>"},
		{"NUL in shell", "echo {{ inputs.uni }}", LangShell, "t:1:6: {{ inputs.uni }}: the value holds a NUL byte, which a shell variable cannot hold"},
		{"text as a shell number", "echo $(( {{ inputs.s }} ))", LangShell, `t:1:10: {{ inputs.s }}: the value "it's" stands where bash evaluates text: arithmetic $((…)) (line 1); only a whole number may stand there. Declare the input as a number, or keep the value out of arithmetic and variable names (compare text with == in [[ ]])`},
		{"NaN in JSON", "POST /x\nContent-Type: application/json\n\n{{ inputs.nan }}", LangHTTP, "t:4:1: {{ inputs.nan }}: cannot write the value as JSON: json: unsupported value: NaN"},
		{"func value", "{{ inputs.fn }}", LangText, "t:1:1: {{ inputs.fn }}: cannot put a func() into a template"},
	}
	v := map[string]any{"fn": func() {}}
	for k, x := range vars {
		v[k] = x
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tm, err := ParseTemplate(tt.src, "t", tt.lang)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = tm.Render(NewEnv(v, nil, nil, engine.RunInfo{}))
			var e *engine.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want *engine.Error", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestShellContexts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src     string
		wantErr string // a part of the message, or "" when the template is accepted
	}{
		{"echo {{ inputs.s }}", ""},
		{"echo a{{ inputs.s }}b", ""},
		{"x={{ inputs.s }}; y=({{ inputs.s }})", ""},
		{"echo $(cat {{ inputs.s }}) | grep {{ inputs.s }}", ""},
		{"echo ${X:-{{ inputs.s }}}", ""},
		{"echo \\\" {{ inputs.s }}", ""},
		{"echo a#b {{ inputs.s }}", ""},
		{"echo ${#X} $# {{ inputs.s }}", ""},
		{"cat <<EOF\nit's\nEOF\necho {{ inputs.s }}", ""},
		{"cat <<< \"x\" {{ inputs.s }}", ""},
		{"echo $(( 1 << 2 ))\n", ""},
		{"# don't\necho {{ inputs.s }}", ""},
		{"echo 'a' {{ inputs.s }} 'b'", ""},
		{"echo \"a\" {{ inputs.s }} \"b\"", ""},
		{"echo \"$(echo \"x\")\" {{ inputs.s }}", ""},
		{"echo \"{{ inputs.s }}\"", ""},
		{"echo \"$(echo {{ inputs.s }})\"", ""},
		{"cat <<EOF\n{{ inputs.s }}\nEOF", ""},
		{"cat <<-EOF\n\t{{ inputs.s }}\n\tEOF", ""},
		{"echo '{{ inputs.s }}'", "inside '…' quotes"},
		{"echo $'{{ inputs.s }}'", "inside $'…'"},
		{"echo `echo {{ inputs.s }}`", "inside `…`"},
		{"echo ${{ inputs.s }}", "right after $"},
		{"echo \\{{ inputs.s }}", "after a backslash"},
		{"cat <<'EOF'\n{{ inputs.s }}\nEOF", "here-document"},
		{"cat <<EOF\nnever closed\n{{ inputs.s }}", "does not parse"},
		{"cat <<{{ inputs.s }}\nx\n", "here-document"},
		{"echo \"unclosed {{ inputs.s }}", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTemplate(tt.src, "t.sh", LangShell)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one with %q", err, tt.wantErr)
			}
		})
	}
}

func TestPythonContexts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src     string
		wantErr string
	}{
		{"x = {{ inputs.s }}", ""},
		{"f({{ inputs.s }}, {{ inputs.n }})", ""},
		{"x = 'a' + {{ inputs.s }} # it's {{ inputs.s }}", ""},
		{"x = \"\"\"a\nb's\"\"\"\ny = {{ inputs.s }}", ""},
		{"x = 'a\\'b' + {{ inputs.s }}", ""},
		{"x = ({{ inputs.s }})", ""},
		{"x = '{{ inputs.s }}'", "inside a Python string"},
		{"x = \"{{ inputs.s }}\"", "inside a Python string"},
		{"x = f\"{ {{ inputs.s }} }\"", "inside a Python string"},
		{"x = '''\n{{ inputs.s }}'''", "inside a Python string"},
		{"x = f{{ inputs.s }}", "right after a name"},
		{"x = rb{{ inputs.s }}", "right after a name"},
		{"x = '\\{{ inputs.s }}'", "after a backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTemplate(tt.src, "t.py", LangPython)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one with %q", err, tt.wantErr)
			}
		})
	}
}

func TestLangOf(t *testing.T) {
	t.Parallel()
	want := map[engine.Kind]Lang{
		engine.KindShell: LangShell, engine.KindPython: LangPython, engine.KindSQL: LangSQL,
		engine.KindHTTP: LangHTTP, engine.KindExpr: LangText, engine.KindMarkdown: LangMarkdown,
	}
	for k, l := range want {
		if got := LangOf(k); got != l {
			t.Errorf("LangOf(%s) = %s, want %s", k, got, l)
		}
	}
}
