// Package sandbox runs the processes of a run's cells inside bubblewrap:
// one sandbox per run, with a small launcher inside (this binary, started
// again in a hidden mode) that starts the run's cells, so the cost of the
// namespaces is paid once per run. Cells see /usr and /etc read-only, the
// run's working directory and a private /tmp, nothing of the data folder or
// of other processes; they run without capabilities as an unprivileged user,
// with limits, and with a network of their own that cannot reach the host's
// loopback (or none).
package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/opsbook/opsbook/engine/sandbox/launch"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opsbook/opsbook/engine/executor"
)

// Where the run's directories appear inside the sandbox.
const (
	InsideDir = "/work"
	InsideTmp = "/tmp"
	// insideSelf is where the launcher binary is bound.
	insideSelf = "/.opsbook-launcher"
)

// Network is what a sandbox's cells can reach.
type Network string

const (
	// NetOutbound: a network namespace of their own, routed out through
	// slirp4netns, which refuses the host's loopback (the studio's port,
	// its database).
	NetOutbound Network = "outbound"
	// NetNone: only a loopback interface of their own.
	NetNone Network = "none"
	// NetHostLoopback: like NetOutbound, but 10.0.2.2 reaches the host's
	// loopback. An owner allows it per workspace, knowing what it opens.
	NetHostLoopback Network = "host-loopback"
)

// Limits bound each process of a sandbox's cells. Zero means none.
type Limits struct {
	Procs    int64 // RLIMIT_NPROC: processes of the sandbox's uid
	Files    int64 // RLIMIT_NOFILE: open files per process
	FileSize int64 // RLIMIT_FSIZE: bytes per file written
	Memory   int64 // RLIMIT_AS: address space per process, in bytes
}

// DefaultLimits are the limits of a run whose workspace sets none.
var DefaultLimits = Limits{Procs: 512, Files: 4096, FileSize: 1 << 30}

// DefaultUID is the host uid cells run as when the server is root: nobody.
const DefaultUID = 65534

// Config says how to start sandboxes; its zero value is usable.
type Config struct {
	Bwrap string // "" means bwrap from PATH
	Slirp string // "" means slirp4netns from PATH
	// UID and GID the cells run as when this process is root; 0 means
	// DefaultUID. Without root, bwrap needs a user namespace and the cells
	// keep this process's uid (still without capabilities).
	UID, GID int
	Logger   *slog.Logger // optional: a sandbox that ends on its own says so
}

// Run is one run's sandbox.
type Run struct {
	Dir, TempDir string // host paths: the cells' working directory and /tmp
	Network      Network
	Limits       Limits
}

// Sandbox is a started sandbox; it starts cells (exec.Spawner) until Close.
type Sandbox struct {
	dir, tmp string
	bwrap    *exec.Cmd
	slirp    *exec.Cmd
	conn     *net.UnixConn
	stderr   *syncWriter
	log      *slog.Logger
	exited   chan struct{} // closed when bwrap has exited

	wmu     sync.Mutex
	mu      sync.Mutex
	nextID  uint64
	procs   map[uint64]*proc
	dead    error // set once the launcher is gone
	closing bool
	closed  chan struct{} // closed when the reader is done
}

var _ executor.Spawner = (*Sandbox)(nil)

func (c Config) uid() (uid, gid int, userns bool) {
	if os.Geteuid() != 0 {
		return -1, -1, true
	}
	uid, gid = c.UID, c.GID
	if uid == 0 {
		uid = DefaultUID
	}
	if gid == 0 {
		gid = uid
	}
	return uid, gid, false
}

