// Package expr compiles the expr-lang expressions of a flow and renders the
// {{ expr }} templates of its cells, encoding every value for the language it
// lands in, so that data passed between cells never becomes code.
//
// Expressions see four variables: inputs, cells, secrets and run (see
// NewEnv), expr-lang's builtins, and two helpers: raw(x), which as the whole
// of a placeholder inserts x as plain text and elsewhere is x, and
// default(x, d), which is d when x is nil or "". A member of a map that is
// missing gives nil; a field a struct does not have, or any member of nil, is
// an evaluation error naming the spot (write `?.` or `??` to allow absence).
//
// Refs finds the static references of an expression: cells.x and cells["x"]
// give Ref{Root: "cells", Name: "x"}; a computed access such as
// cells[inputs.name], or a bare cells as in toJSON(cells), gives a Ref with
// an empty Name, which the planner rejects. $env is refused at compile time,
// since it would reach around Refs.
//
// A placeholder's encoding depends on where it stands, decided when the
// template is parsed: in a shell script a single-quoted word (and an error
// inside quotes, `…`, after $ or \, or in a here-document, where the shell
// would read the value again); in Python a literal (an error inside a string
// or right after a name, where a prefix such as f"" would apply); in SQL a
// bind parameter (engine.ParamMarker); in an .http request URL-encoded in the
// request line, CR and LF removed in headers, and by Content-Type in the body
// (JSON, form or text; inside a JSON string, the string's content).
package expr
