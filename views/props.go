// Package views holds the studio's templ components: pages and their parts.
// Each page takes one props struct filled in by the server; nothing here does
// I/O. Names, outputs and results are always escaped; only a markdown cell's
// HTML, sanitized by the server, is written as is.
package views

import (
	"encoding/json"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// Page is what every page's layout needs.
type Page struct {
	Title      string
	User       *User       // nil when signed out
	Workspace  string      // the current workspace's slug; "" outside one
	Workspaces []Workspace // the user's workspaces, for the switcher
	Nav        string      // the current section: "flows", "runs" or "settings"
	Now        time.Time   // for "5 min ago"; zero means time.Now()
	// NoSandbox shows an owner that cells run without a sandbox.
	NoSandbox bool
}

// User is the signed-in person.
type User struct {
	Name    string
	Display string
	Role    engine.Role // in the current workspace
}

// Workspace is one entry of the workspace switcher.
type Workspace struct {
	Slug string
	Name string
}

// SetupProps is the first-start page that creates the owner. Form fields:
// name, display, password, password_again, workspace. Errors are keyed by
// field name; the key "" is an error about the whole form.
type SetupProps struct {
	Page      Page
	Name      string
	Display   string
	Workspace string
	Errors    map[string]string
}

// SignInProps is the sign-in page. Form fields: name, password, next.
type SignInProps struct {
	Page  Page
	Name  string
	Next  string // where to go after signing in
	Error string
}

// FlowsProps is a workspace's list of flows. The "New flow" form posts
// field name to /w/{ws}/flows; the import form posts a multipart field
// archive to /w/{ws}/flows/import. Errors keys: "name", "archive".
type FlowsProps struct {
	Page    Page
	Flows   []FlowItem
	CanEdit bool
	NewName string
	Errors  map[string]string
	Git     *GitPanel // nil: the workspace keeps no flows in git
	// ShowArchived lists archived flows too (?archived=1); Archived counts
	// them either way, for the toggle. CanOwn offers Unarchive.
	ShowArchived bool
	Archived     int
	CanOwn       bool
}

// FlowItem is one row of the flows list.
type FlowItem struct {
	Slug             string
	Name             string
	Cells            int
	PublishedVersion int      // 0: none published
	LastRun          *RunItem // nil: never run
	Git              *GitChip // nil: no git
	Archived         bool
}

// RunItem summarizes a run, for lists and headers.
type RunItem struct {
	ID         string
	Flow       string // slug
	FlowName   string
	Version    int // 0: the draft
	Status     string
	StartedBy  string
	StartedAt  time.Time
	DurationMS int64 // 0 while running
	// FromForm: the run was started from a form link (StartedBy is then
	// the member who sent it, or "").
	FromForm bool
}

// NotebookProps is the notebook page. Outputs holds the last run's output per
// cell name (see OutputsFromEvents), so a reload shows it; LastRun is that run
// and Since the last seq of it rendered, so live events are not drawn twice.
type NotebookProps struct {
	Page    Page
	Slug    string
	Role    engine.Role
	Draft   Draft
	LastRun *RunItem
	Since   int64
	Outputs map[string]*CellOutput
	Git     *GitChip // nil: no git
	// Archived: the flow is archived, so it cannot be run until an owner
	// unarchives it.
	Archived bool
	// Paused are the keys of the flow's paused triggers (a studio setting,
	// not in the files); Published is the version the scheduler runs (0:
	// none).
	Paused    []string
	Published int
	// Destinations are the names of the workspace's notification
	// destinations, offered when an editor fills in the flow's notify:
	// (empty for viewers).
	Destinations []string
}

// Draft is the live state of a flow; it marshals as PROTOCOL.md's DRAFT.
type Draft struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Order       string    `json:"order"`
	Inputs      []Input   `json:"inputs"`
	Triggers    []Trigger `json:"triggers"`
	Cells       []Cell    `json:"cells"`
}

