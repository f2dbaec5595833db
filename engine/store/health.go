package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/migrations"
)

// PingDB checks that the database answers a query: the reads' pool and, on
// PostgreSQL, the pool River and LISTEN use.
func (s *Store) PingDB(ctx context.Context) error {
	var one int
	if err := s.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("query the database: %w", err)
	}
	if s.pool != nil {
		if err := s.pool.Ping(ctx); err != nil {
			return fmt.Errorf("ping the database's pool: %w", err)
		}
	}
	return nil
}

// ReadDB is the database/sql pool reads go through: SQLDB on PostgreSQL,
// a pool of its own on SQLite (for the metrics of both pools).
func (s *Store) ReadDB() *sql.DB { return s.rdb.DB }

// SchemaVersion is the migration version the database is at (0 when none
// has run) and whether a migration stopped halfway. It reads golang-migrate's
// table directly, which is cheaper than MigrateStatus (no connection of its
// own on PostgreSQL), so a readiness probe can ask every few seconds.
func (s *Store) SchemaVersion(ctx context.Context) (version uint, dirty bool, err error) {
	var v int64
	err = s.rdb.QueryRowContext(ctx, "SELECT version, dirty FROM schema_migrations LIMIT 1").Scan(&v, &dirty)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read the schema version: %w", err)
	}
	return uint(v), dirty, nil
}

// LatestMigration is the highest migration version this binary carries for
// the store's dialect: the version SchemaVersion must report for the schema
// to be current.
func (s *Store) LatestMigration() (uint, error) {
	entries, err := fs.ReadDir(migrations.FS, s.dialect)
	if err != nil {
		return 0, fmt.Errorf("read migrations: %w", err)
	}
	var latest uint
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			continue
		}
		latest = max(latest, uint(n))
	}
	return latest, nil
}

// QueueStats is how many runs wait for a worker (status queued) and when
// the oldest of them was queued (zero when none waits).
func (s *Store) QueueStats(ctx context.Context) (queued int, oldest time.Time, err error) {
	n, err := s.rdb.NewSelect().Model((*runModel)(nil)).Where("status = ?", "queued").Count(ctx)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count queued runs: %w", err)
	}
	if n == 0 {
		return 0, time.Time{}, nil
	}
	queued = int(n)
	var row runModel
	err = s.rdb.NewSelect().Model(&row).Column("created_at").Where("status = ?", "queued").Order("created_at").Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil // claimed meanwhile
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read the oldest queued run: %w", err)
	}
	return queued, row.CreatedAt, nil
}
