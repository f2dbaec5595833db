package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/cli"
	"github.com/opsbook/opsbook/engine/retention"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dsn, want string
		secret    string // must not appear in what redact returns
	}{
		{"postgres://ada:hunter2@db.example:5432/ops?sslmode=disable", "postgres://ada:xxxxx@db.example:5432/ops?sslmode=disable", "hunter2"},
		// An @ in the password: everything up to the last @ is the user's.
		{"postgres://ada:p@ss@db.example/ops", "postgres://ada:xxxxx@db.example/ops", "ss@"},
		{"postgresql://ada:a@b@c@[::1]:5433/ops", "postgresql://ada:xxxxx@[::1]:5433/ops", "b@c"},
		{"postgres://ada:p%40ss%2Fw@db/ops", "postgres://ada:xxxxx@db/ops", "ss"},
		{"postgres://ada@db/ops", "postgres://ada@db/ops", ""},
		{"postgres://db/ops", "postgres://db/ops", ""},
		{"postgres://ada@db/ops?password=hunter2&sslmode=require", "postgres://ada@db/ops?password=xxxxx&sslmode=require", "hunter2"},
		{"postgres://db/ops?sslpassword=hunter2", "postgres://db/ops?sslpassword=xxxxx", "hunter2"},
		// A / in an unencoded password: not a URL any more; show no part of it.
		{"postgres://ada:zq/ss@db/ops", "postgres://(a URL that does not parse)", "zq"},
		{"postgres://ada:hunter2\x7f@db/ops", "postgres://(a URL that does not parse)", "hunter2"},
		// libpq's keyword/value form.
		{"host=db password=hunter2 user=ada", "host=db password=xxxxx user=ada", "hunter2"},
		{"host=db PASSWORD = 'hun ter2' user=ada", "host=db PASSWORD = xxxxx user=ada", "ter2"},
		{`host=db password='it\'s secret' sslpassword=zq9 dbname=ops`, "host=db password=xxxxx sslpassword=xxxxx dbname=ops", "secret"},
		{"host=db password='unterminated secret", "host=db password=xxxxx", "secret"},
		{"host=db user=ada", "host=db user=ada", ""},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			t.Parallel()
			got := redact(tt.dsn)
			if got != tt.want {
				t.Errorf("redact(%q) = %q, want %q", tt.dsn, got, tt.want)
			}
			if tt.secret != "" && strings.Contains(got, tt.secret) {
				t.Errorf("redact(%q) = %q shows %q", tt.dsn, got, tt.secret)
			}
		})
	}
}

// run calls a command's function with os.Stdout and os.Stderr going to
// files and returns its exit code and what it wrote. The commands write to
// the process's streams, so tests using it do not run in parallel.
func run(t *testing.T, cmd func([]string) int, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = out, errf
	defer func() { os.Stdout, os.Stderr = oldOut, oldErr }()
	code = cmd(args)
	read := func(f *os.File) string {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		return string(b)
	}
	return code, read(out), read(errf)
}

