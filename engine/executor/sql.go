package executor

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/opsbook/opsbook/engine"
)

// DefaultMaxRows is how many rows a sql cell returns at most.
const DefaultMaxRows = 10_000

// ScratchConnection names the per-workspace SQLite file. A cell with no
// connection uses it too.
const ScratchConnection = "scratch"

// SQL runs sql cells against the scratch SQLite file or a PostgreSQL
// connection. Each database is opened on first use and kept until Close;
// an SQL is safe for concurrent use. Use it by pointer.
type SQL struct {
	Scratch     string            // path of the scratch SQLite file
	Connections map[string]string // name → postgres:// or postgresql:// DSN
	MaxRows     int               // rows returned at most; 0 means DefaultMaxRows

	mu     sync.Mutex
	dbs    map[string]*sqlDB
	closed bool
}

type sqlDB struct {
	db      *sql.DB
	dialect dialect
}

var _ Executor = (*SQL)(nil)

// Close closes every database opened. It is safe to call twice.
func (s *SQL) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for name, d := range s.dbs {
		if err := d.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close connection %q: %w", name, err))
		}
	}
	s.dbs = nil
	return errors.Join(errs...)
}

// db returns the cached database of a connection, opening it if needed.
func (s *SQL) db(name string) (*sqlDB, error) {
	if name == "" {
		name = ScratchConnection
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("the sql executor is closed")
	}
	if d, ok := s.dbs[name]; ok {
		return d, nil
	}
	var d *sqlDB
	if name == ScratchConnection {
		if s.Scratch == "" {
			return nil, errors.New("no scratch database is configured")
		}
		if err := os.MkdirAll(filepath.Dir(s.Scratch), 0o755); err != nil {
			return nil, fmt.Errorf("create the scratch database's folder: %w", err)
		}
		// _txlock=immediate: a cell's transaction takes the write lock at
		// once, so two cells writing at the same time wait (busy_timeout)
		// instead of failing on a lock upgrade.
		dsn := "file:" + s.Scratch + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		d = &sqlDB{db: sql.OpenDB(scratchConnector{dsn: dsn}), dialect: dialectSQLite}
	} else {
		dsn, ok := s.Connections[name]
		if !ok {
			known := append([]string{ScratchConnection}, slices.Sorted(maps.Keys(s.Connections))...)
			return nil, fmt.Errorf("unknown connection %q: the known ones are %s", name, strings.Join(known, ", "))
		}
		if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
			return nil, fmt.Errorf("connection %q: only postgres:// and postgresql:// connections are supported", name)
		}
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("connection %q: %w", name, err)
		}
		if !strings.Contains(dsn, "default_query_exec_mode") {
			// Describe each statement anew: cells change schemas, and a
			// cached statement would fail once its table changed.
			cfg.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
		}
		db := stdlib.OpenDB(*cfg)
		db.SetConnMaxIdleTime(5 * time.Minute)
		d = &sqlDB{db: db, dialect: dialectPostgres}
	}
	if s.dbs == nil {
		s.dbs = map[string]*sqlDB{}
	}
	s.dbs[name] = d
	return d, nil
}

