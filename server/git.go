package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opsbook/opsbook/engine/gitsync"
	"github.com/opsbook/opsbook/engine/store"
	"github.com/opsbook/opsbook/views"
)

// The workspace secrets that hold git credentials (docs/GIT.md).
const (
	secretGitUsername   = "GIT_USERNAME"       // with GIT_TOKEN where the host wants a name (GitLab: oauth2)
	secretGitToken      = "GIT_TOKEN"          // an HTTPS access token
	secretGitSSHKey     = "GIT_SSH_KEY"        // an SSH private key (a deploy key with write access)
	secretGitPassphrase = "GIT_SSH_PASSPHRASE" // the SSH key's passphrase
	secretGitKnownHosts = "GIT_KNOWN_HOSTS"    // the SSH server's host key lines (ssh-keyscan HOST)
)

var gitSecretNames = []string{secretGitUsername, secretGitToken, secretGitSSHKey, secretGitPassphrase, secretGitKnownHosts}

// Audit actions of git sync.
const (
	actGitConfigured = "git.configured"
	actGitPulled     = "git.pulled"
	actGitResolved   = "git.resolved"
)

// fetchEvery bounds how often page views fetch a workspace's remote.
const fetchEvery = time.Minute

var errGitOff = errorf(http.StatusConflict, "git_off", "", "this workspace keeps no flows in git; an owner can set a remote in Settings → Git")

// gitSync keeps one *gitsync.Syncer per workspace and runs what would make
// a request wait on a remote (a push after each saved version, an open, a
// fetch) in goroutines it owns: one queue per workspace, in order, stopped
// by stop. Everything that reads a status and then acts on it (a commit,
// a pull, a resolution, new settings) holds the workspace's op lock.
type gitSync struct {
	s       *Server
	dataDir string
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu sync.Mutex
	ws map[string]*gitWorkspace
}

type gitWorkspace struct {
	op sync.Mutex // one sync operation at a time

	// Guarded by gitSync.mu.
	syncer    *gitsync.Syncer
	key       string // the configuration syncer was opened with
	jobs      []func(context.Context)
	running   bool
	fetchedAt time.Time
}

func newGitSync(s *Server, dataDir string) *gitSync {
	ctx, cancel := context.WithCancel(context.Background())
	return &gitSync{s: s, dataDir: dataDir, ctx: ctx, cancel: cancel, ws: map[string]*gitWorkspace{}}
}

func (g *gitSync) workspace(wsID string) *gitWorkspace {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.ws[wsID]
	if w == nil {
		w = &gitWorkspace{}
		g.ws[wsID] = w
	}
	return w
}

// enqueue runs job after the workspace's earlier jobs, in a goroutine
// owned by g. Jobs left when g stops are dropped: their versions show as
// "changed here" until the next save.
func (g *gitSync) enqueue(wsID string, job func(context.Context)) {
	w := g.workspace(wsID)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx.Err() != nil {
		return
	}
	w.jobs = append(w.jobs, job)
	if w.running {
		return
	}
	w.running = true
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			g.mu.Lock()
			if len(w.jobs) == 0 || g.ctx.Err() != nil {
				w.jobs, w.running = nil, false
				g.mu.Unlock()
				return
			}
			job := w.jobs[0]
			w.jobs = w.jobs[1:]
			g.mu.Unlock()
			g.runJob(job)
		}
	}()
}

// runJob runs one job; a panic is logged, never the end of the server.
func (g *gitSync) runJob(job func(context.Context)) {
	defer func() {
		if v := recover(); v != nil {
			g.s.log.Error("git sync job panicked", "panic", v)
		}
	}()
	job(g.ctx)
}

// stop cancels the jobs and waits for them, bounded by ctx. Safe to call
// twice.
func (g *gitSync) stop(ctx context.Context) error {
	g.cancel()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop git sync: %w", context.Cause(ctx))
	}
}

// config builds a workspace's gitsync configuration from its settings and
// secrets; errGitOff when it has no settings.
func (g *gitSync) config(ctx context.Context, wsID string) (gitsync.Config, error) {
	st, err := g.s.store.GitSettings(ctx, wsID)
	if errors.Is(err, store.ErrNotFound) {
		return gitsync.Config{}, errGitOff
	}
	if err != nil {
		return gitsync.Config{}, err
	}
	return g.configOf(ctx, wsID, st.Remote, st.Branch, st.Folder)
}

func (g *gitSync) configOf(ctx context.Context, wsID, remote, branch, folder string) (gitsync.Config, error) {
	sec, err := g.s.openSecrets(ctx, wsID, gitSecretNames)
	if err != nil {
		return gitsync.Config{}, err
	}
	return gitsync.Config{
		Remote: remote, Branch: branch, Folder: folder,
		Auth: gitsync.Auth{
			Username: sec[secretGitUsername], Token: sec[secretGitToken], SSHKey: []byte(sec[secretGitSSHKey]),
			SSHPassphrase: sec[secretGitPassphrase], KnownHosts: []byte(sec[secretGitKnownHosts]),
		},
		CacheDir: filepath.Join(g.dataDir, "git", wsID),
		Logger:   g.s.log,
	}, nil
}

