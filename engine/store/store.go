// Package store keeps Opsbook's state — users, workspaces, flows with their
// drafts and versions, runs and their event logs — in SQLite or PostgreSQL,
// through bun, and migrates the schema with golang-migrate.
//
// Rows are mapped to the plain structs of this package or to engine types;
// bun models never leave it. Not-found is ErrNotFound and a unique-key clash
// is ErrAlreadyExists, whichever the database.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go)
)

// Dialects returned by Store.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// FileName is the SQLite database file inside Config.Data.
const FileName = "opsbook.db"

// Config says which database to open.
type Config struct {
	// Data is the folder of the SQLite database, created (0700) when missing.
	// It is used when DB is empty.
	Data string
	// DB is a PostgreSQL DSN (postgres://… or postgresql://…); empty means
	// SQLite under Data.
	DB string
	// Logger receives the store's few messages (its migrations' progress,
	// warnings); nil discards them, so a caller that wants them passes one.
	Logger *slog.Logger
	// NoMigrate opens the database as it is, for `opsbook migrate status`:
	// no migration runs and nothing is created (a SQLite database that
	// does not exist is ErrNoDatabase, its folder left absent).
	NoMigrate bool
}

// Store is the database. It is safe for concurrent use.
type Store struct {
	dialect string
	// db takes every write. On SQLite it holds one connection, so writers
	// from many goroutines queue in the pool instead of failing with
	// SQLITE_BUSY; transactions begin IMMEDIATE, so a writer in another
	// process waits on busy_timeout instead of failing on lock upgrade.
	db *bun.DB
	// rdb takes reads. On SQLite it is a pool of its own (WAL lets readers
	// run beside the writer); on PostgreSQL it is db.
	rdb *bun.DB

	pool *pgxpool.Pool // PostgreSQL only

	dispatcher Dispatcher // the run queue; nil: runs wait, queued
	dsn        string     // PostgreSQL only, for migrate's own connection
	// schema is the PostgreSQL schema the store lives in when it is not
	// public: its notification channels carry it (Channel), since
	// LISTEN/NOTIFY reaches the whole database.
	schema string
	log    *slog.Logger
	now    func() time.Time

	creds credWatchers // this process's watchers of credential changes (cred.go)
}

// Open opens the database that cfg names and migrates it up.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: log, now: time.Now}
	var err error
	if cfg.DB != "" {
		err = s.openPostgres(ctx, cfg.DB)
	} else {
		err = s.openSQLite(ctx, cfg.Data, !cfg.NoMigrate)
	}
	if err != nil {
		return nil, err
	}
	if cfg.NoMigrate {
		return s, nil
	}
	// A database a newer binary migrated has tables and meanings this one
	// does not know: refuse it rather than run on it.
	if err := s.CheckSchema(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Migrate(ctx, "up", 0); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// createPrivate makes an empty database file readable by its owner only,
// unless it exists: SQLite would make it 0644 (and its -wal and -shm files
// take the database file's mode), and it holds every sealed secret and
// every run's output.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	return f.Close()
}

func (s *Store) openSQLite(ctx context.Context, dir string, create bool) error {
	if dir == "" {
		return errors.New("open database: no data folder given: set --data or OPSBOOK_DATA")
	}
	path := filepath.Join(dir, FileName)
	if !create {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", path, ErrNoDatabase)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	} else if err := createPrivate(path); err != nil {
		return err
	}
	s.dialect = DialectSQLite

	dsn := func(write bool) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(5000)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		if write {
			q.Add("_pragma", "journal_mode(WAL)")
			q.Set("_txlock", "immediate")
		} else {
			q.Add("_pragma", "query_only(1)")
		}
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}

	wdb, err := sql.Open("sqlite", dsn(true))
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	// Connect the writer first: it turns the file to WAL before readers come.
	if err := wdb.PingContext(ctx); err != nil {
		wdb.Close()
		return fmt.Errorf("open %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", dsn(false))
	if err != nil {
		wdb.Close()
		return fmt.Errorf("open %s: %w", path, err)
	}
	readers := max(4, runtime.NumCPU())
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	rdb.SetConnMaxIdleTime(5 * time.Minute)
	s.db = bun.NewDB(wdb, sqlitedialect.New())
	s.rdb = bun.NewDB(rdb, sqlitedialect.New())
	return nil
}

func (s *Store) openPostgres(ctx context.Context, dsn string) error {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return errors.New("open database: --db must be a postgres:// URL")
	}
	s.dialect = DialectPostgres
	s.dsn = dsn
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx's default (4 on a small machine) is too few: listeners
		// (collaboration, run events, cancels) and River's notifier each
		// hold one connection for good, and the workers need their own.
		pcfg.MaxConns = 32
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("open postgres: %w", err)
	}
	s.pool = pool
	s.db = bun.NewDB(stdlib.OpenDBFromPool(pool), pgdialect.New())
	s.rdb = s.db
	var schema *string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		pool.Close()
		return fmt.Errorf("open postgres: read the schema: %w", err)
	}
	if schema != nil && *schema != "public" {
		s.schema = *schema
	}
	return nil
}

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	var errs []error
	if s.rdb != nil && s.rdb != s.db {
		errs = append(errs, s.rdb.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	if s.pool != nil {
		s.pool.Close()
	}
	s.db, s.rdb, s.pool = nil, nil, nil
	return errors.Join(errs...)
}

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Pool is the pgx pool on PostgreSQL (for River and LISTEN/NOTIFY), nil on
// SQLite.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) postgres() bool { return s.dialect == DialectPostgres }

// timeNow is the current time as both databases keep it: UTC, microseconds.
func (s *Store) timeNow() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// write runs fn in a transaction on the write handle.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return s.db.RunInTx(ctx, nil, fn)
}

// snapshot runs fn in a read-only transaction that sees one state of the
// database across its queries (REPEATABLE READ on PostgreSQL, a read
// transaction of WAL on SQLite): a row and the rows that belong to it,
// read in two queries, agree even while a writer commits between them.
func (s *Store) snapshot(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.postgres() {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return s.rdb.RunInTx(ctx, opts, fn)
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a new random id: prefix, an underscore, then 26 characters
// holding 128 random bits, e.g. NewID("r") → "r_…". Prefixes in use: u
// (user), w (workspace), t (API token), f (flow), c (draft cell), r (run).
func NewID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// fromTime maps a zero time to NULL through a *time.Time.
func fromTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	return &t
}

// toTime maps NULL to the zero time.
func toTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullString maps "" to NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func fromNull(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// affected turns "no row changed" into ErrNotFound.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
