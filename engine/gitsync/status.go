package gitsync

import (
	"context"
	"fmt"
)

// Status compares a flow with its folder at the remote head as last
// fetched (call Fetch or Pull first to see new commits). localHash is the
// flow.Hash of the flow's latest version (git holds versions, not the
// draft); lastSyncedHash is the hash recorded at the flow's last sync (the
// hash of the files given to a successful Commit, or the Hash of the
// Change stored from Pull), "" when it was never synced. Hashes compare
// content, so a folder rewritten in git without a change in meaning (keys
// reordered in flow.yaml) is in sync.
func (s *Syncer) Status(ctx context.Context, slug string, localHash string, lastSyncedHash string) (Status, error) {
	if err := checkSlug(slug); err != nil {
		return "", fmt.Errorf("git status: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	head, err := s.remoteHead()
	if err != nil {
		return "", fmt.Errorf("git status of flow %q: %w", slug, err)
	}
	hc, err := s.commitAt(head)
	if err != nil {
		return "", fmt.Errorf("git status of flow %q: %w", slug, err)
	}
	cur, err := s.folderTree(hc, slug)
	if err != nil {
		return "", fmt.Errorf("git status of flow %q: %w", slug, err)
	}
	if cur.IsZero() {
		return Missing, nil
	}
	gitHash, err := s.gitHash(cur)
	if err != nil {
		return "", fmt.Errorf("git status of flow %q: %w", slug, err)
	}
	return compare(localHash, gitHash, lastSyncedHash), nil
}

// compare decides a status from three hashes: here, in git, and at the
// last sync.
func compare(local, git, synced string) Status {
	switch {
	case local == git:
		return InSync
	case synced == "":
		// Both sides hold a flow and nothing says which came first.
		return Conflict
	case git == synced:
		return ChangedHere
	case local == synced:
		return ChangedInGit
	}
	return Conflict
}
