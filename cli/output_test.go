package cli

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
)

// secret has characters that base64 and URL encoding change.
const secret = "p@ss w0rd&x=1/y+z~"

// secretForms are the ways the fixture's cell prints the secret.
var secretForms = map[string]string{
	"plain":           secret,
	"base64":          base64.StdEncoding.EncodeToString([]byte(secret)),
	"base64url":       base64.RawURLEncoding.EncodeToString([]byte(secret)),
	"query-escaped":   url.QueryEscape(secret),
	"percent-encoded": "p%40ss%20w0rd%26x%3D1%2Fy%2Bz~", // Python's quote(safe=""), curl's --data-urlencode
}

// strs collects every string inside a decoded JSON value.
func strs(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case map[string]any:
		for k, e := range x {
			*out = append(*out, k)
			strs(e, out)
		}
	case []any:
		for _, e := range x {
			strs(e, out)
		}
	}
}

// checkMasked asserts that no form of the secret appears in the --json
// output, raw or decoded, and that *** stands in for it.
func checkMasked(t *testing.T, res result) {
	t.Helper()
	if res.code != ExitOK {
		t.Fatalf("exit %d\n%s", res.code, res.err)
	}
	evs := events(t, res.out)
	var texts []string
	for _, e := range evs {
		texts = append(texts, e.Lines...)
		texts = append(texts, e.Error)
		var v any
		if len(e.Result) > 0 {
			if err := json.Unmarshal(e.Result, &v); err != nil {
				t.Fatalf("result of %s: %v", e.Cell, err)
			}
			strs(v, &texts)
		}
	}
	texts = append(texts, res.out, res.err)
	for name, form := range secretForms {
		for _, s := range texts {
			if strings.Contains(s, form) {
				t.Errorf("the secret's %s form %q leaked in %q", name, form, s)
				break
			}
		}
	}
	lines := logLines(evs, "leak", engine.StreamStdout)
	want := []string{"plain: ***", "base64: ***", "base64url: ***", "query: ***", "percent: ***"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("leak logged %q; want %q", lines, want)
	}
	if got := logLines(evs, "leak", engine.StreamStderr); len(got) != 1 || got[0] != "on stderr: ***" {
		t.Errorf("leak's stderr %q; want [on stderr: ***]", got)
	}
	ends := cellEnds(evs)
	var leak struct{ Outputs map[string]any }
	json.Unmarshal(ends["leak"].Result, &leak)
	if leak.Outputs["token"] != "***" {
		t.Errorf("leak.outputs.token = %v; want ***", leak.Outputs["token"])
	}
	// An expression that reads a secret is a secret as a whole.
	var again struct{ Value any }
	json.Unmarshal(ends["again"].Result, &again)
	if again.Value != "***" {
		t.Errorf("again.value = %v; want *** (it reads secrets.TOKEN)", again.Value)
	}
}

// TestSecretFlag: a secret given with --secret never shows, in any of
// its forms.
func TestSecretFlag(t *testing.T) {
	t.Parallel()
	dir, _ := fixture(t, "secret")
	checkMasked(t, runCLI(t, dir, "--json", "--secret", "TOKEN="+secret))
}

// TestSecretEnv: the same with OPSBOOK_SECRET_TOKEN (not parallel: it
// sets a variable of the process).
func TestSecretEnv(t *testing.T) {
	dir, _ := fixture(t, "secret")
	t.Setenv("OPSBOOK_SECRET_TOKEN", secret)
	checkMasked(t, runCLI(t, dir, "--json"))
}

// TestBigOutput: binary bytes, a 10 MB line and two million lines go
// through the executor, the events and --json whole: valid JSON, the
// long line cut and marked, the next line intact, no line lost.
func TestBigOutput(t *testing.T) {
	t.Parallel()
	res := runCLI(t, "testdata/big", "--json")
	if res.code != ExitOK {
		t.Fatalf("exit %d\n%s", res.code, res.err)
	}
	evs := events(t, res.out) // every line is valid JSON, binary included
	for c, e := range cellEnds(evs) {
		if e.Status != string(engine.CellSucceeded) {
			t.Errorf("cell %s %s: %s", c, e.Status, e.Error)
		}
	}
	if bin := logLines(evs, "binary", engine.StreamStdout); len(bin) == 0 || bin[len(bin)-1] != "binary done" {
		t.Errorf("binary cell's last line is not \"binary done\"")
	}

	long := logLines(evs, "long_line", engine.StreamStdout)
	if len(long) != 2 {
		t.Fatalf("long_line logged %d lines; want 2", len(long))
	}
	if want := strings.Repeat("x", executor.MaxLine) + executor.CutMark; long[0] != want {
		t.Errorf("the 10 MB line is %d bytes ending %q; want %d x's and the cut mark", len(long[0]), long[0][max(0, len(long[0])-40):], executor.MaxLine)
	}
	if long[1] != "next line intact" {
		t.Errorf("line after the long one: %q", long[1])
	}

	many := logLines(evs, "many_lines", engine.StreamStdout)
	if len(many) != 2_000_000 {
		t.Errorf("many_lines logged %d lines; want 2000000", len(many))
	}
	for i, l := range many {
		if l != strconv.Itoa(i+1) {
			t.Fatalf("line %d is %q; want %d (lost or reordered)", i+1, l, i+1)
		}
	}
	var r engine.ShellResult
	if err := json.Unmarshal(cellEnds(evs)["many_lines"].Result, &r); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(r.Stdout, "1999999\n2000000\n") || len(r.Stdout) > 64<<10 {
		t.Errorf("many_lines.stdout holds %d bytes ending %q; want the last 64 KiB", len(r.Stdout), r.Stdout[max(0, len(r.Stdout)-20):])
	}
}

