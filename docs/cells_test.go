package docs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/cli"
)

// example is one flow of the guide: its files, the command that runs it and
// what the command prints.
type example struct {
	heading string
	line    int // of the flow.yaml block, for messages
	files   map[string]string
	runs    []*command
}

// command is one run of an example and what it prints.
type command struct {
	args   []string // after "opsbook run"
	output []string // expected lines; "…" matches anything
}

var fenceRE = regexp.MustCompile("^```(\\w*)(?:\\s+title=(\\S+))?\\s*$")

// parseGuide reads the examples of a guide: a fenced block titled
// flow.yaml starts one; the blocks titled with a file name after it are
// its cells' files, a block titled run a command, and the block titled
// output after it what that command prints. Every block of an example must
// carry a title.
func parseGuide(src string) ([]*example, error) {
	var (
		out     []*example
		cur     *example
		heading string
	)
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "#") {
			heading = strings.TrimSpace(strings.TrimLeft(l, "#"))
			cur = nil
			continue
		}
		m := fenceRE.FindStringSubmatch(l)
		if m == nil || (m[1] == "" && m[2] == "") {
			continue
		}
		start := i + 1
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("line %d: the block has no closing ```", start)
		}
		title := m[2]
		text := strings.Join(body, "\n") + "\n"
		switch {
		case title == "flow.yaml":
			cur = &example{heading: heading, line: start, files: map[string]string{}}
			out = append(out, cur)
			cur.files[title] = text
		case cur == nil:
			if title != "" {
				return nil, fmt.Errorf("line %d: a block titled %s outside an example (a flow.yaml block starts one)", start, title)
			}
		case title == "":
			return nil, fmt.Errorf("line %d: a block in the example of %q has no title=…", start, cur.heading)
		case title == "run":
			if len(body) != 1 || !strings.HasPrefix(body[0], "$ opsbook run ") {
				return nil, fmt.Errorf("line %d: a run block holds one line, $ opsbook run FOLDER [flags]", start)
			}
			args, err := splitArgs(strings.TrimPrefix(body[0], "$ opsbook run "))
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", start, err)
			}
			cur.runs = append(cur.runs, &command{args: args})
		case title == "output":
			if len(cur.runs) == 0 || cur.runs[len(cur.runs)-1].output != nil {
				return nil, fmt.Errorf("line %d: an output block without a run block before it", start)
			}
			cur.runs[len(cur.runs)-1].output = body
		default:
			if _, dup := cur.files[title]; dup {
				return nil, fmt.Errorf("line %d: %s twice in one example", start, title)
			}
			cur.files[title] = text
		}
	}
	return out, nil
}

// splitArgs splits a command line at spaces, honouring '…' and "…".
func splitArgs(s string) ([]string, error) {
	var (
		args  []string
		b     strings.Builder
		quote rune
		in    bool
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			b.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ':
			if in {
				args = append(args, b.String())
				b.Reset()
				in = false
			}
		default:
			b.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c in %q", quote, s)
	}
	if in {
		args = append(args, b.String())
	}
	return args, nil
}

