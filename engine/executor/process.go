package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// DefaultGrace is how long a process group has between SIGTERM and SIGKILL
// when its cell is stopped.
const DefaultGrace = 2 * time.Second

// maxInline is the largest source passed with -c; longer scripts go to a
// file, well below Linux's 128 KiB limit on one argument.
const maxInline = 64 << 10

// stdoutTail is how much of stdout a result keeps.
const stdoutTail = 64 << 10

// Shell runs shell cells with bash.
type Shell struct {
	Bash  string        // the program; "" means "bash" from PATH
	Grace time.Duration // between SIGTERM and SIGKILL on stop; 0 means DefaultGrace
	// Spawner starts the process; nil means Fork{} (no sandbox).
	Spawner Spawner
}

// Python runs python cells with python3.
type Python struct {
	Python  string        // the program; "" means "python3" from PATH
	Grace   time.Duration // between SIGTERM and SIGKILL on stop; 0 means DefaultGrace
	Spawner Spawner       // nil means Fork{}
}

var (
	_ Executor = Shell{}
	_ Executor = Python{}
)

// Execute runs req.Source with bash. It returns a *engine.ShellResult, and
// an error too when the script fails or is stopped.
func (s Shell) Execute(ctx context.Context, req *Request) (any, error) {
	return runProcess(ctx, req, process{
		program: orDefault(s.Bash, "bash"),
		ext:     ".sh",
		grace:   s.Grace,
		spawner: s.Spawner,
		// bash -c SCRIPT NAME sets $0, so bash's own errors name the cell.
		inlineArgs: func(src, name string) []string { return []string{"-c", src, name} },
	})
}

// Execute runs req.Source with python3. It returns a *engine.ShellResult,
// and an error too when the script fails or is stopped.
func (p Python) Execute(ctx context.Context, req *Request) (any, error) {
	return runProcess(ctx, req, process{
		program:    orDefault(p.Python, "python3"),
		ext:        ".py",
		grace:      p.Grace,
		spawner:    p.Spawner,
		env:        []string{"PYTHONUNBUFFERED=1"},
		inlineArgs: func(src, _ string) []string { return []string{"-c", src} },
	})
}

// process is what differs between the interpreters.
type process struct {
	program    string
	ext        string
	grace      time.Duration
	spawner    Spawner
	env        []string
	inlineArgs func(src, name string) []string
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func runProcess(ctx context.Context, req *Request, p process) (*engine.ShellResult, error) {
	name := cellName(req)
	tmp := req.TempDir
	if tmp == "" {
		d, err := os.MkdirTemp("", "opsbook-cell-")
		if err != nil {
			return nil, fmt.Errorf("create temporary directory: %w", err)
		}
		defer os.RemoveAll(d)
		tmp = d
	}
	prefix := fileSafe(name) + "-" + strconv.Itoa(req.Attempt) + "-"

	// A fixed name is unique here: tmp is private to the run, and a cell
	// has one attempt n at a time. It saves the random-name retry loop of
	// os.CreateTemp on every cell.
	// The output file is created by the cell when it writes to it (`>>`
	// creates it); not creating it up front saves three file-system calls
	// per cell. A stale file of an earlier attempt is removed first.
	outPath := filepath.Join(tmp, prefix+"output")
	if err := os.Remove(outPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("clear output file: %w", err)
	}

	var args []string
	if len(req.Source) < maxInline {
		args = p.inlineArgs(req.Source, name)
	} else {
		f, err := os.CreateTemp(tmp, prefix+"script-*"+p.ext)
		if err != nil {
			return nil, fmt.Errorf("create script file: %w", err)
		}
		_, werr := f.WriteString(req.Source)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		defer os.Remove(f.Name())
		if werr == nil {
			// A sandboxed cell runs as another user: the file's directory
			// is private to the run, the file need not be.
			werr = os.Chmod(f.Name(), 0o644)
		}
		if werr != nil {
			return nil, fmt.Errorf("write script file: %w", werr)
		}
		args = []string{f.Name()}
	}

	grace := p.grace
	if grace <= 0 {
		grace = DefaultGrace
	}

	sp := p.spawner
	if sp == nil {
		sp = Fork{}
	}
	env := append(sp.Env(), p.env...)
	env = append(env, req.Env...) // the cell's env may override ours
	env = append(env,
		"OPSBOOK_OUTPUT="+sp.Path(outPath),
		"OPSBOOK_RUN="+req.Run.ID,
		"OPSBOOK_CELL="+name,
	)
	if len(req.Source) >= maxInline {
		args = []string{sp.Path(args[0])}
	}

	// Our own pipes, as *os.File, so the cell's exit is seen when the main
	// process exits instead of when every holder of the write ends does.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("create pipe: %w", err)
	}
	if ctx.Err() != nil {
		outR.Close()
		outW.Close()
		errR.Close()
		errW.Close()
		return nil, stopError(ctx, req)
	}
	dir := req.Dir
	if dir != "" {
		dir = sp.Path(dir)
	}
	proc, err := sp.Spawn(&Spec{Program: p.program, Args: args, Env: env, Dir: dir, Stdout: outW, Stderr: errW})
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		if ctx.Err() != nil {
			return nil, stopError(ctx, req)
		}
		return nil, fmt.Errorf("start %s: %w", p.program, err)
	}

	tail := newTail(stdoutTail)
	outDone := make(chan error, 1)
	errDone := make(chan error, 1)
	go func() { outDone <- pump(outR, engine.StreamStdout, req.Output, tail) }()
	go func() { errDone <- pump(errR, engine.StreamStderr, req.Output, nil) }()

	// On ctx done, ask the whole group to stop, and kill it grace later.
	exited := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-exited:
			return
		case <-ctx.Done():
		}
		_ = proc.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-exited:
		case <-t.C:
			_ = proc.Signal(syscall.SIGKILL)
		}
	}()
	ws, waitErr := proc.Wait()
	close(exited)
	<-stopped
	// Whatever the script left behind in its group goes with it, so nothing
	// keeps running or holds our pipes.
	_ = proc.Signal(syscall.SIGKILL)

	// A process that left the group (setsid) may still hold the pipes: give
	// it the grace period, then stop reading.
	timer := time.NewTimer(grace)
	defer timer.Stop()
	var readErrs [2]error
	for i, ch := range []chan error{outDone, errDone} {
		select {
		case readErrs[i] = <-ch:
		case <-timer.C:
			outR.Close()
			errR.Close()
			readErrs[i] = <-ch
		}
	}
	outR.Close()
	errR.Close()

	code := -1
	if waitErr == nil {
		code = exitCode(ws)
	}
	res := &engine.ShellResult{ExitCode: code, Stdout: tail.String()}

	outputs, outErr := readOutputs(outPath)
	res.Outputs = outputs

	if ctx.Err() != nil {
		logOutputsError(req, outErr)
		return res, stopError(ctx, req)
	}
	if waitErr != nil {
		return res, fmt.Errorf("wait for %s: %w", p.program, waitErr)
	}
	if res.ExitCode != 0 {
		logOutputsError(req, outErr)
		if ws.Signaled() {
			return res, fmt.Errorf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		}
		return res, fmt.Errorf("exit status %d", res.ExitCode)
	}
	for _, err := range readErrs {
		if err != nil {
			return res, fmt.Errorf("read output: %w", err)
		}
	}
	if outErr != nil {
		return res, outErr
	}
	return res, nil
}

