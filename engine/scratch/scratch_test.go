package scratch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/executor"
	"github.com/opsbook/opsbook/engine/store"
)

func pgDSN() string {
	if v := os.Getenv("OPSBOOK_TEST_PG"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// twoStores opens two stores on one database, as two machines would: a
// PostgreSQL schema of the test's own, or one SQLite file. The first has a
// workspace, whose id is returned.
func twoStores(t testing.TB, dialect string) (*store.Store, *store.Store, string) {
	t.Helper()
	ctx := context.Background()
	cfg := store.Config{Data: t.TempDir(), Logger: quiet}
	if dialect == "postgres" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		schema := "scratch_" + hex.EncodeToString(b[:])
		conn, err := pgx.Connect(ctx, pgDSN())
		if err != nil {
			t.Fatalf("PostgreSQL at %s is needed (set OPSBOOK_TEST_PG): %v", pgDSN(), err)
		}
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(context.Background())
		})
		u, _ := url.Parse(pgDSN())
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		cfg.DB = u.String()
	}
	var out [2]*store.Store
	for i := range out {
		st, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[i] = st
	}
	ws, err := out[0].CreateWorkspace(ctx, "ops", "Ops")
	if err != nil {
		t.Fatal(err)
	}
	return out[0], out[1], ws.ID
}

type nopOutput struct{}

func (nopOutput) Lines(string, []string) {}

// query runs sql as a sql cell on the scratch file at path, as a run does,
// and closes the file's connections.
func query(t *testing.T, path, sql string) *engine.SQLResult {
	t.Helper()
	x := &executor.SQL{Scratch: path}
	defer x.Close()
	res, err := x.Execute(context.Background(), &executor.Request{
		Cell:   &engine.Cell{Name: "q", Kind: engine.KindSQL, File: "q.sql"},
		Source: sql, Output: nopOutput{},
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return res.(*engine.SQLResult)
}

func names(t *testing.T, path string) string {
	t.Helper()
	r := query(t, path, "SELECT group_concat(name, ',') AS names FROM (SELECT name FROM people ORDER BY name)")
	if len(r.Rows) != 1 {
		t.Fatalf("rows = %+v", r.Rows)
	}
	s, _ := r.Rows[0]["names"].(string)
	return s
}

func open(t *testing.T, p Provider, ws string) (string, func() error) {
	t.Helper()
	path, release, err := p.Open(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	return path, func() error { return release(context.Background()) }
}

func TestLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := Local(dir)
	path, release := open(t, p, "w_abc")
	if want := filepath.Join(dir, "workspaces", "w_abc", "scratch.db"); path != want {
		t.Fatalf("path = %s, want %s", path, want)
	}
	query(t, path, "CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('ada')")
	if err := release(); err != nil {
		t.Fatal(err)
	}
	path2, release2 := open(t, p, "w_abc")
	defer release2()
	if path2 != path || names(t, path2) != "ada" {
		t.Fatalf("a second Open: %s, %q", path2, names(t, path2))
	}
	for _, bad := range []string{"", "../w", "w/x", strings.Repeat("w", 65)} {
		if _, _, err := p.Open(context.Background(), bad); err == nil {
			t.Errorf("workspace id %q accepted", bad)
		}
	}
}

// TestUses: only flows with a sql cell on scratch need the provider.
func TestUses(t *testing.T) {
	t.Parallel()
	sh := engine.Cell{Name: "a", Kind: engine.KindShell}
	for _, tc := range []struct {
		cells []engine.Cell
		want  bool
	}{
		{nil, false},
		{[]engine.Cell{sh}, false},
		{[]engine.Cell{sh, {Name: "b", Kind: engine.KindSQL, Connection: "warehouse"}}, false},
		{[]engine.Cell{sh, {Name: "b", Kind: engine.KindSQL}}, true},
		{[]engine.Cell{{Name: "b", Kind: engine.KindSQL, Connection: "scratch"}}, true},
	} {
		if got := Uses(&engine.Flow{Cells: tc.cells}); got != tc.want {
			t.Errorf("Uses(%+v) = %v", tc.cells, got)
		}
	}
}

func dialects(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, d)
		})
	}
}

