package engine

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strconv"
	"strings"
)

// RunStatus is the state of a run.
type RunStatus string

// Run statuses.
const (
	RunQueued    RunStatus = "queued"
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunCanceled  RunStatus = "canceled"
	// RunWaiting: paused on a person (an approval); it holds no worker.
	RunWaiting RunStatus = "waiting"
	// RunSkipped: refused at once by the flow's concurrency (overlap: skip).
	RunSkipped RunStatus = "skipped"
)

// Done reports whether the status is final.
func (s RunStatus) Done() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCanceled || s == RunSkipped
}

// CellStatus is the state of a cell inside a run.
type CellStatus string

// Cell statuses.
const (
	CellPending CellStatus = "pending"
	CellRunning CellStatus = "running"
	// CellWaiting: an approval cell waiting for a person.
	CellWaiting   CellStatus = "waiting"
	CellSucceeded CellStatus = "succeeded"
	CellFailed    CellStatus = "failed"
	CellSkipped   CellStatus = "skipped"
	CellCanceled  CellStatus = "canceled"
)

// Done reports whether the status is final.
func (s CellStatus) Done() bool {
	return s == CellSucceeded || s == CellFailed || s == CellSkipped || s == CellCanceled
}

// Sentinel errors shared by the engine's packages.
var (
	// ErrCanceled is the cause given when a person cancels a run.
	ErrCanceled = errors.New("run canceled")
	// ErrInvalid marks an invalid flow or input (exit code 2).
	ErrInvalid = errors.New("invalid flow")
)

// RunInfo is what expressions see as `run`.
type RunInfo struct {
	ID        string `json:"id" expr:"id"`
	Flow      string `json:"flow" expr:"flow"`
	Version   int    `json:"version" expr:"version"`
	StartedAt string `json:"started_at" expr:"started_at"`
}

// ShellResult is what a shell or python cell gives later cells.
type ShellResult struct {
	ExitCode int            `json:"exit_code" expr:"exit_code"`
	Stdout   string         `json:"stdout" expr:"stdout"`
	Outputs  map[string]any `json:"outputs" expr:"outputs"`
}

// HTTPResult is what an http cell gives later cells.
type HTTPResult struct {
	Status  int               `json:"status" expr:"status"`
	Headers map[string]string `json:"headers" expr:"headers"`
	Body    any               `json:"body" expr:"body"` // parsed when JSON, else a string
}

// SQLResult is what a sql cell gives later cells: the rows of the last
// statement that returned rows, and the rows affected by all statements.
type SQLResult struct {
	Columns  []string         `json:"columns" expr:"columns"`
	Rows     []map[string]any `json:"rows" expr:"rows"`
	Affected int64            `json:"affected" expr:"affected"`
}

// ExprResult is what an expr cell gives later cells.
type ExprResult struct {
	Value any `json:"value" expr:"value"`
}

// MarkdownResult is a markdown cell's text with its templates filled in.
type MarkdownResult struct {
	Text string `json:"text" expr:"text"`
}

// ApprovalResult is what an approval cell gives later cells: the
// decision, who made it (their names, in order, joined by ", "), the
// deciding comment, the form's values and the message they read.
type ApprovalResult struct {
	Approved  bool             `json:"approved" expr:"approved"`
	By        string           `json:"by" expr:"by"`
	Comment   string           `json:"comment" expr:"comment"`
	Inputs    map[string]any   `json:"inputs" expr:"inputs"`
	Message   string           `json:"message" expr:"message"`
	Decisions []ApprovalChoice `json:"decisions" expr:"decisions"`
}

// ApprovalChoice is one person's decision on an approval cell. By is a
// user's name, or "link holder (IP)" for someone with the decision link,
// or "timeout" when on_timeout decided.
type ApprovalChoice struct {
	By       string         `json:"by" expr:"by"`
	At       string         `json:"at" expr:"at"` // RFC 3339, UTC
	Approved bool           `json:"approved" expr:"approved"`
	Comment  string         `json:"comment,omitempty" expr:"comment"`
	Inputs   map[string]any `json:"inputs,omitempty" expr:"inputs"`
}

// ParamMarker stands in a rendered SQL source for the i-th bound value
// (from 0). The sql executor replaces each marker with its driver's
// placeholder after splitting the statements, so a value never becomes SQL.
func ParamMarker(i int) string { return "\x00p" + strconv.Itoa(i) + "\x00" }

// NewID returns a new random identifier with the given prefix, e.g. "r_".
// It carries 80 random bits, enough that ids are never guessed or reused.
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
