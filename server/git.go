package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/gitsync"
	"github.com/opsbook/opsbook/engine/logattr"
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
// a pull, a resolution, new settings) holds the workspace's git lock
// (lock): this process's mutex and a lease in the database, so that
// replicas on one PostgreSQL take turns.
//
// What replicas share is in the database, the record: each flow's last
// synced commit and hash (flow_git), and the remote head as the last
// operation saw it (git_heads). Each replica's clone and sync state under
// its data folder is a cache, made to agree with the record when the lock
// is taken (syncer), and fetched before statuses are shown when another
// replica recorded a head it has not seen (current).
//
// It reads and writes through g.s.store, not a small interface: it is
// background work (a queue, a lease, the record of several tables), not a
// handler, and its interface would be a second list of most git methods.
type gitSync struct {
	s       *Server
	dataDir string
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex
	ws      map[string]*gitWorkspace
	waiters map[string]*gitWaiter // saves waiting for their push (git_outcome.go)
}

type gitWorkspace struct {
	op sync.Mutex // one sync operation at a time in this process (lock)

	// Guarded by gitSync.mu.
	syncer    *gitsync.Syncer
	key       string // the configuration syncer was opened with
	jobs      []func(context.Context)
	running   bool
	fetchedAt time.Time
	caughtUp  string // the recorded head this process last fetched for a page
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

// The workspace's git lease: held while a git operation runs, renewed
// while it lasts; a replica that dies holding it holds it gitLeaseTTL.
const (
	gitLeaseTTL  = 30 * time.Second
	gitLeaseBeat = 10 * time.Second
	gitLeasePoll = 50 * time.Millisecond
)

// errGitLeaseLost ends an operation whose lease was taken over (the
// process stalled for longer than gitLeaseTTL).
var errGitLeaseLost = errors.New("git sync: the workspace's git lock expired while held; try again")

// lock takes the workspace's git lock: this process's mutex, then the
// workspace's lease in the database, which every replica takes, so one git
// operation runs at a time per workspace across replicas. The context it
// returns ends when ctx does or the lease is lost; unlock must be called.
func (g *gitSync) lock(ctx context.Context, wsID string) (context.Context, func(), error) {
	w := g.workspace(wsID)
	w.op.Lock()
	name, holder := "git:"+wsID, g.s.process+"/"+engine.NewID("g")
	for {
		got, err := g.s.store.AcquireLease(ctx, name, holder, gitLeaseTTL)
		if err == nil && got {
			break
		}
		if err == nil && ctx.Err() == nil {
			t := g.s.clock.NewTimer(gitLeasePoll)
			select {
			case <-t.C():
				continue
			case <-ctx.Done():
				t.Stop()
			}
		}
		w.op.Unlock()
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("git sync: wait for another server's git operation on this workspace: %w", context.Cause(ctx))
		}
		return nil, nil, fmt.Errorf("git sync: take the workspace's git lock: %w", err)
	}
	opCtx, cancel := context.WithCancelCause(ctx)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(gitLeaseBeat)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			err := g.s.store.RenewLease(context.WithoutCancel(opCtx), name, holder, gitLeaseTTL)
			if errors.Is(err, store.ErrLeaseLost) {
				g.s.log.Error("git sync: the workspace's git lock was lost", "lease", name)
				cancel(errGitLeaseLost)
				return
			}
			if err != nil {
				g.s.log.Warn("git sync: renew the workspace's git lock", "err", err)
			}
		}
	}()
	var once sync.Once
	unlock := func() {
		once.Do(func() {
			close(stop)
			<-stopped
			if err := g.s.store.ReleaseLease(context.WithoutCancel(ctx), name, holder); err != nil {
				g.s.log.Warn("git sync: release the workspace's git lock", "err", err)
			}
			cancel(nil)
			w.op.Unlock()
		})
	}
	return opCtx, unlock, nil
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
// credentials changed, its clone caught up with the recorded head and its
// last syncs with the database's. The caller holds the workspace's lock.
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
		g.catchUp(ctx, wsID, sy)
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

// catchUp fetches when another replica recorded a remote head that is not
// this clone's. The caller holds the workspace's lock.
func (g *gitSync) catchUp(ctx context.Context, wsID string, sy *gitsync.Syncer) {
	h, err := g.s.store.GitHeadOf(ctx, wsID)
	if err != nil {
		return
	}
	cfg := sy.Config()
	if h.Remote != cfg.Remote || h.Branch != cfg.Branch || h.Commit == sy.RemoteHead() {
		return
	}
	if err := sy.Fetch(ctx); err != nil {
		g.s.log.Warn("git sync: fetch what another server pushed", "err", err)
		return
	}
	g.recordHead(ctx, wsID, sy)
}

// recordHead records the remote head as sy last saw it, for the other
// replicas. The caller holds the workspace's lock, so heads are recorded
// in the order they were seen.
func (g *gitSync) recordHead(ctx context.Context, wsID string, sy *gitsync.Syncer) {
	cfg := sy.Config()
	h := store.GitHead{WorkspaceID: wsID, Remote: cfg.Remote, Branch: cfg.Branch, Commit: sy.RemoteHead()}
	if err := g.s.store.SetGitHead(context.WithoutCancel(ctx), h); err != nil {
		g.s.log.Warn("git sync: record the remote head", "err", err)
	}
}

