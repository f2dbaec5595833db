package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// What the run-plane tests (plane_test.go) and benchmarks
// (plane_bench_test.go) share: a database of their own, the environment of
// their processes, and starting and stopping those processes.

// pgBase is the PostgreSQL server's maintenance URL (OPSBOOK_TEST_PG).
func pgBase() string {
	if base := os.Getenv("OPSBOOK_TEST_PG"); base != "" {
		return base
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// freshDatabase creates a PostgreSQL database named prefix_…, dropped when
// tb ends, and returns its URL and name. When the server cannot be reached, tb
// fails, or is skipped when skip is set (the benchmarks).
func freshDatabase(tb testing.TB, prefix string, skip bool) (dsn, name string) {
	tb.Helper()
	base := pgBase()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if skip {
			tb.Skipf("PostgreSQL at %s is needed (set OPSBOOK_TEST_PG): %v", base, err)
		}
		tb.Fatalf("PostgreSQL at %s is needed (set OPSBOOK_TEST_PG): %v", base, err)
	}
	defer conn.Close(ctx)
	name = fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	dsn = strings.Replace(base, "/postgres?", "/"+name+"?", 1)
	if !strings.Contains(dsn, name) {
		tb.Fatalf("cannot make a database URL from %s", base)
	}
	return dsn, name
}

// processEnv is this process's environment, a fresh secret key, and the
// database URL when there is one.
func processEnv(dsn string) []string {
	key := make([]byte, 32)
	rand.Read(key)
	env := append(os.Environ(), "OPSBOOK_SECRET_KEY="+base64.StdEncoding.EncodeToString(key))
	if dsn != "" {
		env = append(env, "OPSBOOK_DB="+dsn)
	}
	return env
}

// runOpsbook runs `bin args…` to its end and returns its output; tb fails
// when it fails.
func runOpsbook(tb testing.TB, bin string, env []string, stdin string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("opsbook %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// proc is one opsbook process.
type proc struct {
	cmd    *exec.Cmd
	url    string // where a studio said it is ready, if it did
	waited chan struct{}
	err    error // of cmd.Wait, once waited is closed

	mu   sync.Mutex
	logs []string // its last maxProcLines lines of stderr
}

// wait waits for the process to end (after its stderr is read to the end,
// as exec.Cmd wants) and returns what cmd.Wait said.
func (pr *proc) wait() error {
	<-pr.waited
	return pr.err
}

const maxProcLines = 2000

func (pr *proc) log() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return strings.Join(pr.logs, "\n")
}

// startProc starts `bin args…`, waits until a line of its stderr holds
// ready, and when tb ends sends it stop (SIGKILL, or SIGTERM to let it
// shut down: killed after 20 s) and waits for it.
func startProc(tb testing.TB, bin string, env []string, stop os.Signal, ready string, args ...string) *proc {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	pr := &proc{cmd: cmd, waited: make(chan struct{})}
	tb.Cleanup(func() {
		cmd.Process.Signal(stop)
		select {
		case <-pr.waited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-pr.waited
		}
		if tb.Failed() {
			tb.Logf("%s:\n%s", strings.Join(args, " "), pr.log())
		}
	})
	ok := make(chan string, 1)
	go func() {
		defer close(pr.waited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			pr.mu.Lock()
			if len(pr.logs) == maxProcLines {
				pr.logs = pr.logs[1:]
			}
			pr.logs = append(pr.logs, sc.Text())
			pr.mu.Unlock()
			if strings.Contains(sc.Text(), ready) {
				select {
				case ok <- sc.Text():
				default:
				}
			}
		}
		ok <- ""
		pr.err = cmd.Wait()
	}()
	select {
	case line := <-ok:
		if line == "" {
			tb.Fatalf("opsbook %s ended:\n%s", strings.Join(args, " "), pr.log())
		}
		pr.url = readyURL(line)
	case <-time.After(60 * time.Second):
		tb.Fatalf("opsbook %s did not get ready:\n%s", strings.Join(args, " "), pr.log())
	}
	return pr
}

// readyURL is the URL in a studio's "ready at URL" line, or "".
func readyURL(line string) string {
	_, rest, ok := strings.Cut(line, "ready at ")
	if !ok {
		return ""
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
