// Package retention prunes what each workspace no longer keeps: the log
// lines of runs older than its "keep logs" days, and the records of runs
// older than its "keep runs" days. One process at a time does it, under a
// lease in the database, in short batches that never hold up the studio.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/lease"
	"github.com/opsbook/opsbook/engine/store"
)

// The defaults of Config.
const (
	DefaultEvery = time.Hour
	DefaultFirst = time.Minute
	DefaultYield = 5 * time.Millisecond
	// LeaseName is the lease a pass holds, so that of several replicas
	// only one prunes at a time.
	LeaseName = "retention"
	leaseTTL  = 2 * time.Minute
	// runsPerQuery bounds the runs one query lists; a pass goes on until
	// none is left.
	runsPerQuery = 100
)

// Store is what the pruner needs of engine/store.
type Store interface {
	Retentions(ctx context.Context) ([]store.Retention, error)
	RunsWithLogsBefore(ctx context.Context, wsID string, t time.Time, limit int) ([]string, error)
	RunsBefore(ctx context.Context, wsID string, t time.Time, limit int) ([]string, error)
	PruneRunLogs(ctx context.Context, runID string, at time.Time, pause store.Pause) (int, error)
	DeleteRun(ctx context.Context, runID string, pause store.Pause) error
	lease.Store
}

var _ Store = (*store.Store)(nil)

// Config is what a Pruner needs.
type Config struct {
	Store  Store
	Logger *slog.Logger
	// Clock says when a pass is due and how old a run is; nil is the
	// system clock.
	Clock clock.Clock
	// Every is the time between two passes (default DefaultEvery); First
	// the time from Start to the first (default DefaultFirst).
	Every, First time.Duration
	// Yield is the pause between two batches of deletes, in real time, so
	// that the studio's own writes go first (default DefaultYield; a
	// negative value pauses only to let other goroutines run).
	Yield time.Duration
	// Holder names this process in the lease; "" makes one up.
	Holder string
	// Observe, when set, is told what each background pass did and how
	// long it took (the metrics).
	Observe func(res Result, err error, took time.Duration)
}

// Result is what one pass did.
type Result struct {
	LogsPruned  int // runs whose log lines were pruned
	LogEvents   int // log events deleted
	RunsDeleted int // run records deleted
	Skipped     bool
}

// Pruner runs a pass every Config.Every until stopped.
type Pruner struct {
	cfg  Config
	loop lease.Loop
}

// New makes a pruner; Start starts it.
func New(cfg Config) *Pruner {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.First <= 0 {
		cfg.First = DefaultFirst
	}
	if cfg.Yield == 0 {
		cfg.Yield = DefaultYield
	}
	if cfg.Holder == "" {
		cfg.Holder = engine.NewID("prune")
	}
	return &Pruner{cfg: cfg}
}

// Start runs passes in the background until Stop or ctx's end. Starting
// a started pruner does nothing.
func (p *Pruner) Start(ctx context.Context) {
	p.loop.Start(ctx, p.cfg.Clock, p.cfg.First, p.cfg.Every, p.background)
}

// Stop ends the background passes, a pass under way at its next batch,
// and waits for it. Safe to call twice, and on a pruner never started.
func (p *Pruner) Stop() { p.loop.Stop() }

// background is one pass of the loop: logged and observed.
func (p *Pruner) background(ctx context.Context) {
	began := time.Now()
	res, err := p.Pass(ctx)
	if p.cfg.Observe != nil && ctx.Err() == nil {
		p.cfg.Observe(res, err, time.Since(began))
	}
	switch {
	case ctx.Err() != nil:
	case err != nil:
		p.cfg.Logger.Error("retention: prune", "err", err)
	case res.LogsPruned+res.RunsDeleted > 0:
		p.cfg.Logger.Info("retention: pruned", "logs_of_runs", res.LogsPruned, "log_events", res.LogEvents, "runs", res.RunsDeleted)
	}
}

// Pass prunes every workspace once, when no other process holds the
// lease (then Result.Skipped).
func (p *Pruner) Pass(ctx context.Context) (Result, error) {
	var res Result
	l := &lease.Lease{Store: p.cfg.Store, Name: LeaseName, Holder: p.cfg.Holder, TTL: leaseTTL, Clock: p.cfg.Clock}
	got, err := l.Take(ctx)
	if err != nil {
		return res, err
	}
	if !got {
		res.Skipped = true
		return res, nil
	}
	defer func() {
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			p.cfg.Logger.Warn("retention: give the lease up", "err", err)
		}
	}()
	pause := func(ctx context.Context) error {
		if p.cfg.Yield > 0 {
			t := time.NewTimer(p.cfg.Yield)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		} else {
			runtime.Gosched()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.Keep(ctx); err != nil {
			return err
		}
		return nil
	}
	all, err := p.cfg.Store.Retentions(ctx)
	if err != nil {
		return res, err
	}
	var errs []error
	for _, g := range all {
		if err := p.workspace(ctx, g, pause, &res); err != nil {
			if ctx.Err() != nil || errors.Is(err, store.ErrLeaseLost) {
				return res, err
			}
			errs = append(errs, fmt.Errorf("workspace %s: %w", g.WorkspaceID, err))
		}
	}
	return res, errors.Join(errs...)
}

// workspace prunes one workspace: run records first (their logs go with
// them), then the logs of the runs left.
func (p *Pruner) workspace(ctx context.Context, g store.Retention, pause store.Pause, res *Result) error {
	now := p.cfg.Clock.Now().UTC()
	if g.KeepRunsDays > 0 {
		before := now.AddDate(0, 0, -g.KeepRunsDays)
		for {
			ids, err := p.cfg.Store.RunsBefore(ctx, g.WorkspaceID, before, runsPerQuery)
			if err != nil {
				return err
			}
			done := 0
			for _, id := range ids {
				err := p.cfg.Store.DeleteRun(ctx, id, pause)
				if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
					continue // gone, or not finished after all: not ours to delete
				}
				if err != nil {
					return err
				}
				done++
			}
			res.RunsDeleted += done
			if len(ids) < runsPerQuery || done == 0 {
				break
			}
		}
	}
	if g.KeepLogsDays > 0 {
		before := now.AddDate(0, 0, -g.KeepLogsDays)
		for {
			ids, err := p.cfg.Store.RunsWithLogsBefore(ctx, g.WorkspaceID, before, runsPerQuery)
			if err != nil {
				return err
			}
			done := 0
			for _, id := range ids {
				n, err := p.cfg.Store.PruneRunLogs(ctx, id, now, pause)
				res.LogEvents += n
				if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
					continue
				}
				if err != nil {
					return err
				}
				done++
			}
			res.LogsPruned += done
			if len(ids) < runsPerQuery || done == 0 {
				break
			}
		}
	}
	return nil
}