// TestSharedSeesWrites: two workers (two stores, two local folders) on
// one database see each other's writes; a copy already current is not
// fetched again.
func TestSharedSeesWrites(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, dialect string) {
		st1, st2, ws := twoStores(t, dialect)
		p1 := NewShared(SharedConfig{Store: st1, Dir: t.TempDir(), Logger: quiet})
		p2 := NewShared(SharedConfig{Store: st2, Dir: t.TempDir(), Logger: quiet})

		path1, release := open(t, p1, ws)
		query(t, path1, "CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('ada')")
		if err := release(); err != nil {
			t.Fatal(err)
		}
		path2, release := open(t, p2, ws)
		if path2 == path1 {
			t.Fatal("two workers share a local file")
		}
		if got := names(t, path2); got != "ada" {
			t.Fatalf("the second worker sees %q", got)
		}
		query(t, path2, "INSERT INTO people VALUES ('bob')")
		if err := release(); err != nil {
			t.Fatal(err)
		}
		path1, release = open(t, p1, ws)
		if got := names(t, path1); got != "ada,bob" {
			t.Fatalf("the first worker sees %q after the second wrote", got)
		}
		if err := release(); err != nil { // read only: nothing to store
			t.Fatal(err)
		}
		info, err := st1.ScratchInfo(context.Background(), ws)
		if err != nil || info.Generation != 2 {
			t.Fatalf("stored generation = %+v, %v; want 2 (a read stores nothing)", info, err)
		}
		before := p1.fetches.Load()
		_, release = open(t, p1, ws)
		release()
		if p1.fetches.Load() != before {
			t.Fatal("a local copy of the stored generation was fetched again")
		}
		// A local copy changed behind the provider's back is replaced.
		os.WriteFile(path1, []byte("garbage"), 0o600)
		path1, release = open(t, p1, ws)
		defer release()
		if got := names(t, path1); got != "ada,bob" {
			t.Fatalf("after the local copy was damaged: %q", got)
		}
	})
}

// TestSharedTakesTurns: two Opens of one workspace, on two workers or on
// one, run one after the other; another workspace does not wait. The
// providers' clock is the test's: a waiting Open's timer shows it asked for
// the lease and was refused, so the test needs no sleep to know it waits.
func TestSharedTakesTurns(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, dialect string) {
		st1, st2, ws := twoStores(t, dialect)
		ctx := context.Background()
		other, err := st1.CreateWorkspace(ctx, "data", "Data")
		if err != nil {
			t.Fatal(err)
		}
		clk := clock.NewFake(time.Now())
		p1 := NewShared(SharedConfig{Store: st1, Dir: t.TempDir(), Logger: quiet, Poll: 20 * time.Millisecond, Clock: clk})
		p2 := NewShared(SharedConfig{Store: st2, Dir: t.TempDir(), Logger: quiet, Poll: 20 * time.Millisecond, Clock: clk})
		for _, second := range []*Shared{p2, p1} {
			path, release := open(t, p1, ws)
			query(t, path, "CREATE TABLE IF NOT EXISTS people (name TEXT); INSERT INTO people VALUES ('x')")
			got, opened, returned := make(chan string, 1), make(chan struct{}), make(chan struct{})
			go func() {
				defer close(returned)
				path, release, err := second.Open(ctx, ws)
				close(opened)
				if err != nil {
					got <- err.Error()
					return
				}
				got <- names(t, path)
				release(ctx)
			}()
			for try := range 4 {
				if try > 0 {
					clk.Advance(time.Second) // past any jitter of Poll
				}
				if !clk.WaitTimers(1, opened) {
					t.Fatalf("a second Open got the workspace while the first held it (try %d)", try+1)
				}
			}
			// Another workspace is free meanwhile.
			c, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, rel, err := second.Open(c, other.ID)
			cancel()
			if err != nil {
				t.Fatalf("another workspace waited: %v", err)
			}
			rel(ctx)
			want := names(t, path)
			if err := release(); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Second)
			select {
			case s := <-got:
				if s != want {
					t.Fatalf("the second Open saw %q; want the first's %q", s, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the second Open did not get the workspace after the first released it")
			}
			<-returned // and released it
		}
		// A wait ends with its context, saying why.
		_, release := open(t, p1, ws)
		defer release()
		c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, _, err := p2.Open(c, ws); err == nil || !strings.Contains(err.Error(), "another run") {
			t.Fatalf("a canceled wait: %v", err)
		}
	})
}

