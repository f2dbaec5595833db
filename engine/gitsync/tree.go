package gitsync

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/opsbook/opsbook/engine/flow"
)

// Commits are built directly as git objects in the bare clone, never
// through a worktree: the folder in git then holds exactly the bytes given,
// whatever the local file system does with names, modes or line endings,
// and a commit that is not pushed leaves nothing behind but unreferenced
// objects.

// maxFolderFiles bounds how many files a flow folder read from git may
// hold.
const maxFolderFiles = 1000

// folderTree is the tree of a flow's folder at commit c, or the zero hash
// when the folder does not exist there. c may be nil (an empty remote).
func (s *Syncer) folderTree(c *object.Commit, slug string) (plumbing.Hash, error) {
	if c == nil {
		return plumbing.ZeroHash, nil
	}
	return s.treeAt(c.TreeHash, s.flowPath(slug))
}

// treeAt follows p from the tree root; it gives the zero hash when p does
// not exist or is not a folder.
func (s *Syncer) treeAt(root plumbing.Hash, p string) (plumbing.Hash, error) {
	h := root
	for _, part := range strings.Split(p, "/") {
		t, err := object.GetTree(s.repo.Storer, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read tree %s: %w", h, err)
		}
		e, err := t.FindEntry(part)
		if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
			return plumbing.ZeroHash, nil
		}
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read tree %s: %w", h, err)
		}
		if e.Mode != filemode.Dir {
			return plumbing.ZeroHash, nil
		}
		h = e.Hash
	}
	return h, nil
}

// commitAt reads a commit; the zero hash gives nil.
func (s *Syncer) commitAt(h plumbing.Hash) (*object.Commit, error) {
	if h.IsZero() {
		return nil, nil
	}
	c, err := s.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	return c, nil
}

// folder is a flow folder read from git, for flow.ParseTree: its regular
// files, and its symbolic links and submodules by type, so that a flow
// naming one is refused.
type folder struct {
	files   []flow.File
	special map[string]fs.FileMode
}

