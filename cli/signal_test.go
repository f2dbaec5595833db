package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// gone reports whether pid no longer runs. A zombie counts as gone: it
// runs nothing, and an orphan's zombie waits for whoever reaps for PID 1,
// which in a container may be nobody.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return os.IsNotExist(err)
	}
	// pid (comm) STATE …; comm may hold spaces, so look after the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

// waitFor polls cond until it holds or limit passes. The limit only keeps
// a broken build from hanging; it is far above what any run needs.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// TestCancelBySignal sends SIGINT or SIGTERM to a real `opsbook run`
// while its shell cell waits with a grandchild in the background: the run
// ends canceled (exit 1), the cell canceled, the next cell canceled too,
// and the grandchild is killed with its group.
func TestCancelBySignal(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir, _ := fixture(t, "cancel")
			pidfile := filepath.Join(t.TempDir(), "grandchild.pid")
			cmd := exec.Command(bin, "run", dir, "--json")
			cmd.Env = append(os.Environ(), "PIDFILE="+pidfile)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var pid int
			started := waitFor(2*time.Minute, func() bool {
				b, err := os.ReadFile(pidfile)
				if err != nil {
					return false
				}
				pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
				return err == nil && pid > 0
			})
			if !started {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the cell never wrote its pid file\nstderr: %s", errb.String())
			}
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != ExitFailed {
				t.Fatalf("opsbook run ended with %v; want exit status 1\nstderr: %s", err, errb.String())
			}
			evs := events(t, out.String())
			last := evs[len(evs)-1]
			if last.Status != string(engine.RunCanceled) {
				t.Errorf("run %s (%s); want canceled", last.Status, last.Error)
			}
			ends := cellEnds(evs)
			if st := ends["wait"].Status; st != string(engine.CellCanceled) {
				t.Errorf("cell wait %s (%s); want canceled", st, ends["wait"].Error)
			}
			if st := ends["after"].Status; st != string(engine.CellCanceled) {
				t.Errorf("cell after %s; want canceled (it never started)", st)
			}
			if got := logLines(evs, "wait", engine.StreamStdout); len(got) != 1 || got[0] != "waiting" {
				t.Errorf("wait logged %q; want [waiting]", got)
			}
			if !waitFor(30*time.Second, func() bool { return gone(pid) }) {
				t.Errorf("grandchild %d still runs after the run was canceled", pid)
			}
		})
	}
}