// noEnv clears the OPSBOOK_* variables the commands read, so a developer's
// environment does not change what the tests see.
func noEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "OPSBOOK_") && !strings.HasPrefix(name, "OPSBOOK_TEST_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// TestFlags: what each command refuses before it touches a database or a
// sandbox, from flags and from OPSBOOK_* variables, and that a flag beats
// its variable.
func TestFlags(t *testing.T) {
	data := t.TempDir()
	tests := []struct {
		name string
		cmd  func([]string) int
		args []string
		env  map[string]string
		code int
		want string // in stderr
	}{
		{"serve negative workers", serve, []string{"--workers", "-1"}, nil, cli.ExitInvalid, "--workers is a number of runs at once"},
		{"serve web-only on sqlite", serve, []string{"--workers", "0", "--data", data}, nil, cli.ExitInvalid, "needs PostgreSQL (--db)"},
		{"serve negative conns", serve, []string{"--max-conns-per-addr", "-1"}, nil, cli.ExitInvalid, "--max-conns-per-addr is a number"},
		{"serve base url with a path", serve, []string{"--base-url", "https://ops.example/studio"}, nil, cli.ExitInvalid, "--base-url (OPSBOOK_BASE_URL): \"https://ops.example/studio\": the studio is served at the root"},
		{"serve base url without a scheme", serve, []string{"--base-url", "ops.example"}, nil, cli.ExitInvalid, "give the scheme and host"},
		{"serve trusted proxies", serve, []string{"--trusted-proxies", "10.0.0.0/8, gateway"}, nil, cli.ExitInvalid, `--trusted-proxies (OPSBOOK_TRUSTED_PROXIES): "gateway" is not an address`},
		{"serve sandbox", serve, []string{"--sandbox", "docker"}, nil, cli.ExitInvalid, `--sandbox is bwrap or none, not "docker"`},
		{"serve unknown flag", serve, []string{"--port", "80"}, nil, cli.ExitInvalid, "flag provided but not defined: -port"},
		{"serve workers from the environment", serve, nil, map[string]string{"OPSBOOK_WORKERS": "-1"}, cli.ExitInvalid, "--workers is a number"},
		{"serve bad environment value", serve, nil, map[string]string{"OPSBOOK_WORKERS": "many"}, cli.ExitInvalid, "OPSBOOK_WORKERS: parse error"},
		{"serve flag beats environment", serve, []string{"--workers", "0", "--data", data}, map[string]string{"OPSBOOK_WORKERS": "-1"}, cli.ExitInvalid, "needs PostgreSQL"},
		{"serve grace", serve, []string{"--grace", "soon"}, nil, cli.ExitInvalid, `invalid value "soon" for flag -grace`},
		{"serve cert without key", serve, []string{"--tls-cert", "cert.pem"}, nil, cli.ExitInvalid, "give both --tls-cert and --tls-key"},
		{"serve key from the environment without cert", serve, nil, map[string]string{"OPSBOOK_TLS_KEY": "key.pem"}, cli.ExitInvalid, "give both --tls-cert and --tls-key"},
		{"serve missing cert files", serve, []string{"--tls-cert", data + "/none.pem", "--tls-key", data + "/none.key"}, nil, cli.ExitInvalid, "load the TLS certificate " + data + "/none.pem"},
		{"serve notify every", serve, []string{"--notify-every", "often"}, nil, cli.ExitInvalid, `invalid value "often" for flag -notify-every`},
		{"serve log format", serve, []string{"--log-format", "xml"}, nil, cli.ExitInvalid, `--log-format is text or json, not "xml"`},
		{"worker log format", workerCmd, []string{"--db", "postgres://db/ops", "--log-format", "logfmt"}, nil, cli.ExitInvalid, `opsbook worker: --log-format is text or json`},
		{"worker without postgres", workerCmd, nil, nil, cli.ExitInvalid, "a worker needs the PostgreSQL database"},
		{"worker no concurrency", workerCmd, []string{"--concurrency", "0"}, map[string]string{"OPSBOOK_DB": "postgres://db/ops"}, cli.ExitInvalid, "--concurrency is a number of runs at once, at least 1"},
		{"worker sandbox", workerCmd, []string{"--db", "postgres://db/ops", "--sandbox", "chroot"}, nil, cli.ExitInvalid, `opsbook worker: --sandbox is bwrap or none, not "chroot"`},
		{"token no subcommand", tokenCmd, nil, nil, cli.ExitInvalid, "usage: opsbook token create"},
		{"token create no user", tokenCmd, []string{"create"}, nil, cli.ExitInvalid, "give --user NAME"},
		{"token create bad expiry", tokenCmd, []string{"create", "--user", "ada", "--expires", "soon"}, nil, cli.ExitInvalid, "--expires:"},
		{"user no subcommand", userCmd, nil, nil, cli.ExitInvalid, "usage: opsbook user add NAME"},
		{"user add two names", userCmd, []string{"add", "ada", "bob"}, nil, cli.ExitInvalid, "usage: opsbook user add NAME"},
		{"user add bad role", userCmd, []string{"add", "ada", "--role", "god"}, nil, cli.ExitInvalid, "--role is owner, editor, runner or viewer"},
		{"user add bad name", userCmd, []string{"add", "a b"}, nil, cli.ExitInvalid, "opsbook user add: "},
		{"migrate sideways", migrateCmd, []string{"--data", data, "sideways"}, nil, cli.ExitInvalid, "usage: opsbook migrate up|down|status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, _, stderr := run(t, tt.cmd, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

// TestParseServe: what serve's flags turn into; 0 turns the background
// passes off (server.Config's negative), not to their default.
func TestParseServe(t *testing.T) {
	noEnv(t)
	o, _, ok := parseServe([]string{"--notify-every", "0", "--prune-every", "0"})
	if !ok || o.notifyEvery >= 0 || o.pruneEvery >= 0 {
		t.Errorf("0 gives notify %v, prune %v; want both off (negative)", o.notifyEvery, o.pruneEvery)
	}
	o, _, ok = parseServe([]string{"--notify-every", "30s"})
	if !ok || o.notifyEvery != 30*time.Second || o.pruneEvery != retention.DefaultEvery {
		t.Errorf("got notify %v, prune %v", o.notifyEvery, o.pruneEvery)
	}
	t.Setenv("OPSBOOK_NOTIFY_EVERY", "1m")
	if o, _, _ = parseServe(nil); o.notifyEvery != time.Minute {
		t.Errorf("from the environment: %v", o.notifyEvery)
	}
}

// TestMigrateCommand: migrate up, then status, on a SQLite data folder.
func TestMigrateCommand(t *testing.T) {
	noEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	version := regexp.MustCompile(`^schema version ([0-9]+) \(sqlite\)\n$`)
	code, up, stderr := run(t, migrateCmd, "--data", data, "up")
	if code != cli.ExitOK || !version.MatchString(up) {
		t.Fatalf("migrate up: exit %d, %q, %s", code, up, stderr)
	}
	code, status, stderr := run(t, migrateCmd, "--data", data)
	if code != cli.ExitOK || status != up {
		t.Fatalf("migrate status: exit %d, %q (after up: %q), %s", code, status, up, stderr)
	}
}

// TestOpenErrorRedactsPassword: a database that cannot be reached is named
// in the error without its password; a password with an unencoded @ (which
// the driver would cut there, taking the rest for the host) is refused
// before the driver sees it, and not shown either.
func TestOpenErrorRedactsPassword(t *testing.T) {
	noEnv(t)
	tests := []struct {
		dsn, want string
	}{
		{"postgres://ada:s3cr%40t@127.0.0.1:1/ops?connect_timeout=5", "open the database (postgres://ada:xxxxx@127.0.0.1:1/ops?connect_timeout=5)"},
		{"postgres://ada:s3cr@t@127.0.0.1:1/ops?connect_timeout=5", "more than one @ before the host: write an @ in the user name or password as %40"},
	}
	for _, tt := range tests {
		code, _, stderr := run(t, migrateCmd, "--db", tt.dsn, "status")
		if code != cli.ExitFailed || !strings.Contains(stderr, tt.want) {
			t.Fatalf("%s: exit %d, stderr:\n%s\nwant %q", tt.dsn, code, stderr, tt.want)
		}
		for _, part := range []string{"s3cr", "t@127", "%40t"} {
			if strings.Contains(stderr, part) {
				t.Errorf("the error shows %q of the password:\n%s", part, stderr)
			}
		}
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		level string
		debug bool
	}{{"debug", true}, {"DEBUG", true}, {"info", false}, {"warn", false}, {"loud", false}} {
		var buf bytes.Buffer
		log := newLogger(&buf, tt.level)
		log.Debug("d")
		log.Info("i")
		if got := strings.Contains(buf.String(), "msg=d"); got != tt.debug {
			t.Errorf("level %q: debug logged = %v", tt.level, got)
		}
		if info := strings.Contains(buf.String(), "msg=i"); info != (tt.level != "warn") {
			t.Errorf("level %q: info logged = %v", tt.level, info)
		}
	}
}
