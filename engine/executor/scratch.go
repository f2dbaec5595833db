package executor

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The scratch database is a file of the studio's own, so a cell on it must
// not reach any other file: ATTACH (and VACUUM INTO, which SQLite presents
// as an ATTACH of its target) would open the studio's database or write
// anywhere the server may, load_extension() would run native code, and
// some pragmas set process-wide directories or limits. An authorizer refuses
// them while a statement is compiled, before anything runs.

// scratchDriver opens the scratch connections. It is a driver of its own,
// not the registered "sqlite" one, so the policy never reaches the studio's
// own database, and every connection it opens has the policy from birth.
var scratchDriver = func() *sqlite.Driver {
	d := &sqlite.Driver{}
	d.RegisterConnectionHook(func(c sqlite.ExecQuerierContext, _ string) error {
		r, ok := c.(sqlite.AuthorizerRegisterer)
		if !ok {
			return fmt.Errorf("the sqlite driver offers no authorizer (%T)", c)
		}
		return r.RegisterAuthorizer((&scratchGuard{}).authorize)
	})
	return d
}()

// scratchConnector hands database/sql the scratch driver's connections.
type scratchConnector struct{ dsn string }

func (c scratchConnector) Connect(context.Context) (driver.Conn, error) {
	return scratchDriver.Open(c.dsn)
}

func (c scratchConnector) Driver() driver.Driver { return scratchDriver }

// safePragmas are the pragmas a cell may use on the scratch database: they
// read or set something of this database or this connection only. Any other
// (database_list, temp_store_directory, data_store_directory,
// journal_mode, locking_mode, mmap_size, writable_schema, trusted_schema,
// hard_heap_limit, …) is refused.
var safePragmas = map[string]bool{
	"analysis_limit": true, "application_id": true, "auto_vacuum": true,
	"automatic_index": true, "cache_size": true, "case_sensitive_like": true,
	"cell_size_check": true, "collation_list": true, "compile_options": true, "data_version": true,
	"defer_foreign_keys": true, "encoding": true, "foreign_key_check": true,
	"foreign_key_list": true, "foreign_keys": true, "freelist_count": true,
	"function_list": true, "ignore_check_constraints": true,
	"incremental_vacuum": true, "index_info": true, "index_list": true,
	"index_xinfo": true, "integrity_check": true, "max_page_count": true,
	"module_list": true, "optimize": true, "page_count": true, "page_size": true,
	"pragma_list": true, "quick_check": true, "recursive_triggers": true,
	"reverse_unordered_selects": true, "secure_delete": true,
	"table_info": true, "table_list": true, "table_xinfo": true,
	"temp_store": true, "user_version": true,
}

// scratchGuard applies the policy and remembers the last refusal, so the
// cell's error can say what was refused rather than SQLite's bare
// "not authorized".
type scratchGuard struct {
	why atomic.Pointer[string]
}

func (g *scratchGuard) authorize(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
	why := scratchRefusal(action, arg1, arg2)
	if why == "" {
		return sqlite.AuthorizerOK
	}
	g.why.Store(&why)
	return sqlite.AuthorizerDeny
}

// scratchRefusal says why a cell may not do an action on the scratch
// database, or "" when it may.
func scratchRefusal(action sqlite.AuthorizerActionCode, arg1, arg2 string) string {
	const other = "; use a postgres connection to reach another database"
	switch action {
	case sqlite.AuthAttach:
		return "ATTACH and VACUUM INTO are refused on the scratch database: they reach another file" + other
	case sqlite.AuthFunction:
		if strings.EqualFold(arg2, "load_extension") {
			return "load_extension() is refused on the scratch database"
		}
	case sqlite.AuthPragma:
		name := strings.ToLower(arg1)
		if !safePragmas[name] {
			return fmt.Sprintf("PRAGMA %s is refused on the scratch database: only pragmas about its own tables and settings are allowed", name)
		}
		if name == "encoding" && arg2 != "" {
			return "PRAGMA encoding can only be read on the scratch database"
		}
	case sqlite.AuthCreateVTable:
		// Virtual table modules are code outside SQL; the ones built in
		// (fts, rtree, …) reach no file, but refuse the unknown ones.
		switch strings.ToLower(arg2) {
		case "fts3", "fts4", "fts5", "rtree", "rtree_i32", "geopoly":
		default:
			return fmt.Sprintf("virtual tables using %q are refused on the scratch database", arg2)
		}
	}
	return ""
}

// scratchConn takes a connection of the scratch database for one cell,
// with the policy (again) and no attached databases allowed at all. The
// guard tells what a refused statement tried.
func scratchConn(ctx context.Context, db *sql.DB) (*sql.Conn, *scratchGuard, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	g := &scratchGuard{}
	err = conn.Raw(func(dc any) error {
		r, ok := dc.(sqlite.AuthorizerRegisterer)
		if !ok {
			return fmt.Errorf("the sqlite driver offers no authorizer (%T)", dc)
		}
		return r.RegisterAuthorizer(g.authorize)
	})
	if err == nil {
		_, err = sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_ATTACHED, 0)
	}
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("guard the scratch database: %w", err)
	}
	return conn, g, nil
}

// explain turns SQLite's "not authorized" into what was refused.
func (g *scratchGuard) explain(err error) error {
	if g == nil || err == nil {
		return err
	}
	why := g.why.Load()
	var se *sqlite.Error
	if why == nil || !errors.As(err, &se) {
		return err
	}
	// SQLite says "not authorized" at compile time and "authorization
	// denied" (SQLITE_AUTH) when a statement is prepared while another
	// runs, as fts5 does.
	if msg := se.Error(); !strings.Contains(msg, "not authorized") && se.Code() != sqlite3.SQLITE_AUTH {
		return err
	}
	return errors.New(*why)
}
