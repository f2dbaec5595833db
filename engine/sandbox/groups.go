package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/opsbook/opsbook/engine/executor"
)

// Groups records, in a file, the process groups of cells started without a
// sandbox while they run, so that a server killed before it could stop them
// kills them at its next start (KillOrphans). Each line is a group id and
// its leader's start time, which tells a live group from a reused pid.
type Groups struct {
	path string
	mu   sync.Mutex
	live map[int]uint64 // pgid → start time
}

var _ executor.Tracker = (*Groups)(nil)

// NewGroups records groups in the file at path.
func NewGroups(path string) *Groups {
	return &Groups{path: path, live: map[int]uint64{}}
}

// Add records a group whose leader is running.
func (g *Groups) Add(pgid int) {
	st, err := startTime(pgid)
	if err != nil {
		return // already gone
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.live[pgid] = st
	g.write()
}

// Remove forgets a group.
func (g *Groups) Remove(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.live, pgid)
	g.write()
}

func (g *Groups) write() {
	var b strings.Builder
	for pgid, st := range g.live {
		fmt.Fprintf(&b, "%d %d\n", pgid, st)
	}
	// Best effort: a failed write costs only the cleanup after a crash.
	_ = os.WriteFile(g.path, []byte(b.String()), 0o600)
}

// KillOrphans kills the groups recorded in the file at path that are still
// the ones recorded, then removes the file. It returns
// how many it killed.
func KillOrphans(path string) (int, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 2 {
			continue
		}
		pgid, err1 := strconv.Atoi(fs[0])
		st, err2 := strconv.ParseUint(fs[1], 10, 64)
		if err1 != nil || err2 != nil || pgid <= 1 {
			continue
		}
		// A leader that still runs must be the one recorded (pids are
		// reused). A leader gone (Pdeathsig took it) with its group alive
		// is the recorded group: Linux does not give a new process the id
		// of a group that still has members.
		now, err := startTime(pgid)
		if err == nil && now != st {
			continue
		}
		if syscall.Kill(-pgid, syscall.SIGKILL) == nil {
			n++
		}
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return n, err
	}
	return n, sc.Err()
}

// startTime is field 22 of /proc/PID/stat: when the process started, in
// clock ticks since boot.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: count
	// from the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	fs := strings.Fields(string(b[i+1:]))
	// fs[0] is field 3.
	if len(fs) < 20 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return strconv.ParseUint(fs[19], 10, 64)
}
