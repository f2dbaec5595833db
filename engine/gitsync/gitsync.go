// Package gitsync keeps a workspace's flows in a git repository as plain
// flow folders (DESIGN.md, "The plain-file format"): saving a version
// commits and pushes the flow's folder, pulling turns commits made in git
// into changes the server stores as versions, and a status per flow says
// which side moved. Nothing is ever overwritten silently: when both sides
// changed, the caller gets both sides' files and a person decides.
package gitsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
)

// Config says where a workspace's flows live in git.
type Config struct {
	// Remote is the repository: an https:// or ssh:// URL, an scp-like
	// address (git@host:org/repo.git), or a local path (a bare repository).
	Remote string
	// Branch is the branch flows are read from and pushed to; "" is "main".
	Branch string
	// Folder is the folder inside the repository that holds one folder per
	// flow, named by the flow's slug (for example "flows"); "" is the
	// repository's root.
	Folder string
	// Auth holds the credentials, from the workspace's secrets.
	Auth Auth
	// CacheDir is where the local bare clone and the sync state live, one
	// per workspace (for example DATA/git/<workspace id>). It is created
	// when missing.
	CacheDir string
	// Logger receives what the syncer does; nil is slog.Default().
	Logger *slog.Logger
	// Now gives commit times; nil is time.Now.
	Now func() time.Time
}

// Signature names a person: a commit's author or a co-author.
type Signature struct {
	Name  string
	Email string
}

// String is the signature as git writes it: Name <email>.
func (s Signature) String() string { return s.Name + " <" + s.Email + ">" }

// Status says how a flow in Opsbook and its folder in git relate.
type Status string

// The statuses shown on each flow.
const (
	// InSync: git holds exactly the flow's latest version.
	InSync Status = "in_sync"
	// ChangedHere: a version was saved since the last sync and not yet
	// pushed.
	ChangedHere Status = "changed_here"
	// ChangedInGit: someone committed to the flow's folder in git since the
	// last sync; pulling makes it a new version.
	ChangedInGit Status = "changed_in_git"
	// Conflict: both sides changed since the last sync; a person chooses.
	Conflict Status = "conflict"
	// Missing: the flow's folder is not in git.
	Missing Status = "missing"
)

// Label is the status in words for a person.
func (s Status) Label() string {
	switch s {
	case InSync:
		return "in sync"
	case ChangedHere:
		return "changed here"
	case ChangedInGit:
		return "changed in git"
	case Conflict:
		return "conflict"
	case Missing:
		return "missing"
	}
	return string(s)
}

// ErrConflict is returned (inside a *ConflictError) when a flow changed in
// git since its last sync and a commit would overwrite that change.
var ErrConflict = errors.New("the flow changed in git since it was last synced")

// ConflictError carries both sides of a conflict so that a person can
// resolve it. Nothing was committed or pushed.
type ConflictError struct {
	Slug string
	// Commit is the newest commit in git that changed the flow's folder.
	Commit  string
	Author  Signature
	Message string
	// Remote is the flow's folder as it is in git at the remote head; nil
	// with Deleted when the folder was removed in git.
	Remote  []flow.File
	Deleted bool
	// Local is what was to be committed.
	Local []flow.File
}

func (e *ConflictError) Error() string {
	what := "changed"
	if e.Deleted {
		what = "deleted"
	}
	short := e.Commit
	if len(short) > 12 {
		short = short[:12]
	}
	return fmt.Sprintf("flow %q was %s in git (commit %s by %s) since it was last synced; nothing was pushed: resolve the conflict by keeping one side, then save again", e.Slug, what, short, e.Author.Name)
}

// Unwrap lets errors.Is(err, ErrConflict) match.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Syncer is one workspace's connection to its git repository. Its methods
// are safe for concurrent use; they run one at a time.
type Syncer struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	auth   transport.AuthMethod
	branch plumbing.ReferenceName // on the remote
	track  plumbing.ReferenceName // the remote head as last fetched

	mu        sync.Mutex
	repo      *git.Repository
	state     state
	hashCache map[plumbing.Hash]string // folder tree → flow hash

	beforePush func(attempt int) // tests: push to the remote in the race window
}

