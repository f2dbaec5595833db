// Package collab is the text side of real-time collaboration: a Go
// implementation of CodeMirror's change sets (their JSON form, applying,
// composing and mapping them, with lengths in UTF-16 code units as
// CodeMirror counts), the server's authority over each cell's document in
// the @codemirror/collab model, and a client with the same rebase logic as
// the JavaScript one, for tests and benchmarks.
//
// It knows nothing of HTTP or of the database: the authority keeps its
// changes through the Log interface, which engine/store implements.
package collab
