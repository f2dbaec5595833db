package gitsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
)

// stateFile sits in CacheDir beside the bare clone. It holds, per flow,
// the commit the flow was last synced at (by Commit or MarkSynced) and the
// flow folder's tree at that commit: the base both sides are compared to.
const stateFile = "opsbook-sync.json"

type state struct {
	Remote string          `json:"remote"`
	Branch string          `json:"branch"`
	Folder string          `json:"folder"`
	Flows  map[string]base `json:"flows"`
}

// base is where a flow was last synced. Tree is the zero hash when the
// flow's folder did not exist at Commit (a deletion that was acknowledged).
type base struct {
	Commit string `json:"commit"`
	Tree   string `json:"tree"`
}

func loadState(dir string) (state, error) {
	var st state
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return state{Flows: map[string]base{}}, nil
	}
	if err != nil {
		return st, fmt.Errorf("open git sync: read %s: %w", stateFile, err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("open git sync: %s in %s is damaged (%v); remove it, and every flow will be compared with git afresh", stateFile, dir, err)
	}
	if st.Flows == nil {
		st.Flows = map[string]base{}
	}
	return st, nil
}

// saveState writes the state atomically: a crash leaves the old file or
// the new one, never half of one.
func (s *Syncer) saveState() error {
	data, err := json.MarshalIndent(s.state, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.cfg.CacheDir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save git sync state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.cfg.CacheDir, stateFile)); err != nil {
		return fmt.Errorf("save git sync state: %w", err)
	}
	return nil
}

// Synced returns the commit a flow was last synced at, if any.
func (s *Syncer) Synced(slug string) (commit string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.state.Flows[slug]
	return b.Commit, ok
}

// MarkSynced records that the flow now matches its folder at commit: call
// it after storing a Change from Pull as a version (or after a person
// resolved a conflict by keeping git's side, or deleting the flow), and
// before Commit when a person resolved a conflict by keeping Opsbook's
// side (the commit is then ConflictError.Commit, and the next Commit
// overwrites git's side on purpose). commit must be in the local clone.
func (s *Syncer) MarkSynced(ctx context.Context, slug, commit string) error {
	if err := checkSlug(slug); err != nil {
		return fmt.Errorf("mark flow synced: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := plumbing.NewHash(commit)
	if h.IsZero() || h.String() != commit {
		return fmt.Errorf("mark flow %q synced: %q is not a commit hash; pass the Commit of a Change or a ConflictError", slug, commit)
	}
	c, err := s.repo.CommitObject(h)
	if err != nil {
		return fmt.Errorf("mark flow %q synced at %s: %w; pull first so the commit is fetched", slug, commit, err)
	}
	tree, err := s.folderTree(c, slug)
	if err != nil {
		return fmt.Errorf("mark flow %q synced at %s: %w", slug, commit, err)
	}
	s.state.Flows[slug] = base{Commit: commit, Tree: tree.String()}
	return s.saveState()
}

// Forget drops what the syncer recorded of a flow's last sync: the flow
// is then as one never synced (the database, the record, says so).
func (s *Syncer) Forget(slug string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.state.Flows[slug]; !ok {
		return nil
	}
	delete(s.state.Flows, slug)
	return s.saveState()
}

// Bases returns the commit each flow was last synced at, by slug.
func (s *Syncer) Bases() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.state.Flows))
	for slug, b := range s.state.Flows {
		out[slug] = b.Commit
	}
	return out
}

// RemoteHead is the remote branch's commit as last fetched (or pushed
// here), "" when the branch does not exist yet.
func (s *Syncer) RemoteHead() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, err := s.remoteHead()
	if err != nil || h.IsZero() {
		return ""
	}
	return h.String()
}

// HasCommit says whether the local clone holds commit.
func (s *Syncer) HasCommit(commit string) bool {
	h := plumbing.NewHash(commit)
	if h.IsZero() || h.String() != commit {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.repo.CommitObject(h)
	return err == nil
}