// TestSharedExpiredLease: a holder that crashed (it never renews) holds
// the workspace only until its lease expires; a holder that stalled past
// its lease stores nothing at release.
func TestSharedExpiredLease(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, dialect string) {
		st1, st2, ws := twoStores(t, dialect)
		ctx := context.Background()
		const ttl = time.Second
		got, err := st1.AcquireLease(ctx, leaseName(ws), "crashed-worker", ttl)
		if err != nil || !got {
			t.Fatalf("crashed holder's lease: %v %v", got, err)
		}
		p2 := NewShared(SharedConfig{Store: st2, Dir: t.TempDir(), Logger: quiet, LeaseTTL: ttl, Poll: 20 * time.Millisecond})
		start := time.Now()
		path, release := open(t, p2, ws)
		if waited := time.Since(start); waited < ttl/2 || waited > ttl+2*time.Second {
			t.Fatalf("took over a crashed holder's lease after %s; want about %s", waited, ttl)
		}
		query(t, path, "CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('kept')")
		if err := release(); err != nil {
			t.Fatal(err)
		}

		// A holder whose heartbeat stalls longer than its lease.
		stalled := NewShared(SharedConfig{Store: st1, Dir: t.TempDir(), Logger: quiet, LeaseTTL: ttl, Heartbeat: time.Hour})
		path, release = open(t, stalled, ws)
		query(t, path, "INSERT INTO people VALUES ('lost')")
		time.Sleep(ttl + 100*time.Millisecond)
		path2, release2 := open(t, p2, ws) // takes the expired lease over
		if err := release(); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("release after the lease was taken over: %v; want ErrLeaseLost", err)
		}
		if got := names(t, path2); got != "kept" {
			t.Fatalf("the new holder sees %q", got)
		}
		if err := release2(); err != nil {
			t.Fatal(err)
		}
		path, release = open(t, stalled, ws)
		defer release()
		if got := names(t, path); got != "kept" {
			t.Fatalf("the stalled holder's write was stored: %q", got)
		}
	})
}

// TestSharedTooLarge: a scratch database over the limit is refused with a
// clear error; the stored one stays, for this worker and the others.
func TestSharedTooLarge(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, dialect string) {
		st1, st2, ws := twoStores(t, dialect)
		const limit = 256 << 10
		p1 := NewShared(SharedConfig{Store: st1, Dir: t.TempDir(), Logger: quiet, MaxSize: limit})
		p2 := NewShared(SharedConfig{Store: st2, Dir: t.TempDir(), Logger: quiet, MaxSize: limit})
		path, release := open(t, p1, ws)
		query(t, path, "CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('small')")
		if err := release(); err != nil {
			t.Fatal(err)
		}
		path, release = open(t, p1, ws)
		query(t, path, "CREATE TABLE blobs (b BLOB); INSERT INTO blobs VALUES (randomblob(400000)); INSERT INTO people VALUES ('big')")
		err := release()
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "over the limit of 256 KiB") || !strings.Contains(err.Error(), "not stored") {
			t.Fatalf("release of a too large database: %v", err)
		}
		info, err2 := st1.ScratchInfo(context.Background(), ws)
		if err2 != nil || info.Generation != 1 {
			t.Fatalf("stored = %+v, %v; want generation 1 kept", info, err2)
		}
		for i, p := range []*Shared{p1, p2} {
			path, release := open(t, p, ws)
			if got := names(t, path); got != "small" {
				t.Fatalf("worker %d sees %q; want the stored copy", i+1, got)
			}
			release()
		}
	})
}

// TestSharedFirstUpload: the file a machine used before scratch was
// shared (Local's, under the data folder) becomes the first stored
// generation, through For as serve builds it.
func TestSharedFirstUpload(t *testing.T) {
	t.Parallel()
	st1, st2, ws := twoStores(t, "postgres")
	data := t.TempDir()
	legacy, release, err := Local(data).Open(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	query(t, legacy, "CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('old')")
	release(context.Background())
	p1 := For(st1, data, quiet)
	if _, ok := p1.(*Shared); !ok {
		t.Fatalf("For on PostgreSQL = %T", p1)
	}
	path, release2 := open(t, p1, ws)
	if path == legacy || names(t, path) != "old" {
		t.Fatalf("first Open: %s, %q", path, names(t, path))
	}
	if err := release2(); err != nil {
		t.Fatal(err)
	}
	p2 := NewShared(SharedConfig{Store: st2, Dir: t.TempDir(), Logger: quiet})
	path, release2 = open(t, p2, ws)
	defer release2()
	if got := names(t, path); got != "old" {
		t.Fatalf("another worker sees %q; want the machine's old file", got)
	}
	sq, _, _ := twoStores(t, "sqlite")
	if _, ok := For(sq, data, quiet).(local); !ok {
		t.Fatal("For on SQLite is not Local")
	}
}

// twoStoresB is twoStores on PostgreSQL for benchmarks.
func twoStoresB(b *testing.B) (*store.Store, *store.Store, string) { return twoStores(b, "postgres") }
