package views

import (
	"time"

	"github.com/opsbook/opsbook/engine"
)

// SharedView is what a share page adds to a run page.
type SharedView struct {
	ExpiresAt time.Time
	ShowCode  bool
	// Description is the flow's, shown under its title.
	Description string
	// Asked is what the run was given, in the flow's order, by label.
	Asked []AskedInput
	// Again is the form link this run was started from, for the browser
	// that sent the form ("" otherwise): Run again opens it filled with
	// Asked's values.
	Again string
}

// AskedInput is one input a run was given, as a form showed it.
type AskedInput struct {
	Name  string
	Label string
	Type  string
	Value string // as typed in a form: 2025-01-31, 3, true
	// Masked: Value has a workspace secret masked in it (***), so Run
	// again does not carry it: the form asks for it again.
	Masked bool
}

// NewShare is a share link just created, shown once (its token is stored
// hashed, so it cannot be shown again).
type NewShare struct {
	URL       string
	ExpiresAt time.Time
	Kind      string // "run" or "form"
}

// ShareItem is one share link in a flow's list: never its token.
type ShareItem struct {
	ID            string
	Kind          string // "run" or "form"
	RunID         string
	ShowCode      bool
	RequireSignIn bool
	RunsPerHour   int
	CreatedBy     string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	Revoked       bool
	Expired       bool
	Views         int64
	LastViewedAt  time.Time
}

// SharesProps is a flow's share links with their view counts, and the form
// that makes a form link: it posts expires_in, require_signin and
// runs_per_hour to /w/{ws}/flows/{slug}/shares; revoking posts to
// /w/{ws}/shares/{id}/revoke.
type SharesProps struct {
	Page     Page
	Slug     string
	FlowName string
	CanEdit  bool
	Shares   []ShareItem
	NewShare *NewShare
	Errors   map[string]string // keys: "expires_in", "runs_per_hour", ""
	Webhooks WebhooksPanel
}

// FormProps is a run form: one field per input of the flow's version. It
// posts each input as field "in.NAME" to Action.
type FormProps struct {
	Page Page
	// Archived: the flow cannot be run; the page says so instead of
	// showing the form.
	Archived    bool
	Action      string // the form link's URL
	FlowName    string
	Description string
	Version     int
	VersionNote string // which version runs, in plain words
	Fields      []FormField
	Errors      map[string]string // by input name; "" for the whole form
	SignInURL   string            // set when the link needs a signed-in member
}

// FormField is one input of a run form.
type FormField struct {
	Name        string
	Label       string // what the form shows; the name when the flow gives none
	Type        string // string, number, boolean, date or select
	Description string
	Placeholder string
	Required    bool
	Options     []string
	Value       string // what was entered, or the default
	Checked     bool   // boolean inputs
}

// SecretItem is a workspace secret in the settings: never its value.
type SecretItem struct {
	Name       string
	Connection string // for CONNECTION_X: the connection name x
	UpdatedAt  time.Time
	UpdatedBy  string
}

// SecretsSection is the settings' secrets: names, and forms to set or
// replace (POST name, value to /w/{ws}/secrets) and delete (POST to
// /w/{ws}/secrets/{name}/delete). Values are write-only.
type SecretsSection struct {
	CanManage bool // owners
	Items     []SecretItem
	Name      string
	Errors    map[string]string // keys: "name", "value", ""
	Saved     string            // the name just set, for a confirmation
	Off       string            // why secrets are off, when they are
}

// ActivityProps is a workspace's audit log, newest first, with filters
// (query parameters action, user, since, until; dates as YYYY-MM-DD).
type ActivityProps struct {
	Page    Page
	Entries []ActivityEntry
	Actions []string
	Users   []string
	Action  string
	User    string
	Since   string
	Until   string
	Error   string
	More    string // the URL of older entries, "" when none
}

// ActivityEntry is one line of the audit log.
type ActivityEntry struct {
	At        time.Time
	Actor     string
	Action    string
	Target    string
	Detail    string
	IP        string
	UserAgent string
}

// DecisionProps is an approval's decision page (/a/{token}), for a holder
// of its link: the run so far in the share page's plain mode (Run, no
// code), the message (HTML, sanitized and masked by the server), the
// approval's form, and the code the rest of the run will run, masked.
type DecisionProps struct {
	Page      Page
	Run       RunProps
	Cell      string
	Message   string
	Needed    int
	Approvals int
	Deadline  string // "" when it waits for ever
	OnTimeout string
	Action    string
	Inputs    []engine.Input
	Remaining []RemainingCell
	// Error is what was wrong with the last decision sent (a required
	// form field left empty), shown above the form.
	Error string
}

// RemainingCell is a cell the run has yet to run, with its code masked.
type RemainingCell struct {
	Name   string
	Kind   string
	Source string
}
