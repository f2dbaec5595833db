package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/opsbook/opsbook/cli"
	"github.com/opsbook/opsbook/engine/queue"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/worker"
)

// workerCmd runs workers only: it claims runs from the queue on PostgreSQL
// and executes them, until SIGTERM drains it (no new runs; the held ones
// finish within --grace, then are canceled).
func workerCmd(args []string) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	concurrency := fs.Int("concurrency", 16, "runs executing at once (`N`)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	sandboxMode := fs.String("sandbox", "bwrap", "how cells run: bwrap (each run in a sandbox) or none")
	runDir := fs.String("run-dir", "", "the `DIR` of the runs' working directories (default: opsbook-runs in the system's temporary directory)")
	uid := fs.Int("sandbox-uid", sandbox.DefaultUID, "the host `UID` sandboxed cells run as when the worker is root")
	grace := fs.Duration("grace", 30*time.Second, "on SIGTERM, how long held runs may go on before they are canceled")
	if !parse(fs, args) {
		return cli.ExitInvalid
	}
	if d.db == "" {
		fmt.Fprintln(os.Stderr, "opsbook worker: a worker needs the PostgreSQL database the studio uses (--db postgres://… or OPSBOOK_DB); with the embedded SQLite database, `opsbook serve` runs the runs itself (--workers N)")
		return cli.ExitInvalid
	}
	if *concurrency < 1 {
		fmt.Fprintln(os.Stderr, "opsbook worker: --concurrency is a number of runs at once, at least 1")
		return cli.ExitInvalid
	}
	log := newLogger(os.Stderr, *level)
	sbCfg, code := makeSandbox("worker", *sandboxMode, *uid, log)
	if code != cli.ExitOK {
		return code
	}
	if sbCfg == nil {
		if n, err := sandbox.KillOrphans(worker.OrphansFile(d.data)); err != nil {
			log.Warn("kill the cells of an earlier worker", "err", err)
		} else if n > 0 {
			log.Warn("killed cells left running by an earlier worker", "groups", n)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := d.open(ctx, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker:", err)
		return cli.ExitFailed
	}
	defer st.Close()
	// The key that opens workspace secrets: OPSBOOK_SECRET_KEY, the same as
	// the studio's (a key file in --data otherwise).
	var box *secret.Box
	if os.Getenv("OPSBOOK_SECRET_KEY") != "" || fileExists(filepath.Join(d.data, secret.KeyFile)) {
		if box, err = secret.NewBoxFrom(secret.EnvSource(d.data)); err != nil {
			fmt.Fprintln(os.Stderr, "opsbook worker:", err)
			return cli.ExitFailed
		}
	} else {
		log.Warn("no secret key (OPSBOOK_SECRET_KEY): runs of flows that use workspace secrets or connections fail")
	}
	if err := queue.Migrate(ctx, st.Pool()); err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker:", err)
		return cli.ExitFailed
	}
	pool := worker.New(worker.Config{Store: st, Box: box, DataDir: d.data, RunDir: *runDir, Sandbox: sbCfg, Log: log})
	q, err := queue.NewRiver(st.Pool(), st.SQLDB(), pool, queue.RiverConfig{Workers: *concurrency, Log: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker:", err)
		return cli.ExitFailed
	}
	st.SetDispatcher(q) // runs its ends move up are dispatched too
	pool.Start(ctx)
	reapCtx, stopReap := context.WithCancel(context.WithoutCancel(ctx))
	defer stopReap()
	reaped := make(chan struct{})
	go func() { defer close(reaped); worker.Reap(reapCtx, st, 5*time.Second, log, nil) }()
	if err := q.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker: start the queue:", err)
		return cli.ExitFailed
	}
	log.Info("worker ready", "id", pool.ID(), "concurrency", *concurrency, "db", redact(d.db), "sandbox", sbCfg != nil)
	<-ctx.Done()
	stop() // a second signal ends the process at once
	log.Info("draining: no new runs; held runs may finish", "grace", *grace, "held", pool.Busy())
	q.StopClaiming()
	gctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := pool.Stop(gctx); err != nil {
		log.Warn("stop runs", "err", err)
	}
	wctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := q.Wait(wctx); err != nil {
		log.Warn("stop the queue", "err", err)
	}
	stopReap()
	<-reaped
	log.Info("worker stopped")
	return cli.ExitOK
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
