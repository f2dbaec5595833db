// Package server is Opsbook's HTTP side: the studio's pages, the JSON API,
// the WebSockets and the hub that fans run events out to them.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/collab"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/metrics"
	"github.com/opsbook/opsbook/engine/notify"
	"github.com/opsbook/opsbook/engine/retention"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
)

// Config is what the server needs; cmd/opsbook fills it from flags.
type Config struct {
	Store   *store.Store
	Logger  *slog.Logger
	DataDir string
	// SecretKey seals workspace secrets (32 bytes, AES-256-GCM). When nil,
	// the key file in DataDir is used, made on first start (mode 0600).
	SecretKey []byte
	// SecretBox, when set, is used instead of SecretKey: cmd/opsbook gives
	// one that reads its keys again after `opsbook key rotate`.
	SecretBox *secret.Box
	// HTTP holds the limits of the HTTP server and what the studio is told
	// about proxies and its public address (httpserver.go, client.go).
	HTTP HTTPConfig
	// Sandbox starts each run's sandbox (engine/sandbox). Nil runs cells as
	// plain children of the server, which they can then read and signal:
	// owners are shown a warning on every page.
	Sandbox *sandbox.Config
	// RunDir holds the runs' working directories, outside DataDir so that
	// no cell is ever given a path inside it; "" means
	// os.TempDir()/opsbook-runs.
	RunDir string
	// Workers is how many runs execute at once in this process (default
	// 16). WebOnly runs none: a web-only replica, whose runs execute in
	// `opsbook worker` processes (PostgreSQL).
	Workers int
	WebOnly bool
	// Lease is how long a worker holds a run without heartbeating before
	// another process ends it "worker lost" (default 20s).
	Lease time.Duration
	// DefaultCellTimeout bounds a cell attempt with no timeout of its own
	// (default 2h); MaxCellLog the log stored per cell (default 100 MiB).
	DefaultCellTimeout time.Duration
	MaxCellLog         int64
	// QueueFetchCooldown is River's least time between fetches (default 2ms).
	QueueFetchCooldown time.Duration
	// SSEQueue is how many events a server-sent-events client may fall
	// behind before it is caught up from storage (default 4096).
	SSEQueue int
	// CredRecheck is how often an open socket's credential is checked
	// against the store, which catches a change whose notification was
	// lost (default 30s).
	CredRecheck time.Duration
	// PruneEvery is how often this process prunes what workspaces no
	// longer keep (engine/retention; one replica at a time): default
	// retention.DefaultEvery, negative never. PruneClock is the time the
	// pruner goes by, apart from Clock so that tests of other waits do
	// not see its timer; nil is the system clock.
	PruneEvery time.Duration
	PruneClock clock.Clock
	// NotifyEvery is how often this process queues and sends
	// notifications (engine/notify; one replica at a time): default
	// notify.DefaultEvery, negative never. NotifyClock is the time the
	// sender's back-off goes by; nil is the system clock.
	NotifyEvery time.Duration
	NotifyClock clock.Clock
	// Clock is the time the scheduler and the server's waits (credential
	// re-checks and expiries, a share link's expiry) go by; nil is the
	// system clock. Tests give a clock.Fake and move it.
	Clock clock.Clock
	// Metrics is this process's Prometheus registry (engine/metrics); nil
	// makes one. One per Server: New registers the server's gauges in it. MetricsToken, when set, is the bearer token /metrics
	// requires; without it /metrics answers loopback clients only.
	Metrics      *metrics.Metrics
	MetricsToken string
}

// The defaults of Config, in one place (withDefaults fills them).
const (
	defaultWorkers     = 16
	defaultLease       = 20 * time.Second
	defaultSSEQueue    = 4096
	defaultCredRecheck = 30 * time.Second
)

// withDefaults is c with every zero knob set to its default. The worker's
// own knobs (DefaultCellTimeout, MaxCellLog) default in engine/worker, and
// HTTP's in HTTPConfig.withDefaults.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Workers <= 0 {
		c.Workers = defaultWorkers
	}
	if c.Lease <= 0 {
		c.Lease = defaultLease
	}
	if c.SSEQueue <= 0 {
		c.SSEQueue = defaultSSEQueue
	}
	if c.CredRecheck <= 0 {
		c.CredRecheck = defaultCredRecheck
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	c.HTTP = c.HTTP.withDefaults()
	if c.Metrics == nil {
		c.Metrics = metrics.New(c.Store, c.Logger)
	}
	return c
}

