package expr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

func TestText(t *testing.T) {
	t.Parallel()
	type kind string
	s := "p"
	tests := []struct {
		v    any
		want string
	}{
		{nil, ""},
		{"a b", "a b"},
		{3.0, "3"},
		{0.0, "0"},
		{math.Copysign(0, -1), "0"}, // negative zero: the literal -0.0 is positive zero in Go
		{1e20, "100000000000000000000"},
		{1e21, "1e+21"},
		{0.1, "0.1"},
		{1e-7, "1e-07"},
		{float32(1.5), "1.5"},
		{math.Inf(1), "+Inf"},
		{int8(-4), "-4"},
		{uint(7), "7"},
		{json.Number("12"), "12"},
		{false, "false"},
		{kind("shell"), "shell"},
		{&s, "p"},
		{(*string)(nil), ""},
		{[]byte("raw"), "raw"},
		{[]string{"a", "<b>"}, `["a","<b>"]`},
		{map[string]string{"z": "1", "a": "2"}, `{"a":"2","z":"1"}`},
		{map[int]bool{2: true}, `{"2":true}`},
		{engine.ShellResult{ExitCode: 1, Stdout: "x"}, `{"exit_code":1,"outputs":null,"stdout":"x"}`},
		{time.Date(2025, 1, 31, 6, 0, 0, 0, time.UTC), "2025-01-31T06:00:00Z"},
		{90 * time.Second, "1m30s"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%T %v", tt.v, tt.v), func(t *testing.T) {
			t.Parallel()
			n, err := normalize(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := text(n)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPythonLiteral(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    any
		want string
	}{
		{nil, "None"},
		{true, "True"},
		{int64(-5), "(-5)"},
		{uint64(math.MaxUint64), "18446744073709551615"},
		{3.0, "3"},
		{0.5, "0.5"},
		{-2.5e-10, "(-2.5e-10)"},
		{math.NaN(), "float('nan')"},
		{math.Inf(1), "float('inf')"},
		{"", "''"},
		{"a'b\"c\\d", `'a\'b"c\\d'`},
		{"\n\r\t\x00\x7f\u00a0\u200b\U000E0001", `'\n\r\t\x00\x7f\xa0\u200b\U000e0001'`},
		{"ünï 😀", "'ünï 😀'"},
		{"bad\xffbyte", `'bad\ufffdbyte'`},
		{[]int{1, 2}, "[1, 2]"},
		{map[string]any{"b": nil, "a": map[string]any{"c": "d"}}, "{'a': {'c': 'd'}, 'b': None}"},
		{tagged{Name: "n"}, "{'count': 0, 'name': 'n'}"},
		{[]any{}, "[]"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%T %v", tt.v, tt.v), func(t *testing.T) {
			t.Parallel()
			got, err := PythonLiteral(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// randomStrings are hostile to shells and to Python: quotes, escapes,
// expansions, newlines, control characters, non-ASCII and long runs.
func randomStrings(n int, nul bool) []string {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"'", `"`, "\\", "$", "`", "\n", "\r", "\t", " ", "!", "#", ";", "|", "&", "(", ")", "{", "}", "*", "?", "~", "%",
		"a", "Z", "0", "é", "😀", "\u2028", "\u00a0", "\x01", "\x1b", "\x7f", "$(id)", "${HOME}", "'\\''", "\\n", "\\x00", "{{", "}}"}
	if nul {
		alphabet = append(alphabet, "\x00")
	}
	out := []string{"", "'", "''", `\`, "\n"}
	for len(out) < n {
		var b strings.Builder
		for range r.IntN(24) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		out = append(out, b.String())
	}
	return out
}

// TestShellEnvRoundTrip passes each string through the environment as a
// shell cell gets it and checks that bash prints it back byte for byte.
func TestShellEnvRoundTrip(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	strs := randomStrings(400, false)
	var script strings.Builder
	script.WriteString("printf '%s\\0'")
	inputs := map[string]any{}
	for i, s := range strs {
		fmt.Fprintf(&script, " {{ inputs.v%d }}", i)
		inputs[fmt.Sprintf("v%d", i)] = s
	}
	src, params := renderShell(t, script.String(), inputs)
	got := runBash(t, src, params)
	parts := strings.Split(got, "\x00")
	parts = parts[:len(parts)-1]
	if len(parts) != len(strs) {
		t.Fatalf("bash printed %d strings, want %d", len(parts), len(strs))
	}
	for i := range strs {
		if parts[i] != strs[i] {
			t.Errorf("bash read %q as %q", strs[i], parts[i])
		}
	}
}

// TestShellTemplateRuns runs rendered shell templates: each value arrives
// as exactly one argument.
func TestShellTemplateRuns(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	tm, err := ParseTemplate("printf '%s|' {{ inputs.a }} x{{ inputs.b }}y # {{ inputs.a }}\n", "t.sh", LangShell)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range randomStrings(30, false) {
		src, params, err := tm.Render(NewEnv(map[string]any{"a": s, "b": s}, nil, nil, engine.RunInfo{}))
		if err != nil {
			t.Fatal(err)
		}
		out := runBash(t, src, params)
		if want := s + "|x" + s + "y|"; out != want {
			t.Errorf("%q printed %q, want %q", src, out, want)
		}
	}
}

// TestPythonLiteralRoundTrip hands python3 each literal and checks that it
// reads back the same string, and the same JSON for composite values.
func TestPythonLiteralRoundTrip(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	strs := randomStrings(400, true)
	var script strings.Builder
	script.WriteString("import sys, json\nout = sys.stdout.buffer\n")
	for _, s := range strs {
		lit, err := PythonLiteral(s)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&script, "v = %s\nb = v.encode('utf-8')\nout.write(str(len(b)).encode() + b':' + b)\n", lit)
	}
	values := []any{
		map[string]any{"a": []any{1.0, 2.5, nil, true, "x'y"}, "b": map[string]any{"c": -1.0}},
		[]any{}, engine.SQLResult{Columns: []string{"n"}, Rows: []map[string]any{{"n": 1.0}}},
	}
	for _, v := range values {
		lit, err := PythonLiteral(v)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&script, "b = json.dumps(%s, sort_keys=True, separators=(',', ':')).encode()\nout.write(str(len(b)).encode() + b':' + b)\n", lit)
	}
	cmd := exec.Command("python3", "-c", script.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	next := func() string {
		n, rest, _ := strings.Cut(string(out), ":")
		size, err := strconv.Atoi(n)
		if err != nil || size > len(rest) {
			t.Fatalf("bad output near %q", n)
		}
		out = []byte(rest[size:])
		return rest[:size]
	}
	for _, s := range strs {
		if got := next(); got != s {
			lit, _ := PythonLiteral(s)
			t.Errorf("python read %s as %q, want %q", lit, got, s)
		}
	}
	for _, v := range values {
		got := next()
		n, _ := normalize(v)
		want, _ := json.Marshal(n)
		var a, b any
		_ = json.Unmarshal([]byte(got), &a)
		_ = json.Unmarshal(want, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("python read %v as %s, want %s", v, got, want)
		}
	}
}

func TestSQLParam(t *testing.T) {
	t.Parallel()
	tm := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type kind string
	tests := []struct {
		v, want any
	}{
		{nil, nil}, {"s", "s"}, {1, 1}, {2.5, 2.5}, {true, true}, {tm, tm}, {[]byte("b"), []byte("b")},
		{kind("k"), "k"},
		{[]any{1.0}, "[1]"},
		{map[string]any{"a": "<&>"}, `{"a":"<&>"}`},
		{tagged{Name: "n"}, `{"count":0,"name":"n"}`},
	}
	for _, tt := range tests {
		got, err := sqlParam(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("sqlParam(%#v) = %#v, want %#v", tt.v, got, tt.want)
		}
	}
}

// TestShellArithmetic: bash evaluates some words as arithmetic, where even
// a quoted value runs the $(…) inside a[…]. There a value must be a whole
// number; elsewhere text stays text, in the environment.
func TestShellArithmetic(t *testing.T) {
	t.Parallel()
	evil := "a[$(touch /tmp/pwned)]"
	for _, tc := range []struct {
		src   string
		value any
		want  string // "" means a render error
	}{
		{"if [[ {{ inputs.v }} -gt 5 ]]; then echo big; fi", evil, ""},
		{"if [[ {{ inputs.v }} -gt 5 ]]; then echo big; fi", 7, "if [[ 7 -gt 5 ]]; then echo big; fi"},
		{"echo $(( {{ inputs.v }} + 1 ))", evil, ""},
		{"echo $(( {{ inputs.v }} + 1 ))", "-3", "echo $(( (-3) + 1 ))"},
		{"(( n = {{ inputs.v }} ))", evil, ""},
		{"echo ${arr[{{ inputs.v }}]}", evil, ""},
		{"let x={{ inputs.v }}+1", evil, ""},
		{"let x={{ inputs.v }}+1", 2, "let x=2+1"},
		{"[[ {{ inputs.v }} == prod ]] && echo yes", evil, `[[ "${OPSBOOK_VALUE_1}" == prod ]] && echo yes`},
		{"echo {{ inputs.v }} # (( not code ))", evil, `echo "${OPSBOOK_VALUE_1}" # (( not code ))`},
		{"echo {{ inputs.v }}", evil, `echo "${OPSBOOK_VALUE_1}"`},
		{`echo "n={{ inputs.v }}"`, evil, `echo "n=${OPSBOOK_VALUE_1}"`},
	} {
		tmpl, err := ParseTemplate(tc.src, "a.sh", LangShell)
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		got, _, err := tmpl.Render(NewEnv(map[string]any{"v": tc.value}, nil, nil, engine.RunInfo{}))
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q with %v rendered %q; want an error", tc.src, tc.value, got)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("%q with %v = %q, %v; want %q", tc.src, tc.value, got, err, tc.want)
		}
	}
}

// renderShell parses and renders a shell template with inputs.
func renderShell(t *testing.T, src string, inputs map[string]any) (string, []any) {
	t.Helper()
	tm, err := ParseTemplate(src, "t.sh", LangShell)
	if err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	out, params, err := tm.Render(NewEnv(inputs, nil, nil, engine.RunInfo{}))
	if err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	return out, params
}

// runBash runs src with bash -c, its values in the environment as a cell
// gets them, and returns what it printed.
func runBash(t *testing.T, src string, params []any) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", src)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for _, p := range params {
		cmd.Env = append(cmd.Env, p.(string))
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	return string(out)
}

// TestEncodingsCoverEveryContext: whatever a context writes for a string is
// one of Encodings (within the quotes of a literal), the forms the masker
// masks. A context that writes a string some other way fails here, before
// a secret leaks unmasked.
func TestEncodingsCoverEveryContext(t *testing.T) {
	t.Parallel()
	secrets := []string{
		"plain0Secret",
		"p@ss w0rd&x=1/y+z~%",
		`a<b>"c'd\e`,
		"line\r\nbreak\ttab",
		"é ✓ 🚀 \u2028",
		"\x00\x1f\x7f\xff",
		"[link](http://x) *em* #h `code`",
		"12345",
	}
	for c := context(0); c < numContexts; c++ {
		wrote := false
		for _, s := range secrets {
			var b strings.Builder
			if err := encode(&b, c, s, "test"); err != nil {
				continue // this context refuses the value (shell arithmetic: numbers only)
			}
			wrote = true
			out := b.String()
			if len(out) >= 2 && (out[0] == '\'' || out[0] == '"') && out[len(out)-1] == out[0] {
				out = out[1 : len(out)-1]
			}
			if !slices.Contains(Encodings(s), out) {
				t.Errorf("context %d writes %q as %q, which is none of Encodings %q: the masker would not mask it", c, s, out, Encodings(s))
			}
		}
		if !wrote {
			t.Errorf("context %d took none of the test values", c)
		}
	}
}