// folderFiles reads a flow folder's tree exactly as stored: Files holds its
// regular files (subfolders' files named with a slash), sorted by name, and
// fsys the same with its symbolic links and submodules for flow.ParseTree,
// so that it refuses them. A problem that makes the folder
// unusable as a flow (too many or too large files) is returned as bad,
// not as err, which is kept for failures to read the clone.
func (s *Syncer) folderFiles(tree plumbing.Hash) (files []flow.File, fsys folder, bad error, err error) {
	t, err := object.GetTree(s.repo.Storer, tree)
	if err != nil {
		return nil, folder{}, nil, fmt.Errorf("read tree %s: %w", tree, err)
	}
	fsys.special = map[string]fs.FileMode{}
	walker := object.NewTreeWalker(t, true, nil)
	defer walker.Close()
	n := 0
	for {
		name, e, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, folder{}, nil, fmt.Errorf("read tree %s: %w", tree, err)
		}
		switch e.Mode {
		case filemode.Dir:
			continue
		case filemode.Submodule:
			fsys.special[name] = fs.ModeIrregular
			continue
		}
		if n++; n > maxFolderFiles {
			return nil, folder{}, fmt.Errorf("the folder holds more than %d files; a flow folder holds flow.yaml and one file per cell, so move other files out", maxFolderFiles), nil
		}
		blob, err := object.GetBlob(s.repo.Storer, e.Hash)
		if err != nil {
			return nil, folder{}, nil, fmt.Errorf("read %s: %w", name, err)
		}
		if blob.Size > flow.MaxFileSize {
			return nil, folder{}, fmt.Errorf("%s is %d bytes, more than the 1 MiB a flow file may have; keep large data outside the flow", name, blob.Size), nil
		}
		data, err := readBlob(blob)
		if err != nil {
			return nil, folder{}, nil, fmt.Errorf("read %s: %w", name, err)
		}
		if e.Mode == filemode.Symlink {
			fsys.special[name] = fs.ModeSymlink | 0o777
			continue
		}
		files = append(files, flow.File{Name: name, Data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	fsys.files = files
	return files, fsys, nil, nil
}

func readBlob(b *object.Blob) ([]byte, error) {
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// writeObject stores an encoded object in the clone.
func (s *Syncer) writeObject(typ plumbing.ObjectType, encode func(w io.Writer) error) (plumbing.Hash, error) {
	obj := s.repo.Storer.NewEncodedObject()
	obj.SetType(typ)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if err := encode(w); err != nil {
		w.Close()
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.repo.Storer.SetEncodedObject(obj)
}

// writeFolder stores the blobs and the tree of a flow folder holding
// exactly files. A file that was executable in the folder being replaced
// (old, possibly zero) stays executable, so that a save does not undo an
// engineer's chmod +x.
func (s *Syncer) writeFolder(files []flow.File, old plumbing.Hash) (plumbing.Hash, error) {
	exec := map[string]bool{}
	if !old.IsZero() {
		t, err := object.GetTree(s.repo.Storer, old)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read tree %s: %w", old, err)
		}
		for _, e := range t.Entries {
			exec[e.Name] = e.Mode == filemode.Executable
		}
	}
	entries := make([]object.TreeEntry, 0, len(files))
	for _, f := range files {
		h, err := s.writeBlob(f.Data)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("store %s: %w", f.Name, err)
		}
		mode := filemode.Regular
		if exec[f.Name] {
			mode = filemode.Executable
		}
		entries = append(entries, object.TreeEntry{Name: f.Name, Mode: mode, Hash: h})
	}
	return s.writeTree(entries)
}

// writeBlob stores data as a blob unless the clone already has it (most
// files of a save are unchanged, and writing a loose object costs a file).
func (s *Syncer) writeBlob(data []byte) (plumbing.Hash, error) {
	h := plumbing.ComputeHash(plumbing.BlobObject, data)
	if s.repo.Storer.HasEncodedObject(h) == nil {
		return h, nil
	}
	return s.writeObject(plumbing.BlobObject, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeTree stores a tree, its entries in git's order (a folder sorts as
// if its name ended with a slash).
func (s *Syncer) writeTree(entries []object.TreeEntry) (plumbing.Hash, error) {
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
	return s.encode(&object.Tree{Entries: entries})
}

// encode stores a tree or a commit.
func (s *Syncer) encode(o interface {
	Encode(plumbing.EncodedObject) error
}) (plumbing.Hash, error) {
	obj := &plumbing.MemoryObject{}
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	if s.repo.Storer.HasEncodedObject(obj.Hash()) == nil {
		return obj.Hash(), nil
	}
	return s.repo.Storer.SetEncodedObject(obj)
}

// replaceAt returns a new root tree equal to root (zero: empty) with the
// folder at p replaced by sub (zero: removed). Trees along p are created
// as needed; a folder left empty by a removal is removed too.
func (s *Syncer) replaceAt(root plumbing.Hash, p []string, sub plumbing.Hash) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if !root.IsZero() {
		t, err := object.GetTree(s.repo.Storer, root)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read tree %s: %w", root, err)
		}
		entries = append(entries, t.Entries...)
	}
	name := p[0]
	i := 0
	for i < len(entries) && entries[i].Name != name {
		i++
	}
	var child plumbing.Hash
	if i < len(entries) && entries[i].Mode == filemode.Dir {
		child = entries[i].Hash
	}
	next := sub
	if len(p) > 1 {
		var err error
		if next, err = s.replaceAt(child, p[1:], sub); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	if i < len(entries) {
		entries = append(entries[:i], entries[i+1:]...)
	}
	if !next.IsZero() {
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: next})
	}
	if len(entries) == 0 {
		return plumbing.ZeroHash, nil
	}
	return s.writeTree(entries)
}