// Server holds the handlers' dependencies.
type Server struct {
	cfg      Config // with defaults filled
	store    *store.Store
	stores   handlerStores // the handlers' small views of store (pages.go)
	log      *slog.Logger
	clock    clock.Clock
	hub      *Hub
	runs     *Runs
	upgrader websocket.Upgrader
	handler  http.Handler
	started  time.Time

	// goneFlows holds why a deleted flow's notebooks were closed (flow id
	// → reason), for the sockets that see their subscription end.
	goneFlows sync.Map

	vhooks versionHooks // told of each saved version (git sync)
	box    *secret.Box  // nil when no key could be had: secrets are refused
	limits *rateLimits  // token buckets in the database (runs per hour of form links, …)
	// sandbox is false when cells run without one (--sandbox none).
	sandbox bool
	git     *gitSync // flows in git (git.go)

	setupMu sync.Mutex // one first-owner setup at a time

	pruner       *retention.Pruner // nil when pruning is off (Config.PruneEvery)
	notifier     *notify.Notifier  // queues waiting notifications always; sends unless Config.NotifyEvery < 0
	stopSchedule func()            // ends the cron scheduler (Start starts it)
	scheduleDone chan struct{}     // closed when it has ended
	signins      *signinLimit
	http         HTTPConfig   // with defaults filled
	proxied      *addrCounter // requests in flight per client behind a trusted proxy
	socketsMu    sync.Mutex
	sockets      map[*websocket.Conn]func() // open sockets → their metric's end

	// Collaboration (collab.go): the authority over cell documents, who is
	// where, and this process's id in notifications to the others.
	collab     *collab.Authority
	presence   presenceBook
	process    string
	collabStop context.CancelFunc
	listenDone chan struct{}
	pg         bool           // PostgreSQL: other processes may share the database
	notebooks  sync.WaitGroup // notebook sockets still being served

	// Open sockets' credentials (credwatch.go), and the end of the store's
	// watch that keeps them current.
	grants        grantBook
	stopCredWatch func()
}

// New builds a server. Call Stop to end its runs.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	// Lines logged with a request's context name the request (X-Request-Id).
	cfg.Logger = slog.New(logattr.NewHandler(cfg.Logger.Handler()))
	log := cfg.Logger
	hub := NewHub()
	s := &Server{
		cfg:     cfg,
		store:   cfg.Store,
		stores:  newHandlerStores(cfg.Store),
		log:     log,
		clock:   cfg.Clock,
		hub:     hub,
		sandbox: cfg.Sandbox != nil,
		started: time.Now(),
		upgrader: websocket.Upgrader{
			ReadBufferSize:  1024,
			WriteBufferSize: 1024,
			// The default CheckOrigin refuses cross-origin upgrades.
			WriteBufferPool: &writePool,
		},
	}
	s.box, s.limits = newBox(cfg, log), newRateLimits(cfg.Store, log)
	s.runs = newRuns(cfg, hub, s.box, log)
	s.process = engine.NewID("p_")
	s.pg = cfg.Store.Pool() != nil
	s.collab = s.newAuthority()
	s.git = newGitSync(s, cfg.DataDir)
	s.OnVersionSaved(s.git.versionSaved)
	s.signins = newSigninLimit(s.limits)
	s.http = cfg.HTTP
	if s.http.MaxConnsPerAddr > 0 {
		s.proxied = newAddrCounter(s.http.MaxConnsPerAddr)
	}
	s.stopCredWatch = cfg.Store.WatchCredentials(s.onCredChange)
	if cfg.PruneEvery >= 0 {
		m := cfg.Metrics
		s.pruner = retention.New(retention.Config{Store: cfg.Store, Logger: log, Clock: cfg.PruneClock, Every: cfg.PruneEvery, Holder: s.process,
			Observe: func(r retention.Result, err error, took time.Duration) {
				m.PruneDone(r.LogEvents, r.LogsPruned, r.RunsDeleted, r.Skipped, err, took)
			}})
	}
	origin := ""
	if s.http.BaseURL != nil {
		origin = s.http.BaseURL.Scheme + "://" + s.http.BaseURL.Host
	}
	s.notifier = notify.New(notify.Config{Store: cfg.Store, Box: s.box, BaseURL: origin, Logger: log, Clock: cfg.NotifyClock, Every: cfg.NotifyEvery, Holder: s.process})
	s.runs.onWait = func(ctx context.Context, runID string) {
		if err := s.notifier.RunWaits(ctx, runID); err != nil {
			log.ErrorContext(ctx, "queue the waiting notifications", logattr.Run(runID), "err", err)
		}
	}
	s.registerMetrics()
	s.handler = s.routes()
	return s
}

