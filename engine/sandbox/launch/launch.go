// Package launch is the launcher that runs inside a run's sandbox and starts
// the run's cells, and the messages the host (engine/sandbox) exchanges with
// it.
//
// It imports only standard packages that the Go runtime initializes before
// the binary's others (no net, os/exec, strings, path/filepath or
// encoding/json), because it takes over the process in a package init: the
// launcher is the opsbook binary itself, and running it from main would pay
// some 30 ms of package init (markdown, HTML sanitizing, SQLite, git) once
// per run for nothing.
package launch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// Arg is argv[1] of the opsbook binary started as a launcher inside bwrap.
// A user never types it.
const Arg = "__opsbook-sandbox-launcher"

// FD is the launcher's end of the socket to the host.
const FD = 3

// DefaultPath is the PATH of the launcher and of cells that set none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// init turns this process into a launcher when it was started as one, and
// never returns then. Every binary that starts sandboxes imports this
// package (through engine/sandbox), test binaries included.
func init() {
	if len(os.Args) < 2 || os.Args[1] != Arg {
		return
	}
	if err := launch(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "opsbook sandbox launcher:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Config is what the host tells the launcher on its command line: the
// cells' uid and gid (-1: keep) and their limits (0: none).
type Config struct {
	UID, GID             int
	NProc, NoFile, FSize int64
	Memory               int64
}

// Args is c as the launcher's command-line arguments.
func (c Config) Args() []string {
	return []string{strconv.Itoa(c.UID), strconv.Itoa(c.GID),
		strconv.FormatInt(c.NProc, 10), strconv.FormatInt(c.NoFile, 10),
		strconv.FormatInt(c.FSize, 10), strconv.FormatInt(c.Memory, 10)}
}

func parseConfig(args []string) (Config, error) {
	if len(args) != 6 {
		return Config{}, fmt.Errorf("want 6 arguments, got %d", len(args))
	}
	var n [6]int64
	for i, a := range args {
		v, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return Config{}, fmt.Errorf("argument %d: %w", i+1, err)
		}
		n[i] = v
	}
	return Config{UID: int(n[0]), GID: int(n[1]), NProc: n[2], NoFile: n[3], FSize: n[4], Memory: n[5]}, nil
}

// launch serves the host until it closes the socket, then kills every group
// it started.
func launch(args []string) error {
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	// Limits are set here and inherited by every cell. The launcher stays
	// root with only CAP_SETUID, CAP_SETGID and CAP_KILL (to stop the cells;
	// bwrap dropped the rest), so the process limit, which spares root,
	// never stops it from starting threads or answering the host, while
	// each cell, switched to the sandbox's uid between fork and exec, is
	// held to it.
	for _, l := range []struct {
		res int
		v   int64
	}{
		{rlimitNPROC, cfg.NProc},
		{syscall.RLIMIT_NOFILE, cfg.NoFile},
		{syscall.RLIMIT_FSIZE, cfg.FSize},
		{syscall.RLIMIT_AS, cfg.Memory},
	} {
		if l.v <= 0 {
			continue
		}
		if err := syscall.Setrlimit(l.res, &syscall.Rlimit{Cur: uint64(l.v), Max: uint64(l.v)}); err != nil {
			return fmt.Errorf("set limit %d: %w", l.res, err)
		}
	}
	var cred *syscall.Credential
	if cfg.UID >= 0 {
		cred = &syscall.Credential{Uid: uint32(cfg.UID), Gid: uint32(cfg.GID), Groups: []uint32{}}
	}
	if err := syscall.SetNonblock(FD, false); err != nil {
		return fmt.Errorf("open the host socket: %w", err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	l := &launcher{fd: FD, cred: cred, stdin: devnull, groups: map[uint64]int{}}
	if err := l.send(Reply{Op: "ready"}); err != nil {
		return err
	}
	err = l.serve()
	l.killAll()
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// rlimitNPROC is RLIMIT_NPROC, which package syscall does not name.
const rlimitNPROC = 6

type launcher struct {
	fd    int
	cred  *syscall.Credential
	stdin *os.File

	wmu    sync.Mutex
	mu     sync.Mutex
	groups map[uint64]int // running cells: request id → pgid
}

func (l *launcher) send(r Reply) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return writeFrameFD(l.fd, r.Marshal())
}

func (l *launcher) serve() error {
	for {
		body, files, err := readFrameFD(l.fd)
		if err != nil {
			return err
		}
		req, err := UnmarshalRequest(body)
		if err != nil {
			closeAll(files)
			return err
		}
		switch req.Op {
		case "start":
			l.start(req, files)
		case "signal":
			closeAll(files)
			l.mu.Lock()
			pgid, ok := l.groups[req.ID]
			l.mu.Unlock()
			if ok {
				_ = syscall.Kill(-pgid, syscall.Signal(req.Sig))
			}
		default:
			closeAll(files)
		}
	}
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func (l *launcher) start(req Request, files []*os.File) {
	defer closeAll(files)
	fail := func(err error) { l.send(Reply{Op: "started", ID: req.ID, Err: err.Error()}) }
	if len(files) != 2 || len(req.Argv) == 0 {
		fail(errors.New("bad start request"))
		return
	}
	path, err := lookPath(req.Argv[0], req.Env)
	if err != nil {
		fail(err)
		return
	}
	pid, err := syscall.ForkExec(path, req.Argv, &syscall.ProcAttr{
		Dir: req.Dir, Env: req.Env,
		Files: []uintptr{l.stdin.Fd(), files[0].Fd(), files[1].Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: l.cred},
	})
	if err != nil {
		fail(&os.PathError{Op: "start", Path: path, Err: err})
		return
	}
	pgid := pid
	l.mu.Lock()
	l.groups[req.ID] = pgid
	l.mu.Unlock()
	l.send(Reply{Op: "started", ID: req.ID})
	go func() {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		// What the cell left in its group goes with it, before the group
		// is forgotten and its id could be reused.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		l.mu.Lock()
		delete(l.groups, req.ID)
		l.mu.Unlock()
		l.send(Reply{Op: "exited", ID: req.ID, Status: uint32(ws)})
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
	for i := 0; i < len(prog); i++ {
		if prog[i] == '/' {
			return prog, nil
		}
	}
	path := DefaultPath
	for _, kv := range env {
		if len(kv) >= 5 && kv[:5] == "PATH=" {
			path = kv[5:]
		}
	}
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != ':' {
			continue
		}
		dir := path[start:i]
		start = i + 1
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + prog
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in the sandbox's PATH (%s)", prog, path)
}

// readFrameFD reads one frame from the socket fd and returns its body and
// the files that came with it.
func readFrameFD(fd int) ([]byte, []*os.File, error) {
	var hdr [4]byte
	oob := make([]byte, syscall.CmsgSpace(4*4))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = syscall.Recvmsg(fd, hdr[:], oob, syscall.MSG_CMSG_CLOEXEC)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return nil, nil, io.EOF
	}
	var files []*os.File
	if oobn > 0 {
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, nil, fmt.Errorf("parse control message: %w", err)
		}
		for _, m := range msgs {
			fds, err := syscall.ParseUnixRights(&m)
			if err != nil {
				continue
			}
			for _, fd := range fds {
				files = append(files, os.NewFile(uintptr(fd), "cell-pipe"))
			}
		}
	}
	if err := readFull(fd, hdr[n:]); err != nil {
		closeAll(files)
		return nil, nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > MaxFrame {
		closeAll(files)
		return nil, nil, errors.New("message over the size limit")
	}
	body := make([]byte, size)
	if err := readFull(fd, body); err != nil {
		closeAll(files)
		return nil, nil, err
	}
	return body, files, nil
}

func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Read(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		b = b[n:]
	}
	return nil
}

// writeFrameFD writes one frame (the launcher sends no files).
func writeFrameFD(fd int, body []byte) error {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	b = append(b, body...)
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
