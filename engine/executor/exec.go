// Package executor runs one cell of each kind that starts a process or talks to
// the outside world: shell, python, http and sql. Each executor honours its
// context: a timeout or cancel stops the work and everything it started.
package executor

import (
	"context"

	"github.com/opsbook/opsbook/engine"
)

// MaxLine is the longest line kept in a log; longer lines are cut to this
// many bytes and marked with CutMark.
const MaxLine = 64 << 10

// CutMark ends a line that was cut at MaxLine.
const CutMark = " …[line cut at 64 KiB]"

// Output receives a cell's log lines as they are produced. Calls may come
// from several goroutines (stdout and stderr); implementations must be safe
// for concurrent use and must not keep the slice after returning.
type Output interface {
	Lines(stream string, lines []string)
}

// Request is one attempt of one cell.
type Request struct {
	Cell    *engine.Cell
	Run     engine.RunInfo
	Attempt int
	// Source is the cell's source with its templates filled in. For sql,
	// each value is a engine.ParamMarker(i) and Params holds them.
	Source string
	Params []any
	// Env holds KEY=VALUE pairs from the cell's env, rendered, and for a
	// shell cell the OPSBOOK_VALUE_n=value pairs that carry the values of
	// its {{ }} placeholders (the script refers to them as
	// "${OPSBOOK_VALUE_n}"): every process that runs the cell must pass
	// them all.
	Env []string
	// Dir is the run's working directory, shared by its cells.
	Dir string
	// TempDir is private to the run: scripts and output files go there.
	TempDir string
	Output  Output
}

// Executor runs one attempt of a cell. It returns the cell's result (one of
// the engine's *Result types) and an error when the cell failed; a failed
// shell cell returns both its result and an error.
type Executor interface {
	Execute(ctx context.Context, req *Request) (any, error)
}

// Set is the executor of every kind that leaves the process, as a run
// uses them: shell and python through sp (fork/exec, or a run's sandbox),
// http, and sql through sqlx. A new kind of that sort is added here, so
// the worker and `opsbook run` get it together.
func Set(sp Spawner, sqlx *SQL) map[engine.Kind]Executor {
	return map[engine.Kind]Executor{
		engine.KindShell:  &Shell{Spawner: sp},
		engine.KindPython: &Python{Spawner: sp},
		engine.KindHTTP:   &HTTP{},
		engine.KindSQL:    sqlx,
	}
}
