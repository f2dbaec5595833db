package queue

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// RunArgs is the job of one run: only its id (the run row holds the rest;
// secrets are opened by the worker, never put in a job).
type RunArgs struct {
	RunID string `json:"run_id"`
}

// Kind names the job kind in River's tables.
func (RunArgs) Kind() string { return "opsbook_run" }

// InsertOpts: a job may be delivered again (a worker that died between
// River's claim and ours; River's rescuer), never a run: the worker claims
// only queued runs.
func (RunArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

type runWorker struct {
	river.WorkerDefaults[RunArgs]
	exec Executor
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	return w.exec.Execute(ctx, job.Args.RunID)
}

// Timeout: runs have their own timeouts (per cell); River's default of one
// minute would cancel every longer run.
func (w *runWorker) Timeout(*river.Job[RunArgs]) time.Duration { return -1 }

// RiverConfig tunes the River queue.
type RiverConfig struct {
	Workers int // runs at once in this process; 0: dispatch only
	// FetchCooldown is the least time between two fetches of jobs (River's
	// default is 100ms; it bounds how soon a run starts). Default 2ms.
	FetchCooldown time.Duration
	// FetchPollInterval is how often to look for jobs without a
	// notification. Default 250ms.
	FetchPollInterval time.Duration
	Log               *slog.Logger
}

// River is the queue on PostgreSQL.
type River struct {
	insert  *river.Client[*sql.Tx]
	work    *river.Client[pgx.Tx]
	pool    *pgxpool.Pool
	stopped chan struct{}
}

// Migrate brings River's own tables up to date (idempotent).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

// NewRiver returns the River queue over pool (jobs are inserted through
// db, the same database as a database/sql handle, in the run's
// transaction), executing runs with exec when cfg.Workers > 0.
func NewRiver(pool *pgxpool.Pool, db *sql.DB, exec Executor, cfg RiverConfig) (*River, error) {
	if cfg.FetchCooldown <= 0 {
		cfg.FetchCooldown = 2 * time.Millisecond
	}
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = 250 * time.Millisecond
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// River logs every start and stop at info: keep its warnings only.
	rlog := slog.New(levelHandler{min: slog.LevelWarn, Handler: log.Handler()})
	insert, err := river.NewClient(riverdatabasesql.New(db), &river.Config{
		FetchCooldown:       time.Millisecond, // also how often an insert notifies the workers
		Logger:              rlog,
		SkipUnknownJobCheck: true,
	})
	if err != nil {
		return nil, fmt.Errorf("river insert client: %w", err)
	}
	q := &River{insert: insert, pool: pool}
	if cfg.Workers > 0 {
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, &runWorker{exec: exec}); err != nil {
			return nil, err
		}
		q.work, err = river.NewClient(riverpgxv5.New(pool), &river.Config{
			Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
			Workers:              workers,
			FetchCooldown:        cfg.FetchCooldown,
			FetchPollInterval:    cfg.FetchPollInterval,
			JobTimeout:           -1,
			RescueStuckJobsAfter: time.Minute, // a redelivered job of a claimed run does nothing
			Logger:               rlog,
		})
		if err != nil {
			return nil, fmt.Errorf("river client: %w", err)
		}
	}
	return q, nil
}

// DispatchTx inserts one job per run in tx.
func (q *River) DispatchTx(ctx context.Context, tx *sql.Tx, ids []string) error {
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: RunArgs{RunID: id}}
	}
	_, err := q.insert.InsertManyTx(ctx, tx, params)
	return err
}

// Dispatched does nothing: River's workers learn of the jobs on their own.
func (q *River) Dispatched([]string) {}

// Start starts the workers, if any.
func (q *River) Start(ctx context.Context) error {
	if q.work == nil {
		return nil
	}
	return q.work.Start(context.WithoutCancel(ctx))
}

// StopClaiming stops fetching jobs; the jobs held go on.
func (q *River) StopClaiming() {
	if q.work == nil {
		return
	}
	q.stopped = make(chan struct{})
	go func() {
		defer close(q.stopped)
		if err := q.work.Stop(context.Background()); err != nil {
			q.work.StopAndCancel(context.Background())
		}
	}()
}

// Wait waits for the held jobs to end (after StopClaiming), or ctx.
func (q *River) Wait(ctx context.Context) error {
	if q.stopped == nil {
		return nil
	}
	select {
	case <-q.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Depth is how many jobs wait for a worker.
func (q *River) Depth(ctx context.Context) (int, error) {
	var n int
	err := q.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'available' AND kind = 'opsbook_run'`).Scan(&n)
	return n, err
}

type levelHandler struct {
	min slog.Level
	slog.Handler
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return levelHandler{h.min, h.Handler.WithAttrs(a)}
}

func (h levelHandler) WithGroup(n string) slog.Handler {
	return levelHandler{h.min, h.Handler.WithGroup(n)}
}
