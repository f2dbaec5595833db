package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// collect is an Output that keeps every line, per stream.
type collect struct {
	mu    sync.Mutex
	lines map[string][]string
	calls int
	// started, when set, is closed at the first stdout line "started".
	started chan struct{}
}

func (c *collect) Lines(stream string, lines []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lines == nil {
		c.lines = map[string][]string{}
	}
	c.lines[stream] = append(c.lines[stream], lines...)
	c.calls++
	if c.started != nil && stream == "stdout" && slices.Contains(lines, "started") {
		close(c.started)
		c.started = nil
	}
}

func (c *collect) get(stream string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines[stream]...)
}

// counter is an Output that counts lines and bytes.
type counter struct {
	lines, bytes atomic.Int64
}

func (c *counter) Lines(_ string, lines []string) {
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	c.lines.Add(int64(len(lines)))
	c.bytes.Add(int64(n))
}

// setup makes a request for a cell with the given source, in fresh
// working and temporary directories.
func setup(t testing.TB, kind engine.Kind, src string) (*Request, *collect) {
	t.Helper()
	out := &collect{}
	return &Request{
		Cell:    &engine.Cell{Name: "step", Kind: kind, File: "step" + kind.Ext()},
		Run:     engine.RunInfo{ID: "r_test", Flow: "f"},
		Attempt: 1,
		Source:  src,
		Dir:     t.TempDir(),
		TempDir: t.TempDir(),
		Output:  out,
	}, out
}

func shellResult(t *testing.T, v any) *engine.ShellResult {
	t.Helper()
	r, ok := v.(*engine.ShellResult)
	if !ok {
		t.Fatalf("result is %T, want *engine.ShellResult", v)
	}
	return r
}

func TestShell(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		src        string
		env        []string
		wantOut    []string
		wantErrOut []string
		wantStdout string
		wantCode   int
		wantErr    string
		outputs    map[string]any
	}{
		{
			name:       "lines in order",
			src:        "echo one; echo two; printf 'three\\r\\nfour'",
			wantOut:    []string{"one", "two", "three", "four"},
			wantStdout: "one\ntwo\nthree\r\nfour",
		},
		{
			name:       "stderr",
			src:        "echo out; echo err >&2",
			wantOut:    []string{"out"},
			wantErrOut: []string{"err"},
			wantStdout: "out\n",
		},
		{
			name:       "exit code",
			src:        "echo before; exit 3",
			wantOut:    []string{"before"},
			wantStdout: "before\n",
			wantCode:   3,
			wantErr:    "exit status 3",
		},
		{
			name:       "bash errors name the cell",
			src:        "no_such_command_xyz",
			wantErrOut: []string{"step: line 1: no_such_command_xyz: command not found"},
			wantCode:   127,
			wantErr:    "exit status 127",
		},
		{
			name:       "env",
			src:        `echo "$GREETING $OPSBOOK_RUN $OPSBOOK_CELL"; test ! -s "$OPSBOOK_OUTPUT" && echo fresh`,
			env:        []string{"GREETING=hello"},
			wantOut:    []string{"hello r_test step", "fresh"},
			wantStdout: "hello r_test step\nfresh\n",
		},
		{
			name:    "stdin is empty",
			src:     "cat; echo done",
			wantOut: []string{"done"}, wantStdout: "done\n",
		},
		{
			name: "outputs key=value",
			src: `echo "count=3" >> "$OPSBOOK_OUTPUT"
echo "name=a=b" >> "$OPSBOOK_OUTPUT"
{ echo "text<<EOF"; echo "line 1"; echo "line 2"; echo "EOF"; } >> "$OPSBOOK_OUTPUT"`,
			outputs: map[string]any{"count": "3", "name": "a=b", "text": "line 1\nline 2"},
		},
		{
			name:    "outputs JSON",
			src:     `echo '{"n": 3, "f": 1.5, "s": "x", "l": [1, {"big": 12345678901234}]}' > "$OPSBOOK_OUTPUT"`,
			outputs: map[string]any{"n": int64(3), "f": 1.5, "s": "x", "l": []any{int64(1), map[string]any{"big": int64(12345678901234)}}},
		},
		{
			name:    "malformed outputs",
			src:     `printf 'a=1\nnonsense\n' > "$OPSBOOK_OUTPUT"`,
			wantErr: "$OPSBOOK_OUTPUT line 2: expected key=value",
		},
		{
			name:       "binary bytes pass through",
			src:        `printf 'a\xff\xfeb\n\x00z\n'`,
			wantOut:    []string{"a\xff\xfeb", "\x00z"},
			wantStdout: "a\xff\xfeb\n\x00z\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, out := setup(t, engine.KindShell, tt.src)
			req.Env = tt.env
			v, err := Shell{}.Execute(context.Background(), req)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			r := shellResult(t, v)
			if got := out.get("stdout"); !reflect.DeepEqual(got, tt.wantOut) {
				t.Errorf("stdout lines = %q, want %q", got, tt.wantOut)
			}
			if got := out.get("stderr"); tt.wantErrOut != nil && !reflect.DeepEqual(got, tt.wantErrOut) {
				t.Errorf("stderr lines = %q, want %q", got, tt.wantErrOut)
			}
			if r.Stdout != tt.wantStdout {
				t.Errorf("Stdout = %q, want %q", r.Stdout, tt.wantStdout)
			}
			if r.ExitCode != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", r.ExitCode, tt.wantCode)
			}
			if tt.outputs != nil && !reflect.DeepEqual(r.Outputs, tt.outputs) {
				t.Errorf("Outputs = %#v, want %#v", r.Outputs, tt.outputs)
			}
			if r.Outputs == nil {
				t.Error("Outputs is nil, want a map")
			}
		})
	}
}

