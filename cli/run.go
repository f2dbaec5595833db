package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/exec"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/sandbox"
)

// Exit codes of `opsbook run` and `opsbook check`.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitInvalid = 2
)

// Stdio is where a command reads and writes.
type Stdio struct {
	Out, Err io.Writer
	// Terminal reports whether Out is a terminal (colour on).
	Terminal bool
}

// OS is the process's own standard streams.
func OS() Stdio {
	return Stdio{Out: os.Stdout, Err: os.Stderr, Terminal: isTerminal(os.Stdout)}
}

const runUsage = `usage: opsbook run DIR [flags]

Runs the flow folder DIR here, with no server and no database.
Exit status: 0 succeeded, 1 failed or canceled, 2 invalid flow or usage.

flags:
`

// Run is `opsbook run`. ctx ends the run (as canceled) when it is done;
// SIGINT and SIGTERM cancel it too.
func Run(ctx context.Context, args []string, io Stdio) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Err)
	fs.Usage = func() { fmt.Fprint(io.Err, runUsage); fs.PrintDefaults() }
	var inputs, secrets, conns pairs
	fs.Var(&inputs, "input", "an input `NAME=VALUE` (repeatable)")
	fs.Var(&secrets, "secret", "a secret `NAME=VALUE` (repeatable; OPSBOOK_SECRET_NAME also works and stays out of ps)")
	fs.Var(&conns, "connection", "a SQL connection `NAME=postgres://…` (repeatable)")
	asJSON := fs.Bool("json", false, "print the run's events as JSON lines instead of text")
	scratch := fs.String("scratch", "", "the scratch SQLite `FILE` (default: scratch.db in the working directory)")
	keep := fs.Bool("keep-workdir", false, "keep the run's working directory and print its path")
	parallel := fs.Int("parallel", 0, "cells running at once in graph order (default 2×CPUs, at least 4)")
	box := fs.String("sandbox", "none", "none (cells run as you, here) or bwrap (in a sandbox, as a studio runs them)")
	pos, err := ParseInterleaved(fs, args)
	if err == flag.ErrHelp {
		return ExitOK
	}
	if err != nil {
		return ExitInvalid
	}
	if err := EnvDefaults(fs); err != nil {
		fmt.Fprintln(io.Err, "opsbook run:", err)
		return ExitInvalid
	}
	if *box != "none" && *box != "bwrap" {
		fmt.Fprintf(io.Err, "opsbook run: --sandbox is none or bwrap, not %q\n", *box)
		return ExitInvalid
	}
	if len(pos) != 1 {
		fmt.Fprintln(io.Err, "opsbook run: give one flow folder, e.g. opsbook run testdata/flows/service-health")
		return ExitInvalid
	}
	dir := pos[0]

	f, err := flow.Load(dir)
	if err != nil {
		printProblems(io.Err, dir, err)
		return ExitInvalid
	}
	plan, err := run.Compile(f)
	if err != nil {
		printProblems(io.Err, dir, err)
		return ExitInvalid
	}
	given := make(map[string]any, len(inputs.keys))
	for _, k := range inputs.keys {
		given[k] = inputs.vals[k]
	}
	in, errs := run.Inputs(f, given)
	if len(errs) > 0 {
		for _, e := range errs {
			msg := e.Msg
			if name, ok := strings.CutPrefix(e.Pos.File, "input "); ok && strings.HasSuffix(msg, "is required; give it a value") {
				msg = fmt.Sprintf("input %s is required; pass --input %s=…", name, name)
			}
			fmt.Fprintln(io.Err, msg)
		}
		return ExitInvalid
	}
	sec := map[string]string{}
	for _, name := range plan.Secrets() {
		if v, ok := os.LookupEnv("OPSBOOK_SECRET_" + name); ok {
			sec[name] = v
		}
	}
	for _, k := range secrets.keys {
		sec[k] = secrets.vals[k]
	}

	workdir, err := os.MkdirTemp("", "opsbook-run-")
	if err != nil {
		fmt.Fprintln(io.Err, "opsbook run: make the working directory:", err)
		return ExitFailed
	}
	if *keep {
		defer fmt.Fprintln(io.Err, "working directory kept:", workdir)
	} else {
		defer os.RemoveAll(workdir)
	}
	tmp, err := os.MkdirTemp("", "opsbook-tmp-")
	if err != nil {
		fmt.Fprintln(io.Err, "opsbook run: make a temporary directory:", err)
		return ExitFailed
	}
	defer os.RemoveAll(tmp)
	if *scratch == "" {
		*scratch = filepath.Join(workdir, "scratch.db")
	}
	sqlx := &exec.SQL{Scratch: *scratch, Connections: conns.vals}
	defer sqlx.Close()

	var sink run.Sink
	if *asJSON {
		sink = newJSONSink(io.Out)
	} else {
		kinds := map[string]engine.Kind{}
		for _, c := range f.Cells {
			kinds[c.Name] = c.Kind
		}
		sink = newTermSink(io.Out, io.Terminal, f.EffectiveOrder() == engine.OrderGraph, kinds)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			cancel(engine.ErrCanceled)
		case <-ctx.Done():
		}
	}()

	var sp exec.Spawner = exec.Fork{}
	if *box == "bwrap" {
		network := sandbox.NetOutbound
		if f.NoNetwork {
			network = sandbox.NetNone
		}
		sb, err := sandbox.Config{}.Start(sandbox.Run{Dir: workdir, TempDir: tmp, Network: network, Limits: sandbox.DefaultLimits})
		if err != nil {
			fmt.Fprintln(io.Err, "opsbook run: start the sandbox:", err)
			fmt.Fprintln(io.Err, "Install bubblewrap and slirp4netns, or run without --sandbox.")
			return ExitFailed
		}
		defer sb.Close()
		sp = sb
	}

	abs, _ := filepath.Abs(dir)
	sum, err := plan.Run(ctx, run.Options{
		ID:      engine.NewID("r_"),
		Flow:    filepath.Base(abs),
		Inputs:  in,
		Secrets: sec,
		Dir:     workdir,
		TempDir: tmp,
		Executors: map[engine.Kind]exec.Executor{
			engine.KindShell:  &exec.Shell{Spawner: sp},
			engine.KindPython: &exec.Python{Spawner: sp},
			engine.KindHTTP:   &exec.HTTP{},
			engine.KindSQL:    sqlx,
		},
		Sink:     sink,
		Parallel: *parallel,
		Hash:     flow.Hash(f),
	})
	if err != nil {
		fmt.Fprintln(io.Err, "opsbook run:", strings.TrimPrefix(err.Error(), engine.ErrInvalid.Error()+": "))
		if errors.Is(err, engine.ErrInvalid) {
			return ExitInvalid
		}
		return ExitFailed
	}
	if sum.Status == engine.RunSucceeded {
		return ExitOK
	}
	return ExitFailed
}

