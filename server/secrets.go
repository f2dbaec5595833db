package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"regexp"
	"strings"
	"sync"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/engine/worker"
)

// connectionPrefix names the secrets that hold a SQL connection: a secret
// CONNECTION_WAREHOUSE holding a postgres:// URL is `connection: warehouse`.
const connectionPrefix = worker.ConnectionPrefix

// maxSecretBytes bounds a secret's value.
const maxSecretBytes = 64 << 10

var secretNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`) })

// checkSecretName returns a message for people when name is not valid.
func checkSecretName(name string) string {
	if !secretNameRE().MatchString(name) {
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
	case len(value) < minSecretBytes && !worker.NotMasked(name):
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
	out, err := worker.OpenSecrets(ctx, s.store, s.box, wsID, names)
	if errors.Is(err, worker.ErrNoKey) {
		return nil, errNoBox
	}
	return out, err
}

// maskerFor masks every secret value of a workspace: pages and the API pass
// what they show through it, whatever the run was given.
func (s *Server) maskerFor(ctx context.Context, wsID string) *run.Masker {
	all, err := s.openSecrets(ctx, wsID, nil)
	if err != nil {
		if !errors.Is(err, errNoBox) {
			s.log.ErrorContext(ctx, "open secrets for masking", "err", err)
		}
		return run.NewMasker(nil)
	}
	return run.NewMasker(secretValues(all))
}

func secretValues(m map[string]string) []string { return worker.SecretValues(m) }

// withSecrets checks that the workspace has the secrets and connections
// the flow uses (the worker opens them again when it runs the flow: they
// are never stored with the run), and returns their names for the audit
// log.
func (s *Server) withSecrets(ctx context.Context, req *StartRequest) ([]string, error) {
	plan, err := run.CompileCells(req.Flow, req.Cells)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", engine.ErrInvalid, err)
	}
	sec, err := worker.ResolveSecrets(ctx, s.store, s.box, req.Workspace.ID, plan)
	if errors.Is(err, worker.ErrNoKey) {
		return nil, errNoBox
	}
	if err != nil {
		return nil, err
	}
	return sec.Used, nil
}

// startRun starts a run with the workspace's secrets and records it, and
// each secret it was given, in the audit log.
func (s *Server) startRun(ctx context.Context, r *http.Request, req StartRequest, via string) (store.Run, error) {
	used, err := s.withSecrets(ctx, &req)
	if err != nil {
		return store.Run{}, err
	}
	run, err := s.runs.Start(ctx, req)
	var skipped *SkippedError
	if err != nil && !errors.As(err, &skipped) {
		return store.Run{}, err
	}
	version := "draft"
	if req.Version > 0 {
		version = fmt.Sprintf("v%d", req.Version)
	}
	detail := strings.TrimSpace("flow " + req.FlowSlug + " " + version + " " + via)
	target := "run " + run.ID
	s.auditRun(ctx, r, req, actRunStarted, target, detail)
	if skipped != nil {
		return run, skipped // nothing ran: no secret was used
	}
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