func TestPython(t *testing.T) {
	t.Parallel()
	src := `import os, json, sys
print("hello", os.environ["OPSBOOK_CELL"], os.environ["PYTHONUNBUFFERED"])
print("oops", file=sys.stderr)
with open(os.environ["OPSBOOK_OUTPUT"], "w") as f:
    json.dump({"total": 42, "ratio": 0.5}, f)
with open("shared.txt", "w") as f:
    f.write("from python")
`
	req, out := setup(t, engine.KindPython, src)
	v, err := Python{}.Execute(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	r := shellResult(t, v)
	if got := out.get("stdout"); !reflect.DeepEqual(got, []string{"hello step 1"}) {
		t.Errorf("stdout = %q", got)
	}
	if got := out.get("stderr"); !reflect.DeepEqual(got, []string{"oops"}) {
		t.Errorf("stderr = %q", got)
	}
	if want := map[string]any{"total": int64(42), "ratio": 0.5}; !reflect.DeepEqual(r.Outputs, want) {
		t.Errorf("Outputs = %#v", r.Outputs)
	}

	// The next cell of the run shares the working directory.
	req2, out2 := setup(t, engine.KindShell, "cat shared.txt; echo; pwd")
	req2.Dir = req.Dir
	if _, err := (Shell{}).Execute(context.Background(), req2); err != nil {
		t.Fatal(err)
	}
	if got := out2.get("stdout"); len(got) != 2 || got[0] != "from python" || got[1] != req.Dir {
		t.Errorf("second cell saw %q", got)
	}

	// A failing script: the traceback on stderr, exit status 1.
	req3, out3 := setup(t, engine.KindPython, "raise SystemExit(5)")
	if _, err := (Python{}).Execute(context.Background(), req3); err == nil || err.Error() != "exit status 5" {
		t.Errorf("err = %v, want exit status 5", err)
	}
	_ = out3
}

func TestShellLongSource(t *testing.T) {
	t.Parallel()
	// Over 64 KiB: run from a file in TempDir.
	var b strings.Builder
	for b.Len() <= maxInline {
		b.WriteString("# padding padding padding padding padding padding padding\n")
	}
	b.WriteString(`echo "$0"` + "\n")
	req, out := setup(t, engine.KindShell, b.String())
	if _, err := (Shell{}).Execute(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := out.get("stdout")
	if len(got) != 1 || !strings.HasPrefix(got[0], req.TempDir) || !strings.HasSuffix(got[0], ".sh") {
		t.Errorf("$0 = %q, want a script in %s", got, req.TempDir)
	}
	left, _ := os.ReadDir(req.TempDir)
	if len(left) != 0 {
		t.Errorf("files left in TempDir: %v", left)
	}
}

func TestShellLongLine(t *testing.T) {
	t.Parallel()
	// A 10 MB line, then a normal line: the long one is cut and marked, the
	// next one is intact, and a line of exactly MaxLine bytes is kept whole.
	src := fmt.Sprintf(`head -c 10000000 /dev/zero | tr '\0' 'x'; echo; echo next; head -c %d /dev/zero | tr '\0' 'y'; printf '\r\n'; printf a; printf 'é%%.0s' $(seq 40000); echo; echo last`, MaxLine)
	req, out := setup(t, engine.KindShell, src)
	v, err := Shell{}.Execute(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := out.get("stdout")
	if len(got) != 5 {
		t.Fatalf("got %d lines, want 5", len(got))
	}
	if want := strings.Repeat("x", MaxLine) + CutMark; got[0] != want {
		t.Errorf("line 1 has %d bytes, want %d ending in the mark", len(got[0]), len(want))
	}
	if got[1] != "next" {
		t.Errorf("line 2 = %q", got[1])
	}
	if got[2] != strings.Repeat("y", MaxLine) {
		t.Errorf("line 3 has %d bytes, want exactly MaxLine", len(got[2]))
	}
	if !strings.HasSuffix(got[3], CutMark) || !utf8ValidString(got[3]) || len(got[3]) > MaxLine+len(CutMark) {
		t.Errorf("line 4 (UTF-8) cut badly: %d bytes, valid=%v", len(got[3]), utf8ValidString(got[3]))
	}
	if got[4] != "last" {
		t.Errorf("line 5 = %q", got[4])
	}
	r := shellResult(t, v)
	// The tail starts after the first newline it holds.
	if r.Stdout != "last\n" {
		t.Errorf("Stdout: %d bytes, ends %q", len(r.Stdout), r.Stdout[max(0, len(r.Stdout)-20):])
	}
}

func TestShellMillionLines(t *testing.T) {
	t.Parallel()
	req, _ := setup(t, engine.KindShell, "seq 1000000; seq 1000000 >&2")
	var out orderCheck
	req.Output = &out
	v, err := Shell{}.Execute(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"stdout", "stderr"} {
		if out.n[i] != 1000000 || out.bad[i] != "" {
			t.Errorf("%s: %d lines, first out of order: %q", s, out.n[i], out.bad[i])
		}
	}
	if r := shellResult(t, v); !strings.HasSuffix(r.Stdout, "\n999999\n1000000\n") || !strings.HasPrefix(r.Stdout, "99") {
		t.Errorf("Stdout tail starts %q", r.Stdout[:10])
	}
}

// orderCheck checks that each stream is 1, 2, 3, … with no line lost.
type orderCheck struct {
	mu  sync.Mutex
	n   [2]int
	bad [2]string
}

func (o *orderCheck) Lines(stream string, lines []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := 0
	if stream == "stderr" {
		i = 1
	}
	for _, l := range lines {
		o.n[i]++
		if o.bad[i] == "" && l != strconv.Itoa(o.n[i]) {
			o.bad[i] = fmt.Sprintf("line %d is %q", o.n[i], l)
		}
	}
}

// pidsGone waits until none of the pids in file is alive.
func pidsGone(t *testing.T, file string, want int) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pids := strings.Fields(string(data))
	if len(pids) != want {
		t.Fatalf("pids file holds %q, want %d pids", pids, want)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				out, _ := osexec.Command("ps", "-o", "pid,pgid,stat,cmd", "-p", p).CombinedOutput()
				t.Fatalf("process %d still alive:\n%s", pid, out)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// treeScript starts two background children and a grandchild, writes
// their pids, then waits.
const treeScript = `sleep 1000 & echo $! >> pids
sleep 1000 & echo $! >> pids
bash -c 'sleep 1000 & echo $! >> pids; trap "" TERM; sleep 1000' &
echo $! >> pids
while [ $(wc -l < pids) -lt 4 ]; do sleep 0.01; done
echo started
`

// deadlineCtx is a context whose end reads as a deadline, as a cell's
// timeout does, but which a test ends when it chooses.
type deadlineCtx struct{ context.Context }

func (c deadlineCtx) Err() error {
	if c.Context.Err() != nil {
		return context.DeadlineExceeded
	}
	return nil
}

func TestShellStop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stop    func(context.Context, <-chan struct{}) (context.Context, func())
		wait    string // the script's last command
		timeout time.Duration
		wantErr string
		is      error
	}{
		{
			name: "timeout",
			// The cell's timeout as engine/run enforces it: the context
			// ends with DeadlineExceeded, here once the tree has started
			// (a fixed delay loses the race on a loaded machine).
			stop: func(ctx context.Context, started <-chan struct{}) (context.Context, func()) {
				ctx, cancel := context.WithCancelCause(ctx)
				go func() { <-started; cancel(context.DeadlineExceeded) }()
				return deadlineCtx{ctx}, func() { cancel(nil) }
			},
			wait:    "sleep 1000",
			timeout: 500 * time.Millisecond,
			wantErr: "timed out after 500ms",
			is:      context.DeadlineExceeded,
		},
		{
			name: "cancel",
			stop: func(ctx context.Context, started <-chan struct{}) (context.Context, func()) {
				ctx, cancel := context.WithCancelCause(ctx)
				go func() { <-started; cancel(engine.ErrCanceled) }()
				return ctx, func() { cancel(nil) }
			},
			wait:    "trap '' TERM; sleep 1000", // ignores SIGTERM: killed after the grace
			wantErr: "run canceled",
			is:      engine.ErrCanceled,
		},
		{
			name:    "exit leaves children",
			stop:    func(ctx context.Context, _ <-chan struct{}) (context.Context, func()) { return ctx, func() {} },
			wait:    "exit 0",
			wantErr: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, out := setup(t, engine.KindShell, treeScript+tt.wait)
			req.Cell.Timeout = tt.timeout
			started := make(chan struct{})
			out.started = started
			ctx, cancel := tt.stop(context.Background(), started)
			defer cancel()
			start := time.Now()
			v, err := Shell{Grace: 300 * time.Millisecond}.Execute(ctx, req)
			took := time.Since(start)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr || !errors.Is(err, tt.is)) {
				t.Fatalf("err = %v, want %q wrapping %v", err, tt.wantErr, tt.is)
			}
			if took > 30*time.Second { // the tree sleeps 1000 s: only a kill ends it this soon
				t.Errorf("took %v", took)
			}
			if got := out.get("stdout"); !reflect.DeepEqual(got, []string{"started"}) {
				t.Errorf("stdout = %q", got)
			}
			if tt.wantErr != "" && shellResult(t, v).ExitCode == 0 {
				t.Error("exit code 0 for a stopped cell")
			}
			pidsGone(t, filepath.Join(req.Dir, "pids"), 4)
		})
	}
}

