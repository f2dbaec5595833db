package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsbook/opsbook/cli"
)

// backupEnv is this process's environment without OPSBOOK_* variables, so
// that the studio keeps its secret key in the key file of --data, which a
// backup must carry.
func backupEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OPSBOOK_") || strings.HasPrefix(kv, "OPSBOOK_TEST_") {
			env = append(env, kv)
		}
	}
	return env
}

// tryOpsbook runs `bin args…` and returns its exit code and output.
func tryOpsbook(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// gitCommits is the number of commits on the remote's main branch ("" when
// there is none yet).
func gitCommits(remote string) string {
	out, err := exec.Command("git", "-C", remote, "rev-list", "--count", "main").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// TestBackupRestore: a studio on SQLite with flows, versions, a secret in a
// key file, scratch data and git state is backed up while a run runs,
// stopped, restored into an empty folder, and served from there: all of it
// is there, the secret opens (the key came back), the git clone pushes. A
// damaged archive and a folder that is not empty are refused, and leave
// the target as it was.
func TestBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	const password = "a long enough password"
	bin := buildOpsbook(t)
	env := backupEnv()
	data := filepath.Join(t.TempDir(), "data")
	p := &plane{t: t, bin: bin, env: env}
	p.run(password+"\n", "user", "add", "admin", "--role", "owner", "--workspace", "default", "--data", data)
	p.token = strings.TrimSpace(p.run("", "token", "create", "--user", "admin", "--data", data))

	serveFrom := func(dir string) (*proc, string) {
		addr := freeAddr(t)
		pr := startProc(t, bin, env, syscall.SIGTERM, "is ready at", "serve", "--addr", addr, "--data", dir, "--sandbox", "none", "--run-dir", t.TempDir(), "--grace", "1s")
		return pr, "http://" + addr
	}
	srv, base := serveFrom(data)

	// Git: a bare remote the studio pushes each version to.
	remote := filepath.Join(t.TempDir(), "remote.git")
	if out, err := exec.Command("git", "init", "--bare", "-b", "main", remote).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	cookie := signIn(t, base, "admin", password)
	req, _ := http.NewRequest("POST", base+"/w/default/git", strings.NewReader(url.Values{"remote": {remote}, "branch": {"main"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("git settings: %d %s", resp.StatusCode, body)
	}

	wantHash := p.backupFlows(base)
	p.flow(base, "keep", map[string]string{
		"flow.yaml": "name: Keep (second version)\ncells:\n  - name: put\n    kind: sql\n    file: put.sql\n",
		"put.sql":   "CREATE TABLE IF NOT EXISTS kept (x TEXT);\nINSERT INTO kept VALUES ('turquoise');\n",
	})
	p.flow(base, "long", map[string]string{
		"flow.yaml": "name: Long\ncells:\n  - name: nap\n    kind: shell\n    file: nap.sh\n",
		"nap.sh":    "echo started\nsleep 120\n",
	})
	// The studio pushes after it answers.
	var commits string
	if !waitFor(func() bool { commits = gitCommits(remote); return commits != "" }, time.Minute) {
		t.Fatal("the studio pushed nothing to its git remote")
	}
	if st, e := p.waitEnd(base, p.startRun(base, "keep"), time.Minute); st != "succeeded" {
		t.Fatalf("run keep: %s %s", st, e)
	}
	long := p.startRun(base, "long")
	if !waitFor(func() bool { st, _ := p.runStatus(base, long); return st == "running" }, time.Minute) {
		t.Fatal("run long did not start")
	}

	archive := filepath.Join(t.TempDir(), "opsbook.tar.gz")
	out := p.run("", "backup", archive, "--data", data)
	if st, _ := p.runStatus(base, long); st != "running" {
		t.Fatalf("the backup was not made during a run: the run is %s", st)
	}
	for _, want := range []string{"backup: opsbook.db", "backup: secret.key", "scratch.db", "git state", "wrote " + archive} {
		if !strings.Contains(out, want) {
			t.Errorf("backup's output lacks %q:\n%s", want, out)
		}
	}
	if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v %v, want mode 0600", fi, err)
	}
	if code, out := tryOpsbook(t, bin, env, "backup", archive, "--data", data); code == 0 || !strings.Contains(out, "--force") {
		t.Fatalf("backup over an existing file: exit %d, %s", code, out)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.wait()

	t.Run("a damaged archive is refused and the target left empty", func(t *testing.T) {
		b, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		// Uncompressed, so that the damage reaches a file's bytes and only
		// its sha256 can tell.
		plain := filepath.Join(t.TempDir(), "plain.tar")
		p.run("", "backup", plain, "--data", data)
		pb, _ := os.ReadFile(plain)
		for name, damaged := range map[string][]byte{
			"gzip":      flip(b, len(b)/2),
			"tar":       flip(pb, len(pb)/2),
			"truncated": b[:len(b)/2],
		} {
			bad := filepath.Join(t.TempDir(), name+".tar.gz")
			os.WriteFile(bad, damaged, 0o600)
			target := t.TempDir()
			code, out := tryOpsbook(t, bin, env, "restore", bad, "--data", target)
			if code == 0 || !strings.Contains(out, "nothing was written to") || !(strings.Contains(out, "damaged") || strings.Contains(out, "cut short")) {
				t.Errorf("%s: restore of a damaged archive: exit %d, %s", name, code, out)
			}
			if entries, _ := os.ReadDir(target); len(entries) != 0 {
				t.Errorf("%s: the target holds %v after a refused restore", name, entries)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(target), ".opsbook-restore-*")); len(left) != 0 {
				t.Errorf("%s: staging left behind: %v", name, left)
			}
		}
	})

	t.Run("a folder that is not empty is refused and untouched", func(t *testing.T) {
		target := t.TempDir()
		os.WriteFile(filepath.Join(target, "note"), []byte("mine"), 0o600)
		code, out := tryOpsbook(t, bin, env, "restore", archive, "--data", target)
		if code == 0 || !strings.Contains(out, "not empty") {
			t.Fatalf("restore into a folder with a file: exit %d, %s", code, out)
		}
		if entries, _ := os.ReadDir(target); len(entries) != 1 {
			t.Fatalf("target now holds %v", entries)
		}
	})

	restored := filepath.Join(t.TempDir(), "restored")
	p.run("", "restore", archive, "--data", restored)
	for name, mode := range map[string]os.FileMode{"secret.key": 0o600, "opsbook.db": 0o600, ".": 0o700} {
		if fi, err := os.Stat(filepath.Join(restored, name)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("restored %s: %v %v, want mode %o", name, fi, err, mode)
		}
	}
	_, base = serveFrom(restored)

	flows := p.get(base + "/api/v1/flows")
	for _, slug := range []string{`"keep"`, `"check"`, `"long"`} {
		if !strings.Contains(flows, slug) {
			t.Errorf("restored flows lack %s: %s", slug, flows)
		}
	}
	if v := p.get(base + "/api/v1/flows/keep/versions"); strings.Count(v, `"number"`) != 2 {
		t.Errorf("restored versions of keep: %s", v)
	}
	check := p.startRun(base, "check")
	if st, e := p.waitEnd(base, check, time.Minute); st != "succeeded" {
		t.Fatalf("run check on the restored studio: %s %s", st, e)
	}
	if log := p.get(base + "/api/v1/runs/" + check + "/log?cell=hash"); !strings.Contains(log, wantHash) {
		t.Errorf("the secret did not open to its value (the key was not restored?): %q", log)
	}
	if log := p.get(base + "/api/v1/runs/" + check + "/log?cell=show"); !strings.Contains(log, "got turquoise") {
		t.Errorf("the scratch database's rows are gone: %q", log)
	}
	// The restored git clone still pushes.
	p.flow(base, "keep", map[string]string{
		"flow.yaml": "name: Keep (after the restore)\ncells:\n  - name: put\n    kind: sql\n    file: put.sql\n",
		"put.sql":   "SELECT 1;\n",
	})
	if !waitFor(func() bool { return gitCommits(remote) > commits }, time.Minute) {
		t.Errorf("no commit pushed from the restored studio (%s commits)", gitCommits(remote))
	}
	// The run that ran during the backup is running in the copy, held by
	// a worker that is gone: the restored studio's reaper ends it.
	if st, _ := p.waitEnd(base, long, 2*time.Minute); st != "failed" {
		t.Errorf("the run that ran during the backup ended %s on the restored studio, want failed", st)
	}
}

// TestBackupPostgresRefused: with --db, backup writes nothing and says how
// to back up PostgreSQL and its key.
func TestBackupPostgresRefused(t *testing.T) {
	noEnv(t)
	file := filepath.Join(t.TempDir(), "b.tar.gz")
	code, _, stderr := run(t, backupCmd, file, "--db", "postgres://u@localhost/opsbook")
	if code != cli.ExitInvalid || !strings.Contains(stderr, "pg_dump") || !strings.Contains(stderr, "OPSBOOK_SECRET_KEY") {
		t.Errorf("backup --db: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("backup --db wrote %s: %v", file, err)
	}
}

// backupFlows gives the studio at base what a backup must carry: the
// secret API_TOKEN, a flow keep that writes a row to the scratch database,
// and a flow check whose cells read it back (show: "got turquoise") and
// hash the secret (hash); it returns that hash.
func (p *plane) backupFlows(base string) (wantHash string) {
	p.t.Helper()
	if code, body := p.api("PUT", base+"/api/v1/secrets/API_TOKEN", `{"value": "teal-42"}`); code != http.StatusCreated {
		p.t.Fatalf("put secret: %d %v", code, body)
	}
	p.flow(base, "keep", map[string]string{
		"flow.yaml": "name: Keep\ncells:\n  - name: put\n    kind: sql\n    file: put.sql\n",
		"put.sql":   "CREATE TABLE IF NOT EXISTS kept (x TEXT);\nINSERT INTO kept VALUES ('turquoise');\n",
	})
	p.flow(base, "check", map[string]string{
		"flow.yaml": "name: Check\ncells:\n  - name: hash\n    kind: shell\n    file: hash.sh\n  - name: q\n    kind: sql\n    file: q.sql\n  - name: show\n    kind: shell\n    file: show.sh\n",
		"show.sh":   "echo got {{ cells.q.rows[0].x }}\n",
		"hash.sh":   "echo {{ secrets.API_TOKEN }} | sha256sum\n",
		"q.sql":     "SELECT x FROM kept;\n",
	})
	sum := sha256.Sum256([]byte("teal-42\n"))
	return hex.EncodeToString(sum[:])
}

func flip(b []byte, at int) []byte {
	c := append([]byte(nil), b...)
	c[at] ^= 0xff
	return c
}