const remoteName = "origin"

// Open clones the remote into cfg.CacheDir, or opens the clone already
// there and fetches. An empty remote (no commits yet) is fine: the first
// Commit creates the branch.
func Open(ctx context.Context, cfg Config) (*Syncer, error) {
	if cfg.Remote == "" {
		return nil, errors.New("open git sync: no remote; set the workspace's git remote to a URL or a local path")
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("open git sync: no cache folder; give CacheDir, for example DATA/git/<workspace id>")
	}
	if cfg.Branch == "" {
		cfg.Branch = "main"
	}
	if !plumbing.NewBranchReferenceName(cfg.Branch).IsBranch() || strings.ContainsAny(cfg.Branch, " ~^:?*[\\") || strings.Contains(cfg.Branch, "..") {
		return nil, fmt.Errorf("open git sync: %q is not a valid branch name; use a name like main", cfg.Branch)
	}
	folder, err := cleanFolder(cfg.Folder)
	if err != nil {
		return nil, fmt.Errorf("open git sync: %w", err)
	}
	cfg.Folder = folder
	remote, err := normalizeRemote(cfg.Remote)
	if err != nil {
		return nil, fmt.Errorf("open git sync: %w", err)
	}
	cfg.Remote = remote
	auth, err := cfg.Auth.method(remote, filepath.Join(cfg.CacheDir, "known_hosts"))
	if err != nil {
		return nil, fmt.Errorf("open git sync with %s: %w", redact(remote), err)
	}
	s := &Syncer{
		cfg:       cfg,
		log:       cfg.Logger,
		now:       cfg.Now,
		auth:      auth,
		branch:    plumbing.NewBranchReferenceName(cfg.Branch),
		track:     plumbing.NewRemoteReferenceName(remoteName, cfg.Branch),
		hashCache: map[plumbing.Hash]string{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.openRepo(); err != nil {
		return nil, err
	}
	if err := s.fetch(ctx); err != nil {
		return nil, fmt.Errorf("open git sync: %w", err)
	}
	return s, nil
}

// Config returns the configuration in use, with defaults applied.
func (s *Syncer) Config() Config { return s.cfg }

func (s *Syncer) openRepo() error {
	dir := s.cfg.CacheDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("open git sync: create cache folder %s: %w; check that the data folder is writable", dir, err)
	}
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(dir, true)
	}
	if err != nil {
		return fmt.Errorf("open git sync: open the local clone in %s: %w; remove that folder to start a fresh clone", dir, err)
	}
	want := &config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{s.cfg.Remote},
		Fetch: []config.RefSpec{config.RefSpec("+" + s.branch.String() + ":" + s.track.String())},
	}
	rc, err := repo.Remote(remoteName)
	switch {
	case errors.Is(err, git.ErrRemoteNotFound):
	case err != nil:
		return fmt.Errorf("open git sync: read the local clone's remote: %w", err)
	case len(rc.Config().URLs) != 1 || rc.Config().URLs[0] != s.cfg.Remote || rc.Config().Fetch[0] != want.Fetch[0]:
		if err := repo.DeleteRemote(remoteName); err != nil {
			return fmt.Errorf("open git sync: replace the local clone's remote: %w", err)
		}
	default:
		want = nil
	}
	if want != nil {
		if _, err := repo.CreateRemote(want); err != nil {
			return fmt.Errorf("open git sync: set the local clone's remote: %w", err)
		}
	}
	s.repo = repo
	st, err := loadState(dir)
	if err != nil {
		return err
	}
	if st.Remote != s.cfg.Remote || st.Branch != s.cfg.Branch || st.Folder != s.cfg.Folder {
		// Bases recorded against another repository, branch or folder
		// mean nothing here.
		if len(st.Flows) > 0 {
			s.log.Info("git sync: remote, branch or folder changed; forgetting the last synced commits", "remote", redact(s.cfg.Remote))
		}
		st = state{Remote: s.cfg.Remote, Branch: s.cfg.Branch, Folder: s.cfg.Folder, Flows: map[string]base{}}
	}
	s.state = st
	return nil
}