// configKey tells configurations apart without keeping credentials.
func configKey(c gitsync.Config) string {
	h := sha256.New()
	for _, p := range []string{c.Remote, c.Branch, c.Folder, c.Auth.Username, c.Auth.Token, string(c.Auth.SSHKey), c.Auth.SSHPassphrase, string(c.Auth.KnownHosts)} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// syncer returns the workspace's syncer, opened again when its settings or
// credentials changed. The caller holds the workspace's op lock.
func (g *gitSync) syncer(ctx context.Context, wsID string) (*gitsync.Syncer, error) {
	cfg, err := g.config(ctx, wsID)
	if err != nil {
		return nil, err
	}
	key := configKey(cfg)
	w := g.workspace(wsID)
	g.mu.Lock()
	sy := w.syncer
	same := sy != nil && w.key == key
	g.mu.Unlock()
	if same {
		g.reconcile(ctx, wsID, sy)
		return sy, nil
	}
	sy, err = gitsync.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	g.install(ctx, wsID, sy, key)
	return sy, nil
}

// reconcile makes the syncer's last sync of each flow the database's: the
// database is the record (another server on the same PostgreSQL may have
// synced since, or the local clone was lost).
func (g *gitSync) reconcile(ctx context.Context, wsID string, sy *gitsync.Syncer) {
	fgs, err := g.s.store.FlowGits(ctx, wsID)
	if err != nil {
		g.s.log.Warn("git sync: read the flows' last syncs", "err", err)
		return
	}
	for _, fg := range fgs {
		if c, _ := sy.Synced(fg.Slug); c == fg.Commit || fg.Commit == "" {
			continue
		}
		if err := sy.MarkSynced(ctx, fg.Slug, fg.Commit); err != nil {
			g.s.log.Warn("git sync: restore a flow's last sync", "flow", fg.Slug, "err", err)
		}
	}
}

// install makes sy the workspace's syncer, with each flow's last sync
// from the database.
func (g *gitSync) install(ctx context.Context, wsID string, sy *gitsync.Syncer, key string) {
	g.reconcile(ctx, wsID, sy)
	w := g.workspace(wsID)
	g.mu.Lock()
	w.syncer, w.key, w.fetchedAt = sy, key, time.Now()
	g.mu.Unlock()
}

// forget drops a workspace's syncer (its settings were removed).
func (g *gitSync) forget(wsID string) {
	w := g.workspace(wsID)
	g.mu.Lock()
	w.syncer, w.key = nil, ""
	g.mu.Unlock()
}

// current is the workspace's syncer as it is, for statuses on a page; nil
// while none is open. It asks the queue to open one, or to fetch when the
// last fetch is older than fetchEvery, without waiting.
func (g *gitSync) current(wsID string) *gitsync.Syncer {
	w := g.workspace(wsID)
	g.mu.Lock()
	sy := w.syncer
	stale := time.Since(w.fetchedAt) > fetchEvery
	if stale {
		w.fetchedAt = time.Now() // one fetch at a time
	}
	g.mu.Unlock()
	if stale {
		g.enqueue(wsID, func(ctx context.Context) { g.refresh(ctx, wsID) })
	}
	return sy
}

// refresh opens the workspace's syncer if needed, and fetches.
func (g *gitSync) refresh(ctx context.Context, wsID string) {
	w := g.workspace(wsID)
	w.op.Lock()
	defer w.op.Unlock()
	g.mu.Lock()
	had := w.syncer
	g.mu.Unlock()
	sy, err := g.syncer(ctx, wsID)
	if err != nil {
		if !errors.Is(err, errGitOff) {
			g.s.log.Warn("git sync: open", "err", err)
		}
		return
	}
	if sy != had {
		return // just opened: Open fetched
	}
	if err := sy.Fetch(ctx); err != nil {
		g.s.log.Warn("git sync: fetch", "err", err)
	}
}

// gitSignature names a person in git. Opsbook keeps no email addresses:
// gitsync makes a stand-in from the name.
func gitSignature(u store.User) gitsync.Signature {
	name := u.DisplayName
	if strings.TrimSpace(name) == "" {
		name = u.Name
	}
	return gitsync.Signature{Name: name}
}

// versionSaved is the VersionHook that commits each version saved in the
// studio (or uploaded there) and pushes it, in the workspace's queue.
// Versions stored from a pull are not told to hooks, so they never go
// back to git.
func (g *gitSync) versionSaved(ctx context.Context, e VersionEvent) error {
	if e.Source != VersionFromStudio && e.Source != VersionFromImport {
		return nil
	}
	if _, err := g.s.store.GitSettings(ctx, e.Workspace.ID); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	g.enqueue(e.Workspace.ID, func(ctx context.Context) { g.commit(ctx, e) })
	return nil
}

// commit pushes one saved version. A conflict keeps the version and is
// recorded on the flow (its status shows it); other errors are logged and
// recorded, and the status shows "changed here".
func (g *gitSync) commit(ctx context.Context, e VersionEvent) {
	w := g.workspace(e.Workspace.ID)
	w.op.Lock()
	defer w.op.Unlock()
	log := g.s.log.With("flow", e.Flow.Slug, "version", e.Version.Number)
	fail := func(msg string) {
		if err := g.s.store.SetFlowGitError(context.WithoutCancel(ctx), e.Flow.ID, msg); err != nil {
			log.Error("git sync: record an error", "err", err)
		}
	}
	sy, err := g.syncer(ctx, e.Workspace.ID)
	if err != nil {
		if !errors.Is(err, errGitOff) {
			log.Error("git sync: open", "err", err)
			fail(err.Error())
		}
		return
	}
	var coauthors []gitsync.Signature
	for _, id := range e.Version.Coauthors {
		if u, err := g.s.store.UserByID(ctx, id); err == nil {
			coauthors = append(coauthors, gitSignature(u))
		}
	}
	// A version saved before a secret held its value (or while secrets
	// were off) must not reach git either.
	if err := g.s.checkVersionSecrets(ctx, e.Workspace.ID, e.Version.Files); err != nil {
		log.Info("git sync: not pushed", "err", err)
		fail("not pushed: " + err.Error())
		return
	}
	hash, err := sy.Commit(ctx, e.Flow.Slug, flowFiles(e.Version.Files), gitSignature(e.By), e.Version.Message, coauthors)
	switch {
	case err == nil:
		if err := g.s.store.SetFlowGit(context.WithoutCancel(ctx), e.Flow.ID, hash, e.Version.Hash, ""); err != nil {
			log.Error("git sync: record a commit", "commit", hash, "err", err)
		}
	case errors.Is(err, gitsync.ErrConflict):
		log.Info("git sync: conflict; the version is kept here", "err", err)
		fail("conflict: " + err.Error())
	default:
		log.Error("git sync: commit", "err", err)
		fail(err.Error())
	}
}

// status is a flow's git status, "" when it cannot be told.
func (g *gitSync) status(ctx context.Context, sy *gitsync.Syncer, fg store.FlowGit) gitsync.Status {
	if sy == nil {
		return ""
	}
	st, err := sy.Status(ctx, fg.Slug, fg.LatestHash, fg.Hash)
	if err != nil {
		g.s.log.Warn("git sync: status", "flow", fg.Slug, "err", err)
		return ""
	}
	return st
}

// shortCommit is a commit as people write it.
func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}

