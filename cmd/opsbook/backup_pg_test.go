package main

import (
	"crypto/rand"
	"encoding/base64"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPostgresDumpRestore follows OPERATING.md's PostgreSQL backup: pg_dump
// while the studio runs, pg_restore --no-owner into a new database, and a
// studio on it with the same secret key has every flow, version and run,
// the scratch database's rows and the secrets; with another key it has
// everything but the secrets, and says so.
func TestPostgresDumpRestore(t *testing.T) {
	p := newPlane(t)
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install postgresql-client; .ci/run installs PostgreSQL): %v", tool, err)
		}
	}
	studio := func(t *testing.T, env []string) string {
		t.Helper()
		addr := freeAddr(t)
		startProc(t, p.bin, env, syscall.SIGTERM, "is ready at", "serve", "--addr", addr, "--data", t.TempDir(), "--sandbox", "none", "--run-dir", t.TempDir(), "--grace", "1s")
		return "http://" + addr
	}
	base := studio(t, p.env)
	wantHash := p.backupFlows(base)
	keep := p.startRun(base, "keep")
	if st, e := p.waitEnd(base, keep, time.Minute); st != "succeeded" {
		t.Fatalf("run keep: %s %s", st, e)
	}

	// The dump, while the studio serves (pg_dump reads in one transaction).
	dump := filepath.Join(t.TempDir(), "opsbook.dump")
	if out, err := exec.Command("pg_dump", "--format=custom", "--file="+dump, p.dsn).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	// restore makes a new database from the dump and returns the
	// environment of a studio on it, with the secret key given.
	restore := func(t *testing.T, key string) []string {
		t.Helper()
		dsn, _ := freshDatabase(t, "opsbook_restored", false)
		if out, err := exec.Command("pg_restore", "--no-owner", "--dbname="+dsn, dump).CombinedOutput(); err != nil {
			t.Fatalf("pg_restore: %v\n%s", err, out)
		}
		env := slices.DeleteFunc(slices.Clone(p.env), func(kv string) bool {
			return strings.HasPrefix(kv, "OPSBOOK_DB=") || strings.HasPrefix(kv, "OPSBOOK_SECRET_KEY=")
		})
		return append(env, "OPSBOOK_DB="+dsn, "OPSBOOK_SECRET_KEY="+key)
	}
	var key string
	for _, kv := range p.env {
		if v, ok := strings.CutPrefix(kv, "OPSBOOK_SECRET_KEY="); ok {
			key = v
		}
	}

	t.Run("with the key", func(t *testing.T) {
		p := p.on(t)
		base := studio(t, restore(t, key))
		for _, slug := range []string{`"keep"`, `"check"`} {
			if flows := p.get(base + "/api/v1/flows"); !strings.Contains(flows, slug) {
				t.Errorf("restored flows lack %s: %s", slug, flows)
			}
		}
		if st, _ := p.runStatus(base, keep); st != "succeeded" {
			t.Errorf("the run made before the dump is %s in the restored studio", st)
		}
		check := p.startRun(base, "check")
		if st, e := p.waitEnd(base, check, time.Minute); st != "succeeded" {
			t.Fatalf("run check on the restored studio: %s %s", st, e)
		}
		if log := p.get(base + "/api/v1/runs/" + check + "/log?cell=show"); !strings.Contains(log, "got turquoise") {
			t.Errorf("the scratch database's rows are gone: %q", log)
		}
		if log := p.get(base + "/api/v1/runs/" + check + "/log?cell=hash"); !strings.Contains(log, wantHash) {
			t.Errorf("the secret did not open to its value: %q", log)
		}
	})

	t.Run("without the key", func(t *testing.T) {
		other := make([]byte, 32)
		rand.Read(other)
		p := p.on(t)
		base := studio(t, restore(t, base64.StdEncoding.EncodeToString(other)))
		if st, _ := p.runStatus(base, keep); st != "succeeded" {
			t.Errorf("the run made before the dump is %s in the restored studio", st)
		}
		// The run is refused before it starts, saying which key is missing.
		code, body := p.api("POST", base+"/api/v1/flows/check/runs", "{}")
		e, _ := body["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code < 400 || !strings.Contains(msg, "OPSBOOK_SECRET_KEY") {
			t.Errorf("a run that needs a secret, restored with another key: %d %v; want refused, naming the key", code, body)
		}
	})
}
