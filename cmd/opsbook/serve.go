package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opsbook/opsbook/account"
	"github.com/opsbook/opsbook/cli"
	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/notify"
	"github.com/opsbook/opsbook/engine/retention"
	"github.com/opsbook/opsbook/engine/sandbox"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/engine/worker"
	"github.com/opsbook/opsbook/server"
)

// dbFlags are the flags of every command that opens the database.
type dbFlags struct {
	data, db string
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.data, "data", "./opsbook-data", "the data `DIR` (SQLite database, scratch databases, run directories)")
	fs.StringVar(&d.db, "db", "", "a PostgreSQL `URL` (postgres://…); default: SQLite inside --data")
}

// cellFlags bound one cell of a run, in every process that executes runs
// (serve and worker): how long an attempt with no timeout: of its own may
// take, and how much of its log is kept.
type cellFlags struct {
	timeout time.Duration
	maxLog  sizeFlag
}

func (c *cellFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&c.timeout, "cell-timeout", worker.DefaultCellTimeout, "the `DURATION` an attempt of a cell that sets no timeout: may take")
	c.maxLog = worker.DefaultMaxCellLog
	fs.Var(&c.maxLog, "max-cell-log", "the `SIZE` of log kept of one cell of one run (e.g. 100MiB); past it, its first and last lines are kept")
}

// check says what is wrong with the flags' values, naming the flag.
func (c cellFlags) check() error {
	if c.timeout < time.Second {
		return fmt.Errorf("--cell-timeout %v is too short: a cell needs at least 1s", c.timeout)
	}
	if c.maxLog < 64<<10 {
		return fmt.Errorf("--max-cell-log is %d bytes, too small: keep at least 64KiB (65536 bytes) of a cell's log", int64(c.maxLog))
	}
	return nil
}

// sizeFlag is a flag of bytes written for people (engine.ParseBytes).
type sizeFlag int64

func (f *sizeFlag) String() string { return engine.FormatBytes(int64(*f)) }

func (f *sizeFlag) Set(s string) error {
	n, err := engine.ParseBytes(s)
	*f = sizeFlag(n)
	return err
}

func (d *dbFlags) open(ctx context.Context, log *slog.Logger) (*store.Store, error) {
	return d.openWith(ctx, store.Config{Logger: log})
}

// openWith opens the database the flags name with cfg's other settings.
func (d *dbFlags) openWith(ctx context.Context, cfg store.Config) (*store.Store, error) {
	// PostgreSQL's drivers end the user and password at the first @, so the
	// rest of a password with an @ would become the host, and be shown in
	// their errors: refuse it, without showing it.
	if _, rest, ok := strings.Cut(d.db, "://"); ok {
		if auth, _, _ := strings.Cut(rest, "/"); strings.Count(auth, "@") > 1 {
			return nil, errors.New("--db (OPSBOOK_DB) has more than one @ before the host: write an @ in the user name or password as %40")
		}
	}
	cfg.Data, cfg.DB = d.data, d.db
	st, err := store.Open(ctx, cfg)
	if err != nil {
		where := d.data
		if d.db != "" {
			where = redact(d.db)
		}
		return nil, fmt.Errorf("open the database (%s): %w", where, err)
	}
	return st, nil
}