// printProblems prints each problem as path:line:col: message, with paths
// relative to where the command was run so editors can jump to them.
func printProblems(w io.Writer, dir string, err error) {
	var list engine.Errors
	var one *engine.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = engine.Errors{one}
	default:
		fmt.Fprintln(w, err)
		return
	}
	for _, e := range list {
		p := e.Pos
		if p.File != "" && !filepath.IsAbs(p.File) {
			p.File = filepath.Join(dir, p.File)
		}
		fmt.Fprintln(w, (&engine.Error{Pos: p, Msg: e.Msg}).Error())
	}
}

// Check is `opsbook check DIR`: it validates the manifest, expressions,
// templates, references and cycles, and prints every problem.
func Check(args []string, io Stdio) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(io.Err)
	fs.Usage = func() {
		fmt.Fprint(io.Err, "usage: opsbook check DIR…\n\nValidates flow folders; prints file:line:col: message for each problem.\nExit status: 0 valid, 2 invalid.\n")
	}
	pos, err := ParseInterleaved(fs, args)
	if err == flag.ErrHelp {
		return ExitOK
	}
	if err != nil {
		return ExitInvalid
	}
	if len(pos) == 0 {
		fs.Usage()
		return ExitInvalid
	}
	code := ExitOK
	for _, dir := range pos {
		f, err := flow.Load(dir)
		if err == nil {
			_, err = run.Compile(f)
		}
		if err != nil {
			printProblems(io.Err, dir, err)
			code = ExitInvalid
			continue
		}
		fmt.Fprintf(io.Out, "%s: ok (%d cells)\n", dir, len(f.Cells))
	}
	return code
}
