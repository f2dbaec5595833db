package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/store"
)

// roles every permission test tries, besides an anonymous visitor.
var testRoles = []string{"owner", "editor", "runner", "viewer", "outsider"}

type fixture struct {
	t       testing.TB
	st      *store.Store
	srv     *Server
	ts      *httptest.Server
	ws      store.Workspace
	users   map[string]store.User
	cookies map[string]string // role → session token
	tokens  map[string]string // role → API token
	flow    store.FlowSummary
	run     string // a finished run of flow
	holder  string // a share link's token, sent by the shareHolder principal
}

var testHash, _ = account.HashPassword("correct horse battery")

// testDB is the database the package's tests run on: SQLite, or
// PostgreSQL with OPSBOOK_TEST_DB=postgres. `make test` runs the suite once
// per database (as GoToSocial's scripts/test.sh does); a test that is about
// one database (two processes on one PostgreSQL, another process on one
// SQLite file) names it instead.
var testDB = cmp.Or(os.Getenv("OPSBOOK_TEST_DB"), "sqlite")

// testPG returns the PostgreSQL URL tests use.
func testPG() string {
	if v := os.Getenv("OPSBOOK_TEST_PG"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// openStore opens a fresh store: a SQLite file, or a PostgreSQL schema of
// its own that is dropped after the test.
func openStore(t testing.TB, dialect string) (*store.Store, string) {
	t.Helper()
	ctx := context.Background()
	data := t.TempDir()
	// The store's warnings go to stderr, not its migrations' progress.
	cfg := store.Config{Data: data, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if dialect != "sqlite" && dialect != "postgres" {
		t.Fatalf("no database %q: OPSBOOK_TEST_DB is sqlite (the default) or postgres", dialect)
	}
	if dialect == "postgres" {
		var b [6]byte
		rand.Read(b[:])
		schema := "t_" + hex.EncodeToString(b[:])
		conn, err := pgx.Connect(ctx, testPG())
		if err != nil {
			t.Fatalf("PostgreSQL at %s is not reachable (CI starts it; set OPSBOOK_TEST_PG): %v", testPG(), err)
		}
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(context.Background())
		})
		u, _ := url.Parse(testPG())
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		cfg.DB = u.String()
	}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	storeDSN.Store(st, cfg.DB)
	return st, data
}

// storeDSN remembers the PostgreSQL URL of each test store, so a test can
// open a second process's store on the same schema.
var storeDSN sync.Map

// setup starts a server with a workspace, one user per role, a user of
// another workspace, a flow and a finished run.
func setup(t testing.TB, dialect string) *fixture {
	t.Helper()
	return setupWith(t, dialect, Config{})
}

// setupWith is setup with some of the server's Config set (its store, data
// folder and sandbox are the fixture's).
func setupWith(t testing.TB, dialect string, cfg Config) *fixture {
	t.Helper()
	ctx := context.Background()
	st, data := openStore(t, dialect)
	cfg.DataDir, cfg.Sandbox = data, &sandbox.Config{}
	f := serveFixture(t, st, cfg, false)
	other, err := st.CreateWorkspace(ctx, "other", "Other")
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range testRoles {
		u, err := st.CreateUser(ctx, role, strings.ToUpper(role[:1])+role[1:], testHash)
		if err != nil {
			t.Fatal(err)
		}
		f.users[role] = u
		wsID, r := f.ws.ID, role
		if role == "outsider" {
			wsID, r = other.ID, string(engine.RoleOwner)
		}
		if err := st.AddMember(ctx, wsID, u.ID, engine.Role(r)); err != nil {
			t.Fatal(err)
		}
		tok, hash := account.NewToken("")
		if _, err := st.CreateSession(ctx, u.ID, hash, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		f.cookies[role] = tok
		f.tokens[role], err = account.CreateToken(ctx, st, role, "", "test", "")
		if err != nil {
			t.Fatal(err)
		}
	}
	fl := &engine.Flow{Name: "Hello", Inputs: []engine.Input{{Name: "who", Type: engine.InputString, Default: "world"}}, Cells: []engine.Cell{
		{Name: "greet", Kind: engine.KindShell, File: "greet.sh", Source: "echo hello {{ inputs.who }}\n"},
		{Name: "answer", Kind: engine.KindExpr, File: "answer.expr", Source: "40 + 2\n"},
	}}
	files, err := flow.Files(fl)
	if err != nil {
		t.Fatal(err)
	}
	if f.flow, err = st.CreateFlow(ctx, f.ws.ID, "hello", fl, f.users["owner"].ID, storeFiles(files), flow.Hash(fl)); err != nil {
		t.Fatal(err)
	}
	r, err := f.srv.runs.Start(ctx, StartRequest{Workspace: f.ws, FlowID: f.flow.ID, FlowSlug: "hello", Flow: fl, Version: 1, StartedBy: f.users["owner"]})
	if err != nil {
		t.Fatal(err)
	}
	f.run = r.ID
	f.waitRun(r.ID)
	return f
}

// waitRun waits until a run is finished and stored.
func (f *fixture) waitRun(id string) store.Run {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := f.st.Run(context.Background(), id)
		if err == nil && r.Status.Done() && (f.srv.runs.pool == nil || f.srv.runs.pool.Done(id) == nil) {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("run %s did not finish in 30s", id)
	return store.Run{}
}

// do sends a request as role ("" for anonymous), by session cookie, or by
// API token when the path starts with /api/.
func (f *fixture) do(role, method, path string, body string, header ...string) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if method == http.MethodPost && !strings.HasPrefix(path, "/api/") {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	switch {
	case role == shareHolder:
		// A share link is no credential: send it everywhere one could be.
		req.Header.Set("Authorization", "Bearer "+f.holder)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: f.holder})
	case role != "":
		if strings.HasPrefix(path, "/api/") {
			req.Header.Set("Authorization", "Bearer "+f.tokens[role])
		} else {
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: f.cookies[role]})
		}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// testLogger logs to the test's output, shown when it fails.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// serveFixture starts a studio on st with cfg and serves it over HTTP the
// way serve does when limited is set (HTTPServer on Listener), else with
// httptest's defaults. The fixture has the workspace "acme" and no users.
// Cells run in the sandbox unless cfg says otherwise.
func serveFixture(t testing.TB, st *store.Store, cfg Config, limited bool) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg.Store = st
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	srv := New(cfg)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var ts *httptest.Server
	if limited {
		ts = httptest.NewUnstartedServer(nil)
		ts.Config = srv.HTTPServer()
		ts.Listener = srv.Listener(ts.Listener)
		ts.Start()
	} else {
		ts = httptest.NewServer(srv.Handler())
	}
	t.Cleanup(func() {
		srv.CloseSockets()
		ts.CloseClientConnections()
		ts.Close()
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(c)
	})
	f := &fixture{t: t, st: st, srv: srv, ts: ts, users: map[string]store.User{}, cookies: map[string]string{}, tokens: map[string]string{}}
	var err error
	if f.ws, err = st.CreateWorkspace(ctx, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	return f
}
