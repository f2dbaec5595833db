package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/exec"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
)

// connectionPrefix names the secrets that hold a SQL connection: a secret
// CONNECTION_WAREHOUSE holding a postgres:// URL is `connection: warehouse`.
const connectionPrefix = "CONNECTION_"

// maxSecretBytes bounds a secret's value.
const maxSecretBytes = 64 << 10

var secretNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// checkSecretName returns a message for people when name is not valid.
func checkSecretName(name string) string {
	if !secretNameRE.MatchString(name) {
		return "a secret's name is letters, digits and _, starting with a letter (e.g. API_TOKEN), up to 64 characters"
	}
	if strings.HasPrefix(strings.ToUpper(name), connectionPrefix) && name != strings.ToUpper(name) {
		return "a connection's secret is named in capitals, e.g. CONNECTION_WAREHOUSE"
	}
	return ""
}

// minSecretBytes is the shortest secret value accepted.
const minSecretBytes = 6

// checkSecretValue checks a value, and that a connection's is a PostgreSQL URL.
func checkSecretValue(name, value string) string {
	switch {
	case value == "":
		return "give the secret a value"
	case len(value) < minSecretBytes && !notMasked[name]:
		// Every occurrence of a secret is masked: a two-letter value would
		// turn ordinary words (and code) into ***.
		return fmt.Sprintf("a secret needs at least %d characters, or it would be masked inside ordinary words", minSecretBytes)
	case len(value) > maxSecretBytes:
		return "a secret is at most 64 KiB"
	case strings.HasPrefix(name, connectionPrefix) && !strings.HasPrefix(value, "postgres://") && !strings.HasPrefix(value, "postgresql://"):
		return "a connection is a postgres:// URL, e.g. postgres://user:password@host:5432/db"
	}
	return ""
}

// newBox builds the secret box from the configured key or the key file in
// the data folder. Without one, secrets are refused with a message.
func newBox(cfg Config, log *slog.Logger) *secret.Box {
	if cfg.SecretBox != nil {
		return cfg.SecretBox
	}
	var box *secret.Box
	var err error
	if cfg.SecretKey != nil {
		box, err = secret.NewBox(cfg.SecretKey)
	} else {
		// The variables, or the key file read again after a rotation.
		box, err = secret.NewBoxFrom(secret.EnvSource(cfg.DataDir))
	}
	if err != nil {
		log.Error("workspace secrets are off", "err", err)
		return nil
	}
	return box
}

var errNoBox = errorf(http.StatusServiceUnavailable, "no_secret_key", "", "secrets are off on this server: it has no secret key (set OPSBOOK_SECRET_KEY or make the data folder writable)")

// openSecrets decrypts a workspace's secrets: the named ones, or all when
// names is nil.
func (s *Server) openSecrets(ctx context.Context, wsID string, names []string) (map[string]string, error) {
	sealed, err := s.store.SealedSecrets(ctx, wsID, names)
	if err != nil {
		return nil, err
	}
	if len(sealed) == 0 {
		return map[string]string{}, nil
	}
	if s.box == nil {
		return nil, errNoBox
	}
	out := make(map[string]string, len(sealed))
	for name, v := range sealed {
		clear, err := s.box.Open(v, secret.Context(wsID, name))
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", name, err)
		}
		out[name] = clear
	}
	return out, nil
}

// maskerFor masks every secret value of a workspace: pages and the API pass
// what they show through it, whatever the run was given.
func (s *Server) maskerFor(ctx context.Context, wsID string) *run.Masker {
	all, err := s.openSecrets(ctx, wsID, nil)
	if err != nil {
		if !errors.Is(err, errNoBox) {
			s.log.Error("open secrets for masking", "err", err)
		}
		return run.NewMasker(nil)
	}
	return run.NewMasker(secretValues(all))
}

// notMasked names workspace settings kept with the secrets that are not
// secret themselves: a git user name such as "bot" must not turn the word
// into *** in every run.
var notMasked = map[string]bool{"GIT_USERNAME": true}

func secretValues(m map[string]string) []string {
	out := make([]string, 0, len(m)+len(m)/2)
	for name, v := range m {
		if notMasked[name] {
			continue
		}
		out = append(out, v)
		// A connection's password also shows alone, in driver errors.
		if u, err := url.Parse(v); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && len(pw) >= 4 {
				out = append(out, pw)
			}
		}
	}
	return out
}

// withSecrets gives a run the workspace secrets its flow references, the
// connections its SQL cells name, and every other secret to mask. It
// returns the names of the secrets used, for the audit log.
func (s *Server) withSecrets(ctx context.Context, req *StartRequest) ([]string, error) {
	plan, err := run.Compile(req.Flow)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", engine.ErrInvalid, err)
	}
	all, err := s.openSecrets(ctx, req.Workspace.ID, nil)
	if err != nil {
		return nil, err
	}
	used := []string{}
	req.Secrets = map[string]string{}
	for _, name := range plan.Secrets() {
		if v, ok := all[name]; ok {
			req.Secrets[name] = v
			used = append(used, name)
		}
	}
	req.Connections = map[string]string{}
	for _, c := range req.Flow.Cells {
		if c.Kind != engine.KindSQL || c.Connection == "" || c.Connection == exec.ScratchConnection {
			continue
		}
		name := connectionPrefix + strings.ToUpper(c.Connection)
		dsn, ok := all[name]
		if !ok {
			return nil, fmt.Errorf("%w: cell %s uses connection %s; an owner can add it in Settings → Secrets as %s", engine.ErrInvalid, c.Name, c.Connection, name)
		}
		if _, seen := req.Connections[c.Connection]; !seen {
			req.Connections[c.Connection] = dsn
			used = append(used, name)
		}
	}
	req.MaskAlso = secretValues(all)
	slices.Sort(used)
	return slices.Compact(used), nil
}

// startRun starts a run with the workspace's secrets and records it, and
// each secret it was given, in the audit log.
func (s *Server) startRun(ctx context.Context, r *http.Request, req StartRequest, via string) (store.Run, error) {
	used, err := s.withSecrets(ctx, &req)
	if err != nil {
		return store.Run{}, err
	}
	run, err := s.runs.Start(ctx, req)
	if err != nil {
		return store.Run{}, err
	}
	version := "draft"
	if req.Version > 0 {
		version = fmt.Sprintf("v%d", req.Version)
	}
	detail := strings.TrimSpace("flow " + req.FlowSlug + " " + version + " " + via)
	target := "run " + run.ID
	s.auditRun(ctx, r, req, actRunStarted, target, detail)
	for _, name := range used {
		s.auditRun(ctx, r, req, actSecretUsed, "secret "+name, target)
	}
	return run, nil
}

// auditRun records a run's action by whoever started it: a user, or the
// form link (via) an anonymous visitor used.
func (s *Server) auditRun(ctx context.Context, r *http.Request, req StartRequest, action, target, detail string) {
	if req.StartedBy.ID != "" {
		e := store.AuditEntry{WorkspaceID: req.Workspace.ID, ActorID: req.StartedBy.ID, ActorName: req.StartedBy.Name, Action: action, Target: target, Detail: detail}
		if p := principalFrom(r.Context()); p != nil && p.Token != nil {
			e.Detail += " (API token " + p.Token.Name + ")"
		}
		s.auditEntry(ctx, r, e)
		return
	}
	who := "anonymous"
	if r == nil {
		who = "schedule" // a cron trigger
	}
	s.auditEntry(ctx, r, store.AuditEntry{WorkspaceID: req.Workspace.ID, ActorName: who, Action: action, Target: target, Detail: detail})
}
