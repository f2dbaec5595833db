package store

import (
	"time"

	"github.com/opsbook/opsbook/engine"
	"github.com/uptrace/bun"
)

// The bun models: one per table, unexported. JSON columns are strings so
// both dialects store the same text (bun would send []byte to PostgreSQL as
// bytea). Nullable columns are pointers.

type userModel struct {
	bun.BaseModel `bun:"table:users"`

	ID           string    `bun:"id,pk"`
	Name         string    `bun:"name"`
	DisplayName  string    `bun:"display_name"`
	PasswordHash string    `bun:"password_hash"`
	CreatedAt    time.Time `bun:"created_at"`
	// MustChangePassword: the password was one an owner was shown.
	MustChangePassword bool `bun:"must_change_password"`
}

type sessionModel struct {
	bun.BaseModel `bun:"table:sessions"`

	ID         string    `bun:"id,pk"`
	UserID     string    `bun:"user_id"`
	CreatedAt  time.Time `bun:"created_at"`
	ExpiresAt  time.Time `bun:"expires_at"`
	LastSeenAt time.Time `bun:"last_seen_at"`
}

type workspaceModel struct {
	bun.BaseModel `bun:"table:workspaces"`

	ID        string    `bun:"id,pk"`
	Slug      string    `bun:"slug"`
	Name      string    `bun:"name"`
	CreatedAt time.Time `bun:"created_at"`
}

type memberModel struct {
	bun.BaseModel `bun:"table:members"`

	WorkspaceID string      `bun:"workspace_id,pk"`
	UserID      string      `bun:"user_id,pk"`
	Role        engine.Role `bun:"role"`
	CreatedAt   time.Time   `bun:"created_at"`
}

type tokenModel struct {
	bun.BaseModel `bun:"table:api_tokens"`

	ID          string      `bun:"id,pk"`
	UserID      string      `bun:"user_id"`
	WorkspaceID string      `bun:"workspace_id"`
	Name        string      `bun:"name"`
	Hash        string      `bun:"hash"`
	Role        engine.Role `bun:"role"`
	CreatedAt   time.Time   `bun:"created_at"`
	LastUsedAt  *time.Time  `bun:"last_used_at"`
	RevokedAt   *time.Time  `bun:"revoked_at"`
	ExpiresAt   *time.Time  `bun:"expires_at"`
}

type flowModel struct {
	bun.BaseModel `bun:"table:flows"`

	ID               string    `bun:"id,pk"`
	WorkspaceID      string    `bun:"workspace_id"`
	Slug             string    `bun:"slug"`
	Name             string    `bun:"name"`
	Description      string    `bun:"description"`
	Order            string    `bun:"order"`
	Inputs           string    `bun:"inputs"`
	Triggers         string    `bun:"triggers"`
	Settings         string    `bun:"settings"` // flowSettings as JSON (migration 0011)
	PublishedVersion *int      `bun:"published_version"`
	CreatedAt        time.Time `bun:"created_at"`
	UpdatedAt        time.Time `bun:"updated_at"`
}

type cellModel struct {
	bun.BaseModel `bun:"table:draft_cells"`

	FlowID    string    `bun:"flow_id,pk"`
	ID        string    `bun:"id,pk"`
	Position  int       `bun:"position"`
	Name      string    `bun:"name"`
	Kind      string    `bun:"kind"`
	Source    string    `bun:"source"`
	Options   string    `bun:"options"`
	UpdatedAt time.Time `bun:"updated_at"`
	UpdatedBy *string   `bun:"updated_by"`
	// DocVersion is the collaboration version Source is the text of.
	DocVersion int `bun:"doc_version"`
}

type docChangeModel struct {
	bun.BaseModel `bun:"table:doc_changes"`

	FlowID   string    `bun:"flow_id"`
	CellID   string    `bun:"cell_id"`
	Version  int       `bun:"version"`
	Changes  string    `bun:"changes"`
	ClientID string    `bun:"client_id"`
	UserID   *string   `bun:"user_id"`
	At       time.Time `bun:"at"`
}

