package engine

import (
	"fmt"
	"strconv"
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
	// KindApproval: the run waits for a person to approve or reject; its
	// file is the markdown message they read.
	KindApproval Kind = "approval"
)

// Kinds lists every cell kind in a stable order.
var Kinds = []Kind{KindShell, KindPython, KindHTTP, KindSQL, KindExpr, KindMarkdown, KindApproval}

var kindExt = map[Kind]string{
	KindShell: ".sh", KindPython: ".py", KindHTTP: ".http",
	KindSQL: ".sql", KindExpr: ".expr", KindMarkdown: ".md", KindApproval: ".md",
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
	// Notify names the workspace's notification destinations this flow's
	// runs tell, and on which events (`notify:`).
	Notify []Notify
	Cells  []Cell
}

// Notify is one entry of `notify:`: a workspace destination by name, and
// the events it is told of (none: the destination's own defaults).
type Notify struct {
	To string
	On []NotifyEvent
}

// NotifyEvent is what a notification tells of.
type NotifyEvent string

// The events a notification is sent on.
const (
	NotifyFailed    NotifyEvent = "failed"
	NotifySucceeded NotifyEvent = "succeeded"
	NotifyCanceled  NotifyEvent = "canceled"
	// NotifyWaiting: a run waits for an approval (with the decision link).
	NotifyWaiting NotifyEvent = "waiting"
)

// NotifyEvents lists every notification event in a stable order.
var NotifyEvents = []NotifyEvent{NotifyFailed, NotifySucceeded, NotifyCanceled, NotifyWaiting}

// Valid reports whether e is one of NotifyEvents.
func (e NotifyEvent) Valid() bool {
	for _, v := range NotifyEvents {
		if v == e {
			return true
		}
	}
	return false
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
	Name     string
	Type     InputType // "" means string
	Default  any       // nil when absent; else string, float64/int64, bool
	Required bool
	Options  []string // for select
	// Label is what people see on forms ("" → the name); Description is
	// the help under the field; Placeholder the hint inside an empty one.
	Label       string
	Description string
	Placeholder string
	Pos         Pos // of the entry in flow.yaml
}

// DisplayLabel is what a form shows for the input: its label, else its
// name.
func (in Input) DisplayLabel() string {
	if in.Label != "" {
		return in.Label
	}
	return in.Name
}

// Trigger starts a flow: a cron schedule or a webhook.
type Trigger struct {
	Cron string
	// Timezone is the IANA zone the cron schedule is read in ("" is UTC).
	Timezone string
	Webhook  bool
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

// EffectiveTimezone is the zone the trigger's cron is read in: its
// Timezone, or UTC when it names none.
func (t Trigger) EffectiveTimezone() string {
	if t.Timezone == "" {
		return "UTC"
	}
	return t.Timezone
}

// KnownZone reports whether name is an IANA time zone a trigger may name.
// "Local" is refused: it would mean whatever machine runs the schedule.
// The opsbook binary embeds time/tzdata, so the answer does not depend on
// the machine's zoneinfo.
func KnownZone(name string) bool {
	if name == "" || name == "Local" || len(name) > 64 || strings.ContainsAny(name, " \t\n") {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// Key names the trigger for settings kept outside the files (a paused
// schedule): its cron and zone, or "webhook", so that it survives the
// triggers being reordered and changes when the schedule itself does.
func (t Trigger) Key() string {
	if t.Cron == "" {
		if t.Webhook {
			return "webhook"
		}
		return ""
	}
	return "cron " + strings.Join(strings.Fields(t.Cron), " ") + " " + t.EffectiveTimezone()
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
	// ExpectStatus lists the answers an http cell succeeds with: codes
	// ("404") and classes ("2xx"); empty means 2xx. See AcceptsStatus.
	ExpectStatus []string

	// Approvers, Approvals, OnTimeout and Inputs are an approval cell's:
	// who may decide (roles, "user:NAME", "link"), how many approvals it
	// needs (0 means 1), what its timeout decides ("" means reject), and
	// the form the deciders fill in. Timeout is how long it waits.
	Approvers []string
	Approvals int
	OnTimeout OnTimeout
	Inputs    []Input

	// Pos is where the cell's entry starts in flow.yaml; IfPos and NeedsPos
	// locate those values for error messages.
	Pos      Pos
	IfPos    Pos
	NeedsPos Pos
}

// OnTimeout is what an approval cell decides when nobody decided in time.
type OnTimeout string

// What an approval cell's timeout decides.
const (
	OnTimeoutReject  OnTimeout = "reject" // the default
	OnTimeoutApprove OnTimeout = "approve"
)

// Approvers of an approval cell that are not roles.
const (
	// ApproverLink: anyone holding the approval's decision link.
	ApproverLink = "link"
	// ApproverUserPrefix starts an approver naming one person: user:NAME.
	ApproverUserPrefix = "user:"
)

// Bounds of an approval cell.
const (
	MaxApprovers     = 20
	MaxApprovals     = 10
	MaxApprovalInput = 20
)

// EffectiveApprovals is the approvals an approval cell needs, at least 1.
func (c *Cell) EffectiveApprovals() int { return max(c.Approvals, 1) }

// EffectiveOnTimeout is the cell's on_timeout with the default applied.
func (c *Cell) EffectiveOnTimeout() OnTimeout {
	if c.OnTimeout == "" {
		return OnTimeoutReject
	}
	return c.OnTimeout
}

// ApproverRole is the role an approvers entry names, if it names one:
// owner, editor or runner (a viewer may not decide).
func ApproverRole(a string) (Role, bool) {
	r := Role(a)
	return r, r == RoleOwner || r == RoleEditor || r == RoleRunner
}

// MaxExpectStatus bounds the entries of a cell's expect_status.
const MaxExpectStatus = 20

// ValidStatusPattern reports whether s may stand in expect_status: an HTTP
// status code from 100 to 599 ("404") or a class of them ("4xx").
func ValidStatusPattern(s string) bool {
	if len(s) != 3 || s[0] < '1' || s[0] > '5' {
		return false
	}
	if s[1:] == "xx" {
		return true
	}
	return s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}

// AcceptsStatus reports whether an http cell succeeds with an answer of
// this status code: one listed in ExpectStatus, or of a class listed
// there; any 2xx when ExpectStatus is empty.
func (c *Cell) AcceptsStatus(code int) bool {
	if c == nil || len(c.ExpectStatus) == 0 {
		return code >= 200 && code <= 299
	}
	if code < 100 || code > 599 {
		return false
	}
	s := strconv.Itoa(code)
	for _, p := range c.ExpectStatus {
		if p == s || (len(p) == 3 && p[1:] == "xx" && p[0] == s[0]) {
			return true
		}
	}
	return false
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
