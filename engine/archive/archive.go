// Package archive packs a flow folder into a .tar.gz or .zip and unpacks
// one safely: what export downloads, what import and `opsbook import`
// upload. Writing is deterministic (sorted names, fixed times, mode 0644),
// so one flow content gives one archive, byte for byte.
package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/flow"
)

// Format is an archive format.
type Format string

// The formats: a gzip-compressed tar, or a zip.
const (
	TarGz Format = "tar.gz"
	Zip   Format = "zip"
)

// ParseFormat reads a format name ("" is tar.gz).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimPrefix(s, ".")) {
	case "", "tar.gz", "tgz", "gzip":
		return TarGz, nil
	case "zip":
		return Zip, nil
	}
	return "", fmt.Errorf("unknown archive format %q: use zip or tar.gz", s)
}

// ContentType is the media type of the format.
func (f Format) ContentType() string {
	if f == Zip {
		return "application/zip"
	}
	return "application/gzip"
}

// ModTime is the time written on every archived file, so archives of one
// content are identical whenever they are made.
var ModTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Write packs files into w, inside the folder named folder ("" for none),
// sorted by name, each a regular file of mode 0644 dated ModTime.
func Write(w io.Writer, format Format, folder string, files []flow.File) error {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b flow.File) int { return strings.Compare(a.Name, b.Name) })
	name := func(n string) string {
		if folder == "" {
			return n
		}
		return folder + "/" + n
	}
	switch format {
	case Zip:
		zw := zip.NewWriter(w)
		for _, f := range sorted {
			h := &zip.FileHeader{Name: name(f.Name), Method: zip.Deflate, Modified: ModTime}
			h.SetMode(0o644)
			fw, err := zw.CreateHeader(h)
			if err != nil {
				return fmt.Errorf("zip %s: %w", f.Name, err)
			}
			if _, err := fw.Write(f.Data); err != nil {
				return fmt.Errorf("zip %s: %w", f.Name, err)
			}
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("zip: %w", err)
		}
		return nil
	case TarGz, "":
		gz, err := gzip.NewWriterLevel(w, flate.BestCompression)
		if err != nil {
			return err
		}
		tw := tar.NewWriter(gz)
		for _, f := range sorted {
			h := &tar.Header{
				Typeflag: tar.TypeReg, Name: name(f.Name), Mode: 0o644,
				Size: int64(len(f.Data)), ModTime: ModTime,
			}
			if err := tw.WriteHeader(h); err != nil {
				return fmt.Errorf("tar %s: %w", f.Name, err)
			}
			if _, err := tw.Write(f.Data); err != nil {
				return fmt.Errorf("tar %s: %w", f.Name, err)
			}
		}
		if err := tw.Close(); err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		if err := gz.Close(); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unknown archive format %q", format)
}

// Limits bound what Read accepts.
type Limits struct {
	Archive int64 // bytes of the archive itself
	Files   int   // files in it
	File    int64 // bytes of one file, unpacked
	Total   int64 // bytes of all files, unpacked
	// Ratio is the largest unpacked-to-packed ratio of one zip entry over
	// 64 KiB (zip bombs); 0 means 200.
	Ratio int64
}

// DefaultLimits suit a flow folder: sources up to 1 MiB each.
var DefaultLimits = Limits{Archive: 16 << 20, Files: 500, File: flow.MaxFileSize, Total: 32 << 20, Ratio: 200}