// reconcile makes the syncer's last sync of each flow the database's: the
// database is the record (another server on the same PostgreSQL may have
// synced since, or the local clone was lost). A commit this clone lacks is
// fetched; a flow the database says was never synced is forgotten here.
func (g *gitSync) reconcile(ctx context.Context, wsID string, sy *gitsync.Syncer) {
	fgs, err := g.s.store.FlowGits(ctx, wsID)
	if err != nil {
		g.s.log.Warn("git sync: read the flows' last syncs", "err", err)
		return
	}
	bases := sy.Bases()
	fetched := false
	for _, fg := range fgs {
		have, known := bases[fg.Slug]
		if fg.Commit == "" {
			if known {
				if err := sy.Forget(fg.Slug); err != nil {
					g.s.log.Warn("git sync: forget a flow's last sync", logattr.Slug(fg.Slug), "err", err)
				}
			}
			continue
		}
		if have == fg.Commit {
			continue
		}
		err := sy.MarkSynced(ctx, fg.Slug, fg.Commit)
		if err != nil && !fetched && !sy.HasCommit(fg.Commit) {
			fetched = true
			if ferr := sy.Fetch(ctx); ferr != nil {
				g.s.log.Warn("git sync: fetch a flow's last synced commit", logattr.Slug(fg.Slug), "err", ferr)
			} else {
				g.recordHead(ctx, wsID, sy)
				err = sy.MarkSynced(ctx, fg.Slug, fg.Commit)
			}
		}
		if err != nil {
			g.s.log.Warn("git sync: restore a flow's last sync", logattr.Slug(fg.Slug), "err", err)
		}
	}
}

// install makes sy the workspace's syncer, with each flow's last sync
// from the database.
func (g *gitSync) install(ctx context.Context, wsID string, sy *gitsync.Syncer, key string) {
	g.recordHead(ctx, wsID, sy)
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
// last fetch is older than fetchEvery, without waiting; but when another
// replica recorded a remote head this clone has not seen, it fetches first
// (once per recorded head), so that every replica shows the same statuses.
func (g *gitSync) current(ctx context.Context, wsID string) *gitsync.Syncer {
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
	if sy != nil {
		g.catchUpView(ctx, wsID, sy)
	}
	return sy
}

// catchUpView fetches, without the workspace's lock (a fetch changes only
// this clone), when the recorded head is not this clone's and was not
// fetched for already.
func (g *gitSync) catchUpView(ctx context.Context, wsID string, sy *gitsync.Syncer) {
	h, err := g.s.store.GitHeadOf(ctx, wsID)
	if err != nil {
		return
	}
	cfg := sy.Config()
	if h.Remote != cfg.Remote || h.Branch != cfg.Branch || h.Commit == sy.RemoteHead() {
		return
	}
	w := g.workspace(wsID)
	g.mu.Lock()
	tried := w.caughtUp == h.Commit
	w.caughtUp = h.Commit
	g.mu.Unlock()
	if tried {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sy.Fetch(ctx); err != nil {
		g.s.log.Warn("git sync: fetch what another server pushed", "err", err)
	}
}

// refresh opens the workspace's syncer if needed, and fetches.
func (g *gitSync) refresh(ctx context.Context, wsID string) {
	ctx, unlock, err := g.lock(ctx, wsID)
	if err != nil {
		g.s.log.Warn("git sync: fetch", "err", err)
		return
	}
	defer unlock()
	w := g.workspace(wsID)
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
		return
	}
	g.recordHead(ctx, wsID, sy)
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
	g.expect(e.Flow.ID, e.Version.Number)
	g.enqueue(e.Workspace.ID, func(ctx context.Context) {
		g.told(e.Flow.ID, e.Version.Number, g.commit(ctx, e))
	})
	return nil
}

// commit pushes one saved version and says what it did, with the flow's
// git status after it. A conflict keeps the version and is recorded on the
// flow (its status shows it); other errors are logged and recorded, and
// the status shows "changed here".
func (g *gitSync) commit(ctx context.Context, e VersionEvent) (out gitOutcome) {
	log := g.s.log.With(logattr.Flow(e.Flow.ID), logattr.Slug(e.Flow.Slug), "version", e.Version.Number)
	ctx, unlock, err := g.lock(ctx, e.Workspace.ID)
	if err != nil {
		log.Error("git sync: not pushed", "err", err)
		return gitOutcome{Outcome: gitFailed, Message: "not pushed: " + err.Error()}
	}
	defer unlock()
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
		return gitOutcome{Outcome: gitFailed, Message: err.Error()}
	}
	// The chip's status once the push is done, as a page would show it.
	defer func() {
		fg, err := g.s.store.FlowGitOf(context.WithoutCancel(ctx), e.Flow.ID)
		if err != nil {
			return
		}
		st := g.status(context.WithoutCancel(ctx), sy, fg)
		out.Status, out.Label = string(st), st.Label()
	}()
	// A newer version (saved on another replica, whose queue is not this
	// one, or pulled from git) is pushed by its own job or is git's
	// already: pushing this one now would put an older version over it.
	if fg, err := g.s.store.FlowGitOf(ctx, e.Flow.ID); err == nil && fg.Latest > e.Version.Number {
		log.Info("git sync: a newer version was saved since; not pushed", "latest", fg.Latest)
		return gitOutcome{Outcome: gitSkipped, Message: "v" + strconv.Itoa(fg.Latest) + " was saved since; it is pushed instead"}
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
		return gitOutcome{Outcome: gitFailed, Message: "not pushed: " + err.Error()}
	}
	hash, err := sy.Commit(ctx, e.Flow.Slug, flowFiles(e.Version.Files), gitSignature(e.By), e.Version.Message, coauthors)
	g.recordHead(ctx, e.Workspace.ID, sy)
	switch {
	case err == nil:
		if err := g.s.store.SetFlowGit(context.WithoutCancel(ctx), e.Flow.ID, hash, e.Version.Hash, ""); err != nil {
			log.Error("git sync: record a commit", "commit", hash, "err", err)
		}
		return gitOutcome{Outcome: gitCommitted, Message: "pushed as " + shortCommit(hash)}
	case errors.Is(err, gitsync.ErrConflict):
		log.Info("git sync: conflict; the version is kept here", "err", err)
		fail("conflict: " + err.Error())
		return gitOutcome{Outcome: gitConflict, Message: "conflict: " + err.Error()}
	default:
		log.Error("git sync: commit", "err", err)
		fail(err.Error())
		return gitOutcome{Outcome: gitFailed, Message: err.Error()}
	}
}

