// Package metrics is what a process of Opsbook tells Prometheus: runs and
// cells, the queue, the database pool, the Go runtime and the process, in
// a registry of its own (never the global one: tests run many servers in
// one process), served by Handler behind a token or loopback gate.
package metrics

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/engine/worker"
)

// maxFlowNames bounds the flow id → label cache; past it the cache starts
// again (a flow renamed or deleted keeps its old labels until then).
const maxFlowNames = 10000

// Metrics holds one process's registry and the metrics code updates.
type Metrics struct {
	reg   *prometheus.Registry
	st    *store.Store
	log   *slog.Logger
	runs  *prometheus.CounterVec
	runD  *prometheus.HistogramVec
	cellD *prometheus.HistogramVec
	socks *prometheus.GaugeVec

	prunes *prometheus.CounterVec
	pruned *prometheus.CounterVec
	pruneD prometheus.Histogram

	mu    sync.Mutex
	names map[string][2]string // flow id → workspace slug, flow slug
}

var _ worker.Observer = (*Metrics)(nil)

// durations are the buckets of run and cell durations, in seconds: from a
// `true` cell (a few ms) to the default cell timeout's order (hours).
var durations = []float64{0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400}

// New makes a registry with the Go runtime, process, database pool and
// queue collectors, and the run, cell and socket metrics. st may be nil
// (no database and queue collectors).
func New(st *store.Store, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		st:  st,
		log: log,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbook_runs_total",
			Help: "Runs executed by this process, by workspace, flow (slugs) and final status.",
		}, []string{"workspace", "flow", "status"}),
		runD: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "opsbook_run_duration_seconds",
			Help:    "How long runs executed by this process took, from claim to end, by final status.",
			Buckets: durations,
		}, []string{"status"}),
		cellD: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "opsbook_cell_duration_seconds",
			Help:    "How long cells took (all attempts), by kind and status.",
			Buckets: durations,
		}, []string{"kind", "status"}),
		socks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "opsbook_websocket_connections",
			Help: "Open WebSocket connections, by kind (notebook, run, share, api).",
		}, []string{"kind"}),
		prunes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbook_retention_passes_total",
			Help: "Retention passes of this process, by result (done, skipped: another process held the lease, error).",
		}, []string{"result"}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbook_retention_pruned_total",
			Help: "What retention removed, by what (log_events, runs_logs: runs whose log lines were pruned, runs: run records deleted).",
		}, []string{"what"}),
		pruneD: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "opsbook_retention_pass_duration_seconds",
			Help:    "How long a retention pass took (passes that ran).",
			Buckets: durations,
		}),
		names: map[string][2]string{},
	}
	m.reg.MustRegister(m.runs, m.runD, m.cellD, m.socks, m.prunes, m.pruned, m.pruneD,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if st != nil {
		// db_name: the pool writes go through ("sqlite", "postgres"), and
		// SQLite's pool of readers ("sqlite-read"; on PostgreSQL reads share
		// the one pool).
		m.reg.MustRegister(collectors.NewDBStatsCollector(st.SQLDB(), st.Dialect()), queueCollector{m})
		if st.ReadDB() != st.SQLDB() {
			m.reg.MustRegister(collectors.NewDBStatsCollector(st.ReadDB(), st.Dialect()+"-read"))
		}
		if st.Pool() != nil {
			m.reg.MustRegister(pgxCollector{st})
		}
	}
	return m
}

// Registry is the process's registry, for callers that add their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Gauge registers a gauge read from f at each scrape.
func (m *Metrics) Gauge(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// SocketOpened counts an open WebSocket of kind; call the function it
// returns when it closes.
func (m *Metrics) SocketOpened(kind string) (closed func()) {
	g := m.socks.WithLabelValues(kind)
	g.Inc()
	var once sync.Once
	return func() { once.Do(g.Dec) }
}

// RunEnded counts a run (worker.Observer).
func (m *Metrics) RunEnded(wsID, flowID string, status engine.RunStatus, d time.Duration) {
	ws, flow := m.flowNames(wsID, flowID)
	m.runs.WithLabelValues(ws, flow, string(status)).Inc()
	m.runD.WithLabelValues(string(status)).Observe(d.Seconds())
}

// PruneDone counts a retention pass (retention.Config.Observe): what it
// removed, and how long it took.
func (m *Metrics) PruneDone(logEvents, runsLogs, runs int, skipped bool, err error, d time.Duration) {
	switch {
	case err != nil:
		m.prunes.WithLabelValues("error").Inc()
	case skipped:
		m.prunes.WithLabelValues("skipped").Inc()
		return
	default:
		m.prunes.WithLabelValues("done").Inc()
	}
	m.pruned.WithLabelValues("log_events").Add(float64(logEvents))
	m.pruned.WithLabelValues("runs_logs").Add(float64(runsLogs))
	m.pruned.WithLabelValues("runs").Add(float64(runs))
	m.pruneD.Observe(d.Seconds())
}

// CellEnded times a cell (worker.Observer).
func (m *Metrics) CellEnded(kind engine.Kind, status string, d time.Duration) {
	if kind == "" {
		kind = "unknown"
	}
	m.cellD.WithLabelValues(string(kind), status).Observe(d.Seconds())
}

// flowNames are the slugs a run's labels use, cached; the ids when the
// store cannot tell.
func (m *Metrics) flowNames(wsID, flowID string) (string, string) {
	m.mu.Lock()
	n, ok := m.names[flowID]
	m.mu.Unlock()
	if ok {
		return n[0], n[1]
	}
	n = [2]string{wsID, flowID}
	if m.st != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if f, err := m.st.FlowByID(ctx, flowID); err == nil {
			n[1] = f.Slug
		}
		if w, err := m.st.WorkspaceByID(ctx, wsID); err == nil {
			n[0] = w.Slug
		}
	}
	m.mu.Lock()
	if len(m.names) >= maxFlowNames {
		clear(m.names)
	}
	m.names[flowID] = n
	m.mu.Unlock()
	return n[0], n[1]
}