// logOutputsError shows a bad output file in the log when another error
// is the one returned.
func logOutputsError(req *Request, err error) {
	if err != nil && req.Output != nil {
		req.Output.Lines(engine.StreamStderr, []string{err.Error()})
	}
}

// exitCode is the process's exit status, or 128+signal as shells report a
// process killed by a signal.
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func cellName(req *Request) string {
	if req.Cell == nil {
		return "cell"
	}
	return req.Cell.Name
}

// fileSafe keeps a cell name usable inside a file name.
func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r == '*' || r == 0 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "cell"
	}
	return filepath.Clean(s)
}

// StopError is returned when a cell is stopped by its context. It unwraps to
// the context's cause (context.DeadlineExceeded for a timeout, the cause
// given to the cancel function otherwise), so callers can tell them apart
// with errors.Is.
type StopError struct {
	Msg   string
	Cause error
}

func (e *StopError) Error() string { return e.Msg }

func (e *StopError) Unwrap() error { return e.Cause }

// stopError describes why ctx ended, for a cell it stopped.
func stopError(ctx context.Context, req *Request) error {
	cause := context.Cause(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		msg := "timed out"
		if req.Cell != nil && req.Cell.Timeout > 0 {
			msg += " after " + req.Cell.Timeout.String()
		}
		return &StopError{Msg: msg, Cause: cause}
	}
	if cause == nil {
		cause = ctx.Err()
	}
	return &StopError{Msg: cause.Error(), Cause: cause}
}

// readBufs recycles pump's read buffers: two per cell, 64 KiB each, are
// otherwise most of what a short cell allocates.
var readBufs = sync.Pool{New: func() any { b := make([]byte, readSize); return &b }}

// pump reads r to EOF and sends its lines to out, one call per read.
func pump(r io.Reader, stream string, out Output, tail *tail) error {
	sp := lineSplitter{stream: stream, out: out}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if tail != nil {
				tail.Write(buf[:n])
			}
			sp.Write(buf[:n])
		}
		if err != nil {
			sp.Flush()
			if err == io.EOF || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// inherited is the environment a cell starts from: this process's, less
// Opsbook's own settings (OPSBOOK_*), which hold the database URL, the key
// that seals workspace secrets and the CLI's secrets. A cell reaches a
// secret only through {{ secrets.NAME }}.
func inherited() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "OPSBOOK_") {
			out = append(out, kv)
		}
	}
	return out
}
