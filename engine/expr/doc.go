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
// template is parsed. In a shell script the value never enters the code: it
// is passed in the process's environment as OPSBOOK_VALUE_n (Render returns
// the NAME=value pairs as params) and the placeholder becomes
// "${OPSBOOK_VALUE_n}", or ${OPSBOOK_VALUE_n} inside "…" and unquoted
// here-documents, so echo "Hi {{ inputs.name }}" works. Where bash would
// still evaluate the text — arithmetic of any form, array subscripts,
// substring offsets, [[ … -eq … ]], integer (declare -i) and reference
// (declare -n) variables, variable names (read, printf -v, [[ -v ]],
// ${!x}, declare NAME) — only a whole number is accepted, at render time;
// the same holds for a value that reaches such a place through a variable
// or a positional parameter assigned in the script. These places are found
// by a bash parser (mvdan.cc/sh), which reads the script with each
// placeholder replaced by a sentinel word. A placeholder is refused when
// the template is parsed inside '…', $'…' or a quoted here-document, in a
// command name, in what eval, trap, source, bash -c, awk, sed and the like
// run as code (also through a variable), after $ or \, and wherever the
// script does not parse or the parser cannot place it. raw(x) in a shell
// script writes x into the code as it is: only for values the flow's
// author controls. Template.ShellEnv applies the same rules to a cell's
// environment variables whose values come from templates. Values are
// followed through variables and positional parameters, not through what
// commands print or write: $(( $(cmd "$x") )) evaluates cmd's output, and
// a program the script starts gets values as data.
//
// In Python a placeholder is a literal (an error inside a string or right
// after a name, where a prefix such as f"" would apply); in SQL a bind
// parameter (engine.ParamMarker); in an .http request URL-encoded in the
// request line, CR and LF removed in headers, and by Content-Type in the
// body (JSON, form or text; inside a JSON string, the string's content); in
// markdown text with every markup character escaped (MarkdownText).
package expr