// Start starts a sandbox for one run. The run's directories are made the
// cells' (owned by their uid, mode 0700).
func (c Config) Start(r Run) (*Sandbox, error) {
	bwrap := c.Bwrap
	if bwrap == "" {
		bwrap = "bwrap"
	}
	if p, err := exec.LookPath(bwrap); err != nil {
		return nil, fmt.Errorf("%w: %s not found: %w", ErrUnavailable, bwrap, err)
	} else {
		bwrap = p
	}
	var slirp string
	if r.Network == NetOutbound || r.Network == NetHostLoopback || r.Network == "" {
		slirp = c.Slirp
		if slirp == "" {
			slirp = "slirp4netns"
		}
		p, err := exec.LookPath(slirp)
		if err != nil {
			return nil, fmt.Errorf("%w: %s not found (the cells' network needs it): %w", ErrUnavailable, slirp, err)
		}
		slirp = p
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program: %w", err)
	}
	uid, gid, userns := c.uid()
	for _, d := range []string{r.Dir, r.TempDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("make run directory: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, err
		}
		if uid >= 0 {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, fmt.Errorf("give the run directory to uid %d: %w", uid, err)
			}
		}
	}

	args := []string{
		"--die-with-parent", "--new-session",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try",
		"--hostname", "opsbook",
		"--ro-bind", "/usr", "/usr",
	}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if t, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", t, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
		}
	}
	args = append(args,
		"--ro-bind", "/etc", "/etc",
		"--proc", "/proc", "--dev", "/dev",
		"--bind", r.TempDir, InsideTmp,
		"--bind", r.Dir, InsideDir,
		"--ro-bind", self, insideSelf,
		"--chdir", "/",
	)
	if userns {
		args = append(args, "--unshare-user")
	} else {
		args = append(args, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_KILL")
	}
	lim := r.Limits
	lc := launch.Config{UID: uid, GID: gid, NProc: lim.Procs, NoFile: lim.Files, FSize: lim.FileSize, Memory: lim.Memory}
	args = append(args, "--", insideSelf, launch.Arg)
	args = append(args, lc.Args()...)

	hostEnd, launcherEnd, err := socketPair()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bwrap, args...)
	// The launcher's environment: nothing of ours (OPSBOOK_* holds the
	// database URL and the secrets' key).
	cmd.Env = []string{"PATH=" + launch.DefaultPath}
	cmd.ExtraFiles = []*os.File{launcherEnd}
	stderr := &syncWriter{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		hostEnd.Close()
		launcherEnd.Close()
		return nil, fmt.Errorf("%w: start bwrap: %w", ErrUnavailable, err)
	}
	launcherEnd.Close()
	conn, err := unixConn(hostEnd)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	s := &Sandbox{dir: r.Dir, tmp: r.TempDir, bwrap: cmd, conn: conn, stderr: stderr, log: c.Logger,
		exited: make(chan struct{}), procs: map[uint64]*proc{}, closed: make(chan struct{})}
	go func() { cmd.Wait(); close(s.exited) }()

	// The launcher says it is ready once its limits are set.
	ready := make(chan error, 1)
	go func() {
		rep, err := readFrame(conn)
		if err == nil && rep.Op != "ready" {
			err = fmt.Errorf("unexpected %q", rep.Op)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("no answer in 10 s")
	}
	if err != nil {
		s.kill()
		<-s.exited
		return nil, fmt.Errorf("%w: the sandbox did not start: %s", ErrUnavailable, s.why(err))
	}
	if slirp != "" {
		if err := s.startSlirp(slirp, r.Network == NetHostLoopback, userns); err != nil {
			s.kill()
			<-s.exited
			return nil, fmt.Errorf("%w: the cells' network did not start: %w", ErrUnavailable, err)
		}
	}
	go s.read()
	return s, nil
}

// ErrUnavailable is returned when no sandbox can be started here.
var ErrUnavailable = errors.New("no sandbox")

// why joins err with what bwrap said.
func (s *Sandbox) why(err error) string {
	msg := strings.TrimSpace(s.stderr.String())
	if msg != "" {
		return msg + " (" + err.Error() + ")"
	}
	return err.Error()
}

