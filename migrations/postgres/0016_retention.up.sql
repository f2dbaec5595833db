-- How long a workspace keeps its runs and their logs (engine/store
-- retention.go), set by its owners; a workspace without a row keeps run
-- records forever and logs 90 days. 0 days means forever.
CREATE TABLE retention_settings (
    workspace_id   TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    keep_runs_days INTEGER NOT NULL DEFAULT 0,
    keep_logs_days INTEGER NOT NULL DEFAULT 90,
    updated_at     TIMESTAMP NOT NULL,
    updated_by     TEXT REFERENCES users (id) ON DELETE SET NULL
);
-- When a run's log lines were pruned (each cell's log replaced by one
-- marker event at its first seq); NULL while they are kept.
ALTER TABLE runs ADD COLUMN logs_pruned_at TIMESTAMPTZ;
-- The finished runs whose logs may still be pruned, oldest first.
CREATE INDEX runs_logs_kept ON runs (workspace_id, finished_at) WHERE logs_pruned_at IS NULL AND finished_at IS NOT NULL;
