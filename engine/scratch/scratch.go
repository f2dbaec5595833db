// Package scratch finds each workspace's scratch SQLite database (the sql
// cells' "scratch" connection) for the run that needs it: a file under the
// data folder when one machine runs everything (SQLite), or a file kept in
// the main database and copied to each worker that runs a cell on it
// (PostgreSQL), so that every worker sees the same scratch database.
package scratch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
	"github.com/opsbook/opsbook/engine/store"
)

// Provider gives a run its workspace's scratch database file. The caller
// uses path (executor.SQL{Scratch: path}) until release, and calls release
// once, after closing every connection to the file (executor.SQL.Close).
type Provider interface {
	Open(ctx context.Context, workspaceID string) (path string, release func(ctx context.Context) error, err error)
}

// FileName is the scratch database's file name in a workspace's folder.
const FileName = "scratch.db"

// ErrTooLarge: the scratch database grew over the limit; what is stored
// stays as it was.
var ErrTooLarge = errors.New("scratch database too large")

// workspaceID is what a workspace id looks like (store.NewID("w")): safe
// as one path element.
var workspaceID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`) })

func checkWorkspace(id string) error {
	if !workspaceID().MatchString(id) {
		return fmt.Errorf("open the scratch database: %q is not a workspace id", id)
	}
	return nil
}

// Uses says whether a flow has a cell on the scratch database (a sql cell
// with no connection or the "scratch" one): only such runs need Open.
func Uses(f *engine.Flow) bool {
	if f == nil {
		return false
	}
	for _, c := range f.Cells {
		if c.Kind == engine.KindSQL && (c.Connection == "" || c.Connection == executor.ScratchConnection) {
			return true
		}
	}
	return false
}

// For is the provider a deployment needs: on SQLite (one machine) the file
// under dataDir, as Local; on PostgreSQL the copy kept in the database,
// cached under dataDir/scratch-cache, with the file Local used under
// dataDir as a workspace's first generation.
func For(st *store.Store, dataDir string, log *slog.Logger) Provider {
	if st.Dialect() == store.DialectPostgres {
		return NewShared(SharedConfig{Store: st, Dir: filepath.Join(dataDir, "scratch-cache"), Legacy: dataDir, Logger: log})
	}
	return Local(dataDir)
}

// Local is the scratch database as a file under a data folder:
// DATA/workspaces/<workspace id>/scratch.db. Runs on this machine share it
// at once (SQLite's own locking); it serves one machine only.
func Local(dataDir string) Provider { return local(dataDir) }

type local string

func (l local) Open(_ context.Context, wsID string) (string, func(context.Context) error, error) {
	if err := checkWorkspace(wsID); err != nil {
		return "", nil, err
	}
	dir := filepath.Join(string(l), "workspaces", wsID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("open the scratch database: %w", err)
	}
	return filepath.Join(dir, FileName), func(context.Context) error { return nil }, nil
}
