package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
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
	// In is where a question (an approval cell's) is answered, when
	// InTerminal says a person is there to answer it.
	In         io.Reader
	InTerminal bool
}

// OS is the process's own standard streams.
func OS() Stdio {
	return Stdio{Out: os.Stdout, Err: os.Stderr, Terminal: isTerminal(os.Stdout), In: os.Stdin, InTerminal: isCharDevice(os.Stdin)}
}

const runUsage = `usage: opsbook run DIR [flags]

Runs the flow folder DIR here, with no server and no database.
Exit status: 0 succeeded, 1 failed or canceled, 2 invalid flow or usage.
An approval cell asks on the terminal; without one, pass --approve NAME or
--reject NAME, or the cell fails.

flags:
`

// Run is `opsbook run`. ctx ends the run (as canceled) when it is done;
// SIGINT and SIGTERM cancel it too.
func Run(ctx context.Context, args []string, std Stdio) int {
	fs := NewFlagSet("run", std.Err, runUsage)
	var inputs, secrets, conns pairs
	fs.Var(&inputs, "input", "an input `NAME=VALUE` (repeatable)")
	fs.Var(&secrets, "secret", "a secret `NAME=VALUE` (repeatable; OPSBOOK_SECRET_NAME also works and stays out of ps)")
	fs.Var(&conns, "connection", "a SQL connection `NAME=postgres://…` (repeatable)")
	asJSON := fs.Bool("json", false, "print the run's events as JSON lines instead of text")
	scratch := fs.String("scratch", "", "the scratch SQLite `FILE` (default: scratch.db in the working directory)")
	keep := fs.Bool("keep-workdir", false, "keep the run's working directory and print its path")
	parallel := fs.Int("parallel", 0, "cells running at once in graph order (default 2×CPUs, at least 4)")
	var ap approvalFlags
	fs.Var(&ap.approve, "approve", "approve the approval cell `NAME` without asking (repeatable)")
	fs.Var(&ap.reject, "reject", "reject the approval cell `NAME` without asking (repeatable)")
	fs.Var(&ap.comments, "comment", "the comment `CELL=TEXT` of a decision given with --approve or --reject (repeatable)")
	fs.Var(&ap.form, "approval-input", "a field of an approval cell's form, `CELL.FIELD=VALUE` (repeatable)")
	box := fs.String("sandbox", "none", "none (cells run as you, here) or bwrap (in a sandbox, as a studio runs them)")
	var lf LogFlags
	lf.Register(fs, "warn")
	pos, code, ok := ParseFlags(fs, args, std.Err)
	if !ok {
		return code
	}
	log, err := lf.Logger(std.Err)
	if err != nil {
		fmt.Fprintln(std.Err, "opsbook run:", err)
		return ExitInvalid
	}
	if *box != "none" && *box != "bwrap" {
		fmt.Fprintf(std.Err, "opsbook run: --sandbox is none or bwrap, not %q\n", *box)
		return ExitInvalid
	}
	if len(pos) != 1 {
		fmt.Fprintln(std.Err, "opsbook run: give one flow folder, e.g. opsbook run testdata/flows/service-health")
		return ExitInvalid
	}
	lr, code := loadLocalRun(std, pos[0], inputs, secrets)
	if code != ExitOK {
		return code
	}
	lr.log = log
	if probs := checkApprovalFlags(lr.f, &ap); len(probs) > 0 {
		for _, p := range probs {
			fmt.Fprintln(std.Err, "opsbook run:", p)
		}
		return ExitInvalid
	}
	ta := &terminalApprover{flags: ap, out: std.Err, who: whoAmI()}
	if std.InTerminal && std.In != nil {
		ta.in = bufio.NewReader(std.In)
	}
	lr.approver = ta
	cleanup, err := lr.makeDirs(*keep)
	if err != nil {
		fmt.Fprintln(std.Err, "opsbook run:", err)
		return ExitFailed
	}
	defer cleanup()
	if *scratch == "" {
		*scratch = filepath.Join(lr.workdir, "scratch.db")
	}
	sqlx := &executor.SQL{Scratch: *scratch, Connections: conns.vals}
	defer sqlx.Close()
	ctx, stop := cancelOnSignal(ctx)
	defer stop()
	sp, closeSandbox, err := lr.spawner(*box)
	if err != nil {
		fmt.Fprintln(std.Err, "opsbook run:", err)
		fmt.Fprintln(std.Err, "Install bubblewrap and slirp4netns, or run without --sandbox.")
		return ExitFailed
	}
	defer closeSandbox()
	return lr.execute(ctx, lr.sink(*asJSON), sp, sqlx, *parallel)
}

// localRun is one `opsbook run` of a flow folder: the steps of Run.
type localRun struct {
	std      Stdio
	dir      string
	f        *engine.Flow
	plan     *run.Plan
	inputs   map[string]any
	secrets  map[string]string
	workdir  string // the cells' working directory
	tmp      string // their TMPDIR
	log      *slog.Logger
	approver run.Approver
}

// loadLocalRun loads and compiles the flow folder dir and reads its
// inputs and secrets. Problems are printed; the code is ExitOK when there
// are none.
func loadLocalRun(std Stdio, dir string, inputs, secrets pairs) (*localRun, int) {
	f, err := flow.Load(dir)
	if err != nil {
		printProblems(std.Err, dir, err)
		return nil, ExitInvalid
	}
	plan, err := run.Compile(f)
	if err != nil {
		printProblems(std.Err, dir, err)
		return nil, ExitInvalid
	}
	lr := &localRun{std: std, dir: dir, f: f, plan: plan}
	if !lr.readInputs(inputs) {
		return nil, ExitInvalid
	}
	lr.readSecrets(secrets)
	return lr, ExitOK
}