// status is a flow's git status, "" when it cannot be told.
func (g *gitSync) status(ctx context.Context, sy *gitsync.Syncer, fg store.FlowGit) gitsync.Status {
	if sy == nil {
		return ""
	}
	st, err := sy.Status(ctx, fg.Slug, fg.LatestHash, fg.Hash)
	if err != nil {
		g.s.log.Warn("git sync: status", logattr.Slug(fg.Slug), "err", err)
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

// gitStore is what the git routes (panel, chips, settings, resolve) read and write.
type gitStore interface {
	GitSettings(ctx context.Context, wsID string) (store.GitSettings, error)
	SetGitSettings(ctx context.Context, g store.GitSettings) error
	DeleteGitSettings(ctx context.Context, wsID string) error
	FlowGits(ctx context.Context, wsID string) ([]store.FlowGit, error)
	FlowGitOf(ctx context.Context, flowID string) (store.FlowGit, error)
	SetFlowGit(ctx context.Context, flowID, commit, hash, errText string) error
	Version(ctx context.Context, flowID string, n int) (store.Version, error)
	ImportVersion(ctx context.Context, flowID string, f *engine.Flow, v store.Version) (store.Version, error)
}

var _ gitStore = (*store.Store)(nil)

// gitFlows adds the git panel and each flow's status chip to the flows
// page, when the workspace keeps its flows in git.
func (s *Server) gitFlows(r *http.Request, a access, props *views.FlowsProps) error {
	ctx := r.Context()
	st, err := s.stores.git.GitSettings(ctx, a.Workspace.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	props.Git = &views.GitPanel{Remote: st.Remote, Branch: st.Branch, Folder: st.Folder, CanPull: a.Role.AtLeast(engine.RoleEditor)}
	fgs, err := s.stores.git.FlowGits(ctx, a.Workspace.ID)
	if err != nil {
		return err
	}
	bySlug := make(map[string]store.FlowGit, len(fgs))
	for _, fg := range fgs {
		bySlug[fg.Slug] = fg
	}
	sy := s.git.current(ctx, a.Workspace.ID)
	for i := range props.Flows {
		props.Flows[i].Git = s.gitChipOf(ctx, a, sy, bySlug[props.Flows[i].Slug])
	}
	return nil
}

// gitChip is a flow's status chip for its notebook; nil without git.
func (s *Server) gitChip(r *http.Request, a access, fs store.FlowSummary) *views.GitChip {
	ctx := r.Context()
	if _, err := s.stores.git.GitSettings(ctx, a.Workspace.ID); err != nil {
		return nil
	}
	fg, err := s.stores.git.FlowGitOf(ctx, fs.ID)
	if err != nil {
		return nil
	}
	return s.gitChipOf(ctx, a, s.git.current(ctx, a.Workspace.ID), fg)
}

func (s *Server) gitChipOf(ctx context.Context, a access, sy *gitsync.Syncer, fg store.FlowGit) *views.GitChip {
	st := s.git.status(ctx, sy, fg)
	c := &views.GitChip{Status: string(st), Label: st.Label(), Error: fg.Error}
	if st == gitsync.InSync {
		c.Error = "" // an old error no longer matters
	}
	if st != "" && st != gitsync.InSync && a.Role.AtLeast(engine.RoleEditor) {
		c.Link = "/w/" + a.Workspace.Slug + "/flows/" + fg.Slug + "/git"
	}
	return c
}