var keptRE = regexp.MustCompile(`(?m)^working directory kept: (.+)$`)

// TestWorkdir: the working directory is removed after the run unless
// --keep-workdir, which prints its path; --scratch puts the scratch
// SQLite database elsewhere.
func TestWorkdir(t *testing.T) {
	t.Parallel()
	where := func(t *testing.T, res result) string {
		t.Helper()
		if res.code != ExitOK {
			t.Fatalf("exit %d\n%s", res.code, res.err)
		}
		lines := logLines(events(t, res.out), "where", engine.StreamStdout)
		if len(lines) != 1 || !filepath.IsAbs(lines[0]) {
			t.Fatalf("where printed %q; want its directory", lines)
		}
		return lines[0]
	}
	rows := func(t *testing.T, db string) int {
		t.Helper()
		d, err := sql.Open("sqlite", db)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		var n int
		if err := d.QueryRow(`SELECT count(*) FROM marks`).Scan(&n); err != nil {
			t.Fatalf("%s: %v", db, err)
		}
		return n
	}

	t.Run("removed", func(t *testing.T) {
		t.Parallel()
		res := runCLI(t, "testdata/workdir", "--json")
		wd := where(t, res)
		if exists(wd) {
			os.RemoveAll(wd)
			t.Errorf("working directory %s is still there", wd)
		}
		if keptRE.MatchString(res.err) {
			t.Errorf("stderr mentions a kept directory: %s", res.err)
		}
	})
	t.Run("kept", func(t *testing.T) {
		t.Parallel()
		res := runCLI(t, "testdata/workdir", "--json", "--keep-workdir")
		wd := where(t, res)
		t.Cleanup(func() { os.RemoveAll(wd) })
		m := keptRE.FindStringSubmatch(res.err)
		if m == nil || m[1] != wd {
			t.Fatalf("stderr %q; want working directory kept: %s", res.err, wd)
		}
		if b, err := os.ReadFile(filepath.Join(wd, "left.txt")); err != nil || string(b) != "kept\n" {
			t.Errorf("left.txt: %q %v", b, err)
		}
		if n := rows(t, filepath.Join(wd, "scratch.db")); n != 1 {
			t.Errorf("scratch.db in the working directory has %d rows; want 1", n)
		}
	})
	t.Run("scratch", func(t *testing.T) {
		t.Parallel()
		db := filepath.Join(t.TempDir(), "my.db")
		for i := 1; i <= 2; i++ {
			res := runCLI(t, "testdata/workdir", "--json", "--keep-workdir", "--scratch", db)
			wd := where(t, res)
			t.Cleanup(func() { os.RemoveAll(wd) })
			if exists(filepath.Join(wd, "scratch.db")) {
				t.Errorf("scratch.db made in the working directory despite --scratch")
			}
			if n := rows(t, db); n != i {
				t.Errorf("run %d: %s has %d rows; want %d (it outlives the run)", i, db, n, i)
			}
		}
	})
}

// TestHostileInputs runs a flow with form values that become code under a
// naive encoding (bash evaluates a[$(…)] in integer variables and
// arithmetic): text values arrive as text, a value where bash evaluates
// text is refused before the cell runs, and no marker file appears.
func TestHostileInputs(t *testing.T) {
	t.Parallel()
	dir, marker := fixture(t, "hostile")
	touch := filepath.Join(marker, "pwned")
	name := "$(touch " + touch + ") `touch " + touch + "` '\"; touch " + touch + " #\n# Sign in again\n[here](https://evil.example)"
	res := runCLI(t, dir, "--json", "--input", "name="+name, "--input", "n=a[$(touch "+touch+")]")
	if res.code != ExitFailed {
		t.Fatalf("exit %d; want %d (count refuses its value)\n%s", res.code, ExitFailed, res.err)
	}
	evs := events(t, res.out)
	ends := cellEnds(evs)
	if got := strings.Join(logLines(evs, "greet", engine.StreamStdout), "\n"); got != "Hi "+name+"\nDear "+name+"," {
		t.Errorf("greet printed %q; want the name as text twice", got)
	}
	var note engine.MarkdownResult
	json.Unmarshal(ends["note"].Result, &note)
	if strings.Contains(note.Text, "\n#") || strings.Contains(note.Text, "](") {
		t.Errorf("the note's text %q holds markup from the value", note.Text)
	}
	if c := ends["count"]; c.Status != string(engine.CellFailed) || !strings.Contains(c.Error, "only a whole number may stand there") {
		t.Errorf("count %s: %s; want it refused", c.Status, c.Error)
	}
	if _, err := os.Stat(touch); err == nil {
		t.Fatal("a value ran as code")
	}

	res = runCLI(t, dir, "--json", "--input", "n=41")
	if res.code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", res.code, res.err, res.out)
	}
	if got := strings.Join(logLines(events(t, res.out), "count", engine.StreamStdout), "\n"); got != "count 41\nnext 42" {
		t.Errorf("count printed %q", got)
	}
}
