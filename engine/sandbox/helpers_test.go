package sandbox_test

import (
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

func osexecLook(name string) (string, error) { return osexec.LookPath(name) }

// pgrep lists the host's processes whose command line holds marker.
func pgrep(marker string) []int {
	var pids []int
	ms, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err != nil || !strings.Contains(string(b), marker) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(m))); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// interfaces are the names in a /proc/net/dev listing.
func interfaces(dev string) []string {
	var out []string
	for _, l := range strings.Split(dev, "\n") {
		name, rest, ok := strings.Cut(l, ":")
		if ok && !strings.Contains(name, "|") && strings.TrimSpace(rest) != "" && len(strings.Fields(rest)) >= 16 {
			out = append(out, strings.TrimSpace(name))
		}
	}
	return out
}