// Fetch brings the remote head up to date. Status and Read see the remote
// head as of the last fetch (Open, Fetch and Pull fetch; Commit fetches
// when its push finds the remote moved).
func (s *Syncer) Fetch(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetch(ctx)
}

func (s *Syncer) fetch(ctx context.Context) error {
	err := s.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		Auth:       s.auth,
		Force:      true,
		Tags:       git.NoTags,
	})
	var noRef git.NoMatchingRefSpecError
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.As(err, &noRef):
		// No branch yet: the first push creates it. A branch deleted on
		// the remote is gone here too.
		if err := s.repo.Storer.RemoveReference(s.track); err != nil {
			return fmt.Errorf("fetch %s: forget the old remote head: %w", redact(s.cfg.Remote), err)
		}
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("fetch %s: %w", redact(s.cfg.Remote), context.Cause(ctx))
	}
	return fmt.Errorf("fetch %s: %w; %s", redact(s.cfg.Remote), err, s.hint(err))
}

// hint says what to check after a transport error.
func (s *Syncer) hint(err error) string {
	switch {
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return "check that the remote URL or path is right and that the repository exists (a local path must be a git repository, ideally bare)"
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return "check the workspace's git credentials: an HTTPS token with read and write access, or an SSH key the server accepts"
	case strings.Contains(err.Error(), "knownhosts"), strings.Contains(err.Error(), "host key"):
		return "add the server's host key to the workspace's git known hosts"
	}
	return "check the remote URL or path, that the repository exists, the network, and the workspace's git credentials"
}

// remoteHead is the remote branch's commit as last fetched, or the zero
// hash when the branch does not exist yet.
func (s *Syncer) remoteHead() (plumbing.Hash, error) {
	ref, err := s.repo.Storer.Reference(s.track)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read the remote head: %w", err)
	}
	return ref.Hash(), nil
}

// flowPath is the path of a flow's folder inside the repository.
func (s *Syncer) flowPath(slug string) string {
	if s.cfg.Folder == "" {
		return slug
	}
	return s.cfg.Folder + "/" + slug
}

func checkSlug(slug string) error {
	if !engine.IsSlug(slug) {
		return fmt.Errorf("%q is not a flow slug; use lower-case letters, digits and dashes", slug)
	}
	return nil
}

// cleanFolder checks the folder and gives it without leading or trailing
// slashes.
func cleanFolder(folder string) (string, error) {
	f := strings.Trim(strings.ReplaceAll(folder, "\\", "/"), "/")
	if f == "" || f == "." {
		return "", nil
	}
	if path.Clean(f) != f || f == ".." || strings.HasPrefix(f, "../") {
		return "", fmt.Errorf("folder %q is not a plain relative path inside the repository; write it like flows or ops/flows", folder)
	}
	for _, part := range strings.Split(f, "/") {
		if part == ".git" || part == "." || part == ".." {
			return "", fmt.Errorf("folder %q is not a plain relative path inside the repository; write it like flows or ops/flows", folder)
		}
	}
	return f, nil
}

// normalizeRemote makes a local path absolute, so the clone does not
// depend on the server's working directory.
func normalizeRemote(remote string) (string, error) {
	ep, err := transport.NewEndpoint(remote)
	if err != nil {
		return "", fmt.Errorf("remote %q is neither a URL nor a path: %v; write https://host/org/repo.git, git@host:org/repo.git or a local path", redact(remote), err)
	}
	if ep.Protocol == "file" && !strings.HasPrefix(remote, "file://") {
		abs, err := filepath.Abs(remote)
		if err != nil {
			return "", fmt.Errorf("remote path %q: %w", remote, err)
		}
		return abs, nil
	}
	return remote, nil
}

// redact removes a password or token written into a URL.
func redact(remote string) string {
	if i := strings.Index(remote, "://"); i >= 0 {
		rest := remote[i+3:]
		if at := strings.LastIndex(rest[:max(strings.IndexByte(rest, '/'), 0)], "@"); at >= 0 {
			if c := strings.IndexByte(rest[:at], ':'); c >= 0 {
				return remote[:i+3] + rest[:c] + ":***" + rest[at:]
			}
		}
	}
	return remote
}
