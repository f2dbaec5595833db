package executor

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsbook/opsbook/engine"
)

// TestScratchRefusesOtherFiles plays the attack of issue 9 against a real
// studio database beside the scratch file: no statement of a cell reads it,
// writes another file or loads native code, and each says what was refused.
func TestScratchRefusesOtherFiles(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	studio := filepath.Join(data, "opsbook.db")
	sdb, err := sql.Open("sqlite", "file:"+studio)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec("create table users (name text, password_hash text); insert into users values ('ann', '$argon2id$secret-hash')"); err != nil {
		t.Fatal(err)
	}
	// The studio's own connections keep every pragma: the policy belongs
	// to the scratch driver alone.
	var seq int
	var name, file string
	if err := sdb.QueryRow("pragma database_list").Scan(&seq, &name, &file); err != nil || file != studio {
		t.Fatalf("the studio's own database_list: %v %q", err, file)
	}
	sdb.Close()

	x := &SQL{Scratch: filepath.Join(data, "scratch", "w1.db")}
	t.Cleanup(func() { x.Close() })
	copyTo := filepath.Join(data, "copy.db")
	attached := "ATTACH and VACUUM INTO are refused on the scratch database"
	runSQLCases(t, x, []sqlCase{
		{name: "attach", src: "attach database '" + studio + "' as o; select name, password_hash from o.users", wantErr: attached},
		{name: "attach uri", src: "attach 'file:" + studio + "?mode=ro' as o", wantErr: attached},
		{name: "attach expression", src: "attach database '" + data + "/' || 'opsbook.db' as o", wantErr: attached},
		{name: "attach after commit", src: "commit; attach database '" + studio + "' as o; select * from o.users", wantErr: attached},
		{name: "vacuum into", src: "commit; vacuum into '" + copyTo + "'", wantErr: attached},
		{name: "load_extension in a trigger", src: "create table a(x); create trigger tr after insert on a begin select load_extension('/nonexistent.so'); end; insert into a values (1)", wantErr: "load_extension() is refused"},
		{name: "load_extension", src: "select load_extension('/nonexistent.so')", wantErr: "load_extension() is refused on the scratch database"},
		{name: "load_extension entry", src: "select load_extension('/nonexistent.so', 'sqlite3_extension_init')", wantErr: "load_extension() is refused"},
		{name: "temp_store_directory", src: "pragma temp_store_directory = '" + data + "'", wantErr: "PRAGMA temp_store_directory is refused"},
		{name: "data_store_directory", src: "PRAGMA Data_Store_Directory = '" + data + "'", wantErr: "PRAGMA data_store_directory is refused"},
		{name: "database_list", src: "pragma database_list", wantErr: "PRAGMA database_list is refused"},
		{name: "database_list function", src: "select file from pragma_database_list", wantErr: "PRAGMA database_list is refused"},
		{name: "journal_mode", src: "pragma journal_mode = delete", wantErr: "PRAGMA journal_mode is refused"},
		{name: "writable_schema", src: "pragma writable_schema = 1", wantErr: "PRAGMA writable_schema is refused"},
		{name: "mmap_size", src: "pragma main.mmap_size = 1000000", wantErr: "PRAGMA mmap_size is refused"},
		{name: "hard_heap_limit", src: "pragma hard_heap_limit = 1", wantErr: "PRAGMA hard_heap_limit is refused"},
	})
	if _, err := os.Stat(copyTo); !os.IsNotExist(err) {
		t.Errorf("VACUUM INTO wrote %s (stat: %v)", copyTo, err)
	}
	// Nothing the refused cells did survived, and the connection that
	// refused them is as good as new.
	runSQLCases(t, x, []sqlCase{
		{name: "no table of a refused cell", src: "select count(*) as n from sqlite_master where name = 'a'", rows: []map[string]any{{"n": int64(0)}}},
	})
}

// TestScratchOrdinarySQL: the guard leaves ordinary work alone.
func TestScratchOrdinarySQL(t *testing.T) {
	t.Parallel()
	x := &SQL{Scratch: filepath.Join(t.TempDir(), "w.db")}
	t.Cleanup(func() { x.Close() })
	runSQLCases(t, x, []sqlCase{
		{
			name:     "create, index, view, trigger, insert",
			src:      "create table t (id integer primary key, name text not null);\ncreate index t_name on t(name);\ncreate view v as select name from t;\ncreate table log (n text);\ncreate trigger tl after insert on t begin insert into log values (new.name); end;\ninsert into t (name) values ('a'), ('b'), ('c');",
			affected: 3,
		},
		{
			name: "savepoints",
			src:  "savepoint s1; insert into t (name) values ('d'); rollback to s1; release s1; savepoint s2; insert into t (name) values ('e'); release s2; select name from v order by name",
			rows: []map[string]any{{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "e"}},
			// the inserts count, whatever the savepoints did with them
			affected: 2,
		},
		{name: "trigger wrote", src: "select count(*) as n from log", rows: []map[string]any{{"n": int64(4)}}},
		{
			name: "pragmas about its own tables",
			src:  "pragma foreign_keys = 1; pragma user_version = 7; select name from pragma_table_info('t') order by cid",
			rows: []map[string]any{{"name": "id"}, {"name": "name"}},
		},
		{name: "user_version", src: "pragma user_version", rows: []map[string]any{{"user_version": int64(7)}}},
		{name: "integrity", src: "pragma integrity_check", rows: []map[string]any{{"integrity_check": "ok"}}},
		{name: "temp table", src: "create temp table tt (x); insert into tt values (1), (2); select sum(x) as s from tt", rows: []map[string]any{{"s": int64(3)}}, affected: 2},
		{name: "functions", src: "select json_extract('{\"a\":[1,2]}', '$.a[1]') as j, upper('x') as u, printf('%05d', 42) as p", rows: []map[string]any{{"j": int64(2), "u": "X", "p": "00042"}}},
		{name: "fts5", src: "create virtual table doc using fts5(body); insert into doc values ('the quick fox'); select body from doc where doc match 'quick'", rows: []map[string]any{{"body": "the quick fox"}}, affected: 1},
		{name: "error still an error", src: "insert into t (name) values (null)", wantErr: "NOT NULL constraint failed"},
	})
	req, _ := setup(t, engine.KindSQL, "select 1")
	if _, err := x.Execute(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

func TestScratchRefusalMessage(t *testing.T) {
	t.Parallel()
	x := &SQL{Scratch: filepath.Join(t.TempDir(), "w.db")}
	t.Cleanup(func() { x.Close() })
	req, _ := setup(t, engine.KindSQL, "select 1;\nattach 'x.db' as x")
	_, err := x.Execute(context.Background(), req)
	want := "step.sql:2: statement 2: ATTACH and VACUUM INTO are refused on the scratch database: they reach another file; use a postgres connection to reach another database"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if strings.Contains(err.Error(), "not authorized") {
		t.Error("SQLite's bare message leaked")
	}
}
