package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	migratesqlite "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/opsbook/opsbook/migrations"
)

// Migrate moves the schema "up" or "down" by steps migrations; steps <= 0
// means all the way (down to an empty database, so a command line should ask
// for a count).
func (s *Store) Migrate(ctx context.Context, direction string, steps int) error {
	if direction != "up" && direction != "down" {
		return fmt.Errorf("migrate: direction %q: want up or down", direction)
	}
	err := s.withMigrate(ctx, func(m *migrate.Migrate) error {
		switch {
		case direction == "up" && steps <= 0:
			return m.Up()
		case direction == "down" && steps <= 0:
			return m.Down()
		case direction == "up":
			return m.Steps(steps)
		default:
			return m.Steps(-steps)
		}
	})
	if errors.Is(err, migrate.ErrNoChange) {
		return nil
	}
	var short migrate.ErrShortLimit
	if errors.As(err, &short) {
		// Fewer migrations were left than asked for: all of them ran.
		return nil
	}
	if err != nil {
		return fmt.Errorf("migrate %s: %w", direction, err)
	}
	return nil
}

// MigrateStatus is the schema's migration version (0 when none has run) and
// whether a migration failed halfway (dirty: fix the database by hand, then
// force the version). It reads golang-migrate's table itself, so that it
// changes nothing: golang-migrate would create its table in an empty
// database.
func (s *Store) MigrateStatus(ctx context.Context) (version uint, dirty bool, err error) {
	var exists bool
	if s.postgres() {
		err = s.rdb.QueryRowContext(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists)
	} else {
		err = s.rdb.QueryRowContext(ctx, "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").Scan(&exists)
	}
	if err != nil {
		return 0, false, fmt.Errorf("migration status: %w", err)
	}
	if !exists {
		return 0, false, nil
	}
	var v int64
	err = s.rdb.QueryRowContext(ctx, "SELECT version, dirty FROM schema_migrations LIMIT 1").Scan(&v, &dirty)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("migration status: %w", err)
	}
	return uint(max(v, 0)), dirty, nil
}

// KnownSchema is the last migration this binary holds for dialect
// ("sqlite" or "postgres").
func KnownSchema(dialect string) (uint, error) {
	entries, err := fs.ReadDir(migrations.FS, dialect)
	if err != nil {
		return 0, fmt.Errorf("read migrations: %w", err)
	}
	var last uint
	for _, e := range entries {
		var n uint
		if _, err := fmt.Sscanf(e.Name(), "%d_", &n); err == nil && strings.HasSuffix(e.Name(), ".up.sql") {
			last = max(last, n)
		}
	}
	return last, nil
}

// CheckSchema refuses a database that a newer binary migrated (a
// *SchemaNewerError): its tables and their meanings are not this binary's.
func (s *Store) CheckSchema(ctx context.Context) error {
	have, _, err := s.MigrateStatus(ctx)
	if err != nil {
		return err
	}
	know, err := KnownSchema(s.dialect)
	if err != nil {
		return err
	}
	if have > know {
		return &SchemaNewerError{Have: have, Know: know}
	}
	return nil
}

// withMigrate builds a golang-migrate instance over the embedded files.
//
// SQLite: migrate runs on the store's own write connection, which must stay
// open, so m.Close (which would close it) is never called; only the source
// is closed. PostgreSQL: the pgx driver holds a connection for its whole
// life, so it gets a short-lived connection of its own, closed afterwards.
func (s *Store) withMigrate(ctx context.Context, fn func(*migrate.Migrate) error) error {
	src, err := iofs.New(migrations.FS, s.dialect)
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	defer src.Close()

	var drv database.Driver
	if s.postgres() {
		cfg, err := pgxpool.ParseConfig(s.dsn)
		if err != nil {
			return fmt.Errorf("parse postgres DSN: %w", err)
		}
		sqldb := stdlib.OpenDB(*cfg.ConnConfig)
		defer sqldb.Close()
		if err := sqldb.PingContext(ctx); err != nil {
			return fmt.Errorf("connect for migrations: %w", err)
		}
		drv, err = migratepgx.WithInstance(sqldb, &migratepgx.Config{})
		if err != nil {
			return err
		}
		defer drv.Close()
	} else {
		drv, err = migratesqlite.WithInstance(s.db.DB, &migratesqlite.Config{NoTxWrap: true})
		if err != nil {
			return err
		}
	}
	m, err := migrate.NewWithInstance("iofs", src, s.dialect, drv)
	if err != nil {
		return err
	}
	m.Log = migrateLogger{s}
	// migrate takes no context: ask it to stop between migrations when ctx ends.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			select {
			case m.GracefulStop <- true:
			case <-done:
			}
		case <-done:
		}
	}()
	return fn(m)
}

type migrateLogger struct{ s *Store }

func (l migrateLogger) Printf(format string, v ...any) {
	l.s.log.Info("migrate: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (l migrateLogger) Verbose() bool { return false }
