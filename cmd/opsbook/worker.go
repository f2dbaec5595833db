package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/notify"

	"github.com/opsbook/opsbook/cli"
	"github.com/opsbook/opsbook/engine/metrics"
	"github.com/opsbook/opsbook/engine/queue"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/worker"
)

// workerOptions are the worker's flags, checked.
type workerOptions struct {
	db               dbFlags
	concurrency, uid int
	sandbox, runDir  string
	grace            time.Duration
	metricsAddr      string
	log              cli.LogFlags
	cell             cellFlags
}

// workerCmd runs workers only: it claims runs from the queue on PostgreSQL
// and executes them, until SIGTERM drains it (no new runs; the held ones
// finish within --grace, then are canceled).
func workerCmd(args []string) int {
	o, code, ok := parseWorker(args)
	if !ok {
		return code
	}
	log, err := o.log.Logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker:", err)
		return cli.ExitInvalid
	}
	sbCfg, code := makeSandbox("worker", o.sandbox, o.uid, log)
	if code != cli.ExitOK {
		return code
	}
	if sbCfg == nil {
		killOrphans(o.db.data, log)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := o.db.open(ctx, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker:", err)
		return cli.ExitFailed
	}
	defer st.Close()
	box, err := workerBox(o.db.data, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker:", err)
		return cli.ExitFailed
	}
	if err := queue.Migrate(ctx, st.Pool()); err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker:", err)
		return cli.ExitFailed
	}
	met := metrics.New(st, log)
	// Waiting notifications are only queued here; a serve process, which
	// knows the studio's origin, sends them.
	notifier := notify.New(notify.Config{Store: st, Logger: log})
	onWait := func(ctx context.Context, runID string) {
		if err := notifier.RunWaits(ctx, runID); err != nil {
			log.ErrorContext(ctx, "queue the waiting notifications", logattr.Run(runID), "err", err)
		}
	}
	pool := worker.New(worker.Config{Store: st, Box: box, DataDir: o.db.data, RunDir: o.runDir, Sandbox: sbCfg, Log: log, Observe: met, OnWait: onWait,
		DefaultCellTimeout: o.cell.timeout, MaxCellLog: int64(o.cell.maxLog)})
	met.Gauge("opsbook_workers_busy", "Runs executing in this process now.", func() float64 { return float64(pool.Busy()) })
	met.Gauge("opsbook_workers", "How many runs this process executes at once at most (--concurrency).", func() float64 { return float64(o.concurrency) })
	if o.metricsAddr != "" {
		stopMetrics, err := serveMetrics(o.metricsAddr, met, os.Getenv("OPSBOOK_METRICS_TOKEN"), log)
		if err != nil {
			fmt.Fprintln(os.Stderr, "opsbook worker:", err)
			return cli.ExitFailed
		}
		defer stopMetrics()
	}
	q, err := queue.NewRiver(st.Pool(), st.SQLDB(), pool, queue.RiverConfig{Workers: o.concurrency, Log: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker:", err)
		return cli.ExitFailed
	}
	st.SetDispatcher(q) // runs its ends move up are dispatched too
	pool.Start(ctx)
	// The sweepers: runs whose worker died, approvals past their deadline.
	reapCtx, stopReap := context.WithCancel(context.WithoutCancel(ctx))
	var sweepers sync.WaitGroup
	sweepers.Go(func() { worker.Reap(reapCtx, st, 5*time.Second, log, nil) })
	sweepers.Go(func() { worker.SweepApprovals(reapCtx, st, 5*time.Second, nil, log) })
	defer func() { stopReap(); sweepers.Wait() }()
	if err := q.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker: start the queue:", err)
		return cli.ExitFailed
	}
	log.Info("worker ready", "id", pool.ID(), "concurrency", o.concurrency, "db", redact(o.db.db), "sandbox", sbCfg != nil)
	<-ctx.Done()
	stop() // a second signal ends the process at once
	drain(q, pool, o.grace, log)
	stopReap()
	sweepers.Wait()
	log.Info("worker stopped")
	return cli.ExitOK
}

// parseWorker reads and checks the worker's flags; when !ok, code is the
// exit.
func parseWorker(args []string) (o workerOptions, code int, ok bool) {
	fs := cli.NewFlagSet("worker", os.Stderr, "")
	o.db.register(fs)
	fs.IntVar(&o.concurrency, "concurrency", 16, "runs executing at once (`N`)")
	o.log.Register(fs, "info")
	fs.StringVar(&o.sandbox, "sandbox", "bwrap", "how cells run: bwrap (each run in a sandbox) or none")
	fs.StringVar(&o.runDir, "run-dir", "", "the `DIR` of the runs' working directories (default: opsbook-runs in the system's temporary directory)")
	fs.IntVar(&o.uid, "sandbox-uid", sandbox.DefaultUID, "the host `UID` sandboxed cells run as when the worker is root")
	fs.DurationVar(&o.grace, "grace", 30*time.Second, "on SIGTERM, how long held runs may go on before they are canceled")
	o.cell.register(fs)
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve /metrics (Prometheus) on `HOST:PORT`, e.g. 127.0.0.1:9464; loopback clients only unless OPSBOOK_METRICS_TOKEN is set")
	if _, code, ok := cli.ParseFlags(fs, args, os.Stderr); !ok {
		return o, code, false
	}
	if o.db.db == "" {
		fmt.Fprintln(os.Stderr, "opsbook worker: a worker needs the PostgreSQL database the studio uses (--db postgres://… or OPSBOOK_DB); with the embedded SQLite database, `opsbook serve` runs the runs itself (--workers N)")
		return o, cli.ExitInvalid, false
	}
	if err := o.cell.check(); err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker:", err)
		return o, cli.ExitInvalid, false
	}
	if o.concurrency < 1 {
		fmt.Fprintln(os.Stderr, "opsbook worker: --concurrency is a number of runs at once, at least 1")
		return o, cli.ExitInvalid, false
	}
	return o, cli.ExitOK, true
}

// workerBox is the key that opens workspace secrets: OPSBOOK_SECRET_KEY,
// the same as the studio's (a key file in --data otherwise); nil, with a
// warning, when there is neither.
func workerBox(data string, log *slog.Logger) (*secret.Box, error) {
	if os.Getenv("OPSBOOK_SECRET_KEY") == "" && !fileExists(filepath.Join(data, secret.KeyFile)) {
		log.Warn("no secret key (OPSBOOK_SECRET_KEY): runs of flows that use workspace secrets or connections fail")
		return nil, nil
	}
	return secret.NewBoxFrom(secret.EnvSource(data))
}

// drain stops a worker on SIGTERM: no new claims, the held runs finish
// within grace (then are canceled and stored), then the queue stops.
func drain(q *queue.River, pool *worker.Pool, grace time.Duration, log *slog.Logger) {
	log.Info("draining: no new runs; held runs may finish", "grace", grace, "held", pool.Busy())
	q.StopClaiming()
	gctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := pool.Stop(gctx); err != nil {
		log.Warn("stop runs", "err", err)
	}
	wctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := q.Wait(wctx); err != nil {
		log.Warn("stop the queue", "err", err)
	}
}

// serveMetrics serves met's /metrics on addr until the returned function is
// called. A worker has no trusted proxies: the client is the peer.
func serveMetrics(addr string, met *metrics.Metrics, token string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", met.Handler(token, func(r *http.Request) netip.Addr {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr().Unmap()
	}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve metrics", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	}, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
