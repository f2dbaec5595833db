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

// workerCmd runs workers only: it claims runs from the queue on PostgreSQL
// and executes them, until SIGTERM drains it (no new runs; the held ones
// finish within --grace, then are canceled).
func workerCmd(args []string) int {
	fs := cli.NewFlagSet("worker", os.Stderr, "")
	var d dbFlags
	d.register(fs)
	concurrency := fs.Int("concurrency", 16, "runs executing at once (`N`)")
	var lf cli.LogFlags
	lf.Register(fs, "info")
	sandboxMode := fs.String("sandbox", "bwrap", "how cells run: bwrap (each run in a sandbox) or none")
	runDir := fs.String("run-dir", "", "the `DIR` of the runs' working directories (default: opsbook-runs in the system's temporary directory)")
	uid := fs.Int("sandbox-uid", sandbox.DefaultUID, "the host `UID` sandboxed cells run as when the worker is root")
	grace := fs.Duration("grace", 30*time.Second, "on SIGTERM, how long held runs may go on before they are canceled")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics (Prometheus) on `HOST:PORT`, e.g. 127.0.0.1:9464; loopback clients only unless OPSBOOK_METRICS_TOKEN is set")
	if _, code, ok := cli.ParseFlags(fs, args, os.Stderr); !ok {
		return code
	}
	if d.db == "" {
		fmt.Fprintln(os.Stderr, "opsbook worker: a worker needs the PostgreSQL database the studio uses (--db postgres://… or OPSBOOK_DB); with the embedded SQLite database, `opsbook serve` runs the runs itself (--workers N)")
		return cli.ExitInvalid
	}
	if *concurrency < 1 {
		fmt.Fprintln(os.Stderr, "opsbook worker: --concurrency is a number of runs at once, at least 1")
		return cli.ExitInvalid
	}
	log, err := lf.Logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook worker:", err)
		return cli.ExitInvalid
	}
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
	met := metrics.New(st, log)
	// Waiting notifications are only queued here; a serve process, which
	// knows the studio's origin, sends them.
	notifier := notify.New(notify.Config{Store: st, Logger: log})
	onWait := func(ctx context.Context, runID string) {
		if err := notifier.RunWaits(ctx, runID); err != nil {
			log.ErrorContext(ctx, "queue the waiting notifications", logattr.Run(runID), "err", err)
		}
	}
	pool := worker.New(worker.Config{Store: st, Box: box, DataDir: d.data, RunDir: *runDir, Sandbox: sbCfg, Log: log, Observe: met, OnWait: onWait})
	met.Gauge("opsbook_workers_busy", "Runs executing in this process now.", func() float64 { return float64(pool.Busy()) })
	met.Gauge("opsbook_workers", "How many runs this process executes at once at most (--concurrency).", func() float64 { return float64(*concurrency) })
	if *metricsAddr != "" {
		stopMetrics, err := serveMetrics(*metricsAddr, met, os.Getenv("OPSBOOK_METRICS_TOKEN"), log)
		if err != nil {
			fmt.Fprintln(os.Stderr, "opsbook worker:", err)
			return cli.ExitFailed
		}
		defer stopMetrics()
	}
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
	swept := make(chan struct{})
	go func() { defer close(reaped); worker.Reap(reapCtx, st, 5*time.Second, log, nil) }()
	go func() { defer close(swept); worker.SweepApprovals(reapCtx, st, 5*time.Second, nil, log) }()
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
	<-swept
	log.Info("worker stopped")
	return cli.ExitOK
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
