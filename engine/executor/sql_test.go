package executor

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/opsbook/opsbook/engine"
)

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	m := engine.ParamMarker
	tests := []struct {
		name    string
		d       dialect
		src     string
		want    []statement
		wantErr string
	}{
		{
			name: "basic",
			src:  "select 1;\n\n  select 2 ;;\n-- only a comment;\n",
			want: []statement{{Text: "select 1", Line: 1}, {Text: "select 2", Line: 3}},
		},
		{
			name: "quotes and comments hide semicolons",
			src:  "select 'a;b''c;', \"x;y\" -- c;d\n/* e;f */ from t;select `q;`, [r;] from u",
			want: []statement{
				{Text: "select 'a;b''c;', \"x;y\" -- c;d\n/* e;f */ from t", Line: 1},
				{Text: "select `q;`, [r;] from u", Line: 2},
			},
		},
		{
			name: "sqlite trigger",
			src:  "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  INSERT INTO log VALUES (1);\n  UPDATE c SET n = n + 1;\nEND;\nselect 1",
			want: []statement{
				{Text: "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  INSERT INTO log VALUES (1);\n  UPDATE c SET n = n + 1;\nEND", Line: 1},
				{Text: "select 1", Line: 5},
			},
		},
		{
			name: "sqlite markers",
			src:  "insert into t values (" + m(0) + ", " + m(1) + ");\nselect * from t where a = " + m(2) + " -- " + m(3),
			want: []statement{
				{Text: "insert into t values (?, ?)", Params: []int{0, 1}, Line: 1},
				{Text: "select * from t where a = ? --  p3", Params: []int{2}, Line: 2},
			},
		},
		{
			name: "postgres markers numbered per statement",
			d:    dialectPostgres,
			src:  "insert into t values (" + m(0) + ", " + m(1) + "); select " + m(1) + "::int, " + m(2),
			want: []statement{
				{Text: "insert into t values ($1, $2)", Params: []int{0, 1}, Line: 1},
				{Text: "select $1::int, $2", Params: []int{1, 2}, Line: 1},
			},
		},
		{
			name: "postgres dollar quoting and nested comments",
			d:    dialectPostgres,
			src: "create function f() returns int as $body$ begin; return 1; end $body$ language plpgsql;\n" +
				"do $$ begin perform 1; end $$;\n/* a /* b; */ c; */ select E'x\\';y', $1, a$b$c from t",
			want: []statement{
				{Text: "create function f() returns int as $body$ begin; return 1; end $body$ language plpgsql", Line: 1},
				{Text: "do $$ begin perform 1; end $$", Line: 2},
				{Text: "/* a /* b; */ c; */ select E'x\\';y', $1, a$b$c from t", Line: 3},
			},
		},
		{name: "only comments", src: "-- a;\n/* b; */ ;\n", want: nil},
		{name: "marker in quotes", src: "select 1;\nselect '" + m(0) + "'", wantErr: ":2:8: a {{ }} value inside a quoted string"},
		{name: "marker in dollar quotes", d: dialectPostgres, src: "select $$" + m(0) + "$$", wantErr: ":1:8: a {{ }} value inside a $-quoted string"},
		{name: "unterminated quote", src: "select 'abc; select 2", want: []statement{{Text: "select 'abc; select 2", Line: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := splitStatements(tt.src, tt.d)
			if tt.wantErr != "" {
				var pe *engine.Error
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want *engine.Error", err)
				}
				pe.Pos.File = "q.sql"
				if !strings.HasPrefix(err.Error(), "q.sql"+tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestLeadingVerb(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src       string
		verb      string
		returning bool
	}{
		{"select 1", "SELECT", false},
		{"-- c\n/* d */ (select 1)", "SELECT", false},
		{"insert into t values (1) returning id", "INSERT", true},
		{"insert into t select * from (select 1 returning) x", "INSERT", false},
		{"WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "INSERT", false},
		{"with recursive c(n) as (select 1 union all select n+1 from c) select * from c", "SELECT", false},
		{"update t set a = 'returning'", "UPDATE", false},
		{"create table t (a int)", "CREATE", false},
	}
	for _, tt := range tests {
		verb, ret := leadingVerb(tt.src)
		if verb != tt.verb || ret != tt.returning {
			t.Errorf("leadingVerb(%q) = %q, %v; want %q, %v", tt.src, verb, ret, tt.verb, tt.returning)
		}
	}
}

// sqlCase is one cell run against a database, in order.
type sqlCase struct {
	name     string
	src      string
	params   []any
	conn     string
	columns  []string
	rows     []map[string]any
	affected int64
	log      []string
	wantErr  string
}

func runSQLCases(t *testing.T, x *SQL, cases []sqlCase) {
	t.Helper()
	for _, c := range cases {
		req, out := setup(t, engine.KindSQL, c.src)
		req.Cell.Connection = c.conn
		req.Params = c.params
		v, err := x.Execute(context.Background(), req)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: err = %v, want %q", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		r := v.(*engine.SQLResult)
		if c.columns != nil && !reflect.DeepEqual(r.Columns, c.columns) {
			t.Errorf("%s: columns = %q, want %q", c.name, r.Columns, c.columns)
		}
		if c.rows != nil && !reflect.DeepEqual(r.Rows, c.rows) {
			t.Errorf("%s: rows = %#v\nwant %#v", c.name, r.Rows, c.rows)
		}
		if r.Affected != c.affected {
			t.Errorf("%s: affected = %d, want %d", c.name, r.Affected, c.affected)
		}
		if c.log != nil && !reflect.DeepEqual(out.get("stdout"), c.log) {
			t.Errorf("%s: log = %q, want %q", c.name, out.get("stdout"), c.log)
		}
	}
}

const injection = "'; drop table t; --"

func TestSQLite(t *testing.T) {
	t.Parallel()
	x := &SQL{Scratch: filepath.Join(t.TempDir(), "sub", "scratch.db"), MaxRows: 5,
		Connections: map[string]string{"warehouse": "postgres://nowhere/x", "mysql": "mysql://x"}}
	t.Cleanup(func() { x.Close() })
	m := engine.ParamMarker
	runSQLCases(t, x, []sqlCase{
		{
			name:     "create and insert",
			src:      "create table t (id integer primary key, name text, score real, data blob, at datetime);\n" + "insert into t (name, score) values (" + m(0) + ", " + m(1) + "), (" + m(2) + ", 2.5);",
			params:   []any{injection, 1.0, "b"},
			columns:  []string{},
			rows:     []map[string]any{},
			affected: 2,
			log:      []string{"statement 1: done", "statement 2: 2 rows affected"},
		},
		{
			name:    "injection stored as data",
			src:     "select name, id from t where name = " + m(0),
			params:  []any{injection},
			conn:    "scratch",
			columns: []string{"name", "id"},
			rows:    []map[string]any{{"name": injection, "id": int64(1)}},
			log:     []string{"1 row"},
		},
		{
			name:     "types",
			src:      "update t set data = x'00ff', at = '2025-01-31 10:00:00' where id = 1; update t set data = cast('text' as blob) where id = 2; select id, score, data, at, null as n from t order by id",
			columns:  []string{"id", "score", "data", "at", "n"},
			rows:     []map[string]any{{"id": int64(1), "score": 1.0, "data": "AP8=", "at": "2025-01-31T10:00:00Z", "n": nil}, {"id": int64(2), "score": 2.5, "data": "text", "at": nil, "n": nil}},
			affected: 2,
		},
		{
			name:    "last rows win, returning",
			src:     "select 1 as a; insert into t (name) values ('c') returning id, name",
			columns: []string{"id", "name"},
			rows:    []map[string]any{{"id": int64(3), "name": "c"}},
		},
		{
			name:    "rows cut",
			src:     "with recursive c(n) as (select 1 union all select n + 1 from c where n < 100) select n from c",
			columns: []string{"n"},
			log:     []string{"5 rows (the result was cut at 5 rows: add a LIMIT or aggregate)"},
		},
		{
			name:    "error rolls back",
			src:     "insert into t (name) values ('d');\nselect * from nope",
			wantErr: "step.sql:2: statement 2: SQL logic error: no such table: nope",
		},
		{
			name: "rolled back",
			src:  "select count(*) as n from t",
			rows: []map[string]any{{"n": int64(3)}},
		},
		{name: "unknown connection", src: "select 1", conn: "other", wantErr: `unknown connection "other": the known ones are scratch, mysql, warehouse`},
		{name: "not postgres", src: "select 1", conn: "mysql", wantErr: "only postgres:// and postgresql://"},
		{name: "missing param", src: "select " + m(1), params: []any{1}, wantErr: "uses parameter 1 but only 1 were given"},
		{name: "marker in quotes", src: "select '" + m(0) + "'", params: []any{1}, wantErr: "step.sql:1:8: a {{ }} value inside a quoted string"},
		{name: "empty", src: "-- nothing\n", columns: []string{}, rows: []map[string]any{}, log: []string{"no statements"}},
		{
			name:   "list param as JSON",
			src:    "select json_extract(" + m(0) + ", '$[1].b') as v, " + m(1) + " as i",
			params: []any{[]any{1, map[string]any{"b": "x"}}, 7},
			rows:   []map[string]any{{"v": "x", "i": int64(7)}},
		},
	})

	// Several cells at once on the same scratch file.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			req, _ := setup(t, engine.KindSQL, "insert into t (name) values ('p'); select count(*) from t")
			if _, err := x.Execute(context.Background(), req); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	req, _ := setup(t, engine.KindSQL, "select 1")
	if _, err := x.Execute(context.Background(), req); err == nil {
		t.Error("Execute after Close worked")
	}
}

func TestSQLNoScratch(t *testing.T) {
	t.Parallel()
	req, _ := setup(t, engine.KindSQL, "select 1")
	if _, err := (&SQL{}).Execute(context.Background(), req); err == nil || !strings.Contains(err.Error(), "no scratch database") {
		t.Errorf("err = %v", err)
	}
}

// pgDSN gives a DSN whose search_path is a fresh schema, dropped when the
// test ends. PostgreSQL must be reachable: CI starts it.
func pgDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("OPSBOOK_TEST_PG")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatalf("PostgreSQL at %s is unreachable (set OPSBOOK_TEST_PG): %v", dsn, err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "test_exec_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("create schema " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("drop schema " + schema + " cascade"); err != nil {
			t.Error(err)
		}
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	x := &SQL{Connections: map[string]string{"pg": pgDSN(t)}}
	t.Cleanup(func() { x.Close() })
	m := engine.ParamMarker
	runSQLCases(t, x, []sqlCase{
		{
			name: "create and insert",
			src: "create table t (id serial primary key, name text not null, price numeric(10,2), doc jsonb, at timestamptz, raw bytea, ok boolean, n int);\n" +
				"insert into t (name, price, doc, at, raw, ok, n) values (" + m(0) + ", 12.50, '{\"a\": [1, 2.5]}', '2025-01-31T10:00:00Z', '\\x00ff', true, " + m(1) + ");\n" +
				"insert into t (name, n) values (" + m(2) + ", " + m(1) + ")",
			conn:     "pg",
			params:   []any{injection, 3.0, "second"},
			affected: 2,
			log:      []string{"statement 1: done", "statement 2: 1 row affected", "statement 3: 1 row affected"},
		},
		{
			name:    "select types",
			src:     "select id, name, price, doc, at, raw, ok, n from t where name = " + m(0),
			conn:    "pg",
			params:  []any{injection},
			columns: []string{"id", "name", "price", "doc", "at", "raw", "ok", "n"},
			rows: []map[string]any{{"id": int64(1), "name": injection, "price": 12.5, "doc": map[string]any{"a": []any{int64(1), 2.5}},
				"at": "2025-01-31T10:00:00Z", "raw": "AP8=", "ok": true, "n": int64(3)}},
		},
		{
			name: "function with dollar quotes",
			src: "create function twice(x int) returns int as $$ begin return x * 2; end; $$ language plpgsql;\n" +
				"select twice(" + m(0) + ") as v, " + m(1) + "::text as s",
			conn:   "pg",
			params: []any{21, "a;b"},
			rows:   []map[string]any{{"v": int64(42), "s": "a;b"}},
		},
		{
			name:     "update returning and with",
			src:      "update t set n = n + 1 where id = 2 returning n; with d as (delete from t where id = 99 returning 1) select count(*) as c from d; with x as (select 1) update t set ok = false",
			conn:     "pg",
			rows:     []map[string]any{{"c": int64(0)}},
			affected: 2,
		},
		{
			name:    "error rolls back",
			src:     "insert into t (name) values ('x');\nselect nope from t",
			conn:    "pg",
			wantErr: `step.sql:2: statement 2: ERROR: column "nope" does not exist`,
		},
		{
			name: "rolled back",
			src:  "select count(*) as c from t",
			conn: "pg",
			rows: []map[string]any{{"c": int64(2)}},
		},
		{
			name:    "table dropped is still there",
			src:     "select name from t order by id",
			conn:    "pg",
			columns: []string{"name"},
			rows:    []map[string]any{{"name": injection}, {"name": "second"}},
		},
	})
}

func TestSQLCancel(t *testing.T) {
	t.Parallel()
	x := &SQL{Connections: map[string]string{"pg": pgDSN(t)}}
	t.Cleanup(func() { x.Close() })
	req, _ := setup(t, engine.KindSQL, "select pg_sleep(30)")
	req.Cell.Connection = "pg"
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() { cancel(engine.ErrCanceled) }()
	_, err := x.Execute(ctx, req)
	if !errors.Is(err, engine.ErrCanceled) {
		t.Errorf("err = %v, want the cancel cause", err)
	}
}

func TestSQLResultJSON(t *testing.T) {
	t.Parallel()
	r := engine.SQLResult{
		Columns:  []string{"z", "a", "m", "a"},
		Rows:     []map[string]any{{"z": 1, "a": "x", "m": nil, "extra": true}, {"z": 2, "a": "<y>", "m": []any{1}}},
		Affected: 3,
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"columns":["z","a","m","a"],"rows":[{"z":1,"a":"x","m":null,"extra":true},{"z":2,"a":"\u003cy\u003e","m":[1]}],"affected":3}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back engine.SQLResult
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if b2, _ := json.Marshal(&back); string(b2) != `{"columns":["z","a","m","a"],"rows":[{"z":1,"a":"x","m":null,"extra":true},{"z":2,"a":"\u003cy\u003e","m":[1]}],"affected":3}` {
		t.Errorf("pointer: %s", b2)
	}
	if b, _ := json.Marshal(engine.SQLResult{}); string(b) != `{"columns":null,"rows":null,"affected":0}` {
		t.Errorf("zero: %s", b)
	}
}
