package executor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// Spawner starts the process of a shell or python cell. Without one
// (Request.Spawner nil) a cell is a plain child of this process (Fork); a
// sandbox (engine/sandbox) starts it inside the run's namespaces instead.
type Spawner interface {
	// Env is the environment a cell starts from, before the executor's and
	// the cell's own variables.
	Env() []string
	// Path is where the cell sees a file of the run's directories (Request.
	// Dir or Request.TempDir, or a file inside them) given by its host path.
	Path(host string) string
	// Spawn starts spec in a new process group of its own.
	Spawn(spec *Spec) (Proc, error)
}

// Spec is one process to start. Program is found in the PATH of Env when it
// has no slash; Dir and the paths in Args and Env are the cell's view
// (Spawner.Path).
type Spec struct {
	Program string
	Args    []string // without the program itself
	Env     []string
	Dir     string
	// Stdout and Stderr are the write ends of the caller's pipes; the
	// caller closes them once Spawn returns.
	Stdout, Stderr *os.File
}

// Proc is a started process, leader of its own process group.
type Proc interface {
	// Signal sends sig to the process's whole group. It returns
	// os.ErrProcessDone when the group is gone.
	Signal(sig syscall.Signal) error
	// Wait waits for the process (not its group) to exit.
	Wait() (syscall.WaitStatus, error)
}

// Tracker learns of each process group a Fork starts and ends, so that a
// server killed before it could stop them can find them at its next start.
type Tracker interface {
	Add(pgid int)
	Remove(pgid int)
}

// Fork starts cells as plain children of this process, which see the
// host's files, processes and network. Each cell's group gets SIGKILL when
// this process dies (Pdeathsig), but only its leader: what it started lives
// on unless Track records the group for the next start to kill.
type Fork struct {
	Track Tracker // optional
}

var _ Spawner = Fork{}

// Env is this process's environment less Opsbook's own settings
// (OPSBOOK_*), which hold the database URL, the key that seals workspace
// secrets and the CLI's secrets. A cell reaches a secret only through
// {{ secrets.NAME }}.
func (Fork) Env() []string { return inherited() }

// Path is host: a forked cell sees the host's paths.
func (Fork) Path(host string) string { return host }

// Spawn starts spec as a child of this process.
func (f Fork) Spawn(spec *Spec) (Proc, error) {
	path := spec.Program
	if !strings.Contains(path, "/") {
		p, err := exec.LookPath(path)
		if err != nil {
			return nil, err
		}
		path = p
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	p, err := os.StartProcess(path, append([]string{spec.Program}, spec.Args...), &os.ProcAttr{
		Dir:   spec.Dir,
		Env:   spec.Env,
		Files: []*os.File{devnull, spec.Stdout, spec.Stderr},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return nil, err
	}
	if f.Track != nil {
		f.Track.Add(p.Pid)
	}
	return &forked{p: p, track: f.Track}, nil
}

type forked struct {
	p     *os.Process
	track Tracker
}

func (f *forked) Signal(sig syscall.Signal) error {
	err := syscall.Kill(-f.p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

func (f *forked) Wait() (syscall.WaitStatus, error) {
	ps, err := f.p.Wait()
	if err != nil {
		return 0, fmt.Errorf("wait: %w", err)
	}
	if f.track != nil {
		// What the leader left in its group goes with it before the group
		// is forgotten (the caller kills it again, harmlessly).
		_ = syscall.Kill(-f.p.Pid, syscall.SIGKILL)
		f.track.Remove(f.p.Pid)
	}
	return ps.Sys().(syscall.WaitStatus), nil
}
