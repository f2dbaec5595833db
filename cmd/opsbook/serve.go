package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/opsbook/opsbook/cli"
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

func (d *dbFlags) open(ctx context.Context, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, store.Config{Data: d.data, DB: d.db, Logger: log})
	if err != nil {
		where := d.data
		if d.db != "" {
			where = redact(d.db)
		}
		return nil, fmt.Errorf("open the database (%s): %w", where, err)
	}
	return st, nil
}

// redact hides a password in a database URL.
func redact(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if j := strings.Index(dsn[i+3:], "@"); j >= 0 {
			cred := dsn[i+3 : i+3+j]
			if u, _, ok := strings.Cut(cred, ":"); ok {
				return dsn[:i+3] + u + ":***" + dsn[i+3+j:]
			}
		}
	}
	return dsn
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func parse(fs *flag.FlagSet, args []string) bool {
	if err := fs.Parse(args); err != nil {
		return false
	}
	if err := cli.EnvDefaults(fs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return false
	}
	return true
}

func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "the `HOST:PORT` to listen on")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	baseURL := fs.String("base-url", "", "the `URL` people open the studio at, e.g. https://ops.example.com (share links are built on it; https makes cookies Secure)")
	proxies := fs.String("trusted-proxies", "", "`ADDRS`: comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed")
	maxConns := fs.Int("max-conns-per-addr", server.DefaultMaxConnsPerAddr, "open connections allowed per client address (`N`; 0 for no cap)")
	sandboxMode := fs.String("sandbox", "bwrap", "how cells run: bwrap (each run in a sandbox) or none (as this server's user, able to read its data)")
	runDir := fs.String("run-dir", "", "the `DIR` of the runs' working directories, outside --data (default: opsbook-runs in the system's temporary directory)")
	uid := fs.Int("sandbox-uid", sandbox.DefaultUID, "the host `UID` sandboxed cells run as when the server is root")
	workers := fs.Int("workers", 16, "runs executing at once in this process (`N`); 0: a web-only replica, whose runs `opsbook worker` processes execute (PostgreSQL)")
	grace := fs.Duration("grace", 15*time.Second, "on SIGTERM, how long running runs may go on before they are canceled")
	if !parse(fs, args) {
		return cli.ExitInvalid
	}
	if *workers < 0 {
		fmt.Fprintln(os.Stderr, "opsbook serve: --workers is a number of runs at once (0 for a web-only replica)")
		return cli.ExitInvalid
	}
	if *workers == 0 && d.db == "" {
		fmt.Fprintln(os.Stderr, "opsbook serve: --workers 0 (a web-only replica) needs PostgreSQL (--db): on the embedded SQLite database no other process can run the runs")
		return cli.ExitInvalid
	}
	hc := server.HTTPConfig{MaxConnsPerAddr: *maxConns}
	if *maxConns == 0 {
		hc.MaxConnsPerAddr = -1
	} else if *maxConns < 0 {
		fmt.Fprintln(os.Stderr, "opsbook serve: --max-conns-per-addr is a number of connections (0 for no cap)")
		return cli.ExitInvalid
	}
	var err error
	if hc.BaseURL, err = server.ParseBaseURL(*baseURL); err != nil {
		fmt.Fprintln(os.Stderr, "opsbook serve: --base-url (OPSBOOK_BASE_URL):", err)
		return cli.ExitInvalid
	}
	if hc.TrustedProxies, err = server.ParseTrustedProxies(*proxies); err != nil {
		fmt.Fprintln(os.Stderr, "opsbook serve: --trusted-proxies (OPSBOOK_TRUSTED_PROXIES):", err)
		return cli.ExitInvalid
	}
	log := newLogger(os.Stderr, *level)
	sbCfg, code := makeSandbox("serve", *sandboxMode, *uid, log)
	if code != cli.ExitOK {
		return code
	}
	// Cells a killed server started without a sandbox may still run.
	if n, err := sandbox.KillOrphans(worker.OrphansFile(d.data)); err != nil {
		log.Warn("kill the cells of an earlier server", "err", err)
	} else if n > 0 {
		log.Warn("killed cells left running by an earlier server", "groups", n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, err := d.open(ctx, log)
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
	box, err := secret.NewBoxFrom(secret.EnvSource(d.data))
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook serve:", err)
		return cli.ExitFailed
	}
	srv := server.New(server.Config{
		Store: st, Logger: log, DataDir: d.data, SecretBox: box, HTTP: hc, Sandbox: sbCfg, RunDir: *runDir,
		Workers: *workers, WebOnly: *workers == 0,
	})
	if err := srv.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "opsbook serve:", err)
		return cli.ExitFailed
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "opsbook serve: listen on %s: %v (is another server running? choose another with --addr)\n", *addr, err)
		return cli.ExitFailed
	}
	hs := srv.HTTPServer()
	url := "http://" + ln.Addr().String()
	if hc.BaseURL != nil {
		url = hc.BaseURL.String() + " (listening on " + ln.Addr().String() + ")"
	}
	n, _ := st.CountUsers(ctx)
	if n == 0 {
		fmt.Fprintf(os.Stderr, "Opsbook is ready at %s — open it to create the owner's account.\n", url)
	} else {
		fmt.Fprintf(os.Stderr, "Opsbook is ready at %s\n", url)
	}
	role := fmt.Sprintf("studio with %d workers", *workers)
	if *workers == 0 {
		role = "web-only replica (runs execute in opsbook worker processes)"
	}
	log.Info("serving", "as", role, "addr", ln.Addr().String(), "db", st.Dialect(), "worker", srv.WorkerID())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(srv.Listener(ln)) }()
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "opsbook serve:", err)
		return cli.ExitFailed
	case <-ctx.Done():
	}
	stop() // a second signal ends the process at once
	log.Info("shutting down: no new runs; running runs may finish", "grace", *grace)
	// Runs first (stop claiming, let them finish within the grace, then
	// cancel and store them), while their viewers still watch; then the
	// sockets and HTTP (Shutdown closes the sockets), then the rest.
	gctx, cancel := context.WithTimeout(context.Background(), *grace)
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
	return cli.ExitOK
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
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	if !parse(fs, args) {
		return cli.ExitInvalid
	}
	dir := fs.Arg(0)
	if dir == "" {
		dir = "status"
	}
	ctx := context.Background()
	st, err := d.open(ctx, newLogger(io.Discard, "error"))
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
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	wsSlug := fs.String("workspace", "default", "the workspace `SLUG` (created when new)")
	role := fs.String("role", store.RoleEditor, "owner, editor, runner or viewer")
	display := fs.String("display-name", "", "the name shown to others (default NAME)")
	rest, err := cli.ParseInterleaved(fs, args[1:])
	if err != nil || len(rest) != 1 {
		fmt.Fprintln(os.Stderr, "usage: opsbook user add NAME [--workspace W] [--role R] (password from standard input)")
		return cli.ExitInvalid
	}
	if err := cli.EnvDefaults(fs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return cli.ExitInvalid
	}
	name := rest[0]
	if msg := server.CheckUserName(name); msg != "" {
		fmt.Fprintln(os.Stderr, "opsbook user add:", msg)
		return cli.ExitInvalid
	}
	if !store.ValidRole(*role) {
		fmt.Fprintln(os.Stderr, "opsbook user add: --role is owner, editor, runner or viewer")
		return cli.ExitInvalid
	}
	pw, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(os.Stderr, "opsbook user add: read the password:", err)
		return cli.ExitFailed
	}
	pw = strings.TrimRight(pw, "\r\n")
	if msg := server.CheckPassword(pw); msg != "" {
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
	u, ws, err := server.AddUser(ctx, st, name, *display, pw, *wsSlug, *role)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbook user add:", err)
		return cli.ExitFailed
	}
	fmt.Printf("user %s added to workspace %s as %s\n", u.Name, ws.Slug, *role)
	if created {
		fmt.Printf("workspace %s did not exist and was created", ws.Slug)
		if *role != store.RoleOwner {
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
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	user := fs.String("user", "", "the `NAME` of the user the token acts as")
	wsSlug := fs.String("workspace", "", "the workspace `SLUG` (default: the user's only or first workspace)")
	label := fs.String("name", "cli", "a label for the token")
	life := fs.String("expires", "", "how long the token works, e.g. `720h` for 30 days (default: it never expires)")
	if !parse(fs, args[1:]) {
		return cli.ExitInvalid
	}
	if *user == "" {
		fmt.Fprintln(os.Stderr, "opsbook token create: give --user NAME")
		return cli.ExitInvalid
	}
	expires, msg := server.TokenExpiry(*life, time.Now())
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
	tok, err := server.CreateTokenExpiring(ctx, st, *user, *wsSlug, *label, "", expires)
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
