package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/opsbook/opsbook/engine"
)

// GitSettings says where a workspace keeps its flows in git (docs/GIT.md).
// The credentials are workspace secrets, not settings.
type GitSettings struct {
	WorkspaceID string
	Remote      string
	Branch      string
	Folder      string
	UpdatedAt   time.Time
	UpdatedBy   string // user id; "" when unknown
}

// FlowGit is a flow's last sync with git, with what a status needs.
type FlowGit struct {
	FlowID string
	Slug   string
	// Latest is the number of the flow's latest version and LatestHash its
	// content hash (git holds versions, not the draft).
	Latest     int
	LatestHash string
	// Commit is the commit the flow was last synced at and Hash the flow's
	// content hash then; both "" when it never was.
	Commit string
	Hash   string
	// Error is what went wrong at the last sync ("" when it went well).
	Error string
}

type gitSettingsModel struct {
	bun.BaseModel `bun:"table:git_settings"`

	WorkspaceID string    `bun:"workspace_id,pk"`
	Remote      string    `bun:"remote"`
	Branch      string    `bun:"branch"`
	Folder      string    `bun:"folder"`
	UpdatedAt   time.Time `bun:"updated_at"`
	UpdatedBy   *string   `bun:"updated_by"`
}

type flowGitModel struct {
	bun.BaseModel `bun:"table:flow_git"`

	FlowID    string    `bun:"flow_id,pk"`
	Commit    string    `bun:"git_commit"`
	Hash      string    `bun:"git_hash"`
	Error     string    `bun:"error"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// SetGitSettings stores a workspace's git settings, replacing any.
func (s *Store) SetGitSettings(ctx context.Context, g GitSettings) error {
	m := gitSettingsModel{WorkspaceID: g.WorkspaceID, Remote: g.Remote, Branch: g.Branch, Folder: g.Folder,
		UpdatedAt: s.timeNow(), UpdatedBy: nullString(g.UpdatedBy)}
	_, err := s.db.NewInsert().Model(&m).
		On("CONFLICT (workspace_id) DO UPDATE").
		Set("? = EXCLUDED.?", bun.Ident("remote"), bun.Ident("remote")).
		Set("? = EXCLUDED.?", bun.Ident("branch"), bun.Ident("branch")).
		Set("? = EXCLUDED.?", bun.Ident("folder"), bun.Ident("folder")).
		Set("? = EXCLUDED.?", bun.Ident("updated_at"), bun.Ident("updated_at")).
		Set("? = EXCLUDED.?", bun.Ident("updated_by"), bun.Ident("updated_by")).
		Exec(ctx)
	return wrap(err, "set git settings of workspace %s", g.WorkspaceID)
}

// GitSettings reads a workspace's git settings; ErrNotFound when it keeps
// no flows in git.
func (s *Store) GitSettings(ctx context.Context, wsID string) (GitSettings, error) {
	var m gitSettingsModel
	err := s.rdb.NewSelect().Model(&m).Where("? = ?", bun.Ident("workspace_id"), wsID).Scan(ctx)
	if err != nil {
		return GitSettings{}, wrap(err, "git settings of workspace %s", wsID)
	}
	return GitSettings{WorkspaceID: m.WorkspaceID, Remote: m.Remote, Branch: m.Branch, Folder: m.Folder,
		UpdatedAt: m.UpdatedAt.UTC(), UpdatedBy: fromNull(m.UpdatedBy)}, nil
}

// DeleteGitSettings stops keeping a workspace's flows in git and forgets
// every flow's last sync; ErrNotFound when there were no settings.
func (s *Store) DeleteGitSettings(ctx context.Context, wsID string) error {
	err := s.write(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewDelete().Model((*gitSettingsModel)(nil)).
			Where("? = ?", bun.Ident("workspace_id"), wsID).Exec(ctx)
		if err := affected(res, err); err != nil {
			return err
		}
		_, err = tx.NewRaw(`DELETE FROM flow_git WHERE flow_id IN (SELECT id FROM flows WHERE workspace_id = ?)`, wsID).Exec(ctx)
		return err
	})
	return wrap(err, "delete git settings of workspace %s", wsID)
}

// SetFlowGit records a flow's sync: commit and hash (the flow's content
// hash at commit), and errText, the last sync's error or "".
func (s *Store) SetFlowGit(ctx context.Context, flowID, commit, hash, errText string) error {
	m := flowGitModel{FlowID: flowID, Commit: commit, Hash: hash, Error: errText, UpdatedAt: s.timeNow()}
	_, err := s.db.NewInsert().Model(&m).
		On("CONFLICT (flow_id) DO UPDATE").
		Set("? = EXCLUDED.?", bun.Ident("git_commit"), bun.Ident("git_commit")).
		Set("? = EXCLUDED.?", bun.Ident("git_hash"), bun.Ident("git_hash")).
		Set("? = EXCLUDED.?", bun.Ident("error"), bun.Ident("error")).
		Set("? = EXCLUDED.?", bun.Ident("updated_at"), bun.Ident("updated_at")).
		Exec(ctx)
	return wrap(err, "record the git sync of flow %s", flowID)
}

// SetFlowGitError records the last sync's error of a flow, keeping its
// last synced commit and hash.
func (s *Store) SetFlowGitError(ctx context.Context, flowID, errText string) error {
	m := flowGitModel{FlowID: flowID, Error: errText, UpdatedAt: s.timeNow()}
	_, err := s.db.NewInsert().Model(&m).
		On("CONFLICT (flow_id) DO UPDATE").
		Set("? = EXCLUDED.?", bun.Ident("error"), bun.Ident("error")).
		Set("? = EXCLUDED.?", bun.Ident("updated_at"), bun.Ident("updated_at")).
		Exec(ctx)
	return wrap(err, "record the git error of flow %s", flowID)
}

// flowGitSelect reads FlowGit rows; %s is the WHERE condition.
const flowGitSelect = `SELECT f.id AS flow_id, f.slug,
	COALESCE(v.number, 0) AS latest, COALESCE(v.hash, '') AS latest_hash,
	COALESCE(g.git_commit, '') AS git_commit, COALESCE(g.git_hash, '') AS git_hash, COALESCE(g.error, '') AS error
FROM flows AS f
LEFT JOIN versions AS v ON v.flow_id = f.id AND v.number = (SELECT MAX(v2.number) FROM versions AS v2 WHERE v2.flow_id = f.id)
LEFT JOIN flow_git AS g ON g.flow_id = f.id
WHERE `

type flowGitRow struct {
	FlowID     string
	Slug       string
	Latest     int
	LatestHash string
	GitCommit  string
	GitHash    string
	Error      string
}

func (r flowGitRow) flowGit() FlowGit {
	return FlowGit{FlowID: r.FlowID, Slug: r.Slug, Latest: r.Latest, LatestHash: r.LatestHash, Commit: r.GitCommit, Hash: r.GitHash, Error: r.Error}
}

// FlowGits lists the git sync of every flow of a workspace, by slug.
func (s *Store) FlowGits(ctx context.Context, wsID string) ([]FlowGit, error) {
	var rows []flowGitRow
	if err := s.rdb.NewRaw(flowGitSelect+"f.workspace_id = ? ORDER BY f.slug", wsID).Scan(ctx, &rows); err != nil {
		return nil, wrap(err, "git sync of the flows of workspace %s", wsID)
	}
	out := make([]FlowGit, len(rows))
	for i, r := range rows {
		out[i] = r.flowGit()
	}
	return out, nil
}

// FlowGitOf reads one flow's git sync.
func (s *Store) FlowGitOf(ctx context.Context, flowID string) (FlowGit, error) {
	var row flowGitRow
	if err := s.rdb.NewRaw(flowGitSelect+"f.id = ?", flowID).Scan(ctx, &row); err != nil {
		return FlowGit{}, wrap(err, "git sync of flow %s", flowID)
	}
	return row.flowGit(), nil
}

// ImportFlow adds a flow to a workspace with v (its Message, Author, Hash
// and Files) as version 1, in one transaction: a flow that came from
// elsewhere, such as a folder pulled from git. Errors are CreateFlow's.
func (s *Store) ImportFlow(ctx context.Context, wsID, slug string, f *engine.Flow, v Version) (FlowSummary, error) {
	return s.createFlow(ctx, wsID, slug, f, v, true)
}
