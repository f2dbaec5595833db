package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opsbook/opsbook/engine/store"
)

// setup makes a data folder: a database with a user, a key file, a
// workspace's scratch database with a row, and git files.
func setup(t *testing.T) (string, *store.Store) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	st, err := store.Open(context.Background(), store.Config{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateUser(context.Background(), "ada", "Ada", ""); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(data, "secret.key"), "a2V5\n", 0o600)
	scratch := filepath.Join(data, "workspaces", "w_x", "scratch.db")
	os.MkdirAll(filepath.Dir(scratch), 0o700)
	db, err := sql.Open("sqlite", scratch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE kept (x TEXT); INSERT INTO kept VALUES ('teal')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	write(t, filepath.Join(data, "git", "w_x", "HEAD"), "ref: refs/heads/main\n", 0o644)
	write(t, filepath.Join(data, "git", "w_x", "objects", "ab", "cdef"), "object", 0o444)
	write(t, filepath.Join(data, "git", "w_x", "index.lock"), "", 0o644)
	write(t, filepath.Join(data, "cell-groups"), "", 0o600) // not backed up
	return data, st
}

func write(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// TestCreateRestore: a backup taken while another goroutine writes to the
// database restores into a folder a store opens, with every part.
func TestCreateRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data, st := setup(t)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			if _, err := st.CreateUser(ctx, fmt.Sprintf("u%d", i), "", ""); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	archive := filepath.Join(t.TempDir(), "b.tar.gz")
	var log bytes.Buffer
	m, err := Create(ctx, archive, Options{Data: data, Version: "test", Log: &log})
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if m.Schema == 0 || m.Opsbook != "test" {
		t.Errorf("manifest = %+v", m)
	}
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	if got, want := strings.Join(names, " "), "git/w_x/HEAD git/w_x/objects/ab/cdef opsbook.db secret.key workspaces/w_x/scratch.db"; got != want {
		t.Errorf("files = %s, want %s", got, want)
	}
	if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive %v %v", fi, err)
	}
	if _, err := os.Stat(archive + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("%s.tmp left: %v", archive, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(archive), ".opsbook-backup-*")); len(left) > 0 {
		t.Errorf("staging left: %v", left)
	}
	if _, err := Create(ctx, archive, Options{Data: data}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("Create over an archive: %v", err)
	}
	if _, err := Create(ctx, archive, Options{Data: data, Force: true}); err != nil {
		t.Errorf("Create --force: %v", err)
	}

	target := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(ctx, archive, target, nil); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{".": 0o700, "secret.key": 0o600, "opsbook.db": 0o600, "git/w_x/objects/ab/cdef": 0o600, "git/w_x": 0o700} {
		if fi, err := os.Stat(filepath.Join(target, name)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want %o", name, fi, err, mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(target, "secret.key")); string(b) != "a2V5\n" {
		t.Errorf("key = %q", b)
	}
	rs, err := store.Open(ctx, store.Config{Data: target})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if _, err := rs.UserByName(ctx, "ada"); err != nil {
		t.Errorf("restored database: %v", err)
	}
	db, err := sql.Open("sqlite", filepath.Join(target, "workspaces", "w_x", "scratch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var x string
	if err := db.QueryRow("SELECT x FROM kept").Scan(&x); err != nil || x != "teal" {
		t.Errorf("scratch row = %q %v", x, err)
	}
}

func TestCreateRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, tt := range []struct{ file, data, want string }{
		{filepath.Join(dir, "b.zip"), dir, "name the archive"},
		{filepath.Join(dir, "b.tar"), filepath.Join(dir, "none"), "no database at"},
	} {
		if _, err := Create(ctx, tt.file, Options{Data: tt.data}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Create(%s, %s) = %v, want %q", tt.file, tt.data, err, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); !os.IsNotExist(err) {
		t.Errorf("Create made the data folder: %v", err)
	}
}

// handmade writes a tar of a manifest listing files and the given entries.
func handmade(t *testing.T, files []File, entries map[string]string, order ...string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	b, _ := json.Marshal(Manifest{Format: Format, Files: files})
	tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(b)), Typeflag: tar.TypeReg})
	tw.Write(b)
	for _, name := range order {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(entries[name])), Typeflag: tar.TypeReg})
		tw.Write([]byte(entries[name]))
	}
	tw.Close()
	path := filepath.Join(t.TempDir(), "h.tar")
	os.WriteFile(path, buf.Bytes(), 0o600)
	return path
}

const helloSHA = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // sha256("hello")

func TestRestoreRefuses(t *testing.T) {
	t.Parallel()
	ok := []File{{Name: "secret.key", Size: 5, SHA256: helloSHA}}
	tests := []struct {
		name, archive, want string
	}{
		{"not a tar", func() string { p := filepath.Join(t.TempDir(), "x"); os.WriteFile(p, []byte("hello"), 0o600); return p }(), "not a backup archive"},
		{"path out of the folder", handmade(t, []File{{Name: "../x", Size: 5, SHA256: helloSHA}}, nil), "not a path inside"},
		{"absolute path", handmade(t, []File{{Name: "/etc/x", Size: 5, SHA256: helloSHA}}, nil), "not a path inside"},
		{"entry not listed", handmade(t, ok, map[string]string{"data/secret.key": "hello", "data/extra": "x"}, "data/secret.key", "data/extra"), "does not list"},
		{"file missing", handmade(t, ok, nil), "cut short"},
		{"wrong content", handmade(t, ok, map[string]string{"data/secret.key": "jello"}, "data/secret.key"), "damaged"},
		{"wrong size", handmade(t, ok, map[string]string{"data/secret.key": "hell"}, "data/secret.key"), "damaged"},
	}
	for _, tt := range tests {
		target := filepath.Join(t.TempDir(), "target")
		_, err := Restore(context.Background(), tt.archive, target, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Restore = %v, want %q", tt.name, err, tt.want)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("%s: target made: %v", tt.name, err)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(target), ".opsbook-restore-*")); len(left) > 0 {
			t.Errorf("%s: staging left: %v", tt.name, left)
		}
	}
	good := handmade(t, ok, map[string]string{"data/secret.key": "hello"}, "data/secret.key")
	full := t.TempDir()
	write(t, filepath.Join(full, "mine"), "x", 0o600)
	if _, err := Restore(context.Background(), good, full, nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Restore into a folder with a file = %v", err)
	}
	empty := t.TempDir()
	if _, err := Restore(context.Background(), good, empty, nil); err != nil {
		t.Errorf("Restore into an empty folder: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(empty, "secret.key")); string(b) != "hello" {
		t.Errorf("restored %q", b)
	}
}
