package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// launcherArg is argv[1] of the opsbook binary started as a launcher inside
// bwrap. A user never types it.
const launcherArg = "__opsbook-sandbox-launcher"

// launcherFD is the launcher's end of the socket to the host.
const launcherFD = 3

// Main turns this process into a sandbox launcher when it was started as one
// and never returns then; otherwise it returns at once. Call it first in
// main, and in TestMain of every package whose tests start sandboxes (the
// test binary is the launcher there).
func Main() {
	if len(os.Args) < 2 || os.Args[1] != launcherArg {
		return
	}
	if err := launch(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "opsbook sandbox launcher:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// launcherConfig is what the host tells the launcher on its command line.
type launcherConfig struct {
	uid, gid             int // -1: keep
	nproc, nofile, fsize int64
	memory               int64
}

func (c launcherConfig) args() []string {
	return []string{strconv.Itoa(c.uid), strconv.Itoa(c.gid),
		strconv.FormatInt(c.nproc, 10), strconv.FormatInt(c.nofile, 10),
		strconv.FormatInt(c.fsize, 10), strconv.FormatInt(c.memory, 10)}
}

func parseLauncherConfig(args []string) (launcherConfig, error) {
	if len(args) != 6 {
		return launcherConfig{}, fmt.Errorf("want 6 arguments, got %d", len(args))
	}
	var n [6]int64
	for i, a := range args {
		v, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return launcherConfig{}, fmt.Errorf("argument %d: %w", i+1, err)
		}
		n[i] = v
	}
	return launcherConfig{uid: int(n[0]), gid: int(n[1]), nproc: n[2], nofile: n[3], fsize: n[4], memory: n[5]}, nil
}

// launch serves the host until it closes the socket, then kills every group
// it started.
func launch(args []string) error {
	cfg, err := parseLauncherConfig(args)
	if err != nil {
		return err
	}
	// Limits are set here and inherited by every cell. The launcher stays
	// root with only CAP_SETUID, CAP_SETGID and CAP_KILL (to stop the cells;
	// bwrap dropped the rest), so
	// the process limit, which spares root, never stops it from starting
	// threads or answering the host, while each cell, switched to the
	// sandbox's uid between fork and exec, is held to it.
	for _, l := range []struct {
		res int
		v   int64
	}{
		{rlimitNPROC, cfg.nproc},
		{syscall.RLIMIT_NOFILE, cfg.nofile},
		{syscall.RLIMIT_FSIZE, cfg.fsize},
		{syscall.RLIMIT_AS, cfg.memory},
	} {
		if l.v <= 0 {
			continue
		}
		if err := syscall.Setrlimit(l.res, &syscall.Rlimit{Cur: uint64(l.v), Max: uint64(l.v)}); err != nil {
			return fmt.Errorf("set limit %d: %w", l.res, err)
		}
	}
	var cred *syscall.Credential
	if cfg.uid >= 0 {
		cred = &syscall.Credential{Uid: uint32(cfg.uid), Gid: uint32(cfg.gid), Groups: []uint32{}}
	}
	conn, err := unixConn(os.NewFile(launcherFD, "sandbox-launcher"))
	if err != nil {
		return fmt.Errorf("open the host socket: %w", err)
	}
	l := &launcher{conn: conn, cred: cred, groups: map[uint64]int{}}
	if err := l.send(reply{Op: "ready"}); err != nil {
		return err
	}
	err = l.serve()
	l.killAll()
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// rlimitNPROC is RLIMIT_NPROC, which package syscall does not name.
const rlimitNPROC = 6

type launcher struct {
	conn *net.UnixConn
	cred *syscall.Credential

	wmu    sync.Mutex
	mu     sync.Mutex
	groups map[uint64]int // running cells: request id → pgid
}

func (l *launcher) send(r reply) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return writeFrame(l.conn, r)
}

func (l *launcher) serve() error {
	for {
		var req request
		files, err := readFrame(l.conn, &req)
		if err != nil {
			return err
		}
		switch req.Op {
		case "start":
			l.start(req, files)
		case "signal":
			for _, f := range files {
				f.Close()
			}
			l.mu.Lock()
			pgid, ok := l.groups[req.ID]
			l.mu.Unlock()
			if ok {
				_ = syscall.Kill(-pgid, syscall.Signal(req.Sig))
			}
		default:
			for _, f := range files {
				f.Close()
			}
		}
	}
}

func (l *launcher) start(req request, files []*os.File) {
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	fail := func(err error) { l.send(reply{Op: "started", ID: req.ID, Err: err.Error()}) }
	if len(files) != 2 || len(req.Argv) == 0 {
		fail(errors.New("bad start request"))
		return
	}
	path, err := lookPath(req.Argv[0], req.Env)
	if err != nil {
		fail(err)
		return
	}
	cmd := &exec.Cmd{
		Path: path, Args: req.Argv, Env: req.Env, Dir: req.Dir,
		Stdout: files[0], Stderr: files[1],
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: l.cred},
	}
	if err := cmd.Start(); err != nil {
		fail(err)
		return
	}
	pgid := cmd.Process.Pid
	l.mu.Lock()
	l.groups[req.ID] = pgid
	l.mu.Unlock()
	l.send(reply{Op: "started", ID: req.ID})
	go func() {
		cmd.Wait()
		// What the cell left in its group goes with it, before the group
		// is forgotten and its id could be reused.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		l.mu.Lock()
		delete(l.groups, req.ID)
		l.mu.Unlock()
		var st uint32
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
			st = uint32(ws)
		}
		l.send(reply{Op: "exited", ID: req.ID, Status: st})
	}()
}

func (l *launcher) killAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, pgid := range l.groups {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// lookPath finds prog in the PATH of env (the cell's, not the launcher's).
func lookPath(prog string, env []string) (string, error) {
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	path := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in the sandbox's PATH (%s)", prog, path)
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
