BEGIN;
-- Flows in git (docs/GIT.md). A workspace's repository: remote, branch and
-- folder; its credentials are workspace secrets (GIT_TOKEN, GIT_SSH_KEY, …).
CREATE TABLE git_settings (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    remote       TEXT NOT NULL,
    branch       TEXT NOT NULL DEFAULT 'main',
    folder       TEXT NOT NULL DEFAULT '',
    updated_at   TIMESTAMP NOT NULL,
    updated_by   TEXT REFERENCES users (id) ON DELETE SET NULL
);

-- Each flow's last sync with git: the commit (git_commit) and the flow's
-- content hash then (git_hash), and the last sync's error ('' when it went
-- well), shown beside the flow's status.
CREATE TABLE flow_git (
    flow_id    TEXT PRIMARY KEY REFERENCES flows (id) ON DELETE CASCADE,
    git_commit TEXT NOT NULL DEFAULT '',
    git_hash   TEXT NOT NULL DEFAULT '',
    error      TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMP NOT NULL
);
COMMIT;