// lineRE makes an expected line a pattern: "…" matches anything.
func lineRE(want string) *regexp.Regexp {
	parts := strings.Split(strings.TrimRight(want, " "), "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// matchOutput checks that every expected line is a line of got, in order.
func matchOutput(want []string, got string) error {
	lines := strings.Split(got, "\n")
	j := 0
	for _, w := range want {
		if strings.TrimSpace(w) == "" {
			continue
		}
		re := lineRE(w)
		for j < len(lines) && !re.MatchString(strings.TrimRight(lines[j], " ")) {
			j++
		}
		if j == len(lines) {
			return fmt.Errorf("no line %q (in order) in the output", w)
		}
		j++
	}
	return nil
}

// The places the guide's examples reach, and what stands in for them: the
// fake API of fakeAPI (in the cells' files) and the test PostgreSQL (in
// --connection).
const (
	guideAPI       = "https://api.example.com"
	guideWarehouse = "postgres://reader@warehouse.example.com/analytics"
)

// fakeAPI answers as the guide's https://api.example.com does.
func fakeAPI(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PathValue("name") != "ana" {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"no such user"}`))
			return
		}
		w.Write([]byte(`{"name":"Ana","role":"editor"}`))
	})
	mux.HandleFunc("POST /tickets", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Title, Role string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Title != "Welcome Ana" || body.Role != "editor" {
			http.Error(w, fmt.Sprintf("bad ticket %+v (%v)", body, err), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":7}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func testPG() string {
	if v := os.Getenv("OPSBOOK_TEST_PG"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// runExample writes ex to a folder named as its command names it, runs
// `opsbook run` on it in process and returns the exit code and output.
func runExample(t *testing.T, ex *example, cmd *command, api string) (int, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), cmd.args[0])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range ex.files {
		if api != "" {
			text = strings.ReplaceAll(text, guideAPI, api)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{dir}
	for _, a := range cmd.args[1:] {
		a = strings.ReplaceAll(a, guideWarehouse, testPG())
		args = append(args, a)
	}
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Stdio{Out: &out, Err: &errb})
	got := out.String() + errb.String()
	if api != "" {
		got = strings.ReplaceAll(got, api, guideAPI)
	}
	return code, got
}

func TestCellsGuideExamples(t *testing.T) {
	src, err := os.ReadFile("CELLS.md")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := parseGuide(string(src))
	if err != nil {
		t.Fatalf("CELLS.md: %v", err)
	}
	// Every section the guide promises has its example; a guide that lost
	// its examples must not pass.
	if len(examples) < 12 {
		t.Fatalf("CELLS.md has %d examples; it should have at least 12", len(examples))
	}
	api := fakeAPI(t).URL
	for _, ex := range examples {
		t.Run(ex.heading, func(t *testing.T) {
			if len(ex.runs) == 0 {
				t.Fatalf("CELLS.md:%d: the example has no run block", ex.line)
			}
			for _, cmd := range ex.runs {
				if len(cmd.output) == 0 {
					t.Fatalf("CELLS.md:%d: opsbook run %s has no output block", ex.line, strings.Join(cmd.args, " "))
				}
				code, got := runExample(t, ex, cmd, api)
				if code != cli.ExitOK {
					t.Fatalf("CELLS.md:%d: opsbook run %s exited %d:\n%s", ex.line, strings.Join(cmd.args, " "), code, got)
				}
				if err := matchOutput(cmd.output, got); err != nil {
					t.Fatalf("CELLS.md:%d: opsbook run %s: %v; the output was:\n%s", ex.line, strings.Join(cmd.args, " "), err, got)
				}
			}
		})
	}
}

// TestGuideCatchesRot checks the checker: a broken file, a changed output
// and a wrong expectation each fail.
func TestGuideCatchesRot(t *testing.T) {
	base := func() *example {
		return &example{
			files: map[string]string{
				"flow.yaml": "name: Rot\ncells:\n  - name: a\n    kind: shell\n    file: a.sh\n",
				"a.sh":      "echo hi\n",
			},
			runs: []*command{{
				args:   []string{"rot"},
				output: []string{"▶ a shell", "  │ hi", "✓ a succeeded in …", "Run succeeded in … · 1 succeeded"},
			}},
		}
	}
	ex := base()
	code, got := runExample(t, ex, ex.runs[0], "")
	if code != cli.ExitOK || matchOutput(ex.runs[0].output, got) != nil {
		t.Fatalf("the sound example fails: %d %v\n%s", code, matchOutput(ex.runs[0].output, got), got)
	}
	cases := map[string]func(*example){
		"wrong file name": func(e *example) { e.files["b.sh"] = e.files["a.sh"]; delete(e.files, "a.sh") },
		"failing cell":    func(e *example) { e.files["a.sh"] = "exit 3\n" },
		"changed output":  func(e *example) { e.files["a.sh"] = "echo hello\n" },
		"bad placeholder": func(e *example) { e.files["a.sh"] = "echo '{{ inputs.x }}'\n" },
		"lines reordered": func(e *example) { o := e.runs[0].output; o[0], o[1] = o[1], o[0] },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			e := base()
			breakIt(e)
			code, got := runExample(t, e, e.runs[0], "")
			if code == cli.ExitOK && matchOutput(e.runs[0].output, got) == nil {
				t.Fatalf("a broken example passes:\n%s", got)
			}
		})
	}
}

func TestParseGuide(t *testing.T) {
	md := "## One\n\n```yaml title=flow.yaml\nname: X\n```\n\n```sh title=a.sh\necho \"a b\"\n```\n\n" +
		"```console title=run\n$ opsbook run x --input name='Ana Lopez'\n```\n\n```text title=output\nok\n```\n"
	exs, err := parseGuide(md)
	if err != nil || len(exs) != 1 {
		t.Fatalf("parseGuide = %v, %v", exs, err)
	}
	ex := exs[0]
	if ex.heading != "One" || ex.files["a.sh"] != "echo \"a b\"\n" || len(ex.runs) != 1 ||
		strings.Join(ex.runs[0].args, "|") != "x|--input|name=Ana Lopez" || ex.runs[0].output[0] != "ok" {
		t.Fatalf("parsed %+v", ex)
	}
	for _, bad := range []string{
		"## A\n```yaml title=flow.yaml\nx\n```\n```sh\necho\n```\n",                     // untitled block in an example
		"## A\n```sh title=a.sh\necho\n```\n",                                           // file outside an example
		"## A\n```yaml title=flow.yaml\nx\n",                                            // unclosed
		"## A\n```yaml title=flow.yaml\nx\n```\n```console title=run\nopsbook x\n```\n", // no $ opsbook run
		"## A\n```yaml title=flow.yaml\nx\n```\n```text title=output\nok\n```\n",        // output without a run
	} {
		if _, err := parseGuide(bad); err == nil {
			t.Errorf("parseGuide(%q) gives no error", bad)
		}
	}
}
