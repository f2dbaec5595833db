package engine

import (
	"fmt"
	"strings"
	"time"
)

// Kind is the language of a cell.
type Kind string

// The cell kinds of DESIGN.md.
const (
	KindShell    Kind = "shell"
	KindPython   Kind = "python"
	KindHTTP     Kind = "http"
	KindSQL      Kind = "sql"
	KindExpr     Kind = "expr"
	KindMarkdown Kind = "markdown"
)

// Kinds lists every cell kind in a stable order.
var Kinds = []Kind{KindShell, KindPython, KindHTTP, KindSQL, KindExpr, KindMarkdown}

var kindExt = map[Kind]string{
	KindShell: ".sh", KindPython: ".py", KindHTTP: ".http",
	KindSQL: ".sql", KindExpr: ".expr", KindMarkdown: ".md",
}

// Ext is the file extension a cell of this kind is written with.
func (k Kind) Ext() string { return kindExt[k] }

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool { _, ok := kindExt[k]; return ok }

// Runs reports whether a cell of this kind executes anything.
func (k Kind) Runs() bool { return k != KindMarkdown }

// Order decides when a cell may start.
type Order string

// Orders of a flow.
const (
	// OrderNotebook: each cell waits for the one above (the default).
	OrderNotebook Order = "notebook"
	// OrderGraph: a cell waits only for the cells it references or needs.
	OrderGraph Order = "graph"
)

// InputType is the declared type of a flow input.
type InputType string

// Input types.
const (
	InputString  InputType = "string"
	InputNumber  InputType = "number"
	InputBoolean InputType = "boolean"
	InputDate    InputType = "date"
	InputSelect  InputType = "select"
)

// InputTypes lists every input type.
var InputTypes = []InputType{InputString, InputNumber, InputBoolean, InputDate, InputSelect}

// Flow is a notebook: inputs, triggers, settings and an ordered list of cells.
// Fields hold what the manifest says; zero values are omitted when written.
type Flow struct {
	Name        string
	Description string
	Order       Order // "" means notebook
	// NoNetwork is `network: false`: the cells' sandbox has no network
	// at all (only its own loopback).
	NoNetwork bool
	Inputs    []Input
	Triggers  []Trigger
	// Concurrency bounds the flow's runs at once, across every worker.
	Concurrency Concurrency
	Cells       []Cell
}

// Concurrency is `concurrency: {limit: N, overlap: queue|skip|cancel}`.
type Concurrency struct {
	Limit   int     // 0: no limit
	Overlap Overlap // "" means queue
}

// Overlap says what a run started while the flow is at its limit does.
type Overlap string

// Overlaps of a flow's concurrency.
const (
	// OverlapQueue: the new run waits (queued) for a slot (the default).
	OverlapQueue Overlap = "queue"
	// OverlapSkip: the new run ends skipped at once.
	OverlapSkip Overlap = "skip"
	// OverlapCancel: the oldest running run is canceled to make room.
	OverlapCancel Overlap = "cancel"
)

// EffectiveOverlap is the overlap with the default applied.
func (c Concurrency) EffectiveOverlap() Overlap {
	if c.Overlap == "" {
		return OverlapQueue
	}
	return c.Overlap
}

// EffectiveOrder is the flow's order with the default applied.
func (f *Flow) EffectiveOrder() Order {
	if f.Order == "" {
		return OrderNotebook
	}
	return f.Order
}

// Cell returns the cell with that name, or nil.
func (f *Flow) Cell(name string) *Cell {
	for i := range f.Cells {
		if f.Cells[i].Name == name {
			return &f.Cells[i]
		}
	}
	return nil
}

// Input declares one input of a flow.
type Input struct {
	Name        string
	Type        InputType // "" means string
	Default     any       // nil when absent; else string, float64/int64, bool
	Required    bool
	Options     []string // for select
	Description string
	Pos         Pos // of the entry in flow.yaml
}

// Trigger starts a flow: a cron schedule or a webhook.
type Trigger struct {
	Cron    string
	Webhook bool
	// Rate bounds a webhook's runs a second, per webhook token; 0 means
	// DefaultWebhookRate.
	Rate int
}

// DefaultWebhookRate is a webhook's runs a second per token when its
// trigger sets no rate.
const DefaultWebhookRate = 10

// MaxWebhookRate is the highest rate a webhook trigger may set.
const MaxWebhookRate = 1000

// EffectiveRate is the trigger's rate with the default applied.
func (t Trigger) EffectiveRate() int {
	if t.Rate <= 0 {
		return DefaultWebhookRate
	}
	return t.Rate
}

// WebhookTrigger returns the flow's first webhook trigger, if it has one.
func (f *Flow) WebhookTrigger() (Trigger, bool) {
	for _, t := range f.Triggers {
		if t.Webhook {
			return t, true
		}
	}
	return Trigger{}, false
}

// EnvVar is one entry of a cell's env, in the order written.
type EnvVar struct {
	Name  string
	Value string // may hold {{ }} templates
	Pos   Pos    // of the value in flow.yaml
}

// Cell is one step of a flow.
type Cell struct {
	Name            string
	Kind            Kind
	File            string // relative to the flow folder
	Source          string // the file's content
	Timeout         time.Duration
	Retries         int
	RetryDelay      time.Duration
	If              string
	Needs           []string
	Connection      string
	Env             []EnvVar
	ContinueOnError bool

	// Pos is where the cell's entry starts in flow.yaml; IfPos and NeedsPos
	// locate those values for error messages.
	Pos      Pos
	IfPos    Pos
	NeedsPos Pos
}

// Pos is a place in a flow's files. Line and Col count from 1.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is a problem found in a flow's files, at a place.
type Error struct {
	Pos Pos
	Msg string // says what is wrong and what to do
}

func (e *Error) Error() string {
	if e.Pos.File == "" {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// Errorf makes an *Error at pos.
func Errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Errors is a list of problems; it is an error when not empty.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Err returns es as an error, or nil when es is empty.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
