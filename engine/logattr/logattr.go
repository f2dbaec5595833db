// Package logattr holds the fixed keys of Opsbook's log lines and the
// constructors that give each key one type and one meaning everywhere, so
// that `flow` is always a flow's id and never sometimes its slug; and the
// slog handler that adds a request's id to every line logged with its
// context.
package logattr

import (
	"context"
	"log/slog"
)

// The keys. A production file never writes them as string literals in a
// log call (TestNoLiteralKeys): it uses the constructors below.
const (
	// KeyRun is a run's id (r_…).
	KeyRun = "run"
	// KeyFlow is a flow's id: stable across renames, unlike its slug.
	KeyFlow = "flow"
	// KeySlug is a flow's slug (its folder name), for people reading the
	// log; it goes beside KeyFlow where both are known.
	KeySlug = "slug"
	// KeyWorkspace is a workspace's id.
	KeyWorkspace = "workspace"
	// KeyCell is a cell's name, as the flow's files and the run's events
	// name it.
	KeyCell = "cell"
	// KeyCellID is a draft cell's id (the document real-time editing
	// orders), which survives renaming the cell.
	KeyCellID = "cell_id"
	// KeyUser is a user's id (u_…).
	KeyUser = "user"
	// KeyRequest is the id of the HTTP request or socket the line is
	// about (X-Request-Id).
	KeyRequest = "request"
)

// Reserved lists the keys that only this package may spell.
var Reserved = []string{KeyRun, KeyFlow, KeySlug, KeyWorkspace, KeyCell, KeyCellID, KeyUser, KeyRequest}

// Run is a run's id.
func Run(id string) slog.Attr { return slog.String(KeyRun, id) }

// Flow is a flow's id.
func Flow(id string) slog.Attr { return slog.String(KeyFlow, id) }

// Slug is a flow's slug.
func Slug(slug string) slog.Attr { return slog.String(KeySlug, slug) }

// Workspace is a workspace's id.
func Workspace(id string) slog.Attr { return slog.String(KeyWorkspace, id) }

// Cell is a cell's name.
func Cell(name string) slog.Attr { return slog.String(KeyCell, name) }

// CellID is a draft cell's id.
func CellID(id string) slog.Attr { return slog.String(KeyCellID, id) }

// User is a user's id.
func User(id string) slog.Attr { return slog.String(KeyUser, id) }

// Request is a request's id.
func Request(id string) slog.Attr { return slog.String(KeyRequest, id) }

type requestKey struct{}

// WithRequest is ctx carrying the request id id: a logger whose handler is
// Handler adds it to every line logged with ctx (InfoContext, …).
func WithRequest(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestKey{}, id)
}

// RequestOf is the request id ctx carries, or "".
func RequestOf(ctx context.Context) string {
	id, _ := ctx.Value(requestKey{}).(string)
	return id
}

// Handler adds the request id of a record's context to the record.
type Handler struct{ slog.Handler }

// NewHandler wraps h so that lines logged with a request's context carry
// its id; a handler already wrapped is returned as it is.
func NewHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(Handler); ok {
		return h
	}
	return Handler{h}
}

// Handle adds the request id, when ctx has one, and hands r on.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if id := RequestOf(ctx); id != "" {
			r = r.Clone()
			r.AddAttrs(Request(id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return Handler{h.Handler.WithAttrs(as)}
}

// WithGroup keeps the wrapper around the derived handler.
func (h Handler) WithGroup(name string) slog.Handler {
	return Handler{h.Handler.WithGroup(name)}
}