type deletedCellModel struct {
	bun.BaseModel `bun:"table:deleted_cells"`

	FlowID     string    `bun:"flow_id,pk"`
	ID         string    `bun:"id,pk"`
	Position   int       `bun:"position"`
	Name       string    `bun:"name"`
	Kind       string    `bun:"kind"`
	Source     string    `bun:"source"`
	Options    string    `bun:"options"`
	DocVersion int       `bun:"doc_version"`
	DeletedAt  time.Time `bun:"deleted_at"`
	DeletedBy  *string   `bun:"deleted_by"`
}

type cellEditorModel struct {
	bun.BaseModel `bun:"table:cell_editors"`

	FlowID  string    `bun:"flow_id,pk"`
	CellID  string    `bun:"cell_id,pk"`
	UserID  string    `bun:"user_id,pk"`
	Edits   int       `bun:"edits"`
	FirstAt time.Time `bun:"first_at"`
	LastAt  time.Time `bun:"last_at"`
}

type versionModel struct {
	bun.BaseModel `bun:"table:versions"`

	FlowID    string    `bun:"flow_id,pk"`
	Number    int       `bun:"number,pk"`
	Message   string    `bun:"message"`
	Author    *string   `bun:"author"`
	Coauthors string    `bun:"coauthors"`
	Hash      string    `bun:"hash"`
	Files     string    `bun:"files"`
	CreatedAt time.Time `bun:"created_at"`
}

type runModel struct {
	bun.BaseModel `bun:"table:runs"`

	ID          string     `bun:"id,pk"`
	WorkspaceID string     `bun:"workspace_id"`
	FlowID      string     `bun:"flow_id"`
	Version     int        `bun:"version"`
	Hash        string     `bun:"hash"`
	Status      string     `bun:"status"`
	Inputs      string     `bun:"inputs"`
	Files       string     `bun:"files"`
	StartedBy   *string    `bun:"started_by"`
	CreatedAt   time.Time  `bun:"created_at"`
	StartedAt   *time.Time `bun:"started_at"`
	FinishedAt  *time.Time `bun:"finished_at"`
	DurationMS  int64      `bun:"duration_ms"`
	Error       string     `bun:"error"`
	Worker      string     `bun:"worker"`
	LeaseUntil  *time.Time `bun:"lease_until"`
	Dispatched  bool       `bun:"dispatched"`
	ConcLimit   int        `bun:"conc_limit"`
	Request     string     `bun:"request"`
	// LogsPrunedAt is when retention pruned the run's log lines (retention.go).
	LogsPrunedAt *time.Time `bun:"logs_pruned_at"`
	RerunOf      *string    `bun:"rerun_of"`
	// NotifiedAt is when the run's notifications were queued (notify.go).
	NotifiedAt *time.Time `bun:"notified_at"`
}

type cellRunModel struct {
	bun.BaseModel `bun:"table:cell_runs"`

	RunID      string     `bun:"run_id,pk"`
	Position   int        `bun:"position"`
	Name       string     `bun:"name,pk"`
	Kind       string     `bun:"kind"`
	Status     string     `bun:"status"`
	Attempts   int        `bun:"attempts"`
	StartedAt  *time.Time `bun:"started_at"`
	FinishedAt *time.Time `bun:"finished_at"`
	DurationMS int64      `bun:"duration_ms"`
	Result     *string    `bun:"result"`
	LogBytes   int64      `bun:"log_bytes"`
	LogCut     bool       `bun:"log_cut"`
}

type eventModel struct {
	bun.BaseModel `bun:"table:run_events"`

	RunID string `bun:"run_id,pk"`
	Seq   int64  `bun:"seq,pk"`
	Type  string `bun:"type"`
	Cell  string `bun:"cell"`
	Data  string `bun:"data"`
}