func TestShellStartError(t *testing.T) {
	t.Parallel()
	req, _ := setup(t, engine.KindShell, "true")
	_, err := Shell{Bash: "/no/such/bash"}.Execute(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "start /no/such/bash") {
		t.Errorf("err = %v", err)
	}
}

func utf8ValidString(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func BenchmarkShellTrue(b *testing.B) {
	req, _ := setup(b, engine.KindShell, "true")
	req.Output = &counter{}
	ctx := context.Background()
	for b.Loop() {
		if _, err := (Shell{}).Execute(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBashLoop(b *testing.B) {
	for b.Loop() {
		if err := osexec.Command("bash", "-c", "true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeqMillion(b *testing.B) {
	req, _ := setup(b, engine.KindShell, "seq 1000000")
	ctx := context.Background()
	// seq 1000000 prints 6,888,896 bytes.
	b.SetBytes(6888896)
	for b.Loop() {
		c := &counter{}
		req.Output = c
		if _, err := (Shell{}).Execute(ctx, req); err != nil {
			b.Fatal(err)
		}
		if c.lines.Load() != 1000000 {
			b.Fatalf("%d lines", c.lines.Load())
		}
	}
}

// TestEnvHidesOpsbookSettings: a cell does not inherit the server's own
// settings, such as the key that seals secrets or the database URL.
func TestEnvHidesOpsbookSettings(t *testing.T) {
	t.Setenv("OPSBOOK_SECRET_KEY", "c2VjcmV0LWtleS1zZWNyZXQta2V5LXNlY3JldC1rZXk=")
	t.Setenv("OPSBOOK_DB", "postgres://u:pw@db/x")
	t.Setenv("OPSBOOK_SECRET_TOKEN", "cli-secret")
	t.Setenv("VISIBLE_TO_CELLS", "yes")
	out := &collect{}
	req := &Request{Cell: &engine.Cell{Name: "env", Kind: engine.KindShell}, Source: "env | sort", Dir: t.TempDir(), TempDir: t.TempDir(), Output: out}
	if _, err := (Shell{}).Execute(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(out.get(engine.StreamStdout), "\n")
	for _, bad := range []string{"OPSBOOK_SECRET_KEY", "OPSBOOK_DB", "OPSBOOK_SECRET_TOKEN"} {
		if strings.Contains(all, bad+"=") {
			t.Errorf("the cell sees %s", bad)
		}
	}
	if !strings.Contains(all, "VISIBLE_TO_CELLS=yes") || !strings.Contains(all, "OPSBOOK_OUTPUT=") {
		t.Errorf("the cell lost its ordinary environment:\n%s", all)
	}
}