// Trigger is one trigger of the draft, with flow.yaml's keys, the key a
// pause names it by, and a cron's next fire times (RFC 3339, in its zone)
// or why it has none.
type Trigger struct {
	Cron     string   `json:"cron,omitempty"`
	Timezone string   `json:"timezone,omitempty"`
	Webhook  bool     `json:"webhook,omitempty"`
	Rate     int      `json:"rate,omitempty"`
	Key      string   `json:"key"`
	Next     []string `json:"next,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// Input declares one input of a flow, with flow.yaml's keys.
type Input struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Default     any      `json:"default,omitempty"`
	Required    bool     `json:"required,omitempty"`
	Options     []string `json:"options,omitempty"`
	Label       string   `json:"label,omitempty"`
	Description string   `json:"description,omitempty"`
	Placeholder string   `json:"placeholder,omitempty"`
}

// Cell is one cell of the draft. HTML is a markdown cell's rendering,
// sanitized by the server: it is the only text views write unescaped.
type Cell struct {
	ID      string      `json:"id"`
	Name    string      `json:"name"`
	Kind    string      `json:"kind"`
	Source  string      `json:"source"`
	Options CellOptions `json:"options"`
	HTML    string      `json:"html,omitempty"`
	// Version is the collaboration version Source is the text of; the
	// page's editor starts there (docs/PROTOCOL.md).
	Version int `json:"version"`
}

// CellOptions are a cell's options as cell.update sends them.
type CellOptions struct {
	Timeout         string            `json:"timeout,omitempty"`
	Retries         int               `json:"retries,omitempty"`
	RetryDelay      string            `json:"retry_delay,omitempty"`
	If              string            `json:"if,omitempty"`
	Needs           []string          `json:"needs,omitempty"`
	Connection      string            `json:"connection,omitempty"`
	Env             map[string]string `json:"env,omitempty"`
	ContinueOnError bool              `json:"continue_on_error,omitempty"`
	ExpectStatus    []string          `json:"expect_status,omitempty"`
}

// CellOutput is what one cell did in a run, as the page first shows it.
type CellOutput struct {
	Status     string // a cell status, "" when not run
	Attempts   int
	DurationMS int64
	StartedAt  time.Time // zero: not started
	FinishedAt time.Time // zero: not finished
	Head       []Line    // the first lines (OutputsFromEvents keeps up to HeadLines)
	Lines      []Line    // the last lines (OutputsFromEvents keeps up to its max)
	Omitted    int       // lines between Head and Lines that are not shown
	Result     json.RawMessage
	Error      string
}

// Line is one line of a cell's output.
type Line struct {
	Stream string // "stdout" or "stderr"
	Text   string // may hold ANSI colour sequences
}

// RunsProps is a workspace's list of runs, newest first.
type RunsProps struct {
	Page Page
	Runs []RunItem
}

// RunProps is the run page. Socket defaults to /runs/{id}/ws?since={Since};
// a share page sets its own. ShowCode shows the code each cell ran.
type RunProps struct {
	Page       Page
	Run        RunItem
	Hash       string
	Inputs     map[string]any
	Error      string
	FinishedAt time.Time // zero while running
	Cells      []RunCell
	Since      int64
	Socket     string
	ShowCode   bool
	// Matches is the version whose content hash is the run's (0: none, as
	// for a draft never saved); the page links to it.
	Matches int
	// Share is set on a share page (no account, no links into the studio);
	// LogBase is then where a cell's log is, "…/log", and MarkdownURL
	// where the page has markdown rendered, "…/markdown" ("" → the
	// studio's).
	Share       *SharedView
	LogBase     string
	MarkdownURL string
	// CanShare shows the Share form (editors); NewShare is the link just
	// made, shown once.
	CanShare bool
	// CanCancel shows a Cancel button while the run is not over (runners).
	CanCancel bool
	NewShare  *NewShare
	// RerunCell, when set, shows "Re-run from RerunCell" (a failed or
	// canceled run, to runners). RerunOf and RerunFrom: this run re-runs
	// run RerunOf from cell RerunFrom.
	RerunCell string
	RerunOf   string
	RerunFrom string
	// RerunAs are the runs that re-run this one, newest first.
	RerunAs []string
	// Deliveries is the run's notification log (the studio only, never a
	// share page), as it was when the page was made.
	Deliveries []Delivery
}

// RunCell is one cell of a run, in order.
type RunCell struct {
	Name   string
	Kind   string
	Source string // the exact code that ran
	Output CellOutput
	// HTML is a markdown cell's prose, sanitized by the server.
	HTML string
	// ReusedFrom is the run a re-run took this cell from, without
	// executing it ("" when it ran here).
	ReusedFrom string
	// Approval is an approval cell's request, its form and its decision
	// trail, once the run reached it (studio pages only).
	Approval *ApprovalView
}

// ApprovalView is an approval on the run page: who may decide, what is
// still needed, the form (Action, Inputs) when the viewer may decide now,
// and the decisions so far.
type ApprovalView struct {
	Status    string // waiting, approved, rejected
	Approvers string
	Needed    int
	Approvals int
	Deadline  string // "" when it waits for ever
	OnTimeout string
	// CanDecide shows the form; Why says why it is not shown (decided
	// already, not an approver) while the approval waits.
	CanDecide bool
	Why       string
	Action    string
	Inputs    []engine.Input
	Decisions []ApprovalDecisionView
	// LinkAction mints a new decision link (editors, when its approvers
	// include link); NewLink is the one just made, shown once.
	LinkAction string
	NewLink    string
}

// ApprovalDecisionView is one line of an approval's decision trail.
type ApprovalDecisionView struct {
	By       string
	At       string
	Approved bool
	Comment  string
	Values   string // the form's values, "name: value, …"
}

// SettingsProps is a workspace's settings: members, invitations, API tokens.
// The invite form posts name and role to /w/{ws}/members; the token form
// posts name and role to /w/{ws}/tokens; revoking posts to
// /w/{ws}/tokens/{id}/revoke. Secrets are shown once: NewUser and NewToken.
type SettingsProps struct {
	Page         Page
	CanManage    bool // owners manage members and tokens
	Members      []Member
	InviteName   string
	InviteRole   engine.Role
	InviteErrors map[string]string // keys: "name", "role", ""
	NewUser      *NewUser
	Tokens       []Token
	TokenName    string
	TokenRole    engine.Role
	TokenExpires string            // the chosen expiry: "" (never) or a duration such as 720h
	TokenErrors  map[string]string // keys: "name", "role", "expires", ""
	NewToken     string
	Secrets      SecretsSection
	Git          GitSection
	Sandbox      SandboxSection
	Retention    RetentionSection
	Notify       NotifySection
}

// Member is a person in a workspace.
type Member struct {
	Name    string
	Display string
	Role    engine.Role
}

// NewUser is an invited user with their one-time password, shown once.
type NewUser struct {
	Name     string
	Password string
}

// Token is an API token (never its secret).
type Token struct {
	ID        string
	Name      string
	Role      engine.Role
	CreatedBy string
	CreatedAt time.Time
	LastUsed  time.Time // zero: never
	Expires   time.Time // zero: never
	Expired   bool
}

// TokenExpiries are the expiries offered when creating a token: a
// duration for time.ParseDuration ("" is never) and its label.
var TokenExpiries = [][2]string{{"", "never"}, {"168h", "in 7 days"}, {"720h", "in 30 days"}, {"2160h", "in 90 days"}, {"8760h", "in a year"}}

// ErrorProps is an error page.
type ErrorProps struct {
	Page    Page
	Status  int
	Message string // plain words for a person, with what to do next
}
