package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRunSandbox: `opsbook run` starts cells as the user who runs it, and
// in a sandbox only when asked; `network: false` leaves the sandbox only
// its own loopback.
func TestRunSandbox(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bwrap is not installed")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte("name: Who\nnetwork: false\ncells:\n  - name: who\n    kind: shell\n    file: who.sh\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "who.sh"), []byte("echo uid=$(id -u) cwd=$(pwd)\ncut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | tr '\\n' ,\n"), 0o644)

	plain := runCLI(t, dir)
	if plain.code != ExitOK {
		t.Fatalf("exit %d\n%s%s", plain.code, plain.out, plain.err)
	}
	if want := "uid=" + itoa(os.Getuid()) + " "; !strings.Contains(plain.out, want) {
		t.Errorf("without --sandbox, want %q:\n%s", want, plain.out)
	}
	boxed := runCLI(t, dir, "--sandbox", "bwrap")
	if boxed.code != ExitOK {
		t.Fatalf("exit %d\n%s%s", boxed.code, boxed.out, boxed.err)
	}
	if !strings.Contains(boxed.out, "cwd=/work") || (os.Getuid() == 0 && !strings.Contains(boxed.out, "uid=65534")) {
		t.Errorf("--sandbox bwrap:\n%s", boxed.out)
	}
	if !strings.Contains(boxed.out, "lo,") || strings.Contains(boxed.out, "tap0") || strings.Contains(boxed.out, "eth") {
		t.Errorf("network: false should leave only lo:\n%s", boxed.out)
	}
	if bad := runCLI(t, dir, "--sandbox", "docker"); bad.code != ExitInvalid || !strings.Contains(bad.err, "--sandbox is none or bwrap") {
		t.Errorf("--sandbox docker: %d %s", bad.code, bad.err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
