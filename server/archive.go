package server

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"
	"time"
)

// Limits on an uploaded flow folder.
const (
	maxArchiveBytes = 16 << 20 // compressed upload
	maxArchiveFiles = 500
	maxFileBytes    = 1 << 20  // one file, as for a cell source
	maxTotalBytes   = 32 << 20 // all files, uncompressed
)

// archiveError is a problem with an uploaded archive, said for people.
type archiveError struct{ msg string }

func (e *archiveError) Error() string { return e.msg }

func badArchive(format string, args ...any) error {
	return &archiveError{msg: fmt.Sprintf(format, args...)}
}

// readArchive reads a flow folder from a .tar.gz or .zip into memory. It
// refuses links, absolute paths, `..`, too many or too large files, and
// strips one top-level folder, whose name it returns (the flow's slug).
func readArchive(data []byte, contentType string) (fs.FS, string, error) {
	if len(data) > maxArchiveBytes {
		return nil, "", badArchive("the archive is larger than %d MiB", maxArchiveBytes>>20)
	}
	files := map[string][]byte{}
	total := 0
	add := func(name string, mode fs.FileMode, size int64, r io.Reader) error {
		if mode.IsDir() {
			return nil
		}
		if !mode.IsRegular() {
			return badArchive("%s is not a regular file (links and devices are not allowed)", name)
		}
		clean, err := cleanPath(name)
		if err != nil {
			return err
		}
		if len(files) >= maxArchiveFiles {
			return badArchive("the archive has more than %d files", maxArchiveFiles)
		}
		if size > maxFileBytes {
			return badArchive("%s is larger than 1 MiB", clean)
		}
		b, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
		if err != nil {
			return badArchive("read %s: %v", clean, err)
		}
		if len(b) > maxFileBytes {
			return badArchive("%s is larger than 1 MiB", clean)
		}
		total += len(b)
		if total > maxTotalBytes {
			return badArchive("the archive unpacks to more than %d MiB", maxTotalBytes>>20)
		}
		if _, dup := files[clean]; dup {
			return badArchive("%s appears twice", clean)
		}
		files[clean] = b
		return nil
	}
	isZip := bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06"))
	isGzip := bytes.HasPrefix(data, []byte{0x1f, 0x8b})
	mt := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	switch {
	case isZip || (!isGzip && (mt == "application/zip" || mt == "application/x-zip-compressed")):
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, "", badArchive("not a readable zip archive: %v", err)
		}
		for _, f := range zr.File {
			if err := func() error {
				rc, err := f.Open()
				if err != nil {
					return badArchive("open %s: %v", f.Name, err)
				}
				defer rc.Close()
				return add(f.Name, f.Mode(), int64(f.UncompressedSize64), rc)
			}(); err != nil {
				return nil, "", err
			}
		}
	case isGzip || mt == "application/gzip" || mt == "application/x-gzip" || mt == "application/x-tar" || mt == "application/x-gtar":
		var r io.Reader = bytes.NewReader(data)
		if isGzip || mt != "application/x-tar" {
			gz, err := gzip.NewReader(r)
			if err != nil {
				return nil, "", badArchive("not a readable .tar.gz archive: %v", err)
			}
			r = gz
		}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, "", badArchive("not a readable tar archive: %v", err)
			}
			switch h.Typeflag {
			case tar.TypeReg, tar.TypeDir:
			case tar.TypeXGlobalHeader:
				continue
			default:
				return nil, "", badArchive("%s is not a regular file (links and devices are not allowed)", h.Name)
			}
			if err := add(h.Name, h.FileInfo().Mode(), h.Size, tr); err != nil {
				return nil, "", err
			}
		}
	default:
		return nil, "", badArchive("send the flow folder as application/gzip (.tar.gz) or application/zip (.zip), not %q", contentType)
	}
	if len(files) == 0 {
		return nil, "", badArchive("the archive is empty")
	}
	// Strip one top-level folder when every file is inside it.
	top := ""
	for name := range files {
		dir, _, ok := strings.Cut(name, "/")
		if !ok {
			top = ""
			break
		}
		if top == "" {
			top = dir
		} else if top != dir {
			top = ""
			break
		}
	}
	out := fstest.MapFS{}
	now := time.Now()
	for name, b := range files {
		if top != "" {
			name = strings.TrimPrefix(name, top+"/")
		}
		out[name] = &fstest.MapFile{Data: b, Mode: 0o644, ModTime: now}
	}
	return out, top, nil
}

func cleanPath(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.Contains(name, "\x00") {
		return "", badArchive("%q is not a relative path inside the folder", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", badArchive("%q leaves the folder (..)", name)
		}
	}
	clean := path.Clean(name)
	if clean == "." || !fs.ValidPath(clean) {
		return "", badArchive("%q is not a relative path inside the folder", name)
	}
	return clean, nil
}

var errArchive *archiveError

func isArchiveError(err error) bool { return errors.As(err, &errArchive) }