// keywordPassword finds the value of any key naming a password in a
// keyword/value DSN, quoted ('…', with \' inside) or not. Compiled at
// first use: nothing is paid at start-up (BENCHMARKS.md, "Start-up").
var keywordPassword = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(\b\w*password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)`)
})

// redact hides the passwords in a database URL, for logs and errors: the
// user's (which may hold an @) and any password=… of the query, or of a
// keyword/value DSN (host=db password=…).
func redact(dsn string) string {
	if !strings.Contains(dsn, "://") {
		// libpq's keyword/value form: host=db password='a b' user=ada.
		return keywordPassword().ReplaceAllString(dsn, "${1}xxxxx")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// What does not parse may still hold a password: keep the scheme only.
		if scheme, _, ok := strings.Cut(dsn, "://"); ok {
			return scheme + "://(a URL that does not parse)"
		}
		return "(a URL that does not parse)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

func newLogger(w io.Writer, level string) *slog.Logger {
	log, _ := cli.LogFlags{Level: level}.Logger(w)
	return log
}

// serveOptions are serve's flags, checked.
type serveOptions struct {
	db                    dbFlags
	addr, runDir, sandbox string
	tlsCert, tlsKey       string
	uid, workers          int
	pruneEvery, grace     time.Duration
	notifyEvery           time.Duration
	http                  server.HTTPConfig
	log                   cli.LogFlags
	cell                  cellFlags
}

// serve runs the studio: flags, then what it needs (logger, TLS, sandbox,
// database, key), then the server until a signal, then the shutdown.
func serve(args []string) int {
	o, code, ok := parseServe(args)
	if !ok {
		return code
	}
	log, err := o.log.Logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook serve:", err)
		return cli.ExitInvalid
	}
	// Before anything starts: a certificate that does not load is said now.
	tlsCfg, err := tlsConfig(o.tlsCert, o.tlsKey, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook serve:", err)
		return cli.ExitInvalid
	}
	sbCfg, code := makeSandbox("serve", o.sandbox, o.uid, log)
	if code != cli.ExitOK {
		return code
	}
	killOrphans(o.db.data, log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, err := o.db.open(ctx, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook serve:", err)
		return cli.ExitFailed
	}
	defer st.Close()
	// Workspace secrets are sealed with this key: OPSBOOK_SECRET_KEY (base64
	// of 32 bytes; every replica must have the same), else a key file made
	// in --data at first start (mode 0600).
	// OPSBOOK_SECRET_KEY_PREVIOUS holds the key being replaced during a
	// rotation; the key file is read again after `opsbook key rotate`.
	box, err := secret.NewBoxFrom(secret.EnvSource(o.db.data))
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook serve:", err)
		return cli.ExitFailed
	}
	srv := server.New(server.Config{
		Store: st, Logger: log, DataDir: o.db.data, SecretBox: box, HTTP: o.http, Sandbox: sbCfg, RunDir: o.runDir,
		Workers: o.workers, WebOnly: o.workers == 0, PruneEvery: o.pruneEvery, NotifyEvery: o.notifyEvery,
		DefaultCellTimeout: o.cell.timeout, MaxCellLog: int64(o.cell.maxLog),
		// A variable, not a flag: flags show in ps.
		MetricsToken: os.Getenv("OPSBOOK_METRICS_TOKEN"),
	})
	if err := srv.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "opsbook serve:", err)
		return cli.ExitFailed
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "opsbook serve: listen on %s: %v (is another server running? choose another with --addr)\n", o.addr, err)
		return cli.ExitFailed
	}
	hs := srv.HTTPServer()
	scheme, sln := "http://", srv.Listener(ln)
	if tlsCfg != nil {
		scheme, sln = "https://", tls.NewListener(sln, tlsCfg)
	}
	srv.SetPublicOrigin(scheme + ln.Addr().String()) // notification links, when no --base-url
	announce(ctx, st, o, scheme, ln.Addr().String())
	log.Info("serving", "as", roleOf(o.workers), "addr", ln.Addr().String(), "https", tlsCfg != nil, "db", st.Dialect(), "worker", srv.WorkerID())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(sln) }()
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "opsbook serve:", err)
		return cli.ExitFailed
	case <-ctx.Done():
	}
	stop() // a second signal ends the process at once
	shutdown(srv, hs, o.grace, log)
	return cli.ExitOK
}

// parseServe reads and checks serve's flags; when !ok, code is the exit.
func parseServe(args []string) (o serveOptions, code int, ok bool) {
	fs := cli.NewFlagSet("serve", os.Stderr, "")
	o.db.register(fs)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "the `HOST:PORT` to listen on")
	o.log.Register(fs, "info")
	baseURL := fs.String("base-url", "", "the `URL` people open the studio at, e.g. https://ops.example.com (share links are built on it; https makes cookies Secure)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate `FILE` (PEM, the chain after the certificate; with --tls-key); read again when it changes")
	fs.StringVar(&o.tlsKey, "tls-key", "", "the private key `FILE` (PEM) of --tls-cert")
	proxies := fs.String("trusted-proxies", "", "`ADDRS`: comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed")
	maxConns := fs.Int("max-conns-per-addr", server.DefaultMaxConnsPerAddr, "open connections allowed per client address (`N`; 0 for no cap)")
	fs.StringVar(&o.sandbox, "sandbox", "bwrap", "how cells run: bwrap (each run in a sandbox) or none (as this server's user, able to read its data)")
	fs.StringVar(&o.runDir, "run-dir", "", "the `DIR` of the runs' working directories, outside --data (default: opsbook-runs in the system's temporary directory)")
	fs.IntVar(&o.uid, "sandbox-uid", sandbox.DefaultUID, "the host `UID` sandboxed cells run as when the server is root")
	fs.IntVar(&o.workers, "workers", 16, "runs executing at once in this process (`N`); 0: a web-only replica, whose runs `opsbook worker` processes execute (PostgreSQL)")
	fs.DurationVar(&o.grace, "grace", 15*time.Second, "on SIGTERM, how long running runs may go on before they are canceled")
	fs.DurationVar(&o.pruneEvery, "prune-every", retention.DefaultEvery, "how often what workspaces no longer keep (old logs, old runs) is pruned; 0 turns pruning off in this process")
	o.cell.register(fs)
	fs.DurationVar(&o.notifyEvery, "notify-every", notify.DefaultEvery, "how often this process sends the notifications queued (one process at a time sends, under a lease); 0 turns sending off in this process")
	if _, code, ok := cli.ParseFlags(fs, args, os.Stderr); !ok {
		return o, code, false
	}
	invalid := func(msg ...any) (serveOptions, int, bool) {
		fmt.Fprintln(os.Stderr, append([]any{"opsbook serve:"}, msg...)...)
		return o, cli.ExitInvalid, false
	}
	if o.pruneEvery <= 0 {
		o.pruneEvery = -1 // off: server.Config's zero is the default
	}
	if o.notifyEvery <= 0 {
		o.notifyEvery = -1
	}
	if err := o.cell.check(); err != nil {
		return invalid(err)
	}
	if o.workers < 0 {
		return invalid("--workers is a number of runs at once (0 for a web-only replica)")
	}
	if o.workers == 0 && o.db.db == "" {
		return invalid("--workers 0 (a web-only replica) needs PostgreSQL (--db): on the embedded SQLite database no other process can run the runs")
	}
	o.http = server.HTTPConfig{MaxConnsPerAddr: *maxConns}
	if *maxConns == 0 {
		o.http.MaxConnsPerAddr = -1
	} else if *maxConns < 0 {
		return invalid("--max-conns-per-addr is a number of connections (0 for no cap)")
	}
	var err error
	if o.http.BaseURL, err = server.ParseBaseURL(*baseURL); err != nil {
		return invalid("--base-url (OPSBOOK_BASE_URL):", err)
	}
	if o.http.TrustedProxies, err = server.ParseTrustedProxies(*proxies); err != nil {
		return invalid("--trusted-proxies (OPSBOOK_TRUSTED_PROXIES):", err)
	}
	return o, cli.ExitOK, true
}

// killOrphans ends the cells a killed server or worker started without a
// sandbox, which may still run.
func killOrphans(data string, log *slog.Logger) {
	if n, err := sandbox.KillOrphans(worker.OrphansFile(data)); err != nil {
		log.Warn("kill the cells of an earlier process", "err", err)
	} else if n > 0 {
		log.Warn("killed cells left running by an earlier process", "groups", n)
	}
}

// announce says where the studio is, and what to do first on a new one.
func announce(ctx context.Context, st *store.Store, o serveOptions, scheme, addr string) {
	url := scheme + addr
	if o.http.BaseURL != nil {
		url = o.http.BaseURL.String() + " (listening on " + addr + ")"
	}
	if n, _ := st.CountUsers(ctx); n == 0 {
		fmt.Fprintf(os.Stderr, "Opsbook is ready at %s — open it to create the owner's account.\n", url)
	} else {
		fmt.Fprintf(os.Stderr, "Opsbook is ready at %s\n", url)
	}
}

// roleOf names what a serve process with this many workers is.
func roleOf(workers int) string {
	if workers == 0 {
		return "web-only replica (runs execute in opsbook worker processes)"
	}
	return fmt.Sprintf("studio with %d workers", workers)
}

// shutdown stops the studio in order: runs first (stop claiming, let them
// finish within the grace, then cancel and store them) while their viewers
// still watch; then the sockets and HTTP (Shutdown closes the sockets);
// then the rest.
func shutdown(srv *server.Server, hs *http.Server, grace time.Duration, log *slog.Logger) {
	log.Info("shutting down: no new runs; running runs may finish", "grace", grace)
	gctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.StopRuns(gctx); err != nil {
		log.Warn("stop runs", "err", err)
	}
	sctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("shutdown", "err", err)
	}
	if err := srv.Stop(sctx); err != nil {
		log.Warn("stop", "err", err)
	}
	log.Info("stopped")
}

// tlsConfig is the TLS of --tls-cert and --tls-key, nil for neither.
func tlsConfig(cert, key string, log *slog.Logger) (*tls.Config, error) {
	if cert == "" && key == "" {
		return nil, nil
	}
	return server.TLSConfig(cert, key, log)
}

// makeSandbox turns --sandbox and --sandbox-uid into the sandbox of the
// runs (nil for none), or an exit code after saying what is wrong.
func makeSandbox(cmd, mode string, uid int, log *slog.Logger) (*sandbox.Config, int) {
	switch mode {
	case "bwrap":
		cfg := &sandbox.Config{UID: uid, GID: uid, Logger: log}
		if err := cfg.Check(); err != nil {
			fmt.Fprintf(os.Stderr, "opsbook %s: cells cannot run in a sandbox here: %v\n", cmd, err)
			return nil, cli.ExitFailed
		}
		log.Info("sandbox", "mode", cfg.Describe())
		return cfg, cli.ExitOK
	case "none":
		log.Warn("sandbox none: cells run as this process's user, can read its data folder and secret key, and reach its database and port; owners see a warning")
		return nil, cli.ExitOK
	}
	fmt.Fprintf(os.Stderr, "opsbook %s: --sandbox is bwrap or none, not %q\n", cmd, mode)
	return nil, cli.ExitInvalid
}

func migrateCmd(args []string) int {
	fs := cli.NewFlagSet("migrate", os.Stderr, "")
	var d dbFlags
	d.register(fs)
	pos, code, ok := cli.ParseFlags(fs, args, os.Stderr)
	if !ok {
		return code
	}
	dir := "status"
	if len(pos) > 0 {
		dir = pos[0]
	}
	ctx := context.Background()
	// status only looks: it migrates nothing and creates no database.
	st, err := d.openWith(ctx, store.Config{Logger: newLogger(io.Discard, "error"), NoMigrate: dir == "status"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook migrate:", err)
		return cli.ExitFailed
	}
	defer st.Close()
	switch dir {
	case "up", "down":
		steps := 0
		if dir == "down" {
			steps = 1
		}
		if err := st.Migrate(ctx, dir, steps); err != nil {
			fmt.Fprintln(os.Stderr, "opsbook migrate:", err)
			return cli.ExitFailed
		}
		fallthrough
	case "status":
		v, dirty, err := st.MigrateStatus(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "opsbook migrate:", err)
			return cli.ExitFailed
		}
		fmt.Printf("schema version %d%s (%s)\n", v, map[bool]string{true: ", dirty: fix by hand, then migrate again", false: ""}[dirty], st.Dialect())
		if err := st.CheckSchema(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "opsbook migrate:", err)
			return cli.ExitFailed
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: opsbook migrate up|down|status [--data DIR | --db URL]")
		return cli.ExitInvalid
	}
	return cli.ExitOK
}

func userCmd(args []string) int {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(os.Stderr, "usage: opsbook user add NAME [--workspace W] [--role R] (password from standard input)")
		return cli.ExitInvalid
	}
	fs := cli.NewFlagSet("user add", os.Stderr, "")
	var d dbFlags
	d.register(fs)
	wsSlug := fs.String("workspace", "default", "the workspace `SLUG` (created when new)")
	role := fs.String("role", string(engine.RoleEditor), "owner, editor, runner or viewer")
	display := fs.String("display-name", "", "the name shown to others (default NAME)")
	rest, code, ok := cli.ParseFlags(fs, args[1:], os.Stderr)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		fmt.Fprintln(os.Stderr, "usage: opsbook user add NAME [--workspace W] [--role R] (password from standard input)")
		return cli.ExitInvalid
	}
	name := rest[0]
	if msg := account.CheckUserName(name); msg != "" {
		fmt.Fprintln(os.Stderr, "opsbook user add:", msg)
		return cli.ExitInvalid
	}
	if !engine.Role(*role).Valid() {
		fmt.Fprintln(os.Stderr, "opsbook user add: --role is owner, editor, runner or viewer")
		return cli.ExitInvalid
	}
	pw, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(os.Stderr, "opsbook user add: read the password:", err)
		return cli.ExitFailed
	}
	pw = strings.TrimRight(pw, "\r\n")
	if msg := account.CheckPassword(pw); msg != "" {
		fmt.Fprintln(os.Stderr, "opsbook user add:", msg, "(give it on standard input)")
		return cli.ExitInvalid
	}
	ctx := context.Background()
	st, err := d.open(ctx, newLogger(io.Discard, "error"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook user add:", err)
		return cli.ExitFailed
	}
	defer st.Close()
	if *display == "" {
		*display = name
	}
	_, werr := st.WorkspaceBySlug(ctx, *wsSlug)
	created := errors.Is(werr, store.ErrNotFound)
	u, ws, err := account.AddUser(ctx, st, name, *display, pw, *wsSlug, engine.Role(*role))
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook user add:", err)
		return cli.ExitFailed
	}
	fmt.Printf("user %s added to workspace %s as %s\n", u.Name, ws.Slug, *role)
	if created {
		fmt.Printf("workspace %s did not exist and was created", ws.Slug)
		if engine.Role(*role) != engine.RoleOwner {
			fmt.Print(" (it has no owner yet: add one with --role owner)")
		}
		fmt.Println()
	}
	return cli.ExitOK
}

func tokenCmd(args []string) int {
	if len(args) > 0 && (args[0] == "list" || args[0] == "revoke") {
		return tokenManage(args) // token.go
	}
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(os.Stderr, "usage: opsbook token create --user NAME [--workspace W] [--name LABEL] [--expires DURATION]")
		return cli.ExitInvalid
	}
	fs := cli.NewFlagSet("token create", os.Stderr, "")
	var d dbFlags
	d.register(fs)
	user := fs.String("user", "", "the `NAME` of the user the token acts as")
	wsSlug := fs.String("workspace", "", "the workspace `SLUG` (default: the user's only or first workspace)")
	label := fs.String("name", "cli", "a label for the token")
	life := fs.String("expires", "", "how long the token works, e.g. `720h` for 30 days (default: it never expires)")
	if _, code, ok := cli.ParseFlags(fs, args[1:], os.Stderr); !ok {
		return code
	}
	if *user == "" {
		fmt.Fprintln(os.Stderr, "opsbook token create: give --user NAME")
		return cli.ExitInvalid
	}
	expires, msg := account.TokenExpiry(*life, time.Now())
	if msg != "" {
		fmt.Fprintln(os.Stderr, "opsbook token create: --expires:", msg)
		return cli.ExitInvalid
	}
	ctx := context.Background()
	st, err := d.open(ctx, newLogger(io.Discard, "error"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook token create:", err)
		return cli.ExitFailed
	}
	defer st.Close()
	tok, err := account.CreateTokenExpiring(ctx, st, *user, *wsSlug, *label, "", expires)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook token create:", err)
		return cli.ExitFailed
	}
	fmt.Println(tok)
	if !expires.IsZero() {
		fmt.Fprintln(os.Stderr, "the token expires at", expires.UTC().Format(time.RFC3339))
	}
	return cli.ExitOK
}
