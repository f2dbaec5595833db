package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/opsbook/opsbook/engine"
)

// MaxSourceSize is the largest cell source the store accepts (1 MiB).
const MaxSourceSize = 1 << 20

// User is a person who signs in.
type User struct {
	ID           string
	Name         string // login name, unique
	DisplayName  string
	PasswordHash string
	CreatedAt    time.Time
	// MustChangePassword: an invited user's first password, which an
	// owner was shown; they choose their own before anything else.
	MustChangePassword bool
}

// Session is a signed-in browser. ID is the sha256 hex of the cookie token.
type Session struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time
}

// Workspace is a team's space.
type Workspace struct {
	ID        string
	Slug      string
	Name      string
	CreatedAt time.Time
}

// Member is a user of a workspace with a role.
type Member struct {
	User      User
	Role      engine.Role
	CreatedAt time.Time
}

// Membership is a workspace a user belongs to, with the user's role there.
type Membership struct {
	Workspace Workspace
	Role      engine.Role
}

// Token is an API token. Hash is the sha256 hex of the token; the token
// itself is never stored.
type Token struct {
	ID          string
	UserID      string
	WorkspaceID string
	Name        string
	Hash        string
	Role        engine.Role
	CreatedAt   time.Time
	LastUsedAt  time.Time // zero: never used
	RevokedAt   time.Time // zero: not revoked
	ExpiresAt   time.Time // zero: never expires
}

// Live reports whether the token still works at now: neither revoked nor
// expired.
func (t Token) Live(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// File is one plain file of an exported flow (flow.yaml or a cell's file).
type File struct {
	Name string
	Data []byte
}

// MarshalJSON writes {"name": …, "data": "text"}, or {"name": …, "base64":
// "…"} when the content is not UTF-8, so stored files keep their exact bytes
// and stay readable in the database.
func (f File) MarshalJSON() ([]byte, error) {
	var v struct {
		Name   string  `json:"name"`
		Data   *string `json:"data,omitempty"`
		Base64 *string `json:"base64,omitempty"`
	}
	v.Name = f.Name
	if utf8.Valid(f.Data) {
		s := string(f.Data)
		v.Data = &s
	} else {
		s := base64.StdEncoding.EncodeToString(f.Data)
		v.Base64 = &s
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (f *File) UnmarshalJSON(b []byte) error {
	var v struct {
		Name   string  `json:"name"`
		Data   *string `json:"data"`
		Base64 *string `json:"base64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	f.Name = v.Name
	switch {
	case v.Data != nil:
		f.Data = []byte(*v.Data)
	case v.Base64 != nil:
		d, err := base64.StdEncoding.DecodeString(*v.Base64)
		if err != nil {
			return err
		}
		f.Data = d
	default:
		return errors.New("file " + v.Name + ": no data")
	}
	return nil
}

// FlowSummary is a flow without its cells, with its last run.
type FlowSummary struct {
	ID               string
	WorkspaceID      string
	Slug             string
	Name             string
	Description      string
	Order            engine.Order
	PublishedVersion int // 0: none published
	Versions         int // the number of the latest version
	Cells            int // cells in the draft
	CreatedAt        time.Time
	UpdatedAt        time.Time // settings or structure last changed

	LastRunID     string // "" when the flow never ran
	LastRunStatus engine.RunStatus
	LastRunAt     time.Time // when the last run was created

	ArchivedAt time.Time // zero: not archived (ArchiveFlow)
}

// Draft is the live, editable state of a flow.
type Draft struct {
	FlowID string
	// Flow holds the settings and the cells in position order. Cell.File
	// is what was stored (may be empty); Pos fields are zero.
	Flow *engine.Flow
	// Cells runs parallel to Flow.Cells: Cells[i] describes Flow.Cells[i].
	Cells []DraftCell
}

// DraftCell is what the store knows of a draft cell beyond engine.Cell.
type DraftCell struct {
	ID        string // stable across renames and moves
	UpdatedAt time.Time
	UpdatedBy string // user id; "" when unknown
	// Version is the cell document's collaboration version: the number of
	// changes its source has had (engine/collab).
	Version int
}

// Version is an immutable numbered snapshot of a flow.
type Version struct {
	FlowID    string
	Number    int
	Message   string
	Author    string   // user id
	Coauthors []string // user ids
	Hash      string   // content hash of Files
	Files     []File   // the exported plain files, in export order
	CreatedAt time.Time
	Published bool // set on reads: this is the flow's published version
}

// Run is one execution of one exact flow content.
type Run struct {
	ID          string // made by CreateRun when empty
	WorkspaceID string
	FlowID      string
	Version     int    // 0: the draft, pinned by Hash
	Hash        string // content hash of Files
	Status      engine.RunStatus
	Inputs      json.RawMessage // a JSON object
	Files       []File          // the exact files that ran; only Run fills it on reads
	StartedBy   string          // user id; "" for triggers
	CreatedAt   time.Time
	StartedAt   time.Time // zero until running
	FinishedAt  time.Time // zero until done
	DurationMS  int64
	Error       string
	// The run plane: the worker holding a running run and until when its
	// lease lasts; Dispatched false while a queued run waits at its flow's
	// concurrency limit (ConcLimit, 0 for none); Request what the run was
	// asked beyond its files and inputs (a JSON RunRequest).
	Worker     string
	LeaseUntil time.Time
	Dispatched bool
	ConcLimit  int
	Request    json.RawMessage
	// RerunOf is the run this one re-runs from its failed cell ("": not
	// a re-run); its RunRequest says what it took from it.
	RerunOf string
}

// RunUpdate changes a run: Status always, the other fields when not zero.
type RunUpdate struct {
	Status     engine.RunStatus
	StartedAt  time.Time
	FinishedAt time.Time
	DurationMS int64
	Error      string
}

// CellRun is one cell inside a run.
type CellRun struct {
	RunID      string
	Position   int
	Name       string
	Kind       engine.Kind // "" when only known from events
	Status     engine.CellStatus
	Attempts   int
	StartedAt  time.Time
	FinishedAt time.Time
	DurationMS int64
	Result     json.RawMessage // nil when none
	LogBytes   int64           // bytes of log lines, one newline each
	LogCut     bool            // the stored log was cut short
}

// StoredEvent is one stored run event.
type StoredEvent struct {
	Seq  int64
	Type engine.EventType
	Cell string
	Data json.RawMessage // the event's line, as engine.Event.AppendJSON made it
}
