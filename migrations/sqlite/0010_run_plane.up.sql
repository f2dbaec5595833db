-- The run plane (issue 10): runs are jobs claimed by workers; see the
-- PostgreSQL file for the columns. SQLite cannot change a CHECK in place:
-- the tables are rebuilt (SQLite's documented procedure, foreign keys off
-- so that dropping the old table deletes no child rows).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE runs_new (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    flow_id      TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL DEFAULT 0, -- 0: the draft, pinned by hash
    hash         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'waiting', 'succeeded', 'failed', 'canceled', 'skipped')),
    inputs       TEXT NOT NULL DEFAULT '{}',
    files        TEXT NOT NULL DEFAULT '[]',
    started_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMP NOT NULL,
    started_at   TIMESTAMP,
    finished_at  TIMESTAMP,
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT '',
    worker       TEXT NOT NULL DEFAULT '',
    lease_until  TIMESTAMP,
    dispatched   BOOLEAN NOT NULL DEFAULT TRUE,
    conc_limit   INTEGER NOT NULL DEFAULT 0,
    request      TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO runs_new (id, workspace_id, flow_id, version, hash, status, inputs, files, started_by, created_at, started_at, finished_at, duration_ms, error)
    SELECT id, workspace_id, flow_id, version, hash, status, inputs, files, started_by, created_at, started_at, finished_at, duration_ms, error FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_flow_created ON runs (flow_id, created_at DESC, id DESC);
CREATE INDEX runs_workspace_created ON runs (workspace_id, created_at DESC, id DESC);
CREATE INDEX runs_unfinished ON runs (status, lease_until) WHERE status IN ('queued', 'running', 'waiting');
CREATE INDEX runs_flow_unfinished ON runs (flow_id, created_at) WHERE status IN ('queued', 'running', 'waiting');

CREATE TABLE cell_runs_new (
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL CHECK (status IN ('pending', 'running', 'waiting', 'succeeded', 'failed', 'skipped', 'canceled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  TIMESTAMP,
    finished_at TIMESTAMP,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    result      TEXT,
    log_bytes   INTEGER NOT NULL DEFAULT 0,
    log_cut     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (run_id, name)
);
INSERT INTO cell_runs_new SELECT run_id, position, name, kind, status, attempts, started_at, finished_at, duration_ms, result, log_bytes, log_cut FROM cell_runs;
DROP TABLE cell_runs;
ALTER TABLE cell_runs_new RENAME TO cell_runs;
COMMIT;
PRAGMA foreign_keys = ON;