// startSlirp gives the sandbox's network namespace a route out.
func (s *Sandbox) startSlirp(slirp string, hostLoopback, userns bool) error {
	pid, err := childOf(s.bwrap.Process.Pid)
	if err != nil {
		return err
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer rd.Close()
	args := []string{"--configure", "--mtu=65520", "--ready-fd=3"}
	if !hostLoopback {
		args = append(args, "--disable-host-loopback")
	}
	if userns {
		// Not root: joining the network namespace takes its owner's
		// user namespace first.
		args = append(args, "--userns-path=/proc/"+strconv.Itoa(pid)+"/ns/user")
	}
	args = append(args, strconv.Itoa(pid), "tap0")
	cmd := exec.Command(slirp, args...)
	cmd.Env = []string{"PATH=" + launch.DefaultPath}
	cmd.ExtraFiles = []*os.File{wr}
	stderr := &syncWriter{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		wr.Close()
		return fmt.Errorf("start %s: %w", slirp, err)
	}
	wr.Close()
	s.slirp = cmd
	done := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := rd.Read(b)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		err = errors.New("no answer in 10 s")
	}
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		s.slirp = nil
		return fmt.Errorf("slirp4netns: %s (%w)", strings.TrimSpace(stderr.String()), err)
	}
	return nil
}

// childOf is the one child of pid (bwrap's, which holds the namespaces).
func childOf(pid int) (int, error) {
	var last error
	for i := 0; i < 200; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			return 0, fmt.Errorf("find the sandbox's process: %w", err)
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			return strconv.Atoi(f[0])
		}
		last = errors.New("bwrap has no child")
		time.Sleep(5 * time.Millisecond)
	}
	return 0, last
}

// Env is a cell's starting environment: nothing of the server's.
func (s *Sandbox) Env() []string {
	return []string{"PATH=" + launch.DefaultPath, "HOME=" + InsideTmp, "TMPDIR=" + InsideTmp, "LANG=C.UTF-8", "USER=opsbook"}
}

// Path maps a host path inside the run's directories to the cells' view.
func (s *Sandbox) Path(host string) string {
	for _, m := range [2][2]string{{s.dir, InsideDir}, {s.tmp, InsideTmp}} {
		if host == m[0] {
			return m[1]
		}
		if rest, ok := strings.CutPrefix(host, m[0]+string(os.PathSeparator)); ok {
			return filepath.Join(m[1], rest)
		}
	}
	return host
}

// Spawn starts a cell in the sandbox.
func (s *Sandbox) Spawn(spec *executor.Spec) (executor.Proc, error) {
	s.mu.Lock()
	if s.dead != nil {
		err := s.dead
		s.mu.Unlock()
		return nil, err
	}
	s.nextID++
	p := &proc{s: s, id: s.nextID, started: make(chan error, 1), exited: make(chan struct{})}
	s.procs[p.id] = p
	s.mu.Unlock()
	err := s.send(launch.Request{Op: "start", ID: p.id, Argv: append([]string{spec.Program}, spec.Args...), Env: spec.Env, Dir: spec.Dir}, spec.Stdout, spec.Stderr)
	if err == nil {
		err = <-p.started
	}
	if err != nil {
		s.mu.Lock()
		delete(s.procs, p.id)
		s.mu.Unlock()
		return nil, err
	}
	return p, nil
}

func (s *Sandbox) send(r launch.Request, files ...*os.File) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := writeFrame(s.conn, r, files...); err != nil {
		return fmt.Errorf("the sandbox: %w", err)
	}
	return nil
}

// read dispatches the launcher's replies until it is gone.
func (s *Sandbox) read() {
	defer close(s.closed)
	for {
		rep, err := readFrame(s.conn)
		if err != nil {
			s.mu.Lock()
			if s.closing {
				s.dead = errors.New("the run's sandbox is closed")
			} else {
				s.dead = fmt.Errorf("the run's sandbox ended: %s", s.why(err))
				if s.log != nil {
					s.log.Warn("sandbox ended", "err", s.dead)
				}
			}
			for id, p := range s.procs {
				p.fail(s.dead)
				delete(s.procs, id)
			}
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		p := s.procs[rep.ID]
		if rep.Op == "exited" {
			delete(s.procs, rep.ID)
		}
		s.mu.Unlock()
		if p == nil {
			continue
		}
		switch rep.Op {
		case "started":
			if rep.Err != "" {
				p.started <- errors.New(rep.Err)
			} else {
				p.started <- nil
			}
		case "exited":
			p.status = syscall.WaitStatus(rep.Status)
			close(p.exited)
		}
	}
}

// Close ends the sandbox and every process in it, and its network. It is
// safe to call more than once.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.conn.Close()
	<-s.closed
	// The launcher kills its groups when the socket closes; the pid
	// namespace ends with it. Do not wait long for a polite exit.
	select {
	case <-s.exited:
	case <-time.After(2 * time.Second):
		s.kill()
		<-s.exited
	}
	if s.slirp != nil {
		s.slirp.Process.Kill()
		s.slirp.Wait()
		s.slirp = nil
	}
	return nil
}

