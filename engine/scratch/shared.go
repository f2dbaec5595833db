package scratch

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, to checkpoint a file before upload

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/clock"
	"github.com/opsbook/opsbook/engine/logattr"
	"github.com/opsbook/opsbook/engine/store"
)

// Defaults of SharedConfig.
const (
	DefaultMaxSize  = 256 << 20
	DefaultLeaseTTL = 30 * time.Second
	defaultPoll     = 100 * time.Millisecond
)

// SharedConfig configures a Shared provider.
type SharedConfig struct {
	// Store keeps each workspace's file and its lease (the main database).
	Store *store.Store
	// Dir holds this process's copies, one folder per workspace.
	Dir string
	// MaxSize bounds a scratch database (bytes); 0 is DefaultMaxSize.
	MaxSize int64
	// LeaseTTL is how long a lease outlives its holder's last heartbeat:
	// a crashed holder's workspace is free again after at most this.
	// 0 is DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Heartbeat is how often a held lease is renewed; 0 is LeaseTTL/3.
	Heartbeat time.Duration
	// Poll is how often a waiting Open asks for the lease again; 0 is
	// 100 ms (with jitter).
	Poll time.Duration
	// Clock times a waiting Open's tries; nil is the system clock.
	Clock clock.Clock
	// Logger receives what goes wrong in the background; nil is
	// slog.Default().
	Logger *slog.Logger
	// Legacy is a data folder whose DATA/workspaces/<id>/scratch.db (the
	// file Local uses) becomes a workspace's first stored generation when
	// nothing is stored yet: a deployment that used one machine's file
	// keeps its data. "" for none. The file itself is left as it is.
	Legacy string
}

// Shared keeps each workspace's scratch database in the main database, for
// several workers on one PostgreSQL. Open takes the workspace's lease (one
// run using scratch at a time per workspace, whichever worker it is on;
// renewed while held, so a crashed holder's lease expires after LeaseTTL),
// brings the local copy up to date when the stored generation is newer,
// and gives its path; release uploads the file when it changed, as the
// next generation, and frees the lease.
type Shared struct {
	cfg SharedConfig
	log *slog.Logger

	fetches atomic.Int64 // downloads, for tests
}

var _ Provider = (*Shared)(nil)

// NewShared makes a Shared provider.
func NewShared(cfg SharedConfig) *Shared {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = cfg.LeaseTTL / 3
	}
	if cfg.Poll <= 0 {
		cfg.Poll = defaultPoll
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Shared{cfg: cfg, log: log}
}

func leaseName(wsID string) string { return "scratch:" + wsID }

// marker is the local copy's generation and hash, in a file beside it.
const markerFile = "generation"

type marker struct {
	gen int64
	sha string
}

func readMarker(dir string) (marker, bool) {
	b, err := os.ReadFile(filepath.Join(dir, markerFile))
	if err != nil {
		return marker{}, false
	}
	gen, sha, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	n, err := strconv.ParseInt(gen, 10, 64)
	if !ok || err != nil {
		return marker{}, false
	}
	return marker{gen: n, sha: sha}, true
}

func writeMarker(dir string, m marker) error {
	tmp := filepath.Join(dir, markerFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(m.gen, 10)+" "+m.sha+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, markerFile))
}

// Open waits for the workspace's lease, brings the local copy up to date,
// and returns its path.
func (p *Shared) Open(ctx context.Context, wsID string) (string, func(context.Context) error, error) {
	if err := checkWorkspace(wsID); err != nil {
		return "", nil, err
	}
	dir := filepath.Join(p.cfg.Dir, wsID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("open the scratch database: %w", err)
	}
	l, err := p.acquire(ctx, wsID)
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, FileName)
	base, err := p.sync(ctx, wsID, dir, path)
	if err != nil {
		l.free(context.WithoutCancel(ctx))
		return "", nil, err
	}
	var once sync.Once
	var rerr error
	release := func(ctx context.Context) error {
		once.Do(func() { rerr = p.release(ctx, l, dir, path, base) })
		return rerr
	}
	return path, release, nil
}