// Handler is the server's whole HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Hub is the server's event hub.
func (s *Server) Hub() *Hub { return s.hub }

// Runs is the server's run manager.
func (s *Server) Runs() *Runs { return s.runs }

// StopRuns stops taking runs, lets the runs held here finish until ctx
// ends, then cancels the rest and waits for them to be stored. Call it
// before the HTTP server's Shutdown: viewers watch the runs end.
func (s *Server) StopRuns(ctx context.Context) error { return s.runs.Stop(ctx) }

// WorkerID names this process in the runs it holds ("" for a web-only
// replica).
func (s *Server) WorkerID() string {
	if s.runs.pool == nil {
		return ""
	}
	return s.runs.pool.ID()
}

// Stop cancels running runs and waits for them (bounded by ctx), and
// checkpoints the cell documents changed since their last checkpoint.
func (s *Server) Stop(ctx context.Context) error {
	s.stopCredWatch()
	if s.pruner != nil {
		s.pruner.Stop()
	}
	s.notifier.Stop()
	if s.stopSchedule != nil {
		s.stopSchedule()
		<-s.scheduleDone
		s.stopSchedule = nil
	}
	// Runs still held (StopRuns gave them their grace, if it was called)
	// are canceled now.
	now, cancel := context.WithCancel(ctx)
	cancel()
	err := s.runs.Stop(now)
	// Notebook sockets (closed by CloseSockets) leave their documents
	// checkpointed; wait for them, then for the rest.
	done := make(chan struct{})
	go func() { s.notebooks.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return errors.Join(err, s.stopCollab(ctx), s.git.stop(ctx))
}

// apiError is an error with its HTTP answer.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
	// Cell and Line place the error in the code, for the editor to mark
	// (a secret's value found in a cell); zero when it has no place.
	Cell string
	Line int
	// Extra adds fields to the error object (a skipped run's ids).
	Extra map[string]any
}

func (e *apiError) Error() string { return e.Message }

// body is the JSON answer of an error: {"error": {code, message, field}},
// with cell and line when the error has a place in the code.
func (e *apiError) body() map[string]any {
	m := map[string]any{"code": e.Code, "message": e.Message, "field": e.Field}
	if e.Line > 0 {
		m["cell"], m["line"] = e.Cell, e.Line
	}
	for k, v := range e.Extra {
		m[k] = v
	}
	return map[string]any{"error": m}
}

func errorf(status int, code, field, msg string) error {
	return &apiError{Status: status, Code: code, Message: msg, Field: field}
}

