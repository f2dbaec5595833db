// Package backup copies an Opsbook data folder (SQLite) into one archive
// while the studio runs, and restores such an archive into an empty folder.
//
// The archive is a tar (gzip-compressed when its name ends in .gz or .tgz):
// manifest.json first, then each file under data/. The databases are copied
// with SQLite's VACUUM INTO, so each is a consistent snapshot of itself; the
// key file is read whole; the git folders are copied file by file (see
// gitFiles for what consistency means there).
package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine/scratch"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
)

// Format is the archive format this package writes and reads.
const Format = 1

// ManifestName is the archive's first entry.
const ManifestName = "manifest.json"

// dataPrefix is where the data folder's files sit in the archive.
const dataPrefix = "data/"

// Bounds of what Restore accepts, so that a hostile archive cannot exhaust
// memory: the manifest is read whole, and its list is held.
const (
	maxManifest = 16 << 20
	maxFiles    = 1_000_000
	maxKeyFile  = 64 << 10
)

// Manifest says what an archive holds.
type Manifest struct {
	Format  int       `json:"format"`
	Opsbook string    `json:"opsbook"` // the version of the binary that made it
	Schema  uint      `json:"schema"`  // the main database's schema version
	Created time.Time `json:"created"`
	Files   []File    `json:"files"`
}

// File is one file of the data folder, by its slash-separated path in it.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Options of Create.
type Options struct {
	Data    string    // the data folder
	Version string    // the opsbook version, for the manifest
	Force   bool      // replace an existing archive
	Log     io.Writer // progress lines; nil discards them
	Now     func() time.Time
}

// Create writes an archive of opts.Data to file: first to file.tmp (0600),
// renamed to file once complete. It refuses an existing file unless
// opts.Force.
func Create(ctx context.Context, file string, opts Options) (Manifest, error) {
	gz, err := compressed(file)
	if err != nil {
		return Manifest{}, err
	}
	if !opts.Force {
		if _, err := os.Lstat(file); err == nil {
			return Manifest{}, fmt.Errorf("%s exists: choose another name, or give --force to replace it", file)
		}
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dbPath := filepath.Join(opts.Data, store.FileName)
	if _, err := os.Stat(dbPath); err != nil {
		return Manifest{}, fmt.Errorf("no database at %s: give the studio's --data folder (%w)", dbPath, err)
	}
	stage, err := os.MkdirTemp(filepath.Dir(file), ".opsbook-backup-*")
	if err != nil {
		return Manifest{}, fmt.Errorf("make a staging folder beside %s: %w", file, err)
	}
	defer os.RemoveAll(stage)

	// The main database first: it is the one that matters most.
	if err := vacuumInto(ctx, dbPath, filepath.Join(stage, store.FileName)); err != nil {
		return Manifest{}, fmt.Errorf("copy the database %s: %w", dbPath, err)
	}
	m := Manifest{Format: Format, Opsbook: opts.Version, Created: opts.Now().UTC()}
	if m.Schema, err = schemaOf(ctx, filepath.Join(stage, store.FileName)); err != nil {
		return Manifest{}, err
	}
	progress(opts.Log, stage, store.FileName)

	if err := copyKey(opts.Data, stage); err != nil {
		return Manifest{}, err
	} else if _, err := os.Stat(filepath.Join(stage, secret.KeyFile)); err == nil {
		progress(opts.Log, stage, secret.KeyFile)
	} else {
		fmt.Fprintf(opts.Log, "backup: no key file %s in the data folder: if the studio takes its key from OPSBOOK_SECRET_KEY, keep that key with this backup, or the secrets in it cannot be opened\n", secret.KeyFile)
	}

	scratches, _ := filepath.Glob(filepath.Join(opts.Data, "workspaces", "*", scratch.FileName))
	for _, src := range scratches {
		rel, _ := filepath.Rel(opts.Data, src)
		dst := filepath.Join(stage, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return Manifest{}, err
		}
		if err := vacuumInto(ctx, src, dst); err != nil {
			return Manifest{}, fmt.Errorf("copy the scratch database %s: %w", src, err)
		}
		progress(opts.Log, stage, rel)
	}

	n, err := gitFiles(ctx, opts.Data, stage)
	if err != nil {
		return Manifest{}, err
	}
	if n > 0 {
		fmt.Fprintf(opts.Log, "backup: git state: %d files\n", n)
	}

	if m.Files, err = list(stage); err != nil {
		return Manifest{}, err
	}
	if err := writeArchive(file, gz, stage, m); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// compressed says from file's name whether the archive is gzipped.
func compressed(file string) (bool, error) {
	switch {
	case strings.HasSuffix(file, ".tar.gz"), strings.HasSuffix(file, ".tgz"):
		return true, nil
	case strings.HasSuffix(file, ".tar"):
		return false, nil
	}
	return false, fmt.Errorf("%s: name the archive FILE.tar.gz (or .tgz, or .tar for no compression)", file)
}

// vacuumInto copies the SQLite database src into dst (which must not
// exist) as one read transaction: a consistent snapshot even while a
// server writes to it.
func vacuumInto(ctx context.Context, src, dst string) error {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Set("mode", "rw") // never create src
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: src}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return err
	}
	return os.Chmod(dst, 0o600)
}

// schemaOf is the schema version recorded in the database at path.
func schemaOf(ctx context.Context, path string) (uint, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var v int64
	err = db.QueryRowContext(ctx, "SELECT version FROM schema_migrations LIMIT 1").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read the copy's schema version: %w", err)
	}
	return uint(max(v, 0)), nil
}

// copyKey copies the key file, if there is one, with mode 0600.
func copyKey(data, stage string) error {
	src := filepath.Join(data, secret.KeyFile)
	f, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return fmt.Errorf("read the key file: %w", err)
	}
	if len(b) > maxKeyFile {
		return fmt.Errorf("the key file %s is over %d bytes: it is not a key file", src, maxKeyFile)
	}
	return os.WriteFile(filepath.Join(stage, secret.KeyFile), b, 0o600)
}

// gitFiles copies DATA/git (each workspace's clone of its remote and its
// sync state) file by file, and returns how many files it copied.
//
// This is not one snapshot: a push during the copy may leave the copy with
// a ref naming an object it lacks, or objects no ref names. That is safe:
// the clone is a cache of the remote, and the database (copied first)
// records the head each workspace last synced; after a restore, the
// studio fetches and catches the clone up with that head. Files that
// vanish during the copy (lock files, packs being replaced) are skipped.
func gitFiles(ctx context.Context, data, stage string) (int, error) {
	root := filepath.Join(data, "git")
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if !d.Type().IsRegular() || strings.HasSuffix(d.Name(), ".lock") {
			return nil
		}
		rel, _ := filepath.Rel(data, path)
		dst := filepath.Join(stage, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		if err := copyFile(path, dst); errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("copy the git state %s: %w", path, err)
		}
		n++
		return nil
	})
	return n, err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// progress writes one line about a staged file.
func progress(w io.Writer, stage, rel string) {
	if fi, err := os.Stat(filepath.Join(stage, rel)); err == nil {
		fmt.Fprintf(w, "backup: %s %s\n", filepath.ToSlash(rel), size(fi.Size()))
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// list is every file staged, with its size and sha256, in walk order.
func list(stage string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(stage, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(stage, path)
		files = append(files, File{Name: filepath.ToSlash(rel), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the staged files: %w", err)
	}
	return files, nil
}

func marshal(m Manifest) ([]byte, error) {
	return json.MarshalIndent(m, "", "  ")
}