// lease is one held lease with its heartbeat.
type lease struct {
	p      *Shared
	name   string
	holder string
	stop   context.CancelFunc
	done   chan struct{}
	lost   atomic.Bool
}

func (p *Shared) acquire(ctx context.Context, wsID string) (*lease, error) {
	l := &lease{p: p, name: leaseName(wsID), holder: newHolder(), done: make(chan struct{})}
	for {
		got, err := p.cfg.Store.AcquireLease(ctx, l.name, l.holder, p.cfg.LeaseTTL)
		if err != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("open the scratch database of workspace %s: waited for another run using it: %w", wsID, context.Cause(ctx))
		}
		if err != nil {
			return nil, fmt.Errorf("open the scratch database of workspace %s: %w", wsID, err)
		}
		if got {
			break
		}
		t := p.cfg.Clock.NewTimer(jitter(p.cfg.Poll))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("open the scratch database of workspace %s: waited for another run using it: %w", wsID, context.Cause(ctx))
		case <-t.C():
		}
	}
	hctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	go l.heartbeat(hctx)
	return l, nil
}

func (l *lease) heartbeat(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.p.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := l.p.cfg.Store.RenewLease(ctx, l.name, l.holder, l.p.cfg.LeaseTTL)
		switch {
		case errors.Is(err, store.ErrLeaseLost):
			l.lost.Store(true)
			l.p.log.Error("scratch database: lease lost; this run's changes to it will not be stored", "lease", l.name)
			return
		case err != nil && ctx.Err() == nil:
			// Try again at the next beat; the lease outlives a few misses.
			l.p.log.Warn("scratch database: renew the lease", "lease", l.name, "err", err)
		}
	}
}

// free stops the heartbeat and gives the lease back.
func (l *lease) free(ctx context.Context) error {
	l.stop()
	<-l.done
	if err := l.p.cfg.Store.ReleaseLease(ctx, l.name, l.holder); err != nil {
		return fmt.Errorf("release the scratch database: %w", err)
	}
	return nil
}

// sync makes the local copy the stored generation, fetching it only when
// it is newer than the copy, and returns the copy's hash ("" when there is
// no file yet).
func (p *Shared) sync(ctx context.Context, wsID, dir, path string) (marker, error) {
	info, err := p.cfg.Store.ScratchInfo(ctx, wsID)
	local, hasMarker := readMarker(dir)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if hasMarker {
			// The copy is of a generation no longer stored: start afresh.
			if err := removeDB(path); err != nil {
				return marker{}, err
			}
			os.Remove(filepath.Join(dir, markerFile))
		}
		// With no marker, a file already there is the one this machine
		// used before scratch databases were shared: it is kept, and
		// uploaded at release as the first generation.
		if !hasMarker && p.cfg.Legacy != "" {
			if err := p.seed(ctx, wsID, path); err != nil {
				return marker{}, err
			}
		}
		return marker{}, nil
	case err != nil:
		return marker{}, fmt.Errorf("open the scratch database of workspace %s: %w", wsID, err)
	}
	if hasMarker && local.gen == info.Generation && local.sha == info.SHA256 {
		if sha, err := hashFile(path); err == nil && sha == info.SHA256 {
			return local, nil
		}
	}
	info, data, err := p.cfg.Store.ScratchData(ctx, wsID)
	if err != nil {
		return marker{}, fmt.Errorf("fetch the scratch database of workspace %s: %w", wsID, err)
	}
	p.fetches.Add(1)
	if err := removeDB(path); err != nil {
		return marker{}, err
	}
	tmp := path + ".fetch"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return marker{}, fmt.Errorf("fetch the scratch database of workspace %s: %w", wsID, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return marker{}, fmt.Errorf("fetch the scratch database of workspace %s: %w", wsID, err)
	}
	m := marker{gen: info.Generation, sha: info.SHA256}
	if err := writeMarker(dir, m); err != nil {
		return marker{}, fmt.Errorf("fetch the scratch database of workspace %s: %w", wsID, err)
	}
	return m, nil
}