func (s *Sandbox) kill() {
	syscall.Kill(-s.bwrap.Process.Pid, syscall.SIGKILL)
	if s.slirp != nil {
		s.slirp.Process.Kill()
	}
}

// proc is a cell in the sandbox.
type proc struct {
	s       *Sandbox
	id      uint64
	started chan error
	exited  chan struct{}
	status  syscall.WaitStatus
	err     error
	once    sync.Once
}

func (p *proc) fail(err error) {
	p.once.Do(func() {
		p.err = err
		select {
		case p.started <- err:
		default:
		}
		select {
		case <-p.exited:
		default:
			close(p.exited)
		}
	})
}

func (p *proc) Signal(sig syscall.Signal) error {
	select {
	case <-p.exited:
		return os.ErrProcessDone
	default:
	}
	return p.s.send(launch.Request{Op: "signal", ID: p.id, Sig: int(sig)})
}

func (p *proc) Wait() (syscall.WaitStatus, error) {
	<-p.exited
	if p.err != nil {
		return 0, p.err
	}
	return p.status, nil
}

// syncWriter makes a writer safe for os/exec's copying goroutine and our
// reads of what it wrote.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 64<<10 {
		return len(b), nil // enough to say what went wrong
	}
	return w.b.Write(b)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Check starts a sandbox with a network and runs `true` in it, to tell at
// start-up whether this machine can run sandboxed cells. Its error says
// what to do.
func (c Config) Check() error {
	root, err := os.MkdirTemp("", "opsbook-sandbox-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	os.Chmod(root, 0o711)
	s, err := c.Start(Run{Dir: filepath.Join(root, "work"), TempDir: filepath.Join(root, "tmp"), Network: NetOutbound, Limits: DefaultLimits})
	if err != nil {
		const orNone = "; or start with --sandbox none, which runs cells as this server's user, able to read its data folder and reach its database"
		if _, _, userns := c.uid(); userns && strings.Contains(err.Error(), "network did not start") {
			// bwrap works, but not slirp4netns into a user namespace's
			// network (docs/SANDBOX.md, "Who a cell is").
			return fmt.Errorf("%w\nNot as root, the cells' network cannot be given to the sandbox on this machine. Start the server as root (cells still run as uid %d, without capabilities)%s", err, DefaultUID, orNone)
		}
		return fmt.Errorf("%w\nInstall bubblewrap and slirp4netns (Debian: apt-get install bubblewrap slirp4netns) and allow user namespaces when not root%s", err, orNone)
	}
	defer s.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	p, err := s.Spawn(&executor.Spec{Program: "true", Env: s.Env(), Dir: InsideDir, Stdout: devnull, Stderr: devnull})
	if err != nil {
		return fmt.Errorf("run a process in the sandbox: %w", err)
	}
	if ws, err := p.Wait(); err != nil || ws.ExitStatus() != 0 {
		return fmt.Errorf("run a process in the sandbox: %v (status %d)", err, ws.ExitStatus())
	}
	return nil
}

// Describe says, for logs, how cells run under c on this machine.
func (c Config) Describe() string {
	uid, _, userns := c.uid()
	if userns {
		return fmt.Sprintf("bwrap with a user namespace: cells keep this server's uid %d, without capabilities (run the server as root to give them uid %d)", os.Geteuid(), DefaultUID)
	}
	return fmt.Sprintf("bwrap: cells run as uid %d without capabilities", uid)
}
