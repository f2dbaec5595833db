PRAGMA foreign_keys = OFF;
BEGIN;
UPDATE runs SET status = 'canceled' WHERE status = 'skipped';
UPDATE runs SET status = 'failed' WHERE status = 'waiting';
UPDATE cell_runs SET status = 'canceled' WHERE status = 'waiting';
CREATE TABLE runs_old (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    flow_id      TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL DEFAULT 0,
    hash         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    inputs       TEXT NOT NULL DEFAULT '{}',
    files        TEXT NOT NULL DEFAULT '[]',
    started_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMP NOT NULL,
    started_at   TIMESTAMP,
    finished_at  TIMESTAMP,
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT ''
);
INSERT INTO runs_old SELECT id, workspace_id, flow_id, version, hash, status, inputs, files, started_by, created_at, started_at, finished_at, duration_ms, error FROM runs;
DROP TABLE runs;
ALTER TABLE runs_old RENAME TO runs;
CREATE INDEX runs_flow_created ON runs (flow_id, created_at DESC, id DESC);
CREATE INDEX runs_workspace_created ON runs (workspace_id, created_at DESC, id DESC);
CREATE TABLE cell_runs_old (
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'canceled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  TIMESTAMP,
    finished_at TIMESTAMP,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    result      TEXT,
    log_bytes   INTEGER NOT NULL DEFAULT 0,
    log_cut     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (run_id, name)
);
INSERT INTO cell_runs_old SELECT * FROM cell_runs;
DROP TABLE cell_runs;
ALTER TABLE cell_runs_old RENAME TO cell_runs;
COMMIT;
PRAGMA foreign_keys = ON;
