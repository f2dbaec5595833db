package gitsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// errRemoteMoved says the branch on the remote is no longer the commit a
// push was built on.
var errRemoteMoved = errors.New("the branch moved on the remote")

// push sends commit h to the branch, only if the branch is still at
// parent (zero: absent). It sends a pack of exactly the objects h adds to
// parent, which the remote has in full: go-git's own Push works out what to
// send by walking the whole history the remote has, which costs more with
// every commit, and Commit knows the answer already.
func (s *Syncer) push(ctx context.Context, h, parent plumbing.Hash) error {
	ep, err := transport.NewEndpoint(s.cfg.Remote)
	if err != nil {
		return err
	}
	cl, err := client.NewClient(ep)
	if err != nil {
		return err
	}
	sess, err := cl.NewReceivePackSession(ep, s.auth)
	if err != nil {
		return err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return err
	}
	var at plumbing.Hash
	if ar != nil {
		refs, err := ar.AllReferences()
		if err != nil {
			return err
		}
		if ref, err := refs.Reference(s.branch); err == nil {
			at = ref.Hash()
		}
	}
	if at != parent {
		return errRemoteMoved
	}

	c, err := s.repo.CommitObject(h)
	if err != nil {
		return err
	}
	var oldRoot plumbing.Hash
	if !parent.IsZero() {
		pc, err := s.repo.CommitObject(parent)
		if err != nil {
			return err
		}
		oldRoot = pc.TreeHash
	}
	objs := []plumbing.Hash{h}
	if objs, err = s.newObjects(objs, c.TreeHash, oldRoot); err != nil {
		return err
	}
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, s.repo.Storer, false).Encode(objs, 10); err != nil {
		return fmt.Errorf("pack the commit: %w", err)
	}

	req := packp.NewReferenceUpdateRequest()
	if ar != nil {
		req = packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	}
	// The remote applies the update only if the branch is still at Old:
	// a push that raced ours makes this one fail, never overwrites it.
	req.Commands = []*packp.Command{{Name: s.branch, Old: parent, New: h}}
	req.Packfile = io.NopCloser(&pack)
	rs, err := sess.ReceivePack(ctx, req)
	if err != nil {
		return err
	}
	if rs != nil {
		if err := rs.Error(); err != nil {
			return err
		}
	}
	return nil
}

// newObjects appends to out the trees and blobs under tree that are not
// the same object at the same place under old (zero: nothing): with the
// commit, what the remote lacks. A blob the remote holds elsewhere may be
// sent again, which is harmless.
func (s *Syncer) newObjects(out []plumbing.Hash, tree, old plumbing.Hash) ([]plumbing.Hash, error) {
	if tree == old {
		return out, nil
	}
	t, err := object.GetTree(s.repo.Storer, tree)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", tree, err)
	}
	prev := map[string]object.TreeEntry{}
	if !old.IsZero() {
		ot, err := object.GetTree(s.repo.Storer, old)
		if err != nil {
			return nil, fmt.Errorf("read tree %s: %w", old, err)
		}
		for _, e := range ot.Entries {
			prev[e.Name] = e
		}
	}
	out = append(out, tree)
	for _, e := range t.Entries {
		p, had := prev[e.Name]
		switch {
		case had && p.Hash == e.Hash:
		case e.Mode == filemode.Submodule:
			// A commit in another repository: nothing to send.
		case e.Mode == filemode.Dir:
			var base plumbing.Hash
			if had && p.Mode == filemode.Dir {
				base = p.Hash
			}
			if out, err = s.newObjects(out, e.Hash, base); err != nil {
				return nil, err
			}
		default:
			out = append(out, e.Hash)
		}
	}
	return out, nil
}