// classify maps any error to its HTTP answer; unexpected errors are logged
// and answered without detail.
func (s *Server) classify(r *http.Request, err error) *apiError {
	var ae *apiError
	var skipped *SkippedError
	var mbe *http.MaxBytesError
	var fe engine.Errors
	var one *engine.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &skipped):
		// The flow is at its concurrency limit (overlap: skip): the new
		// run is stored, ended skipped; running names the run in the way.
		return &apiError{Status: http.StatusConflict, Code: "skipped", Message: skipped.Error(),
			Extra: map[string]any{"run": skipped.Run.ID, "running": skipped.Blocking}}
	case errors.As(err, &mbe):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("the request body is larger than this accepts (%d KiB)", mbe.Limit>>10)}
	case errors.Is(err, errUnauthorized):
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "sign in, or send Authorization: Bearer TOKEN"}
	case errors.Is(err, errForbidden):
		return &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: err.Error()}
	case errors.Is(err, errNotFound), errors.Is(err, store.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "not found"}
	case errors.Is(err, store.ErrAlreadyExists):
		return &apiError{Status: http.StatusConflict, Code: "exists", Message: "it already exists; choose another name"}
	case errors.Is(err, store.ErrArchived):
		return &apiError{Status: http.StatusConflict, Code: "archived", Message: "this flow is archived, so it cannot be run; an owner can unarchive it (Archive or delete, in its notebook)"}
	case errors.Is(err, store.ErrActive):
		return &apiError{Status: http.StatusConflict, Code: "active", Message: "a run of this flow has not ended: cancel it first"}
	case errors.Is(err, store.ErrTooLarge):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "a cell source is limited to 1 MiB", Field: "source"}
	case errors.Is(err, secret.ErrKey):
		// The server's key does not open a secret: an operator's problem,
		// said as it is, so the person who pressed Run can pass it on.
		s.log.Error("secret key", "method", r.Method, "path", r.URL.Path, "err", err)
		return &apiError{Status: http.StatusInternalServerError, Code: "secret_key", Message: err.Error() + "; an owner must give the server its key back (docs/KEYS.md)"}
	case isArchiveError(err):
		return &apiError{Status: http.StatusBadRequest, Code: "bad_archive", Message: err.Error(), Field: "archive"}
	case errors.As(err, &fe), errors.As(err, &one), errors.Is(err, engine.ErrInvalid):
		msg := strings.TrimPrefix(err.Error(), engine.ErrInvalid.Error()+": ")
		field := ""
		if len(fe) > 0 {
			one = fe[0]
		}
		if one != nil && strings.HasPrefix(one.Pos.File, "input ") {
			field = "inputs." + strings.TrimPrefix(one.Pos.File, "input ")
			msg = one.Msg
		}
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: msg, Field: field}
	}
	s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "something went wrong on the server; it was logged"}
}

// api adapts a JSON handler that returns an error.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			e := s.classify(r, err)
			writeJSON(w, e.Status, e.body())
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// securityHeaders keeps pages from being framed or sniffed and limits what
// scripts may run: only our own bundle.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a handler panic into a 500 and a log line with the stack.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "handler panic", "path", r.URL.Path, "panic", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Start starts the server's run plane (its workers take runs from the
// queue; runs whose worker was lost are ended), collaboration and
// schedules.
func (s *Server) Start(ctx context.Context) error {
	if err := s.runs.start(ctx); err != nil {
		return err
	}
	s.startCollab(ctx)
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopSchedule, s.scheduleDone = cancel, make(chan struct{})
	go s.schedule(sctx)
	if s.pruner != nil {
		s.pruner.Start(ctx)
	}
	if s.cfg.NotifyEvery >= 0 {
		s.notifier.Start(ctx)
	}
	return nil
}

// trackSocket remembers hijacked WebSocket connections so that a graceful
// shutdown can close them (http.Server.Shutdown does not).
// kind names the socket in the metrics (opsbook_websocket_connections).
func (s *Server) trackSocket(c *websocket.Conn, kind string, add bool) {
	s.socketsMu.Lock()
	defer s.socketsMu.Unlock()
	if s.sockets == nil {
		s.sockets = map[*websocket.Conn]func(){}
	}
	if add {
		if _, ok := s.sockets[c]; !ok {
			s.sockets[c] = s.cfg.Metrics.SocketOpened(kind)
		}
	} else if closed, ok := s.sockets[c]; ok {
		closed()
		delete(s.sockets, c)
	}
}

// CloseSockets tells every open WebSocket the server is going away; pass it
// to http.Server.RegisterOnShutdown.
func (s *Server) CloseSockets() {
	s.socketsMu.Lock()
	defer s.socketsMu.Unlock()
	for c := range s.sockets {
		closeWS(c, websocket.CloseGoingAway, "server restarting; reconnect in a moment")
		c.Close()
	}
}
