package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The same suite runs on both databases, every time (GoToSocial and River
// do the same). PostgreSQL is required: CI starts it, and a test that cannot
// reach it fails rather than skips.

const defaultPG = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func TestSQLite(t *testing.T) {
	t.Parallel()
	runSuite(t, openSQLite)
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	runSuite(t, openPostgres)
}

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestOpenQuietByDefault: a store opened without a logger writes nothing,
// not even to slog.Default (a test's output is not flooded with the
// migrations' progress); one given a logger logs there. Not parallel: it
// swaps slog.Default, which no parallel test runs beside.
func TestOpenQuietByDefault(t *testing.T) {
	ctx := context.Background()
	var def, own strings.Builder
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&def, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	s, err := Open(ctx, Config{Data: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if def.Len() != 0 {
		t.Errorf("a store opened without a logger wrote to slog.Default:\n%s", def.String())
	}
	s, err = Open(ctx, Config{Data: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&own, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !strings.Contains(own.String(), "migrate: ") {
		t.Errorf("a store given a logger did not log its migrations: %q", own.String())
	}
}

// openSQLite opens a store on a fresh SQLite file.
func openSQLite(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Data: t.TempDir(), Logger: testLogger()})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func pgDSN() string {
	if v := os.Getenv("OPSBOOK_TEST_PG"); v != "" {
		return v
	}
	return defaultPG
}

// openPostgres opens a store on a schema of its own, dropped afterwards, so
// tests run in parallel on one database.
func openPostgres(t testing.TB) *Store {
	t.Helper()
	ctx := context.Background()
	base := pgDSN()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "s_" + hex.EncodeToString(b[:])

	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL at %s is needed (set OPSBOOK_TEST_PG): %v", base, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("pool_max_conns", "8")
	u.RawQuery = q.Encode()

	s, err := Open(ctx, Config{DB: u.String(), Logger: testLogger()})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSQLiteFile checks what only SQLite has: the file under --data, WAL,
// and data kept across a reopen.
func TestSQLiteFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir() + "/nested/data"
	s, err := Open(ctx, Config{Data: dir, Logger: testLogger()})
	ok(t, err)
	if s.Dialect() != DialectSQLite {
		t.Fatalf("Dialect = %q", s.Dialect())
	}
	fi, err := os.Stat(dir)
	ok(t, err)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("data folder mode = %v", fi.Mode().Perm())
	}
	// The database and its write-ahead log are the owner's only: they
	// hold every sealed secret and every run's output.
	for _, name := range []string{FileName, FileName + "-wal"} {
		fi, err := os.Stat(dir + "/" + name)
		ok(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v; want 0600", name, fi.Mode().Perm())
		}
	}
	if _, err := os.Stat(dir + "/" + FileName); err != nil {
		t.Fatal(err)
	}
	var mode string
	ok(t, s.rdb.NewRaw("PRAGMA journal_mode").Scan(ctx, &mode))
	if mode != "wal" {
		t.Fatalf("journal_mode = %q", mode)
	}
	var fk int
	ok(t, s.db.NewRaw("PRAGMA foreign_keys").Scan(ctx, &fk))
	if fk != 1 {
		t.Fatalf("foreign_keys = %d", fk)
	}
	_, err = s.CreateUser(ctx, "ada", "", "")
	ok(t, err)
	ok(t, s.Close())
	ok(t, s.Close()) // twice is fine

	s, err = Open(ctx, Config{Data: dir, Logger: testLogger()})
	ok(t, err)
	defer s.Close()
	if _, err := s.UserByName(ctx, "ada"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if _, err := Open(ctx, Config{}); err == nil {
		t.Fatal("Open with no data folder and no DB accepted")
	}
	if _, err := Open(ctx, Config{DB: "mysql://x"}); err == nil {
		t.Fatal("Open with a mysql DSN accepted")
	}
}

func TestPostgresDialect(t *testing.T) {
	t.Parallel()
	s := openPostgres(t)
	if s.Dialect() != DialectPostgres || s.Pool() == nil {
		t.Fatalf("Dialect = %q, Pool = %v", s.Dialect(), s.Pool())
	}
}

func TestFileJSON(t *testing.T) {
	t.Parallel()
	in := []File{{Name: "a.sh", Data: []byte("echo é\n")}, {Name: "b", Data: []byte{0, 0xff}}, {Name: "empty", Data: []byte{}}}
	s := encodeFiles(in)
	if want := `[{"name":"a.sh","data":"echo é\n"},{"name":"b","base64":"AP8="},{"name":"empty","data":""}]`; s != want {
		t.Fatalf("encodeFiles = %s\nwant %s", s, want)
	}
	out, err := decodeFiles(s)
	ok(t, err)
	for i := range in {
		if out[i].Name != in[i].Name || string(out[i].Data) != string(in[i].Data) {
			t.Fatalf("file %d = %+v, want %+v", i, out[i], in[i])
		}
	}
	if _, err := decodeFiles(`[{"name":"x"}]`); err == nil {
		t.Fatal("file without data accepted")
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	a, b := NewID("r"), NewID("r")
	if a == b || len(a) != 28 || a[:2] != "r_" {
		t.Fatalf("NewID = %q, %q", a, b)
	}
}

// TestSQLiteTwoStores writes from two stores on one file at once, as a
// command line does beside a running server: busy_timeout and BEGIN
// IMMEDIATE make the second writer wait instead of failing.
func TestSQLiteTwoStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	a, err := Open(ctx, Config{Data: dir, Logger: testLogger()})
	ok(t, err)
	defer a.Close()
	b, err := Open(ctx, Config{Data: dir, Logger: testLogger()})
	ok(t, err)
	defer b.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i, s := range []*Store{a, b, a, b} {
		wg.Go(func() {
			for j := range 25 {
				if _, err := s.CreateUser(ctx, fmt.Sprintf("u%d_%d", i, j), "", ""); err != nil {
					errs <- err
				}
				if _, err := s.CountUsers(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n, err := b.CountUsers(ctx)
	ok(t, err)
	if n != 100 {
		t.Fatalf("CountUsers = %d, want 100", n)
	}
}
