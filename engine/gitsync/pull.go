package gitsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
)

// Change is a flow's folder as git has it, when it differs from the flow's
// last sync: a flow committed from an editor, or removed.
type Change struct {
	Slug string
	// Commit is the newest commit that changed the folder: the commit the
	// new version names. Author, Coauthors (its Co-authored-by trailers),
	// Message and When are that commit's.
	Commit    string
	Author    Signature
	Coauthors []Signature
	Message   string
	When      time.Time
	// Files are the folder's regular files exactly as stored in git,
	// sorted by name (files in subfolders are named with a slash; flow.Parse
	// reads only flow.yaml and the cells' files).
	Files []flow.File
	// Flow is Files parsed and checked, and Hash its flow.Hash; both are
	// empty when Err is set or the folder was deleted.
	Flow *engine.Flow
	Hash string
	// Deleted: the folder was removed in git; Files is empty.
	Deleted bool
	// Err says why the folder is not a valid flow (engine.Errors inside,
	// each at a file, line and column), or why its name is not a slug.
	Err error
}

// FlowFiles are the files of the flow, exactly as stored in git: flow.yaml,
// then each cell's file in cell order (the order of flow.Files). Store
// these as the new version's files, so that exporting the version gives
// git's bytes back. Nil when Err is set or the folder was deleted.
func (c Change) FlowFiles() []flow.File {
	if c.Flow == nil {
		return nil
	}
	byName := make(map[string][]byte, len(c.Files))
	for _, f := range c.Files {
		byName[f.Name] = f.Data
	}
	out := make([]flow.File, 0, 1+len(c.Flow.Cells))
	out = append(out, flow.File{Name: flow.ManifestFile, Data: byName[flow.ManifestFile]})
	for _, cl := range c.Flow.Cells {
		out = append(out, flow.File{Name: cl.File, Data: byName[cl.File]})
	}
	return out
}

// Pull fetches and returns, sorted by slug, a Change for every flow folder
// under Folder that differs from the flow's last sync: new folders (those
// holding a flow.yaml), changed folders and deleted ones. A folder
// rewritten without a change in content (keys reordered in flow.yaml) is
// not a change. Pull records nothing: after storing a Change
// as a version (or deciding what to do with a deletion), call MarkSynced
// with its Commit; until then every Pull returns it again. A Change can
// conflict with a version saved here since the last sync: check Status
// before storing it, and let a person choose when it is Conflict.
func (s *Syncer) Pull(ctx context.Context) ([]Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fetch(ctx); err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	head, err := s.remoteHead()
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	hc, err := s.commitAt(head)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	folders, err := s.flowFolders(hc)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	var slugs []string
	for name := range folders {
		slugs = append(slugs, name)
	}
	for slug := range s.state.Flows {
		if _, ok := folders[slug]; !ok {
			slugs = append(slugs, slug)
		}
	}
	slices.Sort(slugs)

	var out []Change
	for _, slug := range slugs {
		cur := folders[slug] // zero when absent
		b, known := s.state.Flows[slug]
		if !known && cur.IsZero() {
			continue
		}
		if known {
			same, err := s.sameContent(b, cur)
			if err != nil {
				return nil, fmt.Errorf("pull: %w", err)
			}
			if same {
				continue
			}
		}
		if !known {
			// A folder that never held a flow.yaml is not a flow (docs/,
			// scripts/ beside flows kept at the repository's root).
			has, err := s.hasManifest(cur)
			if err != nil {
				return nil, fmt.Errorf("pull: %w", err)
			}
			if !has {
				continue
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("pull: %w", context.Cause(ctx))
		}
		c, err := s.change(hc, slug, cur)
		if err != nil {
			return nil, fmt.Errorf("pull: %w", err)
		}
		out = append(out, c)
	}
	s.log.Info("git sync: pulled", "commit", head.String(), "changes", len(out))
	return out, nil
}

// Read returns git's side of one flow at the remote head as last fetched
// (Deleted when its folder is not there), whatever its last sync: what a
// person compares with the flow's latest version to resolve a conflict.
// Its Commit is what to pass to MarkSynced when resolving: the commit that
// changed or deleted the folder (the remote head, for a folder that was
// never in git; "" when the remote is empty).
func (s *Syncer) Read(ctx context.Context, slug string) (Change, error) {
	if err := checkSlug(slug); err != nil {
		return Change{}, fmt.Errorf("read flow from git: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	head, err := s.remoteHead()
	if err != nil {
		return Change{}, fmt.Errorf("read flow %q from git: %w", slug, err)
	}
	hc, err := s.commitAt(head)
	if err != nil {
		return Change{}, fmt.Errorf("read flow %q from git: %w", slug, err)
	}
	cur, err := s.folderTree(hc, slug)
	if err != nil {
		return Change{}, fmt.Errorf("read flow %q from git: %w", slug, err)
	}
	if b, known := s.state.Flows[slug]; cur.IsZero() && (!known || plumbing.NewHash(b.Tree).IsZero()) {
		// Never in git (or its deletion already acknowledged): no commit
		// to look for; the head will do for MarkSynced.
		c := Change{Slug: slug, Deleted: true}
		if hc != nil {
			c.Commit = hc.Hash.String()
		}
		return c, nil
	}
	c, err := s.change(hc, slug, cur)
	if err != nil {
		return Change{}, fmt.Errorf("read flow %q from git: %w", slug, err)
	}
	return c, nil
}

// hasManifest reports whether a folder holds a flow.yaml.
func (s *Syncer) hasManifest(tree plumbing.Hash) (bool, error) {
	t, err := object.GetTree(s.repo.Storer, tree)
	if err != nil {
		return false, fmt.Errorf("read tree %s: %w", tree, err)
	}
	for _, e := range t.Entries {
		if e.Name == flow.ManifestFile {
			return true, nil
		}
	}
	return false, nil
}

// flowFolders lists the folders under Folder at commit hc, by name.
func (s *Syncer) flowFolders(hc *object.Commit) (map[string]plumbing.Hash, error) {
	out := map[string]plumbing.Hash{}
	if hc == nil {
		return out, nil
	}
	root := hc.TreeHash
	if s.cfg.Folder != "" {
		var err error
		if root, err = s.treeAt(hc.TreeHash, s.cfg.Folder); err != nil {
			return nil, err
		}
		if root.IsZero() {
			return out, nil
		}
	}
	t, err := object.GetTree(s.repo.Storer, root)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", root, err)
	}
	for _, e := range t.Entries {
		if e.Mode == filemode.Dir && !strings.HasPrefix(e.Name, ".") {
			out[e.Name] = e.Hash
		}
	}
	return out, nil
}

// change describes the folder cur of a flow at commit hc.
func (s *Syncer) change(hc *object.Commit, slug string, cur plumbing.Hash) (Change, error) {
	c := Change{Slug: slug, Deleted: cur.IsZero()}
	if hc != nil {
		by, err := s.lastChange(hc, slug, cur)
		if err != nil {
			return c, err
		}
		c.Commit = by.Hash.String()
		c.Author = Signature{Name: by.Author.Name, Email: by.Author.Email}
		c.Message = by.Message
		c.When = by.Author.When
		c.Coauthors = coauthorsOf(by.Message)
	}
	if c.Deleted {
		return c, nil
	}
	if err := checkSlug(slug); err != nil {
		c.Err = fmt.Errorf("folder %s in git: %w; rename the folder", s.flowPath(slug), err)
		return c, nil
	}
	files, fsys, bad, err := s.folderFiles(cur)
	if err != nil {
		return c, err
	}
	c.Files = files
	if bad != nil {
		c.Err = fmt.Errorf("flow %s in git: %w", s.flowPath(slug), bad)
		return c, nil
	}
	f, err := parse(fsys)
	if err != nil {
		c.Err = fmt.Errorf("flow %s in git (commit %.12s): %w", s.flowPath(slug), c.Commit, err)
		return c, nil
	}
	c.Flow, c.Hash = f, flow.Hash(f)
	return c, nil
}

// parse runs flow.Parse, turning a panic into an error: a folder pushed
// by anyone must never take the server down.
func parse(fsys folder) (f *engine.Flow, err error) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("git sync: reading a flow folder panicked", "panic", r, "stack", string(debug.Stack()))
			f, err = nil, fmt.Errorf("%w (%v); this is a bug in Opsbook, please report it with the folder", errPanic, r)
		}
	}()
	return flow.ParseTree(fsys.files, fsys.special)
}