// Error is a problem with an archive, said for people; nothing of the
// archive should be kept.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func bad(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// IsError reports whether err is an *Error.
func IsError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Read unpacks a flow folder from a .tar.gz or .zip (told apart by their
// first bytes, else by contentType). It refuses links, devices and other
// non-regular files, absolute paths and `..`, names that repeat after
// cleaning or differ only in case, a file that is also a folder, and
// archives over lim. When every file is inside one top-level folder, that
// folder is stripped and its name returned (a flow's slug).
func Read(data []byte, contentType string, lim Limits) (files []flow.File, top string, err error) {
	if lim.Ratio <= 0 {
		lim.Ratio = 200
	}
	if int64(len(data)) > lim.Archive {
		return nil, "", bad("the archive is larger than %s", engine.FormatBytes(lim.Archive))
	}
	r := &reader{lim: lim, byName: map[string]int{}, folded: map[string]string{}}
	isZip := bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06"))
	isGzip := bytes.HasPrefix(data, []byte{0x1f, 0x8b})
	mt := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	switch {
	case isZip || (!isGzip && (mt == "application/zip" || mt == "application/x-zip-compressed")):
		err = r.readZip(data)
	case isGzip || mt == "application/gzip" || mt == "application/x-gzip" || mt == "application/x-tar" || mt == "application/x-gtar":
		err = r.readTar(data, !isGzip && mt == "application/x-tar")
	default:
		return nil, "", bad("send the flow folder as application/gzip (.tar.gz) or application/zip (.zip), not %q", contentType)
	}
	if err != nil {
		return nil, "", err
	}
	if len(r.files) == 0 {
		return nil, "", bad("the archive holds no files")
	}
	for name := range r.byName {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if _, clash := r.byName[dir]; clash {
				return nil, "", bad("%s is both a file and a folder", dir)
			}
		}
	}
	// Strip one top-level folder when every file is inside it.
	for i, f := range r.files {
		dir, _, ok := strings.Cut(f.Name, "/")
		if !ok || (i > 0 && dir != top) {
			top = ""
			break
		}
		top = dir
	}
	if top != "" {
		for i := range r.files {
			r.files[i].Name = strings.TrimPrefix(r.files[i].Name, top+"/")
		}
	}
	return r.files, top, nil
}

type reader struct {
	lim    Limits
	files  []flow.File
	byName map[string]int
	folded map[string]string // lower-case name → name
	total  int64
}

// skip tells entries that archivers add and nobody means (macOS Finder).
func skip(name string) bool {
	return strings.HasPrefix(name, "__MACOSX/") || path.Base(name) == ".DS_Store"
}

// add checks one entry and reads it; size is what the header says.
func (r *reader) add(name string, mode fs.FileMode, size int64, body io.Reader) error {
	if mode.IsDir() {
		if _, err := cleanPath(name); err != nil {
			return err
		}
		return nil
	}
	if !mode.IsRegular() {
		what := "not a regular file"
		switch {
		case mode&fs.ModeSymlink != 0:
			what = "a symbolic link"
		case mode&(fs.ModeDevice|fs.ModeCharDevice) != 0:
			what = "a device"
		case mode&fs.ModeNamedPipe != 0:
			what = "a named pipe"
		}
		return bad("%s is %s; a flow folder holds regular files only", name, what)
	}
	clean, err := cleanPath(name)
	if err != nil {
		return err
	}
	if skip(clean) {
		return nil
	}
	if len(r.files) >= r.lim.Files {
		return bad("the archive has more than %d files; a flow folder holds flow.yaml and one file per cell", r.lim.Files)
	}
	if size > r.lim.File {
		return bad("%s is larger than %s", clean, engine.FormatBytes(r.lim.File))
	}
	b, err := io.ReadAll(io.LimitReader(body, r.lim.File+1))
	if err != nil {
		if IsError(err) {
			return err
		}
		return bad("read %s: %v", clean, err)
	}
	if int64(len(b)) > r.lim.File {
		return bad("%s is larger than %s", clean, engine.FormatBytes(r.lim.File))
	}
	r.total += int64(len(b))
	if r.total > r.lim.Total {
		return bad("the archive unpacks to more than %s", engine.FormatBytes(r.lim.Total))
	}
	if _, dup := r.byName[clean]; dup {
		return bad("%s appears twice in the archive", clean)
	}
	low := strings.ToLower(clean)
	if other, dup := r.folded[low]; dup {
		return bad("%s and %s differ only in case, and some file systems treat them as one file; rename one", other, clean)
	}
	r.byName[clean] = len(r.files)
	r.folded[low] = clean
	r.files = append(r.files, flow.File{Name: clean, Data: b})
	return nil
}

