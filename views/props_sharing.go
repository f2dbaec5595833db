package views

import "time"

// SharedView is what a share page adds to a run page.
type SharedView struct {
	ExpiresAt time.Time
	ShowCode  bool
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
	Page        Page
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
	Type        string // string, number, boolean, date or select
	Description string
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