// Execute runs the cell's statements in one transaction and returns a
// *engine.SQLResult: the rows of the last statement that returned rows and
// the rows affected by the others.
func (s *SQL) Execute(ctx context.Context, req *Request) (any, error) {
	conn, file := "", ""
	if req.Cell != nil {
		conn, file = req.Cell.Connection, req.Cell.File
	}
	d, err := s.db(conn)
	if err != nil {
		return nil, err
	}
	stmts, err := splitStatements(req.Source, d.dialect)
	if err != nil {
		var pe *engine.Error
		if errors.As(err, &pe) {
			pe.Pos.File = file
		}
		return nil, err
	}
	res := &engine.SQLResult{Columns: []string{}, Rows: []map[string]any{}}
	if len(stmts) == 0 {
		logLines(req, engine.StreamStdout, "no statements")
		return res, nil
	}
	for _, st := range stmts {
		for _, p := range st.Params {
			if p >= len(req.Params) {
				return nil, fmt.Errorf("statement at line %d uses parameter %d but only %d were given", st.Line, p, len(req.Params))
			}
		}
	}
	maxRows := s.MaxRows
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}

	// On the scratch database the cell gets a connection of its own, with
	// the guard that refuses what would reach another file.
	var (
		tx    *sql.Tx
		guard *scratchGuard
	)
	if d.dialect == dialectSQLite {
		var conn *sql.Conn
		conn, guard, err = scratchConn(ctx, d.db)
		if err == nil {
			defer conn.Close()
			tx, err = conn.BeginTx(ctx, nil)
		}
	} else {
		tx, err = d.db.BeginTx(ctx, nil)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, stopError(ctx, req)
		}
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	for n, st := range stmts {
		prefix := ""
		if len(stmts) > 1 {
			prefix = "statement " + strconv.Itoa(n+1) + ": "
		}
		args := make([]any, len(st.Params))
		for i, p := range st.Params {
			args[i] = bindValue(req.Params[p])
		}
		fail := func(err error) (any, error) {
			if ctx.Err() != nil {
				return nil, stopError(ctx, req)
			}
			where := fmt.Sprintf("line %d", st.Line)
			if file != "" {
				where = fmt.Sprintf("%s:%d", file, st.Line)
			}
			return nil, fmt.Errorf("%s: statement %d: %w", where, n+1, guard.explain(err))
		}

		verb, returning := leadingVerb(st.Text)
		switch verb {
		case "INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE":
			if !returning {
				r, err := tx.ExecContext(ctx, st.Text, args...)
				if err != nil {
					return fail(err)
				}
				k, err := r.RowsAffected()
				if err != nil {
					return fail(err)
				}
				res.Affected += k
				logLines(req, engine.StreamStdout, prefix+plural(k, "row")+" affected")
				continue
			}
		}
		cols, rows, cutAt, err := query(ctx, tx, st.Text, args, d.dialect, maxRows)
		if err != nil {
			return fail(err)
		}
		if cols == nil {
			logLines(req, engine.StreamStdout, prefix+"done")
			continue
		}
		res.Columns, res.Rows = cols, rows
		msg := prefix + plural(int64(len(rows)), "row")
		if cutAt > 0 {
			msg += fmt.Sprintf(" (the result was cut at %d rows: add a LIMIT or aggregate)", cutAt)
		}
		logLines(req, engine.StreamStdout, msg)
	}
	if err := tx.Commit(); err != nil {
		if ctx.Err() != nil {
			return nil, stopError(ctx, req)
		}
		return nil, fmt.Errorf("commit: %w", err)
	}
	return res, nil
}

// query runs a statement that may return rows. cols is nil when it
// returned none; cutAt is maxRows when more rows were left unread.
func query(ctx context.Context, tx *sql.Tx, text string, args []any, d dialect, maxRows int) (cols []string, out []map[string]any, cutAt int, err error) {
	rows, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, nil, 0, err
	}
	defer rows.Close()
	cols, err = rows.Columns()
	if err != nil {
		return nil, nil, 0, err
	}
	if len(cols) == 0 {
		for rows.Next() {
		}
		return nil, nil, 0, rows.Err()
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, 0, err
	}
	typeNames := make([]string, len(types))
	for i, t := range types {
		typeNames[i] = strings.ToUpper(t.DatabaseTypeName())
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	out = []map[string]any{}
	for rows.Next() {
		if len(out) == maxRows {
			cutAt = maxRows
			break
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, 0, err
		}
		row := make(map[string]any, len(cols))
		for i, c := range cols {
			if _, dup := row[c]; dup {
				continue // the first of two columns of one name wins
			}
			row[c] = sqlValue(vals[i], typeNames[i], d)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, 0, err
	}
	return cols, out, cutAt, rows.Close()
}

// bindValue makes an expression's value something both drivers bind.
func bindValue(v any) any {
	switch v := v.(type) {
	case nil, string, bool, int64, []byte, time.Time:
		return v
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case uint:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v)
		}
		return strconv.FormatUint(v, 10)
	case float32:
		return bindValue(float64(v))
	case float64:
		// Numbers from JSON are float64 even when whole; bind those as
		// integers so they fit integer columns.
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v)
		}
		return v
	case json.Number:
		return bindValue(convertNumber(v))
	default:
		// Lists and maps are stored as JSON text.
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}

// sqlValue turns a scanned value into what a result holds.
func sqlValue(v any, typeName string, d dialect) any {
	switch v := v.(type) {
	case nil, bool, int64:
		return v
	case float64:
		return finite(v)
	case float32:
		return finite(float64(v))
	case int32:
		return int64(v)
	case int:
		return int64(v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case []byte:
		if d == dialectPostgres && (typeName == "JSON" || typeName == "JSONB") {
			if j, err := decodeJSON(v); err == nil {
				return j
			}
		}
		if utf8.Valid(v) {
			return string(v)
		}
		return base64.StdEncoding.EncodeToString(v)
	case string:
		if d == dialectPostgres {
			switch typeName {
			case "NUMERIC":
				if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
					return f
				}
			case "JSON", "JSONB":
				if j, err := decodeJSON([]byte(v)); err == nil {
					return j
				}
			}
		}
		return v
	default:
		return fmt.Sprint(v)
	}
}

// finite keeps a float JSON can encode; NaN and infinities become text.
func finite(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatInt(n, 10) + " " + word + "s"
}
