package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/opsbook/opsbook/engine/store"
)

// TestNewerSchemaRefused: every command that opens the database refuses
// one a newer binary migrated (faked by raising golang-migrate's version),
// says what to do, and leaves its version as it was.
func TestNewerSchemaRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	bin := buildOpsbook(t)
	known, err := store.KnownSchema(store.DialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	future := known + 7
	want := fmt.Sprintf("this database was migrated by a newer Opsbook (schema %d, this binary knows %d): run the newer binary or restore a backup", future, known)
	env := backupEnv()
	refused := func(t *testing.T, env []string, args ...string) {
		t.Helper()
		code, out := tryOpsbook(t, bin, env, args...)
		if code == 0 || !strings.Contains(out, want) {
			t.Errorf("opsbook %s: exit %d, want the refusal %q:\n%s", strings.Join(args, " "), code, want, out)
		}
	}

	t.Run("sqlite", func(t *testing.T) {
		data := t.TempDir()
		runOpsbook(t, bin, env, "", "migrate", "up", "--data", data)
		db, err := sql.Open("sqlite", filepath.Join(data, store.FileName))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("UPDATE schema_migrations SET version = ?", future); err != nil {
			t.Fatal(err)
		}
		refused(t, env, "serve", "--data", data, "--addr", freeAddr(t), "--sandbox", "none")
		refused(t, env, "migrate", "up", "--data", data)
		refused(t, env, "migrate", "status", "--data", data)
		refused(t, env, "token", "list", "--user", "eve", "--data", data)
		var v uint
		if err := db.QueryRow("SELECT version FROM schema_migrations").Scan(&v); err != nil || v != future {
			t.Fatalf("version after the refusals: %d %v, want %d", v, err, future)
		}
	})

	t.Run("postgres", func(t *testing.T) {
		dsn, _ := freshDatabase(t, "opsbook_newer", false)
		env := processEnv(dsn)
		runOpsbook(t, bin, env, "", "migrate", "up")
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "UPDATE schema_migrations SET version = $1", future); err != nil {
			t.Fatal(err)
		}
		refused(t, env, "serve", "--data", t.TempDir(), "--addr", freeAddr(t), "--sandbox", "none")
		refused(t, env, "worker", "--data", t.TempDir(), "--sandbox", "none")
		refused(t, env, "migrate", "up")
		var v int64
		if err := conn.QueryRow(ctx, "SELECT version FROM schema_migrations").Scan(&v); err != nil || v != int64(future) {
			t.Fatalf("version after the refusals: %d %v, want %d", v, err, future)
		}
	})
}

// TestMigrateStatusCreatesNothing: `migrate status` on a data folder with
// no database says so and creates neither folder nor file; on an empty
// PostgreSQL database it says 0 and creates no table.
func TestMigrateStatusCreatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	bin := buildOpsbook(t)
	env := backupEnv()
	data := filepath.Join(t.TempDir(), "none")
	code, out := tryOpsbook(t, bin, env, "migrate", "status", "--data", data)
	if code == 0 || !strings.Contains(out, "no database here (nothing was created)") {
		t.Errorf("migrate status with no database: exit %d, %s", code, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("migrate status made %s: %v", data, err)
	}

	dsn, _ := freshDatabase(t, "opsbook_status", false)
	out = runOpsbook(t, bin, processEnv(dsn), "", "migrate", "status")
	if out != "schema version 0 (postgres)\n" {
		t.Errorf("migrate status on an empty database: %q", out)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil || n != 0 {
		t.Errorf("migrate status made %d tables (%v)", n, err)
	}
}