// seed copies the workspace's file under Legacy to path, when path does
// not exist and that file does.
func (p *Shared) seed(ctx context.Context, wsID, path string) error {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	old := filepath.Join(p.cfg.Legacy, "workspaces", wsID, FileName)
	if _, err := os.Stat(old); err != nil {
		return nil
	}
	if err := checkpoint(ctx, old); err != nil {
		return fmt.Errorf("take the scratch database of workspace %s from %s: %w", wsID, old, err)
	}
	data, err := os.ReadFile(old)
	if err != nil {
		return fmt.Errorf("take the scratch database of workspace %s from %s: %w", wsID, old, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("take the scratch database of workspace %s from %s: %w", wsID, old, err)
	}
	p.log.Info("scratch database: the data folder's file becomes the stored one", logattr.Workspace(wsID), "file", old)
	return nil
}

// release uploads the file when it changed since Open, then frees the
// lease.
func (p *Shared) release(ctx context.Context, l *lease, dir, path string, base marker) error {
	ctx = context.WithoutCancel(ctx)
	err := p.upload(ctx, l, dir, path, base)
	if ferr := l.free(ctx); err == nil {
		err = ferr
	}
	return err
}

func (p *Shared) upload(ctx context.Context, l *lease, dir, path string, base marker) error {
	wsID := filepath.Base(dir)
	if l.lost.Load() {
		forget(dir, path)
		return fmt.Errorf("store the scratch database of workspace %s: its lease expired while this run held it (the process stalled for over %s); this run's changes to it are not stored: %w", wsID, p.cfg.LeaseTTL, store.ErrLeaseLost)
	}
	if err := checkpoint(ctx, path); err != nil {
		forget(dir, path)
		return fmt.Errorf("store the scratch database of workspace %s: %w", wsID, err)
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // never created: nothing to store
	}
	if err != nil {
		return fmt.Errorf("store the scratch database of workspace %s: %w", wsID, err)
	}
	if st.Size() > p.cfg.MaxSize {
		forget(dir, path)
		return fmt.Errorf("the scratch database of workspace %s grew to %s, over the limit of %s: its changes are not stored, and runs keep the last stored copy; delete rows or tables (then VACUUM) in one run, or keep large data in a postgres connection: %w",
			wsID, engine.FormatBytes(st.Size()), engine.FormatBytes(p.cfg.MaxSize), ErrTooLarge)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("store the scratch database of workspace %s: %w", wsID, err)
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	if sha == base.sha {
		return nil
	}
	info, err := p.cfg.Store.PutScratch(ctx, wsID, l.name, l.holder, base.gen, data, sha)
	if err != nil {
		forget(dir, path)
		return fmt.Errorf("store the scratch database of workspace %s: %w", wsID, err)
	}
	if err := writeMarker(dir, marker{gen: info.Generation, sha: info.SHA256}); err != nil {
		// The next Open fetches it again: slower, not wrong.
		p.log.Warn("scratch database: record the local generation", "err", err)
		os.Remove(filepath.Join(dir, markerFile))
	}
	return nil
}

// checkpoint moves what the write-ahead log holds into the file, so that
// the file alone is the database.
func checkpoint(ctx context.Context, path string) error {
	if _, err := os.Stat(path + "-wal"); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	var busy, logged, moved int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &moved); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if busy != 0 {
		return errors.New("checkpoint: the file is still in use; close its connections before release")
	}
	return nil
}

// forget drops the local copy (its marker first), so the next Open takes
// the stored generation.
func forget(dir, path string) {
	os.Remove(filepath.Join(dir, markerFile))
	removeDB(path)
}

func removeDB(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("replace the local scratch database: %w", err)
		}
	}
	return nil
}

// hashFile is the file's sha256 in hex, "" when there is no file.
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the local scratch database: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read the local scratch database: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func newHolder() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return host + "/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(b[:])
}

// jitter is d give or take a quarter, so waiting processes spread out.
func jitter(d time.Duration) time.Duration {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d/2)+1))
	if err != nil {
		return d
	}
	return d*3/4 + time.Duration(n.Int64())
}