func (r *reader) readZip(data []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return bad("not a readable zip archive: %v", err)
	}
	// Check the whole directory before unpacking anything.
	if len(zr.File) > 2*r.lim.Files {
		return bad("the archive has %d entries, more than the %d files a flow folder may have", len(zr.File), r.lim.Files)
	}
	var declared uint64
	for _, f := range zr.File {
		declared += f.UncompressedSize64
		if f.UncompressedSize64 > 64<<10 && f.UncompressedSize64/max(f.CompressedSize64, 1) > uint64(r.lim.Ratio) {
			return bad("%s unpacks %d times larger than it is packed; this looks like a zip bomb", f.Name, f.UncompressedSize64/max(f.CompressedSize64, 1))
		}
	}
	if declared > uint64(r.lim.Total) {
		return bad("the archive unpacks to more than %s", engine.FormatBytes(r.lim.Total))
	}
	for _, f := range zr.File {
		err := func() error {
			if f.Mode().IsDir() || !f.Mode().IsRegular() {
				return r.add(f.Name, f.Mode(), 0, nil)
			}
			rc, err := f.Open()
			if err != nil {
				return bad("open %s: %v", f.Name, err)
			}
			defer rc.Close()
			return r.add(f.Name, f.Mode(), int64(f.UncompressedSize64), rc)
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// streamLimit ends a decompressed stream that grows past its bound, so a
// gzip bomb of padding stops early.
type streamLimit struct {
	r    io.Reader
	left int64
	max  int64
}

func (s *streamLimit) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, bad("the archive unpacks to more than %s; this looks like a compression bomb", engine.FormatBytes(s.max))
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	return n, err
}

func (r *reader) readTar(data []byte, plain bool) error {
	var in io.Reader = bytes.NewReader(data)
	if !plain {
		gz, err := gzip.NewReader(in)
		if err != nil {
			return bad("not a readable .tar.gz archive: %v", err)
		}
		// Headers and padding take 1 KiB or so a file besides the data.
		bound := r.lim.Total + int64(r.lim.Files+16)*4096
		in = &streamLimit{r: gz, left: bound, max: bound}
	}
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if IsError(err) {
				return err
			}
			return bad("not a readable tar archive: %v", err)
		}
		var mode fs.FileMode
		switch h.Typeflag {
		case tar.TypeReg: // the reader turns the legacy TypeRegA into TypeReg (or TypeDir)
		case tar.TypeDir:
			mode = fs.ModeDir
		case tar.TypeSymlink:
			mode = fs.ModeSymlink
		case tar.TypeLink:
			return bad("%s is a hard link (to %s); a flow folder holds regular files only", h.Name, h.Linkname)
		case tar.TypeChar:
			mode = fs.ModeCharDevice | fs.ModeDevice
		case tar.TypeBlock:
			mode = fs.ModeDevice
		case tar.TypeFifo:
			mode = fs.ModeNamedPipe
		case tar.TypeXGlobalHeader:
			continue
		default:
			mode = fs.ModeIrregular
		}
		if err := r.add(h.Name, mode, h.Size, tr); err != nil {
			return err
		}
	}
}

// cleanPath checks an entry's name and returns it cleaned.
func cleanPath(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.Contains(name, "\x00") ||
		(len(name) >= 2 && name[1] == ':') {
		return "", bad("%q is not a relative path inside the folder", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", bad("%q leaves the folder (..)", name)
		}
	}
	clean := path.Clean(name)
	if clean == "." || !fs.ValidPath(clean) {
		return "", bad("%q is not a relative path inside the folder", name)
	}
	return clean, nil
}