// readInputs checks the --input values against the flow's inputs,
// printing each problem; it reports whether there were none.
func (lr *localRun) readInputs(inputs pairs) bool {
	given := make(map[string]any, len(inputs.keys))
	for _, k := range inputs.keys {
		given[k] = inputs.vals[k]
	}
	in, errs := run.Inputs(lr.f, given)
	if len(errs) > 0 {
		for _, e := range errs {
			msg := e.Msg
			if name, ok := strings.CutPrefix(e.Pos.File, "input "); ok && strings.HasSuffix(msg, "is required; give it a value") {
				msg = fmt.Sprintf("input %s is required; pass --input %s=…", name, name)
			}
			fmt.Fprintln(lr.std.Err, msg)
		}
		return false
	}
	lr.inputs = in
	return true
}

// readSecrets takes the secrets the flow uses from OPSBOOK_SECRET_NAME,
// then from --secret, which wins.
func (lr *localRun) readSecrets(secrets pairs) {
	lr.secrets = map[string]string{}
	for _, name := range lr.plan.Secrets() {
		if v, ok := os.LookupEnv("OPSBOOK_SECRET_" + name); ok {
			lr.secrets[name] = v
		}
	}
	for _, k := range secrets.keys {
		lr.secrets[k] = secrets.vals[k]
	}
}

// makeDirs makes the run's working and temporary directories; cleanup
// removes them, or, with keep, keeps the working one and says where.
func (lr *localRun) makeDirs(keep bool) (cleanup func(), err error) {
	lr.workdir, err = os.MkdirTemp("", "opsbook-run-")
	if err != nil {
		return nil, fmt.Errorf("make the working directory: %w", err)
	}
	dropWorkdir := func() {
		if keep {
			fmt.Fprintln(lr.std.Err, "working directory kept:", lr.workdir)
		} else {
			os.RemoveAll(lr.workdir)
		}
	}
	lr.tmp, err = os.MkdirTemp("", "opsbook-tmp-")
	if err != nil {
		dropWorkdir()
		return nil, fmt.Errorf("make a temporary directory: %w", err)
	}
	return func() {
		os.RemoveAll(lr.tmp)
		dropWorkdir()
	}, nil
}

// sink is where the run's events go: JSON lines, or text for people.
func (lr *localRun) sink(asJSON bool) run.Sink {
	if asJSON {
		return newJSONSink(lr.std.Out)
	}
	kinds := map[string]engine.Kind{}
	for _, c := range lr.f.Cells {
		kinds[c.Name] = c.Kind
	}
	return newTermSink(lr.std.Out, lr.std.Terminal, lr.f.EffectiveOrder() == engine.OrderGraph, kinds)
}

// cancelOnSignal is ctx, canceled as engine.ErrCanceled on SIGINT or
// SIGTERM; stop stops listening and cancels it.
func cancelOnSignal(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
			cancel(engine.ErrCanceled)
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(nil)
	}
}

// spawner starts the cells' processes: here, as the user (box "none"), or
// in a bubblewrap sandbox as a studio runs them; closeSandbox ends it.
func (lr *localRun) spawner(box string) (sp executor.Spawner, closeSandbox func(), err error) {
	if box != "bwrap" {
		return executor.Fork{}, func() {}, nil
	}
	network := sandbox.NetOutbound
	if lr.f.NoNetwork {
		network = sandbox.NetNone
	}
	sb, err := sandbox.Config{}.Start(sandbox.Run{Dir: lr.workdir, TempDir: lr.tmp, Network: network, Limits: sandbox.DefaultLimits})
	if err != nil {
		return nil, nil, fmt.Errorf("start the sandbox: %w", err)
	}
	return sb, func() { sb.Close() }, nil
}

// execute runs the plan and says how it ended as an exit code.
func (lr *localRun) execute(ctx context.Context, sink run.Sink, sp executor.Spawner, sqlx *executor.SQL, parallel int) int {
	abs, _ := filepath.Abs(lr.dir)
	sum, err := lr.plan.Run(ctx, run.Options{
		ID:        engine.NewID("r_"),
		Flow:      filepath.Base(abs),
		Inputs:    lr.inputs,
		Secrets:   lr.secrets,
		Dir:       lr.workdir,
		TempDir:   lr.tmp,
		Executors: executor.Set(sp, sqlx),
		Sink:      sink,
		Parallel:  parallel,
		Hash:      flow.Hash(lr.f),
		Logger:    lr.log,
		Approver:  lr.approver,
	})
	if err != nil {
		fmt.Fprintln(lr.std.Err, "opsbook run:", strings.TrimPrefix(err.Error(), engine.ErrInvalid.Error()+": "))
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
func Check(args []string, std Stdio) int {
	fs := NewFlagSet("check", std.Err, "usage: opsbook check DIR…\n\nValidates flow folders; prints file:line:col: message for each problem.\nExit status: 0 valid, 2 invalid.\n")
	pos, code, ok := ParseFlags(fs, args, std.Err)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		fs.Usage()
		return ExitInvalid
	}
	code = ExitOK
	for _, dir := range pos {
		f, err := flow.Load(dir)
		if err == nil {
			_, err = run.Compile(f)
		}
		if err != nil {
			printProblems(std.Err, dir, err)
			code = ExitInvalid
			continue
		}
		fmt.Fprintf(std.Out, "%s: ok (%d cells)\n", dir, len(f.Cells))
	}
	return code
}