// queueCollector reads the queue from the store at each scrape, so every
// replica reports the same queue without a goroutine of its own.
type queueCollector struct{ m *Metrics }

var (
	queueDepthDesc = prometheus.NewDesc("opsbook_queue_depth", "Runs waiting for a worker (status queued), in the whole database.", nil, nil)
	queueWaitDesc  = prometheus.NewDesc("opsbook_queue_oldest_wait_seconds", "How long the oldest queued run has waited (0 when none waits).", nil, nil)
)

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueWaitDesc
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, oldest, err := c.m.st.QueueStats(ctx)
	if err != nil {
		// An invalid metric fails the scrape's queue part only, saying why.
		ch <- prometheus.NewInvalidMetric(queueDepthDesc, err)
		return
	}
	wait := 0.0
	if !oldest.IsZero() {
		wait = max(0, time.Since(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(queueWaitDesc, prometheus.GaugeValue, wait)
}

// pgxCollector reports the PostgreSQL pool (River, LISTEN and the reads
// that use pgx directly); database/sql's pools are NewDBStatsCollector's.
type pgxCollector struct{ st *store.Store }

var (
	pgxTotalDesc    = prometheus.NewDesc("opsbook_pgx_pool_connections", "Connections of the PostgreSQL pool, by state (acquired, idle, constructing).", []string{"state"}, nil)
	pgxMaxDesc      = prometheus.NewDesc("opsbook_pgx_pool_max_connections", "The PostgreSQL pool's size limit.", nil, nil)
	pgxWaitDesc     = prometheus.NewDesc("opsbook_pgx_pool_acquire_wait_seconds_total", "Time spent waiting for a connection of the PostgreSQL pool.", nil, nil)
	pgxAcquiresDesc = prometheus.NewDesc("opsbook_pgx_pool_empty_acquires_total", "Acquires that had to wait because the PostgreSQL pool was empty.", nil, nil)
)

func (c pgxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pgxTotalDesc
	ch <- pgxMaxDesc
	ch <- pgxWaitDesc
	ch <- pgxAcquiresDesc
}

func (c pgxCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.st.Pool().Stat()
	ch <- prometheus.MustNewConstMetric(pgxTotalDesc, prometheus.GaugeValue, float64(s.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(pgxTotalDesc, prometheus.GaugeValue, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(pgxTotalDesc, prometheus.GaugeValue, float64(s.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(pgxMaxDesc, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(pgxWaitDesc, prometheus.CounterValue, s.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(pgxAcquiresDesc, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
}

// Handler serves the registry in the Prometheus text format to whoever
// may read it: with a token, only requests bearing it (compared in
// constant time); without one, only loopback clients, as addr tells them
// (the server's trusted-proxy logic: behind a proxy on the same host every
// peer is loopback). Flow names are not for everyone.
func (m *Metrics) Handler(token string, addr func(*http.Request) netip.Addr) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, ErrorLog: slogPrinter{m.log}})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Allowed(r, token, addr(r)) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if token != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				http.Error(w, "metrics need the bearer token set in OPSBOOK_METRICS_TOKEN", http.StatusUnauthorized)
				return
			}
			http.Error(w, "metrics answer loopback clients only; set OPSBOOK_METRICS_TOKEN to scrape from elsewhere", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Allowed is Handler's gate: the bearer token when one is set, else a
// loopback client address.
func Allowed(r *http.Request, token string, client netip.Addr) bool {
	if token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
	}
	return client.IsValid() && client.IsLoopback()
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("serve metrics", "err", fmt.Sprint(v...))
}
