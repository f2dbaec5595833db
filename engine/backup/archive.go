package backup

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// writeArchive writes the manifest and the staged files to file.tmp, then
// renames it to file.
func writeArchive(file string, gz bool, stage string, m Manifest) (err error) {
	tmp := file + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// A .tmp left by an earlier backup keeps its mode: make it 0600.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	var w io.Writer = bw
	var zw *gzip.Writer
	if gz {
		// The fastest level: a backup shares the machine with a running
		// studio, and level 1 loses little on databases (mostly text).
		zw, _ = gzip.NewWriterLevel(bw, gzip.BestSpeed)
		w = zw
	}
	tw := tar.NewWriter(w)
	b, err := marshal(m)
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(b)), ModTime: m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	for _, e := range m.Files {
		if err := addFile(tw, filepath.Join(stage, filepath.FromSlash(e.Name)), e, m.Created); err != nil {
			return fmt.Errorf("write the archive: %s: %w", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("write the archive: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	return nil
}

func addFile(tw *tar.Writer, src string, e File, at time.Time) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr := &tar.Header{Name: dataPrefix + e.Name, Mode: 0o600, Size: e.Size, ModTime: at, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.CopyN(tw, f, e.Size)
	return err
}

// Restore unpacks the archive into data, which must not exist or be an
// empty folder. Everything is written to a staging folder (beside data, or
// inside it when it exists) and checked against the manifest's sizes and
// sha256s first; only a complete, intact archive is moved into place. On
// an error before that, data is left as it was.
func Restore(ctx context.Context, archive, data string, log io.Writer) (Manifest, error) {
	if log == nil {
		log = io.Discard
	}
	existed, err := emptyTarget(data)
	if err != nil {
		return Manifest{}, err
	}
	// The staging folder sits where a rename puts it in place: beside a new
	// folder, or inside an existing empty one (which may be a mount point,
	// on another file system than its parent, and cannot be replaced).
	parent := filepath.Dir(filepath.Clean(data))
	if existed {
		parent = data
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("restore into %s: %w", data, err)
	}
	stage, err := os.MkdirTemp(parent, ".opsbook-restore-*")
	if err != nil {
		return Manifest{}, fmt.Errorf("restore into %s: make a staging folder: %w", data, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(stage)
		}
	}()
	m, err := unpack(ctx, archive, stage, log)
	if err != nil {
		return Manifest{}, fmt.Errorf("restore %s: %w (nothing was written to %s)", archive, err, data)
	}
	if !existed {
		if err := os.Rename(stage, data); err != nil {
			return Manifest{}, fmt.Errorf("restore into %s: %w", data, err)
		}
		ok = true
		return m, nil
	}
	entries, err := os.ReadDir(stage)
	if err != nil {
		return Manifest{}, fmt.Errorf("restore into %s: %w", data, err)
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(stage, e.Name()), filepath.Join(data, e.Name())); err != nil {
			return Manifest{}, fmt.Errorf("restore into %s: %w (the folder now holds part of the backup: empty it and restore again)", data, err)
		}
	}
	if err := os.Remove(stage); err != nil {
		return Manifest{}, fmt.Errorf("restore into %s: %w", data, err)
	}
	ok = true
	return m, nil
}

// emptyTarget refuses a data folder that holds anything, and says whether
// it exists.
func emptyTarget(data string) (bool, error) {
	fi, err := os.Stat(data)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("restore into %s: %w", data, err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("restore into %s: it is a file, not a folder; give a new or empty folder as --data", data)
	}
	entries, err := os.ReadDir(data)
	if err != nil {
		return false, fmt.Errorf("restore into %s: %w", data, err)
	}
	if len(entries) > 0 {
		return false, fmt.Errorf("restore into %s: the folder is not empty (it holds %s…); restore only into a new or empty folder, so that no data is overwritten", data, entries[0].Name())
	}
	return true, nil
}

// unpack reads archive into stage, checking each file against the
// manifest, and returns the manifest.
func unpack(ctx context.Context, archive, stage string, log io.Writer) (Manifest, error) {
	f, err := os.Open(archive)
	if err != nil {
		return Manifest{}, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Manifest{}, fmt.Errorf("not a backup archive: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		return Manifest{}, fmt.Errorf("not a backup archive: %w", err)
	}
	if hdr.Name != ManifestName || hdr.Size > maxManifest {
		return Manifest{}, fmt.Errorf("not a backup archive: its first entry is %q, not a %s", hdr.Name, ManifestName)
	}
	var m Manifest
	dec := json.NewDecoder(io.LimitReader(tr, maxManifest))
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("not a backup archive: read %s: %w", ManifestName, err)
	}
	if m.Format != Format {
		return Manifest{}, fmt.Errorf("archive format %d: this binary reads format %d; restore it with the Opsbook version that made it (%s)", m.Format, Format, m.Opsbook)
	}
	if len(m.Files) > maxFiles {
		return Manifest{}, fmt.Errorf("the manifest lists %d files, over the %d allowed", len(m.Files), maxFiles)
	}
	want := make(map[string]File, len(m.Files))
	for _, e := range m.Files {
		if !filepath.IsLocal(filepath.FromSlash(e.Name)) || path.Clean(e.Name) != e.Name || e.Size < 0 {
			return Manifest{}, fmt.Errorf("the manifest lists a file named %q: not a path inside a data folder", e.Name)
		}
		if _, dup := want[e.Name]; dup {
			return Manifest{}, fmt.Errorf("the manifest lists %q twice", e.Name)
		}
		want[e.Name] = e
	}
	done := 0
	for {
		if ctx.Err() != nil {
			return Manifest{}, context.Cause(ctx)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("the archive is damaged or cut short after %d of %d files: %w", done, len(m.Files), err)
		}
		name, ok := cutPrefix(hdr.Name)
		e, listed := want[name]
		if !ok || !listed || hdr.Typeflag != tar.TypeReg {
			return Manifest{}, fmt.Errorf("the archive holds %q, which its manifest does not list", hdr.Name)
		}
		delete(want, name)
		if hdr.Size != e.Size {
			return Manifest{}, fmt.Errorf("%s: %d bytes in the archive, %d in the manifest: the archive is damaged", name, hdr.Size, e.Size)
		}
		if err := extract(tr, filepath.Join(stage, filepath.FromSlash(name)), e); err != nil {
			return Manifest{}, fmt.Errorf("%s: %w", name, err)
		}
		done++
		if e.Size >= 1<<20 {
			fmt.Fprintf(log, "restore: %s %s\n", name, size(e.Size))
		}
	}
	if len(want) > 0 {
		for name := range want {
			return Manifest{}, fmt.Errorf("the archive is cut short: %s (and %d more) listed in its manifest are missing", name, len(want)-1)
		}
	}
	return m, nil
}

func cutPrefix(name string) (string, bool) {
	if len(name) <= len(dataPrefix) || name[:len(dataPrefix)] != dataPrefix {
		return "", false
	}
	return name[len(dataPrefix):], true
}

// extract writes one file (0600, its folders 0700) and checks its sha256.
func extract(r io.Reader, dst string, e File) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(r, e.Size))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("the archive is damaged or cut short: %w", err)
	}
	if n != e.Size {
		return fmt.Errorf("the archive is cut short: %d of %d bytes", n, e.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != e.SHA256 {
		return fmt.Errorf("sha256 %s, the manifest says %s: the archive is damaged", got, e.SHA256)
	}
	return nil
}