// firstLine is a commit message's subject.
func firstLine(msg string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	return strings.TrimSpace(line)
}

// gitFlows adds the git panel and each flow's status chip to the flows
// page, when the workspace keeps its flows in git.
func (s *Server) gitFlows(r *http.Request, a access, props *views.FlowsProps) error {
	ctx := r.Context()
	st, err := s.store.GitSettings(ctx, a.Workspace.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	props.Git = &views.GitPanel{Remote: st.Remote, Branch: st.Branch, Folder: st.Folder, CanPull: atLeast(a.Role, store.RoleEditor)}
	fgs, err := s.store.FlowGits(ctx, a.Workspace.ID)
	if err != nil {
		return err
	}
	bySlug := make(map[string]store.FlowGit, len(fgs))
	for _, fg := range fgs {
		bySlug[fg.Slug] = fg
	}
	sy := s.git.current(a.Workspace.ID)
	for i := range props.Flows {
		props.Flows[i].Git = s.gitChipOf(ctx, a, sy, bySlug[props.Flows[i].Slug])
	}
	return nil
}

// gitChip is a flow's status chip for its notebook; nil without git.
func (s *Server) gitChip(r *http.Request, a access, fs store.FlowSummary) *views.GitChip {
	ctx := r.Context()
	if _, err := s.store.GitSettings(ctx, a.Workspace.ID); err != nil {
		return nil
	}
	fg, err := s.store.FlowGitOf(ctx, fs.ID)
	if err != nil {
		return nil
	}
	return s.gitChipOf(ctx, a, s.git.current(a.Workspace.ID), fg)
}

func (s *Server) gitChipOf(ctx context.Context, a access, sy *gitsync.Syncer, fg store.FlowGit) *views.GitChip {
	st := s.git.status(ctx, sy, fg)
	c := &views.GitChip{Status: string(st), Label: st.Label(), Error: fg.Error}
	if st == gitsync.InSync {
		c.Error = "" // an old error no longer matters
	}
	if st != "" && st != gitsync.InSync && atLeast(a.Role, store.RoleEditor) {
		c.Link = "/w/" + a.Workspace.Slug + "/flows/" + fg.Slug + "/git"
	}
	return c
}
