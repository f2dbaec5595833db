package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/opsbook/opsbook/engine"
)

// flowsDir holds the example flows of the repository.
const flowsDir = "../testdata/flows"

var tmpRoot string // removed after the tests; holds the built binary

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "opsbook-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpRoot = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/opsbook once for the tests that need a real process
// (signals).
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath = filepath.Join(tmpRoot, "opsbook")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/opsbook").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// result is what one command gave.
type result struct {
	code     int
	out, err string
}

// runCLI runs `opsbook run ARGS…` in process.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	return runIO(t, false, args...)
}

func runIO(t *testing.T, terminal bool, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, Stdio{Out: &out, Err: &errb, Terminal: terminal})
	return result{code: code, out: out.String(), err: errb.String()}
}

// checkCLI runs `opsbook check ARGS…` in process.
func checkCLI(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Check(args, Stdio{Out: &out, Err: &errb})
	return result{code: code, out: out.String(), err: errb.String()}
}

var atRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$`)

// events parses --json output and checks the stream's contract: every line
// one event with type, run, seq and at (with milliseconds); seq gap-free
// from 1; run.started first and run.finished last; exactly one
// cell.finished, with a final status, for each cell run.started named.
func events(t *testing.T, out string) []engine.Event {
	t.Helper()
	var evs []engine.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(line, &raw); err != nil {
			t.Fatalf("event %d is not JSON: %v\n%.300s", len(evs)+1, err, line)
		}
		for _, k := range []string{"type", "run", "seq", "at"} {
			if _, ok := raw[k]; !ok {
				t.Fatalf("event %d has no %q: %.300s", len(evs)+1, k, line)
			}
		}
		var at string
		if err := json.Unmarshal(raw["at"], &at); err != nil || !atRE.MatchString(at) {
			t.Fatalf("event %d: at %s is not RFC 3339 with milliseconds", len(evs)+1, raw["at"])
		}
		var e engine.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("event %d does not decode into engine.Event: %v", len(evs)+1, err)
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(evs) < 2 {
		t.Fatalf("want at least run.started and run.finished; got %d events:\n%s", len(evs), out)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d; want gap-free seq from 1", i+1, e.Seq)
		}
		if e.Run != evs[0].Run || !strings.HasPrefix(e.Run, "r_") {
			t.Fatalf("event %d has run %q; want %q for all", i+1, e.Run, evs[0].Run)
		}
	}
	first, last := evs[0], evs[len(evs)-1]
	if first.Type != engine.EventRunStarted || last.Type != engine.EventRunFinished {
		t.Fatalf("stream must start with run.started and end with run.finished; got %s … %s", first.Type, last.Type)
	}
	if !engine.RunStatus(last.Status).Done() {
		t.Fatalf("run.finished with status %q", last.Status)
	}
	finished := map[string]int{}
	for _, e := range evs[1 : len(evs)-1] {
		switch e.Type {
		case engine.EventRunStarted, engine.EventRunFinished:
			t.Fatalf("event %d: a second %s", e.Seq, e.Type)
		case engine.EventCellFinished:
			finished[e.Cell]++
			if !engine.CellStatus(e.Status).Done() {
				t.Fatalf("cell %s finished with status %q, not a final one", e.Cell, e.Status)
			}
		}
	}
	for _, c := range first.Cells {
		if finished[c] != 1 {
			t.Fatalf("cell %s has %d cell.finished events; want exactly 1", c, finished[c])
		}
	}
	if len(finished) != len(first.Cells) {
		t.Fatalf("cells finished %v; run.started named %v", finished, first.Cells)
	}
	return evs
}

// cellEnds returns each cell's cell.finished event.
func cellEnds(evs []engine.Event) map[string]engine.Event {
	m := map[string]engine.Event{}
	for _, e := range evs {
		if e.Type == engine.EventCellFinished {
			m[e.Cell] = e
		}
	}
	return m
}

// logLines returns the lines a cell logged on a stream, in order.
func logLines(evs []engine.Event, cell, stream string) []string {
	var out []string
	for _, e := range evs {
		if e.Type == engine.EventCellLog && e.Cell == cell && e.Stream == stream {
			out = append(out, e.Lines...)
		}
	}
	return out
}

// subset reports where want is not contained in got ("" when it is):
// objects may have more keys than wanted, lists and scalars must match.
func subset(path string, want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %v", path, got)
		}
		for k, v := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing (have %v)", path, k, keys(g))
			}
			if d := subset(path+"."+k, v, gv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want %v, got %v", path, want, got)
		}
		for i := range w {
			if d := subset(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if fmt.Sprint(want) != fmt.Sprint(got) || fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
		return fmt.Sprintf("%s: want %#v, got %#v", path, want, got)
	}
	return ""
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// fixture copies cli/testdata/NAME into a temporary folder, replacing
// @MARKER@ with the absolute path of a fresh directory, and returns both.
// A fixture's first cell touches @MARKER@/ran, so a test can prove that
// nothing ran.
func fixture(t *testing.T, name string) (dir, marker string) {
	t.Helper()
	src := filepath.Join("testdata", name)
	base := t.TempDir()
	marker = filepath.Join(base, "marker")
	dir = filepath.Join(base, filepath.Base(name))
	if err := os.Mkdir(marker, 0o755); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, bytes.ReplaceAll(b, []byte("@MARKER@"), []byte(marker)), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, marker
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