var coauthorLine = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?im)^co-authored-by:[ \t]*(.*?)[ \t]*<([^>\n]*)>[ \t]*$`)
})

// coauthorsOf reads the Co-authored-by trailers of a commit message.
func coauthorsOf(msg string) []Signature {
	var out []Signature
	for _, m := range coauthorLine().FindAllStringSubmatch(msg, -1) {
		out = append(out, Signature{Name: m[1], Email: m[2]})
	}
	return out
}

// sameContent reports whether the folder cur holds the same flow as the
// folder at the last sync b: the same tree, or two valid flows with the
// same flow.Hash (keys reordered in flow.yaml, say). Statuses compare
// content, so such a rewrite is neither a change to pull nor a conflict.
// A base tree no longer in the clone compares as different, as before.
func (s *Syncer) sameContent(b base, cur plumbing.Hash) (bool, error) {
	old := plumbing.NewHash(b.Tree)
	if old == cur {
		return true, nil
	}
	if old.IsZero() || cur.IsZero() {
		return false, nil
	}
	if _, err := s.repo.Storer.EncodedObject(plumbing.TreeObject, old); err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("read the last synced tree %s: %w", old, err)
	}
	was, err := s.gitHash(old)
	if err != nil {
		return false, err
	}
	now, err := s.gitHash(cur)
	if err != nil {
		return false, err
	}
	return was == now, nil
}

// gitHash is the flow.Hash of a flow folder in git, cached by tree. A
// folder that is not a valid flow gets a hash that no flow has, derived
// from its tree, so that it never looks in sync.
func (s *Syncer) gitHash(tree plumbing.Hash) (string, error) {
	if h, ok := s.hashCache[tree]; ok {
		return h, nil
	}
	_, fsys, bad, err := s.folderFiles(tree)
	if err != nil {
		return "", err
	}
	var h string
	if bad == nil {
		if f, err := parse(fsys); err == nil {
			h = flow.Hash(f)
		}
	}
	if h == "" {
		sum := sha256.Sum256([]byte("invalid flow folder " + tree.String()))
		h = "invalid-" + hex.EncodeToString(sum[:])
	}
	if len(s.hashCache) > 10000 {
		clear(s.hashCache)
	}
	s.hashCache[tree] = h
	return h, nil
}

var errPanic = errors.New("the flow folder could not be read")
