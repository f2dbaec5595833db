package flow

import (
	"bytes"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// ParseFiles reads a flow, as Parse does, from the files of its folder held
// in memory (names slash-separated, relative to the folder): an uploaded
// archive, a stored version, a flow exported by a studio.
func ParseFiles(files []File) (*engine.Flow, error) { return ParseTree(files, nil) }

// ParseTree is ParseFiles for a folder that also holds entries that are not
// regular files, each with its type (a git tree's symbolic links and
// submodules): a flow that names one is refused, as Parse refuses it on
// disk.
func ParseTree(files []File, special map[string]fs.FileMode) (*engine.Flow, error) {
	m := memFS{files: make(map[string][]byte, len(files)), special: special}
	for _, f := range files {
		m.files[f.Name] = f.Data
	}
	return Parse(m)
}

// memFS is a flow folder in memory: what Parse needs of a file system
// (Open and Stat), nothing more.
type memFS struct {
	files   map[string][]byte
	special map[string]fs.FileMode
}

func (m memFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	base := path.Base(name)
	if mode, ok := m.special[name]; ok {
		return &memFile{info: memInfo{name: base, mode: mode}}, nil
	}
	if data, ok := m.files[name]; ok {
		return &memFile{info: memInfo{name: base, size: int64(len(data)), mode: 0o644}, r: bytes.NewReader(data)}, nil
	}
	if m.isDir(name) {
		return &memFile{info: memInfo{name: base, mode: fs.ModeDir | 0o755}}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (m memFS) isDir(name string) bool {
	if name == "." {
		return true
	}
	for k := range m.files {
		if strings.HasPrefix(k, name+"/") {
			return true
		}
	}
	for k := range m.special {
		if strings.HasPrefix(k, name+"/") {
			return true
		}
	}
	return false
}

type memFile struct {
	info memInfo
	r    *bytes.Reader // nil: not a regular file
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }
func (f *memFile) Read(b []byte) (int, error) {
	if f.r == nil {
		return 0, &fs.PathError{Op: "read", Path: f.info.name, Err: fs.ErrInvalid}
	}
	return f.r.Read(b)
}

type memInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return i.mode }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.mode.IsDir() }
func (i memInfo) Sys() any           { return nil }
